"""Regularization of the cost (jreg_cmpt, wjreg_cmpt, wjreg incl. 'fast' and 'lcurve').

References: tests/anchor_refs/Lez/regularization.npz, made by make_refs.py with
hydro-smash 1.3 as a black box (its calibrated maps and the J_reg it reported).
smash accumulates J_reg in float32, we in float64: 1e-5 relative is the tolerance.
"""

import json

import numpy as np
import pytest

import smash
from smash import _testing
from smash.analysis.cost_options import build_cost_options
from smash.calibration import regularization
from smash.calibration.optimize import _build_control, _check_options

from helpers import ANCHOR_REFS, core_gradient, core_output

REF = ANCHOR_REFS / "Lez" / "regularization.npz"


@pytest.fixture(scope="module")
def lez(data_dir):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    return smash.Model(dict(setup, read_descriptor=False), mesh)


@pytest.fixture(scope="module")
def ref():
    return np.load(REF)


def _terms_at(model, mapping, optimizer, parameters, cost_options, params, states):
    """(J_obs, J_reg) at the maps `params`/`states` with the prior taken from `model`'s maps."""
    model = model.copy()
    options = {"parameters": parameters} if parameters else {}
    _, options = _check_options(model, mapping, optimizer, options)
    cost_opts, fc = build_cost_options(model, cost_options, regularization=True)
    control = _build_control(model, mapping, options)
    regularization.attach(model, control, fc, cost_opts["reg"], control.x_from_model(), mapping)
    model.rr_parameters.values[...] = params
    model.rr_initial_states.values[...] = states
    _testing.sync_parameters(model)
    fo = core_output(model)
    _testing.run_forward(model, fc, fo)
    assert fo.cost == pytest.approx(fo.jobs + fc.wjreg * fo.jreg, rel=1e-14)
    return float(fo.jobs), float(fo.jreg)


@pytest.mark.parametrize("run", ["prior", "smoothing", "two", "weighted", "states", "uniform", "sbs"])
def test_jreg_matches_smash_at_its_calibrated_maps(lez, ref, run):
    opts = json.loads(str(ref[f"{run}_cost_options_json"]))
    mapping, optimizer, parameters = opts.pop("mapping"), opts.pop("optimizer"), opts.pop("parameters")
    np.testing.assert_allclose(lez.rr_parameters.values, ref["start_rr_parameters"], rtol=1e-6)
    jobs, jreg = _terms_at(lez, mapping, optimizer, parameters, opts,
                           ref[f"{run}_rr_parameters"], ref[f"{run}_rr_initial_states"])
    assert jreg == pytest.approx(float(ref[f"{run}_jreg"]), rel=1e-5)
    assert jobs == pytest.approx(float(ref[f"{run}_jobs"]), rel=1e-5)


def _numpy_hard_smoothing(field, active):
    """Independent loop over the grid: missing neighbours take the centre value."""
    nrow, ncol = active.shape
    total = 0.0

    def value(i, j, ci, cj):
        return field[i, j] if 0 <= i < nrow and 0 <= j < ncol and active[i, j] else field[ci, cj]

    for i in range(nrow):
        for j in range(ncol):
            if active[i, j]:
                total += (value(i - 1, j, i, j) - 2 * field[i, j] + value(i + 1, j, i, j)) ** 2
                total += (value(i, j - 1, i, j) - 2 * field[i, j] + value(i, j + 1, i, j)) ** 2
    return total


def test_hard_smoothing_of_a_known_field(lez, ref):
    field = ref["field_kexc"].astype(np.float64)
    params = lez.rr_parameters.values.copy()
    params[..., lez.rr_parameters.index("kexc")] = field
    _, jreg = _terms_at(lez, "distributed", "lbfgsb", None, {"jreg_cmpt": "hard-smoothing", "wjreg": 1.0},
                        params, lez.rr_initial_states.values)
    active = lez.mesh.active_cell == 1
    assert jreg == pytest.approx(_numpy_hard_smoothing(field, active), rel=1e-10)
    # smash printed J at iterate 0 with 6 digits: J_reg = J - J_obs is known to ~1e-6 relative.
    assert jreg == pytest.approx(float(ref["field_hard_smoothing_jreg"]), rel=2e-6)


def test_fast_and_lcurve_weights_follow_smash(lez, ref, capsys):
    opts = {"termination_crit": {"maxiter": 3}}
    model, ret = smash.optimize(lez, mapping="distributed", optimizer="lbfgsb", optimize_options=opts,
                                cost_options={"jreg_cmpt": ["prior", "smoothing"], "wjreg": "lcurve"},
                                return_options={"lcurve_wjreg": True, "jobs": True, "jreg": True, "cost": True})
    log = capsys.readouterr().out
    assert [f"L-CURVE WJREG CYCLE {c}" in log for c in range(1, 7)] == [True] * 6
    lc = ret.lcurve_wjreg
    assert f"L-CURVE WJREG LAST CYCLE. wjreg: {lc['wjreg_opt']:.5e}" in log
    # Weights: 0, then the fast weight times 10^(0.33 k), k = -2..2, as smash spaces them.
    w = lc["wjreg"]
    assert w[0] == 0 and w[3] == pytest.approx(lc["wjreg_approx"], rel=1e-12)
    np.testing.assert_allclose(w[2:] / w[1:-1], 10 ** 0.33, rtol=1e-12)
    np.testing.assert_allclose(w, ref["lcurve_wjreg"], rtol=0.02)
    # Our L-BFGS-B (scipy) and smash's take slightly different steps: same curve within a few %.
    np.testing.assert_allclose(lc["jobs"], ref["lcurve_jobs"], rtol=0.01)
    np.testing.assert_allclose(lc["jreg"], ref["lcurve_jreg"], rtol=0.02)
    np.testing.assert_allclose(lc["distance"], ref["lcurve_distance"], rtol=0.05)
    assert int(np.nanargmax(lc["distance"])) == int(np.nanargmax(ref["lcurve_distance"]))
    assert lc["wjreg_opt"] == pytest.approx(float(ref["lcurve_wjreg_opt"]), rel=0.02)
    # The returned model and terms are those of the last cycle, run with the chosen weight.
    assert ret.cost == pytest.approx(ret.jobs + lc["wjreg_opt"] * ret.jreg, rel=1e-10)
    assert ret.jobs == pytest.approx(float(ref["lcurve_jobs"][np.nanargmax(ref["lcurve_distance"])]), rel=0.01)

    _, fast = smash.optimize(lez, mapping="distributed", optimizer="lbfgsb", optimize_options=opts,
                             cost_options={"jreg_cmpt": ["prior", "smoothing"], "wjreg": "fast"},
                             common_options={"verbose": False}, return_options={"jobs": True, "jreg": True})
    assert fast.jreg == pytest.approx(float(ref["fast_jreg"]), rel=0.02)
    assert fast.jobs == pytest.approx(float(ref["fast_jobs"]), rel=0.01)


def _smoothing_measure(model, name):
    values = model.get_rr_parameters(name).astype(float)
    return _numpy_hard_smoothing(values, model.mesh.active_cell == 1)


def test_regularized_gradient_dot_product_and_finite_differences():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    cost_options = {"jreg_cmpt": ["prior", "smoothing", "hard-smoothing"], "wjreg_cmpt": [1.0, 0.5, 0.25],
                    "wjreg": 1e-4}
    _, options = _check_options(model, "distributed", "lbfgsb", {"parameters": ["cp", "ct", "kexc", "llr", "hp"]})
    cost_opts, fc = build_cost_options(model, cost_options, regularization=True)
    control = _build_control(model, "distributed", options)
    regularization.attach(model, control, fc, cost_opts["reg"], control.x_from_model(), "distributed")
    net, s = model.network, model.structure
    rng = np.random.default_rng(5)
    _testing.sync_parameters(model)
    fp = _testing.core_parameters(model)
    p0 = np.array(fp.rr_parameters) * (1 + 0.2 * rng.uniform(-1, 1, (net.nac, len(s.rr_parameters))))
    s0 = np.array(fp.rr_initial_states) * (1 + 0.2 * rng.uniform(-1, 1, (net.nac, len(s.rr_states))))
    fp.rr_parameters[...] = p0
    fp.rr_initial_states[...] = s0
    cost, grad, fo = core_gradient(model, fc)
    direction = _testing.new_core_parameters(model)
    assert fo.jreg > 0 and cost == pytest.approx(fo.jobs + 1e-4 * fo.jreg, rel=1e-14)
    dp, ds = p0 * rng.uniform(-1, 1, p0.shape) * 0.05, s0 * rng.uniform(-1, 1, s0.shape) * 0.05
    direction.rr_parameters[...] = dp
    direction.rr_initial_states[...] = ds
    _, dcost = _testing.run_tangent(model, fc, direction, fo)
    adjoint = float(np.sum(np.array(grad.rr_parameters) * dp) + np.sum(np.array(grad.rr_initial_states) * ds))
    assert dcost == pytest.approx(adjoint, rel=1e-10)

    def cost_at(eps):
        _testing.core_parameters(model).rr_parameters[...] = p0 + eps * dp
        _testing.core_parameters(model).rr_initial_states[...] = s0 + eps * ds
        _testing.run_forward(model, fc, fo)
        return fo.cost

    # Central differences in float64 with eps = 1e-4 of a 5 % move: truncation error ~1e-8 relative.
    fd = (cost_at(1e-4) - cost_at(-1e-4)) / 2e-4
    assert fd == pytest.approx(adjoint, rel=1e-6)


def test_smoothing_gives_smoother_maps():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    opts = {"termination_crit": {"maxiter": 15}}
    common = {"verbose": False}
    free = smash.optimize(model, mapping="distributed", optimize_options=opts, common_options=common)
    smooth, ret = smash.optimize(model, mapping="distributed", optimize_options=opts, common_options=common,
                                 cost_options={"jreg_cmpt": "smoothing", "wjreg": 1e-5},
                                 return_options={"jreg": True, "jobs": True, "cost": True})
    assert ret.jreg > 0 and ret.cost == pytest.approx(ret.jobs + 1e-5 * ret.jreg, rel=1e-10)
    assert _smoothing_measure(smooth, "cp") < 0.5 * _smoothing_measure(free, "cp")
    lower, upper = model.get_rr_parameters_bounds()["cp"]
    assert np.all((smooth.get_rr_parameters("cp") >= lower) & (smooth.get_rr_parameters("cp") <= upper))


@pytest.mark.parametrize("cost_options, mapping, message", [
    ({"jreg_cmpt": "smooth", "wjreg": 1.0}, "distributed", "Unknown jreg_cmpt"),
    ({"jreg_cmpt": "prior", "wjreg": -1.0}, "distributed", "wjreg must be finite and >= 0"),
    ({"jreg_cmpt": "prior", "wjreg": "auto"}, "distributed", "wjreg 'auto' is not supported"),
    ({"jreg_cmpt": ["prior", "smoothing"], "wjreg_cmpt": [1.0], "wjreg": 1.0}, "distributed",
     "wjreg_cmpt has 1 values but jreg_cmpt has 2"),
    ({"jreg_cmpt": "prior", "wjreg": 1.0}, "multi-linear", "jreg_cmpt 'prior' is defined here on uniform"),
])
def test_bad_regularization_options(cost_options, mapping, message):
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    with pytest.raises(ValueError, match=message):
        smash.optimize(model, mapping=mapping, cost_options=cost_options,
                       optimize_options={"termination_crit": {"maxiter": 1}}, common_options={"verbose": False})


def test_regularization_keys_belong_to_calibration():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    with pytest.raises(ValueError, match="regularization keys belong to optimize and backward_run"):
        model.forward_run(cost_options={"wjreg": 1.0})
    with pytest.raises(ValueError, match="lcurve_wjreg.*needs cost_options"):
        smash.optimize(model, return_options={"lcurve_wjreg": True}, common_options={"verbose": False})


def test_backward_run_reports_the_cost_terms():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(setup, mesh)
    _, ret = smash.backward_run(model, mapping="distributed",
                                cost_options={"jreg_cmpt": "hard-smoothing", "wjreg": 0.5},
                                return_options={"cost": True, "jobs": True, "jreg": True, "grad": True})
    # hard-smoothing of the default (uniform) maps is 0 and so is its gradient contribution.
    plain = model.forward_run(return_options={"cost": True}).cost
    assert ret.jobs == pytest.approx(plain, rel=1e-12) and ret.jreg == pytest.approx(0.0, abs=1e-12)
    assert ret.cost == pytest.approx(ret.jobs + 0.5 * ret.jreg, rel=1e-12)
    model.set_rr_parameters("cp", np.linspace(100.0, 300.0, model.mesh.nrow * model.mesh.ncol)
                            .reshape(model.mesh.nrow, model.mesh.ncol))
    _, ret = smash.backward_run(model, mapping="distributed",
                                cost_options={"jreg_cmpt": "hard-smoothing", "wjreg": 0.5},
                                return_options={"cost": True, "jobs": True, "jreg": True})
    active = model.mesh.active_cell == 1
    assert ret.jreg == pytest.approx(_numpy_hard_smoothing(model.get_rr_parameters("cp").astype(float), active),
                                     rel=1e-6)
