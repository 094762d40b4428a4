"""A model as an xarray Dataset, a NetCDF file and a pandas DataFrame (issue 21): times, gauges, units,
maps and CRS checked against the dataset files and GDAL's reading of the file, not against our own code."""

import sys

import numpy as np
import pandas as pd
import pytest
import rasterio

import smash

xr = pytest.importorskip("xarray", reason="the netcdf extra (xarray) is not installed")


@pytest.fixture(scope="module")
def lez(data_dir):
    model = smash.Model(*smash.factory.load_dataset("Lez", path=data_dir))
    model.set_rr_parameters("cp", np.linspace(100.0, 500.0, model.mesh.nrow * model.mesh.ncol).reshape(
        model.mesh.nrow, model.mesh.ncol))
    model.forward_run(common_options={"verbose": False})
    return model


def _csv_discharge(data_dir, code):
    """A gauge's observed daily discharge as the dataset's CSV holds it: first line the first date, then one
    value a day (-99 missing)."""
    lines = (data_dir / "Lez" / "qobs" / f"{code}.csv").read_text().split()
    index = pd.date_range(pd.to_datetime(lines[0], format="%Y%m%d"), periods=len(lines) - 1, freq="D")
    series = pd.Series(np.array(lines[1:], dtype=float), index=index)
    return series.where(series >= 0)


def test_lez_dataset_coordinates_series_and_maps(lez, data_dir):
    ds = lez.to_xarray()
    # Step t ends at start + t dt: 364 daily steps from 2012-08-02 to 2013-07-31 (datasets README).
    assert ds.sizes["time"] == 364
    assert ds.time.values[0] == np.datetime64("2012-08-02") and ds.time.values[-1] == np.datetime64("2013-07-31")
    assert np.all(ds.time_bnds.values[:, 1] - ds.time_bnds.values[:, 0] == np.timedelta64(1, "D"))
    attributes = pd.read_csv(data_dir / "Lez" / "gauge_attributes.csv", dtype={"code": str})
    assert ds.gauge.values.tolist() == attributes["code"].tolist()
    assert np.allclose(ds.area.values, attributes["area"].to_numpy() * 1e6)
    for code in ds.gauge.values:
        expected = _csv_discharge(data_dir, code).reindex(pd.DatetimeIndex(ds.time.values))
        got = ds.qobs.sel(gauge=code).to_series()
        assert np.allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-6, equal_nan=True), code
    assert ds.qobs.attrs["units"] == ds.qsim.attrs["units"] == "m3 s-1"
    assert ds.qsim.attrs["standard_name"] == "water_volume_transport_in_river_channel"
    assert np.array_equal(ds.qsim.values, lez.response.q)  # all simulated, none missing
    # The grid: 1 km cells from (761000, 6302000) north-up, centres half a cell in.
    assert ds.x.values[0] == 761500.0 and ds.y.values[0] == 6301500.0 and ds.sizes["x"] == 14
    active = lez.mesh.active_cell == 1
    assert np.array_equal(ds.cp.values[active], lez.get_rr_parameters("cp")[active])
    assert np.all(np.isnan(ds.cp.values[~active]))
    assert np.array_equal(ds.hp_final.values[active], lez.get_rr_final_states("hp")[active])
    assert np.array_equal(ds.slope.values, lez.physio_data.descriptor[..., 0])
    assert ds.cp.attrs["grid_mapping"] == "crs" and ds.crs.attrs["epsg_code"] == "EPSG:2154"
    assert ds.crs.attrs["grid_mapping_name"] == "lambert_conformal_conic"
    assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["structure"] == "zero-gr4-lr"


def test_netcdf_round_trip_and_gdal_reads_the_grid(lez, tmp_path):
    path = tmp_path / "lez.nc"
    smash.io.save_netcdf(lez, path)
    back = smash.io.read_netcdf(path)
    ds = lez.to_xarray()
    for name in ("qobs", "qsim", "mean_prcp", "cp", "ct", "hp_initial", "hp_final", "karst", "active_cell"):
        assert np.array_equal(back[name].values, ds[name].values, equal_nan=True), name
    assert np.array_equal(back.time.values, ds.time.values) and back.gauge.values.tolist() == ds.gauge.values.tolist()
    assert back.qsim.attrs["units"] == "m3 s-1" and back.cp.attrs["grid_mapping"] == "crs"
    # GDAL, knowing nothing of smash, finds the CRS and the grid in the file.
    with rasterio.open(f'NETCDF:"{path}":ct') as raster:
        assert raster.crs.to_epsg() == 2154
        assert tuple(raster.transform)[:6] == (1000.0, 0.0, 761000.0, 0.0, -1000.0, 6302000.0)
        values = raster.read(1)
    active = lez.mesh.active_cell == 1
    assert np.array_equal(values[active], lez.get_rr_parameters("ct")[active])


def test_dataframe_of_gauge_series(lez, data_dir):
    frame = lez.to_dataframe()
    assert frame.index.name == "time" and frame.index[0] == pd.Timestamp("2012-08-02")
    assert frame.columns.names == ["variable", "gauge"]
    assert frame["qsim"].columns.tolist() == [str(c) for c in lez.mesh.code]
    code = str(lez.mesh.code[1])
    expected = _csv_discharge(data_dir, code).reindex(frame.index)
    assert np.allclose(frame[("qobs", code)].to_numpy(), expected.to_numpy(), rtol=1e-6, equal_nan=True)
    forcing = lez.to_dataframe("mean_prcp")
    assert np.array_equal(forcing["mean_prcp"].to_numpy().T, lez.atmos_data.mean_prcp)
    with pytest.raises(ValueError, match=r"Unknown series \['mean_snow'\]"):
        lez.to_dataframe(["qsim", "mean_snow"])


def test_model_not_run_has_no_simulated_discharge_nor_final_states():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    ds = model.to_xarray()
    assert np.all(np.isnan(ds.qsim.values)) and "hp_final" not in ds and "hp_initial" in ds
    model.forward_run(common_options={"verbose": False})
    ds = model.to_xarray()
    assert not np.any(np.isnan(ds.qsim.values)) and "hp_final" in ds


def test_missing_xarray_names_the_extra(monkeypatch):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now raises ImportError
    with pytest.raises(ImportError, match=r"smash-hydrology\[netcdf\]"):
        model.to_xarray()
    assert model.to_dataframe().shape == (model.setup.ntime_step, 2 * model.mesh.ng)  # pandas only


def test_saved_series_of_a_run_join_the_dataset(tmp_path):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    steps = ["2020-03-01", "2020-06-15", "2020-12-31"]
    ret = model.forward_run(return_options={"q_domain": True, "rr_states": True, "internal_fluxes": True,
                                            "time_step": steps})
    ds = model.to_xarray(ret)
    assert [str(t)[:10] for t in ds.time_step.values] == steps
    # The discharge of every cell at the gauges' cells is the gauges' discharge at those steps.
    rows, cols = np.asarray(model.mesh.gauge_pos).T
    step_index = [np.flatnonzero(ds.time.values == t)[0] for t in ds.time_step.values]
    assert np.array_equal(ds.q_domain.values[:, rows, cols].T, model.response.q[:, step_index])
    # The states saved at the last step are the final states.
    active = model.mesh.active_cell == 1
    assert np.array_equal(ds.rr_state_hp.values[-1][active], model.get_rr_final_states("hp")[active])
    assert np.all(np.isnan(ds.rr_state_hp.values[:, ~active]))
    assert {f"flux_{name}" for name in model.structure.fluxes} <= set(ds.data_vars)
    path = tmp_path / "run.nc"
    smash.io.save_netcdf(model, path, outputs=ret)
    back = smash.io.read_netcdf(path)
    assert np.array_equal(back.q_domain.values, ds.q_domain.values, equal_nan=True)
    assert np.array_equal(back.time_step.values, ds.time_step.values)
    with pytest.raises(ValueError, match="holds no saved series"):
        model.to_xarray(model.forward_run(return_options={"cost": True}))
