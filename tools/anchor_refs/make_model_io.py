"""What smash 1.3's model I/O holds: the types of `read_model(...).setup` values, the keys, dtypes,
shapes and time formats of `read_model_ddt`, and `response.q` before any run; measured on Lez (gr4-lr,
daily) and Cance (gr4_mlp-lr and ssn-gr4-kw, hourly), as a black box through its public API.

    /opt/anchor/bin/python tools/anchor_refs/make_model_io.py --data /work/shared/datasets

Writes `model_io.json`.
"""

import argparse
import json
import os
import tempfile
import warnings

import numpy as np
import yaml

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

warnings.filterwarnings("ignore")

CASES = {"Lez-zero-gr4-lr": ("Lez", {}, ("2012-08-01 00:00", "2012-08-21 00:00")),
         "Cance-zero-gr4_mlp-lr": ("Cance", {"hydrological_module": "gr4_mlp"},
                                   ("2014-09-15 00:00", "2014-09-17 00:00")),
         "Cance-ssn-gr4-kw": ("Cance", {"snow_module": "ssn", "routing_module": "kw"},
                              ("2014-09-15 00:00", "2014-09-17 00:00"))}


def load(data, name, period, **overrides):
    with open(os.path.join(data, name, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    for kind in ("qobs", "prcp", "pet", "descriptor"):
        setup[f"{kind}_directory"] = os.path.join(data, name, kind)
    setup["start_time"], setup["end_time"] = period
    setup.update(overrides)
    return setup, smash.io.read_mesh(os.path.join(data, name, f"mesh_{name}.hdf5"))


def describe(value):
    if isinstance(value, np.ndarray):
        rec = {"type": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape)}
        if value.dtype.kind in "US" or value.size <= 8:
            rec["value"] = value.tolist() if value.dtype.kind != "S" else [v.decode() for v in value.ravel()]
        return rec
    if isinstance(value, (np.generic,)):
        return {"type": type(value).__name__, "value": value.item()}
    return {"type": type(value).__name__, "value": value if isinstance(value, (int, float, str, bool)) else repr(value)}


def measure(data):
    out = {"smash_version": smash.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, overrides, period) in CASES.items():
            setup, mesh = load(data, name, period, **overrides)
            model = smash.Model(setup, mesh)
            rec = {"response_q_before_run": np.unique(model.response.q).tolist()}
            path = os.path.join(tmp, f"{label}_before.hdf5")
            smash.io.save_model_ddt(model, path)
            ddt_before = smash.io.read_model_ddt(path)
            rec["ddt_before_run_response_q"] = np.unique(ddt_before["response"]["q"]).tolist()
            model.forward_run()
            path = os.path.join(tmp, f"{label}.hdf5")
            smash.io.save_model_ddt(model, path)
            ddt = smash.io.read_model_ddt(path)
            rec["ddt"] = {group: {key: describe(value) for key, value in values.items()}
                          for group, values in ddt.items()}
            rec["ddt_equal"] = {
                "response_q": bool(np.array_equal(ddt["response"]["q"], model.response.q)),
                "rr_parameters_values": bool(np.array_equal(ddt["rr_parameters"]["values"],
                                                            model.rr_parameters.values)),
                "groups": sorted(ddt),
                "dx": bool(np.array_equal(ddt["mesh"]["dx"], model.mesh.dx)),
            }
            path = os.path.join(tmp, f"{label}_model.hdf5")
            smash.io.save_model(model, path)
            back = smash.io.read_model(path)
            rec["read_model_setup"] = {key: describe(getattr(back.setup, key)) for key in
                                       ("start_time", "end_time", "dt", "ntime_step", "structure", "hidden_neuron",
                                        "descriptor_name", "read_prcp", "prcp_directory", "adjust_interception",
                                        "prcp_conversion_factor", "nd")}
            rec["read_model_response_q_equal"] = bool(np.array_equal(back.response.q, model.response.q))
            out[label] = rec
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="datasets folder (Lez, Cance)")
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()
    with open(os.path.join(args.out, "model_io.json"), "w") as f:
        json.dump(measure(args.data), f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
