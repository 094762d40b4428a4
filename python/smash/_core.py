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


def tape_peak_bytes() -> int:
    """The largest the adjoint's tape grew, in bytes, over the adjoint runs so far."""
    return fcore.md_gradient.tape_peak_bytes()


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
