"""smash 1.3's answers to bad input settings and observation file names (black box, public API only).

Run: /opt/anchor/bin/python tools/anchor_refs/make_input_checks.py --data /work/shared/datasets
Writes tests/anchor_refs/Lez/input_checks.json: for each case, whether smash.Model accepted it,
the exception type, and (for qobs names) which file's values each gauge received.
"""

import argparse
import json
import os
import shutil
import tempfile
import warnings

import numpy as np

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))


def lez(data):
    base = os.path.join(data, "Lez")
    setup, mesh = smash.io.read_setup(os.path.join(base, "setup_Lez.yaml")), smash.io.read_mesh(
        os.path.join(base, "mesh_Lez.hdf5"))
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        setup[key] = os.path.join(base, setup[key])
    setup["end_time"] = "2012-08-11"
    setup["read_descriptor"] = False
    return setup, mesh


def attempt(setup, mesh):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = smash.Model(setup, mesh)
        except Exception as err:  # noqa: BLE001 - recording what smash raises
            return {"accepted": False, "error": type(err).__name__, "message": str(err)[:300]}, None
    return {"accepted": True, "warnings": [str(w.message)[:300] for w in caught]}, model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    out = {}
    setup, mesh = lez(args.data)

    # Flags given as strings, conversion factors out of range.
    for key, value in [("read_prcp", "False"), ("read_prcp", "True"), ("read_prcp", 0), ("read_prcp", 1),
                       ("prcp_conversion_factor", 0), ("prcp_conversion_factor", -1),
                       ("prcp_conversion_factor", "abc"), ("prcp_conversion_factor", None),
                       ("pet_conversion_factor", 0), ("adjust_interception", "False"),
                       ("compute_mean_atmos", "False"), ("sparse_storage", "False"),
                       ("daily_interannual_pet", "False")]:
        case, model = attempt({**setup, key: value}, mesh)
        if model is not None:
            prcp = model.atmos_data.prcp
            case["prcp_read"] = bool((prcp[prcp > -99] > 0).any())
            case["prcp_max"] = float(prcp.max())
            case["setup_value"] = repr(getattr(model.setup, key))
        out[f"{key}={value!r}"] = case

    # Observation file names: which file a gauge gets.
    codes = list(mesh["code"])
    src = os.path.join(args.data, "Lez", "qobs")
    _, reference = attempt(setup, mesh)
    # Each gauge's observations over the period, as read from the untouched folder.
    q_of_file = {f"{code}.csv": np.array(reference.response_data.q[g]) for g, code in enumerate(codes)}
    name_cases = {
        "exact_and_prefixed_old": {"Y3204040.csv": "Y3204040.csv", "A_Y3204040_old.csv": "Y3204030.csv"},
        "prefixed_only": {"prefix_Y3204040.csv": "Y3204040.csv"},
        "suffixed_only": {"Y3204040_qobs.csv": "Y3204040.csv"},
        "exact_and_suffixed": {"Y3204040.csv": "Y3204040.csv", "Y3204040_bis.csv": "Y3204030.csv"},
    }
    for name, files in name_cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            for target, source in files.items():
                shutil.copy(os.path.join(src, source), os.path.join(tmp, target))
            case, model = attempt({**setup, "qobs_directory": tmp}, mesh)
            if model is not None:
                q = model.response_data.q[codes.index("Y3204040")]
                origin = {}
                for target, source in files.items():
                    origin[target] = bool(np.array_equal(q, q_of_file[source]))
                case["Y3204040_values_from"] = [t for t, same in origin.items() if same]
                case["Y3204040_all_missing"] = bool((q <= -99).all())
            out[f"qobs_names:{name}"] = case

    dest = os.path.join(ANCHOR_REFS, "Lez", "input_checks.json")
    with open(dest, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
