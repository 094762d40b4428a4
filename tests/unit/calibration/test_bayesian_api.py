"""bayesian_optimize's API on a small synthetic model: in place or on a copy, the structural error
parameters' setters and their checks, and the errors that name the bad option."""

import numpy as np
import pytest

import smash

from helpers import line_model


@pytest.fixture()
def model():
    m = line_model(ndays=30)
    m.forward_run()
    q = m.response.q.astype(float)
    m.response_data.q = (q * 1.1 + 0.01).astype(np.float32)
    return m


def test_in_place_and_copy(model):
    before = model.serr_sigma_parameters.values.copy()
    new = smash.bayesian_optimize(model, optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 3}},
                                  common_options={"verbose": False})
    np.testing.assert_array_equal(model.serr_sigma_parameters.values, before)
    assert not np.array_equal(new.serr_sigma_parameters.values, before)
    assert model.bayesian_optimize(optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 3}},
                                   common_options={"verbose": False}) is None
    np.testing.assert_allclose(model.serr_sigma_parameters.values, new.serr_sigma_parameters.values, rtol=1e-12)


def test_maxiter_zero_keeps_everything_and_reports_the_start(model):
    start = model.copy()
    _, ret = smash.bayesian_optimize(model, optimize_options={"termination_crit": {"maxiter": 0}},
                                     return_options={"cost": True, "log_lkh": True, "n_iter": True},
                                     common_options={"verbose": False})
    assert ret.n_iter == 0 and ret.cost == pytest.approx(-ret.log_lkh / 30, rel=1e-12)
    np.testing.assert_array_equal(model.rr_parameters.values, start.rr_parameters.values)


def test_serr_setters_check_their_values(model):
    model.set_serr_sigma_parameters("sg0", [0.7])
    assert model.get_serr_sigma_parameters("sg0").tolist() == [0.7]
    with pytest.raises(ValueError, match="positive"):
        model.set_serr_sigma_parameters("sg1", -1.0)
    with pytest.raises(ValueError, match="one value per gauge"):
        model.set_serr_sigma_parameters("sg0", [1.0, 2.0])
    with pytest.raises(ValueError, match="Unknown key 'mg0'"):
        model.set_serr_mu_parameters("mg0", 1.0)   # the Zero mapping has no parameter
    with pytest.raises(ValueError, match="non-negative"):
        model.u_response_data.q_stdev = -1.0
    assert model.get_serr_mu().shape == (1, 30) and np.all(model.get_serr_mu() == 0)


def test_errors_name_the_bad_option(model):
    kwargs = {"common_options": {"verbose": False}}
    with pytest.raises(ValueError, match="jobs_cmpt"):
        smash.bayesian_optimize(model, cost_options={"jobs_cmpt": "nse"}, **kwargs)
    with pytest.raises(ValueError, match="'cp-1'.*not a control"):
        smash.bayesian_optimize(model, cost_options={"control_prior": {"cp-1": ["Gaussian", [1, 1]]}}, **kwargs)
    with pytest.raises(ValueError, match="unknown distribution 'Normal'"):
        smash.bayesian_optimize(model, cost_options={"control_prior": {"cp-0": ["Normal", [1, 1]]}}, **kwargs)
    with pytest.raises(ValueError, match="Gaussian takes 2 parameters"):
        smash.bayesian_optimize(model, cost_options={"control_prior": {"cp-0": ["Gaussian", [1]]}}, **kwargs)
    with pytest.raises(ValueError, match="Unknown mapping 'ann'"):
        smash.bayesian_optimize(model, mapping="ann", **kwargs)
    with pytest.raises(ValueError, match="bounds.*'sg0'.*positive"):
        smash.bayesian_optimize(model, optimize_options={"bounds": {"sg0": (0, 5)}}, **kwargs)
    model.response_data.q = np.full((1, 30), -99, dtype=np.float32)
    with pytest.raises(ValueError, match="No observed discharge"):
        smash.bayesian_optimize(model, **kwargs)
