"""A model's discharge at its gauges as a CF NetCDF file (through xarray)."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from smash.batch._deps import require
from smash.interop.series import end_times, gauge_codes, gauge_series


def _engine() -> str:
    """netCDF4 when installed, else h5netcdf (both are in the batch extra's choice)."""
    try:
        import netCDF4  # noqa: F401

        return "netcdf4"
    except ImportError:
        require("h5netcdf", "Writing NetCDF discharge")
        return "h5netcdf"


def discharge_dataset(model, config_yaml: str = "", period: str = ""):
    """xarray.Dataset of simulated (and observed) discharge, dims (gauge, time), CF attributes.

    `time` holds the end of each step (smash's discharge of a step is its mean over the step);
    missing observations (negative in smash) are NaN.
    """
    xr = require("xarray", "Writing NetCDF discharge")
    from smash import __version__

    mesh, setup = model.mesh, model.setup
    times, codes = end_times(model), np.array(gauge_codes(model), dtype=str)
    rows, cols = np.asarray(mesh.gauge_pos).T if mesh.ng else (np.zeros(0), np.zeros(0))
    # Cell centres of the gauges in the mesh's projection.
    x = float(mesh.xmin) + (cols + 0.5) * float(mesh.xres)
    y = float(mesh.ymax) - (rows + 0.5) * float(mesh.yres)
    # The model's gauge series as Model.to_xarray gives them (float32, NaN where missing).
    qsim, qobs = gauge_series(model, "qsim"), gauge_series(model, "qobs")
    flow = {"units": "m3 s-1", "standard_name": "water_volume_transport_in_river_channel",
            "cell_methods": "time: mean", "coordinates": "x y"}
    data = xr.Dataset(
        {"qsim": (("gauge", "time"), qsim, {**flow, "long_name": "simulated discharge"}),
         "qobs": (("gauge", "time"), qobs, {**flow, "long_name": "observed discharge"})},
        coords={"gauge": ("gauge", codes, {"long_name": "gauge code", "cf_role": "timeseries_id"}),
                "time": ("time", times, {"standard_name": "time", "long_name": "end of time step"}),
                "x": ("gauge", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
                "y": ("gauge", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
                "area": ("gauge", np.asarray(mesh.area, dtype=np.float64),
                         {"long_name": "drained area", "units": "m2"})},
        attrs={"Conventions": "CF-1.8", "featureType": "timeSeries",
               "title": f"smash discharge{' over the ' + period + ' period' if period else ''}",
               "source": f"smash {__version__}", "smash_version": __version__,
               "structure": str(setup.structure), "time_step_seconds": float(setup.dt),
               "epsg": int(mesh.epsg) if getattr(mesh, "epsg", None) is not None else -1,
               "history": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} written by smash {__version__}",
               "smash_config": config_yaml},
    )
    for name in ("qsim", "qobs"):
        data[name].encoding.update({"_FillValue": np.float32(np.nan), "dtype": "float32"})
    data["time"].encoding.update({"units": "seconds since 1970-01-01 00:00:00", "calendar": "standard"})
    return data


def write_discharge(path, model, config_yaml: str = "", period: str = "", observed: bool = True) -> None:
    """Write `discharge_dataset` to the NetCDF file `path` (without `qobs` when not `observed`)."""
    data = discharge_dataset(model, config_yaml, period)
    if not observed:
        data = data.drop_vars("qobs")
    data.to_netcdf(path, engine=_engine())


def warm_up() -> None:
    """Do once, in a parent process, what xarray does on its first NetCDF write (importing its array
    backends, dask among them: ~1 s), so that forked workers do not each pay it."""
    import tempfile

    xr = require("xarray", "Writing NetCDF discharge")
    times = np.array(["2000-01-01T00:00"], dtype="datetime64[ns]")
    data = xr.Dataset({"q": (("time",), np.zeros(1, dtype=np.float32))}, coords={"time": times})
    with tempfile.TemporaryDirectory() as folder:
        data.to_netcdf(f"{folder}/warm_up.nc", engine=_engine())
