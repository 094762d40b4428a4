"""smash 1.3 L-BFGS-B Bayesian estimation on Cance gr4-lr run to convergence, and smash's gradient
probed at the point where the six "other path" cases leave smash's path (tests/parity/test_bayesian_lbfgsb.py,
docs/differences.md).

Run with the interpreter of the separate environment where hydro-smash 1.3.0 is installed:

    /opt/anchor/bin/python tools/anchor_refs/make_bayesian_lbfgsb.py --data /work/shared/datasets

Writes ``tests/anchor_refs/Cance/bayesian_lbfgsb.npz`` (arrays, no pickles) and
``tests/anchor_refs/Cance/bayesian_lbfgsb.json`` (the cases and the probe points). Public API only.

- ``converged``: bayesian_optimize with L-BFGS-B to its own stop (maxiter 100) for the cases whose
  first steps differ from ours (and sigma Linear, which follows ours); the cost of every iterate
  (callback), the result and its terms; ``restarted``: once more from there.
- ``first_step``: the first iterate of sigma Constant with ct's lower bound (the ct of the corner its
  line search tries first) raised by 1e-6 relative and more.
- ``probe``: smash's cost and |dJ/dx_i| at a chosen point. L-BFGS-B with pgtol=1e30 stops before its
  first iteration and returns the cost and ``projg`` (smash's largest |dJ/dx_i|) there; with
  ``parameters`` naming one rr parameter, projg is that one entry of the gradient. The points: the
  first guess, and the corner of the box that L-BFGS-B's first line search tries (cp = ct = 1e-6,
  kexc = 50, llr = sg0 = 1000), with ct moved by a few float32 ulps (1e-6 relative and more).
Deterministic.
"""

import argparse
import json
import os
import warnings

import numpy as np
from make_control import ANCHOR_REFS, build, load_case

import smash

warnings.filterwarnings("ignore")

RETURN = {"control_vector": True, "cost": True, "n_iter": True, "projg": True, "log_lkh": True,
          "log_prior": True, "log_h": True}
# Priors given in the order of the controls: smash 1.3 applies the k-th prior to the k-th control (see
# docs/calibration.md), ours by name; in this order both give the same posterior.
ORDERED_PRIOR = {"cp-0": ["Gaussian", [200, 100]], "ct-0": ["Uniform", [0, 1000]], "kexc-0": ["Triangle", [0, -50, 50]],
                 "llr-0": ["LogNormal", [1.5, 1]]}
# (case, setup changes, cost_options, observation uncertainty share)
CASES = [
    ("sigma_Constant", {"serr_sigma_mapping": "Constant"}, None, None),
    ("sigma_Linear", {"serr_sigma_mapping": "Linear"}, None, None),
    ("sigma_Power", {"serr_sigma_mapping": "Power"}, None, None),
    ("sigma_Exponential", {"serr_sigma_mapping": "Exponential"}, None, None),
    ("sigma_Gaussian", {"serr_sigma_mapping": "Gaussian"}, None, None),
    ("mu_Linear", {"serr_mu_mapping": "Linear"}, None, None),
    ("mu_Constant_all_prior_u", {"serr_mu_mapping": "Constant"}, {"gauge": "all", "control_prior": ORDERED_PRIOR}, 0.1),
]
MAXITER = 100
# ct at the corner: float32(1e-6) and a few points a hair above it
CT_CORNER = [1e-6, 1.000001e-6, 1.00001e-6, 1.0001e-6, 1.001e-6, 1.01e-6, 1.1e-6]
CT_LOWER = [1e-6, 1.000001e-6, 1.00001e-6, 1.0001e-6]


def with_uncertainty(model, u):
    if u is not None:
        q = model.response_data.q
        model.u_response_data.q_stdev = np.where(q > 0, u * q, 0).astype(np.float32)
    return model


def converged(model, cost_options, out, case):
    """L-BFGS-B to its stop, then once more from where it stopped (a float32 cost or gradient may stop
    it early; the restart shows whether it had reached its optimum)."""
    for stage in ("converged", "restarted"):
        history = []

        def callback(iopt, history=history):
            history.append(float(iopt.cost))

        opts = {"termination_crit": {"maxiter": MAXITER}}
        model, res = smash.bayesian_optimize(model, optimizer="lbfgsb", optimize_options=opts,
                                             cost_options=cost_options, return_options=RETURN,
                                             common_options={"verbose": False}, callback=callback)
        out[f"{stage}__{case}__iter_cost"] = np.array(history)
        for key in RETURN:
            out[f"{stage}__{case}__{key}"] = np.array(getattr(res, key), copy=True)
        out[f"{stage}__{case}__serr_mu_parameters"] = np.array(model.serr_mu_parameters.values, copy=True)
        out[f"{stage}__{case}__serr_sigma_parameters"] = np.array(model.serr_sigma_parameters.values, copy=True)
        print(stage, case, res.n_iter, res.cost, res.log_lkh, res.log_prior, res.projg, flush=True)


def first_step(model, out, meta):
    """The first L-BFGS-B iterate with ct's lower bound (the corner's ct) moved by float32 ulps."""
    bounds = smash.default_bayesian_optimize_options(model, optimizer="lbfgsb")["bounds"]
    rows = []
    for low in CT_LOWER:
        opts = {"termination_crit": {"maxiter": 1}, "bounds": {**bounds, "ct": (low, bounds["ct"][1])}}
        _, res = smash.bayesian_optimize(model, optimizer="lbfgsb", optimize_options=opts,
                                         return_options={"control_vector": True, "cost": True},
                                         common_options={"verbose": False})
        rows.append((float(res.cost), np.array(res.control_vector, dtype=np.float64)))
        print("first step, ct lower bound", low, res.cost, res.control_vector, flush=True)
    meta["first_step"] = {"case": "sigma_Constant", "ct_lower": CT_LOWER}
    out["first_step__cost"] = np.array([r[0] for r in rows])
    out["first_step__control_vector"] = np.array([r[1] for r in rows])


def probe(model, parameter):
    """smash's (cost, |dJ/dx|) of `parameter` (or the largest entry of the default controls) at the model's values."""
    opts = {"termination_crit": {"maxiter": 1, "pgtol": 1e30}}
    if parameter is not None:
        opts["parameters"] = [parameter]
    _, res = smash.bayesian_optimize(model, optimizer="lbfgsb", optimize_options=opts,
                                     return_options={"cost": True, "projg": True, "n_iter": True},
                                     common_options={"verbose": False})
    assert res.n_iter == 0
    return float(res.cost), float(res.projg)


def corner(model, ct):
    bounds = smash.default_bayesian_optimize_options(model, optimizer="lbfgsb")["bounds"]
    at = model.copy()
    at.set_rr_parameters("cp", float(bounds["cp"][0]))
    at.set_rr_parameters("ct", float(ct))
    at.set_rr_parameters("kexc", float(bounds["kexc"][1]))
    at.set_rr_parameters("llr", float(bounds["llr"][1]))
    at.set_serr_sigma_parameters("sg0", float(bounds["sg0"][1]))
    return at


def probes(model, out, meta):
    rows = {}
    for name in ("cp", "ct", "kexc", "llr"):
        rows[f"start__{name}"] = probe(model, name)
    for ct in CT_CORNER:
        at = corner(model, ct)
        rows[f"corner__ct={ct!r}__ct"] = probe(at, "ct")
        if ct == CT_CORNER[0]:
            for name in ("cp", "kexc", "llr"):
                rows[f"corner__ct={ct!r}__{name}"] = probe(at, name)
    meta["probe"] = {"case": "sigma_Constant", "ct_corner": CT_CORNER, "rows": list(rows)}
    out["probe__cost"] = np.array([v[0] for v in rows.values()])
    out["probe__grad_abs"] = np.array([v[1] for v in rows.values()])
    for key, (cost, grad) in rows.items():
        print(key, cost, grad, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=os.path.join(ANCHOR_REFS, "Cance"))
    parser.add_argument("--cases", nargs="*", default=None, help="a subset of the cases (for a quick look)")
    args = parser.parse_args()
    setup, mesh = load_case(args.data, "Cance")
    out, meta = {"smash_version": np.array(smash.__version__)}, {"smash_version": smash.__version__,
                                                                   "maxiter": MAXITER, "cases": {}}
    for case, changes, cost_options, u in CASES:
        if args.cases and case not in args.cases:
            continue
        model = with_uncertainty(build(setup, mesh, "gr4", **changes), u)
        if case == "sigma_Constant":
            probes(model, out, meta)
            first_step(model, out, meta)
        converged(model, cost_options, out, case)
        meta["cases"][case] = {"setup": changes, "cost_options": cost_options, "u_share": u}
    np.savez_compressed(os.path.join(args.out, "bayesian_lbfgsb.npz"), **out)
    with open(os.path.join(args.out, "bayesian_lbfgsb.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
