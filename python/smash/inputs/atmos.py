"""Atmospheric forcing series (prcp, pet, snow, temp) from dated GeoTIFF files.

Step t (0-based) covers (start + t dt, start + (t+1) dt] and uses the file
stamped with its end time start + (t+1) dt; the file stamped start_time is
never used.
"""

from __future__ import annotations

import collections
import datetime as _dt
import glob
import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from smash.inputs.raster import GDAL_OPTIONS, MISSING, RasterSeries, ReadReport
from smash.inputs.stores import read_store, store_format
from smash.inputs.synthetic import synthetic_atmos
from smash.progress import on_terminal, progress_bar
from smash.time_axis import TimeAxis

KINDS = ("prcp", "pet", "snow", "temp")
# What each kind is called in the reading warnings.
KIND_NAMES = {"prcp": "precipitation", "pet": "potential evapotranspiration", "snow": "snow", "temp": "temperature"}

# Share of a day's PET falling in the hour ending at h (h = 0..23); sums to 1.
HOURLY_PET_RATIO = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0.035, 0.062, 0.079, 0.097, 0.110, 0.117, 0.117, 0.110, 0.097, 0.079, 0.062,
     0.035, 0, 0, 0, 0, 0]
)


def files_by_date(directory, ndigits: int, fmt: str, key: str) -> dict[str, str]:
    """Map date string -> path for the `*.fmt` files under `directory` (recursive, sorted by path).

    The date is the first run of at least `ndigits` digits of the file name,
    cut to `ndigits` (interannual PET maps: `MMDD`). Two files carrying the
    same date are an error naming both. A folder without such a file gives an
    empty dict (every step then missing, as smash 1.3 warns).
    """
    by_date: dict[str, str] = {}
    first_run = re.compile(rf"\d{{{ndigits},}}")
    for path in _listed(directory, fmt, key):
        match = first_run.search(os.path.basename(path))
        if match:
            _add_unique(by_date, match.group()[:ndigits], path, key)
    return by_date


def files_by_time(directory, fmt: str, key: str) -> dict[_dt.datetime, str]:
    """Map time stamp -> path for the `*.fmt` files under `directory` (recursive).

    The stamp is the first run of at least 8 digits of the file name that
    reads as a date: its first 12 digits as YYYYMMDDHHMM when it has that
    many, else its first 8 as YYYYMMDD (midnight). Names without such a run
    are not forcing files. Two files carrying the same stamp are an error naming both.
    """
    by_time: dict[_dt.datetime, str] = {}
    first_run = re.compile(r"\d{8,}")
    for path in _listed(directory, fmt, key):
        stamp = next(filter(None, map(_stamp_of, first_run.findall(os.path.basename(path)))), None)
        if stamp is not None:
            _add_unique(by_time, stamp, path, key)
    return by_time


def _stamp_of(digits: str) -> _dt.datetime | None:
    try:
        return (_dt.datetime.strptime(digits[:12], "%Y%m%d%H%M") if len(digits) >= 12 else
                _dt.datetime.strptime(digits[:8], "%Y%m%d"))
    except ValueError:
        return None


def _listed(directory, fmt: str, key: str) -> list[str]:
    if not directory or not os.path.isdir(directory):
        raise FileNotFoundError(f"setup[{key!r}] = {directory!r} is not a directory")
    return sorted(glob.glob(os.path.join(glob.escape(str(directory)), "**", f"*.{fmt}"), recursive=True))


def _add_unique(mapping: dict, stamp, path: str, key: str) -> None:
    if stamp in mapping:
        shown = stamp.strftime("%Y-%m-%d %H:%M") if isinstance(stamp, _dt.datetime) else stamp
        raise ValueError(f"Two files of setup[{key!r}] carry the same date {shown}: {mapping[stamp]} and {path}; "
                         "remove or rename one of them")
    mapping[stamp] = path


def file_step(files: dict, key: str) -> int | None:
    """Time step of a series of files (stamp -> path) in seconds: the commonest gap between
    consecutive stamps (None with fewer than two files). Products that leave out dry hours keep
    their step (their gaps are multiples of it); a gap that is not a multiple of the step (a stray
    file, or two files of one day at different hours in a daily series) is an error naming the
    two files, never a file silently used or left out."""
    ordered = sorted(files)
    gaps = [int((b - a).total_seconds()) for a, b in zip(ordered[:-1], ordered[1:], strict=True)]
    if not gaps:
        return None
    values, counts = np.unique(gaps, return_counts=True)
    # The commonest gap; on a tie the shortest.
    step = int(values[np.argmax(counts)])
    for (a, b), gap in zip(zip(ordered[:-1], ordered[1:], strict=True), gaps, strict=True):
        if gap % step:
            raise ValueError(
                f"Files of setup[{key!r}] off the series' time step: {files[a]} and {files[b]} are "
                f"{_describe_step(gap)} apart while the files are {_describe_step(step)} apart; remove or "
                "rename the stray file")
    return step


def _describe_step(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{seconds} s ({count} {unit}{'s' if count > 1 else ''})"
    return f"{seconds} s"


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


class SeriesPlan:
    """Which files make each model step of one forcing.

    `groups[t]` lists the files summed (averaged for temp) into step t: one
    file when the files have the model's step, dt / file_step files when they
    are finer (sub-step aggregation), none when the step has no file.
    `partial` lists the steps some of whose sub-step files are absent (they are
    left missing). `unused` counts files within the period that fall between
    the model steps. Interannual PET (`interannual`) has one map per calendar
    day in `daily`, keyed by MMDD, and `groups` empty.
    """

    def __init__(self, setup: dict, kind: str):
        key = f"{kind}_directory"
        fmt = setup.get(f"{kind}_format") or "tif"
        dt = int(setup["dt"])
        axis = TimeAxis.of(setup)
        self.ends = axis.end_times()
        self.interannual = kind == "pet" and bool(setup.get("daily_interannual_pet"))
        self.partial: list[int] = []
        self.unused = 0
        if self.interannual:
            self.day_keys = [interannual_day(end) for end in self.ends]
            self.daily = files_by_date(setup.get(key), 4, fmt, key)
            self.groups = []
            return
        files = files_by_time(setup.get(key), fmt, key)
        step = file_step(files, key) or dt
        if step > dt:
            raise ValueError(
                f"The files of setup[{key!r}] are {_describe_step(step)} apart, coarser than the model step "
                f"dt = {_describe_step(dt)}; use files at the model step (or a model step of "
                f"{_describe_step(step)})" + (" or daily_interannual_pet" if kind == "pet" else ""))
        if dt % step:
            raise ValueError(
                f"The files of setup[{key!r}] are {_describe_step(step)} apart, which does not divide the model "
                f"step dt = {_describe_step(dt)}; their sums per model step are not defined")
        nsub = dt // step
        if step % 86400 == 0:
            # Daily files and steps go by calendar date, whatever the hour in the names (as smash 1.3).
            by_date: dict = {}
            for stamp, path in files.items():
                _add_unique(by_date, stamp.date(), path, key)
            files = by_date
            stamps_of = [[(end - _dt.timedelta(seconds=step * (nsub - 1 - k))).date() for k in range(nsub)]
                         for end in self.ends]
        else:
            stamps_of = [[end - _dt.timedelta(seconds=step * (nsub - 1 - k)) for k in range(nsub)]
                         for end in self.ends]
        self.step = step
        self.groups = []
        used = set()
        for t, stamps in enumerate(stamps_of):
            found = [files[stamp] for stamp in stamps if stamp in files]
            used.update(stamps)
            if found and len(found) < nsub:
                self.partial.append(t)
                found = []
            self.groups.append(found)
        if self.ends:
            # Files dated within the period (start, end] that no step took.
            lo, hi = axis.start, axis.end
            if step % 86400 == 0:
                lo, hi = lo.date(), hi.date()
            self.unused = sum(1 for stamp in files if lo < stamp <= hi and stamp not in used)

    def window(self, first: int, count: int) -> SeriesPlan:
        """The plan of steps first .. first + count - 1 alone (streamed forcings: the folder is
        listed once, not at every window; files between the model steps are not counted)."""
        part = SeriesPlan.__new__(SeriesPlan)
        part.__dict__.update(self.__dict__)
        part.ends = self.ends[first:first + count]
        part.partial = [t - first for t in self.partial if first <= t < first + count]
        part.unused = 0
        if self.interannual:
            part.day_keys = self.day_keys[first:first + count]
        else:
            part.groups = self.groups[first:first + count]
        return part

    def unfilled_steps(self) -> list[int]:
        """The steps read_atmos leaves as they were in its `out`: those without a file (or a day without
        its interannual map), and those missing some of their sub-step files."""
        if self.interannual:
            return [t for t, key in enumerate(self.day_keys) if key not in self.daily]
        return [t for t, group in enumerate(self.groups) if not group]


# Values beyond these per-step bounds are kept but warned about as implausible. Precipitation and
# snowfall: the world-record envelope of point rainfall, 422 mm x (hours)^0.475 (Jennings 1950:
# 1 h 422 mm, 24 h 1 908 mm). PET: 30 mm per day of step, at least 5 mm for sub-daily steps
# (the highest daily potential evaporation observed is about 20 mm). Temperature (degC): the
# recorded extremes -89.2 and 56.7 rounded outwards.
def plausible_max(kind: str, dt: int) -> float:
    """Largest plausible value of `kind` over one step of `dt` seconds (mm, or degC for temp)."""
    if kind in ("prcp", "snow"):
        return 422.0 * (dt / 3600.0) ** 0.475
    if kind == "pet":
        return max(5.0, 30.0 * dt / 86400.0)
    return 60.0


TEMP_MIN = -90.0


def implausible_values(kind: str, values: np.ndarray, bound: float) -> np.ndarray:
    """Mask of the values beyond the plausible range of `kind` (missing -99 temperatures excluded)."""
    if kind == "temp":
        return (values > MISSING) & ((values > bound) | (values < TEMP_MIN))
    return values > bound


def plausible_range_text(kind: str, bound: float) -> str:
    """How the implausible values of `kind` are described in warnings."""
    if kind == "temp":
        return f"below {TEMP_MIN} or above {bound} degC"
    return f"above the plausible {bound:.4g} mm per step"


class MissingTally:
    """Missing and implausible values met while reading one forcing, reported in one warning."""

    def __init__(self, kind: str, dt: int):
        self.kind, self.bound = kind, plausible_max(kind, dt)
        self.counts = {"nodata": 0, "NaN or inf": 0, "negative": 0}
        self.missing_dates: set = set()
        self.implausible = 0
        self.implausible_dates: set = set()
        self._lock = threading.Lock()

    def add_file(self, values: np.ndarray, n_nodata: int, n_nonfinite: int, when) -> None:
        # temp is in degC: negative values are data, only the -99 sentinel and non-finite are missing.
        n_negative = 0 if self.kind == "temp" else int(((values < 0) & (values != MISSING)).sum())
        if n_nodata or n_nonfinite or n_negative:
            with self._lock:
                self.counts["nodata"] += n_nodata
                self.counts["NaN or inf"] += n_nonfinite
                self.counts["negative"] += n_negative
                self.missing_dates.add(when)

    def add_step(self, values: np.ndarray, when) -> None:
        count = int(implausible_values(self.kind, values, self.bound).sum())
        if count:
            with self._lock:
                self.implausible += count
                self.implausible_dates.add(when)

    def notes(self) -> list[str]:
        lines = []
        total = sum(self.counts.values())
        if total:
            detail = ", ".join(f"{n} {what}" for what, n in self.counts.items() if n)
            lines.append(f"Missing values: {total} value(s) on the model cells were missing data ({detail}) and "
                         f"are left missing (-99); first dates: {_first(self.missing_dates)}")
        if self.implausible:
            limits = plausible_range_text(self.kind, self.bound)
            lines.append(f"Implausible values: {self.implausible} value(s) {limits} (kept; check the files or the "
                         f"conversion factor); first dates: {_first(self.implausible_dates)}")
        return lines


def _first(dates, count: int = 5) -> str:
    ordered = sorted(dates)
    shown = [d.strftime("%Y-%m-%d %H:%M") if isinstance(d, _dt.datetime) else str(d) for d in ordered[:count]]
    return ", ".join(shown) + (", ..." if len(ordered) > count else "")


def _read_groups(series: RasterSeries, groups: list[list[str]], store, ncpu: int, progress) -> None:
    """Call `store(g, [what series.read gives for each file of groups[g]])`, files read at the series' cells
    by `ncpu` threads (all files of a group by the same thread)."""

    def read_chunk(indices):
        # rasterio's GDAL environment is thread-local: one per worker.
        with rasterio.Env(**GDAL_OPTIONS):
            for g in indices:
                store(g, [series.read(path) for path in groups[g]])
                if progress is not None:
                    progress.update(len(groups[g]))

    indices = [g for g, group in enumerate(groups) if group]
    with warnings.catch_warnings():
        # Files placed like the first are opened without georeferencing on purpose.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if ncpu <= 1 or len(indices) < 2:
            read_chunk(indices)
            return
        nworker = min(ncpu, len(indices))
        with ThreadPoolExecutor(max_workers=nworker) as pool:
            # list() re-raises the first error of a worker here.
            list(pool.map(read_chunk, [indices[w::nworker] for w in range(nworker)]))


def read_atmos(setup: dict, mesh: dict, kind: str, cells=None, ncpu: int = 1, verbose: bool = False, out=None,
               plan: SeriesPlan | None = None, daily_cache: DailyMaps | None = None):
    """Series of `kind` ("prcp", "pet", "snow", "temp") on the mesh, float32.

    `setup` is a normalized setup (`start_time`, int `dt` and `ntime_step`,
    resolved `<kind>_directory`). Returns (ntime_step, nrow, ncol),
    or (ntime_step, len(cells)) holding only the flat row-major `cells`.
    Nodata (NaN nodata included), NaN, inf and cells outside a raster are -99
    *before* the conversion factor is applied (so -9.9 with factor 0.1); a
    step without a file is -99 over the grid. Negative prcp, pet and snow
    values mean "missing"; temp is in degC where negative values are valid and
    only the -99 sentinel is missing. Missing values met on the cells and
    values beyond `plausible_max` are counted and reported in the warning.
    Files finer than the model step are aggregated (`SeriesPlan`): summed
    (temp averaged), missing if any sub-step value or file is; files coarser
    than the model step are refused. Daily interannual PET
    (`daily_interannual_pet`) is spread over the hours of the day with
    `HOURLY_PET_RATIO`. Every file's header is checked: rasters of another
    resolution or grid are placed on the mesh as smash 1.3 does
    (`raster.axis_indices`) and named in the warning; another CRS is an
    error naming the file. Missing files and such placements give one
    UserWarning per call. `out` (with `cells`): an object taking each step as ``out[t] = values``
    (sparse_forcing.StepEncoder), returned instead of the array; steps without a file are left to it.
    `plan`: the setup's SeriesPlan when the caller made it already (`SeriesPlan.window` of a longer period's).
    `daily_cache`: interannual PET maps already read at these cells (streamed windows: `DailyMaps`), taken
    from it instead of their files and the days read added to it; the problems of a file are reported
    when it is read, not again for its cached map.
    """
    return _read_atmos(setup, mesh, kind, cells, ncpu, verbose, out, plan, daily_cache, spread=True)


def read_interannual_days(setup: dict, mesh: dict, cells, plan: SeriesPlan,
                          daily_cache: DailyMaps | None = None) -> dict:
    """The daily interannual PET maps of a period's days at the flat `cells` (MMDD -> (ncell,) float32; a day
    without its file is absent): what `read_atmos` spreads over the steps, read, checked and reported as it
    does, not spread. Streamed windows hand the maps to the core, which spreads them (md_input_data
    ``pet_by_day``) with the same float32 product (`spread_share`). `plan`: the period's interannual SeriesPlan."""
    return _read_atmos(setup, mesh, "pet", cells, 1, False, None, plan, daily_cache, spread=False)


def spread_share(end, dt: int) -> np.float32:
    """The share of its day's interannual map a step ending at `end` takes: a step's PET is the map times
    this, a float32 product (read_atmos and the core's streamed windows alike)."""
    return np.float32(interannual_fraction(end, dt))


def _read_atmos(setup, mesh, kind, cells, ncpu, verbose, out, plan, daily_cache, spread: bool):
    """read_atmos; with `spread` false (daily interannual PET), the days' maps instead (read_interannual_days)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown atmospheric kind {kind!r}; choose one of {list(KINDS)}")
    if setup.get("synthetic"):
        return synthetic_atmos(setup, mesh, kind, cells)
    if store_format(setup, kind):
        # NetCDF files or a Zarr store (xarray, the netcdf extra).
        return read_store(setup, mesh, kind, cells, out)

    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    ntime_step, dt = int(setup["ntime_step"]), int(setup["dt"])
    selected = np.arange(nrow * ncol) if cells is None else np.asarray(cells, dtype=np.int64).ravel()
    plan = SeriesPlan(setup, kind) if plan is None else plan
    report = ReadReport(KIND_NAMES[kind])
    tally = MissingTally(kind, dt)
    groups, needed = _file_groups(plan, report, dt)
    if out is not None and cells is None:
        raise ValueError("read_atmos: `out` needs `cells`")
    if spread:
        out = np.full((ntime_step, selected.size), MISSING, dtype=np.float32) if out is None else out
    daily_maps: dict[str, np.ndarray] = {}
    if plan.interannual and daily_cache is not None:
        cached = ((key, daily_cache.get(key)) for key in needed)
        daily_maps = {key: values for key, values in cached if values is not None}
        keep = [g for g, key in enumerate(needed) if key not in daily_maps]
        groups, needed = [groups[g] for g in keep], [needed[g] for g in keep]
    paths = [path for group in groups for path in group]
    if paths:
        series = RasterSeries(mesh, selected, paths[0])
        combine = _step_combiner(kind, setup.get(f"{kind}_conversion_factor"), tally)
        if plan.interannual:
            def store(g, read):
                daily_maps[needed[g]] = combine(read, f"{needed[g][:2]}-{needed[g][2:]}")
        else:
            def store(t, read):
                values = combine(read, plan.ends[t])
                tally.add_step(values, plan.ends[t])
                out[t] = values
        _read_with_progress(series, groups, store, ncpu, f"Reading {kind}" if verbose else None, len(paths))
        report.issues |= series.issues
        report.misplaced = series.misplaced
    if daily_maps:
        _spread_interannual(plan, daily_maps, dt, tally, out if spread else None)
        if daily_cache is not None:
            for key in needed:
                daily_cache.put(key, daily_maps[key])
    if paths or daily_maps:
        report.notes += tally.notes()
    report.warn(stacklevel=4)   # the caller of read_atmos or read_interannual_days (through _read_atmos)
    if not spread:
        return daily_maps
    return out if cells is not None else out.reshape(ntime_step, nrow, ncol)


class DailyMaps:
    """The interannual PET maps (MMDD -> values at the reader's cells) of the last `days` days read: a
    streamed run's windows of a few hours each would otherwise read their day's file again (24 times a
    day for hourly windows). Bounded: the days least recently used are dropped first."""

    def __init__(self, days: int = 4):
        self.days = int(days)
        self._maps: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: str) -> np.ndarray | None:
        values = self._maps.get(key)
        if values is not None:
            self._maps.move_to_end(key)
        return values

    def put(self, key: str, values: np.ndarray) -> None:
        self._maps[key] = values
        self._maps.move_to_end(key)
        while len(self._maps) > self.days:
            self._maps.popitem(last=False)

    def __len__(self) -> int:
        return len(self._maps)


def _file_groups(plan: SeriesPlan, report: ReadReport, dt: int):
    """(groups of files per step or per interannual day, the day keys of those days), noting the
    missing and incomplete steps and the unused files in `report`."""
    ends = plan.ends
    # Missing steps are named by their end time (interannual maps by MM-DD), as smash 1.3 lists them.
    if plan.interannual:
        report.missing = [f"{key[:2]}-{key[2:]}" for key in sorted({k for k in plan.day_keys if k not in plan.daily})]
        needed = sorted({key for key in plan.day_keys if key in plan.daily})
        return [[plan.daily[key]] for key in needed], needed
    partial = set(plan.partial)
    report.missing = [end.strftime("%Y-%m-%d %H:%M") for t, (group, end) in enumerate(zip(plan.groups, ends,
                      strict=True)) if not group and t not in partial]
    if plan.partial:
        report.notes.append(
            f"Incomplete steps: {len(plan.partial)} model step(s) lack some of their "
            f"{dt // plan.step} sub-step files ({_describe_step(plan.step)} apart) and are left missing (-99); "
            f"first: {_first([ends[t] for t in plan.partial])}")
    if plan.unused:
        report.notes.append(f"Unused files: {plan.unused} file(s) in the period fall between the model steps "
                            f"of {_describe_step(dt)} and were not read")
    return plan.groups, []


def _step_combiner(kind: str, factor, tally: MissingTally):
    """combine(read, when): one step's values from the files read for it, scaled by `factor`."""
    # Scaling in single precision, as smash 1.3 does: the same float32 forcings bit for bit
    # (in double, then rounded, 1 value in 40 differed by an ulp, enough to flip the near-ties
    # of the ci re-estimation).
    factor = np.float32(1.0 if factor is None else factor)

    def combine(read, when) -> np.ndarray:
        for values, n_nodata, n_nonfinite in read:
            tally.add_file(values, n_nodata, n_nonfinite, when)
        scaled = [values.astype(np.float32) * factor for values, _, _ in read]
        if len(scaled) == 1:
            return scaled[0]
        # Sub-step files: a cell is missing in the step if it is missing in any of them.
        stack = np.stack(scaled)
        valid = (stack > MISSING * factor) if kind == "temp" else (stack >= 0)
        total = stack.sum(axis=0, dtype=np.float64)
        if kind == "temp":
            total /= len(scaled)
        return np.where(valid.all(axis=0), total, MISSING * factor).astype(np.float32)

    return combine


def _read_with_progress(series, groups, store, ncpu: int, description: str | None, nfile: int) -> None:
    """`_read_groups` with a progress bar over the files when `description` is given."""
    progress = None
    if description and on_terminal():
        progress = progress_bar(total=nfile, desc=description, unit="file")
    try:
        _read_groups(series, groups, store, ncpu, progress)
    finally:
        if progress is not None:
            progress.close()


def _spread_interannual(plan: SeriesPlan, daily_maps: dict, dt: int, tally: MissingTally, out) -> None:
    """Each step's share of its day's interannual map (`spread_share`) into `out` (None: the values only
    checked, read_interannual_days)."""
    # A day's steps can only exceed the plausible bound where its largest value does: its steps are checked
    # one by one only then (hourly France: two passes over 906 044 cells a step saved).
    peaks = {key: float(values.max(initial=0.0)) for key, values in daily_maps.items()}
    for t, key in enumerate(plan.day_keys):
        if key not in daily_maps:
            continue
        fraction = spread_share(plan.ends[t], dt)
        implausible = peaks[key] * fraction * (1 + 1e-6) > tally.bound   # a margin for the float32 product's rounding
        if isinstance(out, np.ndarray):
            values = np.multiply(daily_maps[key], fraction, out=out[t])
        elif out is not None or implausible:
            values = daily_maps[key] * fraction
            if out is not None:
                out[t] = values
        if implausible:
            tally.add_step(values, plan.ends[t])
