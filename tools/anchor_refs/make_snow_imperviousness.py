"""smash 1.3 forward runs with snow inputs (temperature, snow, rain / snow split) and imperviousness.

Run with the interpreter of the environment where hydro-smash 1.3.0 is installed (black box):

    /opt/anchor/bin/python tools/anchor_refs/make_snow_imperviousness.py --data /work/shared/datasets

The synthetic inputs (daily temperature and snow GeoTIFFs, an imperviousness map, on the Lez grid)
are written into a temporary folder by `snow_imperviousness_inputs.py` (the tests write the same
files with the same code). Lez, descriptors not read, default parameters, period
`snow_imperviousness_inputs.period()` (60 winter days). Writes tests/anchor_refs/Lez/snow_imperviousness.npz:

- for each case of CASES (setup changes given in ``cases_json``): ``<case>_q`` (ng, ntime) float32
  simulated discharge after ``forward_run``; for the split cases (partition, snow_read_partition) ``<case>_prcp`` and
  ``<case>_snow`` (nrow, ncol, ntime) float32, the forcings the model holds (after the split);
- ``<case>_q`` of the hybrid cases is run after ``set_nn_parameters_weight(initializer="glorot_uniform",
  random_state=1)`` and ``set_nn_parameters_bias(initializer="glorot_uniform", random_state=2)``;
- ``parameters_json``: rr parameters set before the run of some cases (PARAMETERS);
- ``imperviousness``: ``physio_data.imperviousness`` (nrow, ncol) float32 as smash reads it.
"""

import argparse
import importlib.util
import json
import os
import tempfile
import warnings

import numpy as np
import yaml

import smash

ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

warnings.filterwarnings("ignore")

SNOW = {"snow_module": "ssn", "read_temp": True}
IMPERV = {"read_imperviousness": True}
# case: (setup changes; True where the synthetic paths are filled in; hybrid net drawn)
CASES = {
    "temp_only": dict(SNOW),
    "partition": dict(SNOW, prcp_partitioning=True),
    "snow_read": dict(SNOW, read_snow=True),
    "snow_read_partition": dict(SNOW, read_snow=True, prcp_partitioning=True),
    "imperv_gr4": dict(IMPERV),
    "imperv_gr4_ri": dict(IMPERV, hydrological_module="gr4_ri"),
    "imperv_gr4_ode": dict(IMPERV, hydrological_module="gr4_ode"),
    "imperv_gr5": dict(IMPERV, hydrological_module="gr5"),
    "imperv_gr6": dict(IMPERV, hydrological_module="gr6"),
    "imperv_grc": dict(IMPERV, hydrological_module="grc"),
    "imperv_grd": dict(IMPERV, hydrological_module="grd"),
    "imperv_loieau": dict(IMPERV, hydrological_module="loieau"),
    "imperv_vic3l": dict(IMPERV, hydrological_module="vic3l"),
    "imperv_gr4_mlp": dict(IMPERV, hydrological_module="gr4_mlp"),
    "imperv_gr6_mlp": dict(IMPERV, hydrological_module="gr6_mlp"),
    "imperv_gr4_ude": dict(IMPERV, hydrological_module="gr4_ude"),
    "imperv_partition": dict(SNOW, prcp_partitioning=True, **IMPERV),
}
HYBRIDS = ("imperv_gr4_mlp", "imperv_gr6_mlp", "imperv_gr4_ude")
# Parameters set before the run (grd's defaults drain so slowly that its discharge is float32 noise).
PARAMETERS = {"imperv_grd": {"cp": 50.0, "ct": 20.0}}


def synthetic_inputs():
    """The shared writer module, imported by path (it is not a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snow_imperviousness_inputs.py")
    spec = importlib.util.spec_from_file_location("snow_imperviousness_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lez_setup(data, syn, paths):
    folder = os.path.join(data, "Lez")
    with open(os.path.join(folder, "setup_Lez.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        setup[key] = os.path.join(folder, setup[key])
    setup["read_descriptor"] = False
    setup.update(syn.period())
    setup.update(paths)
    return setup, smash.io.read_mesh(os.path.join(folder, "mesh_Lez.hdf5"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()

    syn = synthetic_inputs()
    rec = {"smash_version": np.array(smash.__version__), "cases_json": np.array(json.dumps(CASES)),
           "parameters_json": np.array(json.dumps(PARAMETERS))}
    with tempfile.TemporaryDirectory() as tmp:
        paths = syn.write_inputs(tmp)
        base, mesh = lez_setup(args.data, syn, paths)
        for case, changes in CASES.items():
            model = smash.Model(dict(base, **changes), mesh)
            for name, value in PARAMETERS.get(case, {}).items():
                model.set_rr_parameters(name, value)
            if case in HYBRIDS:
                model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
                model.set_nn_parameters_bias(initializer="glorot_uniform", random_state=2)
            model.forward_run()
            rec[f"{case}_q"] = np.array(model.response.q, dtype=np.float32, copy=True)
            if changes.get("prcp_partitioning") and case != "imperv_partition":
                rec[f"{case}_prcp"] = np.array(model.atmos_data.prcp, dtype=np.float32, copy=True)
                rec[f"{case}_snow"] = np.array(model.atmos_data.snow, dtype=np.float32, copy=True)
            if case == "imperv_gr4":
                rec["imperviousness"] = np.array(model.physio_data.imperviousness, dtype=np.float32, copy=True)
    out = os.path.join(args.out, "Lez", "snow_imperviousness.npz")
    np.savez_compressed(out, **rec)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
