"""Checks of a user's mesh dictionary that the drainage network does not make (smash.drainage.network).

Each error names the mesh key and, for a map, the first bad cell: a value that would otherwise be
accepted silently (a negative drainage area, a gauge position of 20.5) or fail far from its cause
(a NaN flow distance dividing by zero in precipitation_indices, an active_cell of -1 reported as
flow leaving the grid).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def check_mesh(mesh) -> None:
    """Raise a TypeError or ValueError naming the key of the first problem found in `mesh`.

    Here the type and the grid size; `check_drained_mesh` checks the maps of a mesh with flow
    directions. Only the keys present are checked (a mesh without gauges has no `gauge_pos`); the
    network checks (smash.drainage.network.build_network) come after these.
    """
    if not isinstance(mesh, Mapping):
        raise TypeError(f"mesh must be a dict (see smash.factory.generate_mesh or smash.io.read_mesh), "
                        f"not {type(mesh).__name__}")
    for key in ("nrow", "ncol"):
        if key in mesh:
            _whole_number(mesh[key], f"mesh[{key!r}]", minimum=1)
    for key in ("nac", "ng"):
        if key in mesh:
            _whole_number(mesh[key], f"mesh[{key!r}]", minimum=0)
    # The grid's place and cell size: inputs are read from rasters through them.
    for key in ("xmin", "ymax", "xres", "yres"):
        if key in mesh:
            _real_number(mesh[key], key, positive=key in ("xres", "yres"))


def check_drained_mesh(mesh) -> None:
    """The checks of a mesh with flow directions (not a bare grid), after `check_mesh`."""
    for key in ("flwdir", "dx", "dy"):
        if key in mesh:
            _grid(mesh, key)  # numbers (shapes and values are checked with the network)
    active = _active_cells(mesh)
    if active is None:
        return
    for key, low, strict in (("flwdst", 0.0, False), ("flwacc", 0.0, True)):
        if key in mesh:
            _finite_on_active(mesh[key], key, active, low, strict)
    ng = _gauge_count(mesh)
    if "code" in mesh and (isinstance(mesh["code"], (str, bytes)) or not isinstance(mesh["code"], (list, tuple,
                                                                                                    np.ndarray))):
        raise TypeError(f"mesh['code'] must be a list of gauge codes, one per gauge, got {mesh['code']!r}")
    if "code" in mesh and np.size(mesh["code"]) != ng and ng is not None:
        raise ValueError(f"mesh['code'] holds {np.size(mesh['code'])} gauge codes but mesh['gauge_pos'] holds {ng} "
                         "gauges: give one code per gauge")
    for key in ("area", "area_dln"):
        if key in mesh and ng is not None:
            _gauge_areas(mesh[key], key, ng, mesh.get("code"))


def _real_number(value, key: str, positive: bool) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"mesh[{key!r}] must be a number, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"mesh[{key!r}] must be a finite number{' above 0' if positive else ''}, got {value!r}")


def _whole_number(value, what: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be an integer, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value) or value != int(value) or value < minimum:
        raise ValueError(f"{what} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def _grid(mesh, key: str) -> np.ndarray | None:
    """mesh[key] as a numeric array of the grid's shape, or None when the shape is not the grid's
    (smash.drainage.network names that mismatch). Only active_cell may be boolean."""
    arr = np.asarray(mesh[key])
    if arr.dtype.kind not in ("biuf" if key == "active_cell" else "iuf"):
        raise TypeError(f"mesh[{key!r}] must hold numbers, got an array of dtype {arr.dtype}")
    nrow, ncol = mesh.get("nrow"), mesh.get("ncol")
    if nrow is None or ncol is None or arr.shape != (int(nrow), int(ncol)):
        return None
    return arr


def _active_cells(mesh) -> np.ndarray | None:
    """The active cells (bool grid); active_cell must hold 0 (inactive) or 1 (active) only."""
    if "active_cell" not in mesh:
        return None
    arr = _grid(mesh, "active_cell")
    if arr is None:
        return None
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"mesh['active_cell'] holds {arr[r, c].item()!r} at (row, col) = ({r}, {c}) "
                         f"({int(bad.sum())} such cells); expected 0 (inactive) or 1 (active)")
    return arr == 1


def _finite_on_active(values, key: str, active: np.ndarray, low: float, strict: bool) -> None:
    arr = np.asarray(values)
    if arr.shape != active.shape:
        raise ValueError(f"mesh[{key!r}] has shape {arr.shape}, expected (nrow, ncol) = {active.shape}")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"mesh[{key!r}] must hold numbers, got an array of dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):
        bad = active & ~(np.isfinite(arr) & ((arr > low) if strict else (arr >= low)))
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        bound = "above" if strict else "at least"
        raise ValueError(f"mesh[{key!r}] = {arr[r, c].item()!r} at active cell (row, col) = ({r}, {c}) "
                         f"({int(bad.sum())} such cells): it must be finite and {bound} {low:g}")


def _gauge_count(mesh) -> int | None:
    """Number of gauges of mesh['gauge_pos'], whose entries must be whole numbers (row, col)."""
    if "gauge_pos" not in mesh:
        return None
    pos = np.asarray(mesh["gauge_pos"])
    if pos.size == 0:
        return 0
    if pos.dtype.kind not in "biuf":
        raise TypeError(f"mesh['gauge_pos'] must hold (row, col) integers, got an array of dtype {pos.dtype}")
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"mesh['gauge_pos'] must have shape (ng, 2), one (row, col) per gauge, got {pos.shape}")
    whole = np.isfinite(pos) & (pos == np.round(pos)) if pos.dtype.kind == "f" else np.ones(pos.shape, bool)
    if not whole.all():
        g = int(np.argwhere(~whole)[0][0])
        raise ValueError(f"mesh['gauge_pos'] of gauge {g} is {pos[g].tolist()}: a (row, col) position must be "
                         "whole numbers")
    return pos.shape[0]


def _gauge_areas(values, key: str, ng: int, codes) -> None:
    """Drainage areas (m2), one per gauge, finite and above 0."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"mesh[{key!r}] must hold drainage areas (numbers), got an array of dtype {arr.dtype}")
    arr = arr.ravel()
    if arr.size != ng:
        raise ValueError(f"mesh[{key!r}] holds {arr.size} values but the mesh has {ng} gauges: give one per gauge")
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        g = int(np.flatnonzero(bad)[0])
        name = f" ({np.asarray(codes).ravel()[g]!s})" if codes is not None and np.size(codes) == ng else ""
        raise ValueError(f"mesh[{key!r}] of gauge {g}{name} is {arr[g].item()!r}: a drainage area must be finite "
                         "and above 0 (m2)")
