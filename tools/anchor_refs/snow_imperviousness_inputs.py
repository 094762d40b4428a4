"""Synthetic temperature, snow and imperviousness rasters on the Lez grid, written deterministically.

Shared by `make_snow_imperviousness.py` (which runs smash 1.3 on them) and
`tests/test_snow_imperviousness.py` (which runs our package on the same files): both import this
module by path and write the files into a temporary folder, so only this code is committed. It
needs numpy and rasterio only (no smash).

The grid is the Lez dataset's: 27 rows x 14 columns of 1 km, upper-left corner (761000, 6302000)
in Lambert-93. Daily files stamped with each step's end time (YYYYMMDDHHMM, as smash reads them):

- ``temp/temp_<stamp>.tif``: degC, a seasonal cycle around 1 degC plus AR(1) noise, colder to the
  north (about -10 to 12 degC), so the rain / snow split and the snow melt both matter;
- ``snow/snow_<stamp>.tif``: mm, snowfall on the cold days (about one day in three);
- ``imperviousness.tif``: the impervious share of each cell, a smooth field in [0, 0.85] with a
  denser "town" near the outlet.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import rasterio
from rasterio.transform import Affine

NROW, NCOL = 27, 14
XMIN, YMAX, RES = 761000.0, 6302000.0, 1000.0
CRS = "EPSG:2154"
START = dt.datetime(2012, 12, 1)
NDAYS = 60
SEED = 20241206


def _write(path: str, values: np.ndarray) -> None:
    profile = {"driver": "GTiff", "dtype": "float32", "width": NCOL, "height": NROW, "count": 1, "crs": CRS,
               "transform": Affine(RES, 0.0, XMIN, 0.0, -RES, YMAX), "nodata": -99.0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(np.float32), 1)


def temperature(ndays: int = NDAYS) -> np.ndarray:
    """(ndays, NROW, NCOL) daily temperature, degC."""
    rng = np.random.default_rng(SEED)
    day = np.arange(1, ndays + 1)
    cycle = 1.0 + 4.0 * np.sin(2.0 * np.pi * day / 40.0)
    noise = np.zeros(ndays)
    for t in range(1, ndays):
        noise[t] = 0.7 * noise[t - 1] + rng.normal(0.0, 1.5)
    rows = np.arange(NROW)[:, None] * np.ones((1, NCOL))
    north = -3.0 + 6.0 * rows / (NROW - 1)          # colder upstream (north)
    local = rng.normal(0.0, 0.5, (ndays, NROW, NCOL))
    return (cycle + noise)[:, None, None] + north[None] + local


def snowfall(temp: np.ndarray) -> np.ndarray:
    """(ndays, NROW, NCOL) snowfall, mm: gamma amounts where it is below 0.5 degC on a third of the days."""
    rng = np.random.default_rng(SEED + 1)
    ndays = temp.shape[0]
    wet = rng.random(ndays) < 0.35
    amount = rng.gamma(1.2, 6.0, (ndays, 1, 1)) * (0.6 + 0.4 * rng.random((ndays, NROW, NCOL)))
    return np.where(wet[:, None, None] & (temp < 0.5), amount, 0.0)


def imperviousness() -> np.ndarray:
    """(NROW, NCOL) impervious share of each cell in [0, 0.85]."""
    rows, cols = np.mgrid[0:NROW, 0:NCOL]
    town = 0.8 * np.exp(-(((rows - 24) / 4.0) ** 2 + ((cols - 11) / 3.0) ** 2))
    suburbs = 0.15 * (0.5 + 0.5 * np.sin(rows / 3.0) * np.cos(cols / 2.5))
    return np.clip(town + suburbs, 0.0, 0.85)


def stamps(ndays: int = NDAYS) -> list[str]:
    """File stamps of the daily steps: each step's end, START + 1 day ... START + ndays days."""
    return [(START + dt.timedelta(days=d)).strftime("%Y%m%d%H%M") for d in range(1, ndays + 1)]


def write_inputs(folder: str, ndays: int = NDAYS) -> dict[str, str]:
    """Write the temperature and snow series and the imperviousness map under `folder`.

    Returns the paths: {"temp_directory", "snow_directory", "imperviousness_file"}.
    """
    temp = temperature(ndays)
    snow = snowfall(temp)
    paths = {"temp_directory": os.path.join(folder, "temp"), "snow_directory": os.path.join(folder, "snow"),
             "imperviousness_file": os.path.join(folder, "imperviousness.tif")}
    os.makedirs(paths["temp_directory"], exist_ok=True)
    os.makedirs(paths["snow_directory"], exist_ok=True)
    for t, stamp in enumerate(stamps(ndays)):
        _write(os.path.join(paths["temp_directory"], f"temp_{stamp}.tif"), temp[t])
        _write(os.path.join(paths["snow_directory"], f"snow_{stamp}.tif"), snow[t])
    _write(paths["imperviousness_file"], imperviousness())
    return paths


def period(ndays: int = NDAYS) -> dict[str, str]:
    """start_time / end_time of the model period the files cover."""
    return {"start_time": START.strftime("%Y-%m-%d %H:%M"),
            "end_time": (START + dt.timedelta(days=ndays)).strftime("%Y-%m-%d %H:%M")}
