"""Observed discharge: one CSV per gauge, `qobs_directory/*<code>*.csv`.

Line 1 holds the date of the first value (YYYYMMDD or YYYYMMDDHHMM); each
following line is one value in m3/s, consecutive values `dt` apart.
"""

from __future__ import annotations

import datetime as _dt
import glob
import os
import warnings

import numpy as np

from smash.inputs.raster import MISSING
from smash.time_axis import TimeAxis

_HEADER_FORMATS = ("%Y%m%d%H%M", "%Y%m%d", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def parse_header(text: str, path) -> _dt.datetime:
    """Date of the first value, from line 1 of a qobs file."""
    stamp = text.strip().strip(",;").strip()
    for fmt in _HEADER_FORMATS:
        try:
            return _dt.datetime.strptime(stamp, fmt)
        except ValueError:
            continue
    raise ValueError(f"{path}, line 1: {text.strip()!r} is not a date (expected YYYYMMDD or YYYYMMDDHHMM)")


def _values(lines: list[str], first_line: int, path) -> np.ndarray:
    """Lines as float64, errors naming the file and the (1-based) line."""
    try:
        return np.array(lines, dtype=np.float64)
    except ValueError:
        for k, line in enumerate(lines):
            try:
                float(line)
            except ValueError:
                raise ValueError(f"{path}, line {first_line + k}: {line.strip()!r} is not a number") from None
        raise


def read_gauge_series(path, setup: dict) -> np.ndarray:
    """(ntime_step,) float64 values of one file at the model steps; -99 where not covered."""
    ntime_step, dt = int(setup["ntime_step"]), int(setup["dt"])
    with open(path) as f:
        header = f.readline()
        lines = f.read().splitlines()
    first_date = parse_header(header, path)
    while lines and not lines[-1].strip():
        lines.pop()
    # Value k is stamped first_date + k dt; step t needs start_time + (t+1) dt.
    shift = (TimeAxis.of(setup).time(1) - first_date).total_seconds()
    if shift % dt:
        raise ValueError(f"{path}: its dates ({first_date} every {dt} s) do not fall on the model steps")
    first = int(shift // dt)
    lo, hi = max(first, 0), min(first + ntime_step, len(lines))
    series = np.full(ntime_step, MISSING)
    if lo < hi:
        # Line numbers: header is line 1, value k is on line k + 2.
        series[lo - first:hi - first] = _values(lines[lo:hi], lo + 2, path)
    series[~np.isfinite(series)] = MISSING
    return series


def gauge_file(directory, code: str, codes: list[str]) -> str | None:
    """The observation file of gauge `code`: the one `*<code>*.csv` in `directory` (as smash 1.3 matches
    names: `Y3204040.csv`, `prefix_Y3204040.csv` and `Y3204040_qobs.csv` all serve), None without one.

    Where smash 1.3 silently takes the first name in sorted order, several candidates are an error
    naming them (`A_Y3204040_old.csv` would otherwise replace `Y3204040.csv`). The file named exactly
    after another gauge (`Y32040401.csv` for gauge `Y3204040` when `Y32040401` is a gauge too) is that
    gauge's, not a candidate.
    """
    matches = sorted(glob.glob(os.path.join(glob.escape(str(directory)), f"*{glob.escape(code)}*.csv")))
    others = {f"{other}.csv" for other in codes if other != code}
    candidates = [path for path in matches if os.path.basename(path) not in others]
    if len(candidates) > 1:
        names = [os.path.basename(path) for path in candidates]
        raise ValueError(f"Several observed discharge files in {directory} match gauge {code!r}: {names}; "
                         "keep one file whose name contains the code")
    return candidates[0] if candidates else None


def read_qobs(setup: dict, mesh: dict) -> np.ndarray:
    """(ng, ntime_step) float32 observed discharge in m3/s, gauges in mesh order.

    -99 where missing or not covered by the file; a gauge without a file is
    all -99 (with a warning naming its code).
    """
    directory = setup.get("qobs_directory")
    if not directory or not os.path.isdir(directory):
        raise FileNotFoundError(f"setup['qobs_directory'] = {directory!r} is not a directory")
    codes = [c.decode() if isinstance(c, bytes) else str(c) for c in np.atleast_1d(mesh.get("code", []))]
    qobs = np.full((len(codes), int(setup["ntime_step"])), MISSING, dtype=np.float32)
    absent = []
    for g, code in enumerate(codes):
        path = gauge_file(directory, code, codes)
        if path is None:
            absent.append(code)
            continue
        qobs[g] = read_gauge_series(path, setup)
    if absent:
        # One warning for all the gauges, as smash 1.3 gives.
        warnings.warn(f"Missing {len(absent)} observed discharge file(s) *<code>*.csv in {directory}, gauges left "
                      f"all -99: {absent}", UserWarning, stacklevel=2)
    return qobs
