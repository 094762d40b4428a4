"""Record how smash 1.3's `load_dataset` answers (run under smash 1.3).

Usage: /opt/anchor/bin/python tools/anchor_refs/make_load_dataset.py [--out tests/anchor_refs/load_dataset.json]

Writes what a user sees, not paths of this machine: the return type of each name, for
"flwdir" whether the path is absolute and its file name, the names of the folders the
setups point to, the mesh sizes, and the error type of an unknown name.
"""

import argparse
import json
import os

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

parser = argparse.ArgumentParser()
parser.add_argument("--out", default=os.path.join(ANCHOR_REFS, "load_dataset.json"))
args = parser.parse_args()

record = {"smash_version": smash.__version__}
for name in ("flwdir", "FLWDIR", "Flwdir"):
    path = smash.factory.load_dataset(name)
    record[name] = {"type": type(path).__name__, "is_absolute": os.path.isabs(path),
                    "basename": os.path.basename(path), "is_file": os.path.isfile(path)}
for name in ("lez", "Cance", "FRANCE"):
    setup, mesh = smash.factory.load_dataset(name)
    folders = {key: os.path.relpath(value, os.path.dirname(os.path.dirname(value)))
               for key, value in setup.items() if key.endswith("_directory")}
    record[name] = {"type": "tuple", "setup_folders": folders, "nac": int(mesh["nac"]), "ng": int(mesh["ng"]),
                    "nrow": int(mesh["nrow"]), "ncol": int(mesh["ncol"])}
try:
    smash.factory.load_dataset("Loire")
except Exception as error:  # noqa: BLE001 (recording which type smash raises)
    record["unknown_name_error"] = type(error).__name__
with open(args.out, "w") as stream:
    json.dump(record, stream, indent=1, sort_keys=True)
print(json.dumps(record, indent=1, sort_keys=True))
