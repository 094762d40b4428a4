"""save_model / read_model keep what a Bayesian estimation leaves on a model, as smash 1.3's save_model
does (measured: its file holds serr_mu_parameters and serr_sigma_parameters, keys and (ng, n) values,
u_response_data/q_stdev, and the two mappings in the setup): the structural error parameters of every
gauge, the observation uncertainty, the mappings; a file without them (written before) reads as the
defaults of a new model."""

import h5py
import numpy as np
import pytest

import smash
from smash.io import read_model, save_model

BAYES_1 = {"optimizer": "lbfgsb", "optimize_options": {"termination_crit": {"maxiter": 1}},
           "common_options": {"verbose": False}, "return_options": {"cost": True, "log_lkh": True}}


def _estimated():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(dict(setup, serr_mu_mapping="Linear", serr_sigma_mapping="Power"), mesh)
    model.forward_run(common_options={"verbose": False})
    ng, nt = model.mesh.ng, model.setup.ntime_step
    rng = np.random.default_rng(3)
    model.u_response_data.q_stdev = rng.uniform(0.01, 0.2, (ng, nt)).astype(np.float32)
    model.set_serr_mu_parameters("mg1", rng.uniform(-0.1, 0.1, ng))
    model.set_serr_sigma_parameters("sg0", rng.uniform(0.5, 1.5, ng))
    estimated, _ = smash.bayesian_optimize(model, **BAYES_1)
    return estimated


def test_structural_error_parameters_round_trip(tmp_path):
    model = _estimated()
    # the estimation moved them: the file must hold more than the defaults
    assert not np.allclose(model.serr_sigma_parameters.values, [1.0, 0.2, 2.0])
    save_model(model, tmp_path / "bayes.hdf5")
    again = read_model(tmp_path / "bayes.hdf5")
    assert (again.setup.serr_mu_mapping, again.setup.serr_sigma_mapping) == ("Linear", "Power")
    for name in ("serr_mu_parameters", "serr_sigma_parameters"):
        assert getattr(again, name).keys.tolist() == getattr(model, name).keys.tolist()
        np.testing.assert_array_equal(getattr(again, name).values, getattr(model, name).values, err_msg=name)
    np.testing.assert_array_equal(again.u_response_data.q_stdev, model.u_response_data.q_stdev)
    assert again.u_response_data.q_stdev.dtype == np.float32
    np.testing.assert_array_equal(again.get_serr_sigma(), model.get_serr_sigma())
    np.testing.assert_array_equal(again.get_serr_mu(), model.get_serr_mu())
    # the read model goes on estimating exactly as the saved one
    _, ret_a = smash.bayesian_optimize(model, **BAYES_1)
    _, ret_b = smash.bayesian_optimize(again, **BAYES_1)
    assert ret_b.cost == ret_a.cost and ret_b.log_lkh == ret_a.log_lkh
    with h5py.File(tmp_path / "bayes.hdf5") as f:
        assert f["serr_sigma_parameters/values"].shape == (model.mesh.ng, 3)
        assert f["u_response_data/q_stdev"].shape == (model.mesh.ng, model.setup.ntime_step)


def test_zero_mean_mapping_and_older_files(tmp_path):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(dict(setup, serr_sigma_mapping="Constant"), mesh)
    model.set_serr_sigma_parameters("sg0", 0.7)
    save_model(model, tmp_path / "zero_mu.hdf5")
    again = read_model(tmp_path / "zero_mu.hdf5")
    assert again.serr_mu_parameters.values.shape == (model.mesh.ng, 0)
    np.testing.assert_array_equal(again.serr_sigma_parameters.values, np.full((model.mesh.ng, 1), 0.7))
    # a file written before these groups existed: a new model's defaults
    with h5py.File(tmp_path / "zero_mu.hdf5", "a") as f:
        for name in ("serr_mu_parameters", "serr_sigma_parameters", "u_response_data"):
            del f[name]
    older = read_model(tmp_path / "zero_mu.hdf5")
    np.testing.assert_array_equal(older.serr_sigma_parameters.values, np.ones((model.mesh.ng, 1)))
    np.testing.assert_array_equal(older.u_response_data.q_stdev, 0)


def test_damaged_structural_error_groups_are_named(tmp_path):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(dict(setup, serr_sigma_mapping="Linear"), mesh)
    save_model(model, tmp_path / "m.hdf5")
    with h5py.File(tmp_path / "m.hdf5", "a") as f:
        values = f["serr_sigma_parameters/values"][()]
        del f["serr_sigma_parameters/values"]
        f["serr_sigma_parameters"].create_dataset("values", data=-values)
    with pytest.raises(ValueError, match=r"m.hdf5: group 'serr_sigma_parameters': values must be finite"):
        read_model(tmp_path / "m.hdf5")
    with h5py.File(tmp_path / "m.hdf5", "a") as f:
        del f["serr_sigma_parameters/values"]
        f["serr_sigma_parameters"].create_dataset("values", data=np.ones((model.mesh.ng, 3)))
    with pytest.raises(ValueError, match=r"values have shape .* expected"):
        read_model(tmp_path / "m.hdf5")
