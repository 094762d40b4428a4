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

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from smash import _core
from smash.nn.hybrid import core_sizes, hidden_sizes, layer_shapes

LOGGER = logging.getLogger("smash.memory")

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
# gr6-kw 286), +30 with the ssn snow module; the hybrids 430 + 18 per hidden neuron, + 0.5 per
# weight of the net (md_mlp::dense_block saves its NET_LANES = 4 copies of a layer's weights, 8 bytes
# each, once per block of 64 cells; Cance's gr4_mlp with (64, 64) hidden neurons: 4 850). Bytes per
# cell and checkpoint snapshot: snapshot_bytes counts them exactly (40 for gr4-lr).
TAPE_STEP_BYTES = 320
TAPE_SNOW_STEP_BYTES = 40
TAPE_HYBRID_STEP_BYTES = 460
TAPE_NEURON_BYTES = 18
TAPE_WEIGHT_BYTES = 0.5
# A gradient's process may take, beside what it holds when the gradient starts, this share of the
# memory available (setup adjoint_memory = 0). Of what is left for the tape (the budget less the
# process and the run's arrays, gradient_run_bytes), one chunk's taped steps take CHUNK_SHARE,
# the snapshots of a segment's chunks SEGMENT_SHARE, and the rest the newest segment snapshots and
# the threads' uneven shares of a chunk.
ADJOINT_MEMORY_SHARE = 0.5
# Per active cell, what a gradient allocates beside its tape and the arrays gradient_run_bytes counts
# (the Python copies of the parameters and gradients, the cost's per-cell work): gr4-lr on a line of
# 100 000 cells added 881 bytes a cell to the process beside its tape, 720 of them counted apart.
GRADIENT_CELL_BYTES = 160
CHUNK_SHARE = 0.4
SEGMENT_SHARE = 0.35
# Fewest bytes a tape may hold in memory under spilling (fortran/runtime/ad_stack.c's floor).
MIN_SPILL_LIMIT = 64 << 10
# Share of its limit a spilling tape keeps in memory (ad_stack.c spills an eighth at a time): the
# master thread's working set (its share of a chunk, the snapshots of the segment being reversed)
# must fit in it, or each chunk's tape goes to disk and back.
SPILL_KEEP = 7 / 8
# Free disk asked for beyond the estimate of the snapshots a gradient spills.
SPILL_DISK_MARGIN = 1.1


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


def tape_step_bytes(structure, hidden_neuron) -> int:
    """Bytes of adjoint tape per active cell and taped step of `structure` (TAPE_STEP_BYTES, and
    TAPE_SNOW_STEP_BYTES more with a snow module; the hybrids' own)."""
    if structure.is_hybrid:
        hidden = hidden_sizes(tuple(int(n) for n in np.ravel(hidden_neuron) if n > 0) or 1)
        nweights = core_sizes(layer_shapes(len(structure.nn_inputs), hidden, len(structure.nn_outputs)))[4]
        return TAPE_HYBRID_STEP_BYTES + TAPE_NEURON_BYTES * sum(hidden) + math.ceil(TAPE_WEIGHT_BYTES * nweights)
    return TAPE_STEP_BYTES + (TAPE_SNOW_STEP_BYTES if structure.snow != "zero" else 0)


def carried_columns(structure) -> int:
    """Columns of values per cell a time step reads of the steps before it besides the states: the
    routing-store outflows a GR structure releases again when the rainfall is missing, and under the
    kinematic wave each cell's lateral inflow and discharge. Asked of the core (md_forward::carried_columns)
    so that the estimate and the snapshots follow one rule."""
    _, hydrological, routing = structure.ids()
    return _core.carried_column_count(hydrological, routing)


def snapshot_bytes(structure) -> int:
    """Bytes per active cell of one checkpoint snapshot: what a chunk of md_forward's time loop reads
    on entry and overwrites, which Tapenade saves before it: the states and the carried columns
    (carried_columns), 40 bytes a cell for gr4-lr (a few bytes per snapshot besides: its bounds)."""
    return F64 * (len(structure.rr_states) + carried_columns(structure))


def default_chunk(nac: int, nt: int, checkpoint_steps: int = 0, hybrid: bool = False) -> int:
    """Steps per checkpointed chunk of a gradient: `checkpoint_steps` when set, else the core's default
    (md_forward::chunk_steps, asked of the core so that plan and run follow one rule): every step when the
    run is small, about sqrt(nt) steps, fewer for a `hybrid` structure on a small grid."""
    return _core.checkpoint_chunk(nac, nt, checkpoint_steps, hybrid)


@dataclass(frozen=True)
class CheckpointPlan:
    """How a gradient checkpoints its time loop within a memory budget (see plan_checkpoints)."""

    chunk: int           #: steps per checkpointed chunk (the tape holds one chunk's steps)
    segment: int         #: steps per checkpointed segment of chunks (0: no nesting)
    spill_limit: int     #: bytes each thread's tape may hold in memory, the rest in a file (0: no limit)
    tape_bytes: int      #: the tape's peak in memory (estimate)
    spill_bytes: int     #: bytes the snapshots put on disk (estimate)
    budget: int          #: the memory budget the plan's tape keeps to
    whole_bytes: int = 0  #: the tape of the chunk asked, without nesting nor spilling
    source: str = ""     #: where the budget comes from
    held_bytes: int = 0  #: what the process held when the plan was made (resident memory)
    run_bytes: int = 0   #: what the gradient allocates beside its tape (gradient_run_bytes)
    window: int = 0      #: streamed forcings: steps per window, a whole number of chunks (0: in memory)

    @property
    def process_budget(self) -> int:
        """The budget of the whole process (setup adjoint_memory): what it held, the run's arrays, the tape's."""
        return self.held_bytes + self.run_bytes + self.budget

    @property
    def peak_bytes(self) -> int:
        """The process's expected peak during the gradient: what it held, the run's arrays, the tape."""
        return self.held_bytes + self.run_bytes + self.tape_bytes

    @property
    def spills(self) -> bool:
        return self.spill_limit > 0

    @property
    def changes(self) -> bool:
        """Whether the plan departs from the unnested chunks asked (nesting or spilling)."""
        return self.segment > 0 or self.spills


def resident_bytes() -> int:
    """Resident memory of this process now (/proc/self/statm; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def window_array_bytes(model, steps: int) -> int:
    """Bytes of the core's arrays of streamed forcings for windows of `steps` steps: each forcing kind
    the core holds (prcp and pet; snow and temp too with a snow module), the current window and the one
    read ahead (md_input_data::input_data_alloc_window)."""
    kinds = 4 if model.structure.snow != "zero" else 2
    return int(model.network.nac) * int(steps) * F32 * kinds * 2


def gradient_run_bytes(model, window: int | None = None) -> int:
    """Bytes a gradient of `model` allocates beside its tape, on top of what the process holds before:
    md_forward's work arrays (states, fluxes, carried columns, lateral inflow and discharge of a
    time block, liquid rain, the routing and hydrological constants) and their adjoints, the
    parameters' and states' gathers, adjoints and gradients, the gauges' simulated series and their
    adjoints, the streamed forcings' arrays for windows of `window` steps (by default the stream's
    gradient window: window_array_bytes), and GRADIENT_CELL_BYTES a cell."""
    net, structure = model.network, model.structure
    nac, cells, nt = int(net.nac), int(net.nrow) * int(net.ncol), int(model.setup.ntime_step)
    npar, nst, nfx = len(structure.rr_parameters), len(structure.rr_states), max(len(structure.fluxes), 1)
    core_setup = _core.setup_of(model)
    nblock = int(getattr(core_setup, "block_steps", 0) or 0) or 1 + (1 << 14) // max(nac, 1)
    nblock = max(1, min(nblock, nt))
    # rt_c (3), hy_c (1, or vic3l's constants), the carried columns, qlat, q, liquid rain, two block arrays.
    work = nst + nfx + 3 + 3 + (4 if structure.hydrological == "vic3l" else 1) + carried_columns(structure) \
        + 2 * nblock
    stream = getattr(_core.inputs_of(model), "stream", None)
    windows = 0
    if stream is not None:
        windows = window_array_bytes(model, int(stream.windows["gradient"]) if window is None else window)
    ng = max(int(net.gauge_cell.size), 1)
    return int(nac * (2 * F64 * work + 3 * F64 * (npar + nst) + GRADIENT_CELL_BYTES) + windows
               + cells * F64 * (npar + nst) + 2 * ng * nt * F64 + int(core_setup.nn_nweights) * 3 * F64)


def _snapshots(nt: int, span: int) -> int:
    return math.ceil(nt / span) if span < nt else 0


def balanced_segment(nchunks: int) -> int:
    """Chunks per segment (at least 2) of a nested checkpointing of `nchunks` chunks that holds the fewest
    snapshots at once: k + ceil(nchunks / k), the segment being reversed and one a segment, is least for k
    about sqrt(nchunks) (of equal ones, the shortest segments)."""
    root = math.isqrt(max(nchunks, 1))
    return min(range(max(2, root - 1), max(2, root - 1) + 4), key=lambda k: (k + -(-nchunks // k), k))


def plan_checkpoints(nac: int, nt: int, step_bytes: int, snap_bytes: int, chunk: int, budget: float,
                     ncpu: int = 1, chunk_fixed: bool = False) -> CheckpointPlan:
    """The checkpointing of a gradient over `nt` steps of `nac` cells whose tape fits in `budget` bytes.

    With the `chunk` asked (md_forward's default or the setup's), the tape holds one chunk's steps
    (`step_bytes` a cell-step) and a snapshot per chunk (`snap_bytes` a cell). Beyond the budget:
    unless `chunk_fixed`, the chunk shrinks to CHUNK_SHARE of the budget; the chunks are grouped in
    segments, each checkpointed (nested checkpointing: one snapshot per segment, plus one per chunk of
    the segment being reversed, SEGMENT_SHARE of the budget, or when that does not fit, segments of
    about sqrt of the number of chunks, balanced_segment, which hold the fewest snapshots at once); and
    when the segments' snapshots do not fit either, the oldest wait on disk (the tape spills to a
    temporary file, fortran/runtime/ad_stack.c), the segment being reversed staying in memory.
    Memory then depends on the budget, not on the number of steps; the disk holds one snapshot per
    segment. The master thread's tape, which holds the snapshots, may take the budget less the other
    `ncpu` - 1 threads' shares of a chunk."""
    chunk = max(1, min(chunk, nt))
    whole = nac * (chunk * step_bytes + _snapshots(nt, chunk) * snap_bytes)
    if whole <= budget:
        return CheckpointPlan(chunk, 0, 0, whole, 0, int(budget), whole)
    if not chunk_fixed:
        chunk = max(1, min(chunk, int(CHUNK_SHARE * budget // (nac * step_bytes))))
    taped = nac * chunk * step_bytes
    flat = taped + nac * _snapshots(nt, chunk) * snap_bytes
    if flat <= budget:
        return CheckpointPlan(chunk, 0, 0, flat, 0, int(budget), whole)
    nchunks = _snapshots(nt, chunk)

    def nested(per_segment):
        segment = per_segment * chunk if per_segment * chunk < nt else 0
        return segment, nac * min(per_segment, nchunks) * snap_bytes, nac * _snapshots(nt, segment or nt) * snap_bytes

    # SEGMENT_SHARE of the budget for a segment's snapshots; else, when they fit without spilling, the
    # segments that hold the fewest snapshots at once (those of the segment being reversed and one a segment).
    balanced = balanced_segment(nchunks)
    for per_segment in (max(2, int(SEGMENT_SHARE * budget // (nac * snap_bytes))), balanced):
        segment, inner, outer = nested(per_segment)
        if taped + inner + outer <= budget:
            return CheckpointPlan(chunk, segment, 0, taped + inner + outer, 0, int(budget), whole)
    ncpu = max(ncpu, 1)
    limit = max(int(budget - (ncpu - 1) * taped / ncpu), MIN_SPILL_LIMIT)
    # The master's share of a chunk and the snapshots of the segment being reversed stay in memory, or each
    # chunk's tape goes to disk and back (France's 4-step streamed windows within 3 GB wrote 20.9 GB over 720
    # steps); what spills is what the snapshots at once exceed of that room: the balanced segments spill least.
    room = SPILL_KEEP * limit - taped / ncpu
    per_segment = max(2, min(balanced, int(room // (nac * snap_bytes))))
    segment, inner, outer = nested(per_segment)
    in_memory = min(taped + inner + outer, limit + (ncpu - 1) * taped // ncpu)
    kept = max(0, int(room - inner))     # the segments' snapshots the master's tape keeps in memory
    return CheckpointPlan(chunk, segment, limit, in_memory, max(0, outer - kept), int(budget), whole)


def adjoint_budget(setup, held: int = 0) -> tuple[int, str]:
    """(bytes the process may hold during a gradient, where the figure comes from): setup
    ``adjoint_memory`` when given (bytes), else what the process holds (`held`: gradient_plan gives
    its resident memory; 0, the tape's share alone, for a window chosen before the model exists)
    plus ADJOINT_MEMORY_SHARE of the memory available."""
    given = float(_setup_value(setup, "adjoint_memory", 0) or 0)
    if given > 0:
        return int(given), "setup adjoint_memory"
    available, source = available_bytes()
    if available is None:
        return 2**62, source
    return (int(held + ADJOINT_MEMORY_SHARE * available),
            f"the process's {_size(held)} and {ADJOINT_MEMORY_SHARE:.0%} of the {_size(available)} available; "
            f"setup adjoint_memory sets it")


def _setup_value(setup, key, default):
    return setup.get(key, default) if isinstance(setup, dict) else getattr(setup, key, default)


def gradient_plan(model) -> CheckpointPlan:
    """The checkpointing of `model`'s next gradient (plan_checkpoints with the model's figures).

    The chunk is the core's checkpoint_steps, or with streamed forcings the setup's forcing_window
    (unless checkpoint_steps divides it), when either is set; else md_forward's default, shortened to
    keep within the budget. Streamed forcings then take windows of the forcing_window asked, else of
    several chunks when the store's time chunks are longer (gradient_window: each store chunk decoded
    once a sweep), else of the chunk. gradient_checkpoints resizes the core's window arrays; the numbers
    are the in-memory run's with the same chunk. The arrays of the window the core holds now are not
    counted in what the process holds, those of the gradient's window are counted among the gradient's
    arrays."""
    core_setup, inputs = _core.setup_of(model), _core.inputs_of(model)
    nac, nt = int(model.network.nac), int(model.setup.ntime_step)
    stream = getattr(inputs, "stream", None)
    asked = int(getattr(core_setup, "checkpoint_steps", 0) or 0)
    held = resident_bytes()
    fixed = asked
    window_asked = 0
    if stream is not None:
        window_asked = min(int(_setup_value(model.setup, "forcing_window", 0) or 0), nt)
        # A window holds whole chunks: the chunk is the window asked unless checkpoint_steps divides it.
        if window_asked and (not asked or asked >= window_asked or window_asked % asked):
            fixed = window_asked
        held = max(0, held - window_array_bytes(model, int(inputs.window_steps)))
    chunk = fixed or default_chunk(nac, nt, 0, model.structure.is_hybrid)
    budget, source = adjoint_budget(model.setup, held)
    ncpu = max(int(core_setup.ncpu), 1)
    step_bytes = tape_step_bytes(model.structure, model.setup.hidden_neuron)
    snap_bytes = snapshot_bytes(model.structure)

    def planned(window, chunk=chunk, chunk_fixed=bool(fixed)):
        run = gradient_run_bytes(model, window)
        tape_budget = budget - held - run
        # Any room left serves (a tape below ad_stack.c's floor, MIN_SPILL_LIMIT a thread, spills the rest).
        if tape_budget <= 0:
            raise MemoryError(
                f"setup adjoint_memory ({_size(budget)}) leaves no room for a gradient's tape: the process holds "
                f"{_size(held)} already and the gradient's arrays take about {_size(run)}. Give adjoint_memory "
                f"more than {_size(held + run)} (0: automatic).")
        return plan_checkpoints(nac, nt, step_bytes, snap_bytes, chunk, tape_budget, ncpu,
                                chunk_fixed=chunk_fixed), run

    if stream is None or fixed:
        plan, run = planned(chunk)
    else:
        # Streamed, the window's arrays count among the gradient's: the chunk planned with one step's
        # window, the tape's most room, then with its own window counted. (Planned first with the default
        # chunk's window, France over a year was refused within 3 GB: 94 steps take 1.4 GB, where
        # one-step windows leave the tape 0.8 GB.)
        plan, run = _fitting_window(planned, chunk)
    if stream is not None:
        plan, run = gradient_window(plan, run, window_asked, stream.store_chunk_steps(),
                                    lambda window: planned(window, plan.chunk, True), budget - held)
    return dataclasses.replace(plan, source=source, held_bytes=held, run_bytes=run)


def _fitting_window(planned, chunk: int) -> tuple[CheckpointPlan, int]:
    """A plan, chunk at most `chunk`, whose window's arrays leave its tape room: the chunk planned with
    one step's window (the tape's most room; its MemoryError, with one step's figures, when even that
    does not fit), then planned with that chunk's window counted, halved until it fits."""
    first, run = planned(1, chunk)
    window = first.chunk
    while window > 1:
        try:
            return planned(window, window)
        except MemoryError:
            window //= 2
    return planned(1, 1) if first.chunk > 1 else (first, run)


def gradient_window(plan: CheckpointPlan, run: int, asked: int, store_chunk: int,
                    planned, room: float = math.inf) -> tuple[CheckpointPlan, int]:
    """(plan, run bytes) of a streamed gradient given its window: the forcing_window `asked` when it holds
    whole chunks; else the most whole chunks within the store's time chunk (`store_chunk` steps, 0: none)
    that leave the plan's checkpointing as it is (the same segments, no more spilled, within the budget): a
    sweep then reads each store chunk about once instead of once a chunk of the adjoint (the outlet
    catchment's 2-step chunks read 2 160 windows over 720 steps, each gathering its cells from a decoded
    24-step chunk); else the chunk. `planned(window)`: the plan with that window's arrays counted, the
    chunk fixed; `room`: the budget less what the process holds, which the window's arrays and the tape
    may fill."""
    chunk = plan.chunk
    if asked:
        window = asked if asked % chunk == 0 else chunk
        return planned(window) if window != chunk else (plan, run)
    for per_window in range(store_chunk // chunk, 1, -1):
        try:
            again, run_again = planned(per_window * chunk)
        except MemoryError:
            continue    # that window's arrays leave the tape no room
        # Nor a peak beyond the budget: a tape left below ad_stack.c's floor by the window's arrays still
        # takes the floor.
        if again.segment == plan.segment and again.spill_bytes <= plan.spill_bytes and \
                again.spills == plan.spills and run_again + again.tape_bytes <= max(run + plan.tape_bytes, room):
            return dataclasses.replace(again, window=per_window * chunk), run_again
    return dataclasses.replace(plan, window=chunk), run


def tape_bytes(model) -> int:
    """Peak size in memory of the adjoint's tape for one gradient of `model` (md_forward's checkpointing,
    spilling beyond the budget: gradient_plan)."""
    return gradient_plan(model).tape_bytes


def log_plan(plan: CheckpointPlan) -> None:
    """Say in one log line (logger smash.memory) how a gradient keeps within the budget when that
    changes its checkpointing, and the peak of the process it expects."""
    if plan.changes:
        nesting = f"in segments of {plan.segment} steps, " if plan.segment else ""
        spill = (f"the oldest snapshots spilled to {tempfile.gettempdir()} (about {_size(plan.spill_bytes)})"
                 if plan.spills else "no spill")
        LOGGER.info("Adjoint checkpoints every %s steps, %s%s: the tape would need about %s in memory; expected "
                    "peak about %s (the process %s, the gradient's arrays %s, the tape %s) within %s (%s)",
                    plan.chunk, nesting, spill, _size(plan.whole_bytes), _size(plan.peak_bytes),
                    _size(plan.held_bytes), _size(plan.run_bytes), _size(plan.tape_bytes),
                    _size(plan.process_budget), plan.source)


@contextlib.contextmanager
def gradient_checkpoints(model, plan: CheckpointPlan | None = None):
    """Run the gradients of the block under `plan` (by default gradient_plan(model), logged): its chunks,
    segments and the tapes' spill limit, spilling to the folder of temporary files (tempfile.gettempdir(),
    TMPDIR). The disk must hold what spills: a clear OSError before anything runs if it cannot. Restores
    the core's settings after."""
    if plan is None:
        plan = gradient_plan(model)
        log_plan(plan)
    stream = getattr(_core.inputs_of(model), "stream", None)
    folder = tempfile.gettempdir()
    if plan.spills:
        free = shutil.disk_usage(folder).free
        if plan.spill_bytes * SPILL_DISK_MARGIN > free:
            raise OSError(f"A gradient of the model would write about {_size(plan.spill_bytes)} of checkpoints to "
                          f"{folder} (its tape may take {_size(plan.budget)} of memory) but only {_size(free)} is "
                          f"free there: point TMPDIR to a larger disk, or give the adjoint more memory "
                          f"(setup adjoint_memory)")
    core_setup = _core.setup_of(model)
    asked = (int(core_setup.checkpoint_steps), int(core_setup.checkpoint_segment_steps))
    if stream is not None:
        # Streamed: windows of whole chunks (the session resizes the core's window arrays; the core takes the
        # chunks asked when they divide its window, md_forward::forward_cost), and the read-ahead follows
        # the nested sweeps' order of windows.
        stream.windows["gradient"] = plan.window or plan.chunk
        stream.gradient_chunk = plan.chunk
        stream.gradient_segment = plan.segment
        core_setup.checkpoint_steps = plan.chunk
    if plan.changes:
        core_setup.checkpoint_steps, core_setup.checkpoint_segment_steps = plan.chunk, plan.segment
        _core.set_tape_spill(plan.spill_limit, folder)
    try:
        yield plan
    finally:
        if plan.changes:
            _core.set_tape_spill(0, folder)
        core_setup.checkpoint_steps, core_setup.checkpoint_segment_steps = asked
        if stream is not None:
            stream.gradient_segment = stream.gradient_chunk = 0
    if plan.spills:
        raise_spill_failure(folder, plan)


def raise_spill_failure(folder: str, plan: CheckpointPlan) -> None:
    """Raise an OSError when the last gradient's tape could not spill to `folder` (a disk that filled
    up after the check, a file size limit): that tape went on in memory, beyond the budget."""
    code, nbytes = _core.tape_spill_failure()
    if code:
        raise OSError(code, f"The gradient's checkpoints could not be written to {folder} ({os.strerror(code)}) "
                            f"when its spill file reached {_size(nbytes)} (the plan expected about "
                            f"{_size(plan.spill_bytes)} there): the gradient went on with them in memory, beyond "
                            f"the budget of {_size(plan.process_budget)}, and its results were dropped. Free disk "
                            f"space there, point TMPDIR to a larger disk, or give the adjoint more memory "
                            f"(setup adjoint_memory)", folder)


def gradient_estimate(model, plan: CheckpointPlan | None = None) -> Estimate:
    """Memory a gradient (backward_run, the gradient-based optimizers) adds to the model's (its tape from
    `plan` when the caller made it already, else from gradient_plan)."""
    net, structure = model.network, model.structure
    core = net.nac * F64 * (len(structure.rr_parameters) + len(structure.rr_states)) + \
        int(_core.setup_of(model).nn_nweights) * F64
    tape = plan.tape_bytes if plan is not None else tape_bytes(model)
    parts = {"adjoint tape": tape, "gradient arrays": 3 * core}
    return Estimate(f"A gradient of the model ({net.nac:,} active cells, {model.setup.ntime_step:,} steps)", parts,
                    ("a shorter period (end_time)", "a smaller mesh", "a gradient-free optimizer (sbs, nelder-mead)"))


def check_gradient(model, plan: CheckpointPlan | None = None) -> None:
    """Refuse, before the adjoint runs, a gradient whose tape the memory available cannot hold (`plan`: the
    gradient's checkpointing when already made, see gradient_estimate)."""
    check(gradient_estimate(model, plan))
