"""What the tests need of a model's core, without reaching into `Model`'s private attributes.

Not part of the public API: these helpers expose the Fortran handles and runs of `smash._core`
for tests that check the core itself (gradients against finite differences and the tangent
model, checkpointing, threads, storage layout).
"""

from __future__ import annotations

from smash import _core
from smash.simulation import work_split


def core_setup(model):
    """The model's SetupDT (threads, time blocks, checkpoint chunks)."""
    return _core.setup_of(model)


def core_inputs(model):
    """The model's InputDataDT (shared by copies until one of them writes)."""
    return _core.inputs_of(model)


def core_parameters(model):
    """The model's ParametersDT as it stands (see `sync_parameters`)."""
    return _core.parameters_of(model)


def sync_parameters(model) -> None:
    """Copy the model's parameter and state maps (and hybrid weights) into its ParametersDT."""
    model._sync_parameters()


def new_core_parameters(model):
    """A zeroed ParametersDT with the model's layout (a direction or a gradient)."""
    return model._new_core_parameters()


def new_input_data(nrow_forcing: int, ng: int, ntime_step: int, with_snow: bool = False):
    """A free-standing InputDataDT (dense forcings of nrow_forcing rows)."""
    return _core.new_input_data(nrow_forcing, ng, ntime_step, with_snow)


def new_output(model):
    """An OutputDT for a run of `model` without saved series."""
    net, structure = model.network, model.structure
    return _core.new_output(net.gauge_cell.size, net.nac, model.setup.ntime_step, len(structure.rr_states),
                            len(structure.fluxes), 0, False, False, False)


def run_forward(model, cost_options, output) -> None:
    """The forward model on the ParametersDT as it stands (no sync from the maps)."""
    _core.run_forward(model, cost_options, output)


def run_adjoint(model, cost_options, output, gradient) -> float:
    """The cost and its gradient into `gradient`, on the ParametersDT as it stands."""
    return _core.run_adjoint(model, cost_options, output, gradient)


def run_tangent(model, cost_options, direction, output) -> tuple[float, float]:
    """(cost, derivative along `direction`) by the tangent model, on the ParametersDT as it stands."""
    return _core.run_tangent(model, cost_options, direction, output)


def tape_peak_bytes() -> int:
    """The adjoint tape's peak size in bytes so far."""
    return _core.tape_peak_bytes()


def set_threads(model, ncpu: int) -> None:
    """Run the model's core on `ncpu` threads (rainfall-runoff cells split by expected work)."""
    work_split.use_threads(model, ncpu)


def forcing_stream(model):
    """The model's streamed forcings (smash.stream.ForcingStream), or None when they are held whole."""
    return getattr(_core.inputs_of(model), "stream", None)


def saved_series(model, ncpu: int = 1):
    """States and fluxes of every cell at the end of every step, as the core computes them (float64,
    network order): arrays (nac, nstates, ntime_step) and (nac, nfluxes, ntime_step), from a forward
    run of the maps as they stand on `ncpu` threads. forward_run returns the fluxes in float32."""
    import numpy as np

    from smash.analysis.cost_options import build_cost_options

    net, structure, nt = model.network, model.structure, model.setup.ntime_step
    output = _core.new_output(net.gauge_cell.size, net.nac, nt, len(structure.rr_states), len(structure.fluxes),
                              nt, False, True, True)
    output.save_slot[:] = np.arange(1, nt + 1)
    _, cost_options = build_cost_options(model, None)
    model._sync_parameters()
    work_split.use_threads(model, ncpu)
    _core.run_forward(model, cost_options, output)
    return np.array(output.rr_states), np.array(output.fluxes)
