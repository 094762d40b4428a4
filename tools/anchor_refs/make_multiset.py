"""smash 1.3 multiset_estimate on Cance gr4-lr: estimates and L-curves from given ensembles.

Run with the interpreter of the environment where hydro-smash 1.3.0 is installed (black box):

    /opt/anchor/bin/python tools/anchor_refs/make_multiset.py --data /work/shared/datasets

Writes tests/anchor_refs/Cance/multiset.npz. The model is Cance gr4-lr (descriptors not read) on
the shortened period SETUP_CHANGES (the tests run it again). Three ensembles, each a
``multiple_forward_run`` then ``multiset_estimate(..., return_options={"lcurve_multiset": True,
"cost": True})``; for each case ``<case>_``:

- ``uniform``: ``generate_samples(PROBLEM, n=12, random_state=11)``, default alpha (the L-curve on
  ``linspace(-2, 10, 50)``);
- ``normal``: ``generate_samples(PROBLEM, generator="normal", n=8, random_state=3)``, alpha = the
  list NORMAL_ALPHA;
- ``maps``: a dict of ``cp`` maps (n, nrow, ncol) drawn with ``np.random.default_rng(5)`` uniform on
  [50, 900] (float32) and uniform ``ct`` values on [50, 500], alpha = 1.5 (a single value).

Keys: ``<case>_mfr_cost`` (n,) the ensemble's costs; ``<case>_<name>`` the estimated map of each
sampled name (nrow, ncol) float32; ``<case>_lcurve_cost`` / ``_lcurve_mahal_dist`` (one value per
alpha, or one value); ``<case>_lcurve_alpha`` and ``<case>_alpha_opt`` for the L-curves;
``<case>_cost`` the cost of the run with the estimate; the inputs ``normal_alpha``, ``input_cp_maps`` and
``input_ct_values``.
"""

import argparse
import os
import warnings

import numpy as np
import yaml

import smash

ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

warnings.filterwarnings("ignore")

# A month of the Cance period holding its first floods: the L-curve runs 50 forward runs.
SETUP_CHANGES = {"end_time": "2014-10-20 00:00", "read_descriptor": False}
PROBLEM = {"num_vars": 4, "names": ["cp", "ct", "kexc", "llr"],
           "bounds": [[1.0, 2000.0], [1.0, 1000.0], [-20.0, 5.0], [1.0, 1000.0]]}
NORMAL_ALPHA = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
QUIET = {"verbose": False}


def cance_model(data):
    folder = os.path.join(data, "Cance")
    with open(os.path.join(folder, "setup_Cance.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory", "descriptor_directory"):
        if key in setup:
            setup[key] = os.path.join(folder, setup[key])
    setup.update(SETUP_CHANGES)
    return smash.Model(setup, smash.io.read_mesh(os.path.join(folder, "mesh_Cance.hdf5")))


def record(rec, case, model, samples, alpha, names):
    mfr = smash.multiple_forward_run(model, samples, common_options=QUIET)
    estimate, ret = smash.multiset_estimate(model, mfr, alpha=alpha, common_options=QUIET,
                                            return_options={"lcurve_multiset": True, "cost": True})
    rec[f"{case}_mfr_cost"] = np.asarray(mfr.cost, dtype=np.float64)
    for name in names:
        rec[f"{case}_{name}"] = np.array(estimate.get_rr_parameters(name), dtype=np.float32, copy=True)
    lcurve = ret.lcurve_multiset
    rec[f"{case}_lcurve_cost"] = np.asarray(lcurve["cost"], dtype=np.float64)
    rec[f"{case}_lcurve_mahal_dist"] = np.asarray(lcurve["mahal_dist"], dtype=np.float64)
    if "alpha" in lcurve:
        rec[f"{case}_lcurve_alpha"] = np.asarray(lcurve["alpha"], dtype=np.float64)
        rec[f"{case}_alpha_opt"] = np.float64(lcurve["alpha_opt"])
    rec[f"{case}_cost"] = np.float64(ret.cost)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()

    model = cance_model(args.data)
    rec = {"smash_version": np.array(smash.__version__), "normal_alpha": np.array(NORMAL_ALPHA)}
    record(rec, "uniform", model, smash.factory.generate_samples(PROBLEM, n=12, random_state=11), None,
           PROBLEM["names"])
    record(rec, "normal", model, smash.factory.generate_samples(PROBLEM, generator="normal", n=8, random_state=3),
           NORMAL_ALPHA, PROBLEM["names"])
    rng = np.random.default_rng(5)
    n, grid = 5, (int(model.mesh.nrow), int(model.mesh.ncol))
    maps = {"cp": rng.uniform(50.0, 900.0, (n, *grid)).astype(np.float32), "ct": rng.uniform(50.0, 500.0, n)}
    rec["input_cp_maps"], rec["input_ct_values"] = maps["cp"], maps["ct"]
    record(rec, "maps", model, maps, 1.5, list(maps))

    out = os.path.join(args.out, "Cance", "multiset.npz")
    np.savez_compressed(out, **rec)
    print("wrote", out, {k: np.shape(v) for k, v in rec.items()})


if __name__ == "__main__":
    main()
