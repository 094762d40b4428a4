"""smash 1.3's sparse storage of the forcings (setup ``sparse_storage=True``), run as a black box.

    /opt/anchor/bin/python tools/anchor_refs/make_sparse_storage.py --data /work/shared/datasets

Writes ``tests/anchor_refs/<Lez|Cance>/sparse_storage.npz``: default gr4-lr model with snow module
``ssn`` (snow / temp not read), ``sparse_storage=True``. For each forcing ``k`` in prcp, pet, snow,
temp and every step of ``model.atmos_data.sparse_<k>`` (a sequence of per-step records):
``<k>_coo_fmt`` int32 (nt,), ``<k>_n`` int32 (nt,), ``<k>_zvalue`` float32 (nt,), ``<k>_values_sum``
float64 (nt,) (sum of the stored values), ``<k>_indices_sum`` int64 (nt,) (sum of the stored
indices), and the full ``<k>_indices_<t>`` / ``<k>_values_<t>`` of a few steps ``<k>_full_steps``
(the coo steps with the most and the fewest stored cells and the first dense step). Also
``q_sparse`` / ``q_dense`` (float32 discharge of both storages, equal), ``dense_prcp_error``
(the message smash gives when ``atmos_data.prcp`` is read under sparse storage) and
``nac``, ``ntime_step``.
"""

import argparse
import os
import sys
import warnings

import numpy as np

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_refs import load_case  # noqa: E402

warnings.filterwarnings("ignore")


def records(series):
    out = {"coo_fmt": [], "n": [], "zvalue": [], "values_sum": [], "indices_sum": []}
    full = {}
    for t in range(len(series)):
        step = series[t]
        out["coo_fmt"].append(int(step.coo_fmt))
        out["n"].append(int(step.n))
        out["zvalue"].append(float(step.zvalue))
        values = np.array(step.values, dtype=np.float32) if step.n else np.zeros(0, np.float32)
        indices = np.array(step.indices, dtype=np.int64) if step.coo_fmt and step.n else np.zeros(0, np.int64)
        out["values_sum"].append(float(values.astype(np.float64).sum()))
        out["indices_sum"].append(int(indices.sum()))
        full[t] = (indices, values)
    rec = {"coo_fmt": np.array(out["coo_fmt"], np.int32), "n": np.array(out["n"], np.int32),
           "zvalue": np.array(out["zvalue"], np.float32), "values_sum": np.array(out["values_sum"]),
           "indices_sum": np.array(out["indices_sum"], np.int64)}
    coo = np.flatnonzero(rec["coo_fmt"] == 1)
    chosen = set()
    if coo.size:
        chosen |= {int(coo[np.argmax(rec["n"][coo])]), int(coo[np.argmin(rec["n"][coo])])}
    dense = np.flatnonzero(rec["coo_fmt"] == 0)
    if dense.size:
        chosen.add(int(dense[0]))
    rec["full_steps"] = np.array(sorted(chosen), np.int64)
    for t in chosen:
        rec[f"indices_{t}"], rec[f"values_{t}"] = full[t][0].astype(np.int32), full[t][1]
    return rec


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()
    for name in ("Lez", "Cance"):
        setup, mesh, _ = load_case(args.data, name)
        setup = dict(setup, snow_module="ssn")
        model = smash.Model(dict(setup, sparse_storage=True), mesh)
        rec = {"nac": np.int64(model.mesh.nac), "ntime_step": np.int64(model.setup.ntime_step)}
        for kind in ("prcp", "pet", "snow", "temp"):
            for key, value in records(getattr(model.atmos_data, f"sparse_{kind}")).items():
                rec[f"{kind}_{key}"] = value
        try:
            _ = model.atmos_data.prcp
            rec["dense_prcp_error"] = ""
        except Exception as err:  # smash 1.3: ValueError "array is NULL"
            rec["dense_prcp_error"] = f"{type(err).__name__}: {err}"
        model.forward_run()
        rec["q_sparse"] = np.array(model.response.q, dtype=np.float32)
        dense = smash.Model(setup, mesh)
        dense.forward_run()
        rec["q_dense"] = np.array(dense.response.q, dtype=np.float32)
        path = os.path.join(args.out, name, "sparse_storage.npz")
        np.savez_compressed(path, **rec)
        print(f"{path}: coo prcp {rec['prcp_coo_fmt'].sum()} / {rec['ntime_step']}, pet {rec['pet_coo_fmt'].sum()}, "
              f"q equal {np.array_equal(rec['q_sparse'], rec['q_dense'])}, {os.path.getsize(path) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
