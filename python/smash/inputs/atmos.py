"""Atmospheric forcing series (prcp, pet, snow, temp) from dated GeoTIFF files.

Step t (0-based) covers (start + t dt, start + (t+1) dt] and uses the file
stamped with its end time start + (t+1) dt; the file stamped start_time is
never used.
"""

from __future__ import annotations

import datetime as _dt
import glob
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from smash.inputs.raster import GDAL_OPTIONS, MISSING, RasterSeries, ReadReport
from smash.model_setup import parse_time

KINDS = ("prcp", "pet", "snow", "temp")
# What each kind is called in the reading warnings.
KIND_NAMES = {"prcp": "precipitation", "pet": "potential evapotranspiration", "snow": "snow", "temp": "temperature"}

# Share of a day's PET falling in the hour ending at h (h = 0..23); sums to 1.
HOURLY_PET_RATIO = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0.035, 0.062, 0.079, 0.097, 0.110, 0.117, 0.117, 0.110, 0.097, 0.079, 0.062,
     0.035, 0, 0, 0, 0, 0]
)


def step_end_times(setup: dict) -> list[_dt.datetime]:
    """End time of every step: step t covers (start + t dt, start + (t+1) dt]."""
    dt = _dt.timedelta(seconds=int(setup["dt"]))
    start = parse_time(setup["start_time"], "start_time")
    return [start + dt * (t + 1) for t in range(int(setup["ntime_step"]))]


def files_by_date(directory, ndigits: int, fmt: str, key: str) -> dict[str, str]:
    """Map date string -> path for the `*.fmt` files under `directory` (recursive, sorted by path).

    The date is the first run of at least `ndigits` digits of the file name,
    cut to `ndigits` (Lez names `YYYYMMDD0000` daily files). A folder without
    such a file gives an empty dict (every step then missing, as smash 1.3 warns).
    """
    if not directory or not os.path.isdir(directory):
        raise FileNotFoundError(f"setup[{key!r}] = {directory!r} is not a directory")
    first_run = re.compile(rf"\d{{{ndigits},}}")
    by_date: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(str(directory)), "**", f"*.{fmt}"), recursive=True)):
        match = first_run.search(os.path.basename(path))
        if match:
            by_date.setdefault(match.group()[:ndigits], path)
    return by_date


def interannual_day(end: _dt.datetime) -> str:
    """MMDD of the interannual map used for a step ending at `end`.

    smash 1.3 stores the maps on a 366-day (leap-year) calendar and indexes it
    by the day of year of `end`: after February of a non-leap year this is the
    previous calendar day's map (2014-09-15 -> 0914, 2014-03-01 -> 0229).
    """
    day_of_year = end.timetuple().tm_yday
    return (_dt.date(2000, 1, 1) + _dt.timedelta(days=day_of_year - 1)).strftime("%m%d")


def interannual_fraction(end: _dt.datetime, dt: int) -> float:
    """Share of the daily PET in the step (end - dt, end]: sum of the hourly ratios of its hours."""
    if dt % 3600 or end.minute or end.second:
        raise ValueError(f"daily_interannual_pet needs whole-hour steps (dt = {dt} s, step ending {end})")
    return float(sum(HOURLY_PET_RATIO[(end.hour - k) % 24] for k in range(dt // 3600)))


def _series_plan(setup: dict, kind: str) -> tuple[list[str], dict[str, str], bool]:
    """(date key of every step, files by date key, interannual?) for `kind`."""
    key = f"{kind}_directory"
    fmt = setup.get(f"{kind}_format") or "tif"
    ends = step_end_times(setup)
    if kind == "pet" and setup.get("daily_interannual_pet"):
        return [interannual_day(end) for end in ends], files_by_date(setup.get(key), 4, fmt, key), True
    daily = int(setup["dt"]) >= 86400
    files = files_by_date(setup.get(key), 8 if daily else 12, fmt, key)
    pattern = "%Y%m%d" if daily else "%Y%m%d%H%M"
    return [end.strftime(pattern) for end in ends], files, False


def _read_files(series: RasterSeries, paths: list[str], store, ncpu: int, progress) -> None:
    """Call `store(i, values)` with the values of `paths[i]` at the series' cells; `ncpu` threads share the files."""

    def read_chunk(indices):
        # rasterio's GDAL environment is thread-local: one per worker.
        with rasterio.Env(**GDAL_OPTIONS):
            for i in indices:
                store(i, series.read(paths[i]))
                if progress is not None:
                    progress.update(1)

    indices = list(range(len(paths)))
    with warnings.catch_warnings():
        # Files after the first are opened without georeferencing on purpose.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if ncpu <= 1 or len(paths) < 2:
            read_chunk(indices)
            return
        nworker = min(ncpu, len(paths))
        with ThreadPoolExecutor(max_workers=nworker) as pool:
            # list() re-raises the first error of a worker here.
            list(pool.map(read_chunk, [indices[w::nworker] for w in range(nworker)]))


def read_atmos(setup: dict, mesh: dict, kind: str, cells=None, ncpu: int = 1, verbose: bool = False, out=None):
    """Series of `kind` ("prcp", "pet", "snow", "temp") on the mesh, float32.

    `setup` is a normalized setup (`start_time`, int `dt` and `ntime_step`,
    resolved `<kind>_directory`). Returns (ntime_step, nrow, ncol),
    or (ntime_step, len(cells)) holding only the flat row-major `cells`.
    Nodata and cells outside a raster are -99 *before* the conversion factor is
    applied (so -9.9 with factor 0.1); a step without a file is -99 over the
    grid. Negative prcp, pet and snow values mean "missing"; temp is in degC
    where negative values are valid and only the -99 sentinel is missing.
    Daily interannual PET (`daily_interannual_pet`) is spread over the hours
    of the day with `HOURLY_PET_RATIO`. Rasters of another resolution or grid
    are resampled onto the mesh as smash 1.3 does (`raster.axis_indices`).
    Missing files and such placements give one UserWarning per call.
    `out` (with `cells`): an object taking each step as ``out[t] = values``
    (smash.sparse_forcing.StepEncoder), returned instead of the array; steps
    without a file are left to it.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown atmospheric kind {kind!r}; choose one of {list(KINDS)}")
    if setup.get("synthetic"):
        from smash.factory.synthetic import synthetic_atmos

        return synthetic_atmos(setup, mesh, kind, cells)

    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    ntime_step = int(setup["ntime_step"])
    selected = np.arange(nrow * ncol) if cells is None else np.asarray(cells, dtype=np.int64).ravel()
    step_keys, files, interannual = _series_plan(setup, kind)
    report = ReadReport(KIND_NAMES[kind])
    # Missing steps are named by their end time (interannual maps by MM-DD), as smash 1.3 lists them.
    ends = step_end_times(setup)
    missing = sorted({key for key in step_keys if key not in files})
    report.missing = ([f"{key[:2]}-{key[2:]}" for key in missing] if interannual else
                      [end.strftime("%Y-%m-%d %H:%M") for key, end in zip(step_keys, ends, strict=True)
                       if key not in files])
    if out is None:
        out = np.full((ntime_step, selected.size), MISSING, dtype=np.float32)
    elif cells is None:
        raise ValueError("read_atmos: `out` needs `cells`")

    # Each needed file is read once (an interannual map serves many steps).
    needed = sorted({key for key in step_keys if key in files})
    paths = [files[key] for key in needed]
    if not paths:
        report.warn()
        return out if cells is not None else out.reshape(ntime_step, nrow, ncol)
    series = RasterSeries(mesh, selected, paths[0])
    if len(paths) > 1:
        # Only raster sizes are compared per file: make sure the last one is placed like the first too.
        series.check_same_georeference(paths[-1])
    factor = setup.get(f"{kind}_conversion_factor")
    # Scaling in single precision, as smash 1.3 does: the same float32 forcings bit for bit
    # (in double, then rounded, 1 value in 40 differed by an ulp, enough to flip the near-ties
    # of the ci re-estimation).
    factor = np.float32(1.0 if factor is None else factor)
    if interannual:
        # One map per calendar day, spread over the steps of that day by hourly ratios.
        daily_maps: dict[str, np.ndarray] = {}

        def store(i, values):
            daily_maps[needed[i]] = values.astype(np.float32) * factor
    else:
        step_of = {key: t for t, key in enumerate(step_keys)}

        def store(i, values):
            out[step_of[needed[i]]] = values.astype(np.float32) * factor

    progress = None
    if verbose:
        from tqdm import tqdm

        progress = tqdm(total=len(paths), desc=f"Reading {kind}", unit="file")
    try:
        _read_files(series, paths, store, ncpu, progress)
    finally:
        if progress is not None:
            progress.close()

    report.issues |= series.issues
    report.warn()
    if interannual:
        for t, key in enumerate(step_keys):
            if key in daily_maps:
                out[t] = daily_maps[key] * np.float32(interannual_fraction(ends[t], int(setup["dt"])))
    return out if cells is not None else out.reshape(ntime_step, nrow, ncol)
