"""Readers of a window of forcing steps on the model's cells.

Every reader answers ``read(kind, first, count, out=None)``: the (count, ncell) float32 values of
steps first .. first + count - 1 (0-based) of forcing `kind` at the model's cells, the same values
bit for bit as the whole-period reading gives for those steps; written into `out` ((count, ncell)
float32, C order) and returned when it is given (the core's next-window arrays: smash.stream.window).
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from smash.inputs.atmos import MISSING, DailyMaps, SeriesPlan, read_atmos, read_interannual_days, spread_share
from smash.inputs.partitioning import SPLIT_KINDS, partition
from smash.inputs.stores import StoreSeries, store_format, written
from smash.stream.saved import SavedModelSource, saved_file
from smash.time_axis import TimeAxis

# Held while a GeoTIFF window is read with its warnings recorded (one reader of any model at a time).
_WARNINGS_LOCK = threading.Lock()


class TiffSource:
    """Windows of the setup's GeoTIFF folders (and daily interannual PET), read by
    `smash.inputs.read_atmos` on the window's sub-period.

    A reading warning is shown for the first window with its kinds of problems (missing files,
    missing values, misplaced rasters, ...), not again for each window.
    """

    def __init__(self, setup: dict, mesh: dict, cells: np.ndarray):
        self.setup, self.mesh, self.cells = setup, mesh, np.asarray(cells)
        self.axis = TimeAxis.of(setup)
        self._shown: set = set()
        self._lock = threading.Lock()
        self._plans: dict = {}
        # Per kind, the interannual maps of the last days read (a day's hourly windows read its file once).
        self._daily: dict = {}

    def sub_setup(self, first: int, count: int) -> dict:
        """The setup of steps first .. first + count - 1 alone."""
        return dict(self.setup, start_time=self.axis.time(first), end_time=self.axis.time(first + count),
                    ntime_step=count)

    def _plan(self, kind: str) -> SeriesPlan:
        with self._lock:
            if kind not in self._plans:
                # The folder listed once; the whole plan's notes (unused files) shown once.
                self._plans[kind] = SeriesPlan(self.setup, kind)
                self._daily[kind] = DailyMaps() if self._plans[kind].interannual else None
            return self._plans[kind]

    def _show(self, caught) -> None:
        with self._lock:
            for item in caught:
                # Each line names a problem before its colon; counts and dates differ from window to window.
                key = (item.category, tuple(line.split(":")[0].strip() for line in str(item.message).splitlines()))
                if key not in self._shown:
                    self._shown.add(key)
                    warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)

    def read(self, kind: str, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        # warnings.catch_warnings swaps the process's filters: readers of two streamed models at once would
        # take each other's warnings (or let the rasters' NotGeoreferencedWarning through).
        with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = self._plan(kind).window(first, count)
            if out is not None:
                # Steps without a file (or a day without a map) are left to the caller: missing. Only those are
                # filled (France: filling a whole window first wrote 87 MB for nothing every 24 steps).
                out[plan.unfilled_steps()] = MISSING
            values = read_atmos(self.sub_setup(first, count), self.mesh, kind, cells=self.cells, plan=plan, out=out,
                                daily_cache=self._daily[kind])
        self._show(caught)
        return values

    def reads_days(self, kind: str) -> bool:
        """Whether `kind` is daily interannual PET, whose windows `read_days` gives as the maps of their days."""
        return kind == "pet" and self._plan(kind).interannual

    def read_days(self, kind: str, first: int, count: int, maps: np.ndarray, day: np.ndarray,
                  share: np.ndarray) -> None:
        """Steps first .. first + count - 1 of daily interannual PET as the maps of their days (the core's
        ``pet_by_day`` windows): the window's i-th day into ``maps[i]`` ((at least as many rows as days,
        ncell) float32), step s's day row (1-based) into ``day[s]`` and its share into ``share[s]``, so that
        ``maps[day[s] - 1] * share[s]`` is the value `read` gives (a day without its map: a row of -99 with
        shares of 1, the missing value `read` leaves)."""
        with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = self._plan(kind).window(first, count)
            found = read_interannual_days(self.sub_setup(first, count), self.mesh, self.cells, plan,
                                          self._daily[kind])
        self._show(caught)
        rows: dict = {}
        dt = int(self.setup["dt"])
        for s, key in enumerate(plan.day_keys):
            if key not in rows:
                rows[key] = len(rows)
                maps[rows[key]] = found[key] if key in found else MISSING
            day[s] = rows[key] + 1
            share[s] = spread_share(plan.ends[s], dt) if key in found else np.float32(1.0)


class ArraySource:
    """Windows of whole-period arrays already in memory (synthetic forcings): kind -> (nt, ncell)."""

    def __init__(self, series: dict):
        self.series = series

    def read(self, kind: str, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        return written(self.series[kind][first:first + count], out)


class StoreSource:
    """Windows of a NetCDF / Zarr store (smash.inputs.stores)."""

    def __init__(self, series):
        self.series = series

    def read(self, kind: str, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        return self.series.read(first, count, out)

    def read_unchecked(self, kind: str, first: int, count: int, out: np.ndarray) -> np.ndarray:
        """`read` into the core's window arrays, which may keep NaN and infinite values (StoreSeries.read)."""
        return self.series.read(first, count, out, check_finite=False)

    def window_multiple(self, kind: str) -> int | None:
        """Steps of the store's chunks when windows made of them are read without a copy, else None."""
        return self.series.aligned_chunk_steps()

    def chunk_steps(self, kind: str) -> int | None:
        """Steps per time chunk of the store when the period starts on one, else None."""
        return self.series.time_chunk_steps()


class KindSources:
    """One reader per forcing kind (prcp from a Zarr store, PET from interannual GeoTIFF maps, ...)."""

    def __init__(self, by_kind: dict):
        self.by_kind = by_kind

    def read(self, kind: str, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        return self.by_kind[kind].read(kind, first, count, out)

    def read_unchecked(self, kind: str, first: int, count: int, out: np.ndarray) -> np.ndarray:
        """`kind`'s reader's read_unchecked where it has one, else its read."""
        reader = self.by_kind[kind]
        if hasattr(reader, "read_unchecked"):
            return reader.read_unchecked(kind, first, count, out)
        return reader.read(kind, first, count, out)

    def window_multiple(self, kind: str) -> int | None:
        """The window_multiple of `kind`'s reader (None for GeoTIFF folders or a kind not read)."""
        reader = self.by_kind.get(kind)
        return reader.window_multiple(kind) if hasattr(reader, "window_multiple") else None

    def chunk_steps(self, kind: str) -> int | None:
        """The chunk_steps of `kind`'s reader (None for GeoTIFF folders or a kind not read)."""
        reader = self.by_kind.get(kind)
        return reader.chunk_steps(kind) if hasattr(reader, "chunk_steps") else None

    def reads_days(self, kind: str) -> bool:
        """Whether `kind`'s reader gives its windows as the maps of their days (TiffSource.read_days)."""
        reader = self.by_kind.get(kind)
        return hasattr(reader, "reads_days") and reader.reads_days(kind)

    def read_days(self, kind: str, *args) -> None:
        """`kind`'s reader's read_days."""
        self.by_kind[kind].read_days(kind, *args)


class SplitSource:
    """The rain / snow split (setup ``prcp_partitioning``, smash.inputs.partitioning) of the windows
    of another reader: prcp and snow are the rain and snow of the prcp, snow and temp read, temp and
    pet pass through. The split is cell by cell and step by step, so a window of it equals the
    whole period's split on those steps bit for bit.

    Parameters
    ----------
    source : object
        The reader of the kinds read from files (``read(kind, first, count)``).
    read : list of str
        The kinds `source` holds; prcp or snow not read are missing, no snow read is none.
    ncell : int
        Cells per step.
    """

    def __init__(self, source, read, ncell: int):
        self.source, self.read_kinds, self.ncell = source, set(read), int(ncell)
        self._lock = threading.Lock()
        # The last window split: the core asks for its prcp then its snow.
        self._last = None

    def _split(self, first: int, count: int) -> dict:
        with self._lock:
            if self._last is not None and self._last[0] == (first, count):
                return self._last[1]

        def read(kind):
            if kind in self.read_kinds:
                return np.asarray(self.source.read(kind, first, count), dtype=np.float32)
            return None

        prcp, snow, temp = (read(kind) for kind in SPLIT_KINDS)
        if prcp is None:
            prcp = np.full((count, self.ncell), -99.0, dtype=np.float32)
        rain, solid = partition(prcp, snow, temp)
        split = {"prcp": rain, "snow": solid, "temp": temp}
        with self._lock:
            self._last = ((first, count), split)
        return split

    def read(self, kind: str, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        if kind not in SPLIT_KINDS:
            return self.source.read(kind, first, count, out)
        return written(self._split(first, count)[kind], out)

    def reads_days(self, kind: str) -> bool:
        """Whether the other reader gives `kind` (not split) as the maps of its days."""
        return kind not in SPLIT_KINDS and hasattr(self.source, "reads_days") and self.source.reads_days(kind)

    def read_days(self, kind: str, *args) -> None:
        """The other reader's read_days of a kind not split."""
        self.source.read_days(kind, *args)


def streamed_kinds_of(setup: dict, kinds: list[str]) -> list[str]:
    """The kinds a streamed model's core is served out of the structure's `kinds`: those read from files,
    and with the rain / snow split all of prcp, snow and temp (the split fills them)."""
    if saved_file() is not None:
        return list(kinds)
    read = [kind for kind in kinds if setup.get(f"read_{kind}") or setup.get("synthetic")]
    if setup.get("prcp_partitioning"):
        read = [kind for kind in kinds if kind in read or kind in SPLIT_KINDS]
    return read


def source_of(setup: dict, mesh: dict, cells: np.ndarray, kinds: list[str]):
    """The reader of a normalized setup's forcings: per kind a NetCDF / Zarr store
    (smash.inputs.stores), the synthetic series, or the GeoTIFF folders; with ``prcp_partitioning``
    split into rain and snow window by window (`SplitSource`). `kinds`: the structure's forcing kinds."""
    saved = saved_file()
    if saved is not None:
        # A model read back from a model file (smash.io.read_model): its forcings, already split.
        return SavedModelSource(saved, cells)
    read = [kind for kind in kinds if setup.get(f"read_{kind}") or setup.get("synthetic")]
    if setup.get("synthetic"):
        source = ArraySource({kind: read_atmos(setup, mesh, kind, cells=cells) for kind in read})
    else:
        tiff = TiffSource(setup, mesh, cells)
        source = KindSources({kind: StoreSource(StoreSeries(setup, mesh, kind, cells)) if store_format(setup, kind)
                              else tiff for kind in read})
    if setup.get("prcp_partitioning"):
        return SplitSource(source, read, np.asarray(cells).size)
    return source
