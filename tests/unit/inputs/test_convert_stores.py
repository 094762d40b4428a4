"""smash.io.convert_forcings from a NetCDF / Zarr store: a catchment's store extracted from a "national" one
(synthetic forcings on Cance's mesh, the catchment of its gauge V3515010 made by generate_mesh on its own
grid) gives the catchment's model the forcings, discharge and gradient of the national store bit for bit;
the period kept, the copy without a mesh, unit conversion and the errors; and a catchment of a hand-made
mesh in a synthetic grid, without the shared data."""

import datetime as dt
import functools

import numpy as np
import pytest

import smash
from smash import _testing
from smash.drainage.network import model_cell_order

from helpers import line_mesh

xr = pytest.importorskip("xarray", reason="the netcdf extra (xarray, h5netcdf, zarr) is not installed")

START, END = "2014-09-15 00:00", "2014-09-18 00:00"   # 72 hourly steps


@functools.cache
def _meshes(data_dir):
    """(Cance's setup, Cance's mesh: the national one, the catchment of its gauge V3515010 on its own grid)."""
    setup, national = smash.factory.load_dataset("Cance", path=data_dir)
    catchment = smash.factory.generate_mesh(data_dir / "France_flwdir.tif", x=[826553], y=[6467115], area=[107e6],
                                            code=["V3515010"])
    return setup, national, catchment


def _engine(path):
    return "zarr" if str(path).endswith(".zarr") else None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("convert_stores")


@functools.cache
def _national(data_dir, folder, name, layout, chunk_steps=12):
    """The national store (prcp and pet, Cance's grid or its cells in its model's order)."""
    _, national, _ = _meshes(data_dir)
    return smash.factory.generate_forcing_store(national, folder / name, START, END, seed=11, chunk_steps=chunk_steps,
                                                mean_rain_per_day=40.0, layout=layout)


def _setup(data_dir, **changes):
    setup, _, _ = _meshes(data_dir)
    setup = dict(setup, start_time=START, end_time=END, read_descriptor=False, daily_interannual_pet=False,
                 qobs_directory=str(data_dir / "Cance" / "qobs"))
    return dict(setup, **changes)


def _chunks(variable):
    """A variable's chunk shape (Zarr's encoding names it chunks, NetCDF's chunksizes)."""
    return tuple(variable.encoding.get("chunks") or variable.encoding["chunksizes"])


def _grid_values(path, kind, mesh, national):
    """The national grid store's values at `mesh`'s active cells in a model's order, read by xarray alone."""
    with xr.open_dataset(path, engine=_engine(path)) as ds:
        grid = ds[kind].values
    row_off = round((national["ymax"] - mesh["ymax"]) / mesh["yres"])
    col_off = round((mesh["xmin"] - national["xmin"]) / mesh["xres"])
    rows, cols = np.divmod(model_cell_order(mesh), mesh["ncol"])
    return grid[:, rows + row_off, cols + col_off]


@pytest.mark.parametrize(("layout", "source", "target"), [("grid", "zarr", "zarr"), ("cells", "nc", "zarr"),
                                                          ("grid", "nc", "nc")])
def test_catchment_store_gives_the_national_store_model(data_dir, folder, layout, source, target):
    """The catchment's store holds its cells in its model's order (read without a gather): the national grid's
    values there; streamed or held, the catchment's model gets the same windows, discharge and gradient
    from it as from the national store (a grid, or national cells read by a gather)."""
    from smash.inputs import stores
    from smash.simulation.model_setup import normalize_setup

    _, national, catchment = _meshes(data_dir)
    src = _national(data_dir, folder, f"national_{layout}.{source}", layout)
    grid_src = _national(data_dir, folder, "national_grid.zarr", "grid")
    paths = {f"{kind}_directory": smash.io.convert_forcings(src, str(folder / f"catchment_{layout}_{kind}.{target}"),
                                                           kind, mesh=catchment, chunk_steps=10)
             for kind in ("prcp", "pet")}
    order = model_cell_order(catchment)
    with xr.open_dataset(paths["prcp_directory"], engine=_engine(target)) as ds:
        assert ds["prcp"].dims == ("time", "cell") and ds["prcp"].shape == (72, catchment["nac"])
        assert ds["prcp"].attrs["units"] == "mm" and _chunks(ds["prcp"])[0] == 10
        assert np.array_equal(ds["prcp"].values, _grid_values(grid_src, "prcp", catchment, national))
        rows, cols = np.divmod(order, catchment["ncol"])
        assert np.allclose(ds["x"].values, catchment["xmin"] + (cols + 0.5) * catchment["xres"])
        assert np.allclose(ds["y"].values, catchment["ymax"] - (rows + 0.5) * catchment["yres"])
    base = _setup(data_dir)
    ref_setup = dict(base, prcp_directory=src, pet_directory=src)
    got_setup = dict(base, **paths)
    ref_series = stores.StoreSeries(normalize_setup(ref_setup), catchment, "prcp", cells=order)
    got_series = stores.StoreSeries(normalize_setup(got_setup), catchment, "prcp", cells=order)
    assert got_series.in_order and not ref_series.in_order
    for first in range(0, 72, 9):
        assert np.array_equal(got_series.read(first, 9), ref_series.read(first, 9))
    held = smash.Model(ref_setup, catchment)
    extracted_held = smash.Model(got_setup, catchment)
    for kind in ("prcp", "pet"):
        assert np.array_equal(getattr(held.atmos_data, kind), getattr(extracted_held.atmos_data, kind)), kind
    streamed = [smash.Model(dict(s, forcing_storage="stream", forcing_window=8), catchment)
                for s in (ref_setup, got_setup)]
    assert _testing.forcing_stream(streamed[1]).source.by_kind["prcp"].series.in_order
    for model in [held, *streamed]:
        model.forward_run()
    assert held.response.q.max() > 0
    for model in streamed:
        assert np.array_equal(held.response.q, model.response.q)
        assert np.array_equal(held.rr_final_states.values, model.rr_final_states.values)
    ref, got = (m.backward_run(mapping="distributed", return_options={"cost": True, "grad": True}) for m in streamed)
    assert np.isfinite(ref.cost) and np.abs(ref.grad).max() > 0
    assert ref.cost == got.cost and np.array_equal(ref.grad, got.grad)


def test_the_period_is_kept_window_by_window(data_dir, folder, monkeypatch):
    """start_time / end_time keep the store's steps ending within (start_time, end_time] (a start inside a
    step keeps the step ending after it), read `chunk_steps` steps at a time; a model of the period reads the
    same forcings from it as from the national store."""
    from smash.inputs import stores

    _, national, catchment = _meshes(data_dir)
    src = _national(data_dir, folder, "national_grid.zarr", "grid")
    reads = []
    read = stores.StoreSeries.read
    monkeypatch.setattr(stores.StoreSeries, "read", lambda self, first, count, out=None:
                        reads.append((first, count)) or read(self, first, count, out))
    dst = smash.io.convert_forcings(src, str(folder / "period.zarr"), "prcp", start_time="2014-09-15 05:30",
                                    end_time="2014-09-17 02:00", chunk_steps=8, mesh=catchment)
    monkeypatch.undo()
    expected_times = np.arange(np.datetime64("2014-09-15T06:00"), np.datetime64("2014-09-17T03:00"),
                               np.timedelta64(1, "h"))
    assert reads == [(first, min(8, 45 - first)) for first in range(0, 45, 8)]
    with xr.open_zarr(dst) as ds:
        assert np.array_equal(ds["time"].values.astype("datetime64[m]"), expected_times)
        assert np.array_equal(ds["prcp"].values, _grid_values(src, "prcp", catchment, national)[5:50])
    setup = _setup(data_dir, start_time="2014-09-15 05:00", end_time="2014-09-17 02:00", read_pet=False)
    ref = smash.Model(dict(setup, prcp_directory=src), catchment)
    got = smash.Model(dict(setup, prcp_directory=dst), catchment)
    assert ref.setup.ntime_step == 45 and np.array_equal(ref.atmos_data.prcp, got.atmos_data.prcp)


def test_a_store_copied_without_a_mesh_is_rechunked(data_dir, folder):
    """Without a mesh: a NetCDF grid store of one chunk to a Zarr store of 24-step chunks on the same grid and
    CRS, and a store of cells copied with its cells; the same values, read by xarray."""
    _, national, catchment = _meshes(data_dir)
    src = _national(data_dir, folder, "national_whole.nc", "grid", chunk_steps=72)
    dst = smash.io.convert_forcings(src, str(folder / "copy.zarr"), "pet")
    with xr.open_dataset(src) as a, xr.open_zarr(dst) as b:
        assert _chunks(a["pet"])[0] == 72 and _chunks(b["pet"]) == (24, 28, 28)
        for name in ("x", "y", "time"):
            assert np.array_equal(a[name].values, b[name].values), name
        assert b["crs"].attrs["crs_wkt"] == a["crs"].attrs["crs_wkt"] and "Lambert" in a["crs"].attrs["crs_wkt"]
        assert np.array_equal(a["pet"].values, b["pet"].values, equal_nan=True)
        assert np.isnan(b["pet"].values[:, ~national["active_cell"].astype(bool)]).all()
    cells = _national(data_dir, folder, "national_cells.zarr", "cells")
    copy = smash.io.convert_forcings(cells, str(folder / "cells_copy.nc"), "prcp", chunk_steps=30)
    with xr.open_zarr(cells) as a, xr.open_dataset(copy) as b:
        assert b["prcp"].dims == ("time", "cell") and _chunks(b["prcp"]) == (30, national["nac"])
        for name in ("x", "y", "time", "prcp"):
            assert np.array_equal(a[name].values, b[name].values), name
    setup = _setup(data_dir)
    ref = smash.Model(dict(setup, prcp_directory=src, pet_directory=src), catchment)
    got = smash.Model(dict(setup, prcp_directory=copy, pet_directory=dst), catchment)
    for kind in ("prcp", "pet"):
        assert np.array_equal(getattr(ref.atmos_data, kind), getattr(got.atmos_data, kind)), kind


def _hand_made(path, times, variables, mesh, south_up=False, fill=None):
    """A CF NetCDF file of `variables` (name -> (values (time, y, x), attributes)) on `mesh`'s grid; `fill`:
    name -> its _FillValue."""
    x = mesh["xmin"] + (np.arange(mesh["ncol"]) + 0.5) * mesh["xres"]
    y = mesh["ymax"] - (np.arange(mesh["nrow"]) + 0.5) * mesh["yres"]
    flip = slice(None, None, -1) if south_up else slice(None)
    data = {name: (("time", "y", "x"), values[:, flip], attrs) for name, (values, attrs) in variables.items()}
    ds = xr.Dataset(data, coords={"time": np.array(times, dtype="datetime64[ns]"), "y": y[flip], "x": x})
    ds.to_netcdf(path, encoding={name: {"_FillValue": value} for name, value in (fill or {}).items()})
    return str(path)


def test_units_packing_and_missing_values_follow_the_model(data_dir, tmp_path):
    """A list of two NetCDF files (rows south to north), a step absent: precipitation in tenths of mm as int16
    with a fill value, temperature in K; the catchment's store holds mm and degC (units written so), NaN where
    missing (the absent step, with a warning), and a model reads the same forcings from it as from the files."""
    _, national, catchment = _meshes(data_dir)
    rows, cols = np.divmod(model_cell_order(catchment), catchment["ncol"])
    rows, cols = rows + 1, cols + 1   # the catchment's grid starts a row and a column into Cance's
    rng = np.random.default_rng(8)
    shape = (48, national["nrow"], national["ncol"])
    tenths = rng.integers(0, 300, shape).astype(np.int16)
    tenths[5, rows[3], cols[3]] = -9999
    kelvin = (280 + 5 * rng.random(shape)).astype(np.float32)
    times = [dt.datetime(2014, 9, 15, 1) + dt.timedelta(hours=h) for h in range(48)]
    kept = [np.delete(np.arange(24), 6), np.arange(24, 48)]   # step 7 (07:00) absent from the first file
    files = [_hand_made(tmp_path / f"part{i}.nc", [times[t] for t in steps],
                        {"prcp": (tenths[steps], {"units": "0.1 mm"}), "temp": (kelvin[steps], {"units": "K"})},
                        national, south_up=True, fill={"prcp": np.int16(-9999)})
             for i, steps in enumerate(kept)]
    with pytest.warns(UserWarning, match=r"(?s)convert_forcings: .*Missing steps: 1 model step.*written as "
                                         r"NaN; first: '2014-09-15 07:00'"):
        prcp = smash.io.convert_forcings(files, str(tmp_path / "prcp.zarr"), "prcp", mesh=catchment)
    with pytest.warns(UserWarning, match="Missing steps"):
        temp = smash.io.convert_forcings(files, str(tmp_path / "temp.zarr"), "temp", mesh=catchment)
    expected_prcp = tenths[:, rows, cols].astype(np.float32) * np.float32(0.1)
    expected_prcp[tenths[:, rows, cols] == -9999] = np.nan
    expected_prcp[6] = np.nan
    expected_temp = kelvin[:, rows, cols] - np.float32(273.15)
    expected_temp[6] = np.nan
    assert np.isnan(expected_prcp).sum() == 1 + catchment["nac"]
    with xr.open_zarr(prcp) as p, xr.open_zarr(temp) as t:
        assert p["prcp"].attrs["units"] == "mm" and t["temp"].attrs["units"] == "degC"
        np.testing.assert_allclose(p["prcp"].values, expected_prcp, rtol=1e-6)
        np.testing.assert_allclose(t["temp"].values, expected_temp, rtol=1e-6)
    setup = _setup(data_dir, end_time="2014-09-17 00:00", read_pet=False)
    with pytest.warns(UserWarning, match="Missing steps"):
        ref = smash.Model(dict(setup, prcp_format="netcdf", prcp_directory=str(tmp_path / "part*.nc")), catchment)
    got = smash.Model(dict(setup, prcp_format="zarr", prcp_directory=prcp), catchment)
    assert np.array_equal(ref.atmos_data.prcp, got.atmos_data.prcp)
    active = catchment["active_cell"].astype(bool)
    assert (ref.atmos_data.prcp[active] == -99).sum() == 1 + catchment["nac"]


def test_bad_input_is_named(data_dir, folder, tmp_path):
    _, national, catchment = _meshes(data_dir)
    src = _national(data_dir, folder, "national_grid.zarr", "grid")
    with pytest.raises(FileNotFoundError, match="is not a folder of GeoTIFF or NetCDF files"):
        smash.io.convert_forcings(str(tmp_path / "nowhere.nc"), str(tmp_path / "o.zarr"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no GeoTIFF or NetCDF file"):
        smash.io.convert_forcings(str(tmp_path / "empty"), str(tmp_path / "o.zarr"))
    (tmp_path / "broken.nc").write_text("not a NetCDF file")
    with pytest.raises(ValueError, match=r"cannot read .*broken.nc as a netcdf store of prcp"):
        smash.io.convert_forcings(str(tmp_path / "broken.nc"), str(tmp_path / "o.zarr"), mesh=catchment)
    with pytest.raises(ValueError, match="dst .* is the source"):
        smash.io.convert_forcings(src, src, mesh=catchment)
    with pytest.raises(ValueError, match=r"national_grid.zarr: no variable named 'snow'"):
        smash.io.convert_forcings(src, str(tmp_path / "o.zarr"), "snow", mesh=catchment)
    with pytest.raises(ValueError, match=r"no time of the store \(2014-09-15 01:00:00 to 2014-09-18 00:00:00, every "
                                         r"3600 s\) within the period \(2015-01-01 00:00:00, "):
        smash.io.convert_forcings(src, str(tmp_path / "o.zarr"), start_time="2015-01-01", mesh=catchment)
    times = [dt.datetime(2014, 9, 15, h) for h in (1, 2, 3)] + [dt.datetime(2014, 9, 15, 4, 30)]
    values = np.zeros((4, national["nrow"], national["ncol"]), np.float32)
    odd = _hand_made(tmp_path / "odd.nc", times, {"prcp": (values, {"units": "mm"})}, national)
    with pytest.raises(ValueError, match=r"time 2014-09-15 04:30:00 of .*odd.nc is not on the store's steps"):
        smash.io.convert_forcings(odd, str(tmp_path / "o.zarr"), mesh=catchment)
    furlongs = _hand_made(tmp_path / "furlongs.nc", times[:3], {"prcp": (values[:3], {"units": "furlongs"})},
                          national)
    with pytest.raises(ValueError, match="furlongs.nc: units 'furlongs' of prcp are not understood"):
        smash.io.convert_forcings(furlongs, str(tmp_path / "o.zarr"), mesh=catchment)
    # A national store five rows short at the top: the catchment's cells in those rows are not covered.
    cut = dict(national, nrow=national["nrow"] - 5, ymax=national["ymax"] - 5 * national["yres"],
               active_cell=national["active_cell"][5:])
    short = smash.factory.generate_forcing_store(cut, tmp_path / "short.zarr", START, "2014-09-15 03:00",
                                                 kinds=("prcp",))
    rows = np.divmod(model_cell_order(catchment), catchment["ncol"])[0] + 1
    with pytest.raises(ValueError, match=f"short.zarr does not cover {np.count_nonzero(rows < 5)} of the mesh's "
                                         f"{catchment['nac']} active cells"):
        smash.io.convert_forcings(short, str(tmp_path / "o.zarr"), mesh=catchment)
    assert not (tmp_path / "o.zarr").exists()


def test_a_catchment_store_without_data_files(tmp_path):
    """The same without the shared data: a 1 x 4 mesh (tests/helpers.line_mesh) inside a 3 x 6 "national"
    grid store; the catchment's store holds the grid's values at its cells, and the streamed model's
    discharge from it is the national store's bit for bit."""
    mesh = line_mesh(4)
    national = {"nrow": 3, "ncol": 6, "xmin": -2000.0, "ymax": 2000.0, "xres": 1000.0, "yres": 1000.0}
    src = smash.factory.generate_forcing_store(national, tmp_path / "national.zarr", "2020-01-01", "2020-01-03",
                                               seed=2, chunk_steps=12, mean_rain_per_day=30.0)
    paths = {f"{kind}_directory": smash.io.convert_forcings(src, str(tmp_path / f"{kind}.zarr"), kind, mesh=mesh,
                                                           chunk_steps=8) for kind in ("prcp", "pet")}
    with xr.open_zarr(src) as grid, xr.open_zarr(paths["prcp_directory"]) as cells:
        rows, cols = np.divmod(model_cell_order(mesh), 4)
        assert np.array_equal(cells["prcp"].values, grid["prcp"].values[:, rows + 1, cols + 2])
    setup = {"start_time": "2020-01-01 00:00", "end_time": "2020-01-03 00:00", "dt": 3600, "read_prcp": True,
             "read_pet": True, "daily_interannual_pet": False, "forcing_storage": "stream", "forcing_window": 8}
    ref = smash.Model(dict(setup, prcp_directory=src, pet_directory=src), mesh)
    got = smash.Model(dict(setup, **paths), mesh)
    for model in (ref, got):
        model.forward_run()
    assert ref.response.q.max() > 0 and np.array_equal(ref.response.q, got.response.q)
