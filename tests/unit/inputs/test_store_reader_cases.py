"""More NetCDF / Zarr store cases of smash.inputs.stores (ported from the unmerged `stores` branch): integer stores
in tenths of mm (a counted unit "0.1 mm", or CF packing with scale_factor) giving the GeoTIFF forcings and discharge
bit for bit, held or streamed; units converted to mm per step; Kelvin temperature; stores finer than the model step
summed into each step (temperature averaged), with the missing and incomplete steps warned about."""

import functools
import glob

import numpy as np
import pytest

import smash
from smash import _testing
from smash.inputs.stores import StoreSeries, read_store
from smash.simulation.model_setup import normalize_setup

xr = pytest.importorskip("xarray", reason="the netcdf extra (xarray, h5netcdf, zarr) is not installed")

MESH = {"nrow": 4, "ncol": 5, "xres": 1000.0, "yres": 1000.0, "xmin": 700000.0, "ymax": 6300000.0, "epsg": 2154}


def _setup(path, dt=3600, end="2020-01-02 00:00", kind="prcp", **extra):
    return normalize_setup({"start_time": "2020-01-01 00:00", "end_time": end, "dt": dt, f"read_{kind}": True,
                            f"{kind}_directory": str(path), **extra})


def _hourly(n, first="2020-01-01T01:00"):
    return (np.datetime64(first) + np.arange(n) * np.timedelta64(1, "h")).astype("datetime64[ns]")


def _write(path, values, times, units, name="prcp", encoding=None):
    x = MESH["xmin"] + 500.0 + 1000.0 * np.arange(values.shape[2])
    y = MESH["ymax"] - 500.0 - 1000.0 * np.arange(values.shape[1])
    ds = xr.Dataset({name: (("time", "y", "x"), values, {"units": units})}, coords={"time": times, "x": x, "y": y})
    if encoding:
        ds[name].encoding.update(encoding)
    if str(path).endswith(".zarr"):
        ds.to_zarr(path, mode="w", consolidated=False)
    else:
        ds.to_netcdf(path, engine="h5netcdf")
    return str(path)


@pytest.mark.parametrize("units, per_step", [("mm", 1.0), ("kg m-2", 1.0), ("mm/h", 1.0), ("mm h-1", 1.0),
                                             ("kg m-2 s-1", 3600.0), ("mm/day", 1 / 24), ("m", 1000.0),
                                             ("0.1 mm", 0.1), ("10 kg m-2", 10.0)])
def test_units_are_converted_to_mm_per_step(tmp_path, units, per_step):
    values = np.random.default_rng(3).gamma(0.5, 0.01, size=(24, 4, 5)).astype(np.float32)
    path = _write(tmp_path / "p.nc", values, _hourly(24), units)
    got = read_store(_setup(path), MESH, "prcp")
    np.testing.assert_allclose(got, values.astype(np.float64) * per_step, rtol=1e-6)


def test_integer_tenths_counted_or_packed_scale_as_geotiff_values(tmp_path):
    """int16 tenths of mm: float32(value) * float32(0.1), the GeoTIFF reading's arithmetic, whether the unit
    counts them ("0.1 mm") or CF packing scales them (scale_factor 0.1, units mm); the fill value is missing."""
    raw = np.random.default_rng(5).integers(0, 400, size=(24, 4, 5)).astype(np.int16)
    raw[3, 1, 2] = -99
    counted = _write(tmp_path / "counted.nc", raw, _hourly(24), "0.1 mm", encoding={"_FillValue": np.int16(-99)})
    tenths = np.where(raw == -99, np.nan, raw * 0.1)
    packed = _write(tmp_path / "packed.zarr", tenths, _hourly(24), "mm",
                    encoding={"dtype": "int16", "scale_factor": 0.1, "_FillValue": np.int16(-99)})
    with xr.open_dataset(packed, engine="zarr", mask_and_scale=False, consolidated=False) as ds:
        assert ds["prcp"].dtype == np.int16 and ds["prcp"].attrs["scale_factor"] == 0.1
    expected = raw.astype(np.float32) * np.float32(0.1)
    expected[3, 1, 2] = -99.0
    for path in (counted, packed):
        np.testing.assert_array_equal(read_store(_setup(path), MESH, "prcp"), expected)


def test_kelvin_temperature_in_a_zarr_store(tmp_path):
    values = (273.15 + np.linspace(-5, 20, 24 * 20).reshape(24, 4, 5)).astype(np.float32)
    path = _write(tmp_path / "t.zarr", values, _hourly(24), "K", name="tas")
    got = read_store(_setup(path, kind="temp", snow_module="ssn"), MESH, "temp")
    np.testing.assert_allclose(got, values.astype(np.float64) - 273.15, atol=1e-4)


def test_hourly_store_summed_into_daily_steps(tmp_path):
    values = np.random.default_rng(1).gamma(0.5, 2.0, size=(72, 4, 5)).astype(np.float32)
    values[50, 2, 3] = np.nan      # a missing hour of day 3 makes that cell missing that day
    keep = np.r_[0:30, 32:72]      # two hours of day 2 absent: the whole step is incomplete
    path = _write(tmp_path / "p.nc", values[keep], _hourly(72)[keep], "mm")
    with pytest.warns(UserWarning, match=r"Incomplete steps: 1 model step\(s\) lack some of their 24 sub-steps"):
        series = StoreSeries(_setup(path, dt=86400, end="2020-01-05"), MESH, "prcp")
    got = series.read(0, 4)
    days = values.reshape(3, 24, 4, 5).astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(got[0].reshape(4, 5), days[0], rtol=1e-6)
    assert (got[1] == -99).all() and (got[3] == -99).all()
    day3 = got[2].reshape(4, 5)
    assert day3[2, 3] == -99
    mask = np.ones((4, 5), dtype=bool)
    mask[2, 3] = False
    np.testing.assert_allclose(day3[mask], days[2][mask], rtol=1e-6)
    # A window equals the whole read's steps.
    np.testing.assert_array_equal(series.read(2, 1), got[2:3])


def test_hourly_temperature_averaged_and_absent_steps_warned(tmp_path):
    values = np.random.default_rng(2).normal(3.0, 4.0, size=(48, 4, 5)).astype(np.float32)
    path = _write(tmp_path / "t.nc", values, _hourly(48), "degC", name="temp")
    with pytest.warns(UserWarning, match=r"Missing steps: 1 model step\(s\) have no time in the store.*2020-01-04"):
        got = read_store(_setup(path, dt=86400, end="2020-01-04", kind="temp", snow_module="ssn"), MESH, "temp")
    expected = values.reshape(2, 24, 4, 5).astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(got[:2], expected, rtol=1e-6, atol=1e-6)
    assert (got[2] == -99).all()


def test_store_coarser_than_the_step_or_not_dividing_it_is_refused(tmp_path):
    values = np.ones((6, 4, 5), dtype=np.float32)
    path = _write(tmp_path / "p.nc", values, _hourly(6), "mm")
    with pytest.raises(ValueError, match=r"p\.nc: its steps are 3600 s apart but the model's dt is 1800 s"):
        StoreSeries(_setup(path, dt=1800), MESH, "prcp")
    times = (np.datetime64("2020-01-01T00:40") + np.arange(6) * np.timedelta64(40, "m")).astype("datetime64[ns]")
    path = _write(tmp_path / "q.nc", values, times, "mm")
    with pytest.raises(ValueError, match="2400 s apart but the model's dt is 3600 s"):
        StoreSeries(_setup(path), MESH, "prcp")


# ------------------------------------------------------------------ Cance: an int16 store of the GeoTIFF tenths

@functools.cache
def _cance(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    return dict(setup, read_descriptor=False, end_time="2014-09-22 00:00"), mesh


def _int16_store(setup, path):
    """The Cance precipitation files (int32 tenths of mm, nodata -99) as one int16 store in "0.1 mm"."""
    import rasterio

    from smash.inputs.atmos import files_by_time
    from smash.time_axis import TimeAxis

    files = files_by_time(setup["prcp_directory"], "tif", "prcp_directory")
    ends = TimeAxis.of(normalize_setup(setup)).end_times()
    stamps = [end for end in ends if end in files]
    grids = []
    for stamp in stamps:
        with rasterio.open(files[stamp]) as raster:
            grids.append(raster.read(1).astype(np.int16))
            transform = raster.transform
    data = np.stack(grids)
    x = transform.c + (np.arange(data.shape[2]) + 0.5) * transform.a
    y = transform.f + (np.arange(data.shape[1]) + 0.5) * transform.e
    ds = xr.Dataset({"prcp": (("time", "y", "x"), data, {"units": "0.1 mm"})},
                    coords={"time": np.array(stamps, dtype="datetime64[ns]"), "x": x, "y": y})
    ds["prcp"].encoding.update({"_FillValue": np.int16(-99), "chunksizes": (24, *data.shape[1:])})
    ds.to_netcdf(path, engine="h5netcdf")
    return str(path)


def test_cance_int16_tenths_store_gives_the_geotiff_discharge_held_and_streamed(data_dir, tmp_path):
    setup, mesh = _cance(data_dir)
    assert glob.glob(f"{setup['prcp_directory']}/**/*.tif", recursive=True)
    tiff = smash.Model(setup, mesh)
    _testing.core_setup(tiff).checkpoint_steps = 12
    store = _int16_store(setup, tmp_path / "prcp_tenths.nc")
    # The store says its unit: the setup's factor for the GeoTIFF tenths (0.1) is not applied again.
    stored = dict(setup, prcp_directory=store)
    held = smash.Model(stored, mesh)
    streamed = smash.Model(dict(stored, forcing_storage="stream", forcing_window=12), mesh)
    assert tiff.atmos_data.prcp.max() > 1
    np.testing.assert_array_equal(held.atmos_data.prcp, tiff.atmos_data.prcp)
    for model in (tiff, held, streamed):
        model.forward_run()
    np.testing.assert_array_equal(held.response.q, tiff.response.q)
    np.testing.assert_array_equal(streamed.response.q, tiff.response.q)
    asked = {"cost": True, "grad": True}
    ref, got = (m.backward_run(mapping="uniform", return_options=asked) for m in (tiff, streamed))
    assert ref.cost == got.cost and np.array_equal(ref.grad, got.grad)
