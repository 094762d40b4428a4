"""Forcings, observations and descriptors against independent rasterio / text reads of the files."""

import datetime as dt
import shutil
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine

import smash
from smash.inputs import read_atmos, read_descriptor, read_qobs
from smash.inputs.atmos import HOURLY_PET_RATIO, interannual_day
from smash.simulation.model_setup import normalize_setup


def _setup_mesh(data_dir, name):
    setup, mesh = smash.factory.load_dataset(name, path=data_dir)
    return normalize_setup(setup), mesh


def _window(path, row, col, nrow, ncol):
    """Independent read: whole band, mesh window, nodata -> -99 (float64)."""
    with rasterio.open(path) as src:
        raw = src.read(1)[row:row + nrow, col:col + ncol]
        nodata = src.nodata
    out = raw.astype(np.float64)
    out[raw == nodata] = -99.0
    return out


@pytest.fixture(scope="module")
def lez(data_dir):
    return _setup_mesh(data_dir, "Lez")


@pytest.fixture(scope="module")
def cance(data_dir):
    return _setup_mesh(data_dir, "Cance")


def test_lez_prcp_uses_the_file_stamped_at_the_step_end(lez, data_dir):
    setup, mesh = lez
    prcp = read_atmos(setup, mesh, "prcp")
    assert prcp.shape == (364, 27, 14) and prcp.dtype == np.float32 and prcp.flags.c_contiguous
    folder = data_dir / "Lez" / "prcp"
    # Step 0 ends 2012-08-02: its file, never the one stamped at start_time (2012-08-01).
    assert np.array_equal(prcp[0], _window(folder / "2012/08/201208020000_PT.tif", 0, 0, 27, 14))
    pet = read_atmos(setup, mesh, "pet")  # both August days are dry: PET tells the files apart
    pet_folder = data_dir / "Lez" / "pet" / "2012" / "08"
    assert np.array_equal(pet[0], _window(pet_folder / "201208020000_ETP.tif", 0, 0, 27, 14))
    assert not np.allclose(pet[0], _window(pet_folder / "201208010000_ETP.tif", 0, 0, 27, 14))
    assert np.array_equal(prcp[-1], _window(folder / "2013/07/201307310000_PT.tif", 0, 0, 27, 14))
    day = (dt.date(2013, 1, 15) - dt.date(2012, 8, 1)).days - 1  # step ending 2013-01-15
    assert np.array_equal(prcp[day], _window(folder / "2013/01/201301150000_PT.tif", 0, 0, 27, 14))


def test_cells_selection_and_threads_give_the_same_values(lez):
    setup, mesh = lez
    cells = np.flatnonzero(mesh["active_cell"].ravel() == 1)
    full = read_atmos(setup, mesh, "pet")
    picked = read_atmos(setup, mesh, "pet", cells=cells, ncpu=2)
    assert picked.shape == (364, 172) and picked.flags.c_contiguous
    assert np.array_equal(picked, full.reshape(364, -1)[:, cells])
    assert np.all(picked > 0)  # Lez PET has no gap


def test_cance_prcp_window_offset_nodata_and_factor(cance, data_dir):
    setup, mesh = cance
    prcp = read_atmos(setup, mesh, "prcp")
    assert prcp.shape == (1440, 28, 28)
    folder = data_dir / "Cance" / "prcp"
    nodata_seen = set()
    for t in (0, 12, 700, 1439):
        end = dt.datetime(2014, 9, 15) + dt.timedelta(hours=t + 1)
        stamp = end.strftime("%Y%m%d%H%M")
        path = folder / end.strftime("%Y/%m/%d") / f"rain_precipitation_{stamp}_{stamp}.tif"
        with rasterio.open(path) as src:
            nodata_seen.add(src.nodata)
        expected = _window(path, 6, 6, 28, 28) * 0.1  # mesh window at column 6, row 6; tenths of mm
        assert np.allclose(prcp[t], expected, rtol=1e-6, atol=1e-6), stamp
    assert np.all(prcp[:, mesh["active_cell"] == 1] >= 0)


def test_cance_interannual_pet_hourly_ratio_and_previous_day(cance, data_dir):
    setup, mesh = cance
    pet = read_atmos(setup, mesh, "pet")
    daily_0914 = _window(data_dir / "Cance" / "pet" / "0914_ETPJIA.tif", 6, 6, 28, 28)
    daily_0915 = _window(data_dir / "Cance" / "pet" / "0915_ETPJIA.tif", 6, 6, 28, 28)
    # Step 11 ends 2014-09-15 12:00: ratio 0.117 of the previous day's map (non-leap year).
    assert np.allclose(pet[11], daily_0914 * 0.117, rtol=1e-6)
    assert not np.allclose(pet[11], daily_0915 * 0.117, rtol=1e-6)
    for t in range(24):
        hour = (t + 1) % 24
        assert np.allclose(pet[t], daily_0914 * HOURLY_PET_RATIO[hour], rtol=1e-6), hour
    assert np.all(pet[:6] == 0) and np.all(pet[18:24] == 0)  # 01:00-06:00 and 19:00-00:00 carry no PET
    assert np.allclose(pet[:24].sum(axis=0), daily_0914, rtol=1e-5)  # the ratios sum to one
    assert interannual_day(dt.datetime(2014, 12, 31, 5)) == "1230"
    assert interannual_day(dt.datetime(2012, 12, 31, 5)) == "1231"  # leap year: same day
    assert interannual_day(dt.datetime(2014, 1, 31)) == "0131"


def test_france_missing_rain_becomes_the_scaled_sentinel(data_dir):
    setup, mesh = _setup_mesh(data_dir, "France")
    cells = np.flatnonzero(mesh["active_cell"].ravel() == 1)
    prcp = read_atmos(setup, mesh, "prcp", cells=cells, ncpu=2)
    assert prcp.shape == (32, 906044) and prcp.dtype == np.float32
    # nodata (65535) becomes -99, then the 0.1 conversion factor applies in single precision,
    # as in smash 1.3: float32(-99) * float32(0.1), i.e. -9.9 to float32 rounding.
    sentinel = np.float32(-99.0) * np.float32(0.1)
    assert sentinel == pytest.approx(-9.9, abs=1e-6)
    assert np.any(prcp == sentinel)
    assert np.all((prcp >= 0) | (prcp == sentinel))
    path = data_dir / "France" / "prcp" / "2012/01/01/antilope_j1_000100_201201010100_201201010100.tif"
    expected = _window(path, 4, 15, 1075, 1150).ravel()[cells] * 0.1  # window at column 15, row 4
    assert np.allclose(prcp[0], expected, atol=1e-5)


def test_missing_step_files_are_minus_99_with_one_warning(lez, data_dir, tmp_path):
    setup, mesh = lez
    folder = tmp_path / "prcp"
    shutil.copytree(data_dir / "Lez" / "prcp" / "2012" / "08", folder)  # August 2012 only
    setup = dict(setup, prcp_directory=str(folder))
    with pytest.warns(UserWarning, match=r"Reading precipitation:\nMissing files: 334 file\(s\)") as record:
        prcp = read_atmos(setup, mesh, "prcp")
    assert len([w for w in record if "Missing files" in str(w.message)]) == 1
    # Steps named by their end time, as smash 1.3 names them; long lists cut short.
    assert "['2012-09-01 00:00', '2012-09-02 00:00'," in str(record[0].message)
    assert np.all(prcp[30:] == -99.0) and np.all(prcp[:30] >= 0)


def test_temp_keeps_negative_values(lez, tmp_path):
    """Temperature rasters are read like the others; negative degC values stay as they are."""
    setup, mesh = lez
    folder = tmp_path / "temp"
    folder.mkdir()
    profile = dict(driver="GTiff", width=14, height=27, count=1, dtype="float32", nodata=-9999.0, crs="EPSG:2154",
                   transform=Affine(1000, 0, 761000, 0, -1000, 6302000))
    field = np.linspace(-12, 8, 27 * 14, dtype=np.float32).reshape(27, 14)
    field[0, 0] = -9999.0
    for day in range(1, 4):
        with rasterio.open(folder / f"temp_201208{day:02d}.tif", "w", **profile) as dst:
            dst.write(np.where(field == -9999.0, field, field + day), 1)
    setup = dict(setup, temp_directory=str(folder), end_time=dt.datetime(2012, 8, 3), ntime_step=2)
    temp = read_atmos(setup, mesh, "temp")
    assert temp[0, 0, 0] == -99.0 and temp[0, 26, 13] == field[26, 13] + 2
    assert np.array_equal(temp[1].ravel()[1:], (field + 3).ravel()[1:]) and temp.min() == -99.0
    assert np.sum(temp[:, 1:, :] < 0) > 0


def test_raster_resolution_mismatch_warns_and_unreadable_file_is_named(lez, tmp_path):
    setup, mesh = lez
    folder = tmp_path / "prcp"
    folder.mkdir()
    profile = dict(driver="GTiff", width=7, height=14, count=1, dtype="float32", crs="EPSG:2154",
                   transform=Affine(2000, 0, 761000, 0, -2000, 6302000))
    with rasterio.open(folder / "201208020000_PT.tif", "w", **profile) as dst:
        dst.write(np.ones((14, 7), dtype=np.float32), 1)
    setup = dict(setup, prcp_directory=str(folder), end_time=dt.datetime(2012, 8, 3), ntime_step=2)
    # As smash 1.3: resampled to the mesh by nearest neighbour, with a warning (see test_bare_grid.py).
    with pytest.warns(UserWarning, match="Resolution mismatch"):
        prcp = read_atmos(setup, mesh, "prcp")
    assert np.all(prcp[0] == 1.0) and np.all(prcp[1] == -99.0)
    (folder / "201208020000_PT.tif").write_bytes(b"not a tiff")
    with pytest.raises(OSError, match="Cannot read raster .*201208020000_PT.tif"):
        read_atmos(setup, mesh, "prcp")


def test_directory_and_date_pattern_errors(lez, tmp_path):
    setup, mesh = lez
    with pytest.raises(FileNotFoundError, match="pet_directory"):
        read_atmos(dict(setup, pet_directory=str(tmp_path / "nowhere")), mesh, "pet")
    # No file of the period (none dated, or all of other dates): every step missing, one warning (smash 1.3).
    (tmp_path / "rain.tif").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"Missing files: 364 file\(s\)"):
        assert np.all(read_atmos(dict(setup, prcp_directory=str(tmp_path)), mesh, "prcp") == -99.0)
    old = dict(setup, start_time=dt.datetime(1990, 1, 1), end_time=dt.datetime(1990, 2, 1), ntime_step=31)
    with pytest.warns(UserWarning, match=r"Missing files: 31 file\(s\)"):
        assert np.all(read_atmos(old, mesh, "prcp") == -99.0)


def test_lez_qobs_alignment_and_missing_values(lez, data_dir):
    setup, mesh = lez
    qobs = read_qobs(setup, mesh)
    assert qobs.shape == (3, 364) and qobs.dtype == np.float32
    assert int((qobs[0] < 0).sum()) == 4 and int((qobs[1:] < 0).sum()) == 0  # Y3204040 has 4 gaps
    for g, code in enumerate(mesh["code"]):
        lines = (data_dir / "Lez" / "qobs" / f"{code}.csv").read_text().split()
        first = dt.datetime.strptime(lines[0], "%Y%m%d")
        offset = (dt.datetime(2012, 8, 2) - first).days  # value stamped at the end of step 0
        expected = np.array(lines[1 + offset:1 + offset + 364], dtype=np.float32)
        assert np.array_equal(qobs[g], expected), code


def test_cance_qobs_hourly_and_complete(cance, data_dir):
    setup, mesh = cance
    qobs = read_qobs(setup, mesh)
    assert qobs.shape == (3, 1440) and np.all(qobs >= 0)
    lines = (data_dir / "Cance" / "qobs" / "V3524010.csv").read_text().split()
    hours = int((dt.datetime(2014, 9, 15, 1) - dt.datetime(2006, 1, 1)).total_seconds() // 3600)
    assert qobs[0, 0] == np.float32(lines[1 + hours]) and qobs[0, -1] == np.float32(lines[hours + 1440])


def test_qobs_file_problems(lez, tmp_path):
    setup, mesh = lez
    (tmp_path / "Y3204040.csv").write_text("2012-13-45\n1.0\n")
    with pytest.raises(ValueError, match=r"Y3204040.csv, line 1: '2012-13-45' is not a date"):
        read_qobs(dict(setup, qobs_directory=str(tmp_path)), mesh)
    (tmp_path / "Y3204040.csv").write_text("20120802\n1.5\nabc\n2.5\n")
    with pytest.raises(ValueError, match=r"Y3204040.csv, line 3: 'abc' is not a number"):
        read_qobs(dict(setup, qobs_directory=str(tmp_path)), mesh)
    (tmp_path / "Y3204040.csv").write_text("20120803\n1.5\nnan\n2.5\n")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        qobs = read_qobs(dict(setup, qobs_directory=str(tmp_path)), mesh)
    # One warning naming the gauges without a file, as smash 1.3 gives.
    assert [str(w.message).split(": ")[-1] for w in record] == ["['Y3204030', 'Y3204010']"]
    assert qobs[0, :4].tolist() == [-99.0, 1.5, -99.0, 2.5] and np.all(qobs[0, 4:] == -99) and np.all(qobs[1:] == -99)


def test_lez_descriptors_against_rasterio(lez, data_dir):
    setup, mesh = lez
    desc = read_descriptor(setup, mesh)
    assert desc.shape == (27, 14, 6) and desc.dtype == np.float32
    for i, name in enumerate(setup["descriptor_name"]):
        assert np.array_equal(desc[..., i], _window(data_dir / "Lez" / "descriptor" / f"{name}.tif", 0, 0, 27, 14))
    active = mesh["active_cell"] == 1
    assert np.all(desc[active] > -99)
    storage = desc[..., 5][active]
    assert 60 < storage.min() and storage.max() < 400


def test_cance_descriptors_window(cance, data_dir):
    setup, mesh = cance
    desc = read_descriptor(setup, mesh)
    assert desc.shape == (28, 28, 2)
    assert np.array_equal(desc[..., 1], _window(data_dir / "Cance" / "descriptor" / "dd.tif", 7, 7, 28, 28))


def test_missing_descriptor_file_warns_and_is_all_missing(lez, data_dir, tmp_path):
    """As smash 1.3 (tests/anchor_refs/bare_grid/bare_mesh.json, descriptor_file_absent): one warning
    naming the absent files, their descriptors all -99, the others read."""
    setup, mesh = lez
    shutil.copy(data_dir / "Lez" / "descriptor" / "slope.tif", tmp_path / "slope.tif")
    setup = dict(setup, descriptor_directory=str(tmp_path), descriptor_name=["slope", "karst"])
    with pytest.warns(UserWarning, match=r"physiographic descriptors:\nMissing files: 1 file\(s\).*\['karst'\]"):
        desc = read_descriptor(setup, mesh)
    assert np.all(desc[..., 1] == -99.0)
    assert np.array_equal(desc[..., 0], _window(data_dir / "Lez" / "descriptor" / "slope.tif", 0, 0, 27, 14))


def test_synthetic_dispatch_and_cells_contract():
    setup, mesh = smash.factory.load_dataset("synthetic")
    setup = normalize_setup(setup)
    cells = np.flatnonzero(mesh["active_cell"].ravel() == 1)
    prcp = read_atmos(setup, mesh, "prcp")
    pet = read_atmos(setup, mesh, "pet", cells=cells)
    assert prcp.shape == (365, 24, 20) and pet.shape == (365, cells.size) and pet.dtype == np.float32
    assert np.array_equal(read_atmos(setup, mesh, "prcp", cells=cells), prcp.reshape(365, -1)[:, cells])
    wet = prcp.reshape(365, -1)[:, cells].mean(axis=1) > 0.1
    assert 0.2 < wet.mean() < 0.5  # intermittent storms
    annual = prcp.reshape(365, -1)[:, cells].sum(axis=0)
    assert 500 < annual.mean() < 2000 and annual.std() > 10  # mm/year, spatially varying
    assert 0.3 < pet.min() and pet.max() < 6 and pet[180].mean() > 3 * pet[0].mean()  # seasonal mm/day
    temp = read_atmos(setup, mesh, "temp")
    assert temp.min() < 0 < temp.max()
    desc = read_descriptor(setup, mesh)
    assert desc.shape == (24, 20, 2) and np.all(desc > -99) and np.all(desc.std(axis=(0, 1)) > 0)
    assert np.array_equal(read_atmos(setup, mesh, "prcp"), prcp)  # deterministic


def test_gauge_mean_forcings_skip_missing_values(data_dir):
    """mean_prcp / mean_pet: per gauge and step, the mean over the cells draining to the gauge
    (a grid walk of the flow directions, independent of the network order) of the non-missing
    values; -99 where all are missing. Recomputed when a forcing is assigned."""
    from smash.drainage.d8 import upstream_mask

    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    setup.update(end_time="2014-09-17 00:00")
    model = smash.Model(setup, mesh)
    prcp = model.atmos_data.prcp.copy()
    rng = np.random.default_rng(3)
    prcp[rng.random(prcp.shape) < 0.2] = -99.0
    prcp[..., 5] = -99.0                      # a step missing everywhere
    model.atmos_data.prcp = prcp
    for kind, grid in (("prcp", prcp), ("pet", model.atmos_data.pet)):
        mean = getattr(model.atmos_data, f"mean_{kind}")
        for g, pos in enumerate(mesh["gauge_pos"]):
            inside = upstream_mask(mesh["flwdir"], [pos]) & (mesh["active_cell"] == 1)
            values = grid[inside].astype(np.float64)
            valid = values >= 0
            count = valid.sum(axis=0)
            expected = np.where(count > 0, np.where(valid, values, 0).sum(axis=0) / np.maximum(count, 1), -99)
            np.testing.assert_allclose(mean[g], expected, rtol=1e-6, atol=1e-6)
    assert np.all(model.atmos_data.mean_prcp[:, 5] == -99.0)
