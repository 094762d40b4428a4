"""Model files (save_model / read_model, save_model_ddt / read_model_ddt) and parameter GeoTIFFs
(save_grid_parameters / read_grid_parameters): exact round trips, runs of the read model, errors."""

import json
import shutil
import warnings

import h5py
import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine

import smash
from smash.io import (
    read_grid_parameters,
    read_model,
    read_model_ddt,
    save_grid_parameters,
    save_mesh,
    save_model,
    save_model_ddt,
)

from helpers import ANCHOR_REFS

STEPS_1 = {"optimizer": "lbfgsb", "optimize_options": {"termination_crit": {"maxiter": 1}},
           "common_options": {"verbose": False}}


def _vary(model, seed):
    """Spatially varying parameters and initial states, drawn inside the middle of their bounds."""
    rng = np.random.default_rng(seed)
    shape = (model.mesh.nrow, model.mesh.ncol)
    for key, (low, high) in model.get_rr_parameters_bounds().items():
        model.set_rr_parameters(key, rng.uniform(low + 0.2 * (high - low), low + 0.4 * (high - low), shape))
    for key, (low, high) in model.get_rr_initial_states_bounds().items():
        model.set_rr_initial_states(key, rng.uniform(low + 0.2 * (high - low), low + 0.4 * (high - low), shape))


def _synthetic(**setup_extra):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(dict(setup, **setup_extra), mesh)
    _vary(model, 1)
    model.forward_run()
    return model


def _public(attrs):
    return {k: v for k, v in attrs.__dict__.items() if not k.startswith("_")}


def _assert_same_model(a, b):
    """Every attribute a user sees, equal value for value and dtype for dtype."""
    setup_a, setup_b = _public(a.setup), _public(b.setup)
    assert setup_a.keys() == setup_b.keys()
    for key, value in setup_a.items():
        # smash 1.3's setup holds arrays (descriptor_name, hidden_neuron, neurons): compare values and types.
        assert type(setup_b[key]) is type(value), key
        np.testing.assert_array_equal(setup_b[key], value, err_msg=key)
    mesh_a, mesh_b = _public(a.mesh), _public(b.mesh)
    assert mesh_a.keys() == mesh_b.keys()
    for key, value in mesh_a.items():
        # Plain Python scalars come back as the numpy scalars of the mesh file convention (io/mesh.py).
        if np.ndim(value) or isinstance(value, np.generic):
            assert np.asarray(mesh_b[key]).dtype == np.asarray(value).dtype, key
        np.testing.assert_array_equal(mesh_b[key], value, err_msg=key)
    for kind in ("prcp", "pet", "mean_prcp", "mean_pet"):
        assert getattr(b.atmos_data, kind).dtype == np.float32
        np.testing.assert_array_equal(getattr(b.atmos_data, kind), getattr(a.atmos_data, kind), err_msg=kind)
    np.testing.assert_array_equal(b.response_data.q, a.response_data.q)
    np.testing.assert_array_equal(b.response.q, a.response.q)
    assert b.physio_data.names == a.physio_data.names
    np.testing.assert_array_equal(b.physio_data.descriptor, a.physio_data.descriptor)
    np.testing.assert_array_equal(b.physio_data.l_descriptor, a.physio_data.l_descriptor)
    for name in ("rr_parameters", "rr_initial_states", "rr_final_states"):
        assert getattr(b, name).keys.tolist() == getattr(a, name).keys.tolist()
        np.testing.assert_array_equal(getattr(b, name).values, getattr(a, name).values, err_msg=name)
    if a.structure.is_hybrid:
        for x, y in zip(a.get_nn_parameters_weight() + a.get_nn_parameters_bias(),
                        b.get_nn_parameters_weight() + b.get_nn_parameters_bias(), strict=True):
            np.testing.assert_array_equal(x, y)


def _assert_runs_alike(a, b):
    """Same forward run bit for bit, and the same one-iteration calibration (L-BFGS-B: with the nets)."""
    a, b = a.copy(), b.copy()
    a.forward_run()
    b.forward_run()
    np.testing.assert_array_equal(b.response.q, a.response.q)
    np.testing.assert_array_equal(b.rr_final_states.values, a.rr_final_states.values)
    before = b.rr_parameters.values.copy()
    a.optimize(**STEPS_1)
    b.optimize(**STEPS_1)
    assert not np.array_equal(b.rr_parameters.values, before)
    np.testing.assert_array_equal(b.rr_parameters.values, a.rr_parameters.values)
    np.testing.assert_array_equal(b.response.q, a.response.q)
    if a.structure.is_hybrid:
        for x, y in zip(a.get_nn_parameters_weight(), b.get_nn_parameters_weight(), strict=True):
            np.testing.assert_array_equal(x, y)


def test_synthetic_model_round_trip_is_exact(tmp_path):
    model = _synthetic()
    save_model(model, tmp_path / "model.hdf5")
    again = read_model(tmp_path / "model.hdf5")
    _assert_same_model(model, again)
    _assert_runs_alike(model, again)
    with h5py.File(tmp_path / "model.hdf5") as f:
        assert f.attrs["_save_func"] == "save_model"
        assert f["atmos_data/prcp"].dtype == np.float32 and f["atmos_data/prcp"].compression == "gzip"
        assert f["rr_parameters/values"].dtype == np.float64


def test_lez_hybrid_model_round_trip_needs_no_data_file(tmp_path, data_dir):
    """gr4_mlp with a non-zero net and varying maps, built from a copy of the dataset that is
    deleted before reading: the file alone rebuilds the model."""
    shutil.copytree(data_dir / "Lez", tmp_path / "Lez")
    setup, mesh = smash.factory.load_dataset("Lez", path=tmp_path)
    model = smash.Model(dict(setup, hydrological_module="gr4_mlp", hidden_neuron=(8, 6)), mesh)
    _vary(model, 2)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
    model.set_nn_parameters_bias(initializer="uniform", random_state=4)
    model.forward_run()
    assert np.any(model.get_nn_parameters_weight()[0] != 0)
    save_model(model, tmp_path / "lez.hdf5")
    shutil.rmtree(tmp_path / "Lez")
    again = read_model(tmp_path / "lez.hdf5")
    _assert_same_model(model, again)
    assert again.setup.read_prcp and again.setup.read_descriptor  # the setup as the user gave it
    _assert_runs_alike(model, again)


def test_read_model_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.hdf5"):
        read_model(tmp_path / "nowhere.hdf5")
    _, mesh = smash.factory.load_dataset("synthetic")
    save_mesh(mesh, tmp_path / "mesh.hdf5")
    with pytest.raises(ValueError, match=r"mesh.hdf5 is not a file written by smash.io.save_model \(one written "
                                         r"by save_mesh\)"):
        read_model(tmp_path / "mesh.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.hdf5 is not an HDF5 file"):
        read_model(tmp_path / "text.hdf5")
    save_model_ddt(_synthetic(), tmp_path / "ddt.hdf5")
    with pytest.raises(ValueError, match="save_model_ddt"):
        read_model(tmp_path / "ddt.hdf5")


def test_model_ddt_holds_the_main_data(tmp_path):
    model = _synthetic(hydrological_module="gr4_mlp", hidden_neuron=5)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=0)
    save_model_ddt(model, tmp_path / "ddt.hdf5")
    ddt = read_model_ddt(tmp_path / "ddt.hdf5")
    assert set(ddt) == {"setup", "mesh", "atmos_data", "physio_data", "response_data", "response",
                        "rr_parameters", "rr_initial_states", "rr_final_states", "nn_parameters"}
    assert ddt["setup"]["hydrological_module"] == "gr4_mlp" and ddt["setup"]["dt"] == 86400.0
    assert ddt["setup"]["start_time"] == model.setup.start_time == "2020-01-01 00:00"
    assert ddt["setup"]["descriptor_name"].tolist() == model.setup.descriptor_name.tolist()
    assert ddt["mesh"]["code"].tolist() == model.mesh.code.tolist() and ddt["mesh"]["xmin"] == model.mesh.xmin
    np.testing.assert_array_equal(ddt["mesh"]["active_cell"], model.mesh.active_cell)
    np.testing.assert_array_equal(ddt["atmos_data"]["mean_prcp"], model.atmos_data.mean_prcp)
    np.testing.assert_array_equal(ddt["response"]["q"], model.response.q)
    np.testing.assert_array_equal(ddt["response_data"]["q"], model.response_data.q)
    np.testing.assert_array_equal(ddt["physio_data"]["descriptor"], model.physio_data.descriptor)
    assert ddt["rr_final_states"]["keys"].tolist() == model.rr_final_states.keys.tolist()
    np.testing.assert_array_equal(ddt["rr_parameters"]["values"], model.rr_parameters.values)
    np.testing.assert_array_equal(ddt["nn_parameters"]["weight_2"], model.get_nn_parameters_weight()[1])
    assert ddt["nn_parameters"]["weight_3"].shape == (0, 4) and ddt["nn_parameters"]["bias_3"].shape == (0,)
    with h5py.File(tmp_path / "ddt.hdf5") as f:
        assert f.attrs["_save_func"] == "save_model_ddt" and "prcp" not in f["atmos_data"]
    with pytest.raises(ValueError, match="save_model"):
        read_model_ddt(_saved(model, tmp_path))


def _saved(model, tmp_path):
    save_model(model, tmp_path / "model.hdf5")
    return tmp_path / "model.hdf5"


# ------------------------------------------------------------------------------ grid parameters
def test_grid_parameters_round_trip_into_another_model(tmp_path):
    model = _synthetic()
    save_grid_parameters(model, tmp_path / "maps", save_active_cell=True)
    names = model.rr_parameters.keys.tolist()
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == sorted([f"{n}.tif" for n in names]
                                                                            + ["active_cell.tif"])
    with rasterio.open(tmp_path / "maps" / "cp.tif") as dataset:
        m = model.mesh
        assert dataset.transform == Affine(m.xres, 0, m.xmin, 0, -m.yres, m.ymax)
        assert dataset.crs.to_epsg() == m.epsg and dataset.dtypes == ("float64",)
    with rasterio.open(tmp_path / "maps" / "active_cell.tif") as dataset:
        np.testing.assert_array_equal(dataset.read(1), model.mesh.active_cell)

    other = smash.Model(*smash.factory.load_dataset("synthetic"))
    assert not np.array_equal(other.rr_parameters.values, model.rr_parameters.values)
    read_grid_parameters(other, tmp_path / "maps")
    # float64 files: every value comes back bit for bit, so does the discharge.
    np.testing.assert_array_equal(other.rr_parameters.values, model.rr_parameters.values)
    # Initial states by name, as smash 1.3 allows.
    states = model.rr_initial_states.keys.tolist()
    save_grid_parameters(model, tmp_path / "states", parameters=states)
    read_grid_parameters(other, tmp_path / "states", parameters=states)
    np.testing.assert_array_equal(other.rr_initial_states.values, model.rr_initial_states.values)
    other.forward_run()
    np.testing.assert_array_equal(other.response.q, model.response.q)


def test_float32_rasters_keep_float32_precision(tmp_path):
    """A float32 GeoTIFF (made by another tool) is read as its float32 values: 6e-8 relative at most."""
    model = _synthetic()
    cp = model.get_rr_parameters("cp")
    with rasterio.open(tmp_path / "cp.tif", "w", driver="GTiff", width=cp.shape[1], height=cp.shape[0], count=1,
                       dtype="float32", crs=f"EPSG:{model.mesh.epsg}",
                       transform=Affine(1000, 0, model.mesh.xmin, 0, -1000, model.mesh.ymax)) as dataset:
        dataset.write(cp.astype(np.float32), 1)
    other = smash.Model(*smash.factory.load_dataset("synthetic"))
    read_grid_parameters(other, tmp_path, parameters="cp")
    np.testing.assert_array_equal(other.get_rr_parameters("cp"), cp.astype(np.float32).astype(np.float64))
    assert np.abs(other.get_rr_parameters("cp") / cp - 1).max() <= 2.0 ** -24


def test_grid_parameters_errors(tmp_path):
    model = _synthetic()
    with pytest.raises(ValueError, match=r"Unknown parameter\(s\) \['cq'\].*'cp'"):
        save_grid_parameters(model, tmp_path, parameters="cq")
    with pytest.raises(ValueError, match="Unknown parameter"):
        read_grid_parameters(model, tmp_path, parameters=["cp", "nope"])
    with pytest.raises(FileNotFoundError, match="Parameter folder not found"):
        read_grid_parameters(model, tmp_path / "nowhere")
    save_grid_parameters(model, tmp_path, parameters=["cp", "ct"])
    with pytest.raises(FileNotFoundError, match="ci.tif"):
        read_grid_parameters(model, tmp_path)
    # A raster one column short of the mesh: as smash 1.3, the column outside takes the default (ct = 500),
    # with warnings (smash warns only of the partial overlap).
    with rasterio.open(tmp_path / "ct.tif", "w", driver="GTiff", width=model.mesh.ncol - 1, height=model.mesh.nrow,
                       count=1, dtype="float64", crs=f"EPSG:{model.mesh.epsg}",
                       transform=Affine(1000, 0, model.mesh.xmin, 0, -1000, model.mesh.ymax)) as dataset:
        dataset.write(np.full((model.mesh.nrow, model.mesh.ncol - 1), 100.0), 1)
    with pytest.warns(UserWarning, match="lies partly outside"), \
            pytest.warns(UserWarning, match=f"{model.mesh.nrow} of .* take its default value 500"):
        read_grid_parameters(model, tmp_path, parameters="ct")
    ct = model.get_rr_parameters("ct")
    assert np.all(ct[:, -1] == 500.0) and np.all(ct[:, :-1] == 100.0)
    # A value the model would refuse (ct <= 0) takes the default too, as in smash 1.3.
    save_grid_parameters(model, tmp_path / "bad", parameters="cp")
    with rasterio.open(tmp_path / "bad" / "cp.tif") as dataset:
        profile = dataset.profile
    with rasterio.open(tmp_path / "bad" / "ct.tif", "w", **profile) as dataset:
        dataset.write(np.full((model.mesh.nrow, model.mesh.ncol), -5.0), 1)
    with pytest.warns(UserWarning, match="default value 500"):
        read_grid_parameters(model, tmp_path / "bad", parameters=["cp", "ct"])
    assert np.all(model.get_rr_parameters("ct") == 500.0)


def test_read_grid_parameters_matches_smash_13(tmp_path, data_dir):
    """Rasters of another resolution or grid, partly outside, with nodata or values outside the domain
    (tests/anchor_refs/Lez/grid_parameters.npz, make_grid_parameters.py): the maps smash 1.3 reads,
    value for value (its float32 maps: ours are the file's float64 values)."""
    ref = np.load(ANCHOR_REFS / "Lez" / "grid_parameters.npz")
    setup = yaml.safe_load((data_dir / "Lez" / "setup_Lez.yaml").read_text())
    for kind in ("qobs", "prcp", "pet"):
        setup[f"{kind}_directory"] = str(data_dir / "Lez" / kind)
    model = smash.Model(dict(setup, end_time="2012-08-05", read_descriptor=False),
                        smash.io.read_mesh(data_dir / "Lez" / "mesh_Lez.hdf5"))
    for name in ref["case_names"]:
        key, values = str(ref[f"{name}__key"]), ref[f"{name}__raster"]
        xres, left, top, nodata = ref[f"{name}__geometry"]
        folder = tmp_path / str(name)
        folder.mkdir()
        with rasterio.open(folder / f"{key}.tif", "w", driver="GTiff", width=values.shape[1], height=values.shape[0],
                           count=1, dtype="float64", crs="EPSG:2154", transform=Affine(xres, 0, left, 0, -xres, top),
                           nodata=None if np.isnan(nodata) else nodata) as dataset:
            dataset.write(values, 1)
        copy = model.copy()
        for k, v in json.loads(str(ref["before_json"])).items():
            (copy.set_rr_parameters if k in copy.rr_parameters.keys else copy.set_rr_initial_states)(k, v)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_grid_parameters(copy, folder, key)
        get = copy.get_rr_parameters if key in copy.rr_parameters.keys else copy.get_rr_initial_states
        expected = ref[f"{name}__read"]
        if key == "llr":
            # smash 1.3 fills with llr's hourly default (5) whatever dt; ours is the default the model
            # itself starts from at this dt (5 * dt / 3600 = 120 on daily Lez). docs/data.md.
            assert np.all(expected == 5.0)
            expected = np.full_like(expected, 5.0 * copy.setup.dt / 3600.0)
        np.testing.assert_array_equal(get(key).astype(np.float32), expected, err_msg=str(name))
        if json.loads(str(ref[f"{name}__warnings"])):  # smash warns of a raster partly outside the mesh
            assert any("partly outside" in str(w.message) for w in caught), name


# ------------------------------------------------------------------ smash 1.3 conventions
MODEL_IO = json.loads((ANCHOR_REFS / "model_io.json").read_text())
# Groups and keys of smash 1.3's save_model_ddt this package does not write: the structural error models
# of its Bayesian estimation (none here). smash 1.3 writes the atmos_data group only with a snow module,
# though its documentation lists mean_prcp and mean_pet always: ours follows the documentation.
DDT_NOT_WRITTEN = {"serr_mu_parameters", "serr_sigma_parameters", "serr_mu_mapping", "serr_sigma_mapping"}


def _io_case(data_dir, label):
    name, rest = label.split("-", 1)
    snow, hydro, routing = rest.split("-")
    setup = yaml.safe_load((data_dir / name / f"setup_{name}.yaml").read_text())
    for kind in ("qobs", "prcp", "pet", "descriptor"):
        setup[f"{kind}_directory"] = str(data_dir / name / kind)
    ref = MODEL_IO[label]
    period = ref["ddt"]["setup"]["start_time"]["value"], ref["ddt"]["setup"]["end_time"]["value"]
    setup.update(snow_module=snow, hydrological_module=hydro, routing_module=routing, start_time=period[0],
                 end_time=period[1])
    return smash.Model(setup, smash.io.read_mesh(data_dir / name / f"mesh_{name}.hdf5")), ref


@pytest.mark.parametrize("label", sorted(k for k in MODEL_IO if k != "smash_version"))
def test_model_ddt_keys_types_and_times_match_smash_13(data_dir, tmp_path, label):
    model, ref = _io_case(data_dir, label)
    # Discharge not yet simulated is -99, on the model and in its file.
    assert np.unique(model.response.q).tolist() == ref["response_q_before_run"] == [-99.0]
    save_model_ddt(model, tmp_path / "before.hdf5")
    assert np.unique(read_model_ddt(tmp_path / "before.hdf5")["response"]["q"]).tolist() == \
        ref["ddt_before_run_response_q"]
    model.forward_run()
    save_model_ddt(model, tmp_path / "ddt.hdf5")
    ddt = read_model_ddt(tmp_path / "ddt.hdf5")
    assert set(ddt) == (set(ref["ddt"]) | {"atmos_data"}) - DDT_NOT_WRITTEN
    for group, theirs in ref["ddt"].items():
        if group in DDT_NOT_WRITTEN:
            continue
        expected = set(theirs) - DDT_NOT_WRITTEN - ({"descriptor_tfm"} - set(model.setup.__dict__))
        assert set(ddt[group]) == expected, group
        for key in expected:
            ours, rec = ddt[group][key], theirs[key]
            if rec["type"] == "ndarray":
                assert list(ours.shape) == rec["shape"], (group, key)
                if rec["dtype"].startswith("<U"):
                    assert ours.dtype.kind == "U" and ours.tolist() == rec["value"], (group, key)
            elif group in ("setup", "mesh"):
                # Scalars: times as "YYYY-MM-DD HH:MM" text, dt and mesh geometry as floats.
                assert ours == rec["value"] and isinstance(ours, (str, float)), (group, key)
    np.testing.assert_array_equal(ddt["response"]["q"], model.response.q)


@pytest.mark.parametrize("label", sorted(k for k in MODEL_IO if k != "smash_version"))
def test_read_model_setup_types_match_smash_13(data_dir, tmp_path, label):
    model, ref = _io_case(data_dir, label)
    model.forward_run()
    save_model(model, tmp_path / "model.hdf5")
    back = read_model(tmp_path / "model.hdf5")
    anchor = ref["read_model_setup"]["prcp_directory"]["value"].rsplit("/", 2)[0]
    for key, rec in ref["read_model_setup"].items():
        ours = getattr(back.setup, key)
        if rec["type"] == "ndarray":
            assert isinstance(ours, np.ndarray) and str(ours.dtype) == rec["dtype"] and ours.tolist() == rec["value"]
            continue
        assert type(ours).__name__ == rec["type"], key
        value = rec["value"]
        if key == "prcp_directory":
            value = str(data_dir) + value[len(anchor):]
        assert ours == pytest.approx(value, rel=1e-7) if rec["type"] == "float" else ours == value, key
    np.testing.assert_array_equal(back.response.q, model.response.q)
