"""Reference outputs of smash 1.3 (hydro-smash 1.3.0, run as a black box) for our tests.

Run with the interpreter of the separate environment where hydro-smash 1.3.0 is
installed (the project itself never imports it):

    /opt/anchor/bin/python tools/anchor_refs/make_refs.py --data /work/shared/datasets --out tests/anchor_refs
    /opt/anchor/bin/python tools/anchor_refs/make_refs.py --data ... --only cance,routing

Sections (``--only``, comma separated; default all):

  cance     Cance/zero-<hy>-lr.npz, default parameters (ci re-estimated by smash)
  routing   <Lez|Cance>/zero-gr4-{lag0,kw,zero}.npz
  snow      Lez/ssn-gr4-lr.npz with made-up snow / temperature series
  dist      <Lez|Cance>/dist-zero-<hy>-lr.npz (+ dist-zero-gr4-kw), seeded parameter and
            initial-state maps
  missing   Lez/missing-zero-gr4-lr.npz, prcp / pet set to -99 on fixed (cell, step) sets
  costs     Lez/costs.json, cost values for several cost_options
  tfm       Lez/costs_tfm.json, costs with jobs_cmpt_tfm (a fresh model per call: smash 1.3
            transforms the series in place, so a second call would see them transformed)
  regularization  Lez/regularization.npz: J_reg of smash at its calibrated maps (prior,
            smoothing, hard-smoothing, states, uniform), J_reg of a known field, and the
            wjreg 'fast' / 'lcurve' records
  signatures  Cance/signatures.json: signature tables of the observed discharge, flood events,
            and the cost of every signature as jobs_cmpt at default parameters
  baseflow  Cance/baseflow.npz: continuous signatures of crafted observed series (constant, step,
            impulse, ramp, random, decay, large first value) on the first gauge, to identify
            smash's baseflow separation (Crclf / Crc = baseflow volume / flow volume)
  prcp_indices  <Cance|Lez>/prcp_indices.npz: smash.precipitation_indices (std, d1, d2, vg, hg) of the
            precipitation as read, default gr4-lr model
  evaluation  Lez/evaluation.npz: smash.evaluation of every efficiency metric after the default
            forward run, over the whole period, two windows, and with observations set missing
  lbfgsb    Lez/lbfgsb.json: final J of distributed L-BFGS-B for several iteration budgets
  france    France/sample-zero-gr4-lr.npz + France/timing.json
  timings   timings.json (informative anchor timings on Lez and Cance)

Only the public API of smash is used. Everything is deterministic (fixed seeds), so re-running
a section rewrites identical files.
"""

import argparse
import datetime
import json
import os
import time
import warnings

import numpy as np
import yaml

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

warnings.filterwarnings("ignore")

HYDRO = ["gr4", "gr4_ri", "gr4_ode", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau", "vic3l"]
DIST_HYDRO = ["gr4", "gr6", "vic3l", "loieau", "grd"]
SECTIONS = ["cance", "routing", "snow", "dist", "missing", "costs", "tfm", "regularization", "signatures",
            "baseflow", "prcp_indices", "evaluation", "lbfgsb", "france", "timings"]

# Ranges used to draw spatially varying maps (section "dist"), all inside smash's bounds.
# (low, high, "log" | "lin"); llr is relative to its default 5*dt/3600.
DRAW_RANGES = {
    # parameters
    "ci": (0.2, 3.0, "log"),
    "cp": (50.0, 800.0, "log"),
    "ct": (20.0, 800.0, "log"),
    "kexc": (-5.0, 3.0, "lin"),
    "be": (0.5, 10.0, "log"),
    "aexc": (0.2, 0.8, "lin"),
    "ca": (50.0, 800.0, "log"),
    "cc": (50.0, 800.0, "log"),
    "kb": (0.5, 3.0, "lin"),
    "b": (0.05, 0.6, "lin"),
    "cusl": (20.0, 300.0, "log"),
    "cmsl": (150.0, 1500.0, "log"),
    "cbsl": (150.0, 1500.0, "log"),
    "ks": (5.0, 500.0, "log"),
    "pbc": (2.0, 20.0, "lin"),
    "ds": (0.05, 0.8, "lin"),
    "dsm": (1.0, 100.0, "log"),
    "ws": (0.3, 0.9, "lin"),
    "akw": (1.0, 20.0, "log"),
    "bkw": (0.3, 0.9, "lin"),
    "llr": (0.3, 3.0, "log-rel-default"),
    # initial states (GR / loieau / vic3l stores are fractions of capacity)
    "hi": (0.2, 0.8, "lin"),
    "hp": (0.2, 0.8, "lin"),
    "ht": (0.2, 0.8, "lin"),
    "ha": (0.2, 0.8, "lin"),
    "hc": (0.2, 0.8, "lin"),
    "hcl": (0.2, 0.8, "lin"),
    "husl": (0.2, 0.8, "lin"),
    "hmsl": (0.2, 0.8, "lin"),
    "hbsl": (0.2, 0.8, "lin"),
    "he": (-250.0, -20.0, "lin"),
    "hlr": (0.01, 10.0, "log"),
}


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def load_case(data, name):
    """Setup dict (absolute folders) and mesh of a dataset, plus the JSON of the relative setup."""
    folder = os.path.join(data, name)
    with open(os.path.join(folder, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    rel = dict(setup)
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        if key in setup:
            setup[key] = os.path.join(folder, setup[key])
    setup["read_descriptor"] = False
    rel["read_descriptor"] = False
    mesh = smash.io.read_mesh(os.path.join(folder, f"mesh_{name}.hdf5"))
    return setup, mesh, rel


def _jsonable(d):
    out = {}
    for k, v in d.items():
        if isinstance(v, (datetime.date, datetime.datetime)):
            v = str(v)
        out[k] = v
    return out


def structure_setup(setup, structure):
    snow, hydro, routing = structure.split("-")
    return dict(setup, snow_module=snow, hydrological_module=hydro, routing_module=routing)


def build(case, structure):
    setup, mesh, _ = case
    t0 = time.perf_counter()
    model = smash.Model(structure_setup(setup, structure), mesh)
    return model, time.perf_counter() - t0


def mesh_fields(mesh):
    out = {
        "mesh_flwdir": np.asarray(mesh["flwdir"]).astype(np.int32),
        "mesh_active_cell": np.asarray(mesh["active_cell"]).astype(np.int32),
        "mesh_flwacc": np.asarray(mesh["flwacc"]).astype(np.float32),
        "mesh_flwdst": np.asarray(mesh["flwdst"]).astype(np.float32),
        "mesh_dx": np.asarray(mesh["dx"]).astype(np.float32),
    }
    if mesh.get("ng", 0) > 0:
        out.update(
            mesh_code=np.array([str(c.decode() if isinstance(c, bytes) else c) for c in mesh["code"]]),
            mesh_gauge_pos=np.asarray(mesh["gauge_pos"]).astype(np.int32),
            mesh_area=np.asarray(mesh["area"]).astype(np.float32),
            mesh_area_dln=np.asarray(mesh["area_dln"]).astype(np.float32),
        )
    return out


def dws_index(mesh):
    pos = np.asarray(mesh["gauge_pos"])
    return np.flatnonzero(np.asarray(mesh["flwdst"])[pos[:, 0], pos[:, 1]] == 0).astype(np.int64)


def nse_cost_numpy(q, qobs, gauges):
    costs = []
    for g in gauges:
        o, s = qobs[g].astype(np.float64), q[g].astype(np.float64)
        keep = o >= 0
        costs.append(np.sum((s[keep] - o[keep]) ** 2) / np.sum((o[keep] - o[keep].mean()) ** 2))
    return float(np.mean(costs))


def header(case, name, structure, model):
    setup, mesh, rel = case
    rel = _jsonable(structure_setup(rel, structure))
    return dict(
        dataset=name,
        structure=structure,
        smash_version=smash.__version__,
        setup_json=json.dumps(rel),
        start_time=str(model.setup.start_time),
        end_time=str(model.setup.end_time),
        dt=np.float64(model.setup.dt),
        ntime_step=np.int64(model.setup.ntime_step),
    )


def snapshot_inputs(model):
    return dict(
        rr_parameters_keys=np.array(model.rr_parameters.keys).astype(str),
        rr_parameters_values=np.array(model.rr_parameters.values, dtype=np.float32),
        rr_initial_states_keys=np.array(model.rr_initial_states.keys).astype(str),
        rr_initial_states_values=np.array(model.rr_initial_states.values, dtype=np.float32),
    )


def run_record(case, name, structure, model, cost=True):
    """Forward run with return_options cost (if gauges) and everything tests need."""
    mesh = case[1]
    rec = header(case, name, structure, model)
    rec.update(snapshot_inputs(model))
    has_qobs = mesh.get("ng", 0) > 0 and bool(model.setup.read_qobs)
    ret = model.forward_run(return_options={"cost": True} if (cost and has_qobs) else {})
    rec.update(
        q=np.array(model.response.q, dtype=np.float32),
        rr_final_states_keys=np.array(model.rr_final_states.keys).astype(str),
        rr_final_states_values=np.array(model.rr_final_states.values, dtype=np.float32),
    )
    if has_qobs:
        rec["qobs"] = np.array(model.response_data.q, dtype=np.float32)
        if cost:
            gi = dws_index(mesh)
            rec.update(
                cost=np.float64(ret.cost),
                cost_numpy=np.float64(nse_cost_numpy(rec["q"], rec["qobs"], gi)),
                cost_gauge_index=gi,
            )
    rec.update(mesh_fields(mesh))
    return rec


def save(out, rel, rec):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path, **rec)
    print(f"  wrote {rel} ({os.path.getsize(path) / 1024:.1f} KiB)", flush=True)


def dump_json(out, rel, obj):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    print(f"  wrote {rel}", flush=True)


# ----------------------------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------------------------
def sec_cance(args, cases):
    case = cases("Cance")
    for hy in HYDRO:
        structure = f"zero-{hy}-lr"
        model, _ = build(case, structure)
        save(args.out, f"Cance/{structure}.npz", run_record(case, "Cance", structure, model))


def sec_routing(args, cases):
    for name in ("Lez", "Cance"):
        case = cases(name)
        for routing in ("lag0", "kw", "zero"):
            structure = f"zero-gr4-{routing}"
            model, _ = build(case, structure)
            rec = run_record(case, name, structure, model)
            # discharge on the whole grid (m3/s) at every step, to document what q is for
            # routing "zero" (each gauge cell's own runoff)
            ret = model.forward_run(return_options={"q_domain": True})
            qd = np.asarray(ret.q_domain, dtype=np.float32)
            pos = rec["mesh_gauge_pos"]
            rec["q_domain_at_gauges"] = qd[pos[:, 0], pos[:, 1], :]
            if routing == "zero":
                active = rec["mesh_active_cell"] == 1
                rec["q_domain_sum_active"] = qd[active].astype(np.float64).sum(axis=0)
            print(f"  {name} {structure}: cost={rec['cost']:.6g} q==q_domain[gauge]:",
                  bool(np.array_equal(rec["q"], rec["q_domain_at_gauges"])), flush=True)
            save(args.out, f"{name}/{structure}.npz", rec)


def make_snow_temp(model, seed=11):
    """Made-up daily temperature (degC) and snowfall (mm/day) on the Lez grid."""
    nrow, ncol, nt = model.atmos_data.prcp.shape
    rng = np.random.default_rng(seed)
    start = np.datetime64(str(model.setup.start_time)[:10])
    days = start + np.arange(1, nt + 1) * np.timedelta64(1, "D")
    doy = (days - days.astype("datetime64[Y]")).astype(int) + 1
    seasonal = 10.0 - 9.0 * np.cos(2 * np.pi * (doy - 15) / 365.0)  # ~1 degC mid-Jan, ~19 mid-Jul
    noise = np.zeros(nt)
    for t in range(1, nt):  # AR(1) weather noise, sd ~3 degC
        noise[t] = 0.8 * noise[t - 1] + rng.normal(0.0, 1.8)
    rows = np.arange(nrow)[:, None] * np.ones((1, ncol))
    cols = np.ones((nrow, 1)) * np.arange(ncol)[None, :]
    relief = -5.0 * (1.0 - rows / (nrow - 1)) - 0.1 * cols  # north of the Lez is higher / colder
    temp = relief[:, :, None] + (seasonal + noise)[None, None, :]
    temp += rng.normal(0.0, 0.3, size=temp.shape)
    prcp = np.maximum(np.asarray(model.atmos_data.prcp, dtype=np.float64), 0.0)
    frac = np.clip((1.0 - temp) / 4.0, 0.0, 1.0)
    snow = prcp * frac
    return snow.astype(np.float32), temp.astype(np.float32)


def sec_snow(args, cases):
    case = cases("Lez")
    structure = "ssn-gr4-lr"
    model, _ = build(case, structure)
    default_snow = np.array(model.atmos_data.snow)
    snow, temp = make_snow_temp(model)
    model.atmos_data.snow = snow
    model.atmos_data.temp = temp
    assert np.array_equal(model.atmos_data.snow, snow) and np.array_equal(model.atmos_data.temp, temp)
    rec = run_record(case, "Lez", structure, model)
    rec.update(snow=snow, temp=temp)
    # for the record: the same structure without snow / temp data (arrays left at smash's -99)
    model2, _ = build(case, structure)
    model2.forward_run()
    rec["q_without_snow_data"] = np.array(model2.response.q, dtype=np.float32)
    rec["rr_final_states_values_without_snow_data"] = np.array(model2.rr_final_states.values, np.float32)
    active = rec["mesh_active_cell"] == 1
    ta, sa = temp[active], snow[active]
    dq = np.abs(rec["q"] - rec["q_without_snow_data"]).max()
    print(f"  snow default value(s) {np.unique(default_snow)}, temp range {ta.min():.2f}..{ta.max():.2f}, "
          f"snow days {(sa.max(axis=0) > 0).sum()}, mean total snow {sa.sum() / active.sum():.1f} mm; "
          f"cost {rec['cost']:.6g}; max |q - q_without_snow| {dq:.4g}", flush=True)
    hs = rec["rr_final_states_values"][..., list(rec["rr_final_states_keys"]).index("hs")][active]
    print(f"  final hs on active cells: {hs.min():.4g}..{hs.max():.4g}")
    save(args.out, "Lez/ssn-gr4-lr.npz", rec)


def draw_map(rng, key, shape, dt, active):
    low, high, kind = DRAW_RANGES[key]
    frac = rng.uniform(0.0, 1.0, size=shape)
    if kind == "lin":
        value = low + frac * (high - low)
    elif kind == "log":
        value = np.exp(np.log(low) + frac * (np.log(high) - np.log(low)))
    else:  # relative to the default of llr
        value = 5.0 * dt / 3600.0 * np.exp(np.log(low) + frac * (np.log(high) - np.log(low)))
    return value.astype(np.float32)


def run_dist(case, name, structure, seed):
    model, _ = build(case, structure)
    rng = np.random.default_rng(seed)
    active = np.asarray(case[1]["active_cell"]) == 1
    for kind in ("rr_parameters", "rr_initial_states"):
        keys = list(getattr(model, kind).keys)
        setter = model.set_rr_parameters if kind == "rr_parameters" else model.set_rr_initial_states
        getter = model.get_rr_parameters if kind == "rr_parameters" else model.get_rr_initial_states
        for key in keys:
            value = draw_map(rng, str(key), active.shape, model.setup.dt, active)
            setter(str(key), value)
            assert np.array_equal(getter(str(key)), value)
    rec = run_record(case, name, structure, model)
    rec["seed"] = np.int64(seed)
    rec["draw_ranges_json"] = json.dumps(DRAW_RANGES)
    return rec


def sec_dist(args, cases):
    for name in ("Lez", "Cance"):
        case = cases(name)
        for i, hy in enumerate(DIST_HYDRO):
            structure = f"zero-{hy}-lr"
            save(args.out, f"{name}/dist-{structure}.npz", run_dist(case, name, structure, 100 + i))
        save(args.out, f"{name}/dist-zero-gr4-kw.npz", run_dist(case, name, "zero-gr4-kw", 7))


def sec_missing(args, cases):
    case = cases("Lez")
    structure = "zero-gr4-lr"
    model, _ = build(case, structure)
    active = np.asarray(case[1]["active_cell"]) == 1
    prcp = np.array(model.atmos_data.prcp, dtype=np.float32)
    pet = np.array(model.atmos_data.pet, dtype=np.float32)
    nrow, ncol, nt = prcp.shape
    rng = np.random.default_rng(2024)
    cells = np.argwhere(active)
    # prcp: 300 random (active cell, step) pairs on rainy steps (prcp > 1 mm) + every cell of
    # the rainiest step
    prcp_mask = np.zeros(prcp.shape, bool)
    wet = np.argwhere((prcp > 1.0) & active[:, :, None])
    pick = wet[rng.choice(len(wet), 300, replace=False)]
    prcp_mask[pick[:, 0], pick[:, 1], pick[:, 2]] = True
    t_max = int(np.argmax(prcp[active].mean(axis=0)))
    prcp_mask[:, :, t_max] = True
    # pet: 300 random (active cell, step) pairs + one cell over a 31-day summer block
    pet_mask = np.zeros(pet.shape, bool)
    pick = np.column_stack([cells[rng.integers(0, len(cells), 300)], rng.integers(0, nt, 300)])
    pet_mask[pick[:, 0], pick[:, 1], pick[:, 2]] = True
    r, c = cells[len(cells) // 2]
    pet_mask[r, c, 300:331] = True
    prcp_m = np.where(prcp_mask, np.float32(-99.0), prcp).astype(np.float32)
    pet_m = np.where(pet_mask, np.float32(-99.0), pet).astype(np.float32)
    model.atmos_data.prcp = prcp_m
    model.atmos_data.pet = pet_m
    rec = run_record(case, "Lez", structure, model)
    rec.update(prcp=prcp_m, pet=pet_m, prcp_mask=prcp_mask, pet_mask=pet_mask, prcp_rainiest_step=np.int64(t_max))
    # for comparison, the same masks filled with 0 instead of -99
    for label, (p, e) in {"zero_filled": (np.where(prcp_mask, 0, prcp), np.where(pet_mask, 0, pet))}.items():
        m2, _ = build(case, structure)
        m2.atmos_data.prcp = p.astype(np.float32)
        m2.atmos_data.pet = e.astype(np.float32)
        m2.forward_run()
        rec[f"q_{label}"] = np.array(m2.response.q, np.float32)
        rec[f"rr_final_states_values_{label}"] = np.array(m2.rr_final_states.values, np.float32)
    # and the untouched default run
    m3, _ = build(case, structure)
    m3.forward_run()
    rec["q_default"] = np.array(m3.response.q, np.float32)
    d0 = np.abs(rec["q"] - rec["q_zero_filled"]).max()
    d1 = np.abs(rec["q"] - rec["q_default"]).max()
    fs = np.abs(rec["rr_final_states_values"] - rec["rr_final_states_values_zero_filled"])[active].max()
    print(f"  missing: {prcp_mask.sum()} prcp, {pet_mask.sum()} pet pairs; max|q - q(-99 -> 0)| = {d0:.4g}, "
          f"max|final - final(-99 -> 0)| = {fs:.4g}, max|q - q_default| = {d1:.4g}", flush=True)
    save(args.out, "Lez/missing-zero-gr4-lr.npz", rec)


def sec_costs(args, cases):
    case = cases("Lez")
    model, _ = build(case, "zero-gr4-lr")
    combos = []
    for jobs in ["nse", "nnse", "kge", "mae", "mape", "mse", "rmse", "lgrm"]:
        for gauge in ["all", "dws"]:
            combos.append({"jobs_cmpt": jobs, "gauge": gauge})
    combos += [
        {"jobs_cmpt": "nse", "gauge": "all", "wgauge": "mean"},
        {"jobs_cmpt": "nse", "gauge": "all", "wgauge": "median"},
        {"jobs_cmpt": "nse", "gauge": "all", "wgauge": "lquartile"},
        {"jobs_cmpt": "nse", "gauge": "all", "wgauge": "uquartile"},
        {"jobs_cmpt": "nse", "gauge": "all", "wgauge": [0.5, 0.3, 0.2]},
        {"jobs_cmpt": "nse", "gauge": ["Y3204030"]},
        {"jobs_cmpt": "nse", "gauge": "dws", "end_warmup": "2012-10-01"},
        {"jobs_cmpt": "kge", "gauge": "all", "end_warmup": "2012-10-01"},
        {"jobs_cmpt": ["nse", "kge"], "wjobs_cmpt": [0.6, 0.4], "gauge": "dws"},
        {"jobs_cmpt": ["nse", "kge"], "wjobs_cmpt": "mean", "gauge": "all"},
        {"jobs_cmpt": ["nse", "rmse", "lgrm"], "wjobs_cmpt": [0.5, 0.25, 0.25], "gauge": "all",
         "end_warmup": "2012-10-01"},
        {"jobs_cmpt": ["kge", "mae"], "wjobs_cmpt": [1.0, 2.0], "gauge": "all", "end_warmup": "2013-01-01 00:00"},
    ]
    records = []
    for co in combos:
        entry = {"cost_options": co}
        try:
            ret = model.forward_run(return_options={"cost": True}, cost_options=dict(co))
            entry["cost"] = float(ret.cost)
        except Exception as exc:  # record the anchor's message
            entry["error"] = f"{type(exc).__name__}: {exc}"
        records.append(entry)
        print(f"  {json.dumps(co)} -> {entry.get('cost', entry.get('error'))}", flush=True)
    q = np.array(model.response.q, np.float32)
    dump_json(args.out, "Lez/costs.json", {
        "dataset": "Lez",
        "structure": "zero-gr4-lr",
        "smash_version": smash.__version__,
        "setup": "setup_Lez.yaml with read_descriptor False (see Lez/zero-* refs); default parameters",
        "call": "model.forward_run(return_options={'cost': True}, cost_options=cost_options)",
        "note": "cost is the float32 J of smash cast to float; other cost_options keys are smash defaults "
                "(wgauge 'mean', end_warmup = start_time, no regularisation)",
        "q_l2_norm_all_gauges": float(np.linalg.norm(q.astype(np.float64))),
        "results": records,
    })


def _first_logged_cost(model, **kwargs):
    """J at iterate 0 as smash prints it (6 digits): the cost at the first guess."""
    import contextlib
    import io
    import re

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        smash.optimize(model, common_options={"verbose": True}, **kwargs)
    return float(re.search(r"J = ([0-9.e+-]+)", buf.getvalue()).group(1))


def sec_tfm(args, cases):
    case = cases("Lez")
    combos = [
        {"jobs_cmpt": "nse", "jobs_cmpt_tfm": "sqrt"},
        {"jobs_cmpt": "nse", "jobs_cmpt_tfm": "inv"},
        {"jobs_cmpt": "kge", "jobs_cmpt_tfm": "inv", "gauge": "all"},
        {"jobs_cmpt": "lgrm", "jobs_cmpt_tfm": "sqrt", "gauge": "all"},
        {"jobs_cmpt": "rmse", "jobs_cmpt_tfm": "inv", "gauge": "all", "end_warmup": "2012-10-01"},
        {"jobs_cmpt": ["nse", "kge"], "jobs_cmpt_tfm": ["keep", "sqrt"], "gauge": "all"},
        {"jobs_cmpt": ["kge", "lgrm"], "jobs_cmpt_tfm": ["keep", "inv"], "gauge": "all"},
    ]
    records = []
    for co in combos:
        model, _ = build(case, "zero-gr4-lr")
        ret = model.forward_run(return_options={"cost": True}, cost_options=dict(co))
        records.append({"cost_options": co, "cost": float(ret.cost)})
        print(f"  {json.dumps(co)} -> {ret.cost}", flush=True)
    dump_json(args.out, "Lez/costs_tfm.json", {
        "dataset": "Lez", "structure": "zero-gr4-lr", "smash_version": smash.__version__,
        "call": "fresh model per entry; model.forward_run(return_options={'cost': True}, cost_options=cost_options)",
        "note": "only combinations where smash 1.3's in-place transform cannot change the result (the transformed "
                "component last, or a single one)",
        "results": records,
    })


def sec_regularization(args, cases):
    case = cases("Lez")
    model, _ = build(case, "zero-gr4-lr")
    active = np.asarray(case[1]["active_cell"]) == 1
    rec = {"start_rr_parameters": np.array(model.rr_parameters.values),
           "start_rr_initial_states": np.array(model.rr_initial_states.values),
           "rr_parameters_keys": np.array([str(k) for k in model.rr_parameters.keys]),
           "rr_initial_states_keys": np.array([str(k) for k in model.rr_initial_states.keys])}
    runs = {
        "prior": ("distributed", "lbfgsb", None, {"jreg_cmpt": "prior"}),
        "smoothing": ("distributed", "lbfgsb", None, {"jreg_cmpt": "smoothing"}),
        "two": ("distributed", "lbfgsb", None, {"jreg_cmpt": ["prior", "smoothing"]}),
        "weighted": ("distributed", "lbfgsb", None, {"jreg_cmpt": ["prior", "hard-smoothing"],
                                                     "wjreg_cmpt": [1.0, 2.0]}),
        "states": ("distributed", "lbfgsb", ["cp", "ct", "kexc", "llr", "hp", "ht"], {"jreg_cmpt": "prior"}),
        "uniform": ("uniform", "lbfgsb", None, {"jreg_cmpt": "prior"}),
        "sbs": ("uniform", "sbs", None, {"jreg_cmpt": ["prior", "smoothing"]}),
    }
    for name, (mapping, optimizer, parameters, co) in runs.items():
        oo = {"termination_crit": {"maxiter": 2 if mapping == "distributed" else 1}}
        if parameters:
            oo["parameters"] = parameters
        m, r = smash.optimize(model, mapping=mapping, optimizer=optimizer, optimize_options=oo,
                              cost_options=dict(co, wjreg=1e-3), common_options={"verbose": False},
                              return_options={"jreg": True, "jobs": True, "cost": True})
        rec[f"{name}_rr_parameters"] = np.array(m.rr_parameters.values)
        rec[f"{name}_rr_initial_states"] = np.array(m.rr_initial_states.values)
        rec[f"{name}_jreg"] = np.float64(r.jreg)
        rec[f"{name}_jobs"] = np.float64(r.jobs)
        rec[f"{name}_cost_options_json"] = np.array(json.dumps(dict(co, wjreg=1e-3, mapping=mapping,
                                                                     optimizer=optimizer, parameters=parameters)))
        print(f"  {name}: jreg {r.jreg:.6g} jobs {r.jobs:.6g}", flush=True)
    # A known kexc field on the active cells: J_reg(hard-smoothing) at the first guess, read off
    # the printed J at iterate 0 minus J_obs of the same maps (wjreg = 1).
    rng = np.random.default_rng(0)
    field = np.where(active, rng.uniform(-1.0, 1.0, active.shape), 0.0).astype(np.float32)
    m0 = model.copy()
    m0.set_rr_parameters("kexc", field)
    j0 = _first_logged_cost(m0, mapping="distributed", optimizer="lbfgsb",
                            optimize_options={"termination_crit": {"maxiter": 0}},
                            cost_options={"jreg_cmpt": "hard-smoothing", "wjreg": 1.0})
    jobs0 = m0.forward_run(return_options={"cost": True}).cost
    rec["field_kexc"] = field
    rec["field_hard_smoothing_jreg"] = np.float64(j0 - jobs0)
    print(f"  field: J_reg {j0 - jobs0:.6g}", flush=True)
    for w in ("fast", "lcurve"):
        ro = {"jreg": True, "jobs": True, "cost": True, "lcurve_wjreg": w == "lcurve"}
        m, r = smash.optimize(model, mapping="distributed", optimizer="lbfgsb",
                              optimize_options={"termination_crit": {"maxiter": 3}},
                              cost_options={"jreg_cmpt": ["prior", "smoothing"], "wjreg": w},
                              common_options={"verbose": False}, return_options=ro)
        rec[f"{w}_jreg"], rec[f"{w}_jobs"] = np.float64(r.jreg), np.float64(r.jobs)
        print(f"  {w}: jreg {r.jreg:.6g} jobs {r.jobs:.6g}", flush=True)
    # 'fast' and the first L-curve cycle are the same calibration: its weight is wjreg_approx.
    for key, value in r.lcurve_wjreg.items():
        rec[f"lcurve_{key}"] = np.asarray(value, dtype=np.float64)
    save(args.out, "Lez/regularization.npz", rec)


def sec_signatures(args, cases):
    case = cases("Cance")
    model, _ = build(case, "zero-gr4-lr")
    model.forward_run()
    names = ["Crc", "Crchf", "Crclf", "Crch2r", "Cfp2", "Cfp10", "Cfp50", "Cfp90",
             "Eff", "Ebf", "Erc", "Erchf", "Erclf", "Erch2r", "Elt", "Epf"]
    costs = {}
    for name in names:
        costs[name] = float(model.forward_run(cost_options={"jobs_cmpt": name, "gauge": "all"},
                                              return_options={"cost": True}).cost)
    sig = smash.signatures(model, domain="obs")
    seg = smash.hydrograph_segmentation(model)
    dump_json(args.out, "Cance/signatures.json", {
        "dataset": "Cance", "structure": "zero-gr4-lr", "smash_version": smash.__version__,
        "call": "forward_run(cost_options={'jobs_cmpt': name, 'gauge': 'all'}); signatures(model, domain='obs'); "
                "hydrograph_segmentation(model)",
        "costs_all_gauges": costs,
        "cont": json.loads(sig.cont.to_json(orient="records")),
        "event": json.loads(sig.event.to_json(orient="records", date_format="iso")),
        "segmentation": json.loads(seg.to_json(orient="records", date_format="iso")),
    })
    print("  " + ", ".join(f"{k} {v:.6g}" for k, v in costs.items()), flush=True)


def crafted_series(nt, seed=3):
    rng = np.random.default_rng(seed)
    return {
        "const": np.full(nt, 2.0),
        "step": np.r_[np.full(nt // 2, 1.0), np.full(nt - nt // 2, 5.0)],
        "impulse": np.r_[np.full(nt // 2, 1.0), [50.0], np.full(nt - nt // 2 - 1, 1.0)],
        "ramp": np.linspace(1.0, 10.0, nt),
        "random": 1.0 + rng.gamma(0.5, 3.0, nt),
        "decay": 1.0 + 20.0 * np.exp(-np.arange(nt) / 100.0),
        "firstbig": np.r_[[30.0], np.full(nt - 1, 1.0)],
    }


def sec_baseflow(args, cases):
    case = cases("Cance")
    model, _ = build(case, "zero-gr4-lr")
    series = crafted_series(model.setup.ntime_step)
    names = ["Crc", "Crchf", "Crclf", "Crch2r"]
    rec = {}
    for key, q in series.items():
        q = q.astype(np.float32)
        model.response_data.q[0] = q
        row = smash.signatures(model, sign=names, domain="obs").cont.iloc[0]
        rec[f"q_{key}"] = q
        rec[f"sig_{key}"] = np.array([float(row[n]) for n in names])
    rec["sig_names"] = np.array(names)
    save(args.out, "Cance/baseflow.npz", rec)
    print("  " + ", ".join(f"{k} {rec['sig_' + k][2] / rec['sig_' + k][0]:.5f}" for k in series), flush=True)


def sec_prcp_indices(args, cases):
    for name in ("Cance", "Lez"):
        case = cases(name)
        model, _ = build(case, "zero-gr4-lr")
        res = smash.precipitation_indices(model)
        rec = header(case, name, "zero-gr4-lr", model)
        rec.update({key: np.array(getattr(res, key), dtype=np.float32) for key in ("std", "d1", "d2", "vg", "hg")})
        rec.update(mesh_fields(case[1]))
        save(args.out, f"{name}/prcp_indices.npz", rec)


EVALUATION_METRICS = ["nse", "nnse", "kge", "mae", "mape", "mse", "rmse", "lgrm"]
# (start_eval, end_eval) pairs; "" stands for None (the default, whole period).
EVALUATION_WINDOWS = [("", ""), ("2012-09-01", "2013-01-01"), ("2012-10-01", "")]


def sec_evaluation(args, cases):
    case = cases("Lez")
    model, _ = build(case, "zero-gr4-lr")
    model.forward_run()
    rec = header(case, "Lez", "zero-gr4-lr", model)
    rec.update(q=np.array(model.response.q, np.float32), qobs=np.array(model.response_data.q, np.float32),
               metrics=np.array(EVALUATION_METRICS), windows=np.array(EVALUATION_WINDOWS))
    for i, (start, end) in enumerate(EVALUATION_WINDOWS):
        rec[f"window_{i}"] = smash.evaluation(model, EVALUATION_METRICS, start or None, end or None)
        print(f"  window {start or 'start'} -> {end or 'end'}: nse {rec[f'window_{i}'][:, 0]}", flush=True)
    # Gauge 1 never observed, gauge 2 observed only in the first 100 steps.
    qobs = rec["qobs"].copy()
    qobs[1, :] = -99.0
    qobs[2, 100:] = -99.0
    model.response_data.q = qobs
    rec["qobs_missing"] = qobs
    rec["missing"] = smash.evaluation(model, EVALUATION_METRICS)
    save(args.out, "Lez/evaluation.npz", rec)


def sec_lbfgsb(args, cases):
    case = cases("Lez")
    model, _ = build(case, "zero-gr4-lr")
    runs = []
    for maxiter in (10, 30):
        m, r = smash.optimize(model, mapping="distributed", optimizer="lbfgsb",
                              optimize_options={"termination_crit": {"maxiter": maxiter}},
                              return_options={"cost": True, "n_iter": True}, common_options={"verbose": False})
        runs.append({"maxiter": maxiter, "cost": float(r.cost), "n_iter": int(r.n_iter)})
        print(f"  maxiter {maxiter}: J {r.cost:.6g} after {r.n_iter} iterations", flush=True)
    dump_json(args.out, "Lez/lbfgsb.json", {
        "dataset": "Lez", "structure": "zero-gr4-lr", "smash_version": smash.__version__,
        "call": "optimize(model, mapping='distributed', optimizer='lbfgsb', "
                "optimize_options={'termination_crit': {'maxiter': maxiter}})",
        "runs": runs,
    })


def sec_france(args, cases):
    case = cases("France")
    setup, mesh, _ = case
    structure = "zero-gr4-lr"
    t0 = time.perf_counter()
    model = smash.Model(structure_setup(setup, structure), mesh)
    t_build = time.perf_counter() - t0
    nt = int(model.setup.ntime_step)
    start = np.datetime64(str(model.setup.start_time).replace(" ", "T"))
    last4 = [str(start + np.timedelta64(int(model.setup.dt) * k, "s")).replace("T", " ") for k in range(nt - 3, nt + 1)]
    initial = np.array(model.rr_initial_states.values, np.float32)
    params = np.array(model.rr_parameters.values, np.float32)
    t0 = time.perf_counter()
    model.forward_run()
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    ret = model.forward_run(return_options={"q_domain": True, "time_step": last4})
    t_fwd_qd = time.perf_counter() - t0
    qd = np.asarray(ret.q_domain)
    print(f"  France: build {t_build:.1f}s, forward_run {t_fwd:.1f}s (with q_domain {t_fwd_qd:.1f}s); "
          f"q_domain {qd.shape} {qd.dtype}; time_step {list(ret.time_step.astype(str))}", flush=True)
    active = np.asarray(mesh["active_cell"]) == 1
    cells = np.argwhere(active)  # row-major order
    rng = np.random.default_rng(906044)
    idx = np.sort(rng.choice(len(cells), 5000, replace=False))
    rc = cells[idx].astype(np.int32)
    r, c = rc[:, 0], rc[:, 1]
    pk = list(model.rr_parameters.keys)
    final = np.array(model.rr_final_states.values, np.float32)
    ci = params[..., pk.index("ci")]
    rec = dict(
        dataset="France",
        structure=structure,
        smash_version=smash.__version__,
        start_time=str(model.setup.start_time),
        end_time=str(model.setup.end_time),
        dt=np.float64(model.setup.dt),
        ntime_step=np.int64(nt),
        nac=np.int64(active.sum()),
        sample_seed=np.int64(906044),
        sample_rowcol=rc,
        rr_parameters_keys=np.array(pk).astype(str),
        rr_parameters_values=params[r, c, :],
        rr_initial_states_keys=np.array(model.rr_initial_states.keys).astype(str),
        rr_initial_states_values=initial[r, c, :],
        rr_final_states_keys=np.array(model.rr_final_states.keys).astype(str),
        rr_final_states_values=final[r, c, :],
        ci=ci[r, c],
        q_domain_time_step=np.array(list(ret.time_step.astype(str))),
        q_domain_step_index=np.arange(nt - 4, nt, dtype=np.int64),
        q_domain=qd[r, c, :].astype(np.float32),
        # whole-domain summaries (float64 sums over active cells)
        final_states_sum_active=final[active].astype(np.float64).sum(axis=0),
        ci_sum_active=np.float64(ci[active].astype(np.float64).sum()),
        ci_hist_values=np.unique(ci[active], return_counts=True)[0].astype(np.float32),
        ci_hist_counts=np.unique(ci[active], return_counts=True)[1].astype(np.int64),
        q_domain_sum_active=qd[active].astype(np.float64).sum(axis=0),
        q_domain_max_active=qd[active].max(axis=0).astype(np.float32),
        prcp_sample=np.array(model.atmos_data.prcp, np.float32)[r, c, :],
        pet_sample=np.array(model.atmos_data.pet, np.float32)[r, c, :],
    )
    save(args.out, "France/sample-zero-gr4-lr.npz", rec)
    dump_json(args.out, "France/timing.json", {
        "smash_version": smash.__version__,
        "structure": structure,
        "nac": int(active.sum()),
        "ntime_step": nt,
        "model_build_s": round(t_build, 3),
        "forward_run_s": round(t_fwd, 3),
        "forward_run_with_q_domain_last4_s": round(t_fwd_qd, 3),
        "note": "wall times of smash.Model(setup, mesh) (includes reading rasters, ci estimation) and "
                "model.forward_run(); single run on the generator machine, informative only",
    })


def sec_timings(args, cases):
    out = {"smash_version": smash.__version__, "note": "wall seconds; forward_run repeated 3 times (min and all)",
           "runs": {}}
    for name in ("Lez", "Cance"):
        case = cases(name)
        for structure in ("zero-gr4-lr", "zero-vic3l-lr", "zero-gr4-kw"):
            model, t_build = build(case, structure)
            fwd = []
            for _ in range(3):
                t0 = time.perf_counter()
                model.forward_run()
                fwd.append(time.perf_counter() - t0)
            out["runs"][f"{name}/{structure}"] = {"model_build_s": round(t_build, 4),
                                                  "forward_run_s_min": round(min(fwd), 4),
                                                  "forward_run_s_all": [round(x, 4) for x in fwd]}
            print(f"  {name} {structure}: build {t_build:.3f}s forward_run min {min(fwd):.4f}s", flush=True)
    dump_json(args.out, "timings.json", out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="datasets folder (Lez, Cance, France)")
    parser.add_argument("--out", default=ANCHOR_REFS)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ",".join(SECTIONS))
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    loaded = {}

    def cases(name):
        if name not in loaded:
            loaded[name] = load_case(args.data, name)
        return loaded[name]

    for sec in SECTIONS:
        if sec in only:
            print(f"[{sec}]", flush=True)
            t0 = time.perf_counter()
            globals()[f"sec_{sec}"](args, cases)
            print(f"[{sec}] done in {time.perf_counter() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
