"""Calibration semantics (issue 19): nothing to calibrate against is an error naming the gauge,
maxiter=0 changes nothing, and Ctrl-C during an in-place optimize leaves a consistent model."""

import importlib
import warnings

import numpy as np
import pytest

import smash

# The module (smash.optimize is also the name of the function).
optimize_module = importlib.import_module("smash.calibration.optimize")

QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def synthetic_parts():
    return smash.factory.load_dataset("synthetic")


@pytest.fixture
def model(synthetic_parts):
    setup, mesh = synthetic_parts
    return smash.Model(setup, mesh)


def _with_observations(model, edit):
    """A copy of `model` whose observed discharge is `edit(q)` (q a copy, edited in place)."""
    new = model.copy()
    q = np.array(new.response_data.q, copy=True)
    edit(q)
    new.response_data.q = q
    return new


def _state(model):
    return (model.rr_parameters.values.copy(), model.rr_initial_states.values.copy())


def _fresh_run(model):
    """q at the gauges and J of a new forward run of `model` as it stands (default cost options)."""
    run, out = smash.forward_run(model, common_options=QUIET, return_options={"cost": True})
    return np.asarray(run.response.q), float(out.cost)


# ---------------------------------------------------------------- nothing to calibrate against

def test_mesh_without_gauge_is_an_error(synthetic_parts):
    setup, mesh = synthetic_parts
    bare = dict(mesh, ng=0, gauge_pos=np.zeros((0, 2), dtype=np.int32), code=np.array([], dtype="<U8"),
                area=np.zeros(0, dtype=np.float32), area_dln=np.zeros(0, dtype=np.float32))
    model = smash.Model(dict(setup, read_qobs=False), bare)
    assert model.mesh.ng == 0
    with pytest.raises(ValueError, match="no gauge: there is nothing to calibrate against"):
        model.optimize(common_options=QUIET)


def test_all_gauge_weights_zero_is_an_error_naming_the_gauges(model):
    codes = [str(c) for c in model.mesh.code]
    before = _state(model)
    with pytest.raises(ValueError, match="weight 0") as err:
        model.optimize(cost_options={"gauge": "all", "wgauge": [0.0] * len(codes)}, common_options=QUIET)
    for code in codes:
        assert code in str(err.value)
    np.testing.assert_array_equal(model.rr_parameters.values, before[0])


def test_gauge_without_observation_in_the_period_is_named(model):
    code = str(model.mesh.code[1])
    missing = _with_observations(model, lambda q: q.__setitem__((1, slice(None)), -99.0))
    with pytest.raises(ValueError, match=f"Gauge {code} has no observed discharge"):
        missing.optimize(cost_options={"gauge": [code]}, common_options=QUIET)
    # Observations only before the end of the warm-up: none in the scored period either.
    early = _with_observations(model, lambda q: q.__setitem__((0, slice(100, None)), -99.0))
    outlet = str(model.mesh.code[0])
    with pytest.raises(ValueError, match=f"Gauge {outlet} has no observed discharge in the scored period"):
        early.optimize(cost_options={"end_warmup": "2020-06-01"}, common_options=QUIET)


@pytest.mark.parametrize("jobs_cmpt", ["nse", "nnse", "kge"])
def test_constant_observations_are_an_error_naming_gauge_and_metric(model, jobs_cmpt):
    constant = _with_observations(model, lambda q: q.__setitem__((0, slice(None)), 2.5))
    with pytest.raises(ValueError, match=f"Gauge {model.mesh.code[0]} cannot be scored by jobs_cmpt '{jobs_cmpt}'"
                       r".*constant observed discharge \(2.5\)"):
        constant.optimize(cost_options={"jobs_cmpt": jobs_cmpt}, common_options=QUIET)


def test_single_observed_step_is_an_error(model):
    def one_step(q):
        q[0, :] = -99.0
        q[0, 200] = 3.0

    single = _with_observations(model, one_step)
    with pytest.raises(ValueError, match=f"Gauge {model.mesh.code[0]} .*a single observed value"):
        single.optimize(common_options=QUIET)


def test_constant_observations_with_distributed_lbfgsb_leave_no_nan(model):
    """Before: `cp must be finite (got NaN or inf)` and NaN parameters left in the model."""
    constant = _with_observations(model, lambda q: q.__setitem__((0, slice(None)), 1.0))
    before = _state(constant)
    with pytest.raises(ValueError, match=f"Gauge {model.mesh.code[0]} cannot be scored by jobs_cmpt 'nse'"):
        constant.optimize(mapping="distributed", common_options=QUIET,
                          optimize_options={"termination_crit": {"maxiter": 2}})
    np.testing.assert_array_equal(constant.rr_parameters.values, before[0])
    assert np.all(np.isfinite(constant.rr_parameters.values))
    # backward_run has nothing to differentiate either.
    with pytest.raises(ValueError, match=str(model.mesh.code[0])):
        smash.backward_run(constant, mapping="distributed")


def test_mape_against_all_zero_observations(model):
    zero = _with_observations(model, lambda q: q.__setitem__((0, slice(None)), 0.0))
    code = str(model.mesh.code[0])
    with pytest.raises(ValueError, match=f"Gauge {code} cannot be scored by jobs_cmpt 'mape'.*every observed "
                       "discharge is 0"):
        zero.optimize(cost_options={"jobs_cmpt": "mape"}, common_options=QUIET)
    # evaluation: NaN with a warning naming the gauge, the other gauges still scored.
    zero.forward_run(common_options=QUIET)
    with pytest.warns(UserWarning, match=f"{code} \\(mape: every observed discharge is 0"):
        values = smash.evaluation(zero, ["mape", "mae"])
    assert np.isnan(values[0, 0])
    # mae is defined: |sim - 0| averaged over the observed steps.
    qsim = np.asarray(zero.response.q[0], dtype=np.float64)
    np.testing.assert_allclose(values[0, 1], np.mean(np.abs(qsim)), rtol=1e-6)
    assert np.all(np.isfinite(values[1:]))


def test_evaluation_of_constant_observations_is_nan_with_warning(model):
    constant = _with_observations(model, lambda q: q.__setitem__((2, slice(None)), 4.0))
    constant.forward_run(common_options=QUIET)
    with pytest.warns(UserWarning, match=f"{constant.mesh.code[2]} \\(nse: constant observed discharge"):
        values = smash.evaluation(constant, "nse")
    assert np.isnan(values[2, 0]) and np.all(np.isfinite(values[:2, 0]))


def test_evaluation_of_a_model_never_run_is_an_error(model):
    assert np.all(model.response.q == -99.0)
    with pytest.raises(ValueError, match="has not been run"):
        smash.evaluation(model)
    model.forward_run(common_options=QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(smash.evaluation(model)))


@pytest.mark.parametrize("mapping", ["multi-linear", "multi-power"])
def test_descriptor_mapping_without_descriptors_names_the_mapping(synthetic_parts, mapping):
    setup, mesh = synthetic_parts
    plain = {k: v for k, v in setup.items() if k not in ("read_descriptor", "descriptor_name")}
    model = smash.Model(plain, mesh)
    with pytest.raises(ValueError, match=f"mapping='{mapping}' needs physical descriptors") as err:
        model.optimize(mapping=mapping, common_options=QUIET)
    assert "ann" not in str(err.value)


@pytest.mark.parametrize("bound", [(10,), 10.0, (1, 2, 3), ("a", "b"), None, (1.0, np.nan)])
def test_malformed_bound_names_the_parameter(model, bound):
    with pytest.raises(ValueError, match="bounds of 'cp' must be"):
        model.optimize(optimize_options={"bounds": {"cp": bound}}, common_options=QUIET)


# ---------------------------------------------------------------- maxiter = 0

MAXITER0_CASES = [("uniform", "sbs"), ("uniform", "lbfgsb"), ("uniform", "nelder-mead"), ("uniform", "powell"),
                  ("distributed", "lbfgsb"), ("distributed", "adam"), ("multi-linear", "lbfgsb"),
                  ("ann", "adam")]


@pytest.mark.parametrize(("mapping", "optimizer"), MAXITER0_CASES)
def test_maxiter_zero_changes_nothing(model, mapping, optimizer):
    # Spatially varying maps: a uniform control (their mean) or a control-space round trip would change them.
    rng = np.random.default_rng(3)
    cp = model.get_rr_parameters("cp")
    model.set_rr_parameters("cp", cp * rng.uniform(0.7, 1.3, cp.shape).astype(np.float32))
    before = _state(model)
    _, opt = smash.optimize(model, mapping, optimizer, common_options=QUIET,
                            optimize_options={"termination_crit": {"maxiter": 0}, "random_state": 0}
                            if mapping == "ann" else {"termination_crit": {"maxiter": 0}},
                            return_options={"n_iter": True})
    done = model.copy()
    done.optimize(mapping, optimizer, common_options=QUIET,
                  optimize_options={"termination_crit": {"maxiter": 0}})
    np.testing.assert_array_equal(done.rr_parameters.values, before[0])
    np.testing.assert_array_equal(done.rr_initial_states.values, before[1])
    np.testing.assert_array_equal(done.response.q, _fresh_run(done)[0])
    assert opt.n_iter == 0


# ---------------------------------------------------------------- Ctrl-C

class _InterruptAt:
    """Wraps _Problem.cost and cost_grad: records every J evaluated, raises KeyboardInterrupt on call k."""

    def __init__(self, monkeypatch, k):
        self.k, self.calls, self.costs = k, 0, []
        cost, cost_grad = optimize_module._Problem.cost, optimize_module._Problem.cost_grad

        def counted(method, with_grad):
            def wrapper(problem, x):
                self.calls += 1
                if self.calls == self.k:
                    raise KeyboardInterrupt
                result = method(problem, x)
                self.costs.append(result[0] if with_grad else result)
                return result
            return wrapper

        monkeypatch.setattr(optimize_module._Problem, "cost", counted(cost, False))
        monkeypatch.setattr(optimize_module._Problem, "cost_grad", counted(cost_grad, True))


INTERRUPT_CASES = [("uniform", "sbs", 12), ("uniform", "lbfgsb", 6), ("uniform", "nelder-mead", 15),
                   ("distributed", "lbfgsb", 5), ("distributed", "adam", 6), ("multi-linear", "lbfgsb", 5),
                   ("ann", "adam", 6)]


@pytest.mark.parametrize(("mapping", "optimizer", "k"), INTERRUPT_CASES)
def test_interrupted_optimize_leaves_best_point_and_its_response(model, monkeypatch, mapping, optimizer, k):
    # A calibrated start (as a user's model after a first calibration): an interrupted run must not lose it.
    model.optimize(common_options=QUIET, optimize_options={"termination_crit": {"maxiter": 1}})
    start = _state(model)
    j_start = _fresh_run(model)[1]
    spy = _InterruptAt(monkeypatch, k)
    options = {"termination_crit": {"maxiter": 50}}
    if mapping == "ann":
        options["random_state"] = 0
    with pytest.raises(KeyboardInterrupt):
        model.optimize(mapping, optimizer, optimize_options=options, common_options=QUIET)
    monkeypatch.undo()
    assert spy.calls == k and len(spy.costs) == k - 1
    q_fresh, j_end = _fresh_run(model)
    # The response is that of a forward run at the parameters the model holds.
    np.testing.assert_array_equal(model.response.q, q_fresh)
    # Those parameters: the best point evaluated, or the start when nothing evaluated beat it.
    best = min(spy.costs)
    assert j_end <= j_start
    if best < j_start:
        np.testing.assert_allclose(j_end, best, rtol=1e-6)
        assert not np.array_equal(model.rr_parameters.values, start[0])
    else:
        np.testing.assert_array_equal(model.rr_parameters.values, start[0])
        np.testing.assert_array_equal(model.rr_initial_states.values, start[1])


def test_interrupt_from_the_callback_reaches_the_caller(model):
    """A KeyboardInterrupt raised in the user's callback at iteration 2 of sbs: the model holds the
    iterate reported there (the best so far), and the interrupt is not swallowed."""
    seen = []

    def callback(iopt):
        seen.append(iopt.cost)
        if iopt.n_iter == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.optimize(common_options=QUIET, callback=callback)
    q_fresh, j_end = _fresh_run(model)
    np.testing.assert_array_equal(model.response.q, q_fresh)
    np.testing.assert_allclose(j_end, seen[-1], rtol=1e-6)


@pytest.mark.parametrize("k", [2, 9])
def test_interrupted_hybrid_calibration_restores_the_net_with_the_maps(synthetic_parts, monkeypatch, k):
    """gr4_mlp: the hybrid net's weights are controls too; an interrupt leaves them consistent with the
    cost the model ends at (k=2: the start, k=9: the best evaluated), never a trial's."""
    setup, mesh = synthetic_parts
    model = smash.Model(dict(setup, hydrological_module="gr4_mlp", hidden_neuron=6), mesh)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=0)
    weights = [w.copy() for w in model.get_nn_parameters_weight()]
    j_start = _fresh_run(model)[1]
    spy = _InterruptAt(monkeypatch, k)
    with pytest.raises(KeyboardInterrupt):
        model.optimize(optimizer="lbfgsb", common_options=QUIET,
                       optimize_options={"parameters": ["cp", "weight_1", "bias_2"],
                                         "termination_crit": {"maxiter": 20}})
    monkeypatch.undo()
    q_fresh, j_end = _fresh_run(model)
    np.testing.assert_array_equal(model.response.q, q_fresh)
    assert j_end <= j_start
    best = min(spy.costs)
    if best < j_start:
        np.testing.assert_allclose(j_end, best, rtol=1e-6)
    else:
        for now, then in zip(model.get_nn_parameters_weight(), weights, strict=True):
            np.testing.assert_array_equal(now, then)
    # maxiter=0 keeps the net bit for bit.
    weights = [w.copy() for w in model.get_nn_parameters_weight()]
    model.optimize(optimizer="lbfgsb", common_options=QUIET, optimize_options={"termination_crit": {"maxiter": 0}})
    for now, then in zip(model.get_nn_parameters_weight(), weights, strict=True):
        np.testing.assert_array_equal(now, then)


def test_error_during_calibration_leaves_the_model_as_it_was(model, monkeypatch):
    """Any other exception mid-calibration (here from the user's callback, after trial points were
    loaded) restores the parameters and states of before the call, bit for bit."""
    rng = np.random.default_rng(5)
    cp = model.get_rr_parameters("cp")
    model.set_rr_parameters("cp", cp * rng.uniform(0.8, 1.2, cp.shape).astype(np.float32))
    model.forward_run(common_options=QUIET)
    before, q_before = _state(model), np.array(model.response.q, copy=True)

    def callback(iopt):
        if iopt.n_iter == 2:
            raise RuntimeError("user callback failed")

    for mapping, optimizer in (("uniform", "sbs"), ("distributed", "lbfgsb")):
        with pytest.raises(RuntimeError, match="user callback failed"):
            model.optimize(mapping, optimizer, common_options=QUIET, callback=callback)
        np.testing.assert_array_equal(model.rr_parameters.values, before[0])
        np.testing.assert_array_equal(model.rr_initial_states.values, before[1])
        np.testing.assert_array_equal(model.response.q, q_before)


def test_interrupt_during_lcurve_cycles_leaves_a_consistent_model(model, monkeypatch):
    """wjreg='lcurve' runs several calibrations; an interrupt in a later one still leaves a response that
    belongs to the parameters, and a J_obs not worse than the start's."""
    j_start = _fresh_run(model)[1]
    spy = _InterruptAt(monkeypatch, 14)
    with pytest.raises(KeyboardInterrupt):
        model.optimize("distributed", "lbfgsb", common_options=QUIET,
                       optimize_options={"termination_crit": {"maxiter": 4}},
                       cost_options={"jreg_cmpt": "prior", "wjreg": "lcurve"})
    monkeypatch.undo()
    assert len(spy.costs) == 13
    q_fresh, j_end = _fresh_run(model)
    np.testing.assert_array_equal(model.response.q, q_fresh)
    assert np.all(np.isfinite(model.rr_parameters.values))
    # The prior term is 0 at the start, so the cycle's J at the kept point bounds J_obs there.
    assert j_end <= j_start


def test_interrupted_ann_from_a_poor_start_keeps_the_best_trained_maps(model, monkeypatch):
    """mapping='ann' from a poor first guess: the net's maps beat it within a few iterations, and an
    interrupt keeps the best of them (loaded as raw maps), not the start and not the last trial."""
    model.set_rr_parameters("cp", 2.0)
    model.set_rr_parameters("kexc", -5.0)
    start = _state(model)
    j_start = _fresh_run(model)[1]
    spy = _InterruptAt(monkeypatch, 7)
    with pytest.raises(KeyboardInterrupt):
        model.optimize("ann", common_options=QUIET,
                       optimize_options={"termination_crit": {"maxiter": 50}, "random_state": 0})
    monkeypatch.undo()
    best = min(spy.costs)
    assert best < j_start
    q_fresh, j_end = _fresh_run(model)
    np.testing.assert_array_equal(model.response.q, q_fresh)
    np.testing.assert_allclose(j_end, best, rtol=1e-6)
    assert not np.array_equal(model.rr_parameters.values, start[0])


def test_signature_whose_observed_value_is_zero_is_an_error(model):
    """The core scores a continuous signature by (S_sim / S_obs - 1)^2 and gave a silent 0 when S_obs = 0."""
    code = str(model.mesh.code[0])
    zero = _with_observations(model, lambda q: q.__setitem__((0, slice(None)), 0.0))
    for signature in ("Crc", "Crchf", "Cfp90"):
        with pytest.raises(ValueError, match=f"Gauge {code} cannot be scored by jobs_cmpt '{signature}'.*observed "
                           f"{signature} is 0"):
            zero.optimize(cost_options={"jobs_cmpt": signature}, common_options=QUIET)

    def intermittent(q):
        q[0, ::3] = 0.0   # a third of the days dry: the 10 % flow quantile is 0, the median is not

    dry = _with_observations(model, intermittent)
    obs = np.asarray(dry.response_data.q[0], dtype=np.float64)
    assert np.quantile(obs, 0.1) == 0 and np.quantile(obs, 0.5) > 0
    with pytest.raises(ValueError, match=f"Gauge {code} .*observed Cfp10 is 0"):
        dry.optimize(cost_options={"jobs_cmpt": "Cfp10"}, common_options=QUIET)
    _, out = smash.optimize(dry, cost_options={"jobs_cmpt": "Cfp50"}, common_options=QUIET,
                            optimize_options={"termination_crit": {"maxiter": 1}}, return_options={"cost": True})
    assert np.isfinite(out.cost)


CHILD = r"""
import json, sys
import numpy as np
import smash

setup, mesh = smash.factory.load_dataset("synthetic")
model = smash.Model(setup, mesh)
quiet = {"verbose": False}
_, out = smash.forward_run(model, common_options=quiet, return_options={"cost": True})
j_start = float(out.cost)

def callback(iopt):
    if iopt.n_iter == 3:
        print("ready", flush=True)

try:
    model.optimize("distributed", sys.argv[1], common_options=quiet, callback=callback,
                   optimize_options={"termination_crit": {"maxiter": 100000}})
    state = "finished"
except KeyboardInterrupt:
    state = "interrupted"
run, out = smash.forward_run(model, common_options=quiet, return_options={"cost": True})
print(json.dumps({"state": state, "j_start": j_start, "j_end": float(out.cost),
                  "consistent": bool(np.array_equal(model.response.q, run.response.q)),
                  "finite": bool(np.all(np.isfinite(model.rr_parameters.values)))}), flush=True)
"""


@pytest.mark.parametrize("optimizer", ["lbfgsb", "adam"])
def test_real_sigint_during_optimize(tmp_path, optimizer):
    """A real SIGINT (as Ctrl-C sends) to a process calibrating: the interrupt reaches its code, and the
    model it holds is consistent and not worse than before."""
    import json
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), optimizer], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        os.kill(child.pid, signal.SIGINT)
        out, _ = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["state"] == "interrupted"
    assert result["consistent"] and result["finite"]
    assert result["j_end"] < result["j_start"]
