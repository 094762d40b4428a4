"""Gauges given as outlet coordinates and reported areas, placed on a flow-direction raster."""

from __future__ import annotations

import warnings

import numpy as np

from smash.factory.flwdir_raster import FlwdirRaster

# Without area_error_th, a delineated area this far from the reported one
# (relative error) most likely means the gauge landed on the wrong stream.
LARGE_AREA_ERROR = 0.5


def gauge_arrays(x, y, area, code):
    """(x, y, area) as float64 arrays and code as a str array, checked for equal lengths and positive areas."""
    arrays = {}
    for name, value in (("x", x), ("y", y), ("area", area)):
        try:
            arrays[name] = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numbers, got {value!r}") from None
        if not np.all(np.isfinite(arrays[name])):
            raise ValueError(f"{name} holds non-finite values: {arrays[name]}")
    n = arrays["x"].size
    codes = np.array([f"_c{i}" for i in range(n)]) if code is None else np.atleast_1d(np.asarray(code, dtype=str))
    sizes = {"x": n, "y": arrays["y"].size, "area": arrays["area"].size, "code": codes.size}
    if len(set(sizes.values())) > 1:
        raise ValueError("x, y, area and code must have the same length, got "
                         + ", ".join(f"{k}: {v}" for k, v in sizes.items()))
    if np.any(arrays["area"] <= 0):
        bad = np.flatnonzero(arrays["area"] <= 0)
        raise ValueError(f"area must be positive (m2): gauge(s) {codes[bad].tolist()} have {arrays['area'][bad]}")
    return arrays["x"], arrays["y"], arrays["area"], codes


def place_gauges(raster: FlwdirRaster, flwacc: np.ndarray, usable: np.ndarray, x, y, area, codes, max_depth):
    """(ng, 2) raster (row, col) of each gauge.

    A gauge goes on the usable cell (valid direction, not on a loop) within
    `max_depth` cells of the cell containing (x, y) whose drained area is
    closest to the reported `area`; among equally close cells, the first in
    row-major order.
    """
    if max_depth < 0 or int(max_depth) != max_depth:
        raise ValueError(f"max_depth must be a non-negative integer, got {max_depth!r}")
    max_depth = int(max_depth)
    rows, cols = raster.cell_of(x, y)
    height, width = raster.shape
    positions = np.empty((codes.size, 2), dtype=np.int64)
    for g in range(codes.size):
        r0, r1 = max(rows[g] - max_depth, 0), min(rows[g] + max_depth + 1, height)
        c0, c1 = max(cols[g] - max_depth, 0), min(cols[g] + max_depth + 1, width)
        error = np.where(usable[r0:r1, c0:c1], np.abs(flwacc[r0:r1, c0:c1].astype(np.float64) - area[g]), np.inf)
        if not np.isfinite(error).any():
            raise ValueError(f"gauge {codes[g]}: no cell with a flow direction within {max_depth} cell(s) of "
                             f"(x, y) = ({x[g]}, {y[g]}), so its upstream area is empty")
        best = int(np.argmin(error))
        positions[g] = r0 + best // (c1 - c0), c0 + best % (c1 - c0)
    return positions


def check_area_errors(codes, area, area_dln, area_error_th) -> None:
    """Relative error |area_dln - area| / area: above area_error_th an error, above LARGE_AREA_ERROR a warning."""
    error = np.abs(area_dln.astype(np.float64) - area) / area
    limit = LARGE_AREA_ERROR if area_error_th is None else float(area_error_th)
    over = np.flatnonzero(error > limit)
    if not over.size:
        return
    detail = "; ".join(f"{codes[g]}: reported {area[g]:.6g} m2, delineated {float(area_dln[g]):.6g} m2 "
                       f"(relative error {error[g]:.3g})" for g in over)
    if area_error_th is not None:
        raise ValueError(f"relative area error above area_error_th={area_error_th} for {detail}")
    warnings.warn(f"delineated area far from the reported one (relative error > {LARGE_AREA_ERROR}), check the "
                  f"gauge coordinates or increase max_depth: {detail}", stacklevel=4)
