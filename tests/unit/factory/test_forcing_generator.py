"""smash.factory.generate_forcing_store: synthetic forcings written window by window to a store."""

import numpy as np
import pytest

import smash
from smash.drainage.network import model_cell_order

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


@pytest.mark.parametrize("ext", ["zarr", "nc"])
def test_cells_layout_holds_the_grid_values_in_model_order(data_dir, tmp_path, ext):
    """layout="cells": the grid layout's values at the active cells, in a model's order of them, and a model
    streaming either store gives the same discharge."""
    setup, mesh = _mesh(data_dir)
    engine = "zarr" if ext == "zarr" else None
    kw = dict(seed=5, chunk_steps=12)
    grid = smash.factory.generate_forcing_store(mesh, tmp_path / f"g.{ext}", "2014-01-01", "2014-01-03", **kw)
    cells = smash.factory.generate_forcing_store(mesh, tmp_path / f"c.{ext}", "2014-01-01", "2014-01-03",
                                                 layout="cells", **kw)
    order = model_cell_order(mesh)
    with xr.open_dataset(grid, engine=engine) as g, xr.open_dataset(cells, engine=engine) as c:
        assert c["prcp"].dims == ("time", "cell")
        for kind in ("prcp", "pet"):
            expected = g[kind].values.reshape(g[kind].shape[0], -1)[:, order]
            assert np.array_equal(c[kind].values, expected), kind
        rows, cols = np.divmod(order, mesh["ncol"])
        assert np.allclose(c["x"].values, g["x"].values[cols]) and np.allclose(c["y"].values, g["y"].values[rows])
    base = dict(setup, start_time="2014-01-01 00:00", end_time="2014-01-03 00:00", read_prcp=True, read_pet=True,
                daily_interannual_pet=False, forcing_storage="stream", forcing_window=10)
    runs = []
    for path in (grid, cells):
        model = smash.Model(dict(base, prcp_directory=str(path), pet_directory=str(path)), mesh)
        model.forward_run()
        runs.append(model.response.q)
    assert np.array_equal(*runs) and np.nanmax(runs[0]) > 0
    with pytest.raises(ValueError, match="unknown layout"):
        smash.factory.generate_forcing_store(mesh, tmp_path / "x.zarr", "2014-01-01", "2014-01-02", layout="rows")
