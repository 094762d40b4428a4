"""Pickled models and results (issue 21): a model sent through pickle runs bit for bit as the original,
in this process or another, without the data files it was read from; copy.deepcopy gives a model of
its own; every result type survives a round trip."""

import copy
import multiprocessing
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

import smash

QUIET = {"verbose": False}


def _round_trip(obj):
    blob = pickle.dumps(obj)
    # No Fortran derived type in the stream: its handle would point into this process's memory.
    assert b"fcore" not in blob
    return pickle.loads(blob)


def _synthetic(**extra):
    setup, mesh = smash.factory.load_dataset("synthetic")
    return smash.Model(dict(setup, **extra), mesh)


def _lez_from_copy(data_dir, tmp_path, **extra):
    """A Lez model read from a copy of the dataset, and that copy's folder (to delete)."""
    folder = tmp_path / "Lez"
    shutil.copytree(data_dir / "Lez", folder)
    setup, mesh = smash.factory.load_dataset("Lez", path=folder)
    return smash.Model(dict(setup, **extra), mesh), folder


def _assert_same_runs(original, restored):
    """The same forward run, gradient and L-BFGS-B iteration, bit for bit."""
    assert np.array_equal(original.response.q, restored.response.q)
    assert np.array_equal(original.response_data.q, restored.response_data.q)
    for model in (original, restored):
        model.forward_run(common_options=QUIET)
    assert np.array_equal(original.response.q, restored.response.q)
    assert np.array_equal(original.rr_final_states.values, restored.rr_final_states.values)
    back = [smash.backward_run(m, mapping="distributed", return_options={"cost": True, "grad": True})[1]
            for m in (original, restored)]
    assert back[0].cost == back[1].cost and np.isfinite(back[0].cost)
    assert np.array_equal(back[0].grad, back[1].grad) and np.any(back[0].grad != 0)
    one_step = {"termination_crit": {"maxiter": 1}}
    calibrated = [smash.optimize(m, mapping="distributed", optimizer="lbfgsb", optimize_options=one_step,
                                 common_options=QUIET) for m in (original, restored)]
    assert np.array_equal(calibrated[0].rr_parameters.values, calibrated[1].rr_parameters.values)
    assert not np.array_equal(calibrated[0].rr_parameters.values, original.rr_parameters.values)
    assert np.array_equal(calibrated[0].response.q, calibrated[1].response.q)


def test_synthetic_model_round_trip_runs_bit_for_bit():
    model = _synthetic()
    model.set_rr_parameters("cp", np.linspace(50.0, 400.0, model.mesh.nrow * model.mesh.ncol).reshape(
        model.mesh.nrow, model.mesh.ncol))
    _assert_same_runs(model, _round_trip(model))


def test_hybrid_model_round_trip_keeps_its_net():
    model = _synthetic(hydrological_module="gr4_mlp", hidden_neuron=(6,))
    model.set_nn_parameters_weight(random_state=3)
    model.set_nn_parameters_bias(initializer="uniform", random_state=4)
    restored = _round_trip(model)
    for a, b in zip(model.get_nn_parameters_weight() + model.get_nn_parameters_bias(),
                    restored.get_nn_parameters_weight() + restored.get_nn_parameters_bias(), strict=True):
        assert np.array_equal(a, b)
    _assert_same_runs(model, restored)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse_storage"])
def test_lez_round_trip_needs_no_data_files(data_dir, tmp_path, sparse):
    model, folder = _lez_from_copy(data_dir, tmp_path, sparse_storage=sparse)
    model.forward_run(common_options=QUIET)  # leaves a Fortran output cached on the model
    blob = pickle.dumps(model)
    assert b"fcore" not in blob
    shutil.rmtree(folder)
    restored = pickle.loads(blob)
    assert bool(restored.setup.sparse_storage) is sparse
    assert np.array_equal(restored.atmos_data.prcp, model.atmos_data.prcp)
    assert np.array_equal(restored.atmos_data.mean_pet, model.atmos_data.mean_pet)
    assert np.array_equal(restored.physio_data.descriptor, model.physio_data.descriptor)
    _assert_same_runs(model, restored)


def test_unpickled_model_has_inputs_of_its_own():
    model = _synthetic()
    restored = _round_trip(model)
    before = model.atmos_data.prcp.copy()
    restored.atmos_data.prcp = np.zeros_like(before)
    restored.response_data.q[:] = 1.0
    assert np.array_equal(model.atmos_data.prcp, before)
    assert not np.any(model.response_data.q == 1.0)


def test_deepcopy_is_an_independent_model():
    model = _synthetic()
    clone = copy.deepcopy(model)
    assert isinstance(clone, smash.Model)
    clone.atmos_data.prcp = np.zeros_like(model.atmos_data.prcp)
    clone.set_rr_parameters("cp", 10.0)
    model.forward_run(common_options=QUIET)
    clone.forward_run(common_options=QUIET)
    # No rain and a small store: the clone's discharge is not the original's, and the original keeps its own.
    assert not np.array_equal(model.response.q, clone.response.q)
    assert np.array_equal(model.response.q, smash.forward_run(model.copy(), common_options=QUIET).response.q)


def _forward_discharge(blob: bytes) -> np.ndarray:
    model = pickle.loads(blob)
    model.forward_run(common_options={"verbose": False})
    return model.response.q


def test_model_pickled_to_a_spawned_process_gives_the_same_discharge():
    model = _synthetic()
    model.set_rr_parameters("ct", 250.0)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        remote = pool.apply(_forward_discharge, (pickle.dumps(model),))
    model.forward_run(common_options=QUIET)
    assert np.array_equal(remote, model.response.q)


def _assert_same(a, b, where="result"):
    """Equal values, recursively through containers and objects' attributes (NaN equal to NaN)."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, (pd.DataFrame, pd.Series)):
        assert a.equals(b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _assert_same(vars(a), vars(b), f"{where}.")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def test_every_result_type_round_trips():
    model = _synthetic()
    series = {k: True for k in smash.simulation.forward.RETURN_KEYS if k != "output_store"}  # a path, not a flag
    forward = model.forward_run(return_options=dict(series, time_step="all"))
    _, optimized = smash.optimize(model, mapping="distributed", optimizer="lbfgsb", common_options=QUIET,
                                  optimize_options={"termination_crit": {"maxiter": 2}},
                                  return_options={"cost": True, "iter_cost": True, "control_vector": True,
                                                  "rr_states": True, "time_step": "all", "projg": True})
    _, backward = smash.backward_run(model, mapping="distributed", return_options={"grad": True, "cost": True})
    problem = {"num_vars": 2, "names": ["cp", "ct"], "bounds": [[100.0, 400.0], [50.0, 300.0]]}
    samples = smash.factory.generate_samples(problem, n=3, random_state=0)
    multiple = smash.multiple_forward_run(model, samples, common_options=QUIET)
    signatures = smash.signatures(model)
    indices = smash.precipitation_indices(model)
    results = [forward, optimized, backward, samples, multiple, signatures, indices]
    assert [type(r).__name__ for r in results] == ["ForwardRun", "Optimize", "BackwardRun", "Samples",
                                                  "MultipleForwardRun", "Signatures", "PrecipitationIndices"]
    for result in results:
        _assert_same(result, _round_trip(result), type(result).__name__)
