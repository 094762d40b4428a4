"""How smash 1.3 takes bad setup values and bad mesh fields: the exception type it raises, or the
value it keeps, measured as a black box through its public API (smash.Model on Cance).

    /opt/anchor/bin/python tools/anchor_refs/make_setup_checks.py --data /work/shared/datasets

Writes `Cance/setup_checks.json`: {"setup": [{label, overrides, outcome}], "mesh": [{label, change,
outcome}]}, where outcome is {"raised": type name, "message": text} or {"accepted": the attribute
as smash keeps it}. Overrides are JSON (NaN and Infinity as Python's json writes them); mesh
changes name an operation on Cance's mesh that the test replays (tests/reliability).
"""

import argparse
import copy
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
PERIOD = ("2014-09-15 00:00", "2014-09-16 00:00")

SETUP_CASES = [
    ("read_prcp 'False'", {"read_prcp": "False"}),
    ("read_prcp 'True'", {"read_prcp": "True"}),
    ("read_prcp 1", {"read_prcp": 1}),
    ("read_prcp 0", {"read_prcp": 0}),
    ("read_prcp 2", {"read_prcp": 2}),
    ("read_prcp None", {"read_prcp": None}),
    ("sparse_storage 'yes'", {"sparse_storage": "yes"}),
    ("adjust_interception 'no'", {"adjust_interception": "no"}),
    ("dt NaN", {"dt": float("nan")}),
    ("dt '3600'", {"dt": "3600"}),
    ("prcp_conversion_factor 'abc'", {"prcp_conversion_factor": "abc"}),
    ("prcp_conversion_factor None", {"prcp_conversion_factor": None}),
    ("prcp_conversion_factor 0", {"prcp_conversion_factor": 0}),
    ("pet_conversion_factor -1", {"pet_conversion_factor": -1.0}),
    ("prcp_conversion_factor NaN", {"prcp_conversion_factor": float("nan")}),
    ("descriptor_name 'slope'", {"read_descriptor": True, "descriptor_name": "slope"}),
    ("hidden_neuron '8'", {"hydrological_module": "gr4_mlp", "hidden_neuron": "8"}),
    ("hidden_neuron [8, 8, 8]", {"hydrological_module": "gr4_mlp", "hidden_neuron": [8, 8, 8]}),
    ("hidden_neuron 0", {"hydrological_module": "gr4_mlp", "hidden_neuron": 0}),
    ("hidden_neuron -3", {"hydrological_module": "gr4_mlp", "hidden_neuron": -3}),
    ("hidden_neuron 2.5", {"hydrological_module": "gr4_mlp", "hidden_neuron": 2.5}),
    ("hydrological_module 'gr44'", {"hydrological_module": "gr44"}),
    ("prcp_format 'asc'", {"prcp_format": "asc"}),
    ("qobs_directory 5", {"qobs_directory": 5}),
    ("start_time 20140915", {"start_time": 20140915}),
]

# Operations on Cance's mesh (the test applies the same ones to its copy of the mesh).
MESH_CASES = [
    ("flwdst NaN at the first active cell", {"key": "flwdst", "op": "first_active", "value": float("nan")}),
    ("active_cell -1 at the first active cell", {"key": "active_cell", "op": "first_active", "value": -1}),
    ("area of gauge 0 negative", {"key": "area", "op": "negate_first"}),
    ("gauge_pos of gauge 0 + 0.5 row", {"key": "gauge_pos", "op": "add_half"}),
    ("code of the first gauge only", {"key": "code", "op": "first_only"}),
]


def load(data):
    with open(os.path.join(data, "Cance", "setup_Cance.yaml")) as f:
        setup = yaml.safe_load(f)
    for kind in ("qobs", "prcp", "pet", "descriptor"):
        setup[f"{kind}_directory"] = os.path.join(data, "Cance", kind)
    setup["start_time"], setup["end_time"] = PERIOD
    mesh = smash.io.read_mesh(os.path.join(data, "Cance", "mesh_Cance.hdf5"))
    return setup, mesh


def apply_mesh_change(mesh, change):
    """Cance's mesh with one field changed as `change` says (also used by the test)."""
    mesh = copy.deepcopy(mesh)
    key, op = change["key"], change["op"]
    if op == "first_active":
        arr = np.array(mesh[key], dtype=np.float64 if isinstance(change["value"], float) else mesh[key].dtype)
        rows, cols = np.nonzero(np.asarray(mesh["active_cell"]) == 1)
        arr[rows[0], cols[0]] = change["value"]
        mesh[key] = arr
    elif op == "negate_first":
        arr = np.array(mesh[key], dtype=np.float64)
        arr[0] = -arr[0]
        mesh[key] = arr
    elif op == "add_half":
        arr = np.array(mesh[key], dtype=np.float64)
        arr[0, 0] += 0.5
        mesh[key] = arr
    elif op == "first_only":
        mesh[key] = np.asarray(mesh[key])[:1]
    return mesh


def outcome(build, attribute):
    try:
        model = build()
    except Exception as error:   # the type is what we record
        return {"raised": type(error).__name__, "message": str(error)[:300]}
    value = attribute(model)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, (np.integer, np.floating)):
        value = value.item()
    return {"accepted": value}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    data = parser.parse_args().data
    setup, mesh = load(data)
    out = {"smash_version": smash.__version__, "period": PERIOD, "setup": [], "mesh": []}
    for label, overrides in SETUP_CASES:
        key = next(reversed(overrides))
        result = outcome(lambda overrides=overrides: smash.Model(dict(setup, **overrides), mesh),
                         lambda model, key=key: getattr(model.setup, key))
        out["setup"].append({"label": label, "overrides": overrides, "outcome": result})
    for label, change in MESH_CASES:
        result = outcome(lambda change=change: smash.Model(setup, apply_mesh_change(mesh, change)),
                         lambda model, key=change["key"]: getattr(model.mesh, key))
        if "accepted" in result:
            result["accepted"] = "accepted"   # the whole map is not worth keeping
        out["mesh"].append({"label": label, "change": change, "outcome": result})
    path = os.path.join(ANCHOR_REFS, "Cance", "setup_checks.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    for section in ("setup", "mesh"):
        for case in out[section]:
            print(section, case["label"], "->", case["outcome"])


if __name__ == "__main__":
    main()
