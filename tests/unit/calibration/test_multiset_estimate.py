"""multiset_estimate: the weighted estimate of an ensemble of runs and its L-curve.

Reference: tests/anchor_refs/Cance/multiset.npz, made by tools/anchor_refs/make_multiset.py with
hydro-smash 1.3 as a black box (Cance gr4-lr on a shortened period, the same samples).
"""

import copy

import numpy as np
import pytest

import smash
from smash.calibration.multiset import kernel_density
from smash.factory import generate_samples

from helpers import ANCHOR_REFS

REF = ANCHOR_REFS / "Cance" / "multiset.npz"
# As the generator: the period and the sampling problem.
SETUP_CHANGES = {"end_time": "2014-10-20 00:00", "read_descriptor": False}
PROBLEM = {"num_vars": 4, "names": ["cp", "ct", "kexc", "llr"],
           "bounds": [[1.0, 2000.0], [1.0, 1000.0], [-20.0, 5.0], [1.0, 1000.0]]}
QUIET = {"verbose": False}
RETURN = {"lcurve_multiset": True, "cost": True}


@pytest.fixture(scope="module")
def ref():
    return np.load(REF)


@pytest.fixture(scope="module")
def cance(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", data_dir)
    setup.update(SETUP_CHANGES)
    return smash.Model(setup, mesh)


def _check_estimate(ref, case, model, names, rtol):
    for name in names:
        expected = ref[f"{case}_{name}"]
        got = model.get_rr_parameters(name)
        assert np.allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max()), (case, name)


def _with_costs(mfr, costs):
    """The ensemble with smash 1.3's costs of the same runs: the estimator alone is then compared."""
    same = copy.copy(mfr)
    same.cost = np.array(costs, dtype=np.float64)
    return same


def _check_lcurve(lcurve, ref, case):
    assert np.array_equal(lcurve["alpha"], ref[f"{case}_lcurve_alpha"])
    assert lcurve["alpha_opt"] == ref[f"{case}_alpha_opt"]
    # Forward runs with the same parameters: smash 1.3's float32 costs against ours (see docs/calibration.md).
    assert np.allclose(lcurve["cost"], ref[f"{case}_lcurve_cost"], rtol=1e-5)
    distance = ref[f"{case}_lcurve_mahal_dist"]
    finite = np.isfinite(distance)
    assert np.array_equal(np.isfinite(lcurve["mahal_dist"]), finite)
    assert np.allclose(lcurve["mahal_dist"][finite], distance[finite], rtol=1e-5)


def test_uniform_samples_default_lcurve_equals_smash(cance, ref):
    samples = generate_samples(PROBLEM, n=12, random_state=11)
    mfr = smash.multiple_forward_run(cance, samples, common_options=QUIET)
    assert np.allclose(mfr.cost, ref["uniform_mfr_cost"], rtol=1e-5)
    # Same samples and smash's costs: the same L-curve, corner and estimate.
    estimate, ret = smash.multiset_estimate(cance, _with_costs(mfr, ref["uniform_mfr_cost"]), common_options=QUIET,
                                            return_options=RETURN)
    _check_lcurve(ret.lcurve_multiset, ref, "uniform")
    # The corner is where the distance first overflows: the estimate is the best sample.
    assert np.isinf(ret.lcurve_multiset["mahal_dist"]).any()
    _check_estimate(ref, "uniform", estimate, PROBLEM["names"], 1e-6)
    assert ret.cost == pytest.approx(float(ref["uniform_cost"]), rel=1e-5)
    # With our own costs (float64, within 5e-6 of smash's) the distance overflows at the same alpha (the
    # corner), and the estimate there is the same; the two alphas around it suffice to show it.
    corner = int(np.flatnonzero(ref["uniform_lcurve_alpha"] == ref["uniform_alpha_opt"])[0])
    around = list(ref["uniform_lcurve_alpha"][corner - 1:corner + 1])
    ours, ret = smash.multiset_estimate(cance, mfr, alpha=around, common_options=QUIET, return_options=RETURN)
    assert np.isfinite(ret.lcurve_multiset["mahal_dist"][0]) and np.isinf(ret.lcurve_multiset["mahal_dist"][1])
    assert ret.lcurve_multiset["alpha_opt"] == ref["uniform_alpha_opt"]
    _check_estimate(ref, "uniform", ours, PROBLEM["names"], 1e-6)
    # The model passed in is unchanged; the method form estimates in place.
    assert np.all(cance.get_rr_parameters("cp") == 200.0)
    inplace = cance.copy()
    assert inplace.multiset_estimate(mfr, alpha=float(ref["uniform_alpha_opt"]), common_options=QUIET) is None
    _check_estimate(ref, "uniform", inplace, PROBLEM["names"], 1e-6)
    assert np.array_equal(inplace.response.q, ours.response.q)


def test_normal_samples_weigh_by_their_law_equals_smash(cance, ref):
    samples = generate_samples(PROBLEM, generator="normal", n=8, random_state=3)
    mfr = smash.multiple_forward_run(cance, samples, common_options=QUIET)
    assert np.allclose(mfr.cost, ref["normal_mfr_cost"], rtol=1e-5)
    estimate, ret = smash.multiset_estimate(cance, _with_costs(mfr, ref["normal_mfr_cost"]),
                                            alpha=list(ref["normal_alpha"]), common_options=QUIET,
                                            return_options=RETURN)
    _check_lcurve(ret.lcurve_multiset, ref, "normal")
    _check_estimate(ref, "normal", estimate, PROBLEM["names"], 1e-5)


def test_distributed_maps_with_one_alpha_equals_smash(cance, ref):
    maps = {"cp": ref["input_cp_maps"], "ct": ref["input_ct_values"]}
    mfr = smash.multiple_forward_run(cance, maps, common_options=QUIET)
    assert np.allclose(mfr.cost, ref["maps_mfr_cost"], rtol=1e-5)
    estimate, ret = smash.multiset_estimate(cance, _with_costs(mfr, ref["maps_mfr_cost"]), alpha=1.5,
                                            common_options=QUIET, return_options={"lcurve_multiset": True})
    assert set(ret.lcurve_multiset) == {"cost", "mahal_dist"} and not hasattr(ret, "cost")
    assert ret.lcurve_multiset["cost"] == pytest.approx(float(ref["maps_lcurve_cost"]), rel=1e-5)
    assert ret.lcurve_multiset["mahal_dist"] == pytest.approx(float(ref["maps_lcurve_mahal_dist"]), rel=1e-5)
    _check_estimate(ref, "maps", estimate, ["cp", "ct"], 1e-5)
    # Our own costs move the estimate by less than 1e-4 (their 1e-6 differences, scaled by 2**alpha).
    ours = smash.multiset_estimate(cance, mfr, alpha=1.5, common_options=QUIET)
    _check_estimate(ref, "maps", ours, ["cp", "ct"], 1e-4)


def test_kernel_density_is_scipys_gaussian_kde():
    from scipy.stats import gaussian_kde

    rng = np.random.default_rng(0)
    values = rng.normal(size=(9, 4)) * [1.0, 10.0, 0.1, 3.0]
    density = kernel_density(values)
    for j in range(values.shape[1]):
        assert np.allclose(density[:, j], gaussian_kde(values[:, j])(values[:, j]), rtol=1e-12)
    # Equal values: no density to estimate, all samples weigh alike.
    assert np.array_equal(kernel_density(np.full((5, 2), 3.0)), np.ones((5, 2)))


def test_weights_follow_the_definition_on_a_two_sample_ensemble():
    """With two uniform samples of one parameter, the estimate is w1 a + w2 b with
    w1 / w2 = exp(-2**alpha ((J1 / Jmin - 1)**2 - (J2 / Jmin - 1)**2)): computed here independently."""
    setup, mesh = smash.factory.load_dataset("synthetic")
    setup["end_time"] = "2020-04-01"
    model = smash.Model(setup, mesh)
    values = np.array([150.0, 600.0])
    mfr = smash.multiple_forward_run(model, {"cp": values}, common_options=QUIET)
    for alpha in (-1.0, 0.5, 2.0):
        estimate = smash.multiset_estimate(model, mfr, alpha=alpha, common_options=QUIET)
        decay = (mfr.cost / mfr.cost.min() - 1) ** 2
        weights = np.exp(-(2.0**alpha) * decay)
        expected = weights @ values / weights.sum()
        assert np.allclose(estimate.get_rr_parameters("cp"), expected, rtol=1e-12)
    # The other return options are the forward outputs of the run with the estimate.
    estimate, ret = smash.multiset_estimate(model, mfr, alpha=0.5, common_options=QUIET,
                                            return_options={"q_domain": True, "jobs": True})
    _, direct = smash.forward_run(estimate, return_options={"q_domain": True, "jobs": True})
    assert np.array_equal(ret.q_domain, direct.q_domain) and ret.jobs == direct.jobs
    assert np.array_equal(estimate.response.q, smash.forward_run(estimate).response.q)


def test_multiset_errors(cance):
    with pytest.raises(TypeError, match="MultipleForwardRun"):
        smash.multiset_estimate(cance, {"cp": [1.0]})
    mfr = smash.multiple_forward_run(cance, {"cp": [100.0, 300.0]}, common_options=QUIET)
    with pytest.raises(ValueError, match="alpha"):
        smash.multiset_estimate(cance, mfr, alpha="high")
    with pytest.raises(ValueError, match="Unknown return option"):
        smash.multiset_estimate(cance, mfr, alpha=1.0, return_options={"lcurve": True})
    with pytest.raises(ValueError, match="smallest cost is 0"):
        smash.multiset_estimate(cance, _with_costs(mfr, [0.0, 0.5]), alpha=1.0)
    with pytest.raises(ValueError, match="finite cost"):
        smash.multiset_estimate(cance, _with_costs(mfr, [np.nan, 0.5]), alpha=1.0)
    grid = (int(cance.mesh.nrow), int(cance.mesh.ncol))
    maps = smash.multiple_forward_run(cance, {"cp": np.full((2, *grid), 100.0)}, common_options=QUIET)
    other = smash.Model(*smash.factory.load_dataset("synthetic"))
    with pytest.raises(ValueError, match="shape"):
        smash.multiset_estimate(other, maps, alpha=1.0)
