"""smash.io.convert_forcings: a GeoTIFF series to a chunked, compressed NetCDF / Zarr store."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from smash.stream.store_writer import StoreWriter


def convert_forcings(src, dst, kind: str = "prcp", start_time=None, end_time=None, conversion_factor: float = 1.0,
                     chunk_steps: int = 24, format: str | None = None, mesh: dict | None = None) -> str:
    """Convert a folder of dated GeoTIFF files (one step each) into a chunked, compressed NetCDF
    file or Zarr store, a window of `chunk_steps` files at a time.

    The store keeps the rasters' grid (cell centres from their transform) and CRS, one step per file
    stamped with the file's date (the end of its step, as smash reads the folders), the values times
    `conversion_factor` in float32 (as smash scales them) with units "mm" (degC for temp), nodata
    and non-finite values as NaN. A model reads it with ``setup["<kind>_directory"] = dst``
    (smash.inputs.stores); chunks along time make its window reads fast.

    Parameters
    ----------
    src : str
        Folder of GeoTIFF files whose names carry their date (searched recursively).
    dst : str
        The store to write: ``*.nc`` (NetCDF) or ``*.zarr`` (Zarr), or see `format`.
    kind : str, default "prcp"
        The variable name (``prcp``, ``pet``, ``snow``, ``temp``).
    start_time, end_time : str or datetime, optional
        Keep the files stamped within (start_time, end_time] only.
    conversion_factor : float, default 1.0
        Factor to mm per step (the setup's ``<kind>_conversion_factor`` of these files).
    chunk_steps : int, default 24
        Steps per chunk along time.
    format : str, optional
        "netcdf" or "zarr" (from `dst` by default).
    mesh : dict, optional
        Store only this mesh's active cells, as (time, cell) variables in the order a model of the
        mesh holds them, with their centres as ``x`` / ``y`` coordinates: each window is then read
        without a gather (the fastest store for a model run many times, as in a calibration). The
        rasters must be on the mesh's grid (same resolution, cells aligned) and cover its cells.

    Returns
    -------
    str
        `dst`.
    """
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
    units = "degC" if kind == "temp" else "mm"
    with StoreWriter(dst, x, y, {kind: {"units": units, "long_name": f"{kind} per time step"}},
                     crs.to_wkt() if crs else None, chunk_steps, format, nstep=len(stamps), cells=cells) as writer:
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
