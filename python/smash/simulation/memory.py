"""Memory a model will need, checked before it is spent.

A Fortran allocation the machine cannot hold kills the process (the kernel's out-of-memory killer,
or gfortran's "Error allocating N bytes" abort): no exception reaches Python. So the model
estimates the memory of its arrays from the setup and the mesh alone, before reading any input,
and raises a `MemoryError` saying what it needs, what is available and what to change; runs that
return series and gradients (the adjoint's tape) are checked the same way before they start.

The estimate counts every array whose size grows with the grid, the time steps or the hybrid net,
with the byte counts measured on France (906 044 active cells of 1 236 250, gr4-lr; see
docs/running.md and tests/reliability/test_reliability_memory.py) for the per-cell costs of the
Python and Fortran bookkeeping. Setting the environment variable ``SMASH_MEMORY_CHECK=0`` turns
the check off (for a machine whose swap or overcommit the user trusts).

"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

from smash import _core
from smash.nn.hybrid import hidden_sizes

# Bytes of a float32 forcing or observation value, and of a float64 core value.
F32, F64 = 4, 8
# Calibrated on France (gr4-lr, 906 044 active cells of 1 236 250; peak resident memory of a
# build and a forward run at 8, 16 and 32 hourly steps, tests/reliability/test_reliability_memory.py):
# bookkeeping per active cell held for the model's life (network arrays, index maps) beyond the
# arrays counted apart, and per active cell held during a run only (the gathers and work arrays of
# md_forward, the output record).
ACTIVE_CELL_BYTES = 60
RUN_CELL_BYTES = 50
# Per grid cell: the mesh arrays (flow directions, accumulation, distances, cell sizes, masks), 64 bytes,
# plus the model's own copy of the caller's mesh arrays (32 bytes per cell on France).
GRID_CELL_BYTES = 96
# Per time step: Python datetimes of the step end times (interception adjustment, outputs) and
# the core's per-step records (save slots, sparse-storage headers).
STEP_BYTES = 200
# Per time step and forcing kind under sparse storage: the encoded step held in Python while read.
SPARSE_STEP_BYTES = 400
# Adjoint tape (md_forward's checkpointed time loop), bytes per cell and taped step, measured with
# md_gradient.tape_peak_bytes on every structure: 100-290 for the conceptual modules (gr4-lr 242,
# gr6-kw 286), +30 with the ssn snow module; the hybrids 430 + 18 per hidden neuron. Bytes per
# cell and checkpoint snapshot: 140-145 for gr4-lr.
TAPE_STEP_BYTES = 320
TAPE_HYBRID_STEP_BYTES = 460
TAPE_NEURON_BYTES = 18
TAPE_SNAPSHOT_BYTES = 200
# md_forward's small_run: runs of at most this many cell-steps tape every step at once.
TAPE_SMALL_RUN = 1e5


def size_text(nbytes: float) -> str:
    """`nbytes` for a message: '21.6 GB', '340 MB'."""
    return _size(nbytes)


def _size(nbytes: float) -> str:
    """`nbytes` for a message: '21.6 GB', '340 MB'."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} B"


@dataclass
class Estimate:
    """Bytes an operation needs, by part (name -> bytes), and how to need less."""

    what: str
    parts: dict = field(default_factory=dict)
    remedies: tuple = ()

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    def describe(self) -> str:
        largest = sorted(self.parts.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {_size(nbytes)}" for name, nbytes in largest if nbytes >= 1e6 or len(largest) < 3)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as stream:
            text = stream.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes() -> tuple[int | None, str]:
    """(bytes this process can still take, where the figure comes from), or (None, reason).

    The smaller of the kernel's MemAvailable (/proc/meminfo) and, inside a container, the room
    left under its cgroup memory limit (v2 memory.max - memory.current, or v1's limit and usage).
    The environment variable ``SMASH_MEMORY_AVAILABLE`` (bytes) replaces the figure (a budget of the
    user's, or a test's lowered limit)."""
    given = os.environ.get("SMASH_MEMORY_AVAILABLE", "").strip()
    if given:
        return int(float(given)), "SMASH_MEMORY_AVAILABLE"
    found = []
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    found.append((int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"))
                    break
    except OSError:
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            found.append((max(0, limit - usage), f"room under the cgroup limit {limit_file}"))
            break
    if not found:
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            return pages, "free physical pages (sysconf)"
        except (ValueError, OSError, AttributeError):
            return None, "no memory figure on this system"
    return min(found)


def check(estimate: Estimate, lower_bound: Estimate | None = None) -> None:
    """Raise a MemoryError when `estimate` exceeds the memory available.

    With `lower_bound` (what is needed at least, when the estimate is an upper bound), only the
    lower bound is refused; an upper bound beyond the available memory gives a ResourceWarning."""
    if os.environ.get("SMASH_MEMORY_CHECK", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    available, source = available_bytes()
    if available is None:
        return
    refused = lower_bound if lower_bound is not None else estimate
    if refused.total > available:
        remedies = "; ".join(estimate.remedies)
        raise MemoryError(
            f"{estimate.what} needs about {_size(refused.total)}{' at least' if lower_bound is not None else ''} "
            f"({refused.describe()}) but only {_size(available)} is available ({source}). "
            f"To need less: {remedies}. Nothing was allocated. (SMASH_MEMORY_CHECK=0 skips this check.)"
        )
    if lower_bound is not None and estimate.total > available:
        warnings.warn(f"{estimate.what} may need up to {_size(estimate.total)} ({estimate.describe()}), more than the "
                      f"{_size(available)} available ({source}), depending on how sparse the forcings are",
                      UserWarning, stacklevel=4)


def _nn_weights(structure, hidden: tuple[int, ...]) -> int:
    if not structure.is_hybrid:
        return 0
    sizes = [len(structure.nn_inputs), *hidden, len(structure.nn_outputs)]
    return sum(sizes[i + 1] * (sizes[i] + 1) for i in range(len(sizes) - 1))


def model_estimate(setup: dict, structure, nrow: int, ncol: int, nac: int, ng: int,
                   window: int | None = None) -> tuple[Estimate, Estimate]:
    """(upper, lower) memory estimates of building and running a model of normalized `setup`.

    They differ only under sparse storage, whose forcings take between nothing (every step dry)
    and their dense size, depending on the data. With `window` (streamed forcings, smash.stream)
    the forcings take a window of that many steps and the one being read ahead."""
    nt = int(setup["ntime_step"])
    cells = nrow * ncol
    snow = setup["snow_module"] != "zero"
    kinds = ("prcp", "pet", "snow", "temp") if snow else ("prcp", "pet")
    read = [k for k in kinds if setup.get(f"read_{k}") or setup.get("synthetic")]
    npar, nst = len(structure.rr_parameters), len(structure.rr_states)
    nfx = max(len(structure.fluxes), 1)
    nweights = _nn_weights(structure, hidden_sizes(setup["hidden_neuron"]))
    forcing_series = nac * (2 * window if window else nt) * F32
    what = (f"The model ({nac:,} active cells of {nrow} x {ncol}, {nt:,} steps of {setup['dt']} s from "
            f"{setup['start_time']} to {setup['end_time']})")
    held = {
        "observations and simulated discharge": max(ng, 1) * nt * (F32 * 3 + F64 * 2),
        "per-step records": nt * STEP_BYTES,
        "parameter and state maps": cells * (F64 * (npar + 2 * nst) + GRID_CELL_BYTES),
        "per-cell arrays": nac * (ACTIVE_CELL_BYTES + F64 * (npar + nst)),
        "hybrid net": nweights * (F32 + F64),
    }
    # The largest of what is held for a while only: a forcing series read before it is copied
    # into the core, or what a run gathers (the maps' copies, md_forward's work arrays, the net packed).
    run = cells * F64 * (npar + nst) + nac * (RUN_CELL_BYTES + F64 * (npar + 2 * nst + nfx)) + nweights * F64
    if setup["sparse_storage"] and not window:
        records = nt * (len(read) * SPARSE_STEP_BYTES + 4 * 4 * F32)
        upper = dict(held, **{f"forcings ({', '.join(read)}, sparse: at most)": len(read) * forcing_series,
                              "sparse step records": records, "run work arrays": run})
        lower = dict(held, **{"sparse step records": records, "run work arrays": run})
    else:
        # The core holds every forcing kind of the structure, read or not.
        reading = forcing_series if read else 0
        upper = dict(held, **{f"forcings ({', '.join(kinds)})": len(kinds) * forcing_series,
                              "forcing being read" if reading > run else "run work arrays": max(reading, run)})
        lower = None
    # What to change, for the parts that weigh (a tenth of the whole or more).
    total = sum(upper.values())
    per_step = nt * (len(kinds) * nac * F32 + STEP_BYTES + max(ng, 1) * 28)
    remedies = []
    if nweights * (F32 + 2 * F64) >= total / 10:
        remedies.append("fewer hidden neurons (hidden_neuron)")
    if per_step >= total / 10:
        remedies += ["a shorter period (end_time)", "a longer time step (dt)"]
        if not window:
            remedies.append("forcing_storage='stream' (forcings read from disk a window at a time)")
        if not setup["sparse_storage"] and not window:
            remedies.append("sparse_storage=True (forcings mostly 0 then take less room)")
    if nac > 1e5 or not remedies:
        remedies.append("a smaller mesh (a coarser grid or fewer catchments)")
    upper_estimate = Estimate(what, upper, tuple(remedies))
    return upper_estimate, (Estimate(what, lower, tuple(remedies)) if lower is not None else upper_estimate)


def check_model(setup: dict, structure, network, window: int | None = None) -> None:
    """Refuse, before anything is allocated or read, a model the memory available cannot hold
    (`window`: steps per window of streamed forcings)."""
    upper, lower = model_estimate(setup, structure, network.nrow, network.ncol, network.nac,
                                  int(network.gauge_cell.size), window)
    check(upper, lower if lower is not upper else None)


def series_estimate(model, nsave: int, q_domain: bool, rr_states: bool, fluxes: bool) -> Estimate:
    """Memory of the series a forward run returns (`nsave` steps): the core's, its copy, the grids."""
    net, structure = model.network, model.structure
    cells = net.nrow * net.ncol
    parts = {}
    if q_domain:
        parts["q_domain"] = nsave * (net.nac * 2 * F64 + cells * F32)
    if rr_states:
        parts["rr_states"] = nsave * len(structure.rr_states) * (net.nac * 2 * F64 + cells * F64)
    if fluxes:
        parts["internal_fluxes"] = nsave * len(structure.fluxes) * (net.nac * 2 * F64 + cells * F64)
    return Estimate(f"Returning {nsave:,} steps of {', '.join(parts)} ({net.nac:,} active cells)", parts,
                    ("fewer returned steps (return_options time_step)", "fewer returned series"))


def tape_bytes(model) -> int:
    """Peak size of the adjoint's tape for one gradient of `model` (md_forward's checkpointing)."""
    s, structure = model.setup, model.structure
    nac, nt = int(model.network.nac), int(s.ntime_step)
    if structure.is_hybrid:
        hidden = hidden_sizes(tuple(int(n) for n in s.hidden_neuron if n > 0) or 1)
        per_step = TAPE_HYBRID_STEP_BYTES + TAPE_NEURON_BYTES * sum(hidden)
    else:
        per_step = TAPE_STEP_BYTES
    chunk = int(getattr(_core.setup_of(model), "checkpoint_steps", 0) or 0)
    if chunk <= 0:
        chunk = nt if nac * nt <= TAPE_SMALL_RUN else math.ceil(math.sqrt(nt))
    chunk = min(chunk, nt)
    snapshots = math.ceil(nt / chunk) if chunk < nt else 0
    return nac * (chunk * per_step + snapshots * TAPE_SNAPSHOT_BYTES)


def gradient_estimate(model) -> Estimate:
    """Memory a gradient (backward_run, the gradient-based optimizers) adds to the model's."""
    net, structure = model.network, model.structure
    core = net.nac * F64 * (len(structure.rr_parameters) + len(structure.rr_states)) + \
        int(_core.setup_of(model).nn_nweights) * F64
    parts = {"adjoint tape": tape_bytes(model), "gradient arrays": 3 * core}
    return Estimate(f"A gradient of the model ({net.nac:,} active cells, {model.setup.ntime_step:,} steps)", parts,
                    ("a shorter period (end_time)", "a smaller mesh", "a gradient-free optimizer (sbs, nelder-mead)"))


def check_gradient(model) -> None:
    """Refuse, before the adjoint runs, a gradient whose tape the memory available cannot hold."""
    check(gradient_estimate(model))
