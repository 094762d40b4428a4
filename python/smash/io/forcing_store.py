"""smash.io.convert_forcings: a GeoTIFF series, or a NetCDF / Zarr store, to a chunked, compressed NetCDF / Zarr
store (of a grid, or of a mesh's cells in a model's order)."""

from __future__ import annotations

import datetime as _dt
import glob
import os
import warnings

import numpy as np

from smash.stream.store_writer import StoreWriter


def convert_forcings(src, dst, kind: str = "prcp", start_time=None, end_time=None, conversion_factor: float = 1.0,
                     chunk_steps: int = 24, format: str | None = None, mesh: dict | None = None) -> str:
    """Convert a forcing series (a folder of dated GeoTIFF files, or NetCDF files / a Zarr store) into a
    chunked, compressed NetCDF file or Zarr store, a window of `chunk_steps` steps at a time.

    From GeoTIFF files, the store keeps the rasters' grid (cell centres from their transform) and CRS, one
    step per file stamped with the file's date (the end of its step, as smash reads the folders), the
    values times `conversion_factor` in float32 (as smash scales them) with units "mm" (degC for temp),
    nodata and non-finite values as NaN.

    From a store (what a model reads as ``setup["<kind>_directory"]``: a NetCDF file, a list, glob pattern
    or folder of NetCDF files, a Zarr store; a grid or a store of cells, smash.inputs.stores), the values
    are read as a model reads them: unpacked, converted by the store's ``units`` (or times
    `conversion_factor` when it has none) to mm per step (degC for temp), float32, NaN where missing. The
    step is the store's (the commonest gap between its times), the steps those of its times within the
    period, a step the store lacks written as NaN. Without `mesh` the store's grid (or cells) and CRS are
    kept: a copy rechunked along time (a NetCDF file of yearly chunks to a Zarr store of daily ones).

    A model reads the written store with ``setup["<kind>_directory"] = dst`` (smash.inputs.stores);
    chunks along time make its window reads fast.

    Parameters
    ----------
    src : str or list of str
        A folder of GeoTIFF files whose names carry their date (searched recursively), or a NetCDF file,
        a list or glob pattern of NetCDF files, a folder of NetCDF files (``*.nc``, ``*.nc4``, searched
        recursively) or a Zarr store. A folder holding GeoTIFF files is read as GeoTIFF files.
    dst : str
        The store to write: ``*.nc`` (NetCDF) or ``*.zarr`` (Zarr), or see `format`.
    kind : str, default "prcp"
        The variable name (``prcp``, ``pet``, ``snow``, ``temp``); a store's variable of that name, or its
        only variable on (time, y, x) or (time, cell).
    start_time, end_time : str or datetime, optional
        Keep the steps stamped (ending) within (start_time, end_time] only.
    conversion_factor : float, default 1.0
        Factor to mm per step (the setup's ``<kind>_conversion_factor`` of these files); applied to a store
        only when its variable has no ``units``.
    chunk_steps : int, default 24
        Steps per chunk along time.
    format : str, optional
        "netcdf" or "zarr": the format of `dst` (from its name by default).
    mesh : dict, optional
        Store only this mesh's active cells, as (time, cell) variables in the order a model of the
        mesh holds them, with their centres as ``x`` / ``y`` coordinates: each window is then read
        without a gather (the fastest store for a model run many times, as in a calibration: extract a
        catchment's store from a national one once). GeoTIFF rasters must be on the mesh's grid (same
        resolution, cells aligned) and cover its cells; a store must cover its active cells (its values
        are placed on the mesh as a model of the mesh places them).

    Returns
    -------
    str
        `dst`.
    """
    source, fmt = _source(src)
    if fmt == "tif":
        return _from_geotiff(source, dst, kind, start_time, end_time, conversion_factor, chunk_steps, format, mesh)
    return _from_store(source, fmt, dst, kind, (start_time, end_time), conversion_factor, chunk_steps, format, mesh)


def _source(src) -> tuple:
    """(what to read, its format: "tif", "netcdf" or "zarr"): a folder of GeoTIFF files, the NetCDF files of
    `src` (a file, list, glob pattern or folder) or a Zarr store."""
    if isinstance(src, (list, tuple)):
        paths = [os.fspath(p) for p in src]
        if not paths:
            raise FileNotFoundError("convert_forcings: src is an empty list of NetCDF files")
        absent = [p for p in paths if not os.path.isfile(p)]
        if absent:
            raise FileNotFoundError(f"convert_forcings: {absent[0]!r} (in the list src) is not a file")
        return paths, "netcdf"
    text = os.fspath(src).rstrip("/")
    if os.path.isdir(text):
        if text.endswith(".zarr") or any(os.path.exists(os.path.join(text, n)) for n in (".zgroup", "zarr.json")):
            return text, "zarr"
        if _found(text, ("tif",)):
            return text, "tif"
        files = _found(text, ("nc", "nc4"))
        if not files:
            raise FileNotFoundError(f"convert_forcings: the folder {text!r} holds no GeoTIFF or NetCDF file "
                                    "and is not a Zarr store")
        return files, "netcdf"
    if glob.has_magic(text):
        files = sorted(glob.glob(text))
        if not files:
            raise FileNotFoundError(f"convert_forcings: no NetCDF file matches {text!r}")
        return files, "netcdf"
    if not os.path.isfile(text):
        raise FileNotFoundError(f"convert_forcings: {text!r} is not a folder of GeoTIFF or NetCDF files, a NetCDF "
                                "file or a Zarr store")
    if text.lower().endswith((".tif", ".tiff")):
        raise ValueError(f"convert_forcings: {text!r} is one GeoTIFF file; give the folder of the series' files")
    return [text], "netcdf"


def _found(folder: str, suffixes) -> list[str]:
    return sorted(p for s in suffixes for p in glob.glob(os.path.join(glob.escape(folder), "**", f"*.{s}"),
                                                         recursive=True))


def _from_geotiff(src, dst, kind, start_time, end_time, conversion_factor, chunk_steps, format, mesh) -> str:
    """convert_forcings of a folder of dated GeoTIFF files."""
    import rasterio

    from smash.inputs.atmos import files_by_time
    from smash.simulation.model_setup import parse_time

    files = files_by_time(src, "tif", "src")
    lo = parse_time(start_time, "start_time") if start_time is not None else _dt.datetime.min
    hi = parse_time(end_time, "end_time") if end_time is not None else _dt.datetime.max
    stamps = [stamp for stamp in sorted(files) if lo < stamp <= hi]
    if not stamps:
        raise FileNotFoundError(f"convert_forcings: no dated GeoTIFF file in {src!r} within the period")
    with rasterio.open(files[stamps[0]]) as first:
        transform, shape, crs = first.transform, first.shape, first.crs
    x = transform.c + (np.arange(shape[1]) + 0.5) * transform.a
    y = transform.f + (np.arange(shape[0]) + 0.5) * transform.e
    cells = None if mesh is None else _raster_cells(mesh, transform, shape, files[stamps[0]])
    factor = np.float32(conversion_factor)
    with StoreWriter(dst, x, y, _attributes(kind), crs.to_wkt() if crs else None, chunk_steps, format,
                     nstep=len(stamps), cells=cells) as writer:
        for w0 in range(0, len(stamps), writer.chunk_steps):
            window = stamps[w0:w0 + writer.chunk_steps]
            block = np.empty((len(window), *shape), dtype=np.float32)
            for i, stamp in enumerate(window):
                with rasterio.open(files[stamp]) as raster:
                    if raster.shape != shape or raster.transform != transform:
                        raise ValueError(f"convert_forcings: {files[stamp]} is not on the grid of "
                                         f"{files[stamps[0]]}; convert series of one grid")
                    band = raster.read(1, masked=True)
                values = np.asarray(band.filled(0), dtype=np.float32)
                missing = np.ma.getmaskarray(band) | ~np.isfinite(values)
                values = values * factor
                values[missing] = np.nan
                block[i] = values
            writer.append(window, {kind: block})
    return str(dst)


def _attributes(kind: str) -> dict:
    """The written variable's attributes: its values are in the model's units."""
    return {kind: {"units": "degC" if kind == "temp" else "mm", "long_name": f"{kind} per time step"}}


def _raster_cells(mesh: dict, transform, shape, path) -> np.ndarray:
    """Flat indices into the rasters' grid of the mesh's active cells, in a model's order of them."""
    from smash.drainage.network import model_cell_order

    xres, yres = float(mesh["xres"]), float(mesh["yres"])
    if not (np.isclose(transform.a, xres) and np.isclose(-transform.e, yres)):
        raise ValueError(f"convert_forcings: {path} has {transform.a} x {-transform.e} cells and the mesh "
                         f"{xres} x {yres}; a store of the mesh's cells needs rasters on its grid")
    col_off = (float(mesh["xmin"]) - transform.c) / xres
    row_off = (transform.f - float(mesh["ymax"])) / yres
    if abs(col_off - round(col_off)) > 1e-6 or abs(row_off - round(row_off)) > 1e-6:
        raise ValueError(f"convert_forcings: the cells of {path} are not aligned with the mesh's")
    rows, cols = np.divmod(model_cell_order(mesh), int(mesh["ncol"]))
    rows, cols = rows + int(round(row_off)), cols + int(round(col_off))
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= shape[0] or cols.max() >= shape[1]:
        raise ValueError(f"convert_forcings: {path} does not cover the mesh's active cells")
    return rows * shape[1] + cols


def _from_store(paths, fmt, dst, kind, period, conversion_factor, chunk_steps, format, mesh) -> str:
    """convert_forcings of NetCDF files or a Zarr store, read window by window through StoreSeries."""
    from smash.inputs.raster import MISSING
    from smash.inputs.stores import StoreSeries

    paths = paths if isinstance(paths, list) else [paths]
    _check_not_source(dst, paths)
    parts = _open_parts(paths, fmt, kind)
    try:
        stamps, dt = _store_stamps(parts, period, paths)
        layout = _store_layout(parts[0], mesh)
    finally:
        for part in parts:
            part.dataset.close()
    setup = {"start_time": stamps[0] - _dt.timedelta(seconds=dt), "dt": dt, "ntime_step": len(stamps),
             f"{kind}_directory": paths, f"{kind}_format": fmt, f"{kind}_conversion_factor": conversion_factor}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = StoreSeries(setup, layout["mesh"], kind, layout["read"])
    for warning in caught:
        text = str(warning.message)
        if "have no time in the store" in text:
            # The steps the store lacks within the period (StoreSeries's warning), written as NaN here.
            said = "left missing (-99)"
            text = "convert_forcings: " + (text.replace(said, "written as NaN") if said in text else
                                           text + "\n(written as NaN)")
        warnings.warn(text, warning.category, stacklevel=3)
    try:
        if mesh is not None:
            _check_covered(series, mesh, paths[0])
        ncell = series.cells.size
        with StoreWriter(dst, layout["x"], layout["y"], _attributes(kind), layout["crs"], chunk_steps, format,
                         nstep=len(stamps), cells=layout["write"]) as writer:
            window = np.empty((writer.chunk_steps, ncell), dtype=np.float32)
            for w0 in range(0, len(stamps), writer.chunk_steps):
                count = min(writer.chunk_steps, len(stamps) - w0)
                values = series.read(w0, count, out=window[:count])
                values[values == np.float32(MISSING)] = np.nan   # the model's missing value, NaN in a store
                if layout["write"] is None:
                    values = values.reshape(count, layout["y"].size, layout["x"].size)
                writer.append(stamps[w0:w0 + count], {kind: values})
    finally:
        for part in series.parts:
            part.dataset.close()
    return str(dst)


def _check_not_source(dst, paths) -> None:
    target = os.path.realpath(os.fspath(dst))
    if any(os.path.realpath(p) == target for p in paths):
        raise ValueError(f"convert_forcings: dst {os.fspath(dst)!r} is the source; write to another path")


def _open_parts(paths: list, fmt: str, kind: str) -> list:
    """The source's files opened (smash.inputs.stores._Part), errors naming the file."""
    from smash.inputs.stores import _Part, xarray

    xr = xarray()
    parts = []
    for path in paths:
        try:
            parts.append(_Part(xr, path, fmt, kind))
        except Exception as error:
            for part in parts:
                part.dataset.close()
            if isinstance(error, ValueError) and str(error).startswith(path):   # smash's own, naming the variable
                raise ValueError(f"convert_forcings: {error}") from None
            raise ValueError(f"convert_forcings: cannot read {path} as a {fmt} store of {kind} "
                             f"({type(error).__name__}: {error})") from error
    return parts


def _store_stamps(parts: list, period: tuple, paths: list) -> tuple[list, int]:
    """(the end times of the steps written, the step in seconds): the store's time grid (its commonest gap
    from its first time) within the period (start_time, end_time]."""
    from smash.simulation.model_setup import parse_time

    times = np.concatenate([part.times for part in parts])
    where = np.concatenate([np.full(part.times.size, i) for i, part in enumerate(parts)])
    if times.size == 0:
        raise ValueError(f"convert_forcings: {paths[0]} holds no time")
    gaps = np.diff(np.unique(times)).astype(np.int64)
    if gaps.size == 0:
        raise ValueError(f"convert_forcings: {paths[0]} holds a single time ({times[0]}): its step cannot be told")
    values, counts = np.unique(gaps, return_counts=True)
    dt = int(values[np.argmax(counts)])
    first = times.min()
    off = (times - first).astype(np.int64) % dt != 0
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(f"convert_forcings: time {_text(times[i])} of {parts[where[i]].path} is not "
                         f"on the store's steps ({dt} s from {_text(first)})")
    lo = np.datetime64(parse_time(period[0], "start_time"), "s") if period[0] is not None else first - dt
    hi = np.datetime64(parse_time(period[1], "end_time"), "s") if period[1] is not None else times.max()
    grid = first + np.arange(int((times.max() - first).astype(np.int64)) // dt + 1) * np.timedelta64(dt, "s")
    kept = grid[(grid > lo) & (grid <= hi)]
    if kept.size == 0:
        raise ValueError(f"convert_forcings: no time of the store ({_text(first)} to {_text(times.max())}, every "
                         f"{dt} s) within the period ({_text(lo)}, {_text(hi)}]")
    return [t.astype(_dt.datetime) for t in kept], dt


def _text(time) -> str:
    return str(time).replace("T", " ")


def _store_layout(part, mesh: dict | None) -> dict:
    """What to read and write: the mesh StoreSeries places the store on (`mesh`), the cells it reads
    (`read`, None: all), the cells written (`write`, None: the grid), the written grid's axes (`x`, `y`) and
    CRS (`crs`). With a mesh: its active cells in a model's order on its grid; without: the store's own
    grid, or its own cells in their order."""
    crs = _store_crs(part)
    if mesh is not None:
        from smash.drainage.network import model_cell_order

        cells = model_cell_order(mesh)
        x = float(mesh["xmin"]) + (np.arange(int(mesh["ncol"])) + 0.5) * float(mesh["xres"])
        y = float(mesh["ymax"]) - (np.arange(int(mesh["nrow"])) + 0.5) * float(mesh["yres"])
        epsg = mesh.get("epsg")
        if epsg is not None and int(epsg) > 0:
            from rasterio.crs import CRS

            crs = CRS.from_epsg(int(epsg)).to_wkt()
        return {"mesh": mesh, "read": cells, "write": cells, "x": x, "y": y, "crs": crs}
    x = part.dataset[part.x].values.astype(np.float64)
    y = part.dataset[part.y].values.astype(np.float64)
    if part.cell is not None:
        return dict(_cells_grid(part, x, y), crs=crs)
    xres = float(x[1] - x[0]) if x.size > 1 else 0.0
    yres = abs(float(y[1] - y[0])) if y.size > 1 else 0.0
    if xres <= 0 or yres <= 0 or not (np.allclose(np.diff(x), xres, rtol=1e-6)
                                      and np.allclose(np.abs(np.diff(y)), yres, rtol=1e-6)):
        raise ValueError(f"convert_forcings: the grid of {part.path} ({part.x} / {part.y}) is not regular with x "
                         "increasing and at least 2 cells along each axis; give mesh= to read it on a mesh")
    grid = {"nrow": y.size, "ncol": x.size, "xmin": x[0] - xres / 2, "ymax": y.max() + yres / 2, "xres": xres,
            "yres": yres}
    return {"mesh": grid, "read": None, "write": None, "x": x, "y": np.sort(y)[::-1], "crs": crs}


def _cells_grid(part, x: np.ndarray, y: np.ndarray) -> dict:
    """The layout of a store of cells copied as it is: a grid holding its cells (spaced as its nearest
    distinct centres), the cells in the store's order, the axes at the cells' centres exactly."""
    def spacing(values):
        steps = np.diff(np.unique(np.round(values, 6)))
        return float(steps.min()) if steps.size else None

    xres, yres = spacing(x), spacing(y)
    xres, yres = xres or yres or 1.0, yres or xres or 1.0
    xmin, ymax = float(x.min()) - xres / 2, float(y.max()) + yres / 2
    col = np.round((x - xmin) / xres - 0.5).astype(np.int64)
    row = np.round((ymax - y) / yres - 0.5).astype(np.int64)
    ncol, nrow = int(col.max()) + 1, int(row.max()) + 1
    cells = row * ncol + col
    if np.unique(cells).size != cells.size:
        raise ValueError(f"convert_forcings: {part.path} holds two cells of the same centre")
    x_axis = xmin + (np.arange(ncol) + 0.5) * xres
    y_axis = ymax - (np.arange(nrow) + 0.5) * yres
    x_axis[col], y_axis[row] = x, y
    grid = {"nrow": nrow, "ncol": ncol, "xmin": xmin, "ymax": ymax, "xres": xres, "yres": yres}
    return {"mesh": grid, "read": cells, "write": cells, "x": x_axis, "y": y_axis}


def _store_crs(part) -> str | None:
    """The WKT of the store's CRS (its variable's grid mapping, or a ``crs`` / ``spatial_ref`` variable)."""
    dataset = part.dataset
    mapping = part.variable.attrs.get("grid_mapping")
    for name in ([mapping] if mapping else []) + ["crs", "spatial_ref"]:
        if name in dataset.variables:
            wkt = dataset[name].attrs.get("crs_wkt") or dataset[name].attrs.get("spatial_ref")
            if wkt:
                return str(wkt)
    return None


def _check_covered(series, mesh: dict, path: str) -> None:
    """A store of a mesh's cells must hold every active cell: a value the store lacks would be missing at every
    step of the written store."""
    if series.inside.all():
        return
    absent = series.cells[~series.inside]
    row, col = divmod(int(absent[0]), int(mesh["ncol"]))
    x = float(mesh["xmin"]) + (col + 0.5) * float(mesh["xres"])
    y = float(mesh["ymax"]) - (row + 0.5) * float(mesh["yres"])
    raise ValueError(f"convert_forcings: {path} does not cover {absent.size} of the mesh's {series.cells.size} "
                     f"active cells (first: row {row}, col {col}, centre x {x}, y {y})")
