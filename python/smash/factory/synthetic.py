"""The built-in synthetic catchment: mesh, forcings and descriptors without files.

Everything derives deterministically from `setup["synthetic"]["seed"]`. The
network is a D8 tree grown over an irregular basin that drains through one
outlet on the southern edge; cells outside the basin drain off the grid and
stay inactive, as in the real meshes. Observations come from a "true" model
run (`synthetic_observations`, used by Model).
"""

from __future__ import annotations

import datetime as _dt
import heapq

import numpy as np

from smash.factory import mesh_tools

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


def _seed(setup) -> int:
    spec = setup.get("synthetic") or {}
    return int(spec.get("seed", 0)) if isinstance(spec, dict) else 0


def _day_of_year(setup: dict) -> np.ndarray:
    """Day of year (with fraction) of every step's end time."""
    from smash.model_setup import parse_time

    start = parse_time(setup["start_time"], "start_time")
    dt = int(setup["dt"])
    ends = [start + _dt.timedelta(seconds=dt * (t + 1)) for t in range(int(setup["ntime_step"]))]
    return np.array([e.timetuple().tm_yday + e.hour / 24.0 for e in ends])


def synthetic_atmos(setup: dict, mesh: dict, kind: str, cells=None) -> np.ndarray:
    """Deterministic forcings, same contract as `read_atmos` (per step amounts).

    prcp: intermittent storms (about one wet day in three, gamma depths, mean
    ~10 mm/day when wet) centred on a random point with a 6-15 km footprint
    over a light background; pet: seasonal 0.5-5 mm/day with a slight north-south
    gradient; snow: winter showers; temp: seasonal degC (negative values valid).
    """
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    ntime_step, dt = int(setup["ntime_step"]), int(setup["dt"])
    rng = np.random.default_rng(_seed(setup) + {"prcp": 1, "pet": 2, "snow": 3, "temp": 4}[kind])
    doy = _day_of_year(setup)
    flat = np.arange(nrow * ncol) if cells is None else np.asarray(cells, dtype=np.int64).ravel()
    rows, cols = np.divmod(flat, ncol)
    per_day = dt / 86400.0
    season = 0.5 * (1 - np.cos(2 * np.pi * (doy - 20) / 365.25))  # 0 in January, 1 in July
    if kind == "prcp":
        wet = rng.random(ntime_step) < 0.35
        depth = rng.gamma(0.8, 12.0, size=ntime_step) * wet * per_day
        centre_r, centre_c = rng.uniform(0, nrow, ntime_step), rng.uniform(0, ncol, ntime_step)
        radius = rng.uniform(6.0, 15.0, ntime_step)

        def field(steps):
            d2 = (rows[None] - centre_r[steps, None]) ** 2 + (cols[None] - centre_c[steps, None]) ** 2
            return depth[steps, None] * (0.3 + 1.4 * np.exp(-d2 / (2 * radius[steps, None] ** 2)))
    elif kind == "pet":
        north_south = 1.0 + 0.05 * rows / max(nrow - 1, 1)

        def field(steps):
            return ((0.5 + 4.5 * season[steps]) * per_day)[:, None] * north_south[None]
    elif kind == "snow":
        showers = np.where(season < 0.2, rng.gamma(0.5, 4.0, size=ntime_step), 0.0) * per_day

        def field(steps):
            return np.repeat(showers[steps, None], flat.size, axis=1)
    else:

        def field(steps):
            return (-2.0 + 20.0 * season[steps])[:, None] - 0.2 * rows[None]
    # Filled a few steps at a time: the float64 intermediates of the whole series would
    # be three times the float32 result (2.6 GB at 1e8 cell-steps).
    out = np.empty((ntime_step, flat.size), dtype=np.float32)
    span = max(1, (1 << 22) // max(flat.size, 1))
    for t0 in range(0, ntime_step, span):
        steps = np.arange(t0, min(t0 + span, ntime_step))
        out[steps] = field(steps)
    return out if cells is not None else out.reshape(ntime_step, nrow, ncol)


def synthetic_descriptor(setup: dict, mesh: dict) -> np.ndarray:
    """(nrow, ncol, nd) float32 smooth, positive, spatially varying maps, one per `descriptor_name`."""
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    rng = np.random.default_rng(_seed(setup) + 7)
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    maps = []
    for i, _ in enumerate(setup["descriptor_name"]):
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(rows / (3.0 + i) + phase) * np.cos(cols / (4.0 + i))
        maps.append((1 + wave + 0.3 * rng.random((nrow, ncol))).astype(np.float32))
    return np.stack(maps, axis=-1) if maps else np.zeros((nrow, ncol, 0), dtype=np.float32)


def synthetic_observations(model) -> np.ndarray:
    """Discharge of a 'true' model (parameters driven by the descriptors) with 5% noise."""
    truth = model.copy()
    desc = model.physio_data.descriptor
    norm = (desc - desc.min(axis=(0, 1))) / np.maximum(np.ptp(desc, axis=(0, 1)), 1e-12)
    d0 = norm[..., 0] if desc.shape[-1] else np.full(desc.shape[:2], 0.5)
    d1 = norm[..., 1] if desc.shape[-1] > 1 else d0
    keys = set(truth.rr_parameters.keys.tolist())
    if "cp" in keys:
        truth.set_rr_parameters("cp", 120.0 + 250.0 * d0)
    if "ct" in keys:
        truth.set_rr_parameters("ct", 60.0 + 150.0 * d1)
    if "kexc" in keys:
        truth.set_rr_parameters("kexc", -1.0 + 0.5 * d1)
    truth.forward_run()
    rng = np.random.default_rng(_seed(model.setup.__dict__) + 11)
    q = truth.response.q.astype(np.float64)
    return (q * (1.0 + 0.05 * rng.standard_normal(q.shape))).clip(0.0).astype(np.float32)
