"""smash 1.3 samples (generate_samples) and ensembles of spatially distributed samples (multiple_forward_run).

Run with the interpreter of the environment where hydro-smash 1.3.0 is installed (black box):

    /opt/anchor/bin/python tools/anchor_refs/make_samples.py --data /work/shared/datasets

Writes tests/anchor_refs/Lez/samples.npz:

- ``draw_<i>``: ``generate_samples(problem, **kwargs).to_numpy(axis=1)`` (n, num_vars) float64 for each
  case ``i`` of ``draw_cases_json`` (problem = the Lez gr4-lr bounds, generator, n, random_state, mean,
  coef_std); ``draw_global_<i>``: the same without random_state after ``np.random.seed(seed)``.
- ``mfr_*``: ``multiple_forward_run`` on default Lez gr4-lr with a dict of maps (n, nrow, ncol) drawn with
  ``np.random.default_rng(5)`` (cp, ct, kexc, llr parameters; hp initial state) plus a uniform ``ct`` case:
  ``mfr_cost`` (n,), ``mfr_q`` (ng, ntime, n) float32, and ``mfr_kge_cost`` with
  ``cost_options={"jobs_cmpt": "kge", "gauge": "all"}``; ``mfr_mixed_*`` with cp maps and uniform ct values.
"""

import argparse
import json
import os
import warnings

import numpy as np
import yaml

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

warnings.filterwarnings("ignore")


def lez_model(data):
    folder = os.path.join(data, "Lez")
    with open(os.path.join(folder, "setup_Lez.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        setup[key] = os.path.join(folder, setup[key])
    setup["read_descriptor"] = False
    return smash.Model(setup, smash.io.read_mesh(os.path.join(folder, "mesh_Lez.hdf5")))


def problem_of(model):
    bounds = model.get_rr_parameters_bounds()
    names = list(bounds)
    return {"num_vars": len(names), "names": names, "bounds": [list(map(float, bounds[k])) for k in names]}


DRAW_CASES = [
    {"generator": "uniform", "n": 7, "random_state": 99},
    {"generator": "uniform", "n": 50, "random_state": 0},
    {"generator": "normal", "n": 7, "random_state": 99},
    {"generator": "gaussian", "n": 40, "random_state": 3, "coef_std": 5},
    {"generator": "normal", "n": 40, "random_state": 11, "mean": {"cp": 300.0, "kexc": -1.0}},
    {"generator": "normal", "n": 40, "random_state": 12, "mean": {"ct": 1.5, "llr": 900.0}, "coef_std": 1.5},
    # smash 1.3 also takes a mean outside the bounds (truncated normal beyond a bound) and
    # ignores mean / coef_std with the uniform generator.
    {"generator": "normal", "n": 20, "random_state": 5, "mean": {"cp": 1500.0}},
    {"generator": "uniform", "n": 10, "random_state": 5, "mean": {"cp": 300.0}, "coef_std": 2},
]
GLOBAL_SEEDS = [7, 21]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()

    model = lez_model(args.data)
    problem = problem_of(model)
    rec = {"smash_version": np.array(smash.__version__), "problem_json": np.array(json.dumps(problem)),
           "draw_cases_json": np.array(json.dumps(DRAW_CASES)), "global_seeds": np.array(GLOBAL_SEEDS)}
    for i, case in enumerate(DRAW_CASES):
        rec[f"draw_{i}"] = smash.factory.generate_samples(problem, **case).to_numpy(axis=1)
        kwargs = {k: v for k, v in case.items() if k != "random_state"}
        if i < len(GLOBAL_SEEDS):
            np.random.seed(GLOBAL_SEEDS[i])
            rec[f"draw_global_{i}"] = smash.factory.generate_samples(problem, **kwargs).to_numpy(axis=1)

    shape = (4, model.mesh.nrow, model.mesh.ncol)
    rng = np.random.default_rng(5)
    maps = {"cp": rng.uniform(50.0, 800.0, shape), "ct": rng.uniform(20.0, 500.0, shape),
            "kexc": rng.uniform(-5.0, 3.0, shape), "llr": rng.uniform(5.0, 200.0, shape),
            "hp": rng.uniform(0.05, 0.95, shape)}
    opts = {"verbose": False}
    mfr = smash.multiple_forward_run(model, maps, common_options=opts)
    kge = smash.multiple_forward_run(model, maps, cost_options={"jobs_cmpt": "kge", "gauge": "all"},
                                     common_options=opts)
    mixed_ct = np.array([30.0, 120.0, 250.0, 400.0])
    mixed = smash.multiple_forward_run(model, {"cp": maps["cp"], "ct": mixed_ct}, common_options=opts)
    rec.update({f"mfr_map_{k}": v for k, v in maps.items()})
    rec.update(mfr_cost=np.asarray(mfr.cost, np.float64), mfr_q=np.array(mfr.q, np.float32),
               mfr_kge_cost=np.asarray(kge.cost, np.float64), mfr_mixed_ct=mixed_ct,
               mfr_mixed_cost=np.asarray(mixed.cost, np.float64), mfr_mixed_q=np.array(mixed.q, np.float32))
    path = os.path.join(args.out, "Lez", "samples.npz")
    np.savez_compressed(path, **rec)
    print(f"wrote {path}: costs {mfr.cost}, kge {kge.cost}, mixed {mixed.cost}")


if __name__ == "__main__":
    main()
