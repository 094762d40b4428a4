"""The impervious share of each cell: one raster (setup `imperviousness_file`)."""

from __future__ import annotations

import os

import numpy as np

from smash.inputs.raster import ReadReport, read_raster_values


def read_imperviousness(setup: dict, mesh: dict, active: np.ndarray) -> np.ndarray:
    """(nrow, ncol) float32 impervious share in [0, 1], 0 where the raster has no value off the active cells.

    smash 1.3 takes any value (a nodata -99 then multiplies the net rainfall by 100); here a value
    missing or outside [0, 1] on an active cell is an error naming the file and the cells.
    """
    path = setup["imperviousness_file"]
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"setup['imperviousness_file'] = {path!r} is not a file")
    report = ReadReport("imperviousness")
    values, valid = read_raster_values(path, mesh, report)
    report.warn()
    bad = active & (~valid | ~((values >= 0) & (values <= 1)))
    if bad.any():
        rows, cols = np.nonzero(bad)
        shown = ", ".join(f"(row {r}, col {c}): {values[r, c] if valid[r, c] else 'missing'}"
                          for r, c in list(zip(rows, cols, strict=True))[:5])
        raise ValueError(f"Imperviousness raster {path} has {int(bad.sum())} active cell(s) missing or outside "
                         f"[0, 1]: {shown}{', ...' if bad.sum() > 5 else ''}")
    return np.where(valid & (values >= 0) & (values <= 1), values, 0.0).astype(np.float32)


def check_imperviousness(values, active: np.ndarray) -> np.ndarray:
    """An assigned imperviousness map as (nrow, ncol) float32, refused if not in [0, 1] on the active cells."""
    grid = np.asarray(values, dtype=np.float64)
    if grid.shape != active.shape:
        raise ValueError(f"physio_data.imperviousness has shape {grid.shape}, expected (nrow, ncol) = {active.shape}")
    on_active = grid[active]
    if not np.all(np.isfinite(on_active) & (on_active >= 0) & (on_active <= 1)):
        raise ValueError("physio_data.imperviousness must be in [0, 1] on every active cell "
                         f"(got values from {np.nanmin(on_active)} to {np.nanmax(on_active)})")
    return grid.astype(np.float32)
