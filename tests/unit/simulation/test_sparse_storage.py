"""Sparse storage of the forcings (setup sparse_storage=True): smash 1.3's per-step layout
(tests/anchor_refs/<Lez|Cance>/sparse_storage.npz, made by make_sparse_storage.py) and results bit for bit
equal to the dense storage's."""

import functools

import numpy as np
import pytest

import smash
from smash import _testing
from smash.simulation import sparse_forcing

from helpers import ANCHOR_REFS

ANCHOR = ANCHOR_REFS


@functools.cache
def _dataset(data_dir, name):
    return smash.factory.load_dataset(name, path=data_dir)


def _pair(data_dir, name, structure="zero-gr4-lr", **extra):
    setup, mesh = _dataset(data_dir, name)
    snow, hydro, routing = structure.split("-")
    setup = dict(setup, snow_module=snow, hydrological_module=hydro, routing_module=routing, read_descriptor=False,
                 **extra)
    return smash.Model(setup, mesh), smash.Model(dict(setup, sparse_storage=True), mesh)


def _assert_same_run(dense, sparse, **options):
    ret_d = dense.forward_run(return_options={"internal_fluxes": True, "rr_states": True, "q_domain": True,
                                              "cost": True}, **options)
    ret_s = sparse.forward_run(return_options={"internal_fluxes": True, "rr_states": True, "q_domain": True,
                                               "cost": True}, **options)
    assert np.array_equal(dense.response.q, sparse.response.q)
    assert np.array_equal(dense.rr_final_states.values, sparse.rr_final_states.values)
    assert np.array_equal(ret_d.q_domain, ret_s.q_domain) and ret_d.cost == ret_s.cost
    for key in ret_d.internal_fluxes:
        assert np.array_equal(ret_d.internal_fluxes[key], ret_s.internal_fluxes[key]), key
    for a, b in zip(ret_d.rr_states, ret_s.rr_states, strict=True):
        assert np.array_equal(a.values, b.values)


@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_sparse_steps_match_smash_13(data_dir, name):
    ref = np.load(ANCHOR / name / "sparse_storage.npz")
    _, model = _pair(data_dir, name, "ssn-gr4-lr")
    assert model.setup.sparse_storage and model.mesh.nac == int(ref["nac"])
    for kind in ("prcp", "pet", "snow", "temp"):
        series = getattr(model.atmos_data, f"sparse_{kind}")
        assert len(series) == int(ref["ntime_step"])
        steps = list(series)
        assert np.array_equal([s.coo_fmt for s in steps], ref[f"{kind}_coo_fmt"]), kind
        assert np.array_equal([s.n for s in steps], ref[f"{kind}_n"]), kind
        assert np.array_equal(np.array([s.zvalue for s in steps], np.float32), ref[f"{kind}_zvalue"]), kind
        assert np.array_equal([int(s.indices.astype(np.int64).sum()) for s in steps], ref[f"{kind}_indices_sum"])
        np.testing.assert_allclose([s.values.astype(np.float64).sum() for s in steps], ref[f"{kind}_values_sum"],
                                   rtol=1e-12, atol=0)
        for t in ref[f"{kind}_full_steps"]:
            step = steps[int(t)]
            assert step.values.dtype == np.float32 and step.indices.dtype == np.int32
            assert np.array_equal(step.values, ref[f"{kind}_values_{t}"]), (kind, t)
            if step.coo_fmt:
                assert np.array_equal(step.indices, ref[f"{kind}_indices_{t}"]), (kind, t)
    # smash 1.3 gives the same discharge with either storage (so do we, below)
    assert np.array_equal(ref["q_sparse"], ref["q_dense"])


def test_sparse_series_decode_to_the_dense_grids(data_dir):
    dense, sparse = _pair(data_dir, "Cance")
    for kind in ("prcp", "pet"):
        grid = getattr(dense.atmos_data, kind)
        assert np.array_equal(getattr(sparse.atmos_data, kind), grid)
        # smash's layout: active cells column by column, 1-based indices of the cells stored
        active = sparse.mesh.active_cell.T == 1
        for t in (0, 11, 500):
            column_major = grid[:, :, t].T[active]
            step = getattr(sparse.atmos_data, f"sparse_{kind}")[t]
            if step.coo_fmt:
                rebuilt = np.full(column_major.size, step.zvalue, dtype=np.float32)
                rebuilt[step.indices - 1] = step.values
            else:
                rebuilt = step.values
            assert np.array_equal(rebuilt, column_major)
    assert len(dense.atmos_data.sparse_prcp) == 0   # smash 1.3: empty under dense storage


@pytest.mark.parametrize("structure", ["zero-gr4-lr", "zero-vic3l-kw", "zero-gr4_ode-lag0", "zero-gr6_mlp-lr",
                                       "ssn-gr4-lr"])
def test_sparse_and_dense_runs_are_identical_on_lez(data_dir, structure):
    dense, sparse = _pair(data_dir, "Lez", structure)
    if structure.startswith("ssn"):
        ref = np.load(ANCHOR / "Lez" / "ssn-gr4-lr.npz")
        for model in (dense, sparse):
            model.atmos_data.snow, model.atmos_data.temp = ref["snow"], ref["temp"]
    if "mlp" in structure:
        for model in (dense, sparse):
            model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
    _assert_same_run(dense, sparse)
    _assert_same_run(dense, sparse, common_options={"ncpu": 2})
    # precipitation indices and gauge means read the same forcings
    assert np.array_equal(dense.atmos_data.mean_prcp, sparse.atmos_data.mean_prcp)
    for key, value in smash.precipitation_indices(dense).__dict__.items():
        assert np.array_equal(value, getattr(smash.precipitation_indices(sparse), key), equal_nan=True), key


def test_sparse_and_dense_are_identical_on_cance_with_gradients(data_dir):
    dense, sparse = _pair(data_dir, "Cance")
    # the sub-daily interception estimate reads the forcings cell by cell
    assert np.array_equal(dense.get_rr_parameters("ci"), sparse.get_rr_parameters("ci"))
    _assert_same_run(dense, sparse)
    grads = [model.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})
             for model in (dense, sparse)]
    assert grads[0].cost == grads[1].cost and np.any(grads[0].grad != 0)
    assert np.array_equal(grads[0].grad, grads[1].grad)
    two = sparse.backward_run(mapping="distributed", common_options={"ncpu": 2},
                              return_options={"cost": True, "grad": True})
    assert two.cost == grads[0].cost and np.array_equal(two.grad, grads[0].grad)
    options = {"termination_crit": {"maxiter": 2}}
    for model in (dense, sparse):
        model.optimize(mapping="distributed", optimize_options=options)
    assert np.array_equal(dense.rr_parameters.values, sparse.rr_parameters.values)
    assert np.array_equal(dense.response.q, sparse.response.q)


def test_sparse_storage_on_the_synthetic_catchment(data_dir):
    setup, mesh = smash.factory.load_dataset("synthetic")
    dense = smash.Model(dict(setup), mesh)
    sparse = smash.Model(dict(setup, sparse_storage=True), mesh)
    assert np.array_equal(dense.atmos_data.prcp, sparse.atmos_data.prcp)
    _assert_same_run(dense, sparse)


def test_assigning_forcings_under_sparse_storage(data_dir):
    dense, sparse = _pair(data_dir, "Lez")
    prcp = np.array(dense.atmos_data.prcp)
    prcp[:, :, 40:60] = 0.0          # dry spell: more steps become sparse
    prcp[3, 5, 100:110] = -99.0      # missing values
    prcp[..., 200] *= 3.0
    copy = smash.forward_run(sparse)  # shares the forcings until one writes
    for model in (dense, sparse):
        model.atmos_data.prcp = prcp
    assert np.array_equal(sparse.atmos_data.prcp, dense.atmos_data.prcp)
    active = sparse.mesh.active_cell == 1
    assert np.array_equal(sparse.atmos_data.prcp[active], prcp[active])
    assert not np.array_equal(copy.atmos_data.prcp[active], prcp[active])   # the copy kept its own forcings
    assert np.array_equal(sparse.atmos_data.pet, dense.atmos_data.pet)
    assert all(sparse.atmos_data.sparse_prcp[t].coo_fmt == 1 and sparse.atmos_data.sparse_prcp[t].n == 0
               for t in range(40, 60))
    _assert_same_run(dense, sparse)
    with pytest.raises(ValueError, match="shape"):
        sparse.atmos_data.prcp = prcp[..., :10]


def test_sparse_storage_holds_less_than_dense(data_dir):
    _, sparse = _pair(data_dir, "Cance")
    fi, nac, nt = _testing.core_inputs(sparse), sparse.mesh.nac, sparse.setup.ntime_step
    dense_bytes = 2 * nac * nt * 4
    sparse_bytes = sum(getattr(fi, k).nbytes for k in ("prcp", "pet", "sp_values", "sp_index", "sp_start",
                                                       "sp_istart", "sp_coo", "sp_zvalue"))
    # Cance: 85 % of the rain steps and half the (hourly) PET steps have at most half their cells wet
    assert sparse_bytes < 0.6 * dense_bytes
    assert fi.prcp.shape == (1, nt)   # no dense copy kept


def test_model_io_keeps_sparse_storage(data_dir, tmp_path):
    _, sparse = _pair(data_dir, "Lez")
    sparse.forward_run()
    smash.io.save_model(sparse, tmp_path / "m.hdf5")
    back = smash.io.read_model(tmp_path / "m.hdf5")
    assert back.setup.sparse_storage
    for kind in ("prcp", "pet"):
        assert np.array_equal(getattr(back.atmos_data, kind), getattr(sparse.atmos_data, kind))
        for a, b in zip(getattr(back.atmos_data, f"sparse_{kind}"), getattr(sparse.atmos_data, f"sparse_{kind}"),
                        strict=True):
            assert (a.coo_fmt, a.n, a.zvalue) == (b.coo_fmt, b.n, b.zvalue)
            assert np.array_equal(a.values, b.values) and np.array_equal(a.indices, b.indices)
    back.forward_run()
    assert np.array_equal(back.response.q, sparse.response.q)
    smash.io.save_model_ddt(sparse, tmp_path / "d.hdf5")
    ddt = smash.io.read_model_ddt(tmp_path / "d.hdf5")
    assert np.array_equal(ddt["atmos_data"]["mean_prcp"], sparse.atmos_data.mean_prcp)


def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    series = rng.gamma(0.3, 2.0, size=(50, 12)).astype(np.float32)
    series[rng.random(series.shape) < 0.6] = 0.0
    series[:, 3] = -99.0
    series[:, 4] = 0.0
    steps = sparse_forcing.encode_series(series)
    assert [s.coo for s in steps][3:5] == [False, True]
    assert all(s.coo == (np.count_nonzero(series[:, t]) * 2 <= 50) for t, s in enumerate(steps))

    fi = _testing.new_input_data(1, 1, 12)
    sparse_forcing.store(fi, {"pet": steps}, 12)
    assert np.array_equal(sparse_forcing.decode_steps(fi, "pet", 50, 0, 12), series)
    assert np.array_equal(sparse_forcing.decode_cells(fi, "pet", 7, 31, 12), series[7:31])
    assert np.all(sparse_forcing.decode_steps(fi, "prcp", 50, 0, 12) == -99.0)   # never stored: missing


def test_sparse_gradients_on_a_grid_larger_than_a_decoding_block():
    """3210 cells: the core decodes a step 2048 cells at a time; one and two threads."""
    from smash.factory.synthetic import synthetic_setup_mesh

    setup, mesh = synthetic_setup_mesh(nrow=70, ncol=70)
    setup.update(end_time="2020-03-01")
    dense, sparse = smash.Model(dict(setup), mesh), smash.Model(dict(setup, sparse_storage=True), mesh)
    assert sparse.mesh.nac > 2048 and 0 < sum(s.coo_fmt for s in sparse.atmos_data.sparse_prcp) < 60
    for ncpu in (1, 2):
        runs = [model.backward_run(mapping="distributed", common_options={"ncpu": ncpu},
                                   return_options={"cost": True, "grad": True}) for model in (dense, sparse)]
        assert runs[0].cost == runs[1].cost and np.array_equal(runs[0].grad, runs[1].grad)
    _assert_same_run(dense, sparse, common_options={"ncpu": 2})
