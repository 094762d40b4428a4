"""A Model as plain data and back: what pickling sends (to multiprocessing workers, Dask, a file).

The Fortran derived types of a model (`model._core`) are handles to memory of this process and
cannot be pickled. The state below holds everything else a model holds as it stands, plus the core's
own values (setup fields, forcing and observation arrays, stored or encoded); unpickling rebuilds the
core from them. Runs of the unpickled model are bit for bit those of the original: the same arrays
reach the same Fortran code. No data file is read again.
"""

from __future__ import annotations

import weakref

from smash import _core

# Attributes tied to the core or to this process: rebuilt by `restore`, never sent. Any other attribute
# holding a Fortran derived type (a cache such as forward's last output) is left out too.
PROCESS_ONLY = ("_core", "_input_users", "_qobs_leases", "_pending_final", "_synced_maps", "_last_output")
CORE = "_core_values"


def model_state(model) -> dict:
    """The picklable state of `model` (its `__dict__` without the core, plus the core's values)."""
    model.rr_final_states  # noqa: B018 - lays out final states still held by a core output
    state = {key: value for key, value in model.__dict__.items()
             if key not in PROCESS_ONLY and not _core.holds_core_object(value)}
    core = model._core
    streamed = getattr(core.input, "stream", None)
    state[CORE] = {
        "setup": _core.setup_fields(core.setup),
        "input": _core.input_arrays(core.input, bool(model.setup.sparse_storage) and streamed is None),
        "cell_work": getattr(core.input, "cell_work", None),
        # Streamed forcings travel as their reader's recipe (the files are opened again where unpickled).
        "stream": streamed,
    }
    return state


def restore(model, state: dict) -> None:
    """Make `model` (a bare instance) the model `state` describes, with a core of its own."""
    state = dict(state)
    values = state.pop(CORE)
    model.__dict__.update(state)
    model._pending_final = None
    model._core = _core.CoreHandles()
    model._build_setup()
    _core.set_setup_fields(model._core.setup, values["setup"])
    model._core.mesh = None if model._bare_grid else model._build_mesh()
    streamed = values.get("stream")
    inputs = model._new_core_input(values["input"]["prcp"].shape[1] if streamed is not None else None)
    _core.fill_input(inputs, values["input"], int(model.setup.ntime_step))
    inputs.cell_work = values["cell_work"]
    if streamed is not None:
        inputs.stream = streamed
    model._core.input, model._input_users = inputs, weakref.WeakSet([model])
    model._core.parameters = model._new_core_parameters()
    model._synced_maps = {}
