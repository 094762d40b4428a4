"""Issue 19, forcings and observations: bad files and values give an error naming the bad thing, or a
warning and a finite, correct result; no non-finite forcing reaches the model states."""

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import Affine

import smash
from smash.inputs.atmos import HOURLY_PET_RATIO, plausible_max, read_atmos
from smash.registry import module_names

from helpers import ANCHOR_REFS, daily_setup, line_mesh

ANCHOR = ANCHOR_REFS / "Lez" / "input_checks.json"


# ---------------------------------------------------------------- setup values

def _anchor(case):
    return json.loads(ANCHOR.read_text())[case]


@pytest.mark.parametrize("value", [0, -1, "abc", None])
@pytest.mark.parametrize("kind", ["prcp", "pet", "snow"])
def test_bad_conversion_factor_names_the_key(kind, value):
    key = f"{kind}_conversion_factor"
    # The exception type smash 1.3 raises for the prcp factor (measured, tools/anchor_refs/make_input_checks.py).
    expected = {"TypeError": TypeError, "ValueError": ValueError}[_anchor(f"prcp_conversion_factor={value!r}")["error"]]
    with pytest.raises(expected, match=key):
        smash.Model(daily_setup(10, **{key: value}), line_mesh(4))


@pytest.mark.parametrize("key, value", [("read_prcp", "False"), ("read_prcp", "True"), ("adjust_interception", "False"),
                                        ("compute_mean_atmos", "False"), ("sparse_storage", "False"),
                                        ("daily_interannual_pet", "False")])
def test_string_flag_is_refused_naming_the_key(key, value):
    assert _anchor(f"{key}={value!r}")["error"] == "TypeError"  # smash 1.3 refuses it too
    with pytest.raises(TypeError, match=key):
        smash.Model(daily_setup(10, **{key: value}), line_mesh(4))


def test_integer_read_flags_are_accepted_as_smash_does():
    assert _anchor("read_prcp=0")["accepted"]
    model = smash.Model(daily_setup(10, read_prcp=0, read_pet=0), line_mesh(4))
    assert model.setup.read_prcp == 0


# ------------------------------------------------- assigned forcings, every structure

def _structures():
    out = [("zero", hydro, "lr") for hydro in module_names("hydrological")]
    out += [("ssn", "gr4", "lr")] + [("zero", "gr4", routing) for routing in module_names("routing") if routing != "lr"]
    return out


def _forced_model(structure, prcp, pet, snow=None, temp=None):
    snow_module, hydro, routing = structure
    model = smash.Model(daily_setup(30, snow_module=snow_module, hydrological_module=hydro,
                                    routing_module=routing), line_mesh(4))
    model.atmos_data.prcp = prcp
    model.atmos_data.pet = pet
    if snow_module != "zero":
        model.atmos_data.snow = snow
        model.atmos_data.temp = temp
    return model


def _bad_forcings(seed=1):
    rng = np.random.default_rng(seed)
    prcp = rng.gamma(0.6, 10.0, size=(1, 4, 30)).astype(np.float32)
    pet = np.full((1, 4, 30), 2.0, dtype=np.float32)
    snow = rng.gamma(0.3, 5.0, size=(1, 4, 30)).astype(np.float32)
    temp = rng.normal(1.0, 4.0, size=(1, 4, 30)).astype(np.float32)
    prcp[0, 1, 3], prcp[0, 2, 8], prcp[0, :, 12] = np.nan, np.inf, -np.inf
    prcp[0, 3, 5] = -4.0
    pet[0, 0, 4], pet[0, :, 20:25] = np.nan, -1.0
    snow[0, 2, 6] = np.nan
    temp[0, 1, 7] = np.inf
    return prcp, pet, snow, temp


def test_non_finite_assigned_forcings_with_sparse_storage():
    prcp, pet, _, _ = _bad_forcings()
    model = smash.Model(daily_setup(30, sparse_storage=True), line_mesh(4))
    with pytest.warns(UserWarning, match=r"6 NaN or inf value"):
        model.atmos_data.prcp = prcp
    model.atmos_data.pet = np.where(np.isfinite(pet), pet, -99.0)
    model.forward_run()
    assert np.isfinite(model.response.q).all() and np.isfinite(model.get_rr_final_states("hi")).all()
    assert model.atmos_data.prcp[0, 1, 3] == -99.0


@pytest.mark.parametrize("structure", _structures(), ids="-".join)
def test_non_finite_assigned_forcings_never_reach_the_states(structure):
    prcp, pet, snow, temp = _bad_forcings()
    with pytest.warns(UserWarning, match=r"NaN or inf value\(s\) on active cells are taken as missing"):
        model = _forced_model(structure, prcp, pet, snow, temp)
    model.forward_run()
    assert np.isfinite(model.response.q).all()
    for name in model.rr_final_states.keys:
        assert np.isfinite(model.get_rr_final_states(name)).all(), name
    # A NaN or inf is exactly a -99 (missing) value.
    clean = [np.where(np.isfinite(a), a, np.float32(-99.0)) for a in (prcp, pet, snow, temp)]
    reference = _forced_model(structure, *clean)
    reference.forward_run()
    assert np.array_equal(model.response.q, reference.response.q)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), share=st.floats(0.0, 0.6),
       structure=st.sampled_from(_structures()))
def test_random_missing_patterns_keep_states_finite(seed, share, structure):
    rng = np.random.default_rng(seed)
    prcp, pet, snow, temp = (a.copy() for a in _bad_forcings(seed))
    for series in (prcp, pet, snow, temp):
        holes = rng.random(series.shape) < share
        series[holes] = rng.choice(np.array([np.nan, np.inf, -np.inf, -99.0, -0.5], dtype=np.float32),
                                   size=int(holes.sum()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = _forced_model(structure, prcp, pet, snow, temp)
    model.forward_run()
    assert np.isfinite(model.response.q).all()
    for name in model.rr_final_states.keys:
        assert np.isfinite(model.get_rr_final_states(name)).all(), name


def test_implausible_assigned_rain_warns():
    prcp, pet, _, _ = _bad_forcings()
    prcp, pet = (np.where(np.isfinite(a), a, 0.0).astype(np.float32) for a in (prcp, pet))
    prcp[0, 2, 9] = 1e30
    with pytest.warns(UserWarning, match=r"1 value\(s\) above the plausible"):
        _forced_model(("zero", "gr4", "lr"), prcp, pet)


# ------------------------------------------------------------------- Lez files

LEZ_PERIOD = ("2012-10-01", "2012-11-30")   # holds the autumn floods


def _lez(data_dir, tmp_path, period=LEZ_PERIOD, kinds=("prcp", "pet")):
    """Lez setup over `period` reading copies of its files in tmp_path (to be spoiled by a test)."""
    base = data_dir / "Lez"
    setup = smash.io.read_setup(str(base / "setup_Lez.yaml"))
    mesh = smash.io.read_mesh(str(base / "mesh_Lez.hdf5"))
    setup.update(start_time=period[0], end_time=period[1], read_descriptor=False, read_qobs=True,
                 qobs_directory=str(base / "qobs"))
    first = dt.datetime.fromisoformat(period[0])
    last = dt.datetime.fromisoformat(period[1]) + dt.timedelta(days=1)
    for kind in kinds:
        target = tmp_path / kind
        target.mkdir()
        for path in sorted((base / kind).rglob("*.tif")):
            stamp = dt.datetime.strptime(path.name[:8], "%Y%m%d")
            if first <= stamp <= last:
                shutil.copy(path, target / path.name)
        setup[f"{kind}_directory"] = str(target)
    return setup, mesh


def _file_of(directory, day):
    return next(Path(directory).glob(f"{day}*.tif"))


def _rewrite(path, change, **profile_changes):
    with rasterio.open(path) as src:
        values, profile = src.read(1), src.profile
    profile.update(profile_changes)
    values = change(values.astype(profile["dtype"]))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def _run(setup, mesh):
    model = smash.Model(setup, mesh)
    model.forward_run()
    return model


def _active_value(values, mesh, set_to):
    row, col = np.argwhere(np.asarray(mesh["active_cell"]) == 1)[5]
    values = values.copy()
    values[row, col] = set_to
    return values


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rain_in_a_geotiff_is_missing_and_warned(data_dir, tmp_path, bad):
    setup, mesh = _lez(data_dir, tmp_path)
    path = _file_of(setup["prcp_directory"], "20121019")
    untouched_peak = _run(setup, mesh).response.q.max()
    _rewrite(path, lambda v: _active_value(v, mesh, bad))
    with pytest.warns(UserWarning, match=r"(?s)Reading precipitation.*1 NaN or inf.*2012-10-19"):
        model = _run(setup, mesh)
    for name in model.rr_final_states.keys:
        assert np.isfinite(model.get_rr_final_states(name)).all(), name
    assert np.isfinite(model.response.q).all()
    # The same run with that value written as -99 (missing): the same discharge.
    _rewrite(path, lambda v: np.where(np.isfinite(v), v, np.float32(-99.0)))
    reference = _run(setup, mesh)
    assert np.array_equal(model.response.q, reference.response.q)
    # One cell-day of rain less: the flood is still there (a NaN spread through the interception
    # store cut the year's peak from 17.9 to 1.3 m3/s).
    assert 0.95 * untouched_peak < model.response.q.max() <= untouched_peak


def test_nan_nodata_is_missing(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    path = _file_of(setup["prcp_directory"], "20121019")
    _rewrite(path, lambda v: _active_value(v, mesh, np.nan), nodata=np.nan)
    with pytest.warns(UserWarning, match=r"(?s)Missing values: 1 value.*1 nodata.*2012-10-19"):
        model = _run(setup, mesh)
    assert np.isfinite(model.get_rr_final_states("hi")).all()
    assert model.atmos_data.prcp[..., 17].min() == -99.0


def test_negative_pet_is_counted(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    nac = int(np.asarray(mesh["active_cell"]).sum())
    for day in ("20121010", "20121011"):
        _rewrite(_file_of(setup["pet_directory"], day), lambda v: -np.abs(v) - 1.0)
    with pytest.warns(UserWarning, match=rf"(?s)Reading potential evapotranspiration.*{2 * nac} negative.*"
                                         r"2012-10-10 00:00, 2012-10-11 00:00"):
        smash.Model(setup, mesh)


def test_implausible_rain_in_a_file_warns(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    _rewrite(_file_of(setup["prcp_directory"], "20121020"), lambda v: _active_value(v, mesh, 1e30))
    bound = plausible_max("prcp", 86400)
    assert 1800 < bound < 2000   # the 24 h world record is 1 825 mm
    with pytest.warns(UserWarning, match=r"(?s)Implausible values: 1 value.*2012-10-20"):
        smash.Model(setup, mesh)


def test_implausible_interannual_pet_counted_per_hour(data_dir, tmp_path):
    """An interannual PET map implausibly large everywhere (100 mm a day): the hours whose share of it
    exceeds the hourly bound are counted on every cell (the steps of a day are checked only where the day's
    largest value could exceed it)."""
    setup, mesh = smash.factory.load_dataset("Cance", path=str(data_dir))
    pet_dir = tmp_path / "pet"
    shutil.copytree(setup["pet_directory"], pet_dir)
    setup = dict(setup, pet_directory=str(pet_dir), start_time="2014-09-15 00:00", end_time="2014-09-17 00:00",
                 read_prcp=False)
    factor = setup.get("pet_conversion_factor", 1.0)
    _rewrite(_file_of(pet_dir, "0915"), lambda v: np.where(v >= 0, np.float32(100.0 / factor), v))
    bound = plausible_max("pet", 3600)
    # The 24 steps ending 2014-09-16 01:00 .. 2014-09-17 00:00 take the 09-15 map.
    hours = sum(100.0 * ratio > bound for ratio in HOURLY_PET_RATIO)
    assert 0 < hours < 24
    nac = int(np.asarray(mesh["active_cell"]).sum())
    with pytest.warns(UserWarning, match=rf"(?s)Implausible values: {hours * nac} value\(s\).*2014-09-16"):
        model = smash.Model(setup, mesh)
    assert (model.atmos_data.pet[np.asarray(mesh["active_cell"]) == 1] > bound).sum() == hours * nac


def _shifted_copy(path, extra_cols):
    """The raster padded with `extra_cols` -99 columns on the west: the same cells on another grid."""
    with rasterio.open(path) as src:
        values, profile = src.read(1), src.profile
    padded = np.concatenate([np.full((values.shape[0], extra_cols), profile["nodata"], dtype=values.dtype), values],
                            axis=1)
    t = profile["transform"]
    profile.update(width=padded.shape[1], transform=Affine(t.a, 0, t.c - extra_cols * t.a, 0, t.e, t.f))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(padded, 1)


def _finer_copy(path):
    """The raster at half the resolution (every cell split in 2 x 2): nearest resampling gives it back."""
    with rasterio.open(path) as src:
        values, profile = src.read(1), src.profile
    fine = np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)
    t = profile["transform"]
    profile.update(width=fine.shape[1], height=fine.shape[0], transform=Affine(t.a / 2, 0, t.c, 0, t.e / 2, t.f))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(fine, 1)


@pytest.mark.parametrize("spoil", ["shifted", "finer"])
def test_file_on_another_grid_mid_series_is_placed_by_its_header(data_dir, tmp_path, spoil):
    setup, mesh = _lez(data_dir, tmp_path)
    setup["read_qobs"] = False
    normalized = smash.simulation.model_setup.normalize_setup(setup)
    expected = read_atmos(normalized, mesh, "prcp")
    path = _file_of(setup["prcp_directory"], "20121019")
    if spoil == "shifted":
        # One column more on the west, one less on the east: the size of the others, another origin
        # (only the header tells). Read as if aligned, every cell would get its western neighbour's value.
        _shifted_copy(path, 1)
        _rewrite_block(path, lambda v: v[:, :-1])
        expected[17][:, -1] = -99.0   # now outside the raster
    else:
        _finer_copy(path)
    with pytest.warns(UserWarning, match=rf"(?s)Grid mismatch: 1 file.*{path.name}"):
        got = read_atmos(normalized, mesh, "prcp")
    assert np.array_equal(got, expected)


def _rewrite_block(path, cut):
    with rasterio.open(path) as src:
        values, profile = np.ascontiguousarray(cut(src.read(1))), src.profile
    profile.update(width=values.shape[1], height=values.shape[0])
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def test_file_in_another_crs_mid_series_is_refused(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    path = _file_of(setup["prcp_directory"], "20121019")
    _rewrite(path, lambda v: v, crs="EPSG:32631")
    with pytest.raises(ValueError, match=rf"{path.name}.*EPSG:32631"):
        smash.Model(setup, mesh)


def test_truncated_geotiff_is_named(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    path = _file_of(setup["prcp_directory"], "20121019")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(OSError, match=path.name):
        smash.Model(setup, mesh)


def test_two_files_of_one_date_are_refused(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    path = _file_of(setup["prcp_directory"], "20121019")
    twin = path.with_name("copy_" + path.name)
    shutil.copy(path, twin)
    with pytest.raises(ValueError, match=rf"(?s)same date 2012-10-19.*{path.name}.*{twin.name}"):
        smash.Model(setup, mesh)


def test_hourly_model_over_daily_files_is_refused_naming_both_steps(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    setup["dt"] = 3600
    with pytest.raises(ValueError, match=r"(?s)86400 s \(1 day\) apart.*coarser.*dt = 3600 s \(1 hour\)"):
        smash.Model(setup, mesh)


def test_mesh_origin_off_the_raster_grid_warns(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    mesh = dict(mesh, xmin=float(mesh["xmin"]) + 400.0)
    with pytest.warns(UserWarning, match="Overlap mismatch"):
        model = _run(setup, mesh)
    assert np.isfinite(model.response.q).all()


# ------------------------------------------------------- sub-step files (Cance)

def _cance(data_dir, start, end, dt_seconds):
    base = data_dir / "Cance"
    setup = smash.io.read_setup(str(base / "setup_Cance.yaml"))
    mesh = smash.io.read_mesh(str(base / "mesh_Cance.hdf5"))
    setup.update(start_time=start, end_time=end, dt=dt_seconds, read_descriptor=False, read_qobs=False,
                 prcp_directory=str(base / "prcp"), pet_directory=str(base / "pet"))
    return smash.simulation.model_setup.normalize_setup(setup), mesh


def test_daily_model_sums_hourly_files(data_dir):
    daily_setup_, mesh = _cance(data_dir, "2014-11-01", "2014-11-05", 86400)
    hourly_setup, _ = _cance(data_dir, "2014-11-01", "2014-11-05", 3600)
    hourly = read_atmos(hourly_setup, mesh, "prcp")
    daily = read_atmos(daily_setup_, mesh, "prcp")
    assert daily.shape[0] == 4
    valid = (hourly >= 0).reshape(4, 24, *hourly.shape[1:]).all(axis=1)
    expected = np.where(valid, hourly.reshape(4, 24, *hourly.shape[1:]).sum(axis=1, dtype=np.float64), -9.9)
    np.testing.assert_allclose(daily, expected, rtol=1e-6, atol=1e-4)
    assert (daily[valid] > 0).any()


def test_daily_model_with_an_hourly_file_missing_leaves_the_day_missing(data_dir, tmp_path):
    setup, mesh = _cance(data_dir, "2014-11-01", "2014-11-03", 86400)
    target = tmp_path / "prcp"
    target.mkdir()
    for path in sorted(Path(setup["prcp_directory"]).rglob("*_201411*.tif")):
        stamp = path.name.split("_")[2]
        if "201411010100" <= stamp <= "201411030000" and stamp != "201411021200":
            shutil.copy(path, target / path.name)
    setup["prcp_directory"] = str(target)
    with pytest.warns(UserWarning, match=r"(?s)Incomplete steps: 1 model step.*24 sub-step.*2014-11-03 00:00"):
        daily = read_atmos(setup, mesh, "prcp")
    assert (daily[1] < 0).all() and (daily[0] >= 0).any()


# ------------------------------------------------------------ observation names

def test_ambiguous_observation_files_are_refused(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path, kinds=())
    qobs = tmp_path / "qobs"
    qobs.mkdir()
    for code in ("Y3204010", "Y3204030", "Y3204040"):
        shutil.copy(data_dir / "Lez" / "qobs" / f"{code}.csv", qobs / f"{code}.csv")
    shutil.copy(data_dir / "Lez" / "qobs" / "Y3204030.csv", qobs / "A_Y3204040_old.csv")
    setup.update(qobs_directory=str(qobs), read_prcp=False, read_pet=False)
    with pytest.raises(ValueError, match=r"Y3204040.*A_Y3204040_old\.csv.*Y3204040\.csv"):
        smash.Model(setup, mesh)


@pytest.mark.parametrize("name", ["prefixed_only", "suffixed_only", "exact_and_suffixed"])
def test_observation_names_smash_accepts(data_dir, tmp_path, name):
    case = _anchor(f"qobs_names:{name}")
    setup, mesh = _lez(data_dir, tmp_path, kinds=())
    setup.update(read_prcp=False, read_pet=False)
    reference = smash.Model(setup, mesh).response_data.q[list(mesh["code"]).index("Y3204040")].copy()
    qobs = tmp_path / "qobs"
    qobs.mkdir()
    target = case["Y3204040_values_from"][0]   # the file smash 1.3 took
    shutil.copy(data_dir / "Lez" / "qobs" / "Y3204040.csv", qobs / target)
    setup["qobs_directory"] = str(qobs)
    if name == "exact_and_suffixed":
        # smash 1.3 took the exact name; two candidates are ambiguous here.
        shutil.copy(data_dir / "Lez" / "qobs" / "Y3204030.csv", qobs / "Y3204040_bis.csv")
        with pytest.raises(ValueError, match="Y3204040_bis.csv"):
            smash.Model(setup, mesh)
        return
    with pytest.warns(UserWarning, match="Missing 2 observed discharge"):
        model = smash.Model(setup, mesh)
    assert np.array_equal(model.response_data.q[list(mesh["code"]).index("Y3204040")], reference)


def test_file_dates_skip_digit_runs_that_are_not_dates(tmp_path):
    from smash.inputs.atmos import files_by_time

    (tmp_path / "radar_12345678_201411231700.tif").touch()
    (tmp_path / "radar_12345678_201411231800.tif").touch()
    assert sorted(files_by_time(tmp_path, "tif", "prcp_directory")) == [
        dt.datetime(2014, 11, 23, 17), dt.datetime(2014, 11, 23, 18)]


def test_header_signature_tells_grids_apart(data_dir, tmp_path):
    from smash.inputs.tiff_header import georeference_signature

    files = sorted((data_dir / "Lez" / "prcp").rglob("*.tif"))[:2]
    assert georeference_signature(files[0]) == georeference_signature(files[1]) is not None
    moved = tmp_path / files[0].name
    shutil.copy(files[0], moved)
    _rewrite(moved, lambda v: v, transform=Affine(1000.0, 0, 762000.0, 0, -1000.0, 6302000.0))
    assert georeference_signature(moved) != georeference_signature(files[0])
    assert georeference_signature(tmp_path / "absent.tif") is None


# ------------------------------------------------ sub-step files on a small grid

def _write_series(folder, mesh, stamps, values_of):
    """One GeoTIFF per stamp on the mesh grid, holding values_of(k) (shape (1, 4))."""
    from smash.inputs.raster import write_mesh_raster

    folder.mkdir(exist_ok=True)
    for k, stamp in enumerate(stamps):
        write_mesh_raster(folder / f"rain_{stamp:%Y%m%d%H%M}.tif", np.asarray(values_of(k), dtype=np.float32), mesh)


def _hourly_setup(folder, kind="prcp", hours=6):
    setup = {"start_time": "2020-01-01 00:00", "end_time": f"2020-01-01 {hours:02d}:00", "dt": 3600,
             f"read_{kind}": True, f"{kind}_directory": str(folder)}
    if kind in ("snow", "temp"):
        setup["snow_module"] = "ssn"
    return smash.simulation.model_setup.normalize_setup(setup)


def test_half_hourly_files_are_summed_per_hour(tmp_path):
    mesh = line_mesh(4)
    start = dt.datetime(2020, 1, 1)
    stamps = [start + dt.timedelta(minutes=30 * k) for k in range(1, 13)]
    rng = np.random.default_rng(0)
    values = rng.gamma(0.5, 2.0, size=(12, 1, 4)).astype(np.float32)
    values[7, 0, 2] = np.nan   # a cell missing in one half hour: missing in its hour (step 3)
    _write_series(tmp_path / "prcp", mesh, stamps, lambda k: values[k])
    with pytest.warns(UserWarning, match=r"(?s)1 NaN or inf.*2020-01-01 04:00"):
        got = read_atmos(_hourly_setup(tmp_path / "prcp"), mesh, "prcp")
    expected = values.reshape(6, 2, 1, 4).sum(axis=1, dtype=np.float64)
    expected[3, 0, 2] = -99.0
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_sub_step_temperature_is_averaged(tmp_path):
    mesh = line_mesh(4)
    start = dt.datetime(2020, 1, 1)
    stamps = [start + dt.timedelta(minutes=15 * k) for k in range(1, 25)]
    values = np.linspace(-12.0, 9.0, 24 * 4, dtype=np.float32).reshape(24, 1, 4)
    _write_series(tmp_path / "temp", mesh, stamps, lambda k: values[k])
    got = read_atmos(_hourly_setup(tmp_path / "temp", "temp"), mesh, "temp")
    np.testing.assert_allclose(got, values.reshape(6, 4, 1, 4).mean(axis=1, dtype=np.float64), rtol=1e-6)


def test_file_step_not_dividing_the_model_step_is_refused(tmp_path):
    mesh = line_mesh(4)
    stamps = [dt.datetime(2020, 1, 1) + dt.timedelta(minutes=40 * k) for k in range(1, 10)]
    _write_series(tmp_path / "prcp", mesh, stamps, lambda k: np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"(?s)2400 s \(40 minutes\) apart.*does not divide.*3600 s \(1 hour\)"):
        read_atmos(_hourly_setup(tmp_path / "prcp"), mesh, "prcp")


def test_a_stray_file_between_the_steps_is_an_error_naming_it(tmp_path):
    mesh = line_mesh(4)
    stamps = [dt.datetime(2020, 1, 1, h) for h in range(1, 7)] + [dt.datetime(2020, 1, 1, 3, 30)]
    _write_series(tmp_path / "prcp", mesh, stamps, lambda k: np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"rain_202001010300\.tif and .*rain_202001010330\.tif are 1800 s"):
        read_atmos(_hourly_setup(tmp_path / "prcp"), mesh, "prcp")


def test_two_files_of_one_day_at_other_hours_are_refused(data_dir, tmp_path):
    setup, mesh = _lez(data_dir, tmp_path)
    path = _file_of(setup["prcp_directory"], "20121019")
    twin = path.with_name(path.name.replace("201210190000", "201210191200"))
    shutil.copy(path, twin)
    with pytest.raises(ValueError, match=rf"{path.name} and .*{twin.name} are 43200 s \(12 hours\) apart"):
        smash.Model(setup, mesh)


def test_rain_product_without_dry_hour_files_keeps_its_step(tmp_path):
    mesh = line_mesh(4)
    hours = [1, 2, 3, 7, 8, 12]   # the dry hours have no file
    _write_series(tmp_path / "prcp", mesh, [dt.datetime(2020, 1, 1, h) for h in hours], lambda k: np.full((1, 4), k))
    setup = _hourly_setup(tmp_path / "prcp", hours=12)
    with pytest.warns(UserWarning, match="Missing files: 6 file"):
        got = read_atmos(setup, mesh, "prcp")
    np.testing.assert_array_equal(got[[h - 1 for h in hours], 0, 0], np.arange(6))


def test_files_off_the_model_clock_are_counted_unused(tmp_path):
    mesh = line_mesh(4)
    stamps = [dt.datetime(2020, 1, 1, h) for h in range(1, 8)]
    _write_series(tmp_path / "prcp", mesh, stamps, lambda k: np.ones((1, 4)))
    setup = _hourly_setup(tmp_path / "prcp")
    setup = smash.simulation.model_setup.normalize_setup(
        {**{k: setup[k] for k in ("dt", "read_prcp", "prcp_directory")},
         "start_time": "2020-01-01 00:30", "end_time": "2020-01-01 06:30"})
    with pytest.warns(UserWarning, match=r"(?s)Missing files: 6 file.*Unused files: 6 file\(s\) in the period"):
        got = read_atmos(setup, mesh, "prcp")
    assert (got == -99.0).all()
