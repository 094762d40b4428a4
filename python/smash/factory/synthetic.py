"""The built-in synthetic catchment: mesh, forcings, descriptors and observations, no files.

Everything is derived deterministically from a seed, so runs are repeatable.
Observations come from a "true" model whose parameters vary in space with the
descriptors, plus 5% multiplicative noise: calibration can recover them.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from smash.network import D8_OFFSETS

DX = 1000.0


def _flow_directions(nrow, ncol, outlet, rng):
    """D8 directions by steepest descent on a noisy cone centred on the outlet."""
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    dist = np.hypot(rows - outlet[0], cols - outlet[1])
    z = dist + 0.3 * rng.random((nrow, ncol))
    z[outlet] = -1.0
    flwdir = np.zeros((nrow, ncol), dtype=np.float32)
    for r in range(nrow):
        for c in range(ncol):
            if (r, c) == outlet:
                flwdir[r, c] = 5  # leaves the grid southwards
                continue
            best, best_slope = 0, 0.0
            for d, (dr, dc) in D8_OFFSETS.items():
                rr, cc = r + dr, c + dc
                if 0 <= rr < nrow and 0 <= cc < ncol:
                    slope = (z[r, c] - z[rr, cc]) / np.hypot(dr, dc)
                    if slope > best_slope:
                        best, best_slope = d, slope
            flwdir[r, c] = best
    return flwdir


def _downstream(flwdir, r, c):
    dr, dc = D8_OFFSETS[int(flwdir[r, c])]
    return r + dr, c + dc


def synthetic_setup_mesh(nrow: int = 24, ncol: int = 20, seed: int = 0, year: int = 2020):
    """(setup, mesh) of a 480-cell catchment on a 1 km grid with three gauges."""
    rng = np.random.default_rng(seed)
    outlet = (nrow - 1, ncol // 2)
    flwdir = _flow_directions(nrow, ncol, outlet, rng)
    # Every cell drains to the outlet, so the whole grid is the catchment.
    active = np.zeros((nrow, ncol), dtype=np.int32)
    area = np.full((nrow, ncol), DX * DX, dtype=np.float64)
    flwacc = np.zeros((nrow, ncol), dtype=np.float64)
    flwdst = np.full((nrow, ncol), -99.0)
    for r in range(nrow):
        for c in range(ncol):
            path, (rr, cc), dist = [], (r, c), 0.0
            while (rr, cc) != outlet:
                path.append((rr, cc))
                nr, nc = _downstream(flwdir, rr, cc)
                dist += DX * np.hypot(nr - rr, nc - cc)
                rr, cc = nr, nc
            path.append(outlet)
            for pr, pc in path:
                flwacc[pr, pc] += area[r, c]
            active[r, c] = 1
            flwdst[r, c] = dist
    # Two inner gauges on the main stem: cells draining about 45% and 20% of the outlet.
    acc = np.where(active == 1, flwacc, 0.0)
    total = acc[outlet]
    gauges = [outlet]
    for share in (0.45, 0.2):
        score = np.abs(acc - share * total) + 1e12 * (active == 0)
        gauges.append(tuple(int(i) for i in np.unravel_index(np.argmin(score), acc.shape)))
    levels = _levels(flwdir, active, outlet)
    order = np.lexsort((np.arange(nrow * ncol), levels.ravel()))
    npar = int(levels.max())
    ncpar = np.bincount(levels.ravel(), minlength=npar + 1)[1:].astype(np.int32)
    ncpar[0] += int((levels == 0).sum())
    cscpar = np.concatenate([[0], np.cumsum(ncpar)[:-1]]).astype(np.int32)
    gauge_pos = np.array(gauges, dtype=np.int32)
    mesh = {
        "nrow": nrow, "ncol": ncol, "nac": int(active.sum()), "ng": len(gauges), "npar": npar,
        "xmin": 700000.0, "ymax": 6300000.0, "xres": DX, "yres": DX, "epsg": 2154,
        "active_cell": active, "flwdir": flwdir, "flwacc": flwacc.astype(np.float32),
        "flwdst": flwdst.astype(np.float32),
        "dx": np.full((nrow, ncol), DX, dtype=np.float32), "dy": np.full((nrow, ncol), DX, dtype=np.float32),
        "flwpar": np.maximum(levels, 1).astype(np.int32), "ncpar": ncpar, "cscpar": cscpar,
        "cpar_to_rowcol": np.stack(np.unravel_index(order, (nrow, ncol)), axis=1).astype(np.int32),
        "gauge_pos": gauge_pos, "code": np.array([f"SYN{g:05d}" for g in range(len(gauges))]),
        "area": np.array([flwacc[g] for g in gauges], dtype=np.float32),
        "area_dln": np.array([flwacc[g] for g in gauges], dtype=np.float32),
    }
    setup = {
        "hydrological_module": "gr4", "routing_module": "lr", "dt": 86400,
        "start_time": f"{year}-01-01", "end_time": f"{year}-12-31",
        "read_prcp": True, "read_pet": True, "read_qobs": True,
        "read_descriptor": True, "descriptor_name": ["slope", "drainage_density"],
        "synthetic": {"seed": seed},
    }
    return setup, mesh


def _levels(flwdir, active, outlet):
    """Flow partition level of every active cell (1 + max over upstream cells); 0 elsewhere."""
    nrow, ncol = flwdir.shape
    levels = np.zeros((nrow, ncol), dtype=np.int64)

    def level(r, c):
        if levels[r, c]:
            return levels[r, c]
        best = 0
        for d, (dr, dc) in D8_OFFSETS.items():
            ur, uc = r - dr, c - dc
            if 0 <= ur < nrow and 0 <= uc < ncol and active[ur, uc] and int(flwdir[ur, uc]) == d:
                best = max(best, level(ur, uc))
        levels[r, c] = best + 1
        return levels[r, c]

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * nrow * ncol))
    try:
        for r in range(nrow):
            for c in range(ncol):
                if active[r, c]:
                    level(r, c)
    finally:
        sys.setrecursionlimit(limit)
    return levels


def _seed(setup) -> int:
    spec = setup.get("synthetic") or {}
    return int(spec.get("seed", 0)) if isinstance(spec, dict) else 0


def synthetic_atmos(setup: dict, mesh: dict, kind: str, cells=None) -> np.ndarray:
    """Deterministic forcings: storms with a west-east gradient, seasonal PET (mm per step)."""
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    nt, dt = setup["ntime_step"], setup["dt"]
    rng = np.random.default_rng(_seed(setup) + {"prcp": 1, "pet": 2, "snow": 3, "temp": 4}[kind])
    ends = [setup["start_time"] + _dt.timedelta(seconds=dt * (t + 1)) for t in range(nt)]
    doy = np.array([e.timetuple().tm_yday for e in ends], dtype=float)
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    scale = dt / 86400.0
    if kind == "prcp":
        wet = rng.random(nt) < 0.35
        depth = rng.gamma(0.8, 12.0, size=nt) * wet * scale
        pattern = 0.7 + 0.6 * cols / max(ncol - 1, 1) + 0.1 * np.sin(rows / 3.0)
        field = depth[:, None, None] * pattern[None] * rng.uniform(0.8, 1.2, size=(nt, 1, 1))
    elif kind == "pet":
        daily = 0.5 + 4.5 * 0.5 * (1 - np.cos(2 * np.pi * (doy - 20) / 365.25))
        field = (daily * scale)[:, None, None] * (1.0 + 0.05 * rows / max(nrow - 1, 1))[None]
    elif kind == "snow":
        field = np.where(np.cos(2 * np.pi * doy / 365.25) > 0.6, rng.gamma(0.5, 4.0, size=nt), 0.0)[:, None, None]
        field = field * np.ones((1, nrow, ncol)) * scale
    else:
        field = (8 - 10 * np.cos(2 * np.pi * (doy - 20) / 365.25))[:, None, None] - 0.2 * rows[None]
    out = field.astype(np.float32).reshape(nt, nrow * ncol)
    return out[:, cells] if cells is not None else out.reshape(nt, nrow, ncol)


def synthetic_descriptor(setup: dict, mesh: dict) -> np.ndarray:
    """Smooth spatial descriptors (nrow, ncol, nd), one per setup['descriptor_name']."""
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    rng = np.random.default_rng(_seed(setup) + 7)
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    maps = []
    for i, _ in enumerate(setup["descriptor_name"]):
        phase = rng.uniform(0, 2 * np.pi)
        field = 1 + np.sin(rows / (3.0 + i) + phase) * np.cos(cols / (4.0 + i)) + 0.3 * rng.random((nrow, ncol))
        maps.append(field.astype(np.float32))
    return np.stack(maps, axis=-1)


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
