"""smash 1.3's `model.setup` attributes, `model.nn_parameters` layout, the public names of a Model and
its containers, the state of a model before any run and `Model.adjust_interception`, measured as a
black box through its public API.

    /opt/anchor/bin/python tools/anchor_refs/make_setup_attributes.py --data /work/shared/datasets

Writes `<Lez|Cance>/setup_attributes.json` and `Cance/adjust_interception.npz`.
"""

import argparse
import datetime
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

# (label, setup overrides): every hydrological module with lr routing, the routings, snow, hybrids
# with one and two hidden layers (gr4_ude kept under that name), time given as datetime.
HYDRO = ["gr4", "gr4_mlp", "gr4_ri", "gr4_ri_mlp_exc", "gr4_ode", "gr4_ude", "gr5", "gr5_mlp", "gr5_ri",
         "gr5_ri_mlp_exc", "gr6", "gr6_mlp", "grc", "grc_mlp", "grd", "grd_mlp", "loieau", "loieau_mlp", "vic3l"]
CASES = ([(f"zero-{hy}-lr", {"hydrological_module": hy}) for hy in HYDRO]
         + [(f"zero-gr4-{rt}", {"routing_module": rt}) for rt in ("zero", "lag0", "kw")]
         + [("ssn-gr4-lr", {"snow_module": "ssn"}),
            ("ssn-gr6_mlp-kw", {"snow_module": "ssn", "hydrological_module": "gr6_mlp", "routing_module": "kw"}),
            ("zero-gr4_mlp-lr-h32-16", {"hydrological_module": "gr4_mlp", "hidden_neuron": [32, 16]}),
            ("zero-gr4_ude-lr-h8", {"hydrological_module": "gr4_ude", "hidden_neuron": [8]}),
            ("zero-gr4-lr-options", {"adjust_interception": False, "compute_mean_atmos": False,
                                     "sparse_storage": True, "read_descriptor": False}),
            ("zero-gr4-lr-datetime", {"start_time": "DATETIME_START", "end_time": "DATETIME_END"})])
PERIOD = {"Lez": ("2012-08-01 00:00", "2012-08-11 00:00"), "Cance": ("2014-09-15 00:00", "2014-09-18 00:00")}


def load(data, name, **overrides):
    with open(os.path.join(data, name, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    for kind in ("qobs", "prcp", "pet", "descriptor"):
        setup[f"{kind}_directory"] = os.path.join(data, name, kind)
    setup["start_time"], setup["end_time"] = PERIOD[name]
    setup.update(overrides)
    for key in ("start_time", "end_time"):
        if setup[key] == f"DATETIME_{key[:-5].upper()}":
            setup[key] = datetime.datetime.strptime(PERIOD[name][key == "end_time"], "%Y-%m-%d %H:%M")
    mesh = smash.io.read_mesh(os.path.join(data, name, f"mesh_{name}.hdf5"))
    return setup, mesh


def jsonable(value):
    """(type name, JSON value) of an attribute."""
    kind = type(value).__name__
    if isinstance(value, np.ndarray):
        kind = f"ndarray[{value.dtype}]{list(value.shape)}"
        value = value.tolist()
    elif isinstance(value, (np.integer, np.floating)):
        value = value.item()
    return {"type": kind, "value": value}


def public(obj):
    return sorted(k for k in dir(obj) if not k.startswith("_"))


def attributes(obj):
    return {k: jsonable(getattr(obj, k)) for k in public(obj) if not callable(getattr(obj, k))}


def measure(data, name):
    out = {"smash_version": smash.__version__, "period": PERIOD[name], "cases": {}}
    for label, overrides in CASES:
        setup, mesh = load(data, name, **overrides)
        model = smash.Model(setup, mesh)
        case = {"overrides": {k: str(v) for k, v in overrides.items()}, "setup": attributes(model.setup)}
        if model.setup.n_layers:
            nn = model.nn_parameters
            case["nn_parameters"] = {
                "type": type(nn).__name__, "public": public(nn), "attributes": attributes(nn),
                "get_weight_shapes": [list(w.shape) for w in model.get_nn_parameters_weight()],
                "get_bias_shapes": [list(b.shape) for b in model.get_nn_parameters_bias()],
            }
        else:
            case["nn_parameters"] = {"type": type(model.nn_parameters).__name__,
                                     "attributes": attributes(model.nn_parameters)}
        out["cases"][label] = case
    setup, mesh = load(data, name)
    model = smash.Model(setup, mesh)
    out["model_public"] = {k: ("method" if callable(getattr(model, k)) else type(getattr(model, k)).__name__)
                           for k in public(model)}
    out["containers_public"] = {k: public(getattr(model, k)) for k in
                                ("setup", "mesh", "atmos_data", "physio_data", "response", "response_data",
                                 "u_response_data", "rr_parameters", "rr_initial_states", "rr_final_states",
                                 "serr_mu_parameters", "serr_sigma_parameters", "nn_parameters")}
    out["mesh_index_maps"] = {"rowcol_to_ind_ac": model.mesh.rowcol_to_ind_ac.tolist(),
                              "local_active_cell": model.mesh.local_active_cell.tolist()}
    out["before_run"] = {
        "response_q": jsonable(np.unique(model.response.q)),
        "response_q_shape": list(model.response.q.shape),
        "rr_final_states_values": jsonable(np.unique(model.rr_final_states.values)),
        "u_response_data_q_stdev": jsonable(np.unique(model.u_response_data.q_stdev)),
        "serr_mu_parameters_keys": jsonable(model.serr_mu_parameters.keys),
        "serr_sigma_parameters_keys": jsonable(model.serr_sigma_parameters.keys),
        "serr_sigma_parameters_values": jsonable(np.unique(model.serr_sigma_parameters.values)),
    }
    return out


def adjust_interception(data):
    """ci of Cance: built with adjust_interception=False, then adjusted on active cells / all cells;
    also what the default build holds and what happens on a daily model and without ci."""
    setup, mesh = load(data, "Cance", adjust_interception=False)
    model = smash.Model(setup, mesh)
    rec = {"ci_not_adjusted": model.get_rr_parameters("ci").copy()}
    model.adjust_interception()
    rec["ci_active_only"] = model.get_rr_parameters("ci").copy()
    model.adjust_interception(active_cell_only=False)
    rec["ci_all_cells"] = model.get_rr_parameters("ci").copy()
    # A second call after changing ci: does it start again from the forcings?
    model.set_rr_parameters("ci", 50.0)
    model.adjust_interception()
    rec["ci_after_set_then_adjust"] = model.get_rr_parameters("ci").copy()
    setup, mesh = load(data, "Cance")
    default_build = smash.Model(setup, mesh)  # kept alive: get_rr_parameters gives a view into its memory
    rec["ci_default_build"] = default_build.get_rr_parameters("ci").copy()
    rec["active_cell"] = np.array(mesh["active_cell"])
    notes = {}
    setup, mesh = load(data, "Lez", adjust_interception=False)
    daily = smash.Model(setup, mesh)
    before = daily.get_rr_parameters("ci").copy()
    try:
        daily.adjust_interception()
        notes["daily"] = "no error"
        rec["lez_daily_ci_adjusted"] = daily.get_rr_parameters("ci").copy()
        rec["lez_daily_ci_before"] = before
    except Exception as err:  # noqa: BLE001 - we record what smash does
        notes["daily"] = f"{type(err).__name__}: {err}"
    setup, mesh = load(data, "Cance", hydrological_module="grd")
    try:
        smash.Model(setup, mesh).adjust_interception()
        notes["no_ci"] = "no error"
    except Exception as err:  # noqa: BLE001
        notes["no_ci"] = f"{type(err).__name__}: {err}"
    rec["notes_json"] = np.array(json.dumps(notes))
    return rec


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="datasets folder (Lez, Cance)")
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()
    for name in ("Lez", "Cance"):
        with open(os.path.join(args.out, name, "setup_attributes.json"), "w") as f:
            json.dump(measure(args.data, name), f, indent=1, sort_keys=True)
    np.savez_compressed(os.path.join(args.out, "Cance", "adjust_interception.npz"), **adjust_interception(args.data))


if __name__ == "__main__":
    main()
