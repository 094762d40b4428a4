"""generate_samples and multiple_forward_run.

Reference: tests/anchor_refs/Lez/samples.npz, made by make_samples.py with hydro-smash 1.3
as a black box (its draws for given seeds, and its ensembles of distributed maps on Lez).
"""

import contextlib
import json

import numpy as np
import pytest

import smash
from smash.factory import generate_samples

from helpers import ANCHOR_REFS

SAMPLES_REF = ANCHOR_REFS / "Lez" / "samples.npz"
PROBLEM = {"num_vars": 3, "names": ["cp", "ct", "kexc"], "bounds": [[10, 1000], [1, 500], [-20, 5]]}


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("synthetic")
    setup["end_time"] = "2020-04-01"
    return smash.Model(setup, mesh)


def test_uniform_samples_fill_their_bounds():
    s = generate_samples(PROBLEM, n=20000, random_state=3)
    assert s.n_sample == 20000 and s.names == PROBLEM["names"] and s.generator == "uniform"
    for name, (low, high) in zip(PROBLEM["names"], PROBLEM["bounds"], strict=True):
        v = getattr(s, name)
        assert v.min() >= low and v.max() <= high
        # Mean and variance of U(low, high); 5 standard errors.
        width = high - low
        assert abs(v.mean() - (low + high) / 2) < 5 * width / np.sqrt(12 * v.size)
        assert abs(v.var() / (width**2 / 12) - 1) < 0.05
    again = generate_samples(PROBLEM, n=20000, random_state=3)
    assert np.array_equal(again.to_numpy(), s.to_numpy())
    assert not np.array_equal(generate_samples(PROBLEM, n=20000, random_state=4).cp, s.cp)


def test_normal_samples_are_truncated_around_the_mean():
    s = generate_samples(PROBLEM, generator="normal", n=20000, random_state=0, mean={"cp": 400.0}, coef_std=10)
    cp, ct = s.cp, s.ct
    # cp: N(400, 99) barely touches its bounds [10, 1000].
    assert abs(cp.mean() - 400) < 5 * 99 / np.sqrt(cp.size)
    assert abs(cp.std() / 99.0 - 1) < 0.03
    # ct: centred on the middle of [1, 500] by default.
    assert abs(ct.mean() - 250.5) < 5 * 49.9 / np.sqrt(ct.size)
    wide = generate_samples(PROBLEM, generator="normal", n=5000, random_state=0, mean={"kexc": 4.5}, coef_std=0.5)
    assert wide.kexc.min() >= -20 and wide.kexc.max() <= 5   # truncation holds far from the mean


def test_samples_views_and_slices():
    s = generate_samples(PROBLEM, n=10, random_state=1)
    assert s.to_numpy(axis=0).shape == (3, 10) and s.to_numpy(axis=1).shape == (10, 3)
    assert np.array_equal(s.to_numpy(axis=1)[:, 1], s.ct) and np.array_equal(s["kexc"], s.kexc)
    frame = s.to_dataframe()
    assert list(frame.columns) == PROBLEM["names"] and np.array_equal(frame["cp"].to_numpy(), s.cp)
    part = s.slice(7, start=2)
    assert part.n_sample == 5 and np.array_equal(part.cp, s.cp[2:7])
    chunks = list(s.iterslice(by=4))
    assert [c.n_sample for c in chunks] == [4, 4, 2]
    assert np.array_equal(np.concatenate([c.cp for c in chunks]), s.cp)
    assert "n_sample=10" in repr(s)


@pytest.mark.parametrize("problem, kwargs, match", [
    ({"num_vars": 2, "names": ["cp"], "bounds": [[1, 2]]}, {}, "num_vars = 2 but 1 names"),
    ({"names": ["cp"], "bounds": [[1, 2]]}, {}, "lacks the key"),
    ({"num_vars": 1, "names": ["cp"], "bounds": [[5, 2]]}, {}, "bounds of 'cp'"),
    (PROBLEM, {"generator": "sobol"}, "Unknown generator 'sobol'"),
    (PROBLEM, {"n": 0}, "n must be a positive integer"),
    (PROBLEM, {"generator": "normal", "mean": {"cp": float("nan")}}, "mean of 'cp'"),
    (PROBLEM, {"random_state": -1}, "random_state must be"),
])
def test_sample_errors(problem, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_samples(problem, **kwargs)


def test_multiple_forward_run_equals_single_runs(model):
    samples = generate_samples({"num_vars": 3, "names": ["cp", "llr", "hp"],
                                "bounds": [[50, 800], [5, 200], [0.1, 0.9]]}, n=4, random_state=2)
    before = model.get_rr_parameters("cp")
    mfr = smash.multiple_forward_run(model, samples, common_options={"verbose": False})
    assert mfr.q.shape == (model.mesh.ng, model.setup.ntime_step, 4) and mfr.cost.shape == (4,)
    assert np.array_equal(model.get_rr_parameters("cp"), before)   # the model is left as it was
    for i in range(4):
        single = model.copy()
        single.set_rr_parameters("cp", samples.cp[i])
        single.set_rr_parameters("llr", samples.llr[i])
        single.set_rr_initial_states("hp", samples.hp[i])
        ret = single.forward_run(return_options={"cost": True})
        assert np.array_equal(mfr.q[:, :, i], single.response.q)
        assert mfr.cost[i] == ret.cost
    assert len(set(mfr.cost)) == 4   # the samples do change the runs


def test_multiple_forward_run_takes_a_dict_and_cost_options(model):
    values = {"cp": [100.0, 600.0]}
    mfr = smash.multiple_forward_run(model, values, cost_options={"jobs_cmpt": "kge", "gauge": "all"},
                                     common_options={"verbose": False, "ncpu": 2})
    single = model.copy()
    single.set_rr_parameters("cp", 600.0)
    ret = single.forward_run(cost_options={"jobs_cmpt": "kge", "gauge": "all"}, return_options={"cost": True})
    assert mfr.cost[1] == pytest.approx(ret.cost, rel=1e-12)


def test_multiple_forward_run_errors(model):
    with pytest.raises(ValueError, match=r"\['beta'\] are neither rr parameters nor rr initial states"):
        smash.multiple_forward_run(model, {"beta": [1.0]})
    with pytest.raises(ValueError, match="same n"):
        smash.multiple_forward_run(model, {"cp": [1.0, 2.0], "ct": [3.0]})
    with pytest.raises(ValueError, match="sample 1: .*cp"):
        smash.multiple_forward_run(model, {"cp": [10.0, -5.0]}, common_options={"verbose": False})
    with pytest.raises(TypeError, match="Samples or a non-empty dict"):
        smash.multiple_forward_run(model, [1.0, 2.0])


@pytest.fixture(scope="module")
def samples_ref():
    return np.load(SAMPLES_REF)


def test_samples_equal_smash_draws_for_the_same_seed(samples_ref):
    """Every generator and option: the very numbers smash 1.3 drew with the same random_state."""
    problem = json.loads(str(samples_ref["problem_json"]))
    cases = json.loads(str(samples_ref["draw_cases_json"]))
    assert len(cases) == 8
    for i, case in enumerate(cases):
        ignored = case["generator"] == "uniform" and ("mean" in case or "coef_std" in case)
        with pytest.warns(UserWarning, match="ignored") if ignored else contextlib.nullcontext():
            ours = generate_samples(problem, **case)
        assert ours.generator == case["generator"]
        # Same RandomState stream, same scipy truncnorm: equal to the last bit but for libm.
        np.testing.assert_allclose(ours.to_numpy(axis=1), samples_ref[f"draw_{i}"], rtol=1e-13, atol=0,
                                   err_msg=str(case))


def test_options_smash_ignores_warn():
    with pytest.warns(UserWarning, match="'normal' generator only"):
        s = generate_samples(PROBLEM, n=5, random_state=1, mean={"cp": 50.0})
    assert np.array_equal(s.cp, generate_samples(PROBLEM, n=5, random_state=1).cp)
    with pytest.warns(UserWarning, match=r"unknown variable\(s\) \['llr'\]"):
        s = generate_samples(PROBLEM, generator="normal", n=5, random_state=1, mean={"llr": 3.0})
    assert np.array_equal(s.ct, generate_samples(PROBLEM, generator="normal", n=5, random_state=1).ct)


def test_samples_without_seed_follow_numpy_global_state(samples_ref):
    problem = json.loads(str(samples_ref["problem_json"]))
    cases = json.loads(str(samples_ref["draw_cases_json"]))
    state = np.random.get_state()
    try:
        for i, seed in enumerate(samples_ref["global_seeds"]):
            kwargs = {k: v for k, v in cases[i].items() if k != "random_state"}
            np.random.seed(int(seed))
            ours = generate_samples(problem, **kwargs).to_numpy(axis=1)
            np.testing.assert_allclose(ours, samples_ref[f"draw_global_{i}"], rtol=1e-13, atol=0)
    finally:
        np.random.set_state(state)


@pytest.fixture(scope="module")
def lez(data_dir):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    return smash.Model(dict(setup, read_descriptor=False), mesh)


def test_multiple_forward_run_of_distributed_maps_equals_smash(lez, samples_ref):
    names = ["cp", "ct", "kexc", "llr", "hp"]
    maps = {k: samples_ref[f"mfr_map_{k}"] for k in names}
    assert maps["cp"].shape == (4, lez.mesh.nrow, lez.mesh.ncol)
    opts = {"verbose": False}
    mfr = smash.multiple_forward_run(lez, maps, common_options=opts)
    # smash computes in float32: its discharge within 1e-4 relative (of the peak), its costs within 1e-5.
    scale = np.abs(samples_ref["mfr_q"]).max()
    np.testing.assert_allclose(mfr.q, samples_ref["mfr_q"], rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(mfr.cost, samples_ref["mfr_cost"], rtol=1e-5)
    assert len(set(np.round(samples_ref["mfr_cost"], 4))) == 4   # the maps do change the runs
    kge = smash.multiple_forward_run(lez, maps, cost_options={"jobs_cmpt": "kge", "gauge": "all"},
                                     common_options=opts)
    np.testing.assert_allclose(kge.cost, samples_ref["mfr_kge_cost"], rtol=1e-5)
    # Maps and uniform values mixed in one dict, as smash takes them.
    mixed = smash.multiple_forward_run(lez, {"cp": maps["cp"], "ct": samples_ref["mfr_mixed_ct"]},
                                       common_options=opts)
    np.testing.assert_allclose(mixed.cost, samples_ref["mfr_mixed_cost"], rtol=1e-5)
    np.testing.assert_allclose(mixed.q, samples_ref["mfr_mixed_q"], rtol=0, atol=1e-4 * scale)
    # And each run is the single forward run with the same maps.
    for i in (0, 3):
        single = lez.copy()
        for k in names:
            setter = single.set_rr_initial_states if k == "hp" else single.set_rr_parameters
            setter(k, maps[k][i])
        ret = single.forward_run(return_options={"cost": True})
        assert np.array_equal(mfr.q[:, :, i], single.response.q)
        assert mfr.cost[i] == ret.cost


def test_multiple_forward_run_map_errors(lez):
    grid = (lez.mesh.nrow, lez.mesh.ncol)
    with pytest.raises(ValueError, match=r"\(n, nrow, ncol\).*cp: shape \(2, 5, 14\)"):
        smash.multiple_forward_run(lez, {"cp": np.full((2, 5, grid[1]), 100.0)})
    with pytest.raises(ValueError, match="same n"):
        smash.multiple_forward_run(lez, {"cp": np.full((2, *grid), 100.0), "ct": [1.0, 2.0, 3.0]})
    bad = np.full((2, *grid), 100.0)
    bad[1, lez.mesh.active_cell.astype(bool)] = -5.0
    with pytest.raises(ValueError, match="sample 1: .*cp"):
        smash.multiple_forward_run(lez, {"cp": bad}, common_options={"verbose": False})
    # Out of bounds on inactive cells only is accepted, as in smash (never used).
    ok = np.full((1, *grid), 100.0)
    ok[0, ~lez.mesh.active_cell.astype(bool)] = -5.0
    assert smash.multiple_forward_run(lez, {"cp": ok}, common_options={"verbose": False}).cost.shape == (1,)
