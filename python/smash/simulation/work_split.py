"""Splitting the rainfall-runoff cells between threads by expected work rather than by count.

A cell-step's cost depends on its forcings: a dry one costs about half a wet one, one with
no usable forcing next to nothing (docs/performance-log.md). Missing values cover whole
regions and rain falls in patches, so equal cell counts leave the threads unequal work. Each
cell computes the same whatever thread runs it: the split changes timings, never results.
"""

from __future__ import annotations

import numpy as np

from smash import _core

# Relative cost of a cell-step: with no usable forcing, with forcings but dry and no
# PET, with rain or PET (measured ratios, rounded: docs/performance-log.md).
WORK_MISSING, WORK_DRY, WORK_ACTIVE = 0.1, 1.0, 2.0
STEPS_PER_PASS = 1 << 22   # cell-steps read per pass: bounds the temporaries on large grids
SAMPLED_STEPS = 256        # time steps the estimate reads at most, evenly spaced


def cell_work(prcp: np.ndarray, pet: np.ndarray) -> np.ndarray:
    """Expected rainfall-runoff work of each cell from its (nac, ntime_step) forcings, estimated on
    at most SAMPLED_STEPS steps (a share of missing, dry and active steps needs no more)."""
    nac, nt = prcp.shape
    steps = np.linspace(0, nt - 1, SAMPLED_STEPS).round().astype(np.int64) if nt > SAMPLED_STEPS else None
    nsteps = nt if steps is None else steps.size
    usable = np.zeros(nac, dtype=np.int64)
    active = np.zeros(nac, dtype=np.int64)
    span = max(1, STEPS_PER_PASS // max(nac, 1))
    for t0 in range(0, nsteps, span):
        # Slices when every step is read: a gather would copy them.
        cols = slice(t0, t0 + span) if steps is None else steps[t0:t0 + span]
        # A step does work when either forcing is usable (>= 0), full work when either is positive.
        wettest = np.maximum(prcp[:, cols], pet[:, cols])
        usable += np.count_nonzero(wettest >= 0, axis=1)
        active += np.count_nonzero(wettest > 0, axis=1)
    return WORK_MISSING * (nsteps - usable) + WORK_DRY * (usable - active) + WORK_ACTIVE * active


def split_points(work: np.ndarray, nthreads: int) -> np.ndarray:
    """Split points s (nthreads + 1 of them, s[0] = 0, s[-1] = nac) such that thread i's
    contiguous cells s[i] + 1 .. s[i + 1] (1-based) carry about equal shares of `work`."""
    total = np.cumsum(work)
    targets = total[-1] * np.arange(1, nthreads) / nthreads if total.size else np.zeros(nthreads - 1)
    inner = np.searchsorted(total, targets, side="left") + 1
    return np.concatenate([[0], np.minimum(inner, work.size), [work.size]]).astype(np.int32)


def use_threads(model, ncpu: int, forward_only: bool = False) -> None:
    """Run the model's core on `ncpu` threads, the rainfall-runoff cells split by expected work: the fixed
    shares of the adjoint, and of forward runs (`forward_only`) on grids too small for the pieces their
    threads take in turn otherwise (md_forward::rr_piece_cells), which need no split: on a national grid its
    estimate costs a pass over a window of forcings, read from disk first when they are streamed."""
    split = None
    if ncpu > 1:
        if forward_only and _core.forward_piece_cells(model, ncpu) > 0:
            split = split_points(np.ones(model._network.nac), ncpu)
        else:
            split = split_points(model.atmos_data._cell_work(), ncpu)
    _core.set_threads(model, ncpu, split)
