"""Rain / snow split of the precipitation by temperature (setup `prcp_partitioning`).

As smash documents it (math documentation, "Precipitation Partitioning"): the total precipitation
P_T = P + S (S the snow read, 0 when none) is split into rain l_r P_T and snow (1 - l_r) P_T with
the liquid ratio of Garavaglia et al. (2017)

    l_r = 1 - (1 + exp(10/4 T - 1))**-1,

T the temperature (degC). Where the temperature is missing (-99) everything stays rain (l_r = 1),
and where the precipitation is missing it stays missing (smash 1.3 does both). Computed in double
precision, stored as the forcings are (float32).
"""

from __future__ import annotations

import numpy as np

from smash.inputs.raster import MISSING

# The forcings the split reads together (a snow module's).
SPLIT_KINDS = ("prcp", "snow", "temp")


def liquid_ratio(temp: np.ndarray) -> np.ndarray:
    """Share of the precipitation falling as rain at temperature `temp` (degC); 1 where temp is missing."""
    temp = np.asarray(temp, dtype=np.float64)
    missing = temp <= MISSING
    with np.errstate(over="ignore"):
        ratio = 1.0 - 1.0 / (1.0 + np.exp(2.5 * np.where(missing, 0.0, temp) - 1.0))
    return np.where(missing, 1.0, ratio)


def partition(prcp: np.ndarray, snow: np.ndarray | None, temp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rain, snow) float32 from the precipitation, the snow read (None or -99: none) and the temperature.

    All arrays share one shape (e.g. (ntime_step, ncell)).
    """
    prcp = np.asarray(prcp)
    if snow is None:
        snow_read = np.zeros(prcp.shape)
    else:
        snow_read = np.asarray(snow, dtype=np.float64)
        snow_read = np.where(snow_read >= 0, snow_read, 0.0)
    known = prcp >= 0
    total = np.where(known, prcp, 0.0) + snow_read
    ratio = liquid_ratio(temp)
    rain = np.where(known, ratio * total, prcp).astype(np.float32)
    solid = np.where(known, (1.0 - ratio) * total, snow_read).astype(np.float32)
    return rain, solid
