"""Calibration on the synthetic catchment: gradients, optimizers, bounds, errors."""

import json
import sys

import numpy as np
import pytest

import smash

from helpers import ANCHOR_REFS

ANCHOR = ANCHOR_REFS


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
    assert list(info["name"]) == ["cp-0", "ct-0", "kexc-0", "llr-0", "hp-0"]   # smash's names
    for i, name in enumerate(n.split("-")[0] for n in info["name"]):
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
    net = model.network
    for name, (low, high) in opts["bounds"].items():
        values = model.get_rr_parameters(name)[net.rows, net.cols]
        assert np.all(values >= low - 1e-12) and np.all(values <= high + 1e-12), name


def test_optimize_function_returns_new_model(synthetic):
    before = synthetic.rr_parameters.values.copy()
    new = smash.optimize(synthetic, optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 3}},
                         common_options={"verbose": False})
    assert np.array_equal(synthetic.rr_parameters.values, before)
    assert not np.array_equal(new.rr_parameters.values, before)


def test_sbs_log_and_progress_bar_unless_quiet(synthetic, capsys, monkeypatch):
    model = synthetic.copy()
    # The bar is drawn on a terminal only (tests/test_log_output.py checks redirected output).
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    model.optimize(optimize_options={"termination_crit": {"maxiter": 2}})
    captured = capsys.readouterr()
    out = captured.out
    assert "At iterate     0    nfg =     1    J =" in out and "STOP:" in out
    # The iterate lines stay on stdout, in order and whole; the bar is on stderr and
    # reaches the last iterate with its cost.
    lines = [ln for ln in out.splitlines() if "At iterate" in ln]
    assert [int(ln.split()[2]) for ln in lines] == [0, 1, 2]
    last_j = lines[-1].split("J = ")[1].split()[0]
    assert "Optimize (sbs, uniform)" in captured.err and "2/2" in captured.err
    assert f"J = {last_j}" in captured.err
    model.optimize(optimize_options={"termination_crit": {"maxiter": 1}}, common_options={"verbose": False})
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mapping": "fancy"}, "Unknown mapping"),
        ({"optimizer": "newton"}, "Unknown optimizer"),
        ({"optimize_options": {"parameters": ["cq"]}}, "'cq' is not an optimizable parameter or state"),
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


def test_lez_sbs_follows_smash_13(data_dir):
    """smash 1.3 on Lez gr4-lr, default sbs (black box): nfg and J per iteration and the final control.

    smash runs in float32, we in float64: costs agree to ~2e-6 relative, so the
    printed 5-digit J can differ in its last digit; the search path (nfg, moves)
    is identical.
    """
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    model = smash.Model(setup, mesh)
    _, opt = smash.optimize(model, optimize_options={"termination_crit": {"maxiter": 6}},
                            common_options={"verbose": False},
                            return_options={"iter_cost": True, "control_vector": True})
    smash_13 = [6.85771e-01, 3.51670e-01, 1.80573e-01, 1.77831e-01, 1.74783e-01, 1.69981e-01, 1.63951e-01]
    np.testing.assert_allclose(opt.iter_cost, smash_13, rtol=1e-5)
    # Control in sbs space (log cp, log ct, asinh kexc, log llr) after iteration 6.
    np.testing.assert_allclose(opt.control_vector, [4.658317, 4.454609, 1.12, 6.1474915], atol=1e-5)


@pytest.mark.parametrize("run", [0, 1])
def test_lez_distributed_lbfgsb_reaches_smash_13(data_dir, run):
    """Same iteration budget as smash 1.3 (tests/anchor_refs/Lez/lbfgsb.json): J at most 1 % above
    smash's (our L-BFGS-B is scipy's, smash's its own port), every parameter inside its bounds."""
    ref = json.loads((ANCHOR / "Lez" / "lbfgsb.json").read_text())["runs"][run]
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    model = smash.Model(setup, mesh)
    opts = {"termination_crit": {"maxiter": ref["maxiter"]}}
    calibrated, ret = smash.optimize(model, mapping="distributed", optimizer="lbfgsb", optimize_options=opts,
                                     common_options={"verbose": False}, return_options={"cost": True})
    assert ret.cost <= 1.01 * ref["cost"]
    active = calibrated.mesh.active_cell == 1
    for name, (low, high) in calibrated.get_rr_parameters_bounds().items():
        values = calibrated.get_rr_parameters(name)[active]
        assert np.all((values >= low) & (values <= high)), name


def test_sbs_counts_evaluations_as_smash_13(data_dir, capsys):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    model = smash.Model(setup, mesh)
    model.optimize(optimize_options={"termination_crit": {"maxiter": 2}})
    out = capsys.readouterr().out
    assert [int(line.split("nfg =")[1].split()[0]) for line in out.splitlines() if "At iterate" in line] == [1, 30, 58]


def test_hybrid_net_is_trained_by_lbfgsb_and_in_every_default_control():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(dict(setup, hydrological_module="gr4_mlp", hidden_neuron=6), mesh)
    options = smash.default_optimize_options(model)
    assert options["parameters"] == ["cp", "ct", "kexc", "llr", "weight_1", "bias_1", "weight_2", "bias_2"]
    # As in smash 1.3, the net's weights and biases are part of the default control of every mapping
    # (sbs included): 6 x 4 + 6 + 4 x 6 + 4 = 58 raw, unbounded values after the rr controls.
    for mapping, n_rr in (("uniform", 4), ("multi-linear", 4 * 3)):
        info = smash.optimize_control_info(model, mapping=mapping)
        assert list(info["nbk"]) == [n_rr, 0, 0, 0, 58, 0]
        assert info["name"][n_rr] == "weight_1-1-1" and info["name"][n_rr + 1] == "weight_1-2-1"
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=0)
    before = model.get_nn_parameters_weight()
    _, opt = smash.optimize(model, optimizer="lbfgsb", optimize_options={"parameters": ["weight_1", "bias_2"],
                            "termination_crit": {"maxiter": 5}}, common_options={"verbose": False},
                            return_options={"iter_cost": True})
    assert opt.iter_cost[-1] < opt.iter_cost[0]
    trained = _
    assert not np.array_equal(trained.get_nn_parameters_weight()[0], before[0])
    np.testing.assert_array_equal(trained.get_nn_parameters_weight()[1], before[1])  # not in the control
    # The gradient of the net's part of the control against finite differences of the cost.
    info = smash.optimize_control_info(model, optimizer="lbfgsb", optimize_options={"parameters": ["bias_2"]})
    ret = smash.backward_run(model, optimize_options={"parameters": ["bias_2"]}, return_options={"grad": True})[1]
    assert ret.grad.shape == (info["n"],) == (4,)
    eps = 1e-5
    for k in range(4):
        costs = []
        for sign in (1, -1):
            m = model.copy()
            b = m.get_nn_parameters_bias()
            b[1][k] += sign * eps
            m.set_nn_parameters_bias(b)
            costs.append(m.forward_run(return_options={"cost": True}).cost)
        # float32 storage of the net perturbs eps itself: compare at 1e-3 relative.
        assert (costs[0] - costs[1]) / (2 * eps) == pytest.approx(ret.grad[k], rel=2e-2, abs=1e-6)


def test_quantile_of_cost_terms_and_transform_errors(synthetic):
    model = synthetic.copy()
    terms = [model.forward_run(cost_options={"jobs_cmpt": j}, return_options={"cost": True}).cost
             for j in ("nse", "kge", "rmse")]
    for name, q in (("median", 0.5), ("lquartile", 0.25), ("uquartile", 0.75)):
        cost = model.forward_run(cost_options={"jobs_cmpt": ["nse", "kge", "rmse"], "wjobs_cmpt": name},
                                 return_options={"cost": True}).cost
        assert cost == pytest.approx(np.quantile(terms, q), rel=1e-12)
    with pytest.raises(ValueError, match="Unknown jobs_cmpt_tfm"):
        model.forward_run(cost_options={"jobs_cmpt_tfm": "log"})
    with pytest.raises(ValueError, match="jobs_cmpt_tfm has 2 values but jobs_cmpt has 1"):
        model.forward_run(cost_options={"jobs_cmpt_tfm": ["sqrt", "inv"]})


def test_optimize_and_backward_run_return_forward_outputs(synthetic):
    forward_keys = {"time_step": "all", "q_domain": True, "rr_states": True, "internal_fluxes": True}
    opts = {"termination_crit": {"maxiter": 2}}
    model, res = smash.optimize(synthetic, optimizer="lbfgsb", optimize_options=opts, common_options={"verbose": False},
                                return_options={**forward_keys, "projg": True, "n_iter": True, "cost": True})
    # The outputs are those of a forward run of the calibrated model (an independent run here).
    again = model.forward_run(return_options=forward_keys)
    assert np.array_equal(res.q_domain, again.q_domain) and np.array_equal(res.time_step, again.time_step)
    assert np.array_equal(res.rr_states[-1].values, again.rr_states[-1].values)
    assert np.array_equal(res.internal_fluxes["qt"], again.internal_fluxes["qt"])
    assert res.n_iter == 2 and np.isfinite(res.projg) and res.projg >= 0
    # sbs has no gradient: its projected gradient is NaN, not a made-up number.
    _, sbs = smash.optimize(synthetic, optimize_options={"termination_crit": {"maxiter": 1}},
                            common_options={"verbose": False}, return_options={"projg": True})
    assert np.isnan(sbs.projg)

    # backward_run: at the point of the gradient (a uniform control is the spatial mean of the maps).
    varied = synthetic.copy()
    varied.set_rr_parameters("cp", np.linspace(100, 300, varied.mesh.nrow * varied.mesh.ncol)
                             .reshape(varied.mesh.nrow, varied.mesh.ncol))
    _, back = smash.backward_run(varied, mapping="distributed",
                                 return_options={"q_domain": True, "time_step": "2020-06-01", "cost": True})
    run = varied.forward_run(return_options={"q_domain": True, "time_step": "2020-06-01", "cost": True})
    assert back.q_domain.shape[-1] == 1 and np.array_equal(back.q_domain, run.q_domain)
    assert back.cost == pytest.approx(run.cost, rel=1e-12)


@pytest.mark.parametrize("call", [smash.optimize, smash.backward_run])
def test_unknown_return_option_is_refused(synthetic, call):
    with pytest.raises(ValueError, match=r"Unknown return option\(s\) \['qdomain'\]"):
        call(synthetic, return_options={"qdomain": True}, common_options={"verbose": False})
