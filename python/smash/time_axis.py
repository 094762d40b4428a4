"""The simulation's time steps: their end times, the step ending at a date, the steps up to a date."""

from __future__ import annotations

import datetime as _dt

import numpy as np

TIME_FORMAT = "%Y-%m-%d %H:%M"

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


def setup_time(setup, key: str) -> _dt.datetime:
    """`start_time` / `end_time` of a setup (a dict or `model.setup`, where smash keeps them as text)."""
    value = setup[key] if isinstance(setup, dict) else getattr(setup, key)
    return parse_time(value, key)


class TimeAxis:
    """The steps of a simulation: step t (1-based) covers (start + (t-1) dt, start + t dt].

    Parameters
    ----------
    start : datetime.datetime
        The setup's `start_time` (the start of step 1).
    dt : int
        The step length in seconds.
    ntime_step : int
        The number of steps.
    """

    def __init__(self, start: _dt.datetime, dt: int, ntime_step: int):
        self.start = start
        self.dt = int(dt)
        self.ntime_step = int(ntime_step)

    @classmethod
    def of(cls, setup) -> TimeAxis:
        """The axis of a setup: a normalized setup dict or `model.setup` (times kept as text there)."""
        get = setup.__getitem__ if isinstance(setup, dict) else lambda key: getattr(setup, key)
        return cls(setup_time(setup, "start_time"), int(get("dt")), int(get("ntime_step")))

    @property
    def end(self) -> _dt.datetime:
        """The end of the last step (the setup's `end_time`)."""
        return self.time(self.ntime_step)

    def time(self, step: int) -> _dt.datetime:
        """start + step dt: the end time of step `step` (1-based), the start time for 0."""
        return self.start + _dt.timedelta(seconds=self.dt * int(step))

    def end_times(self) -> list[_dt.datetime]:
        """The end time of every step, in order."""
        return [self.time(t) for t in range(1, self.ntime_step + 1)]

    def steps_until(self, moment: _dt.datetime, key: str) -> int:
        """The number of steps that end at or before `moment`, a date within [start, end] (named `key`
        in the error otherwise)."""
        if not self.start <= moment <= self.end:
            raise ValueError(f"{key} {moment} is outside the simulation period {self.start} -> {self.end}")
        return int((moment - self.start).total_seconds() // self.dt)

    def step_ending_at(self, moment: _dt.datetime) -> int | None:
        """The 1-based step that ends at `moment`, or None when no step ends there."""
        offset = (moment - self.start).total_seconds() / self.dt
        if offset != int(offset) or not 1 <= offset <= self.ntime_step:
            return None
        return int(offset)
