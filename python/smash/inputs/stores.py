"""Forcing series from NetCDF files (CF conventions) and Zarr stores, read through xarray.

A store holds many steps of one forcing on a regular grid in the mesh's CRS: a ``time``
coordinate (the end of each step, as the GeoTIFF file stamps), ``x`` / ``y`` coordinates of the
cell centres (or ``projection_x_coordinate`` / ``projection_y_coordinate``), and a variable
named as the forcing kind (``prcp``, ``pet``, ``snow``, ``temp``) or the store's only variable
on (time, y, x). A store may also hold a list of cells instead of a grid: a variable on (time,
cell) with ``x`` / ``y`` coordinates along ``cell``, the centres of cells of the mesh's grid (what
``generate_forcing_store(..., layout="cells")`` and ``convert_forcings(..., mesh=...)`` write, in
the order a model of that mesh holds its cells: a window is then read without a gather, the
fastest store for runs that read the period again and again). Its ``units`` attribute converts
the values to mm per step (degC for temp); without units the setup's conversion factor applies
as for GeoTIFF files. NaN and the fill
value are missing (-99). Steps the store lacks are missing.

Chosen by ``setup["<kind>_format"]`` = "netcdf" or "zarr", or from the path: a ``.nc`` /
``.nc4`` file, a glob pattern of NetCDF files, or a ``.zarr`` directory. Many NetCDF files (a
folder with format "netcdf", or a pattern) are one series, their times merged.

The extra ``netcdf`` installs xarray, h5netcdf and zarr (``pip install smash-hydrology[netcdf]``).
"""

from __future__ import annotations

import datetime as _dt
import glob
import os
import threading
import warnings

import numpy as np

from smash.inputs.raster import MISSING, axis_indices
from smash.inputs.zarr_chunks import ZarrChunks
from smash.optional import require
from smash.time_axis import TimeAxis

STORE_FORMATS = ("netcdf", "zarr")
# Decoded time chunks kept per series (the two a window's ends share with its neighbours), each at most this
# large (a NetCDF file chunked by years is read by slices instead).
_DECODED_CHUNKS = 2
_DECODED_CHUNK_BYTES = 512 << 20
_X_NAMES = ("x", "projection_x_coordinate", "lon", "longitude")
_Y_NAMES = ("y", "projection_y_coordinate", "lat", "latitude")


def written(values: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """`values`, copied into `out` and `out` returned when it is given: the ``out=`` contract of the forcing
    readers (StoreSeries.read and smash.stream.sources), whose callers pass the core's window arrays."""
    if out is None or values is out:
        return values
    out[...] = values
    return out


def xarray():
    """xarray, or an ImportError naming the extra that installs it."""
    return require("xarray", "NetCDF and Zarr forcings", "netcdf")


def store_format(setup: dict, kind: str) -> str | None:
    """"netcdf" or "zarr" when forcing `kind` of the normalized setup is read from a store, else None."""
    fmt = setup.get(f"{kind}_format")
    if fmt in STORE_FORMATS:
        return fmt
    path = setup.get(f"{kind}_directory")
    if not path or (kind == "pet" and setup.get("daily_interannual_pet")):
        return None
    text = str(path).rstrip("/")
    if text.endswith(".zarr"):
        return "zarr"
    if text.endswith((".nc", ".nc4")) and (os.path.isfile(text) or glob.has_magic(text)):
        return "netcdf"
    return None


def _paths(path: str, fmt: str, key: str) -> list[str]:
    if fmt == "zarr":
        if not os.path.isdir(path):
            raise FileNotFoundError(f"setup[{key!r}] = {path!r} is not a Zarr store (a directory)")
        return [path]
    if os.path.isdir(path):
        found = sorted(glob.glob(os.path.join(glob.escape(path), "**", "*.nc"), recursive=True) +
                       glob.glob(os.path.join(glob.escape(path), "**", "*.nc4"), recursive=True))
    elif glob.has_magic(path):
        found = sorted(glob.glob(path))
    else:
        found = [path] if os.path.isfile(path) else []
    if not found:
        raise FileNotFoundError(f"setup[{key!r}] = {path!r}: no NetCDF file found")
    return found


# Units of a precipitation-like store -> (factor to mm, per second of step or per step (None)).
_DEPTH_UNITS = {"mm": 1.0, "kg m-2": 1.0, "kg/m2": 1.0, "kg m**-2": 1.0, "m": 1000.0}
_RATE_UNITS = {"mm s-1": 1.0, "mm/s": 1.0, "kg m-2 s-1": 1.0, "kg/m2/s": 1.0, "m s-1": 1000.0,
               "mm h-1": 1.0 / 3600, "mm/h": 1.0 / 3600, "mm hr-1": 1.0 / 3600,
               "mm d-1": 1.0 / 86400, "mm/day": 1.0 / 86400, "mm day-1": 1.0 / 86400, "m d-1": 1000.0 / 86400}


def _conversion(kind: str, units: str | None, dt: int, factor: float, where: str):
    """(scale, offset) turning the store's values into the model's (mm per step, degC)."""
    if units is None:
        return np.float32(factor), None
    text = " ".join(str(units).replace("^", "").split())
    multiplier = 1.0
    head, _, rest = text.partition(" ")
    if kind != "temp" and rest and _is_number(head):
        # A count of a unit: "0.1 mm" (tenths of mm, integer stores), "10 kg m-2".
        multiplier, text = float(head), rest
    if kind == "temp":
        if text in ("degC", "deg C", "celsius", "Celsius", "C"):
            return None, None
        if text in ("K", "kelvin", "Kelvin"):
            return None, np.float32(-273.15)
    elif text in _DEPTH_UNITS:
        scale = _DEPTH_UNITS[text] * multiplier
        return (None if scale == 1.0 else np.float32(scale)), None
    elif text in _RATE_UNITS:
        return np.float32(_RATE_UNITS[text] * dt * multiplier), None
    raise ValueError(f"{where}: units {units!r} of {kind} are not understood; use mm (per step), kg m-2, m, "
                     "mm s-1, kg m-2 s-1, mm h-1, mm d-1, optionally counted (\"0.1 mm\")"
                     + (" or degC / K" if kind == "temp" else ""))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Part:
    """One opened NetCDF file or Zarr store: its variable and the positions of its times."""

    def __init__(self, xr, path: str, fmt: str, kind: str):
        engine = "zarr" if fmt == "zarr" else None
        self.path = path
        with warnings.catch_warnings():
            # A Zarr store without consolidated metadata (smash writes none: Zarr 3 has no such thing).
            warnings.filterwarnings("ignore", "Failed to open Zarr store with consolidated metadata")
            # Packing and fill values applied here, in single precision as the GeoTIFF values are scaled
            # (xarray would unpack int16 with a float64 scale_factor in double precision).
            self.dataset = xr.open_dataset(path, engine=engine, chunks=None, mask_and_scale=False)
        names = [name for name, var in self.dataset.data_vars.items()
                 if "time" in var.dims and var.ndim in (2, 3) and name not in _X_NAMES + _Y_NAMES]
        if kind in self.dataset.data_vars:
            name = kind
        elif len(names) == 1:
            name = names[0]
        else:
            raise ValueError(f"{path}: no variable named {kind!r} and not one variable on (time, y, x) or (time, "
                             f"cell) to take for it (found {names})")
        self.variable = self.dataset[name]
        # (time, y, x) on a grid, or (time, cell) on a list of cells whose centres are x(cell), y(cell).
        self.cell = next((d for d in self.variable.dims if d != "time"), None) if self.variable.ndim == 2 else None
        where = self.variable.dims if self.cell is None else [n for n in self.dataset.coords
                                                                if self.dataset[n].dims == (self.cell,)]
        self.x = next((n for n in _X_NAMES if n in where), None)
        self.y = next((n for n in _Y_NAMES if n in where), None)
        if self.x is None or self.y is None or "time" not in self.variable.dims:
            raise ValueError(f"{path}: variable {name!r} has dimensions {self.variable.dims}; expected time and "
                             f"x / y ({', '.join(_X_NAMES)} / {', '.join(_Y_NAMES)}), or time and a cell dimension "
                             f"with x / y coordinates along it")
        space = (self.y, self.x) if self.cell is None else (self.cell,)
        self.variable = self.variable.transpose("time", *space)
        self.times = self.dataset["time"].values.astype("datetime64[s]")
        attrs = self.variable.attrs
        self.fill = [np.asarray(attrs[key], dtype=np.float64).ravel() for key in ("_FillValue", "missing_value")
                     if key in attrs]
        self.packing = tuple(np.float32(attrs[key]) if key in attrs else None for key in ("scale_factor", "add_offset"))
        # Raw values that are the values: no packing, and no fill value but NaN (`values` leaves them as read).
        self.unpacked = self.packing == (None, None) and all(np.isnan(v).all() for v in self.fill)
        # Steps per stored chunk along time (Zarr, chunked NetCDF-4): a chunk is decoded whole whatever part of
        # it is asked for, so StoreSeries keeps the last ones decoded for the next windows. None: not chunked.
        chunk = self.variable.encoding.get("preferred_chunks", {}).get("time")
        self.time_chunk = int(chunk) if chunk and 1 < int(chunk) < self.times.size else None
        # A Zarr variable stored as (time, y, x) is also read through zarr itself, into buffers the reader keeps:
        # xarray's reading allocates and copies each chunk anew (1.4 ms of CPU a step of France's 1.24 M cells).
        self.zarr_array = None
        if fmt == "zarr" and self.dataset[name].dims == ("time", *space):
            import zarr

            self.zarr_array = zarr.open_array(os.path.join(path, name), mode="r")
        # Its time chunks decoded by the codec alone when its layout allows (smash.inputs.zarr_chunks).
        self.zarr_chunks = None
        if self.zarr_array is not None and self.time_chunk is not None:
            chunks = ZarrChunks.of(self.zarr_array)
            self.zarr_chunks = chunks if chunks is not None and chunks.chunk_steps == self.time_chunk else None

    def values(self, raw: np.ndarray) -> np.ndarray:
        """float32 values of raw stored values: unpacked (scale_factor, add_offset), NaN where missing
        (the fill values, NaN, inf)."""
        missing = None
        for value in (v for fill in self.fill for v in fill if not np.isnan(v)):
            # One value compared directly (np.isin costs a sort); NaN fills are caught as non-finite values.
            hit = raw == raw.dtype.type(value)
            missing = hit if missing is None else missing | hit
        # The array itself when already float32 (np.asarray makes a new view of an array of the core's).
        values = raw if raw.dtype == np.float32 else raw.astype(np.float32)
        scale, offset = self.packing
        if scale is not None:
            values = values * scale
        if offset is not None:
            values = values + offset
        if missing is not None:
            values[missing] = np.nan
        return values


class StoreSeries:
    """Windows of one forcing kind from NetCDF files or a Zarr store, on a mesh's cells.

    Parameters
    ----------
    setup : dict
        A normalized setup (its period, ``dt``, ``<kind>_directory`` / ``_format`` /
        ``_conversion_factor``).
    mesh : dict
        The mesh (``nrow``, ``ncol``, ``xmin``, ``ymax``, ``xres``, ``yres``).
    kind : str
        "prcp", "pet", "snow" or "temp".
    cells : array of int, optional
        Flat row-major cells to read (all cells by default).
    """

    def __init__(self, setup: dict, mesh: dict, kind: str, cells=None):
        xr = xarray()
        self.kind, self.key = kind, f"{kind}_directory"
        fmt = store_format(setup, kind)
        source = setup.get(self.key)
        # A list of files is taken as it is (smash.io.convert_forcings passes the NetCDF files it was given).
        paths = [str(p) for p in source] if isinstance(source, (list, tuple)) else \
            _paths(str(source or ""), fmt, self.key)
        self.parts = [_Part(xr, p, fmt, kind) for p in paths]
        self.axis = TimeAxis.of(setup)
        self.dt = int(setup["dt"])
        nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
        self.cells = np.arange(nrow * ncol) if cells is None else np.asarray(cells, dtype=np.int64).ravel()
        first = self.parts[0]
        self._place(first, mesh, nrow, ncol)
        factor = setup.get(f"{kind}_conversion_factor")
        units = first.variable.attrs.get("units")
        self.scale, self.offset = _conversion(kind, units, self.dt, 1.0 if factor is None else factor, first.path)
        self._match_times(setup)
        self._lock = threading.Lock()
        self._decoded: dict = {}    # (part, chunk) -> its decoded bounding box, oldest first (_chunk)
        self._span = None           # the chunk cells decoded (_cell_span), and the cells read among them
        self._scratch = None        # one step of that span, decoded then gathered (_direct_chunks)
        self._span_index = None

    def _match_times(self, setup: dict) -> None:
        """Which part and position hold each sub-step of each model step (-1: none). A store at the model's
        step gives each model step one time; a finer one (hourly values for daily steps) the dt / step
        times summed into it (temp averaged), as GeoTIFF files finer than the model step are."""
        gaps = np.concatenate([np.diff(part.times).astype(np.int64) for part in self.parts])
        values, counts = np.unique(gaps[gaps > 0], return_counts=True)
        step = int(values[np.argmax(counts)]) if values.size else self.dt
        where = self.parts[int(np.argmax([part.times.size for part in self.parts]))].path
        if step > self.dt or self.dt % step:
            raise ValueError(f"{where}: its steps are {step} s apart but the model's dt is {self.dt} s; use a store "
                             "whose step is the model's or divides it (finer steps are summed into each model step)")
        self.nsub = self.dt // step
        # Sub-step k (0-based) of step t (0-based) ends at start + (t + 1) dt - (nsub - 1 - k) step.
        ends = np.array([np.datetime64(self.axis.time(t + 1), "s") for t in range(self.axis.ntime_step)])
        subs = (ends[:, None] - (self.nsub - 1 - np.arange(self.nsub))[None, :] * np.timedelta64(step, "s")).ravel()
        self.part_of = np.full(subs.size, -1, dtype=np.int64)
        self.index_of = np.full(subs.size, -1, dtype=np.int64)
        order = np.argsort(subs, kind="stable")
        for p, part in enumerate(self.parts):
            positions = np.searchsorted(subs[order], part.times)
            inside = positions < subs.size
            hit = np.zeros(part.times.size, dtype=bool)
            hit[inside] = subs[order][positions[inside]] == part.times[inside]
            slots = order[positions[hit]]
            if np.any(self.part_of[slots] >= 0):
                raise ValueError(f"Two entries of setup[{self.key!r}] carry the same time (in {part.path})")
            self.part_of[slots] = p
            self.index_of[slots] = np.nonzero(hit)[0]
        self.part_of = self.part_of.reshape(ends.size, self.nsub)
        self.index_of = self.index_of.reshape(ends.size, self.nsub)
        self._warn_gaps(ends)

    def _warn_gaps(self, ends: np.ndarray) -> None:
        """One warning for the model steps the store lacks (missing, -99) or lacks some sub-steps of."""
        found = (self.part_of >= 0).sum(axis=1)
        absent, partial = np.flatnonzero(found == 0), np.flatnonzero((found > 0) & (found < self.nsub))
        lines = []
        if absent.size:
            shown = ", ".join(repr(str(ends[t]).replace("T", " ")[:16]) for t in absent[:5])
            lines.append(f"Missing steps: {absent.size} model step(s) have no time in the store and are left missing "
                         f"(-99); first: {shown}" + (", ..." if absent.size > 5 else ""))
        if partial.size:
            shown = ", ".join(repr(str(ends[t]).replace("T", " ")[:16]) for t in partial[:5])
            lines.append(f"Incomplete steps: {partial.size} model step(s) lack some of their {self.nsub} sub-steps in "
                         f"the store and are left missing (-99); first: {shown}")
        if lines:
            warnings.warn(f"{self.kind} store {self.parts[0].path}:\n" + "\n".join(lines), UserWarning, stacklevel=5)

    def _place_cells(self, part: _Part, mesh: dict, nrow: int, ncol: int) -> None:
        """Position of each mesh cell in a (time, cell) store: the store cell whose centre is the mesh cell's."""
        x = part.dataset[part.x].values.astype(np.float64)
        y = part.dataset[part.y].values.astype(np.float64)
        xres, yres = float(mesh["xres"]), float(mesh["yres"])
        col = (x - float(mesh["xmin"])) / xres - 0.5
        row = (float(mesh["ymax"]) - y) / yres - 0.5
        on_grid = (np.abs(col - np.round(col)) < 1e-3) & (np.abs(row - np.round(row)) < 1e-3)
        if not on_grid.all():
            i = int(np.flatnonzero(~on_grid)[0])
            raise ValueError(f"{part.path}: cell {i} of the store (x {x[i]}, y {y[i]}) is not the centre of a cell "
                             "of the mesh's grid; a store of cells must be on the mesh's grid")
        col, row = np.round(col).astype(np.int64), np.round(row).astype(np.int64)
        inside = (col >= 0) & (col < ncol) & (row >= 0) & (row < nrow)
        position = np.full(nrow * ncol, -1, dtype=np.int64)
        position[row[inside] * ncol + col[inside]] = np.flatnonzero(inside)
        where = position[self.cells]
        self.inside = where >= 0
        if not self.inside.any():
            raise ValueError(f"{part.path}: the store holds none of the mesh's cells")
        self.box_size = x.size
        self.box_index = where[self.inside].astype(np.intp)
        # The store in the model's own order (written for it): each step is a copy, not a gather.
        self.in_order = self.box_index.size == x.size and np.array_equal(self.box_index, np.arange(x.size))

    def _place(self, part: _Part, mesh: dict, nrow: int, ncol: int) -> None:
        """Store row and column of each mesh cell (smash 1.3's placement of rasters, raster.axis_indices)."""
        if part.cell is not None:
            self._place_cells(part, mesh, nrow, ncol)
            return
        x = part.dataset[part.x].values.astype(np.float64)
        y = part.dataset[part.y].values.astype(np.float64)
        if x.size < 2 or y.size < 2:
            raise ValueError(f"{part.path}: the store's grid needs at least 2 cells along x and y")
        xres, yres = float(x[1] - x[0]), float(y[1] - y[0])
        self.flip_y = yres > 0  # rows stored south to north
        yres = abs(yres)
        left, top = x[0] - xres / 2, (y.max() + yres / 2)
        cols, _ = axis_indices((float(mesh["xmin"]) - left) / xres, ncol, float(mesh["xres"]), xres, x.size)
        rows, _ = axis_indices((top - float(mesh["ymax"])) / yres, nrow, float(mesh["yres"]), yres, y.size)
        if self.flip_y:
            rows = np.where(rows >= 0, y.size - 1 - rows, -1)
        r, c = np.divmod(self.cells, ncol)
        self.store_row, self.store_col = rows[r], cols[c]
        self.inside = (self.store_row >= 0) & (self.store_col >= 0)
        if not self.inside.any():
            raise ValueError(f"{part.path}: the store's grid does not cover the mesh")
        # The bounding box read from the store, and each covered cell's place in it (flat, row-major).
        self.row_lo, self.row_hi = int(self.store_row[self.inside].min()), int(self.store_row[self.inside].max()) + 1
        self.col_lo, self.col_hi = int(self.store_col[self.inside].min()), int(self.store_col[self.inside].max()) + 1
        self.box_index = ((self.store_row[self.inside] - self.row_lo) * (self.col_hi - self.col_lo)
                          + self.store_col[self.inside] - self.col_lo).astype(np.intp)
        self.box_size = (self.row_hi - self.row_lo) * (self.col_hi - self.col_lo)
        self.in_order = False

    def _whole_chunks(self, part: _Part) -> bool:
        """Whether `part`'s chunk files decode straight into a buffer of what this series reads: its chunks are
        decoded by the codec alone (ZarrChunks) and hold exactly the box (a store of cells, or a grid the
        mesh's cells span)."""
        return part.zarr_chunks is not None and self.box_size == int(np.prod(part.zarr_chunks.shape[1:]))

    def aligned_chunk_steps(self) -> int | None:
        """Steps per chunk of the store when windows of whole chunks from the period's first step are decoded
        straight into the reader's buffer (`_direct_chunks`): one part, at the model's step, holding the
        model's cells in order or in a span of its cells, the period starting on a chunk; else None."""
        part = self.parts[0]
        if not self._whole_chunks(part):
            return None
        if not self.in_order:
            first, stop = self._cell_span(part)
            if stop - first == self.box_size:
                return None
        return self.time_chunk_steps()

    def time_chunk_steps(self) -> int | None:
        """Steps per time chunk of the store when the period starts on a chunk (one part, at the model's
        step), whatever the cells' order; else None. A window of whole chunks decodes each chunk once."""
        part = self.parts[0]
        steps = part.time_chunk
        if len(self.parts) > 1 or self.nsub != 1 or steps is None:
            return None
        positions = self.index_of[:, 0]
        if positions[0] % steps or not np.array_equal(positions, positions[0] + np.arange(positions.size)):
            return None
        return steps

    def read(self, first: int, count: int, out: np.ndarray | None = None, check_finite: bool = True) -> np.ndarray:
        """(count, ncell) float32 of steps first .. first + count - 1 (0-based), written into `out` and `out`
        returned when given ((count, ncell) float32, C order). NaN and infinite values are missing (-99); with
        `check_finite` false a window of one part may keep them (for a reader that maps them itself: the core's
        precipitation, md_forward::rainfall_runoff_cells), which saves a pass over the window."""
        parts = self.part_of[first:first + count, 0]
        if self.nsub == 1 and parts.size and parts[0] >= 0 and (parts == parts[0]).all() and self.inside.all():
            # The usual window: every step in one part, every cell covered: the values read are the window.
            return self._read_part(int(parts[0]), self.index_of[first:first + count, 0], out, check_finite)
        return written(self._read_mixed(first, count), out)

    def _read_mixed(self, first: int, count: int) -> np.ndarray:
        """`read` of a window whose steps lie in several parts, are missing, sum sub-steps or whose cells
        are not all covered."""
        subs = np.full((self.nsub, count, self.cells.size), MISSING, dtype=np.float32)
        part_of = self.part_of[first:first + count]
        index_of = self.index_of[first:first + count]
        columns = np.nonzero(self.inside)[0]
        for p in np.unique(part_of[part_of >= 0]):
            steps, ks = np.nonzero(part_of == p)
            values = self._read_part(int(p), index_of[steps, ks])
            if self.nsub == 1 and steps[-1] - steps[0] + 1 == steps.size:
                # Consecutive steps (the usual window): slices, not a gather.
                target = subs[0, steps[0]:steps[-1] + 1]
                if columns.size == self.cells.size:
                    target[...] = values
                else:
                    target[:, columns] = values
            else:
                subs[ks[:, None], steps[:, None], columns[None, :]] = values
        if self.nsub == 1:
            return subs[0]
        # Sub-steps summed (temp averaged) in double precision; a cell missing in any of them is missing.
        valid = (subs > MISSING) if self.kind == "temp" else (subs >= 0)
        total = subs.sum(axis=0, dtype=np.float64)
        if self.kind == "temp":
            total /= self.nsub
        return np.where(valid.all(axis=0), total, MISSING).astype(np.float32)

    def _box(self, p: int, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """(hi - lo, box cells) raw stored values of part `p` at store positions lo .. hi - 1 (the bounding box
        flattened, or a store's cells), into `out` when given and of that size."""
        part = self.parts[p]
        if part.cell is None:
            space = (slice(self.row_lo, self.row_hi), slice(self.col_lo, self.col_hi))
            shape = (hi - lo, self.row_hi - self.row_lo, self.col_hi - self.col_lo)
        else:
            space, shape = (slice(None),), (hi - lo, self.box_size)
        if part.zarr_array is not None:
            from zarr.core.buffer.cpu import NDBuffer

            if out is None or out.size != np.prod(shape):
                out = np.empty(shape, dtype=part.zarr_array.dtype)
            block = out.reshape(shape)
            part.zarr_array.get_basic_selection((slice(lo, hi), *space), out=NDBuffer.from_numpy_array(block))
            return out.reshape(hi - lo, -1)
        return np.ascontiguousarray(part.variable[(slice(lo, hi), *space)].values).reshape(hi - lo, -1)

    def _chunk(self, p: int, c: int, steps: int) -> np.ndarray:
        """Chunk `c` of part `p` (`steps` store positions a chunk) decoded, ((its steps, box cells or the span of
        them read: _cell_span), the places of the cells read in a step of it), from the last
        ones kept (called with the lock held). Consecutive windows share the chunks at their ends (a window of
        37 steps on chunks of 24 would otherwise decode about 1.6 times its steps), and the adjoint's short
        windows share chunks with their neighbours."""
        key = (p, c)
        kept = self._decoded.pop(key, None)
        if kept is None:
            # The oldest chunk kept makes room, its buffer decoded into again (no fresh pages for each chunk).
            spare = self._decoded.pop(next(iter(self._decoded)))[0] if len(self._decoded) >= _DECODED_CHUNKS else None
            part = self.parts[p]
            lo = c * steps
            index = self.box_index
            if self._whole_chunks(part):
                # The chunk's file decoded straight into the kept buffer: only the span of cells read (_cell_span).
                first, stop = self._cell_span(part)
                size = steps * (stop - first)
                buffer = spare if spare is not None and spare.size == size else \
                    np.empty(size, dtype=part.zarr_chunks.dtype)
                if stop - first < self.box_size:
                    block = part.zarr_chunks.decode_span(c, first, stop, buffer)
                    index = self._span_index
                else:
                    block = part.zarr_chunks.decode(c, buffer).reshape(-1, self.box_size)
            else:
                block = self._box(p, lo, min(lo + steps, part.times.size), out=spare)
                buffer = block.reshape(-1)
            kept = (buffer, block, index)
        self._decoded[key] = kept
        return kept[1], kept[2]

    def _cell_span(self, part: _Part) -> tuple[int, int]:
        """The cells first .. stop - 1 (flat) of `part`'s chunks that hold the cells read: those between the
        first and last read, when they are at most 3/4 of a chunk's and its codec decodes spans (the largest
        outlet's catchment holds 15 % of France's cells, all in its first quarter), else all of them."""
        if self._span is None:
            first, stop = int(self.box_index.min()), int(self.box_index.max()) + 1
            if self.in_order or 4 * (stop - first) > 3 * self.box_size or not part.zarr_chunks.decodes_spans:
                first, stop = 0, self.box_size
            self._span = (first, stop)
            self._span_index = (self.box_index - first).astype(np.intp)
        return self._span

    def _direct_chunks(self, part: _Part, positions: np.ndarray, picked: np.ndarray) -> set:
        """The chunks of `positions` decoded straight into their rows of `picked` (called with the lock held):
        whole chunks that a window starting on a chunk's first step holds in order, when their files can be
        decoded directly (ZarrChunks) and the store's cells are the model's in its order (no gather), or the
        model's cells lie in a span of them (gathered step by step). A window of France then costs the
        decompression alone, without a copy of 3.6 MB a step out of a kept chunk (smash.stream.ForcingStream
        aligns forward windows on the store's chunks for this: aligned_chunk_steps)."""
        steps, chunks = part.time_chunk, part.zarr_chunks
        if not (self._whole_chunks(part) and picked.dtype == chunks.dtype and picked.flags.c_contiguous):
            return set()
        if not self.in_order:
            # The model's cells gathered out of a span of the store's (a catchment in a national store): each
            # step decoded and gathered while in cache, when the span is narrower than the store's cells.
            first, stop = self._cell_span(part)
            if stop - first == self.box_size:
                return set()
            if self._scratch is None or self._scratch.size < stop - first:
                self._scratch = np.empty(stop - first, dtype=chunks.dtype)

            def decode(c, rows):
                chunks.gather_span(c, first, stop, self._span_index, rows, self._scratch)
        else:
            def decode(c, rows):
                chunks.decode(c, rows)
        direct = set()
        # Chunks at the end of the array hold fewer steps than a chunk: decoded into a kept buffer as before.
        whole = part.times.size // steps
        for i in range(0, positions.size - steps + 1):
            c, rem = divmod(int(positions[i]), steps)
            if rem or c >= whole or c in direct:
                continue
            if not np.array_equal(positions[i:i + steps], np.arange(c * steps, (c + 1) * steps)):
                continue
            decode(c, picked[i:i + steps])
            direct.add(c)
        return direct

    def _pick(self, step: np.ndarray, into: np.ndarray, index: np.ndarray | None = None) -> None:
        """The model's cells out of one step of the box (or of a store's cells; `index`: their places in `step`
        when it holds a span of them, _chunk) into `into`: a flat gather (a 2-D fancy index on the box costs
        about twice as much)."""
        if self.in_order:
            into[...] = step
        else:
            # The indices are inside the box by construction: "clip" skips their check.
            np.take(step, self.box_index if index is None else index, out=into, mode="clip")

    def _read_part(self, p: int, positions: np.ndarray, out: np.ndarray | None = None,
                   check_finite: bool = True) -> np.ndarray:
        """(len(positions), covered cells) model values of part `p` at store positions `positions` (into `out`
        when given, which must then be of that shape, float32, C order), NaN and infinite values missing unless
        not `check_finite`."""
        part = self.parts[p]
        shape = (positions.size, self.box_index.size)
        dtype = part.variable.dtype
        if out is not None and dtype == np.float32 and part.unpacked:
            picked = out     # float32 values needing no unpacking: gathered straight into `out`
        else:
            picked = np.empty(shape, dtype=dtype)
        steps = part.time_chunk
        with self._lock:
            if steps is not None and steps * self.box_size * picked.itemsize <= _DECODED_CHUNK_BYTES:
                which = positions // steps
                direct = self._direct_chunks(part, positions, picked)
                for c in np.unique(which):
                    if c in direct:
                        continue
                    block, index = self._chunk(p, int(c), steps)
                    for i in np.flatnonzero(which == c):
                        self._pick(block[positions[i] - c * steps], picked[i], index)
            else:
                lo, hi = int(positions.min()), int(positions.max()) + 1
                if hi - lo <= 2 * positions.size:
                    # The span of store positions read as one slice (the usual case: consecutive steps).
                    block, at = self._box(p, lo, hi), positions - lo
                else:
                    unique = np.unique(positions)
                    var = part.variable if part.cell is not None else \
                        part.variable[:, self.row_lo:self.row_hi, self.col_lo:self.col_hi]
                    block = np.ascontiguousarray(var.isel(time=unique).values).reshape(unique.size, -1)
                    at = np.searchsorted(unique, positions)
                for i, row in enumerate(at):
                    self._pick(block[row], picked[i])
        values = part.values(picked)
        # Whether any value is NaN or infinite, from the largest and smallest (NaN propagates through both): most
        # windows have none. Two vectorised passes cost less than one float32 sum (France, 24 steps: 7.6 ms, 9.3).
        finite = not check_finite or values.size == 0 or (np.isfinite(values.max()) and np.isfinite(values.min()))
        missing = None if finite else ~np.isfinite(values)
        if self.scale is not None:
            values = values * self.scale
        if self.offset is not None:
            values = values + self.offset
        if missing is not None:
            values[missing] = MISSING
        return written(values, out)


def read_store(setup: dict, mesh: dict, kind: str, cells=None, out=None):
    """The whole period of forcing `kind` from its store: as `smash.inputs.read_atmos` returns it
    ((ntime_step, ncell), or each step handed to ``out[t] = values``)."""
    series = StoreSeries(setup, mesh, kind, cells)
    nt = series.axis.ntime_step
    span = max(1, (1 << 24) // max(series.cells.size, 1))
    full = None
    if out is None:
        full = np.empty((nt, series.cells.size), dtype=np.float32)
    for t0 in range(0, nt, span):
        count = min(span, nt - t0)
        if full is not None:
            series.read(t0, count, out=full[t0:t0 + count])
        else:
            for i, values in enumerate(series.read(t0, count)):
                out[t0 + i] = values
    if full is None:
        return out
    return full if cells is not None else full.reshape(nt, int(mesh["nrow"]), int(mesh["ncol"]))


def time_values(ends: list[_dt.datetime]) -> np.ndarray:
    """datetime64[s] of step end times (what a store's time coordinate holds)."""
    return np.array([np.datetime64(end, "s") for end in ends])
