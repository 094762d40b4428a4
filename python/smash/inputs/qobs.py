"""Observed discharge: one CSV per gauge, header = date of the first value."""

from __future__ import annotations

import datetime as _dt
import glob
import os
import warnings

import numpy as np

from smash.inputs.raster import MISSING


def _parse_header(text: str, path: str) -> _dt.datetime:
    digits = text.strip().strip(",;")
    for fmt in ("%Y%m%d%H%M", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(digits, fmt)
        except ValueError:
            continue
    raise ValueError(f"{path}, line 1: header {text.strip()!r} is not a date YYYYMMDD or YYYYMMDDHHMM")


def read_qobs(setup: dict, mesh: dict) -> np.ndarray:
    """(ng, ntime_step) float32 discharge in m3/s; -99 where missing or not covered."""
    directory = setup.get("qobs_directory")
    if not directory or not os.path.isdir(directory):
        raise FileNotFoundError(f"setup['qobs_directory'] = {directory!r} is not a directory")
    codes = [str(c) for c in np.atleast_1d(mesh.get("code", []))]
    nt, dt = setup["ntime_step"], setup["dt"]
    out = np.full((len(codes), nt), MISSING, dtype=np.float32)
    csvs = sorted(glob.glob(os.path.join(directory, "**", "*.csv"), recursive=True))
    for g, code in enumerate(codes):
        matches = [p for p in csvs if code in os.path.basename(p)]
        if not matches:
            warnings.warn(f"No observed discharge file for gauge {code} in {directory}: all missing", stacklevel=2)
            continue
        path = matches[0]
        with open(path) as f:
            header = f.readline()
            start = _parse_header(header, path)
            try:
                values = np.loadtxt(f, dtype=np.float64, ndmin=1)
            except ValueError as err:
                raise ValueError(f"{path}: values are not numbers ({err})") from None
        # Value k is at start + k dt; model step t needs start_time + (t+1) dt.
        offset = (setup["start_time"] + _dt.timedelta(seconds=dt) - start).total_seconds() / dt
        if offset != int(offset):
            raise ValueError(f"{path}: its dates ({start} every {dt} s) do not fall on the model steps")
        idx = np.arange(nt) + int(offset)
        ok = (idx >= 0) & (idx < values.size)
        column = np.full(nt, MISSING)
        column[ok] = values[idx[ok]]
        column[~np.isfinite(column)] = MISSING
        out[g] = column
    return out
