"""load_dataset, the mesh tools (against the stored meshes) and the synthetic catchment."""

import builtins
import json
import os

import numpy as np
import pytest

import smash
from smash.drainage import d8 as mesh_tools
from smash.factory import load_dataset
from smash.factory.synthetic import synthetic_setup_mesh
from smash.io import read_mesh

from helpers import ANCHOR_REFS


def test_load_dataset_resolves_directories(data_dir, monkeypatch):
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    setup, mesh = load_dataset("lez")  # case-insensitive, found through SMASH_DATA_DIR
    folder = os.path.join(os.path.abspath(data_dir), "Lez")
    assert setup["prcp_directory"] == os.path.join(folder, "prcp") and os.path.isabs(setup["qobs_directory"])
    assert setup["descriptor_directory"] == os.path.join(folder, "descriptor")
    assert mesh["nac"] == 172 and mesh["code"].tolist()[0] == "Y3204040"
    setup, mesh = load_dataset("France", path=data_dir / "France")  # the dataset folder itself
    assert "descriptor_directory" not in setup and mesh["ng"] == 0 and mesh["nrow"] == 1075


def test_load_dataset_flwdir_is_the_raster_path(data_dir, monkeypatch):
    # smash 1.3: load_dataset("flwdir") (any case) returns the absolute path of France_flwdir.tif as a str.
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    expected = os.path.join(os.path.abspath(data_dir), "France_flwdir.tif")
    assert load_dataset("flwdir") == expected and type(load_dataset("FLWDIR")) is str
    assert load_dataset("flwdir", path=data_dir) == expected
    assert load_dataset("flwdir", path=expected) == expected  # the raster itself


def test_load_dataset_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("SMASH_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="no .*France_flwdir.tif.*SMASH_DATA_DIR or pass path="):
        load_dataset("flwdir", path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no .*Lez/setup_Lez.yaml.*SMASH_DATA_DIR or pass path="):
        load_dataset("Lez", path=tmp_path)
    monkeypatch.setenv("SMASH_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing/Cance/setup_Cance.yaml"):
        load_dataset("cance")
    with pytest.raises(ValueError,
                       match="Unknown dataset 'Loire'; valid names are Lez, Cance, France, synthetic, flwdir"):
        load_dataset("Loire")


@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_mesh_tools_reproduce_the_stored_meshes(data_dir, name):
    mesh = read_mesh(data_dir / name / f"mesh_{name}.hdf5")
    flwdir, dx, dy = mesh["flwdir"], mesh["dx"], mesh["dy"]
    active = mesh_tools.active_cells(flwdir, mesh["gauge_pos"])
    assert np.array_equal(active, mesh["active_cell"])
    flwacc = mesh_tools.flow_accumulation(flwdir, dx, dy)
    assert np.array_equal(flwacc[active == 1], mesh["flwacc"][active == 1])
    assert np.array_equal(flwacc[tuple(mesh["gauge_pos"].T)], mesh["area_dln"])
    assert np.array_equal(mesh_tools.flow_distance(flwdir, dx, dy, active), mesh["flwdst"])
    flwpar, ncpar, cscpar, cpar_to_rowcol = mesh_tools.flow_partition(flwdir)
    assert np.array_equal(flwpar, mesh["flwpar"]) and ncpar.size == mesh["npar"]
    assert np.array_equal(ncpar, mesh["ncpar"]) and np.array_equal(cscpar, mesh["cscpar"])
    assert np.array_equal(cpar_to_rowcol, mesh["cpar_to_rowcol"])


def test_mesh_tools_reject_loops():
    flwdir = np.array([[3, 7], [1, 1]], dtype=np.float32)  # the two top cells drain into each other
    with pytest.raises(ValueError, match="loop"):
        mesh_tools.flow_accumulation(flwdir, np.ones((2, 2)), np.ones((2, 2)))


def test_synthetic_mesh_is_consistent():
    setup, mesh = load_dataset("synthetic")
    assert setup["synthetic"] == {"seed": 0} and setup["read_qobs"] and setup["read_descriptor"]
    assert setup["descriptor_name"] and setup["dt"] == 86400
    nrow, ncol = mesh["nrow"], mesh["ncol"]
    assert (nrow, ncol) == (24, 20) and 250 <= mesh["nac"] <= 350 and mesh["ng"] == 3
    flwdir, dx, dy = mesh["flwdir"], mesh["dx"], mesh["dy"]
    assert np.all((flwdir >= 1) & (flwdir <= 8))
    outlet = tuple(mesh["gauge_pos"][0])
    assert outlet[0] in (0, nrow - 1) or outlet[1] in (0, ncol - 1)  # on the grid edge
    active = mesh["active_cell"]
    assert active.sum() == mesh["nac"] and np.array_equal(active, mesh_tools.active_cells(flwdir, [outlet]))
    assert np.array_equal(mesh["flwacc"], mesh_tools.flow_accumulation(flwdir, dx, dy))
    assert mesh["flwacc"][outlet] == mesh["nac"] * 1e6  # every active cell drains to the outlet
    assert mesh["flwdst"][outlet] == 0 and np.all(mesh["flwdst"][active == 1] >= 0)
    assert np.all(mesh["flwdst"][active == 0] == -99)
    # Gauges: most downstream first, upstream ones inside the catchment with smaller areas.
    assert np.all(np.diff(mesh["area_dln"]) < 0) and np.all(active[tuple(mesh["gauge_pos"].T)] == 1)
    assert np.array_equal(mesh["area_dln"], mesh["flwacc"][tuple(mesh["gauge_pos"].T)])
    assert np.all(mesh["flwdst"][tuple(mesh["gauge_pos"][1:].T)] > 0)
    assert mesh["ncpar"].sum() == nrow * ncol and mesh["ncpar"].size == mesh["npar"]
    assert mesh["cscpar"][0] == 0 and np.array_equal(np.diff(mesh["cscpar"]), mesh["ncpar"][:-1])
    rows, cols = mesh["cpar_to_rowcol"].T
    assert np.array_equal(np.sort(rows * ncol + cols), np.arange(nrow * ncol))
    assert np.all(np.diff(mesh["flwpar"][rows, cols]) >= 0)
    again = synthetic_setup_mesh()
    assert all(np.array_equal(mesh[k], again[1][k]) for k in mesh)  # deterministic


def test_synthetic_model_runs():
    setup, mesh = load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    net = model.network
    assert net.nac == mesh["nac"] and net.levels.max() <= mesh["npar"]
    for g, cell in enumerate(net.gauge_cell):
        assert net.upstream_mask(int(cell)).sum() * 1e6 == pytest.approx(float(mesh["area_dln"][g]))
    qobs = model.response_data.q
    assert qobs.shape == (3, 365) and np.all(qobs >= 0) and qobs.max() > 0
    ret = model.forward_run(return_options={"cost": True})
    assert 0.05 < ret.cost < 1.0  # default parameters are not the "true" ones


def test_load_dataset_answers_as_smash_1_3(data_dir, monkeypatch):
    # tests/anchor_refs/load_dataset.json: what smash 1.3's load_dataset returns, made by make_load_dataset.py.
    anchor = json.loads((ANCHOR_REFS / "load_dataset.json").read_text())
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    for name in ("flwdir", "FLWDIR", "Flwdir"):
        path = load_dataset(name)
        assert {"type": type(path).__name__, "is_absolute": os.path.isabs(path),
                "basename": os.path.basename(path), "is_file": os.path.isfile(path)} == anchor[name]
    for name in ("lez", "Cance", "FRANCE"):
        setup, mesh = load_dataset(name)
        assert {key: int(mesh[key]) for key in ("nac", "ng", "nrow", "ncol")} == {
            key: anchor[name][key] for key in ("nac", "ng", "nrow", "ncol")}
        folders = {key: os.path.relpath(value, os.path.dirname(os.path.dirname(value)))
                   for key, value in setup.items() if key.endswith("_directory")}
        # smash 1.3 also names the folders of inputs France does not read (qobs, descriptors): ours omits them.
        assert folders == {key: anchor[name]["setup_folders"][key] for key in folders}
        assert name == "FRANCE" or folders == anchor[name]["setup_folders"]
    with pytest.raises(getattr(builtins, anchor["unknown_name_error"])):
        load_dataset("Loire")
