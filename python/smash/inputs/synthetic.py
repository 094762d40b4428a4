"""Synthetic forcings, descriptors and observations of the built-in synthetic catchment.

They derive deterministically from `setup["synthetic"]["seed"]`, with the same
contracts as the file readers (`read_atmos`, `read_descriptor`), so the readers and
`Model` use them without reaching up to `smash.factory` (whose package imports the
dataset loader and through it the model I/O). The synthetic mesh itself is built by
`smash.factory.synthetic.synthetic_setup_mesh`.
"""

from __future__ import annotations

import numpy as np

from smash.time_axis import TimeAxis


def _seed(setup) -> int:
    spec = setup.get("synthetic") or {}
    return int(spec.get("seed", 0)) if isinstance(spec, dict) else 0


def _day_of_year(setup: dict) -> np.ndarray:
    """Day of year (with fraction) of every step's end time."""
    ends = TimeAxis.of(setup).end_times()
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
