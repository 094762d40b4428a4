"""Mesh fields derived from D8 flow directions and gauge positions.

D8 coding (README): the value says where a cell drains to, clockwise from
north, 1 = N (row-1, col) ... 8 = NW (row-1, col-1); values <= 0 are nodata.
Cells draining off the grid or onto nodata are outlets of the grid.
"""

from __future__ import annotations

import numpy as np

# D8 value -> (drow, dcol); index 0 is unused (nodata).
D8_DROW = np.array([0, -1, -1, 0, 1, 1, 1, 0, -1])
D8_DCOL = np.array([0, 0, 1, 1, 1, 0, -1, -1, -1])


def downstream_index(flwdir: np.ndarray) -> np.ndarray:
    """Flat index of the cell each cell drains to; -1 for nodata, off-grid or onto-nodata outlets."""
    nrow, ncol = flwdir.shape
    code = np.where((flwdir >= 1) & (flwdir <= 8), flwdir, 0).astype(np.int64)
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    down_rows, down_cols = rows + D8_DROW[code], cols + D8_DCOL[code]
    inside = (code > 0) & (down_rows >= 0) & (down_rows < nrow) & (down_cols >= 0) & (down_cols < ncol)
    down = np.where(inside, down_rows * ncol + down_cols, -1).ravel()
    valid = code.ravel() > 0
    down[down >= 0] = np.where(valid[down[down >= 0]], down[down >= 0], -1)
    return down


def upstream_first_order(down: np.ndarray) -> np.ndarray:
    """Flat indices ordered so that each cell comes after every cell draining into it."""
    indegree = np.bincount(down[down >= 0], minlength=down.size)
    order = []
    front = np.flatnonzero(indegree == 0)
    while front.size:
        order.append(front)
        targets = down[front]
        targets = targets[targets >= 0]
        np.subtract.at(indegree, targets, 1)
        front = np.unique(targets[indegree[targets] == 0])
    order = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    if order.size != down.size:
        raise ValueError(f"flow directions contain a loop ({down.size - order.size} cells never reach an outlet)")
    return order


def flow_accumulation(flwdir: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Drained area (m2) of every cell of the grid, itself included; float32 like the mesh files."""
    down = downstream_index(flwdir)
    area = (np.asarray(dx, dtype=np.float64) * np.asarray(dy, dtype=np.float64)).ravel()
    acc = area.copy()
    for cell in upstream_first_order(down):
        if down[cell] >= 0:
            acc[down[cell]] += acc[cell]
    return acc.reshape(flwdir.shape).astype(np.float32)


def upstream_mask(flwdir: np.ndarray, outlets) -> np.ndarray:
    """Boolean grid of the cells draining through any of the (row, col) `outlets`, outlets included."""
    nrow, ncol = flwdir.shape
    down = downstream_index(flwdir)
    mask = np.zeros(nrow * ncol, dtype=bool)
    for row, col in outlets:
        mask[int(row) * ncol + int(col)] = True
    # Walking against the flow: a cell is inside when its downstream cell is.
    for cell in upstream_first_order(down)[::-1]:
        if down[cell] >= 0 and mask[down[cell]]:
            mask[cell] = True
    return mask.reshape(nrow, ncol)


def active_cells(flwdir: np.ndarray, gauge_pos) -> np.ndarray:
    """int32 grid: 1 for cells draining to a gauge, 0 elsewhere."""
    return upstream_mask(flwdir, gauge_pos).astype(np.int32)


def flow_distance(flwdir: np.ndarray, dx: np.ndarray, dy: np.ndarray, active: np.ndarray, outlet) -> np.ndarray:
    """Flow-path distance (m) of active cells to `outlet` (0 there), -99 elsewhere; diagonals sqrt(dx2+dy2)."""
    nrow, ncol = flwdir.shape
    down = downstream_index(flwdir)
    code = np.where((flwdir >= 1) & (flwdir <= 8), flwdir, 0).astype(np.int64).ravel()
    dx, dy = np.asarray(dx, dtype=np.float32).ravel(), np.asarray(dy, dtype=np.float32).ravel()
    diagonal = (D8_DROW[code] != 0) & (D8_DCOL[code] != 0)
    step = np.where(diagonal, np.hypot(dx, dy), np.where(D8_DROW[code] != 0, dy, dx)).astype(np.float32)
    # Summed in float32 along the path, as the stored meshes were (bit-exact with them).
    distance = np.full(nrow * ncol, -99.0, dtype=np.float32)
    outlet_index = int(outlet[0]) * ncol + int(outlet[1])
    distance[outlet_index] = 0.0
    inside = upstream_mask(flwdir, [outlet]).ravel() & (np.asarray(active).ravel() == 1)
    for cell in upstream_first_order(down)[::-1]:
        if inside[cell] and cell != outlet_index:
            distance[cell] = distance[down[cell]] + step[cell]
    return distance.reshape(nrow, ncol)


def flow_partition(flwdir: np.ndarray):
    """(flwpar, ncpar, cscpar, cpar_to_rowcol) of the mesh files, over the whole grid.

    flwpar is 1 for cells with no upstream cell, otherwise 1 + the largest
    flwpar upstream. Cells are listed by partition and, within a partition,
    column-major (Fortran order, as smash 1.x writes them).
    """
    nrow, ncol = flwdir.shape
    down = downstream_index(flwdir)
    level = np.ones(nrow * ncol, dtype=np.int64)
    for cell in upstream_first_order(down):
        if down[cell] >= 0:
            level[down[cell]] = max(level[down[cell]], level[cell] + 1)
    flwpar = level.reshape(nrow, ncol)
    npar = int(level.max())
    ncpar = np.bincount(level, minlength=npar + 1)[1:].astype(np.int32)
    cscpar = np.concatenate([[0], np.cumsum(ncpar)[:-1]]).astype(np.int32)
    column_major = np.argsort(flwpar.ravel(order="F"), kind="stable")
    cpar_to_rowcol = np.stack([column_major % nrow, column_major // nrow], axis=1).astype(np.int32)
    return flwpar.astype(np.int32), ncpar, cscpar, cpar_to_rowcol
