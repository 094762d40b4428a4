"""A model's discharge and maps in one NetCDF file (CF conventions) and back, through xarray."""

from __future__ import annotations

import os

from smash.atomic import atomic_write
from smash.interop.xarray_dataset import model_dataset
from smash.optional import require

ENGINE = "h5netcdf"


def _encoding(dataset) -> dict:
    """Coordinates without fill values, times as whole seconds from the first step's start, maps
    and series compressed."""
    start = str(dataset.time_bnds.values[0, 0])[:19].replace("T", " ")
    encoding = {name: {"_FillValue": None} for name in ("x", "y", "gauge_x", "gauge_y", "area", "area_dln",
                                                         "active_cell", "crs") if name in dataset.variables}
    for name in ("time", "time_bnds", "time_step"):
        if name not in dataset.variables:
            continue
        encoding[name] = {"units": f"seconds since {start}", "calendar": "proleptic_gregorian", "dtype": "int64"}
    for name, var in dataset.data_vars.items():
        if var.ndim >= 2 and var.dtype.kind == "f" and name not in encoding:
            encoding[name] = {"zlib": True, "complevel": 4}
    return encoding


def save_netcdf(model, path, outputs=None) -> None:
    """Write the model's series per gauge (observed and simulated discharge, catchment-mean forcings) and
    its maps (parameters, initial and final states, descriptors, with x/y coordinates and the CRS as a
    CF grid mapping) to a NetCDF-4 file: `model.to_xarray()` written with the h5netcdf engine.

    The file is written to a temporary name beside `path`, then renamed over it (`smash.atomic`).
    Needs the ``netcdf`` extra (xarray, h5netcdf).

    Parameters
    ----------
    model : Model
    path : str or os.PathLike
        The file to write (``.nc``).
    outputs : ForwardRun, Optimize or BackwardRun, optional
        Saved series of a run to add (see `Model.to_xarray`).
    """
    require(ENGINE, "smash.io.save_netcdf", "netcdf")
    dataset = model_dataset(model, outputs)
    with atomic_write(path, "NetCDF file") as partial:
        dataset.to_netcdf(partial, engine=ENGINE, encoding=_encoding(dataset))


def read_netcdf(path):
    """The Dataset written by `save_netcdf` (or any NetCDF file), loaded in memory and the file closed.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    xarray.Dataset
        `qobs` and `qsim` (gauge, time) in m3/s with NaN where missing, the maps (y, x) with NaN off the
        active cells, `crs` holding the grid mapping.
    """
    xr = require("xarray", "smash.io.read_netcdf", "netcdf")
    require(ENGINE, "smash.io.read_netcdf", "netcdf")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No NetCDF file at {os.fspath(path)!r}")
    with xr.open_dataset(path, engine=ENGINE) as dataset:
        return dataset.load()
