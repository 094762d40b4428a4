"""smash 1.3 Bayesian estimation on Cance, for tests/test_bayesian_parity.py.

Run with the interpreter of the separate environment where hydro-smash 1.3.0 is installed:

    /opt/anchor/bin/python tools/anchor_refs/make_bayesian.py --data /work/shared/datasets

Writes ``tests/anchor_refs/Cance/bayesian.npz`` (arrays, no pickles) and
``tests/anchor_refs/Cance/bayesian.json`` (the cases). Only the public API is used
(``bayesian_optimize``, ``bayesian_optimize_control_info``, ``default_bayesian_optimize_options``,
``Model.get_serr_mu`` / ``get_serr_sigma``, ``Model.set_serr_*_parameters``, ``u_response_data``).
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

INFO_KEYS = ("n", "nbk", "name", "x", "l", "u", "nbd", "x_raw", "l_raw", "u_raw")
RETURN = {"control_vector": True, "cost": True, "n_iter": True, "log_lkh": True, "log_prior": True,
          "log_h": True}
# (case, setup changes, mapping, optimizer, optimize_options, cost_options, observation uncertainty)
CASES = [
    # smash's defaults (sbs, control_tfm "sbs") with every sigma mapping; "Linear" is the default
    ("default", {}, "uniform", None, {"termination_crit": {"maxiter": 1}}, None, None),
    *[(f"sigma_{sigma}_sbs", {"serr_sigma_mapping": sigma}, "uniform", None, {"termination_crit": {"maxiter": 1}},
       None, None) for sigma in ("Constant", "Power", "Exponential", "Gaussian")],
    # the gradient path (L-BFGS-B, control_tfm "normalize"): two iterations
    *[(f"sigma_{sigma}_lbfgsb", {"serr_sigma_mapping": sigma}, "uniform", "lbfgsb",
       {"termination_crit": {"maxiter": 2}}, None, None)
      for sigma in ("Constant", "Linear", "Power", "Exponential", "Gaussian")],
    ("mu_Linear_lbfgsb", {"serr_mu_mapping": "Linear"}, "uniform", "lbfgsb", {"termination_crit": {"maxiter": 2}},
     None, None),
    ("mu_Constant_all_prior_u", {"serr_mu_mapping": "Constant"}, "uniform", "lbfgsb",
     {"termination_crit": {"maxiter": 2}},
     {"gauge": "all", "control_prior": {"cp-0": ["Gaussian", [200, 100]], "llr-0": ["LogNormal", [1.5, 1]],
                                        "sg0-V3515010": ["Exponential", [0, 2]],
                                        "kexc-0": ["Triangle", [0, -50, 50]], "ct-0": ["Uniform", [0, 1000]]}},
     0.1),
    ("distributed", {}, "distributed", None, {"termination_crit": {"maxiter": 2}}, None, None),
    ("multi-linear", {}, "multi-linear", None, {"termination_crit": {"maxiter": 2}}, None, None),
    # end_warmup is left out: smash 1.3's bayesian_optimize aborts with it ("free(): invalid next size").
    ("keep_subset", {}, "uniform", "lbfgsb", {"termination_crit": {"maxiter": 2}, "control_tfm": "keep",
                                              "parameters": ["cp", "llr", "sg0", "sg1"]}, None, None),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=os.path.join(ANCHOR_REFS, "Cance"))
    args = parser.parse_args()
    setup, mesh = load_case(args.data, "Cance")
    out, meta = {"smash_version": np.array(smash.__version__)}, {"smash_version": smash.__version__, "cases": {}}
    for case, changes, mapping, optimizer, options, cost_options, u in CASES:
        model = build(setup, mesh, "gr4", **changes)
        if u is not None:
            # observation uncertainty: a share of the observed discharge
            model.u_response_data.q_stdev = np.where(model.response_data.q > 0, u * model.response_data.q,
                                                     0).astype(np.float32)
        info = smash.bayesian_optimize_control_info(model, mapping=mapping, optimizer=optimizer,
                                                    optimize_options=options, cost_options=cost_options)
        for key in INFO_KEYS:
            out[f"{case}__info__{key}"] = np.array(info[key], copy=True)
        records = []

        def callback(iopt, records=records):
            records.append(float(iopt.cost))

        new, res = smash.bayesian_optimize(model, mapping=mapping, optimizer=optimizer, optimize_options=options,
                                           cost_options=cost_options, return_options=RETURN,
                                           common_options={"verbose": False}, callback=callback)
        out[f"{case}__iter_cost"] = np.array(records)
        for key in RETURN:
            out[f"{case}__{key}"] = np.array(getattr(res, key), copy=True)
        out[f"{case}__q"] = np.array(new.response.q, copy=True)
        out[f"{case}__serr_mu"] = np.array(new.get_serr_mu(), copy=True)
        out[f"{case}__serr_sigma"] = np.array(new.get_serr_sigma(), copy=True)
        out[f"{case}__serr_mu_parameters"] = np.array(new.serr_mu_parameters.values, copy=True)
        out[f"{case}__serr_sigma_parameters"] = np.array(new.serr_sigma_parameters.values, copy=True)
        meta["cases"][case] = {"setup": changes, "mapping": mapping, "optimizer": optimizer,
                               "optimize_options": options, "cost_options": cost_options, "u_share": u}
        print(case, res.cost, res.log_lkh, res.log_prior, res.log_h, flush=True)
    # defaults, bounds and the moments at chosen parameters, for every mapping pair
    meta["defaults"] = {}
    for mu in ("Zero", "Constant", "Linear"):
        for sigma in ("Constant", "Linear", "Power", "Exponential", "Gaussian"):
            model = build(setup, mesh, "gr4", serr_mu_mapping=mu, serr_sigma_mapping=sigma)
            opts = smash.default_bayesian_optimize_options(model, mapping="distributed")
            meta["defaults"][f"{mu}-{sigma}"] = {
                "options": {k: v for k, v in opts.items() if k != "descriptor"},
                "mu_bounds": model.get_serr_mu_parameters_bounds(),
                "sigma_bounds": model.get_serr_sigma_parameters_bounds(),
                "mu_values": model.serr_mu_parameters.values.tolist(),
                "sigma_values": model.serr_sigma_parameters.values.tolist()}
            model.forward_run(common_options={"verbose": False})
            for i, key in enumerate(model.serr_mu_parameters.keys):
                model.set_serr_mu_parameters(key, np.array([0.3 + i, -0.2, 0.1 * (i + 1)]))
            for i, key in enumerate(model.serr_sigma_parameters.keys):
                model.set_serr_sigma_parameters(key, np.array([0.5 + i, 1.5 + 0.5 * i, 3.0 - i * 0.5]))
            out[f"moments__{mu}-{sigma}__q"] = np.array(model.response.q, copy=True)
            out[f"moments__{mu}-{sigma}__mu"] = np.array(model.get_serr_mu(), copy=True)
            out[f"moments__{mu}-{sigma}__sigma"] = np.array(model.get_serr_sigma(), copy=True)
            out[f"moments__{mu}-{sigma}__mu_parameters"] = np.array(model.serr_mu_parameters.values, copy=True)
            out[f"moments__{mu}-{sigma}__sigma_parameters"] = np.array(model.serr_sigma_parameters.values, copy=True)
    np.savez_compressed(os.path.join(args.out, "bayesian.npz"), **out)
    with open(os.path.join(args.out, "bayesian.json"), "w") as f:
        json.dump(meta, f, indent=1, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))


if __name__ == "__main__":
    main()
