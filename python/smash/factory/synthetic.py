"""The built-in synthetic catchment: mesh, forcings and descriptors without files.

Everything derives deterministically from `setup["synthetic"]["seed"]`. The
network is a D8 tree grown over an irregular basin that drains through one
outlet on the southern edge; cells outside the basin drain off the grid and
stay inactive, as in the real meshes. Observations come from a "true" model
run (`synthetic_observations`, used by Model). The forcings, descriptors and
observations live in `smash.inputs.synthetic`, below the factory, and are re-exported here.
"""

from __future__ import annotations

import heapq

import numpy as np

from smash.drainage import d8 as mesh_tools
from smash.inputs.synthetic import synthetic_atmos, synthetic_descriptor, synthetic_observations

__all__ = ["synthetic_setup_mesh", "synthetic_atmos", "synthetic_descriptor", "synthetic_observations"]

CELL_SIZE = 1000.0
GAUGE_SHARES = (0.45, 0.2)  # drained-area share of the outlet at the two inner gauges


def _basin_mask(nrow: int, ncol: int, outlet, rng) -> np.ndarray:
    """Irregular blob covering about 60% of the grid, joined to the outlet cell."""
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    cy, cx = 0.45 * (nrow - 1), 0.5 * (ncol - 1)
    ry, rx = 0.47 * nrow, 0.44 * ncol
    angle = np.arctan2((rows - cy) / ry, (cols - cx) / rx)
    phase3, phase5 = rng.uniform(0, 2 * np.pi, size=2)
    radius = 1 + 0.12 * np.sin(3 * angle + phase3) + 0.08 * np.cos(5 * angle + phase5)
    mask = np.hypot((rows - cy) / ry, (cols - cx) / rx) <= radius
    mask[int(cy):, outlet[1]] = True  # the valley down to the outlet
    return mask


def _d8_tree(nrow: int, ncol: int, basin: np.ndarray, outlet, rng) -> np.ndarray:
    """Flow directions from a shortest-path tree with noisy step costs (meandering streams).

    Basin cells are reached only from basin cells, so they all drain to the
    outlet; the other cells drain off the nearest grid edge (or into the basin
    when enclosed by it).
    """
    flwdir = np.zeros((nrow, ncol), dtype=np.float32)
    cost = np.full((nrow, ncol), np.inf)
    heap = []

    def push(cell, value, direction):
        if value < cost[cell]:
            cost[cell] = value
            flwdir[cell] = direction
            heapq.heappush(heap, (value, cell))

    push(outlet, 0.0, 5)  # the outlet drains south, off the grid
    for r in range(nrow):
        for c in range(ncol):
            if not basin[r, c] and (r in (0, nrow - 1) or c in (0, ncol - 1)):
                off_grid = 1 if r == 0 else 5 if r == nrow - 1 else 7 if c == 0 else 3
                push((r, c), 0.5, off_grid)
    noise = rng.uniform(0.0, 0.8, size=(nrow, ncol))
    while heap:
        value, (r, c) = heapq.heappop(heap)
        if value > cost[r, c]:
            continue
        for direction in range(1, 9):
            # The neighbour that would drain onto (r, c) with this direction.
            ur, uc = r - mesh_tools.D8_DROW[direction], c - mesh_tools.D8_DCOL[direction]
            if not (0 <= ur < nrow and 0 <= uc < ncol) or (basin[ur, uc] and not basin[r, c]):
                continue
            step = np.hypot(mesh_tools.D8_DROW[direction], mesh_tools.D8_DCOL[direction]) + noise[ur, uc]
            push((int(ur), int(uc)), value + step, direction)
    return flwdir


def _inner_gauges(flwacc: np.ndarray, active: np.ndarray, outlet) -> list[tuple[int, int]]:
    """Cells draining the GAUGE_SHARES of the outlet area (closest match, distinct cells)."""
    gauges = [outlet]
    total = flwacc[outlet]
    for share in GAUGE_SHARES:
        score = np.abs(flwacc - share * total)
        score[active == 0] = np.inf
        for taken in gauges:
            score[taken] = np.inf
        gauges.append(tuple(int(i) for i in np.unravel_index(np.argmin(score), flwacc.shape)))
    return gauges


def synthetic_setup_mesh(nrow: int = 24, ncol: int = 20, seed: int = 0, year: int = 2020):
    """(setup, mesh) of the synthetic catchment: 1 km cells, 3 gauges (outlet first), daily steps over `year`."""
    if nrow < 5 or ncol < 5:
        raise ValueError(f"the synthetic catchment needs at least 5 x 5 cells, got {nrow} x {ncol}")
    rng = np.random.default_rng(seed)
    outlet = (nrow - 1, ncol // 2)
    flwdir = _d8_tree(nrow, ncol, _basin_mask(nrow, ncol, outlet, rng), outlet, rng)
    dx = np.full((nrow, ncol), CELL_SIZE, dtype=np.float32)
    dy = dx.copy()
    graph = mesh_tools.FlowGraph.from_flwdir(flwdir)   # built once for every field below
    flwacc = mesh_tools.flow_accumulation(flwdir, dx, dy, graph)
    active = mesh_tools.active_cells(flwdir, [outlet], graph)
    gauge_pos = np.array(_inner_gauges(flwacc, active, outlet), dtype=np.int32)
    flwpar, ncpar, cscpar, cpar_to_rowcol = mesh_tools.flow_partition(flwdir, graph)
    area_dln = flwacc[tuple(gauge_pos.T)].astype(np.float32)
    mesh = {
        "nrow": nrow, "ncol": ncol, "nac": int(active.sum()), "ng": len(gauge_pos), "npar": int(ncpar.size),
        "xmin": 700000.0, "ymax": 6300000.0, "xres": CELL_SIZE, "yres": CELL_SIZE, "epsg": 2154,
        "active_cell": active, "flwdir": flwdir, "flwacc": flwacc,
        "flwdst": mesh_tools.flow_distance(flwdir, dx, dy, active, graph),
        "dx": dx, "dy": dy, "flwpar": flwpar, "ncpar": ncpar, "cscpar": cscpar, "cpar_to_rowcol": cpar_to_rowcol,
        "gauge_pos": gauge_pos, "code": np.array([f"SYN{g:05d}" for g in range(len(gauge_pos))]),
        "area": area_dln.copy(), "area_dln": area_dln,
    }
    setup = {
        "hydrological_module": "gr4", "routing_module": "lr", "dt": 86400,
        "start_time": f"{year}-01-01 00:00", "end_time": f"{year}-12-31 00:00",
        "read_prcp": True, "read_pet": True, "read_qobs": True,
        "read_descriptor": True, "descriptor_name": ["slope", "drainage_density"],
        "synthetic": {"seed": seed},
    }
    return setup, mesh
