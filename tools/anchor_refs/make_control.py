"""smash 1.3 calibration-control conventions on Cance, for tests/parity/test_control_conventions.py.

Run with the interpreter of the separate environment where hydro-smash 1.3.0 is installed:

    /opt/anchor/bin/python tools/anchor_refs/make_control.py --data /work/shared/datasets

Writes ``tests/anchor_refs/Cance/control.npz`` (arrays, no pickles) and
``tests/anchor_refs/Cance/control.json`` (callback records, options). Only the public API is used
(``optimize_control_info``, ``Model.set_control_optimize``, ``optimize``, ``backward_run``,
``default_optimize_options``, ``Model.physio_data``). Deterministic.
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

INFO_KEYS = ("n", "nbk", "name", "x", "l", "u", "nbd", "x_raw", "l_raw", "u_raw")
# (case name, structure, mapping, optimizer, optimize_options)
INFO_CASES = [
    ("gr4_uniform", "gr4", "uniform", None, None),
    ("gr4_uniform_lbfgsb", "gr4", "uniform", "lbfgsb", None),
    ("gr4_uniform_keep", "gr4", "uniform", "lbfgsb", {"control_tfm": "keep"}),
    ("gr4_distributed", "gr4", "distributed", None, None),
    ("gr4_multi-linear", "gr4", "multi-linear", None, None),
    ("gr4_multi-power", "gr4", "multi-power", None, None),
    ("gr4_multi-power_keep", "gr4", "multi-power", None, {"control_tfm": "keep"}),
    ("gr4_multi-power_descriptor", "gr4", "multi-power", None,
     {"parameters": ["cp", "hp"], "descriptor": {"cp": ["dd"]}}),
    ("gr4_multi-linear_states", "gr4", "multi-linear", None,
     {"parameters": ["llr", "cp", "ht"], "descriptor": {"llr": ["slope"]}}),
    ("gr4_mlp_uniform", "gr4_mlp", "uniform", None, None),
    ("gr4_mlp_uniform_lbfgsb", "gr4_mlp", "uniform", "lbfgsb", None),
    ("gr4_mlp_distributed", "gr4_mlp", "distributed", None, None),
    ("gr4_mlp_multi-linear", "gr4_mlp", "multi-linear", None, None),
    ("gr4_mlp_multi-power", "gr4_mlp", "multi-power", None, None),
    # weights set to known values (see main): order of the nn block whatever the order asked
    ("gr4_mlp_order", "gr4_mlp", "uniform", None, {"parameters": ["bias_1", "weight_1", "llr", "hp", "cp"]}),
]
# sbs transform of every parameter and state (uniform mapping, default bounds)
SBS_STRUCTURES = ["gr4", "gr5", "gr6", "grc", "grd", "loieau", "vic3l", "gr4_ri", "gr5_ri", "gr4-kw"]
# calibrations from smash's defaults: (case, structure, mapping, optimizer, maxiter)
CALIBRATIONS = [
    ("gr4_uniform", "gr4", "uniform", None, 2),
    ("gr4_distributed", "gr4", "distributed", None, 3),
    ("gr4_multi-linear", "gr4", "multi-linear", None, 3),
    ("gr4_multi-power", "gr4", "multi-power", None, 3),
    ("gr4_mlp_uniform_lbfgsb", "gr4_mlp", "uniform", "lbfgsb", 3),
    ("gr4_mlp_multi-linear", "gr4_mlp", "multi-linear", None, 3),
    # descriptors min-max normalized (non-negative): the exponents move
    ("gr4_multi-power_normalize", "gr4@normalize", "multi-power", None, 3),
    # the other optimizers of these mappings
    ("gr4_distributed_adam", "gr4", "distributed", "adam", 3),
    ("gr4_distributed_sgd", "gr4", "distributed", "sgd", 3),
    ("gr4_distributed_adagrad", "gr4", "distributed", "adagrad", 3),
    ("gr4_distributed_rmsprop", "gr4", "distributed", "rmsprop", 3),
    ("gr4_multi-linear_adam", "gr4", "multi-linear", "adam", 3),
    ("gr4_uniform_adam", "gr4", "uniform", "adam", 4),
    ("gr4_uniform_nelder-mead", "gr4", "uniform", "nelder-mead", 3),
]
# backward runs at smash's defaults: (case, structure, mapping, optimizer, optimize_options)
BACKWARD = [
    ("gr4_uniform", "gr4", "uniform", None, None),
    ("gr4_uniform_lbfgsb", "gr4", "uniform", "lbfgsb", None),
    ("gr4_uniform_keep", "gr4", "uniform", "lbfgsb", {"control_tfm": "keep"}),
    ("gr4_distributed", "gr4", "distributed", None, None),
    ("gr4_multi-linear", "gr4", "multi-linear", None, None),
    ("gr4_multi-power", "gr4", "multi-power", None, None),
    ("gr4_mlp_uniform_lbfgsb", "gr4_mlp", "uniform", "lbfgsb", None),
]


def load_case(data, name):
    folder = os.path.join(data, name)
    with open(os.path.join(folder, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory", "descriptor_directory"):
        setup[key] = os.path.join(folder, setup.get(key, key.split("_")[0]))
    mesh = smash.io.read_mesh(os.path.join(folder, f"mesh_{name}.hdf5"))
    return setup, mesh


def build(setup, mesh, structure, **extra):
    hydro, _, routing = structure.partition("-")
    return smash.Model(dict(setup, hydrological_module=hydro, routing_module=routing or "lr", **extra), mesh)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=os.path.join(ANCHOR_REFS, "Cance"))
    args = parser.parse_args()
    setup, mesh = load_case(args.data, "Cance")
    out, meta = {"smash_version": np.array(smash.__version__)}, {"smash_version": smash.__version__}
    models = {s: build(setup, mesh, s) for s in ("gr4", "gr4_mlp")}
    models["gr4@normalize"] = build(setup, mesh, "gr4", descriptor_tfm="normalize")

    # --- control info
    order = models["gr4_mlp"].copy()
    order.nn_parameters.weight_1 = np.arange(64, dtype=np.float32).reshape(16, 4)
    order.nn_parameters.bias_1 = np.arange(16, dtype=np.float32) + 100
    out["order_weight_1"] = np.array(order.nn_parameters.weight_1, copy=True)
    out["order_bias_1"] = np.array(order.nn_parameters.bias_1, copy=True)
    meta["info_cases"] = {}
    for case, structure, mapping, optimizer, options in INFO_CASES:
        model = order if case == "gr4_mlp_order" else models[structure]
        info = smash.optimize_control_info(model, mapping=mapping, optimizer=optimizer, optimize_options=options)
        meta["info_cases"][case] = {"structure": structure, "mapping": mapping, "optimizer": optimizer,
                                    "optimize_options": options}
        for key in INFO_KEYS:
            out[f"info__{case}__{key}"] = np.array(info[key], copy=True)
    for structure in SBS_STRUCTURES:
        model = build(setup, mesh, structure, read_descriptor=False)
        names = [k for k in model.rr_parameters.keys if k != "ci"] + list(model.rr_initial_states.keys)
        info = smash.optimize_control_info(model, optimize_options={"parameters": names})
        for key in INFO_KEYS:
            out[f"sbs__{structure}__{key}"] = np.array(info[key], copy=True)

    # --- descriptors: statistics and the maps of a chosen multi-linear / multi-power control vector
    for tfm in ("standardize", "normalize", "keep"):
        model = build(setup, mesh, "gr4", descriptor_tfm=tfm)
        pd = model.physio_data
        for key in ("mean_descriptor", "std_descriptor", "l_descriptor", "u_descriptor"):
            out[f"desc__{tfm}__{key}"] = np.array(getattr(pd, key), copy=True)
        for mapping in ("multi-linear", "multi-power"):
            info = smash.optimize_control_info(model, mapping=mapping)
            names = list(info["name"])
            x = np.array(info["x"], dtype=np.float32)
            x[names.index("cp-slope-a")] = 0.5
            x[names.index("ct-dd-a")] = 0.25
            x[names.index("kexc-0")] = 0.3
            x[names.index("kexc-slope-a")] = -0.2
            m = model.copy()
            m.set_control_optimize(x, mapping=mapping)
            out[f"desc__{tfm}__{mapping}__x"] = x
            for key in ("cp", "ct", "kexc", "llr"):
                out[f"desc__{tfm}__{mapping}__{key}"] = np.array(m.get_rr_parameters(key), copy=True)
    out["descriptor"] = np.array(models["gr4"].physio_data.descriptor, copy=True)

    # --- calibrations, with the callback's records
    meta["calibrations"] = {}
    for case, structure, mapping, optimizer, maxiter in CALIBRATIONS:
        records = []

        def callback(iopt, records=records):
            records.append({k: (np.asarray(v).tolist()) for k, v in vars(iopt).items()})

        options = {"termination_crit": {"maxiter": maxiter}}
        model, res = smash.optimize(models[structure], mapping=mapping, optimizer=optimizer,
                                    optimize_options=options, callback=callback,
                                    return_options={"control_vector": True, "cost": True, "n_iter": True,
                                                    "projg": True},
                                    common_options={"verbose": False})
        out[f"cal__{case}__control_vector"] = np.array(res.control_vector, copy=True)
        # copies: smash's arrays are views of Fortran memory freed with the model
        out[f"cal__{case}__q"] = np.array(model.response.q, copy=True)
        out[f"cal__{case}__cost"] = np.float64(res.cost)
        out[f"cal__{case}__n_iter"] = np.int64(res.n_iter)
        meta["calibrations"][case] = {
            "structure": structure, "mapping": mapping, "optimizer": optimizer, "optimize_options": options,
            "return_attributes": sorted(k for k in vars(res) if not k.startswith("_")),
            "callback": [{k: v for k, v in r.items() if k != "control_vector"} for r in records],
            "callback_keys": sorted(records[0]) if records else [],
        }
        out[f"cal__{case}__callback_control_vector"] = np.array([r["control_vector"] for r in records])

    # --- backward runs
    for case, structure, mapping, optimizer, options in BACKWARD:
        _, res = smash.backward_run(models[structure], mapping=mapping, optimizer=optimizer,
                                    optimize_options=options, return_options={"grad": True, "cost": True},
                                    common_options={"verbose": False})
        out[f"bwd__{case}__grad"] = np.array(res.grad, copy=True)
        out[f"bwd__{case}__cost"] = np.float64(res.cost)
    _, res = smash.backward_run(models["gr4"], diff_target="q", return_options={"grad": True},
                                common_options={"verbose": False})
    out["bwd__gr4_uniform_q__grad"] = np.array(res.grad, copy=True)
    # a cotangent that tells the cells apart: (nac, ntime_step), seeded
    model = models["gr4"]
    cot = np.random.default_rng(18).uniform(-1, 2, (int(model.mesh.nac), model.setup.ntime_step)).astype(np.float32)
    cot[:, :100] = 0
    out["bwd__q_cotangent"] = cot
    for case, mapping in (("gr4_uniform_q_cot", "uniform"), ("gr4_distributed_q_cot", "distributed")):
        _, res = smash.backward_run(model, diff_target="q", cotangent=cot, mapping=mapping,
                                    return_options={"grad": True}, common_options={"verbose": False})
        out[f"bwd__{case}__grad"] = np.array(res.grad, copy=True)

    np.savez_compressed(os.path.join(args.out, "control.npz"), **out)
    with open(os.path.join(args.out, "control.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
