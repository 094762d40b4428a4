"""Calibration on the synthetic catchment: gradients, optimizers, bounds, errors."""

import numpy as np
import pytest

import smash


@pytest.fixture(scope="module")
def synthetic():
    setup, mesh = smash.factory.load_dataset("synthetic")
    return smash.Model(setup, mesh)


def test_default_options(synthetic):
    opts = smash.default_optimize_options(synthetic)
    assert opts["parameters"] == ["cp", "ct", "kexc", "llr"]
    assert opts["bounds"]["cp"] == (1e-6, 1000.0)
    assert opts["control_tfm"] == "sbs" and opts["termination_crit"]["maxiter"] == 50
    opts = smash.default_optimize_options(synthetic, mapping="distributed")
    assert opts["control_tfm"] == "normalize" and opts["termination_crit"]["maxiter"] == 100


def test_backward_run_gradient_matches_finite_differences(synthetic):
    model = synthetic.copy()
    opts = {"parameters": ["cp", "ct", "kexc", "llr", "hp"], "control_tfm": "keep"}
    ret = model.backward_run(optimize_options=opts, return_options={"grad": True, "cost": True})
    info = smash.optimize_control_info(model, optimize_options=opts)
    assert ret.grad.shape == (5,) and info["n"] == 5
    for i, name in enumerate(info["name"]):
        step = 1e-4 * max(abs(info["x_raw"][i]), 1e-2)
        costs = []
        for sign in (1, -1):
            probe = model.copy()
            if name == "hp":
                probe.set_rr_initial_states(name, info["x_raw"][i] + sign * step)
            else:
                probe.set_rr_parameters(name, info["x_raw"][i] + sign * step)
            costs.append(probe.forward_run(return_options={"cost": True}).cost)
        fd = (costs[0] - costs[1]) / (2 * step)
        assert ret.grad[i] == pytest.approx(fd, rel=1e-4, abs=1e-10), name
    # The user's maps are left as they were.
    assert np.array_equal(model.rr_parameters.values, synthetic.rr_parameters.values)


@pytest.mark.parametrize("mapping, optimizer", [("uniform", "sbs"), ("uniform", "lbfgsb"), ("uniform", "nelder-mead"),
                                                ("distributed", "lbfgsb"), ("distributed", "adam")])
def test_optimizers_lower_the_cost_within_bounds(synthetic, mapping, optimizer):
    model = synthetic.copy()
    j0 = model.forward_run(return_options={"cost": True}).cost
    opts = smash.default_optimize_options(model, mapping=mapping, optimizer=optimizer)
    opts["termination_crit"]["maxiter"] = 10 if optimizer != "adam" else 40
    if optimizer == "adam":
        opts["learning_rate"] = 0.02
    ret = model.optimize(mapping=mapping, optimizer=optimizer, optimize_options=opts,
                         common_options={"verbose": False}, return_options={"iter_cost": True, "cost": True})
    j1 = model.forward_run(return_options={"cost": True}).cost
    assert j1 < 0.9 * j0
    assert j1 == pytest.approx(ret.cost, rel=1e-10)
    assert ret.iter_cost[0] == pytest.approx(j0, rel=1e-10)
    net = model._network
    for name, (low, high) in opts["bounds"].items():
        values = model.get_rr_parameters(name)[net.rows, net.cols]
        assert np.all(values >= low - 1e-12) and np.all(values <= high + 1e-12), name


def test_optimize_function_returns_new_model(synthetic):
    before = synthetic.rr_parameters.values.copy()
    new = smash.optimize(synthetic, optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 3}},
                         common_options={"verbose": False})
    assert np.array_equal(synthetic.rr_parameters.values, before)
    assert not np.array_equal(new.rr_parameters.values, before)


def test_sbs_log_is_printed_unless_quiet(synthetic, capsys):
    model = synthetic.copy()
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}})
    out = capsys.readouterr().out
    assert "At iterate     0    nfg =     1    J =" in out and "STOP:" in out
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}}, common_options={"verbose": False})
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mapping": "fancy"}, "Unknown mapping"),
        ({"optimizer": "newton"}, "Unknown optimizer"),
        ({"optimize_options": {"parameters": ["cq"]}}, "'cq' is not a parameter or state"),
        ({"optimize_options": {"parameters": ["cp"], "bounds": {"cp": (-10, 100)}}}, "feasible domain"),
        ({"optimize_options": {"parameters": ["cp"], "bounds": {"cp": (100, 10)}}}, "lower < upper"),
        ({"optimize_options": {"termination_crit": {"maxiters": 3}}}, "Unknown termination_crit"),
        ({"cost_options": {"jobs_cmpt": "nash"}}, "Unknown jobs_cmpt"),
        ({"cost_options": {"gauge": "X1"}}, "Unknown gauge code"),
        ({"mapping": "distributed", "optimizer": "sbs"}, "uniform mapping only"),
    ],
)
def test_bad_optimize_input(synthetic, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.copy().optimize(common_options={"verbose": False}, **kwargs)
