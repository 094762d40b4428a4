"""Atmospheric forcing series (prcp, pet, snow, temp) from dated GeoTIFF files."""

from __future__ import annotations

import datetime as _dt
import glob
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from smash.inputs.raster import MISSING, read_raster

# Share of a day's PET falling in the hour ending at h (h = 0..23); sums to 1.
HOURLY_PET_RATIO = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0.035, 0.062, 0.079, 0.097, 0.110, 0.117, 0.117, 0.110, 0.097, 0.079, 0.062,
     0.035, 0, 0, 0, 0, 0]
)


def step_end_times(setup: dict) -> list[_dt.datetime]:
    """End time of every step: step t covers (start + t dt, start + (t+1) dt]."""
    dt = _dt.timedelta(seconds=setup["dt"])
    return [setup["start_time"] + dt * (t + 1) for t in range(setup["ntime_step"])]


def _files_by_date(directory: str, ndigits: int, fmt: str, key: str) -> dict:
    if not directory or not os.path.isdir(directory):
        raise FileNotFoundError(f"setup[{key!r}] = {directory!r} is not a directory")
    pattern = re.compile(rf"(?<!\d)(\d{{{ndigits}}})")
    found = {}
    for path in sorted(glob.glob(os.path.join(directory, "**", f"*.{fmt}"), recursive=True)):
        match = pattern.search(os.path.basename(path))
        if match is None and ndigits == 8:
            match = re.search(r"(\d{8})", os.path.basename(path))
        if match:
            found.setdefault(match.group(1)[:ndigits], path)
    if not found:
        raise FileNotFoundError(f"No *.{fmt} file with a {ndigits}-digit date in {directory} (setup[{key!r}])")
    return found


def _interannual_day(end: _dt.datetime) -> str:
    """MMDD file used for a step: smash 1.3 indexes a 366-day calendar by day of year."""
    doy = end.timetuple().tm_yday
    return (_dt.date(2000, 1, 1) + _dt.timedelta(days=doy - 1)).strftime("%m%d")


def _pet_fraction(end: _dt.datetime, dt: int) -> float:
    """Share of the daily PET falling in the step (dt, end]; 1 for daily steps."""
    if dt >= 86400:
        return float(dt) / 86400.0
    seconds = 0.0
    fraction = 0.0
    t = end
    while seconds < dt:
        # Hour interval (H-1h, H] containing t, with H the next whole hour at or after t.
        hour_end = t.replace(minute=0, second=0, microsecond=0)
        if hour_end < t:
            hour_end += _dt.timedelta(hours=1)
        span = min((t - (hour_end - _dt.timedelta(hours=1))).total_seconds(), dt - seconds)
        fraction += HOURLY_PET_RATIO[hour_end.hour] * span / 3600.0
        seconds += span
        t -= _dt.timedelta(seconds=span)
    return fraction


def read_atmos(setup: dict, mesh: dict, kind: str, cells=None, ncpu: int = 1, verbose: bool = False) -> np.ndarray:
    """Series of `kind` ("prcp", "pet", "snow", "temp") on the mesh, float32.

    Returns (ntime_step, nrow, ncol), or (ntime_step, len(cells)) for the flat
    row-major `cells` only. Missing values are -99 (then times the conversion
    factor); a missing file leaves its step missing. For temp (degC) negative
    values are valid; only -99 marks a missing value.
    """
    if setup.get("synthetic"):
        from smash.factory.synthetic import synthetic_atmos

        return synthetic_atmos(setup, mesh, kind, cells)
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    nt = setup["ntime_step"]
    ends = step_end_times(setup)
    fmt = setup.get(f"{kind}_format", "tif")
    key = f"{kind}_directory"
    interannual = kind == "pet" and setup.get("daily_interannual_pet")
    if interannual:
        files = _files_by_date(setup.get(key), 4, fmt, key)
        names = [_interannual_day(e) for e in ends]
    else:
        daily = setup["dt"] >= 86400
        files = _files_by_date(setup.get(key), 8 if daily else 12, fmt, key)
        names = [e.strftime("%Y%m%d" if daily else "%Y%m%d%H%M") for e in ends]

    shape = (nt, nrow * ncol) if cells is None else (nt, len(cells))
    out = np.full(shape, MISSING, dtype=np.float32)
    unique = sorted({n for n in names if n in files})
    missing = sum(1 for n in names if n not in files)
    if missing == nt:
        raise ValueError(
            f"No {kind} file in {setup.get(key)} covers the simulation period "
            f"{setup['start_time']} -> {setup['end_time']} (files span {min(files)} .. {max(files)})"
        )
    if missing:
        warnings.warn(f"{missing} of {nt} {kind} steps have no file in {setup.get(key)}: set to missing (-99)",
                      stacklevel=2)

    grids = {}

    def load(name, window=None):
        grid, window = read_raster(files[name], mesh, window)
        flat = grid.ravel()
        return name, (flat if cells is None else flat[cells]), window

    if unique:
        first = load(unique[0])
        grids[first[0]] = first[1]
        window = first[2]
        rest = unique[1:]
        iterator = rest
        if verbose:
            from tqdm import tqdm

            iterator = tqdm(rest, desc=f"Reading {kind}", leave=False)
        if ncpu > 1:
            with ThreadPoolExecutor(max_workers=ncpu) as pool:
                for name, values, _ in pool.map(lambda n: load(n, window), iterator):
                    grids[name] = values
        else:
            for name in iterator:
                grids[name] = load(name, window)[1]

    factor = float(setup.get(f"{kind}_conversion_factor", 1.0) or 1.0)
    for t, name in enumerate(names):
        if name in grids:
            values = grids[name]
            if interannual:
                values = values * np.float32(_pet_fraction(ends[t], setup["dt"]))
            out[t] = values
    if factor != 1.0:
        out *= np.float32(factor)
    return out if cells is not None else out.reshape(nt, nrow, ncol)
