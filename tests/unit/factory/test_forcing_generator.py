"""smash.factory.generate_forcing_store: synthetic forcings written window by window to a store."""

import numpy as np
import pytest

import smash

xr = pytest.importorskip("xarray", reason="the netcdf extra (xarray, h5netcdf, zarr) is not installed")


def _mesh(data_dir):
    return smash.factory.load_dataset("Cance", path=data_dir)


def test_generated_series_do_not_depend_on_the_window(data_dir, tmp_path):
    setup, mesh = _mesh(data_dir)
    paths = [smash.factory.generate_forcing_store(mesh, tmp_path / f"w{w}.{ext}", "2014-01-01", "2014-01-04",
                                                  seed=7, window=w, chunk_steps=12)
             for w, ext in ((72, "zarr"), (5, "nc"))]
    a, b = (xr.open_dataset(p, engine="zarr" if str(p).endswith("zarr") else None) for p in paths)
    for kind in ("prcp", "pet"):
        assert np.array_equal(a[kind].values, b[kind].values, equal_nan=True), kind
    assert a["time"].size == 72 and str(a["time"].values[0])[:16] == "2014-01-01T01:00"
    a.close()
    b.close()


def test_generated_forcings_look_like_weather_and_drive_a_model(data_dir, tmp_path):
    setup, mesh = _mesh(data_dir)
    path = smash.factory.generate_forcing_store(mesh, tmp_path / "f.zarr", "2014-01-01", "2014-01-21", seed=3)
    ds = xr.open_dataset(path, engine="zarr")
    active = mesh["active_cell"].astype(bool)
    prcp, pet = ds["prcp"].values[:, active], ds["pet"].values[:, active]
    assert np.isnan(ds["prcp"].values[:, ~active]).all()
    # Intermittent rain: most cell-hours dry, some wet, a winter mean of the order of mm per day.
    wet = (prcp > 0).mean()
    assert 0.01 < wet < 0.5
    assert 0.2 < prcp.mean() * 24 < 10
    # PET: none at night (the hourly shares of the daily PET), some by day.
    hours = ds["time"].dt.hour.values
    assert (pet[(hours <= 6) | (hours >= 20)] == 0).all() and (pet[(hours >= 10) & (hours <= 15)] > 0).all()
    # Rain in patches: neighbouring cells far more alike than the grid as a whole.
    grid = ds["prcp"].values
    step = int(np.argmax(np.nansum(grid > 0, axis=(1, 2))))
    field = np.nan_to_num(grid[step], nan=0.0)
    assert np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1] > 0.8
    ds.close()
    setup = dict(setup, read_descriptor=False, read_qobs=False, start_time="2014-01-01", end_time="2014-01-21",
                 prcp_directory=str(path), pet_directory=str(path), daily_interannual_pet=False)
    model = smash.Model(setup, mesh)
    assert np.array_equal(model.atmos_data.prcp[active], prcp.T)
    model.forward_run()
    assert (model.response.q > 0).all()
