"""Imports of the optional `batch` extra, done only when a batch feature needs them."""

from __future__ import annotations

import importlib

# Import name -> the pip distribution that provides it.
_DISTRIBUTIONS = {"pydantic": "pydantic", "xarray": "xarray", "dask": "dask", "distributed": "dask[distributed]",
                  "dask_jobqueue": "dask-jobqueue", "h5netcdf": "h5netcdf", "netCDF4": "netCDF4"}


def require(module: str, feature: str):
    """Import `module`, or raise an ImportError naming the `batch` extra and the feature that needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        dist = _DISTRIBUTIONS.get(module.split(".")[0], module)
        raise ImportError(f"{feature} needs {dist}, part of the optional 'batch' extra: "
                          f"pip install 'smash-hydrology[batch]' (or pip install {dist})") from err
