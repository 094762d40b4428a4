"""The simulation's time steps: their end times, the step ending at a date, the steps up to a date."""

from __future__ import annotations

import datetime as _dt

from smash.model_setup import setup_time


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
