"""The one bridge to the Fortran core (`smash.fcore`, the f90wrap extension): no other module imports it.

Each function does one thing the package asks of the core (allocate a derived type, run the
forward model, run the adjoint, score a metric ...) and passes the arrays and handles through
unchanged, so numbers are those of the core. `CoreHandles` is the record a `Model` keeps its
handles in: the setup, the mesh, the inputs and the parameters, the four arguments every run takes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from smash import fcore


@dataclass
class CoreHandles:
    """A model's Fortran derived types: SetupDT, MeshDT (None on a bare grid), InputDataDT, ParametersDT."""

    setup: Any = None
    mesh: Any = None
    input: Any = None
    parameters: Any = None


# ------------------------------------------------------------------ allocation
def new_setup():
    """An empty SetupDT (its fields are set by the caller)."""
    return fcore.md_setup.SetupDT()


def max_threads() -> int:
    """The most threads SetupDT%rr_split has room for."""
    return len(fcore.md_setup.SetupDT().rr_split) - 1


def new_mesh(nrow: int, ncol: int, nac: int, ng: int, nup: int, tree_depth: int):
    """A MeshDT with arrays sized for nac active cells, ng gauges, nup upstream links."""
    mesh = fcore.md_mesh.MeshDT()
    fcore.md_mesh.mesh_alloc(mesh, nrow, ncol, nac, ng, nup, tree_depth)
    return mesh


def new_input_data(nrow_forcing: int, ng: int, ntime_step: int, with_snow: bool):
    """An InputDataDT with dense (nrow_forcing, ntime_step) forcings and (ng, ntime_step) discharge."""
    data = fcore.md_input_data.InputDataDT()
    fcore.md_input_data.input_data_alloc(data, nrow_forcing, ng, ntime_step, with_snow)
    return data


def allocate_imperviousness(input_data, nac: int) -> None:
    """(Re)allocate the imperviousness of an InputDataDT for nac cells, zeroed."""
    fcore.md_input_data.input_data_alloc_imperviousness(input_data, nac)


def new_input_window(nac: int, ng: int, ntime_step: int, window: int, with_snow: bool):
    """An InputDataDT for streamed forcings: (nac, window) forcing arrays, (ng, ntime_step) discharge."""
    data = fcore.md_input_data.InputDataDT()
    fcore.md_input_data.input_data_alloc_window(data, nac, ng, ntime_step, window, with_snow)
    return data


def resize_forcing_window(input_data, window: int) -> None:
    """Re-allocate the forcing arrays of a streamed InputDataDT for `window` steps (observations kept)."""
    qobs = input_data.qobs.copy()
    nac, with_snow = input_data.prcp.shape[0], input_data.snow.shape[0] > 1
    fcore.md_input_data.input_data_alloc_window(input_data, nac, qobs.shape[0], qobs.shape[1], window, with_snow)
    input_data.qobs[...] = qobs


def swap_forcing_window(input_data) -> None:
    """Make the window read ahead into a streamed InputDataDT's ``<kind>_next`` arrays the current one
    (the arrays swapped, not copied)."""
    fcore.md_input_data.input_data_swap_window(input_data)


def set_forcing_fetch(address: int) -> None:
    """Register the C function the core calls for each window of streamed forcings (0 clears it)."""
    fcore.md_api.set_forcing_fetch(int(address or 0))


def _streaming(input_data, gradient: bool):
    """The window server of a run on streamed forcings (smash.stream), else nothing."""
    stream = getattr(input_data, "stream", None)
    return stream.session(input_data, gradient) if stream is not None else contextlib.nullcontext()


def allocate_sparse_forcings(input_data, ntime_step: int, nvalue: int, nindex: int) -> None:
    """Allocate the sparse forcing arrays of an InputDataDT (nvalue stored values, nindex indices)."""
    fcore.md_input_data.input_data_alloc_sparse(input_data, ntime_step, nvalue, nindex)


def new_parameters(nac: int, nparameters: int, nstates: int, nn_weights: int):
    """A zeroed ParametersDT (also the layout of a gradient)."""
    parameters = fcore.md_parameters.ParametersDT()
    fcore.md_parameters.parameters_alloc(parameters, nac, nparameters, nstates, nn_weights)
    return parameters


def new_output(ng: int, nac: int, ntime_step: int, nstates: int, nfluxes: int, nsave: int,
               save_q_domain: bool, save_states: bool, save_fluxes: bool):
    """An OutputDT for the given gauges, cells, steps and saved series."""
    output = fcore.md_output.OutputDT()
    fcore.md_output.output_alloc(output, ng, nac, ntime_step, nstates, nfluxes, nsave, save_q_domain,
                                 save_states, save_fluxes)
    return output


def new_cost_options(njobs: int, ng: int):
    """A CostOptionsDT for njobs objective terms on ng gauges."""
    cost_options = fcore.md_cost_options.CostOptionsDT()
    fcore.md_cost_options.cost_options_alloc(cost_options, njobs, ng)
    return cost_options


def allocate_events(cost_options, max_events: int, ng: int) -> None:
    """Allocate the flood-event arrays of a CostOptionsDT (event signatures)."""
    fcore.md_cost_options.cost_options_alloc_events(cost_options, max_events, ng)


def allocate_regularization(cost_options, nac: int, nmaps: int) -> None:
    """Allocate the prior and weights of the regularization term of a CostOptionsDT."""
    fcore.md_cost_options.cost_options_alloc_reg(cost_options, nac, nmaps)


def allocate_q_target(cost_options, nac: int, ntime_step: int) -> None:
    """Allocate the discharge cotangent of a CostOptionsDT (backward_run on q)."""
    fcore.md_cost_options.cost_options_alloc_q_target(cost_options, nac, ntime_step)


# ------------------------------------------------------------------ a model's handles
def setup_of(model):
    """The model's SetupDT (threads, checkpointing, net size)."""
    return model._core.setup


def mesh_of(model):
    """The model's MeshDT (None on a bare grid)."""
    return model._core.mesh


def inputs_of(model):
    """The model's InputDataDT: the forcings and observations the core reads (shared by copies until
    one of them writes)."""
    return model._core.input


def parameters_of(model):
    """The model's ParametersDT (synchronized from its maps before each run)."""
    return model._core.parameters


def set_threads(model, ncpu: int, rr_split=None) -> None:
    """Run the model's core on `ncpu` threads; with more than one, `rr_split` holds the ncpu + 1 bounds
    of the rainfall-runoff cells each thread takes."""
    model._core.setup.ncpu = int(ncpu)
    if ncpu > 1:
        model._core.setup.rr_split[: ncpu + 1] = rr_split


# ------------------------------------------------------------------ runs
def run_forward(model, cost_options, output, mesh=None) -> None:
    """The forward model and its cost into `output` (`mesh` replaces the model's own when given)."""
    core = model._core
    with _streaming(core.input, gradient=False):
        fcore.md_api.forward_run(core.setup, core.mesh if mesh is None else mesh, core.input, cost_options,
                                 core.parameters, output)


def run_adjoint(model, cost_options, output, gradient, mesh=None) -> float:
    """The cost and its gradient (into the ParametersDT `gradient`) by the generated adjoint."""
    core = model._core
    with _streaming(core.input, gradient=True):
        return fcore.md_gradient.cost_gradient(core.setup, core.mesh if mesh is None else mesh, core.input,
                                               cost_options, core.parameters, output, gradient)


def run_tangent(model, cost_options, direction, output) -> tuple[float, float]:
    """(cost, its derivative along the ParametersDT `direction`) by the generated tangent model."""
    core = model._core
    with _streaming(core.input, gradient=True):
        return fcore.md_gradient.cost_tangent(core.setup, core.mesh, core.input, cost_options, core.parameters,
                                              direction, output)


def checkpoint_chunk(nac: int, ntime_step: int, checkpoint_steps: int = 0, hybrid: bool = False) -> int:
    """Steps per checkpointed chunk of a gradient (md_forward::chunk_steps): `checkpoint_steps` when positive,
    else the core's default for `nac` cells over `ntime_step` steps (shorter for a `hybrid` structure)."""
    return int(fcore.md_api.checkpoint_chunk(int(nac), int(ntime_step), int(checkpoint_steps), bool(hybrid)))


def forward_piece_cells(model, ncpu: int) -> int:
    """Cells per piece that the model's forward runs on `ncpu` threads take in turn, 0 when each thread takes
    a fixed share (md_forward::rr_piece_cells)."""
    return int(fcore.md_api.forward_piece_cells(model._core.setup, int(ncpu), int(model._network.nac)))


def carried_column_count(hydrological_id: int, routing_id: int) -> int:
    """Columns per cell a time step reads of the steps before it besides the states, for the modules of
    these registry ids (md_forward::carried_columns, the core's own rule)."""
    return int(fcore.md_api.carried_column_count(int(hydrological_id), int(routing_id)))


def tape_peak_bytes() -> int:
    """The largest the adjoint's tape grew in memory, in bytes, in the last adjoint run."""
    return fcore.md_gradient.tape_peak_bytes()


def tape_spilled_bytes() -> int:
    """The bytes the adjoint's tapes wrote to their spill files in the last adjoint run."""
    return int(fcore.md_gradient.tape_spilled_bytes())


def tape_spill_failure() -> tuple[int, int]:
    """(errno, bytes) of the first spill of the last adjoint run that its folder could not take (errno 0:
    none), bytes the size its file would have reached; that tape went on in memory."""
    code, nbytes = fcore.md_gradient.tape_spill_failure()
    return int(code), int(nbytes)


def set_tape_spill(limit: float, folder: str) -> None:
    """Let each thread's adjoint tape hold at most `limit` bytes in memory (0: no limit), the rest in
    a temporary file of `folder`."""
    fcore.md_gradient.set_tape_spill(float(limit), str(folder))


def estimate_interception(input_data, day_of_step, ci) -> None:
    """The interception capacity of each cell of an InputDataDT's dense forcings, into `ci`."""
    fcore.md_api.estimate_interception(input_data, day_of_step, ci)


def estimate_interception_cells(prcp, pet, day_of_step, ci) -> None:
    """The interception capacity from (cells, steps) prcp and pet arrays, into `ci`."""
    fcore.md_api.estimate_interception_cells(prcp, pet, day_of_step, ci)


def estimate_interception_window(prcp, pet, day_of_step, sums: dict) -> None:
    """estimate_interception over one window of streamed forcings ((ncell, n) float32, Fortran order),
    the running `sums` (h, intercepted, pday, eday, target, day; zero before the first) updated."""
    fcore.md_api.estimate_interception_window(prcp, pet, day_of_step, sums["h"], sums["intercepted"],
                                              sums["pday"], sums["eday"], sums["target"], sums["day"])


def estimate_interception_choice(sums: dict, ci) -> None:
    """ci (float64, per cell) from the running sums of estimate_interception_window."""
    fcore.md_api.estimate_interception_choice(sums["intercepted"], sums["pday"], sums["eday"], sums["target"],
                                              sums["day"], ci)


def metric_value(metric_id: int, sim, obs) -> float:
    """The core's value of one metric of simulated against observed discharge."""
    return fcore.md_api.metric_value(metric_id, sim, obs)


# ------------------------------------------------------------------ a model's core as plain data
INPUT_SERIES = ("prcp", "pet", "snow", "temp", "qobs")
SPARSE_ARRAYS = ("sp_start", "sp_istart", "sp_coo", "sp_zvalue", "sp_values", "sp_index")


def holds_core_object(value) -> bool:
    """Whether `value` is a Fortran derived type (a handle to this process's memory), or a tuple or list
    holding one: such values cannot leave the process."""
    if isinstance(value, (tuple, list)):
        return any(holds_core_object(item) for item in value)
    return type(value).__module__.startswith(fcore.__name__)


def setup_fields(setup) -> dict:
    """Every field of a SetupDT as plain Python values (arrays copied): what rebuilds it elsewhere."""
    fields = {}
    for name in dir(setup):
        if name.startswith("_") or callable(getattr(type(setup), name, None)):
            continue
        value = getattr(setup, name)
        fields[name] = value.copy() if hasattr(value, "copy") and hasattr(value, "shape") else value
    return fields


def set_setup_fields(setup, fields: dict) -> None:
    """Write `fields` (from `setup_fields`) into a SetupDT."""
    for name, value in fields.items():
        if hasattr(value, "shape"):
            getattr(setup, name)[...] = value
        else:
            setattr(setup, name, value)


def input_arrays(input_data, sparse: bool) -> dict:
    """Copies of an InputDataDT's arrays: the dense series and, with sparse storage, the encoded ones."""
    names = INPUT_SERIES + (SPARSE_ARRAYS if sparse else ())
    return {name: getattr(input_data, name).copy() for name in names}


def fill_input(input_data, arrays: dict, ntime_step: int) -> None:
    """Write arrays from `input_arrays` into an InputDataDT of the same layout (the sparse arrays
    allocated here to their saved sizes)."""
    if "sp_values" in arrays:
        allocate_sparse_forcings(input_data, ntime_step, arrays["sp_values"].size, arrays["sp_index"].size)
    for name, values in arrays.items():
        getattr(input_data, name)[...] = values


# ------------------------------------------------------------------ Bayesian estimation
def allocate_bayesian(cost_options, mu_mapping: int, sigma_mapping: int, nmu: int, nsigma: int, ng: int,
                      ntime_step: int) -> None:
    """Turn a CostOptionsDT's observation cost into the structural error model's -log_lkh / nobs
    (md_bayesian_cost); its serr_mu, serr_sigma, q_stdev arrays are then filled by the caller."""
    fcore.md_cost_options.cost_options_alloc_bayesian(cost_options, mu_mapping, sigma_mapping, nmu, nsigma, ng,
                                                      ntime_step)


def serr_gradient(model, cost_options, qsim, grad_q, grad_mu, grad_sigma) -> tuple[float, int]:
    """(log_lkh, nobs) of `qsim` under the structural error model of `cost_options`, and the gradient of
    log_lkh in qsim, serr_mu and serr_sigma (into the given arrays), by the generated adjoint."""
    out = fcore._fcore.f90wrap_md_gradient__serr_gradient(options=cost_options._handle, qsim=qsim,
                                                          qobs=model._core.input.qobs, grad_q=grad_q, grad_mu=grad_mu,
                                                          grad_sigma=grad_sigma)
    # f90wrap 0.3 hands the inout arrays back with the scalars: keep the caller's arrays the ones filled.
    for target, value in zip((grad_q, grad_mu, grad_sigma), out[:-2], strict=False):
        if value is not target:
            target[...] = value
    return float(out[-2]), int(round(float(out[-1])))


def serr_moments(cost_options, qsim, mu, sigma) -> None:
    """Mean and standard deviation of the structural errors at `qsim` (into mu, sigma: (ng, ntime_step))."""
    fcore.md_api.serr_moments_of(cost_options, qsim, mu, sigma)


def prior_gradient(prior_ids, parameters, x, grad_x) -> float:
    """The log-prior of raw control values `x` (md_bayesian_cost::control_log_prior: distribution ids and
    (3, n) parameters) and its gradient in x (into grad_x), by the generated adjoint."""
    out = fcore._fcore.f90wrap_md_gradient__prior_gradient(prior=prior_ids, par=parameters, x=x, grad_x=grad_x)
    # As serr_gradient: f90wrap 0.3 may hand the inout array back with the scalar.
    if isinstance(out, tuple):
        if out[0] is not grad_x:
            grad_x[...] = out[0]
        out = out[-1]
    return float(out)
