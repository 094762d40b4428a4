"""Whether a model's forcings are held whole or streamed, and how many steps a window holds."""

from __future__ import annotations

import logging

from smash.simulation import memory
from smash.stream.saved import saved_file

LOGGER = logging.getLogger("smash.stream")

# Bytes a forward run's window of forcings may take (each forcing kind, per copy): France
# (906 044 cells) then reads 35 hourly steps at a time, a window of 127 MB per kind.
FORWARD_WINDOW_BYTES = 128 * 2**20


def streamed_kinds(setup: dict) -> list[str]:
    """The forcing kinds the core holds for this setup."""
    return ["prcp", "pet"] + (["snow", "temp"] if setup["snow_module"] != "zero" else [])


def chunk_steps(setup: dict, nac: int, structure=None) -> int:
    """A gradient's checkpoint spacing before the model exists: the time loop's default chunk
    (md_forward::chunk_steps; with `structure`, a hybrid's shorter one). The gradient's window is
    chosen again when the gradient is planned (memory.gradient_plan), from the adjoint's budget less
    what the process then holds, and the core's window arrays resized for it."""
    nt = int(setup["ntime_step"])
    return memory.default_chunk(nac, nt, hybrid=structure is not None and structure.is_hybrid)


def window_steps(setup: dict, nac: int, gradient: bool, structure=None) -> int:
    """Steps per window of a streamed run.

    A gradient streams by the chunks of the adjoint's checkpointing (the reverse sweep re-runs one
    chunk at a time), so its windows are the in-memory run's chunks and its numbers are the same bit
    for bit. A forward run needs no checkpoints (its numbers do not depend on the chunks): its
    window is a fixed budget of memory (FORWARD_WINDOW_BYTES per kind), so its memory does not grow
    with the period. ``setup["forcing_window"]`` sets both.
    """
    nt = int(setup["ntime_step"])
    if setup.get("forcing_window"):
        return min(int(setup["forcing_window"]), nt)
    if gradient:
        return chunk_steps(setup, nac, structure)
    return max(1, min(nt, FORWARD_WINDOW_BYTES // max(1, nac * memory.F32)))


def _streamable(setup: dict) -> bool:
    return saved_file() is not None or any(setup.get(f"read_{kind}") for kind in streamed_kinds(setup))


def choose_storage(setup: dict, structure, network) -> str:
    """"memory" or "stream" for a normalized setup: the setup's ``forcing_storage``, or with "auto"
    streaming when the in-memory model would not fit in the memory available (one log line says so)."""
    mode = setup["forcing_storage"]
    if mode != "auto":
        return mode
    if not _streamable(setup):
        return "memory"
    upper, _ = memory.model_estimate(setup, structure, network.nrow, network.ncol, network.nac,
                                     int(network.gauge_cell.size))
    available, source = memory.available_bytes()
    if available is None or upper.total <= available:
        return "memory"
    window = window_steps(setup, network.nac, gradient=False)
    LOGGER.info("Forcings streamed from disk (%s steps per window): the whole period in memory would need about %s "
                "but %s is available (%s); setup forcing_storage='memory' forces it",
                window, memory.size_text(upper.total), memory.size_text(available), source)
    return "stream"


def stream_windows(setup: dict, structure, network) -> dict | None:
    """Steps per window of forward runs and gradients when the model's forcings are streamed, else None."""
    if choose_storage(setup, structure, network) != "stream":
        return None
    if not (_streamable(setup) or setup.get("synthetic")):
        raise ValueError("setup['forcing_storage'] = 'stream' but no forcing is read from files (read_prcp, "
                         "read_pet, ...): there is nothing to stream")
    return {"forward": window_steps(setup, network.nac, gradient=False),
            "gradient": window_steps(setup, network.nac, gradient=True, structure=structure)}
