"""Setup (YAML) and mesh (HDF5) files: dtypes of the README, exact round trips."""

import datetime as dt

import h5py
import numpy as np
import pytest

from smash.factory.synthetic import synthetic_setup_mesh
from smash.io import read_mesh, read_setup, save_mesh, save_setup


def test_mesh_dtypes_follow_the_readme(data_dir):
    mesh = read_mesh(data_dir / "Lez" / "mesh_Lez.hdf5")
    assert mesh["nrow"] == 27 and mesh["ncol"] == 14 and mesh["nac"] == 172 and mesh["ng"] == 3
    assert mesh["npar"].dtype == np.int32 and mesh["nrow"].dtype == np.int64 and mesh["xmin"] == 761000.0
    for key, dtype in [("active_cell", np.int32), ("flwdir", np.float32), ("flwdst", np.float32),
                       ("cpar_to_rowcol", np.int32), ("gauge_pos", np.int32), ("area", np.float32)]:
        assert mesh[key].dtype == dtype, key
    assert mesh["code"].tolist() == ["Y3204040", "Y3204030", "Y3204010"] and mesh["code"].dtype.kind == "U"
    assert mesh["gauge_pos"].tolist() == [[26, 12], [22, 11], [16, 8]]


@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_mesh_round_trip_is_exact(tmp_path, data_dir, name):
    mesh = read_mesh(data_dir / name / f"mesh_{name}.hdf5")
    save_mesh(mesh, tmp_path / "m.hdf5")
    again = read_mesh(tmp_path / "m.hdf5")
    assert set(again) == set(mesh)
    for key, value in mesh.items():
        assert np.asarray(again[key]).dtype == np.asarray(value).dtype, key
        assert np.array_equal(again[key], value), key
    with h5py.File(tmp_path / "m.hdf5") as f:
        assert f.attrs["_save_func"] == "save_mesh"
        assert f["mesh/code"].dtype == np.dtype("S8") and f["mesh/flwdir"].compression == "gzip"
        assert "nrow" in f["mesh"].attrs and "flwdir" in f["mesh"]


def test_synthetic_mesh_saved_with_readme_scalar_dtypes(tmp_path):
    _, mesh = synthetic_setup_mesh()
    save_mesh(mesh, tmp_path / "s.hdf5")
    again = read_mesh(tmp_path / "s.hdf5")
    assert again["npar"].dtype == np.int32 and again["nrow"].dtype == np.int64
    assert again["code"].tolist() == mesh["code"].tolist()


def test_read_mesh_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.hdf5"):
        read_mesh(tmp_path / "nowhere.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "w") as f:
        f.create_group("grid")
    with pytest.raises(ValueError, match="no 'mesh' group"):
        read_mesh(tmp_path / "other.hdf5")


def test_setup_yaml_quirks_and_round_trip(tmp_path, data_dir):
    lez = read_setup(data_dir / "Lez" / "setup_Lez.yaml")
    assert lez["dt"] == 86400 and isinstance(lez["dt"], int)  # YAML 1.1 digit separators
    assert lez["start_time"] == dt.date(2012, 8, 1)
    assert lez["descriptor_name"][-1] == "soil_water_storage"
    cance = read_setup(data_dir / "Cance" / "setup_Cance.yaml")
    assert cance["dt"] == 3600 and cance["start_time"] == "2014-09-15 00:00" and cance["daily_interannual_pet"]
    save_setup(lez, tmp_path / "s.yaml")
    again = read_setup(tmp_path / "s.yaml")
    assert again["start_time"] == "2012-08-01 00:00" and again["dt"] == 86400
    assert {k: v for k, v in again.items() if "time" not in k} == {k: v for k, v in lez.items() if "time" not in k}


def test_read_setup_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        read_setup(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        read_setup(tmp_path / "list.yaml")
