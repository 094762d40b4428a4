"""Setup validation: defaults, dates and clear errors."""

import datetime as dt

import pytest

from smash.simulation.model_setup import normalize_setup


def test_defaults_and_time_axis():
    s = normalize_setup({"start_time": dt.date(2012, 8, 1), "end_time": "2013-07-31", "dt": 86_400})
    assert s["snow_module"] == "zero" and s["hydrological_module"] == "gr4" and s["routing_module"] == "lr"
    assert s["ntime_step"] == 364
    assert s["start_time"] == dt.datetime(2012, 8, 1)


def test_hourly_strings():
    s = normalize_setup({"start_time": "2014-09-15 00:00", "end_time": "2014-11-14 00:00", "dt": 3600})
    assert s["ntime_step"] == 1440


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hydrological_module": "gr44"}, "Unknown hydrological module 'gr44'"),
        ({"routing_module": "kinematic"}, "Unknown routing module"),
        ({"snow_module": "degree_day"}, "Unknown snow module"),
        ({"end_time": "2011-01-01"}, "is not after start_time"),
        ({"dt": -5}, "positive whole number"),
        ({"dt": 7000}, "not a whole number of time steps"),
        ({"start_time": "first of may"}, "is not a date"),
        ({"hydrological_modul": "gr4"}, "did you mean 'hydrological_module'"),
    ],
)
def test_bad_setup_is_named(change, message):
    setup = {"start_time": "2012-08-01", "end_time": "2012-08-11", "dt": 86400}
    setup.update(change)
    with pytest.raises(ValueError, match=message):
        normalize_setup(setup)
