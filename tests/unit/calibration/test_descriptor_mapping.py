"""multi-linear and multi-power mappings: maps inside bounds, gradient of the control by the chain
rule through the generated adjoint (checked against central finite differences), and calibration."""

import numpy as np
import pytest

import smash
from smash.analysis.cost_options import build_cost_options
from smash.calibration.optimize import _build_control, _check_options, _Problem


@pytest.fixture(scope="module")
def models():
    setup, mesh = smash.factory.load_dataset("synthetic")
    # multi-power needs non-negative descriptors once exponents leave integers: min-max normalized.
    return {"multi-linear": smash.Model(setup, mesh),
            "multi-power": smash.Model(dict(setup, descriptor_tfm="normalize"), mesh)}


@pytest.fixture(scope="module")
def model(models):
    return models["multi-linear"]


def _problem(model, mapping):
    _, options = _check_options(model, mapping, None, None)
    m = model.copy()
    control = _build_control(m, mapping, options)
    _, fcost = build_cost_options(m, None)
    return _Problem(m, control, fcost), control


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_gradient_matches_finite_differences(models, mapping):
    model = models[mapping]
    problem, control = _problem(model, mapping)
    nd = model.physio_data.descriptor.shape[-1]
    assert control.n_rr == len(control.names) * (1 + nd * (2 if mapping == "multi-power" else 1))
    rng = np.random.default_rng(3)
    x = control.x_from_model() + 0.3 * rng.standard_normal(control.n_rr)
    if mapping == "multi-power":
        # exponents in the normalize space of their bounds [0.5, 2]
        x[control._is_exponent()] = rng.uniform(0.1, 0.9, int(control._is_exponent().sum()))
    _, g = problem.cost_grad(x)
    # Costs are float64 sums over float32 observations: eps = 1e-6 leaves ~1e-4 relative agreement.
    for d in (rng.standard_normal(x.size), np.eye(x.size)[0]):
        eps = 1e-6
        fd = (problem.cost(x + eps * d) - problem.cost(x - eps * d)) / (2 * eps)
        assert fd == pytest.approx(g @ d, rel=1e-3, abs=1e-7)


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_maps_stay_in_bounds_and_first_guess_is_uniform_mean(models, mapping):
    problem, control = _problem(models[mapping], mapping)
    x0 = control.x_from_model()
    maps = control.maps(x0)
    np.testing.assert_allclose(maps, np.repeat(control.raw().mean(axis=1, keepdims=True), control.ncell, axis=1),
                               rtol=1e-5)
    wild_x = np.abs(50 * np.random.default_rng(0).standard_normal(x0.size))
    if mapping == "multi-power":
        wild_x[control._is_exponent()] = np.random.default_rng(1).uniform(0, 1, int(control._is_exponent().sum()))
    wild = control.maps(wild_x)
    assert np.all(wild >= control.lower[:, None]) and np.all(wild <= control.upper[:, None])


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_calibration_lowers_the_cost(models, mapping):
    new, opt = smash.optimize(models[mapping], mapping=mapping, optimize_options={"termination_crit": {"maxiter": 15}},
                              common_options={"verbose": False}, return_options={"iter_cost": True})
    assert opt.iter_cost[-1] < 0.7 * opt.iter_cost[0]
    cp = new.get_rr_parameters("cp")[new.mesh.active_cell == 1]
    assert cp.std() > 0  # spatially varying, driven by the descriptors
    low, high = new.get_rr_parameters_bounds()["cp"]
    assert cp.min() >= low and cp.max() <= high


def test_descriptor_mapping_errors(model):
    setup, mesh = smash.factory.load_dataset("synthetic")
    plain = smash.Model(dict(setup, read_descriptor=False, descriptor_name=[]), mesh)
    with pytest.raises(ValueError, match="needs physical descriptors"):
        smash.optimize(plain, mapping="multi-linear", common_options={"verbose": False})
    names = list(model.setup.descriptor_name)
    with pytest.raises(ValueError, match="unknown descriptor"):
        smash.optimize_control_info(model, mapping="multi-linear", optimize_options={"descriptor": {"cp": ["nope"]}})
    with pytest.raises(ValueError, match="not optimized"):
        smash.optimize_control_info(model, mapping="multi-linear",
                                    optimize_options={"parameters": ["cp"], "descriptor": {"ct": names[:1]}})
    # A non-integer power of a standardized (partly negative) descriptor has no real value.
    info = smash.optimize_control_info(model, mapping="multi-power")
    x = info["x"].copy()
    x[list(info["name"]).index(f"cp-{names[0]}-a")] = 0.5
    x[list(info["name"]).index(f"cp-{names[0]}-b")] = 0.5
    with pytest.raises(ValueError, match="multi-power map of 'cp' is undefined"):
        model.copy().set_control_optimize(x, mapping="multi-power")
