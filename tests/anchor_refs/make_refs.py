"""Reference outputs of smash 1.3 (hydro-smash, run as a black box) for our tests.

Run with the interpreter of a separate environment where hydro-smash 1.3.0 is
installed (the project itself never imports it):

    /path/to/anchor-venv/bin/python tests/anchor_refs/make_refs.py --data /path/to/datasets

Writes Cance/<structure>.npz (default parameters; smash re-estimates ci on
hourly Cance) and <dataset>/dist-<structure>.npz (spatially varying parameters
and initial states drawn from a seeded generator inside bounds), each holding
the float32 discharge `q` (ng, ntime_step) and the maps that were set.
"""

import argparse
import os

import numpy as np
import smash
import yaml

HYDRO = ["gr4", "gr4_ri", "gr4_ode", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau", "vic3l"]


def base_setup(data, name):
    folder = os.path.join(data, name)
    with open(os.path.join(folder, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        if key in setup:
            setup[key] = os.path.join(folder, setup[key])
    setup["read_descriptor"] = False
    return setup, smash.io.read_mesh(os.path.join(folder, f"mesh_{name}.hdf5"))


def run(setup, mesh, structure, rng=None):
    snow, hydro, routing = structure.split("-")
    model = smash.Model(dict(setup, snow_module=snow, hydrological_module=hydro, routing_module=routing), mesh)
    out = {}
    if rng is not None:
        for getter, setter, bounds, prefix in (
            (model.get_rr_parameters, model.set_rr_parameters, model.get_rr_parameters_bounds(), "rr_parameters"),
            (model.get_rr_initial_states, model.set_rr_initial_states, model.get_rr_initial_states_bounds(),
             "rr_initial_states"),
        ):
            keys, maps = [], []
            for key, (low, high) in bounds.items():
                if key in ("ci", "hlr"):  # keep the defaults (ci is re-estimated on sub-daily data)
                    continue
                frac = rng.uniform(0.2, 0.8, size=getter(key).shape)
                if low > 0 and high / low > 100:
                    value = np.exp(np.log(low) + frac * (np.log(high) - np.log(low)))
                else:
                    value = low + frac * (high - low)
                if key == "llr":
                    value = rng.uniform(20.0, 200.0, size=value.shape)
                setter(key, value.astype(np.float32))
                keys.append(key)
                maps.append(getter(key))
            out[f"{prefix}_keys"] = np.array(keys)
            out[f"{prefix}_values"] = np.stack(maps, axis=-1).astype(np.float32)
    ret = model.forward_run(return_options={"cost": True})
    out.update(q=model.response.q.astype(np.float32), cost=np.float64(ret.cost), structure=structure)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    cance = base_setup(args.data, "Cance")
    os.makedirs(os.path.join(args.out, "Cance"), exist_ok=True)
    for structure in [f"zero-{h}-lr" for h in HYDRO] + ["zero-gr4-kw", "zero-gr4-lag0"]:
        np.savez_compressed(os.path.join(args.out, "Cance", f"{structure}.npz"), **run(*cance, structure))
    for name, data in (("Lez", base_setup(args.data, "Lez")), ("Cance", cance)):
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
        for i, hydro in enumerate(["gr4", "gr6", "grd", "loieau", "vic3l"]):
            structure = f"zero-{hydro}-lr"
            rng = np.random.default_rng(100 + i)
            np.savez_compressed(os.path.join(args.out, name, f"dist-{structure}.npz"), **run(*data, structure, rng))
        rng = np.random.default_rng(7)
        np.savez_compressed(os.path.join(args.out, name, "dist-zero-gr4-kw.npz"), **run(*data, "zero-gr4-kw", rng))


if __name__ == "__main__":
    main()
