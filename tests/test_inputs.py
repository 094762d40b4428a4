"""Reading datasets: forcings, observations, descriptors, against independent reads of the files."""

import datetime as dt
import os

import numpy as np
import pytest
import rasterio

import smash
from smash.inputs import read_atmos, read_qobs
from smash.model_setup import normalize_setup


@pytest.fixture(scope="module")
def lez(data_dir):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    return normalize_setup(setup), mesh


def test_lez_prcp_uses_file_stamped_at_step_end(lez, data_dir):
    setup, mesh = lez
    prcp = read_atmos(setup, mesh, "prcp")
    assert prcp.shape == (364, 27, 14) and prcp.dtype == np.float32
    # Step 0 ends 2012-08-02: its file, not the one stamped at start_time.
    with rasterio.open(data_dir / "Lez" / "prcp" / "2012" / "08" / "201208020000_PT.tif") as r:
        expected = r.read(1)
    assert np.array_equal(prcp[0], expected)
    with rasterio.open(data_dir / "Lez" / "prcp" / "2013" / "07" / "201307310000_PT.tif") as r:
        assert np.array_equal(prcp[-1], r.read(1))


def test_cance_prcp_window_and_conversion(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    setup = normalize_setup(setup)
    prcp = read_atmos(setup, mesh, "prcp")
    path = data_dir / "Cance" / "prcp" / "2014" / "09" / "15" / "rain_precipitation_201409151300_201409151300.tif"
    with rasterio.open(path) as r:
        raw = r.read(1).astype(np.float64)
        nodata = r.nodata
    window = raw[6:6 + 28, 6:6 + 28]  # mesh window starts at column 6, row 6
    expected = np.where(window == nodata, -99.0, window) * 0.1
    assert np.allclose(prcp[12], expected, atol=1e-5)  # step 12 ends 13:00


def test_cance_interannual_pet_ratio_and_previous_day(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    setup = normalize_setup(setup)
    pet = read_atmos(setup, mesh, "pet")
    with rasterio.open(data_dir / "Cance" / "pet" / "0914_ETPJIA.tif") as r:
        daily = r.read(1)[6:34, 6:34]
    # Step 11 ends 2014-09-15 12:00: ratio 0.117 of the *previous* day's file (non-leap year).
    assert np.allclose(pet[11], daily * 0.117, rtol=1e-6)
    assert np.all(pet[:6] == 0)  # 01:00 .. 06:00 carry no PET


def test_france_missing_rain_is_scaled_sentinel(data_dir):
    setup, mesh = smash.factory.load_dataset("France", path=data_dir)
    setup = normalize_setup(setup)
    cells = np.flatnonzero(mesh["active_cell"].ravel() == 1)
    prcp = read_atmos(setup, mesh, "prcp", cells=cells)
    assert prcp.shape == (32, 906044)
    # nodata (65535) becomes -99, then the 0.1 conversion factor: -9.9.
    assert np.isclose(prcp.min(), -9.9) and np.any(np.isclose(prcp, -9.9))
    assert np.all((prcp >= 0) | np.isclose(prcp, -9.9))


def test_lez_qobs_alignment_and_missing(lez, data_dir):
    setup, mesh = lez
    qobs = read_qobs(setup, mesh)
    assert qobs.shape == (3, 364)
    assert int((qobs[0] < 0).sum()) == 4 and int((qobs[1:] < 0).sum()) == 0
    lines = (data_dir / "Lez" / "qobs" / "Y3204010.csv").read_text().split()
    start = dt.datetime.strptime(lines[0], "%Y%m%d")
    offset = (dt.datetime(2012, 8, 2) - start).days
    assert np.allclose(qobs[2], np.array(lines[1 + offset:1 + offset + 364], dtype=float), rtol=1e-6)


def test_mesh_round_trip(tmp_path, data_dir):
    mesh = smash.io.read_mesh(data_dir / "Cance" / "mesh_Cance.hdf5")
    smash.io.save_mesh(mesh, tmp_path / "m.hdf5")
    again = smash.io.read_mesh(tmp_path / "m.hdf5")
    assert set(again) == set(mesh)
    for key, value in mesh.items():
        assert np.array_equal(np.asarray(again[key]), np.asarray(value)), key


def test_load_dataset_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("SMASH_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="SMASH_DATA_DIR"):
        smash.factory.load_dataset("Lez")
    with pytest.raises(FileNotFoundError, match="setup_Lez.yaml"):
        smash.factory.load_dataset("Lez", path=tmp_path)
    with pytest.raises(ValueError, match="Unknown dataset 'Loire'"):
        smash.factory.load_dataset("Loire")


def test_dates_outside_the_data(data_dir):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    setup.update(start_time="1990-01-01", end_time="1990-02-01")
    with pytest.raises(ValueError, match="No prcp file .* covers the simulation period"):
        smash.Model(setup, mesh)


def test_missing_directory_is_named(data_dir):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    setup["pet_directory"] = os.path.join(str(data_dir), "nowhere")
    with pytest.raises(FileNotFoundError, match="pet_directory"):
        smash.Model(setup, mesh)


def test_synthetic_catchment_is_consistent():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    net = model._network
    levels = np.repeat(np.arange(1, net.nlevel + 1), np.diff(net.level_start))
    assert np.array_equal(levels, mesh["flwpar"][net.rows, net.cols])
    for g, cell in enumerate(net.gauge_cell):
        assert net.upstream_mask(int(cell)).sum() * 1e6 == pytest.approx(float(mesh["area_dln"][g]))
    qobs = model.response_data.q
    assert qobs.shape == (3, 365) and np.all(qobs >= 0) and qobs.max() > 0
    # Default parameters are not the "true" ones: the fit is imperfect but meaningful.
    ret = model.forward_run(return_options={"cost": True})
    assert 0.05 < ret.cost < 1.0
