"""Daily interannual PET streamed as the maps of each window's days, which the core spreads over the
steps (md_input_data pet_by_day): the same values as the hourly windows read whole, days without a file
missing (-99) as there, and the same discharge, final states and gradient as the forcings held whole."""

import os
import shutil

import numpy as np
import pytest

import smash
from smash import _testing
from smash.simulation.model_setup import normalize_setup
from smash.stream.sources import TiffSource


def _cance(data_dir, tmp_path, drop=("0917", "0919")):
    """Cance over ten days, hourly, its interannual PET folder without the maps of the days `drop`."""
    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    pet = tmp_path / "pet"
    pet.mkdir()
    for name in os.listdir(setup["pet_directory"]):
        if name[:4] not in drop:
            shutil.copy(os.path.join(setup["pet_directory"], name), pet / name)
    return dict(setup, read_descriptor=False, end_time="2014-09-25 00:00", pet_directory=str(pet)), mesh


@pytest.mark.filterwarnings("ignore:Reading potential evapotranspiration")
@pytest.mark.parametrize("first,count", [(0, 24), (5, 7), (40, 50), (100, 40)])
def test_days_times_shares_are_the_hourly_windows(data_dir, tmp_path, first, count):
    setup, mesh = _cance(data_dir, tmp_path)
    norm = normalize_setup(setup)
    cells = np.flatnonzero(mesh["active_cell"].ravel() == 1)
    source = TiffSource(norm, mesh, cells)
    assert source.reads_days("pet") and not source.reads_days("prcp")
    hourly = source.read("pet", first, count)
    maps = np.full((count, cells.size), np.nan, dtype=np.float32)
    day = np.zeros(count, dtype=np.int32)
    share = np.zeros(count, dtype=np.float32)
    source.read_days("pet", first, count, maps, day, share)
    ndays = int(day.max())
    # Steps of one day share a row, days in order; no row beyond the window's days is written.
    assert np.all(np.diff(day) >= 0) and ndays <= -(-(count + first % 24) // 24) + 1
    assert np.isnan(maps[ndays:]).all()
    spread = maps[day - 1] * share[:, None]
    assert spread.dtype == np.float32 and np.array_equal(spread, hourly)
    # The days dropped are missing, as the hourly reading leaves them.
    missing = np.all(hourly == -99.0, axis=1)
    assert missing.any() == ((first, count) in ((40, 50), (100, 40)))
    assert np.array_equal(missing, np.all(maps[day - 1] == -99.0, axis=1) & (share == 1.0))


def test_streamed_days_equal_held_forcings(data_dir, tmp_path):
    setup, mesh = _cance(data_dir, tmp_path)
    with pytest.warns(UserWarning, match="Missing files"):
        held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    _testing.core_setup(held).checkpoint_steps = 13
    with pytest.warns(UserWarning, match="Missing files"):
        streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=13), mesh)
    assert _testing.forcing_stream(streamed).pet_days
    assert np.array_equal(held.rr_parameters.values, streamed.rr_parameters.values)   # ci re-estimated alike
    held.forward_run()
    streamed.forward_run()
    assert np.array_equal(held.response.q, streamed.response.q)
    assert np.array_equal(held.rr_final_states.values, streamed.rr_final_states.values)
    options = {"cost": True, "grad": True}
    ret_h = held.backward_run(mapping="distributed", return_options=options)
    ret_s = streamed.backward_run(mapping="distributed", return_options=options)
    assert ret_h.cost == ret_s.cost and np.array_equal(ret_h.grad, ret_s.grad) and np.abs(ret_h.grad).max() > 0
