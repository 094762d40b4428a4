"""TimeAxis and the result base class on their own, against independent computations (pandas, plain
datetime arithmetic)."""

import datetime as dt

import pandas as pd
import pytest

from smash.results import Result
from smash.time_axis import TimeAxis

START = dt.datetime(2012, 2, 28, 6, 0)


@pytest.mark.parametrize("step_seconds, n", [(3600, 50), (86400, 3), (900, 200)])
def test_end_times_are_pandas_ranges_after_the_start(step_seconds, n):
    axis = TimeAxis(START, step_seconds, n)
    expected = pd.date_range(START, periods=n + 1, freq=f"{step_seconds}s")[1:].to_pydatetime().tolist()
    assert axis.end_times() == expected
    assert axis.end == expected[-1]
    assert axis.time(0) == START


def test_a_setup_dict_and_model_setup_text_give_the_same_axis():
    as_dict = TimeAxis.of({"start_time": START, "dt": 3600, "ntime_step": 24})

    class Attributes:  # model.setup keeps times as text and dt as a float
        start_time, dt, ntime_step = "2012-02-28 06:00", 3600.0, 24

    as_text = TimeAxis.of(Attributes())
    assert as_dict.end_times() == as_text.end_times()
    assert as_text.end == dt.datetime(2012, 2, 29, 6, 0)  # a leap day inside the period


def test_steps_until_counts_the_steps_ending_at_or_before_a_date():
    axis = TimeAxis(START, 3600, 24)
    assert axis.steps_until(START, "d") == 0
    assert axis.steps_until(START + dt.timedelta(minutes=59), "d") == 0
    assert axis.steps_until(START + dt.timedelta(hours=1), "d") == 1
    assert axis.steps_until(axis.end, "d") == 24
    with pytest.raises(ValueError, match="end_warmup .* is outside the simulation period"):
        axis.steps_until(axis.end + dt.timedelta(seconds=1), "end_warmup")
    with pytest.raises(ValueError, match="outside"):
        axis.steps_until(START - dt.timedelta(hours=1), "d")


def test_step_ending_at_finds_only_step_ends_inside_the_period():
    axis = TimeAxis(START, 3600, 24)
    assert axis.step_ending_at(START + dt.timedelta(hours=5)) == 5
    assert axis.step_ending_at(axis.end) == 24
    assert axis.step_ending_at(START) is None  # the start ends no step
    assert axis.step_ending_at(START + dt.timedelta(minutes=90)) is None
    assert axis.step_ending_at(axis.end + dt.timedelta(hours=1)) is None


def test_result_shows_its_subclass_name_and_sorted_attribute_names():
    class SomeRun(Result):
        pass

    run = SomeRun(q=1, cost=2.0)
    assert (run.q, run.cost) == (1, 2.0)
    assert repr(run) == "SomeRun(cost, q)"
