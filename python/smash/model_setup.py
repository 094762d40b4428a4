"""Validation and defaults of the user's setup dictionary."""

from __future__ import annotations

import datetime as _dt
import difflib

import numpy as np

from smash.hybrid_nn import hidden_sizes
from smash.registry import Structure

DEFAULTS = {
    "snow_module": "zero",
    "hydrological_module": "gr4",
    "routing_module": "lr",
    "dt": 3600,
    "read_qobs": False,
    "qobs_directory": None,
    "read_prcp": False,
    "prcp_format": "tif",
    "prcp_conversion_factor": 1.0,
    "prcp_directory": None,
    "read_pet": False,
    "pet_format": "tif",
    "pet_conversion_factor": 1.0,
    "pet_directory": None,
    "daily_interannual_pet": False,
    "read_snow": False,
    "snow_format": "tif",
    "snow_conversion_factor": 1.0,
    "snow_directory": None,
    "read_temp": False,
    "temp_format": "tif",
    "temp_directory": None,
    "read_descriptor": False,
    "descriptor_name": [],
    "descriptor_directory": None,
    "descriptor_format": "tif",
    "descriptor_tfm": "standardize",
    "adjust_interception": True,
    "sparse_storage": False,
    "hidden_neuron": 16,
    "synthetic": None,
}
REQUIRED = ("start_time", "end_time")
# How descriptors enter the regionalization mappings (regionalization.normalized_descriptors).
DESCRIPTOR_TRANSFORMS = ("standardize", "normalize", "keep")
# smash 1.3 names that mean a module of ours.
MODULE_ALIASES = {"gr4_ude": "gr4_ode_mlp"}

_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y%m%d%H%M", "%Y%m%d")


def parse_time(value, key: str) -> _dt.datetime:
    """Accept datetime, date, numpy datetime64 or the usual string spellings."""
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day)
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[s]").astype(_dt.datetime)
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, str):
        text = value.strip().replace("T", " ")
        for fmt in _TIME_FORMATS:
            try:
                return _dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
    raise ValueError(
        f"setup[{key!r}] = {value!r} is not a date; use e.g. '2012-08-01' or '2012-08-01 00:00'"
    )


def normalize_setup(setup: dict) -> dict:
    """Return a new setup with defaults filled in, checked and typed."""
    if not isinstance(setup, dict):
        raise TypeError(f"setup must be a dict, not {type(setup).__name__}")
    unknown = [k for k in setup if k not in DEFAULTS and k not in REQUIRED]
    if unknown:
        hints = {k: difflib.get_close_matches(k, list(DEFAULTS) + list(REQUIRED), n=1) for k in unknown}
        detail = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise ValueError(f"Unknown setup key(s): {detail}")
    missing = [k for k in REQUIRED if k not in setup]
    if missing:
        raise ValueError(f"setup is missing required key(s) {missing}")

    out = dict(DEFAULTS)
    out.update(setup)
    out["descriptor_name"] = list(out["descriptor_name"] or [])

    dt = out["dt"]
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise ValueError(f"setup['dt'] must be a number of seconds, not {dt!r}")
    if dt <= 0 or float(dt) != int(dt):
        raise ValueError(f"setup['dt'] must be a positive whole number of seconds, got {dt!r}")
    out["dt"] = int(dt)

    start = parse_time(out["start_time"], "start_time")
    end = parse_time(out["end_time"], "end_time")
    if end <= start:
        raise ValueError(f"setup end_time {end} is not after start_time {start}")
    span = (end - start).total_seconds()
    if span % out["dt"]:
        raise ValueError(
            f"The period {start} -> {end} is not a whole number of time steps of dt={out['dt']} s"
        )
    out["start_time"], out["end_time"] = start, end
    out["ntime_step"] = int(span // out["dt"])

    out["hydrological_module"] = MODULE_ALIASES.get(out["hydrological_module"], out["hydrological_module"])
    # Raises a ValueError naming the bad module and the valid ones.
    Structure(out["snow_module"], out["hydrological_module"], out["routing_module"])

    for kind in ("prcp", "pet", "snow", "qobs"):
        key = f"{kind}_conversion_factor"
        if key in out and not np.isfinite(float(out[key])):
            raise ValueError(f"setup[{key!r}] must be finite, got {out[key]!r}")
    if out["read_descriptor"] and not out["descriptor_name"]:
        raise ValueError("setup['read_descriptor'] is True but setup['descriptor_name'] is empty")
    out["nd"] = len(out["descriptor_name"])
    if not isinstance(out["descriptor_tfm"], str):
        raise TypeError(f"setup['descriptor_tfm'] must be a str, not {type(out['descriptor_tfm']).__name__}")
    if out["descriptor_tfm"] not in DESCRIPTOR_TRANSFORMS:
        raise ValueError(f"Unknown setup['descriptor_tfm'] {out['descriptor_tfm']!r}; "
                         f"choose one of {list(DESCRIPTOR_TRANSFORMS)}")
    hidden_sizes(out["hidden_neuron"])  # raises on a bad hidden_neuron, hybrid or not
    return out
