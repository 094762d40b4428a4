"""multi-linear and multi-power mappings: maps inside bounds, gradient of the control by the chain
rule through the generated adjoint (checked against central finite differences), and calibration."""

import numpy as np
import pytest

import smash
from smash.cost_options import build_cost_options
from smash.optimize import _build_control, _check_options, _Problem


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("synthetic")
    return smash.Model(setup, mesh)


def _problem(model, mapping):
    _, options = _check_options(model, mapping, None, None)
    m = model.copy()
    control = _build_control(m, mapping, options)
    _, fcost = build_cost_options(m, None)
    return _Problem(m, control, fcost), control


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_gradient_matches_finite_differences(model, mapping):
    problem, control = _problem(model, mapping)
    nd = model.physio_data.descriptor.shape[-1]
    assert control.n_rr == len(control.names) * (1 + nd * (2 if mapping == "multi-power" else 1))
    rng = np.random.default_rng(3)
    x = control.x_from_model() + 0.3 * rng.standard_normal(control.n_rr)
    if mapping == "multi-power":
        x.reshape(len(control.names), -1)[:, 1 + nd:] = rng.uniform(0.5, 2.0, (len(control.names), nd))
    _, g = problem.cost_grad(x)
    # Costs are float64 sums over float32 observations: eps = 1e-6 leaves ~1e-4 relative agreement.
    for d in (rng.standard_normal(x.size), np.eye(x.size)[0]):
        eps = 1e-6
        fd = (problem.cost(x + eps * d) - problem.cost(x - eps * d)) / (2 * eps)
        assert fd == pytest.approx(g @ d, rel=1e-3, abs=1e-7)


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_maps_stay_in_bounds_and_first_guess_is_uniform_mean(model, mapping):
    problem, control = _problem(model, mapping)
    x0 = control.x_from_model()
    maps = control.maps(x0)
    np.testing.assert_allclose(maps, np.repeat(control.raw().mean(axis=1, keepdims=True), control.ncell, axis=1),
                               rtol=1e-5)
    wild = control.maps(np.abs(50 * np.random.default_rng(0).standard_normal(x0.size)))
    assert np.all(wild >= control.lower[:, None]) and np.all(wild <= control.upper[:, None])


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_calibration_lowers_the_cost(model, mapping):
    new, opt = smash.optimize(model, mapping=mapping, optimize_options={"termination_crit": {"maxiter": 15}},
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
    hybrid = smash.Model(dict(setup, hydrological_module="gr4_mlp", hidden_neuron=4), mesh)
    with pytest.raises(ValueError, match="maps descriptors to rr parameters and states only"):
        smash.optimize(hybrid, mapping="multi-linear", optimize_options={"parameters": ["cp", "weight_1"]},
                       common_options={"verbose": False})
