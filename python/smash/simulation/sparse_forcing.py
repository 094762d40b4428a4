"""Sparse storage of the forcings (setup ``sparse_storage=True``), as smash 1.x defines it.

Each step of a forcing is kept either whole (one value per active cell) or, when at most half of
its cells differ from 0, as the cells that differ and their values: an index and a value then
take no more room than the whole step. A step never read nor assigned is all -99 (no cell stored,
``zvalue`` -99). Rain falls on part of the domain and hourly PET is 0 at
night, so most of those steps shrink.

The core reads the encoded steps directly (``md_input_data``: ``sp_*`` arrays, cells numbered in
the core's network order, 1-based). This module encodes (nac, nt) series into them, decodes steps
or cells back, and presents a step as smash 1.x does (`SparseStep`: active cells in column-major
order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smash import _core

KINDS = ("prcp", "pet", "snow", "temp")
# Largest count of stored values or indices: the core's 32-bit integers (one kept for the end marker).
CORE_MAX_COUNT = 2**31 - 2


@dataclass
class EncodedStep:
    """One step of one forcing: `coo` (True: `values` at the 1-based cells `index`, others `zvalue`)."""

    coo: bool
    zvalue: float
    values: np.ndarray
    index: np.ndarray


def encode_step(values: np.ndarray) -> EncodedStep:
    """Encode one step (nac,) float32 (cells in core order)."""
    values = np.asarray(values, dtype=np.float32)
    differ = np.flatnonzero(values != 0)
    if 2 * differ.size <= values.size:
        return EncodedStep(True, 0.0, values[differ].copy(), (differ + 1).astype(np.int32))
    return EncodedStep(False, 0.0, values.copy(), np.zeros(0, dtype=np.int32))


def missing_step() -> EncodedStep:
    """A step never read or assigned: every cell -99 (smash 1.x's initial sparse step)."""
    return EncodedStep(True, -99.0, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int32))


class StepEncoder:
    """Receives the steps of one forcing (``encoder[t] = values``, any order, from reading threads) and
    keeps them encoded; steps never given are missing (-99)."""

    def __init__(self, ntime_step: int):
        self.steps = [missing_step()] * ntime_step

    def __setitem__(self, t, values):
        self.steps[t] = encode_step(values)

    def __len__(self):
        return len(self.steps)


def encode_series(active: np.ndarray) -> list[EncodedStep]:
    """Encode a (nac, nt) series (cells in core order)."""
    return [encode_step(active[:, t]) for t in range(active.shape[1])]


def store(finput, series: dict[str, list[EncodedStep]], ntime_step: int) -> None:
    """Write encoded series (kind -> steps; absent kinds missing) into the core's sparse arrays.

    The lists are emptied as their steps are copied, so that the encoded forcings are not held
    twice (in Python and in the core) at any time."""
    nvalue = sum(s.values.size for steps in series.values() for s in steps)
    nindex = sum(s.index.size for steps in series.values() for s in steps)
    if max(nvalue, nindex) > CORE_MAX_COUNT:
        # The core counts the stored values in default (32-bit) integers.
        raise MemoryError(
            f"Sparse storage holds {max(nvalue, nindex):,} forcing values over {ntime_step} steps, more than the "
            f"{CORE_MAX_COUNT:,} the core can count: use a shorter period or a coarser time step")
    _core.allocate_sparse_forcings(finput, ntime_step, nvalue, nindex)
    start, istart = np.ones((ntime_step + 1, 4), np.int32), np.ones((ntime_step + 1, 4), np.int32)
    coo, zvalue = np.ones((ntime_step, 4), np.int32), np.full((ntime_step, 4), -99.0, np.float32)
    values, index = finput.sp_values, finput.sp_index
    v = i = 0
    for j, kind in enumerate(KINDS):
        steps = series.get(kind) or [missing_step()] * ntime_step
        for t in range(ntime_step):
            step, steps[t] = steps[t], None
            start[t, j], istart[t, j] = v + 1, i + 1
            coo[t, j], zvalue[t, j] = int(step.coo), step.zvalue
            values[v:v + step.values.size] = step.values
            index[i:i + step.index.size] = step.index
            v, i = v + step.values.size, i + step.index.size
        start[ntime_step, j], istart[ntime_step, j] = v + 1, i + 1
    finput.sp_start[...], finput.sp_istart[...] = start, istart
    finput.sp_coo[...], finput.sp_zvalue[...] = coo, zvalue


def step_of(finput, kind: str, t: int) -> EncodedStep:
    """Step t (0-based) of `kind` as stored in the core (copies)."""
    j = KINDS.index(kind)
    first, end = int(finput.sp_start[t, j]) - 1, int(finput.sp_start[t + 1, j]) - 1
    values = np.array(finput.sp_values[first:end])
    if not finput.sp_coo[t, j]:
        return EncodedStep(False, 0.0, values, np.zeros(0, dtype=np.int32))
    i0 = int(finput.sp_istart[t, j]) - 1
    return EncodedStep(True, float(finput.sp_zvalue[t, j]), values, np.array(finput.sp_index[i0:i0 + values.size]))


def steps_of(finput, kind: str, ntime_step: int) -> list[EncodedStep]:
    """Every step of `kind` as stored in the core, in time order (copies; see `step_of`)."""
    return [step_of(finput, kind, t) for t in range(ntime_step)]


def decode_steps(finput, kind: str, nac: int, t0: int, t1: int) -> np.ndarray:
    """Steps t0 .. t1 - 1 of `kind` as a dense (nac, t1 - t0) float32 block (core cell order)."""
    out = np.empty((nac, max(t1 - t0, 0)), dtype=np.float32)
    j = KINDS.index(kind)
    sp_values = finput.sp_values
    for col, t in enumerate(range(t0, t1)):
        first, end = int(finput.sp_start[t, j]) - 1, int(finput.sp_start[t + 1, j]) - 1
        if not finput.sp_coo[t, j]:
            out[:, col] = sp_values[first:end]
        else:
            i0 = int(finput.sp_istart[t, j]) - 1
            out[:, col] = finput.sp_zvalue[t, j]
            out[finput.sp_index[i0:i0 + end - first] - 1, col] = sp_values[first:end]
    return out


def decode_cells(finput, kind: str, c0: int, c1: int, ntime_step: int) -> np.ndarray:
    """Cells c0 .. c1 - 1 (0-based, core order) of `kind` over every step, (c1 - c0, ntime_step) float32."""
    out = np.empty((c1 - c0, ntime_step), dtype=np.float32)
    j = KINDS.index(kind)
    sp_values = finput.sp_values
    for t in range(ntime_step):
        first, end = int(finput.sp_start[t, j]) - 1, int(finput.sp_start[t + 1, j]) - 1
        if not finput.sp_coo[t, j]:
            out[:, t] = sp_values[first + c0:first + c1]
        else:
            i0 = int(finput.sp_istart[t, j]) - 1
            index = finput.sp_index[i0:i0 + end - first]
            lo, hi = np.searchsorted(index, [c0 + 1, c1 + 1])
            out[:, t] = finput.sp_zvalue[t, j]
            out[index[lo:hi] - 1 - c0, t] = sp_values[first + lo:first + hi]
    return out


class StepBlocks:
    """Read-only (nac, nt) view of a sparse forcing for code written for the dense array: indexing
    ``[rows, steps]`` decodes only the steps asked for (a slice or an index array)."""

    def __init__(self, finput, kind: str, nac: int, ntime_step: int):
        self._finput, self._kind, self.shape = finput, kind, (nac, ntime_step)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key):
        rows, cols = key
        steps = np.arange(self.shape[1])[cols]
        block = np.empty((self.shape[0], np.size(steps)), dtype=np.float32)
        for i, t in enumerate(np.atleast_1d(steps)):
            block[:, i] = decode_steps(self._finput, self._kind, self.shape[0], int(t), int(t) + 1)[:, 0]
        if np.ndim(steps) == 0:
            block = block[:, 0]
        return block[rows]


@dataclass
class SparseStep:
    """One step of a sparse forcing as smash 1.x presents it (``atmos_data.sparse_prcp[t]``).

    `coo_fmt` 1: only the `n` cells `indices` (1-based ranks of the active cells in column-major
    order, increasing) hold `values`, every other active cell `zvalue`; 0: `values` holds every
    active cell (`n` of them) in that order and `indices` is empty. Copies: assign
    ``atmos_data.<kind>`` to change a forcing.
    """

    coo_fmt: int
    n: int
    indices: np.ndarray
    values: np.ndarray
    zvalue: float


class SparseSeries:
    """``atmos_data.sparse_<kind>``: a sequence of `SparseStep`, one per time step."""

    def __init__(self, model, kind: str):
        self._model, self._kind = model, kind

    def __len__(self):
        m = self._model
        return m.setup.ntime_step if m.setup.sparse_storage else 0

    def __getitem__(self, t):
        n = len(self)
        if isinstance(t, slice):
            return [self[i] for i in range(*t.indices(n))]
        t = int(t)
        if t < 0:
            t += n
        if not 0 <= t < n:
            raise IndexError(f"sparse_{self._kind} has {n} steps, no step {t}")
        finput = _core.inputs_of(self._model)
        streamed = getattr(finput, "stream", None)
        if streamed is not None:
            # Streamed forcings are served dense: the step read from disk, encoded as the core would hold it.
            step = encode_step(streamed.read_steps(self._kind, t, 1, self._model.network.nac)[0]) \
                if self._kind in streamed.kinds else missing_step()
        else:
            step = step_of(finput, self._kind, t)
        rank = self._model.network.column_major_rank()
        if step.coo:
            ranks = rank[step.index - 1]
            order = np.argsort(ranks, kind="stable")
            return SparseStep(1, int(step.values.size), (ranks[order] + 1).astype(np.int32), step.values[order],
                              float(step.zvalue))
        values = np.empty_like(step.values)
        values[rank] = step.values
        return SparseStep(0, int(values.size), np.zeros(0, dtype=np.int32), values, 0.0)

    def __iter__(self):
        return (self[t] for t in range(len(self)))

    def __repr__(self):
        return f"SparseSeries({self._kind}: {len(self)} steps)"
