"""The Bayesian cost's derivatives (md_bayesian_cost), checked as tests/test_generated_adjoint.py checks
the others:
- through the forward model (the generated forward_cost adjoint and tangent with the structural error
  likelihood as observation term): dot-product test of tangent against adjoint, and central finite
  differences, for every mu and sigma mapping;
- in the structural error parameters and the discharge (the generated serr_log_likelihood adjoint):
  central finite differences of the log-likelihood, and its value against an independent numpy
  computation of the Gaussian log-density of the documented model.
"""

import numpy as np
import pytest

import smash
from smash import _core, _testing
from smash.analysis.cost_options import build_cost_options
from smash.bayesian import serr as serr_model

from helpers import core_gradient, line_mesh

MU_MAPPINGS = ("Zero", "Constant", "Linear")
SIGMA_MAPPINGS = ("Constant", "Linear", "Power", "Exponential", "Gaussian")
# Parameter values away from the bounds and branch points (sg1 > 0 scales the discharge).
MU_VALUES = {"mg0": 0.2, "mg1": -0.05}
SIGMA_VALUES = {"sg0": 0.4, "sg1": 0.8, "sg2": 1.6}


def _model(mu, sigma, ncell=5, seed=0, u=0.05):
    setup = {"start_time": "2020-01-01", "end_time": "2020-03-01", "dt": 86400, "hydrological_module": "gr4",
             "routing_module": "lr", "serr_mu_mapping": mu, "serr_sigma_mapping": sigma}
    model = smash.Model(setup, line_mesh(ncell))
    rng = np.random.default_rng(seed)
    nt = model.setup.ntime_step
    model.atmos_data.prcp = rng.gamma(0.6, 10.0, size=(1, ncell, nt)).astype(np.float32)
    model.atmos_data.pet = (2.0 + rng.random((1, ncell, nt))).astype(np.float32)
    for maps, bounds in ((model.rr_parameters, model.get_rr_parameters_bounds()),
                         (model.rr_initial_states, model.get_rr_initial_states_bounds())):
        for i, key in enumerate(maps.keys):
            low, high = bounds[key]
            if key == "llr":
                low, high = 30.0, 200.0
            maps.values[..., i] = low + rng.uniform(0.3, 0.7, size=(1, ncell)) * (high - low)
    model.forward_run()
    q = model.response.q.astype(float)
    obs = (q * (1 + 0.3 * rng.standard_normal(q.shape)) + 0.05).clip(0)
    obs[0, 7] = -99.0   # a missing observation is left out of the likelihood
    model.response_data.q = obs.astype(np.float32)
    model.u_response_data.q_stdev = np.full(q.shape, u, dtype=np.float32)
    for key in model.serr_mu_parameters.keys:
        model.set_serr_mu_parameters(key, MU_VALUES[key])
    for key in model.serr_sigma_parameters.keys:
        model.set_serr_sigma_parameters(key, SIGMA_VALUES[key])
    return model


def _bayesian_cost_options(model, cost_options=None):
    _, fc = build_cost_options(model, cost_options or {"gauge": "all"})
    serr_model.core_serr_options(model, fc)
    return fc


def _numpy_moments(mu_mapping, sigma_mapping, q, mu_par, sigma_par):
    """mu(q) and sigma(q) as smash's math documentation defines them."""
    mg = dict(zip(("mg0", "mg1"), mu_par, strict=False))
    sg = dict(zip(("sg0", "sg1", "sg2"), sigma_par, strict=False))
    mu = {"Zero": 0 * q, "Constant": mg.get("mg0", 0) + 0 * q,
          "Linear": mg.get("mg0", 0) + mg.get("mg1", 0) * q}[mu_mapping]
    sigma = {"Constant": lambda: sg["sg0"] + 0 * q, "Linear": lambda: sg["sg0"] + sg["sg1"] * q,
             "Power": lambda: sg["sg0"] + sg["sg1"] * q ** sg["sg2"],
             "Exponential": lambda: sg["sg0"] + (sg["sg2"] - sg["sg0"]) * (1 - np.exp(-q / sg["sg1"])),
             "Gaussian": lambda: sg["sg0"] + (sg["sg2"] - sg["sg0"]) * (1 - np.exp(-(q / sg["sg1"]) ** 2))}[
        sigma_mapping]()
    return mu, sigma


def _numpy_log_likelihood(mu_mapping, sigma_mapping, q, obs, u, mu_par, sigma_par, first=0):
    """The documented model, written independently: sum of log N(obs; q + mu(q), sigma(q)**2 + u**2)."""
    mu, sigma = _numpy_moments(mu_mapping, sigma_mapping, q, mu_par, sigma_par)
    var = sigma ** 2 + u.astype(float) ** 2
    ok = obs >= 0
    ok[:first] = False
    terms = -0.5 * np.log(2 * np.pi * var) - 0.5 * (obs - q - mu) ** 2 / var
    return float(terms[ok].sum()), int(ok.sum())


@pytest.mark.parametrize("mu", MU_MAPPINGS)
@pytest.mark.parametrize("sigma", SIGMA_MAPPINGS)
def test_bayesian_cost_adjoint_dot_product_and_finite_differences(mu, sigma):
    model = _model(mu, sigma)
    net = model.network
    rng = np.random.default_rng(1)
    p0 = model.rr_parameters.values[net.rows, net.cols]
    s0 = model.rr_initial_states.values[net.rows, net.cols]
    dp = p0 * rng.uniform(-1, 1, size=p0.shape) * 1e-1
    ds = s0 * rng.uniform(-1, 1, size=s0.shape) * 1e-1
    fc = _bayesian_cost_options(model)
    _testing.sync_parameters(model)
    cost, grad, fo = core_gradient(model, fc)
    direction = _testing.new_core_parameters(model)
    direction.rr_parameters[...] = dp
    direction.rr_initial_states[...] = ds
    cost_t, dcost = _testing.run_tangent(model, fc, direction, fo)
    # The cost is -log_lkh / nobs of the documented Gaussian model.
    q = np.array(fo.q[0], dtype=float)
    obs = model.response_data.q[0].astype(float)
    lkh, nobs = _numpy_log_likelihood(mu, sigma, q, obs, model.u_response_data.q_stdev[0],
                                      model.serr_mu_parameters.values[0], model.serr_sigma_parameters.values[0])
    assert nobs == obs.size - 1
    assert cost == pytest.approx(-lkh / nobs, rel=1e-12) and cost_t == pytest.approx(cost, rel=1e-12)
    adjoint = float(np.sum(np.array(grad.rr_parameters) * dp) + np.sum(np.array(grad.rr_initial_states) * ds))
    assert adjoint != 0.0
    assert dcost == pytest.approx(adjoint, rel=1e-10, abs=1e-14)

    def cost_at(eps):
        _testing.core_parameters(model).rr_parameters[...] = p0 + eps * dp
        _testing.core_parameters(model).rr_initial_states[...] = s0 + eps * ds
        _testing.run_forward(model, fc, fo)
        return fo.cost

    fd = (cost_at(1e-4) - cost_at(-1e-4)) / 2e-4
    assert fd == pytest.approx(adjoint, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("mu", MU_MAPPINGS)
@pytest.mark.parametrize("sigma", SIGMA_MAPPINGS)
def test_serr_gradient_finite_differences(mu, sigma):
    model = _model(mu, sigma)
    fc = _bayesian_cost_options(model, {"gauge": "all", "end_warmup": "2020-01-05"})
    q = np.asfortranarray(model.response.q.astype(float))
    grads = [np.zeros(np.shape(q), order="F"), np.zeros(np.shape(fc.serr_mu), order="F"),
             np.zeros(np.shape(fc.serr_sigma), order="F")]
    lkh, nobs = _core.serr_gradient(model, fc, q, *grads)
    obs = model.response_data.q[0].astype(float)
    ref, ref_n = _numpy_log_likelihood(mu, sigma, q[0], obs, model.u_response_data.q_stdev[0],
                                       model.serr_mu_parameters.values[0], model.serr_sigma_parameters.values[0],
                                       first=4)
    assert nobs == ref_n and lkh == pytest.approx(ref, rel=1e-12)
    g_q, g_mu, g_sigma = (g.copy() for g in grads)
    assert np.all(g_q[0, :4] == 0) and np.any(g_q[0, 4:] != 0)   # the warm-up is not scored

    def lkh_at(array, index, eps):
        saved = array[index]
        array[index] = saved + eps
        value = _core.serr_gradient(model, fc, q, *(np.zeros_like(g) for g in grads))[0]
        array[index] = saved
        return value

    npar_mu = len(model.serr_mu_parameters.keys)
    checks = [(fc.serr_mu, (0, i), g_mu[0, i]) for i in range(npar_mu)]
    checks += [(fc.serr_sigma, (0, i), g_sigma[0, i]) for i in range(len(model.serr_sigma_parameters.keys))]
    checks += [(q, (0, t), g_q[0, t]) for t in (10, 25, 40)]
    for array, index, adjoint in checks:
        eps = 1e-6 * max(1.0, abs(float(array[index])))
        fd = (lkh_at(array, index, eps) - lkh_at(array, index, -eps)) / (2 * eps)
        assert fd == pytest.approx(adjoint, rel=1e-6, abs=1e-8), index
    assert np.all(g_mu[0, npar_mu:] == 0)   # the unused columns of the fixed-size layout


def test_serr_moments_match_the_documented_mappings():
    for sigma in SIGMA_MAPPINGS:
        model = _model("Linear", sigma)
        q = model.response.q.astype(float)[0]
        mu, sd = model.get_serr_mu()[0], model.get_serr_sigma()[0]
        ref_mu, ref_sd = _numpy_moments("Linear", sigma, q, model.serr_mu_parameters.values[0],
                                        model.serr_sigma_parameters.values[0])
        np.testing.assert_allclose(mu, ref_mu, rtol=1e-12)
        np.testing.assert_allclose(sd, ref_sd, rtol=1e-12)
        assert np.all(sd > 0) and np.ptp(sd) > 0 if sigma != "Constant" else np.all(sd == SIGMA_VALUES["sg0"])


def test_control_prior_value_against_scipy_and_gradient_by_finite_differences():
    """md_bayesian_cost::control_log_prior and its generated adjoint (the third head)."""
    from scipy import stats

    from smash.bayesian import prior

    spec = {"a": ["Gaussian", [1, 2]], "b": ["LogNormal", [0.5, 0.3]], "c": ["Exponential", [0, 2]],
            "d": ["Triangle", [0, -5, 5]], "e": ["Triangle", [0, -5, 5]], "f": ["Uniform", [0, 10]],
            "g": ["FlatPrior", []]}
    priors = prior.check_control_prior(spec, list("abcdefgh"))
    x = np.array([0.3, 1.7, 0.4, 1.2, -2.5, 3.0, 9.0, 5.0])
    value, grad = prior.log_prior(priors, x)
    expected = (stats.norm.logpdf(0.3, 1, 2) + stats.lognorm.logpdf(1.7, 0.3, scale=np.exp(0.5))
                + stats.expon.logpdf(0.4, 0, 2) + stats.triang.logpdf(1.2, 0.5, -5, 10)
                + stats.triang.logpdf(-2.5, 0.5, -5, 10) + stats.uniform.logpdf(3.0, 0, 10))
    assert value == pytest.approx(expected, rel=1e-12)
    for i in range(x.size):
        step = 1e-6 * np.eye(x.size)[i]
        fd = (prior.log_prior(priors, x + step)[0] - prior.log_prior(priors, x - step)[0]) / 2e-6
        assert fd == pytest.approx(grad[i], rel=1e-6, abs=1e-9)
    assert grad[6] == grad[7] == 0.0
    # Outside a support the density is 0.
    for i, outside in ((1, -1.0), (2, -0.1), (3, 6.0), (5, 11.0)):
        assert prior.log_prior(priors, np.where(np.arange(x.size) == i, outside, x))[0] == -np.inf
