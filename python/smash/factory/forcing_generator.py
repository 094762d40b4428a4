"""Synthetic forcings of any length on any mesh, written to a chunked NetCDF / Zarr store a window at a time.

For tests and benchmarks at national scale: France (906 044 cells) over a year of hourly steps is
43 GB a forcing in float32, so the series is generated and written `window` steps at a time and
never held whole. The fields have the space-time structure that matters to a distributed model's
cost: rain in moving, growing and dying patches tens of km wide (a smooth random field on a coarse
grid, persistent in time with a correlation time of hours, drifting with a steady wind, thresholded:
most cells dry most hours, wetter in winter), and PET following the sun (the hourly shares of the
daily PET smash uses for daily interannual PET) and the seasons, modulated by a smooth field. Values
are rounded to 0.1 mm (rain) and 0.01 mm (PET), as gauges and products give them, which also
keeps the store small (dry cells and nights compress to almost nothing).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from smash.drainage.network import model_cell_order
from smash.inputs.atmos import HOURLY_PET_RATIO
from smash.simulation.model_setup import parse_time
from smash.stream.store_writer import StoreWriter

# Coarse grid spacing of the random fields, in mesh cells (16 km on a 1 km mesh).
COARSE_CELLS = 16
# Correlation time of the rain field (seconds) and wind drift (coarse cells per hour).
CORRELATION_SECONDS = 6 * 3600.0
DRIFT_PER_HOUR = (0.08, 0.05)


def _interpolation(n_fine: int, n_coarse: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower coarse node, weight of the upper one) of each fine cell centre, for linear interpolation."""
    pos = (np.arange(n_fine) + 0.5) / COARSE_CELLS
    lo = np.clip(np.floor(pos).astype(np.int64), 0, n_coarse - 2)
    return lo, np.clip(pos - lo, 0.0, 1.0).astype(np.float32)


class _Fields:
    """The evolving coarse fields and their interpolation onto the mesh."""

    def __init__(self, nrow: int, ncol: int, dt: int, seed: int):
        self.rng = np.random.default_rng(seed)
        # Two coarse nodes beyond the grid on each side so that the drift brings weather in.
        self.nr, self.nc = nrow // COARSE_CELLS + 4, ncol // COARSE_CELLS + 4
        self.rows, self.cols = _interpolation(nrow, self.nr), _interpolation(ncol, self.nc)
        self.keep = np.exp(-dt / CORRELATION_SECONDS)
        self.rain = self.rng.standard_normal((self.nr, self.nc))
        self.pet = self.rng.standard_normal((self.nr, self.nc))
        self.shift = np.zeros(2)
        self.drift = np.array(DRIFT_PER_HOUR) * dt / 3600.0

    def step(self) -> None:
        fresh = np.sqrt(1.0 - self.keep**2)
        self.rain = self.keep * self.rain + fresh * self.rng.standard_normal((self.nr, self.nc))
        # PET's modulation changes over days, not hours.
        slow = self.keep**0.05
        self.pet = slow * self.pet + np.sqrt(1.0 - slow**2) * self.rng.standard_normal((self.nr, self.nc))
        self.shift += self.drift
        whole = np.floor(self.shift).astype(int)
        if whole.any():
            self.rain = np.roll(self.rain, tuple(whole), axis=(0, 1))
            self.shift -= whole

    def fine(self, coarse: np.ndarray) -> np.ndarray:
        """Bilinear interpolation onto the mesh, rows then columns (single precision: it is most of the time)."""
        (r, fr), (c, fc) = self.rows, self.cols
        coarse = coarse.astype(np.float32)
        by_row = coarse[r] * (1 - fr)[:, None] + coarse[r + 1] * fr[:, None]
        return by_row[:, c] * (1 - fc) + by_row[:, c + 1] * fc


def _rain_step(fields, rain, season: float, rain_scale: float) -> None:
    """One step of rain (mm) into the flat array `rain` from the rain field's excess over a threshold."""
    excess = fields.fine(fields.rain).ravel()
    excess -= np.float32(1.2 - 0.25 * season)
    wet = np.flatnonzero(excess > 0)  # a few % of the cells: the power on those only
    rain[:] = 0.0
    rain[wet] = np.round(rain_scale * excess[wet] ** 1.5, 1)


def _pet_step(fields, pet, when, dt: int, season: float, daily_modulation: dict) -> None:
    """One step of PET (mm) into `pet`: a seasonal daily total spread over the hours of the day."""
    hours = dt / 3600.0
    daily = 2.6 - 2.1 * season  # mm per day: 0.5 in winter, 4.7 in summer
    share = sum(HOURLY_PET_RATIO[(when.hour - k) % 24] for k in range(max(1, int(hours))))
    if dt >= 86400:
        share = dt / 86400.0
    if daily_modulation.get("day") != when.date():
        daily_modulation.update(day=when.date(), values=1.0 + 0.15 * fields.fine(fields.pet))
    if share > 0:
        pet[...] = np.round(np.maximum(np.float32(daily * share) * daily_modulation["values"], 0.0), 2)
    else:
        pet[...] = 0.0


def generate_forcing_store(mesh: dict, path, start_time, end_time, dt: int = 3600, kinds=("prcp", "pet"),
                           seed: int = 0, chunk_steps: int = 24, window: int = 96, fmt: str | None = None,
                           mean_rain_per_day: float = 2.5, layout: str = "grid") -> str:
    """Write synthetic forcings on `mesh` for the period (start_time, end_time] to a store.

    Parameters
    ----------
    mesh : dict
        A mesh (``nrow``, ``ncol``, ``xmin``, ``ymax``, ``xres``, ``yres``; ``active_cell`` when
        present: the cells off it are NaN, missing).
    path : str
        The store, ``*.nc`` or ``*.zarr`` (replaced when it exists). A model reads it with
        ``setup["prcp_directory"] = setup["pet_directory"] = path`` (its variables are named
        after the kinds).
    start_time, end_time : str or datetime
        The period; the store holds the steps ending at start_time + dt, ..., end_time.
    dt : int, default 3600
        Step in seconds.
    kinds : tuple of str, default ("prcp", "pet")
        The variables written.
    seed : int, default 0
        Random seed (the same seed gives the same series whatever `window`).
    chunk_steps : int, default 24
        Steps per chunk along time.
    window : int, default 96
        Steps generated and written at a time (the memory used: window x grid x 4 bytes per kind).
    fmt : str, optional
        "netcdf" or "zarr" (from `path` by default).
    mean_rain_per_day : float, default 2.5
        Mean rainfall over the grid, mm per day (about France's).
    layout : {"grid", "cells"}, default "grid"
        "grid": (time, y, x) variables over the whole grid. "cells": (time, cell) variables over the
        mesh's active cells, in the order a model of this mesh holds them (smash.inputs.stores reads
        each window without a gather: the fastest store for a model run many times). The same values
        at every active cell either way.

    Returns
    -------
    str
        `path`.
    """
    unknown = set(kinds) - {"prcp", "pet"}
    if unknown:
        raise ValueError(f"generate_forcing_store makes prcp and pet, not {sorted(unknown)}")
    start, end = parse_time(start_time, "start_time"), parse_time(end_time, "end_time")
    nt = int((end - start).total_seconds() // dt)
    if nt <= 0:
        raise ValueError(f"generate_forcing_store: no step of {dt} s in ({start}, {end}]")
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    x = float(mesh["xmin"]) + (np.arange(ncol) + 0.5) * float(mesh["xres"])
    y = float(mesh["ymax"]) - (np.arange(nrow) + 0.5) * float(mesh["yres"])
    off = ~np.asarray(mesh["active_cell"], dtype=bool) if "active_cell" in mesh else np.zeros((nrow, ncol), bool)
    off = np.flatnonzero(off)
    epsg = mesh.get("epsg")
    crs = None
    if epsg:
        from rasterio.crs import CRS

        crs = CRS.from_epsg(int(epsg)).to_wkt()
    if layout not in ("grid", "cells"):
        raise ValueError(f"generate_forcing_store: unknown layout {layout!r}; choose 'grid' or 'cells'")
    cells = model_cell_order(mesh) if layout == "cells" else None
    fields = _Fields(nrow, ncol, dt, seed)
    hours = dt / 3600.0
    # Rain = scale x (z - threshold)+ ^ 1.5 of a unit normal z: with a threshold of 1.2 about 12 % of the
    # cell-hours are wet; E[(z - 1.2)+ ^ 1.5] = 0.055, which sets the scale for the asked mean.
    rain_scale = mean_rain_per_day / 24.0 * hours / 0.055
    attrs = {"prcp": {"units": "mm", "long_name": "precipitation per time step (synthetic)"},
             "pet": {"units": "mm", "long_name": "potential evapotranspiration per time step (synthetic)"}}
    daily_modulation = {}  # the PET modulation of the current day (it changes over days)
    with StoreWriter(path, x, y, {kind: attrs[kind] for kind in kinds}, crs, chunk_steps, fmt, nstep=nt,
                     cells=cells) as writer:
        for w0 in range(0, nt, window):
            count = min(window, nt - w0)
            block = {kind: np.empty((count, nrow, ncol), dtype=np.float32) for kind in kinds}
            ends = [start + _dt.timedelta(seconds=dt * (w0 + i + 1)) for i in range(count)]
            for i, when in enumerate(ends):
                fields.step()
                season = np.cos(2 * np.pi * (when.timetuple().tm_yday - 15) / 366.0)  # 1 mid-January
                if "prcp" in kinds:
                    _rain_step(fields, block["prcp"][i].reshape(-1), season, rain_scale)
                if "pet" in kinds:
                    _pet_step(fields, block["pet"][i], when, dt, season, daily_modulation)
            for values in block.values():
                values.reshape(count, -1)[:, off] = np.nan
            writer.append(ends, block)
    return str(path)
