"""A model's series per gauge (observed and simulated discharge, catchment-mean forcings) on its time axis,
with missing values as NaN, and what CF says of each."""

from __future__ import annotations

import numpy as np

from smash.time_axis import TimeAxis

# name -> (units, long_name, CF standard_name or None)
GAUGE_SERIES = {
    "qobs": ("m3 s-1", "observed discharge at the gauge", "water_volume_transport_in_river_channel"),
    "qsim": ("m3 s-1", "simulated discharge at the gauge", "water_volume_transport_in_river_channel"),
    "mean_prcp": ("mm", "precipitation over the time step, mean over the gauge's catchment", None),
    "mean_pet": ("mm", "potential evapotranspiration over the time step, mean over the gauge's catchment", None),
    "mean_snow": ("mm", "snowfall over the time step, mean over the gauge's catchment", None),
    "mean_temp": ("degC", "air temperature, mean over the gauge's catchment", None),
}


def available_series(model) -> tuple[str, ...]:
    """The gauge series this model has (the snow and temperature means with a snow module only)."""
    snow = model.setup.snow_module != "zero"
    return tuple(name for name in GAUGE_SERIES if snow or name not in ("mean_snow", "mean_temp"))


def check_series_names(model, names) -> tuple[str, ...]:
    """`names` (a name or several) checked against the model's series."""
    names = (names,) if isinstance(names, str) else tuple(names)
    valid = available_series(model)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"Unknown series {unknown}; this model has {list(valid)}")
    return names


def gauge_series(model, name: str) -> np.ndarray:
    """(ng, ntime_step) float32 values (smash's own precision) of series `name`, NaN where missing
    (smash's -99, and negative discharge; the temperature is missing at -99 only)."""
    if name == "qobs":
        values = model.response_data.copy().q
    elif name == "qsim":
        values = model.response.q
    else:
        values = getattr(model.atmos_data, name)
    values = np.array(values, dtype=np.float32)
    missing = values <= -99 if name == "mean_temp" else values < 0
    values[missing] = np.nan
    return values


def end_times(model) -> np.ndarray:
    """The end time of every step, as datetime64[ns] (smash labels a step by its end)."""
    return np.array(TimeAxis.of(model.setup).end_times(), dtype="datetime64[ns]")


def gauge_codes(model) -> list[str]:
    return [str(code) for code in model.mesh.code]
