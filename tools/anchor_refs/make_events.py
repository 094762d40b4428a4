"""smash 1.3 flood-event segmentation and event signatures on Cance and Lez (black box).

    /opt/anchor/bin/python tools/anchor_refs/make_events.py --data /work/shared/datasets

Writes tests/anchor_refs/<Cance|Lez>/events.json: default gr4-lr model after ``forward_run()``;
``segmentation``: a list of {"kwargs", "table"} with ``hydrograph_segmentation(model, **kwargs)``
(records, ISO dates); ``signatures``: a list of {"kwargs", "event"} with
``signatures(model, **kwargs).event`` records; Cance also ``warmup_costs``: event-signature costs
(``forward_run(cost_options=...)``, all gauges) with end_warmup before, inside and after the floods.

And tests/anchor_refs/<Cance|Lez>/events_crafted.npz: the segmentation of made-up series
(``crafted_series``: noisy base flow, 1 to 5 floods with rain before them, drizzle) written into
gauge 0's ``response_data.q`` and ``atmos_data.mean_prcp``: ``q``, ``prcp`` float32 (ncase, ntime),
``kwargs_json`` (hydrograph_segmentation keywords of each case), ``events_json`` (per case, the
list of [start, end, flood, maxrainfall, multipeak] as step indices).
tests/anchor_refs/<Cance|Lez>/events_missing.npz: the same for 12 crafted series with missing
discharge (-99 at 10 random steps and on a block of 24 h + 2 steps, ``with_missing``), plus
``signatures_json``: per case, ``signatures(model, gauge=[gauge 0], event_seg=kwargs).cont/.event``.
"""

import argparse
import json
import os
import warnings

import numpy as np
import pandas as pd
import yaml

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

warnings.filterwarnings("ignore")

SEGMENTATION_CASES = {
    "Cance": [{}, {"peak_quant": 0.99}, {"peak_quant": 0.98, "max_duration": 120},
              {"peak_quant": 0.99, "max_duration": 480}, {"peak_quant": 0.97, "max_duration": 48},
              {"peak_quant": 0.99, "peak_value": 150}, {"peak_quant": 0, "peak_value": 200},
              {"by": "sim"}, {"by": "sim", "peak_quant": 0.98}],
    "Lez": [{}, {"peak_quant": 0.99}, {"peak_quant": 0.95}, {"peak_quant": 0.98, "max_duration": 72},
            {"peak_quant": 0.95, "max_duration": 480}, {"by": "sim"}, {"by": "sim", "peak_quant": 0.97}],
}
SIGNATURE_CASES = {
    "Cance": [{"domain": "obs"}, {"domain": "sim"},
              {"domain": "obs", "event_seg": {"peak_quant": 0.99, "max_duration": 120}},
              {"domain": "sim", "event_seg": {"peak_quant": 0.98}},
              {"domain": "obs", "event_seg": {"by": "sim"}}, {"domain": "sim", "event_seg": {"by": "sim"}},
              {"domain": "obs", "event_seg": {"by": "obs", "peak_quant": 0.97, "max_duration": 48}}],
    "Lez": [{"domain": "obs"}, {"domain": "sim"}, {"domain": "obs", "event_seg": {"peak_quant": 0.95}},
            {"domain": "sim", "event_seg": {"by": "sim", "peak_quant": 0.97}}],
}


def load_model(data, name):
    folder = os.path.join(data, name)
    with open(os.path.join(folder, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        setup[key] = os.path.join(folder, setup[key])
    setup["read_descriptor"] = False
    return smash.Model(setup, smash.io.read_mesh(os.path.join(folder, f"mesh_{name}.hdf5")))


CRAFTED_KWARGS = [{}, {"peak_quant": 0.98}, {"peak_quant": 0.99, "max_duration": 100},
                  {"peak_quant": 0.98, "max_duration": 480}]
N_CRAFTED = 40


def crafted_series(n, dt_hours, seed):
    """Noisy base flow with 1 to 5 floods (linear rise, exponential recession), rain before each."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    q = 1.0 + 0.3 * np.abs(np.cumsum(rng.normal(0, 0.05, n))) + rng.gamma(1, 0.05, n)
    p = rng.gamma(0.3, 0.5, n) * (rng.random(n) < 0.2)
    for _ in range(rng.integers(1, 6)):
        c = rng.integers(int(100 / dt_hours) + 5, n - 5)
        amp = rng.uniform(10, 200)
        rise = max(1, int(rng.uniform(2, 12) / dt_hours))
        tau = rng.uniform(8, 80) / dt_hours
        shape = np.where(t < c, np.clip(1 - (c - t) / rise, 0, None), np.exp(-(t - c) / tau))
        q += amp * shape * (1 + 0.05 * rng.normal(size=n))
        lag = max(1, int(rng.uniform(1, 10) / dt_hours))
        w = max(1, int(rng.uniform(2, 15) / dt_hours))
        s = max(0, c - lag - w)
        p[s:c - lag + 1] += rng.gamma(2, amp / 20 / w, c - lag + 1 - s)
    return np.abs(q), p


N_MISSING = 12


def with_missing(q, n, dt_hours, seed):
    """q (float32) with -99 at 10 random steps and on one block of 24 h + 2 steps."""
    rng = np.random.default_rng(100 + seed)
    q = np.float32(q).copy()
    q[rng.choice(n, 10, replace=False)] = -99
    block = rng.integers(0, n - 30)
    q[block:block + int(24 / dt_hours) + 2] = -99
    return q


def crafted_events(model, q, p, kwargs):
    model.response_data.q[0] = np.asarray(q, np.float32)
    model.atmos_data.mean_prcp[0] = np.asarray(p, np.float32)
    table = smash.hydrograph_segmentation(model, gauge=[model.mesh.code[0]], **kwargs)
    t0 = pd.Timestamp(model.setup.start_time)
    dt = pd.Timedelta(seconds=model.setup.dt)

    def index(col):
        return ((pd.to_datetime(table[col]) - t0) / dt).astype(int).tolist()

    return [list(row) for row in zip(index("start"), index("end"), index("flood"), index("maxrainfall"),
                                     table["multipeak"].astype(bool).tolist(), strict=True)]


WARMUP_CASES = [(end_warmup, name, seg) for end_warmup in ("2014-10-15", "2014-11-05 00:00", "2014-11-04 12:00")
                for name in ("Eff", "Ebf", "Elt", "Epf", "Erc") for seg in ({}, {"peak_quant": 0.99})]


def warmup_costs(model):
    """Event-signature costs (all gauges) with end_warmup before, inside and after the floods."""
    out = []
    for end_warmup, name, seg in WARMUP_CASES:
        options = {"jobs_cmpt": name, "gauge": "all", "end_warmup": end_warmup, "event_seg": seg}
        cost = model.forward_run(cost_options=options, return_options={"cost": True}).cost
        out.append({"cost_options": options, "cost": float(cost)})
    return out


def records(frame):
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()
    for name in ("Cance", "Lez"):
        model = load_model(args.data, name)
        model.forward_run()
        out = {"dataset": name, "structure": "zero-gr4-lr", "smash_version": smash.__version__,
               "segmentation": [], "signatures": []}
        for kwargs in SEGMENTATION_CASES[name]:
            table = smash.hydrograph_segmentation(model, **kwargs)
            out["segmentation"].append({"kwargs": kwargs, "table": records(table)})
            print(name, kwargs, len(table), "events", flush=True)
        for kwargs in SIGNATURE_CASES[name]:
            sig = smash.signatures(model, **kwargs)
            out["signatures"].append({"kwargs": kwargs, "event": records(sig.event)})
        if name == "Cance":
            out["warmup_costs"] = warmup_costs(model)
        path = os.path.join(args.out, name, "events.json")
        with open(path, "w") as f:
            json.dump(out, f, indent=1)
        print("wrote", path)
        n, dt_hours = model.setup.ntime_step, model.setup.dt / 3600
        qs, ps, kws, evs = [], [], [], []
        for seed in range(N_CRAFTED):
            q, p = crafted_series(n, dt_hours, seed)
            kwargs = CRAFTED_KWARGS[seed % len(CRAFTED_KWARGS)]
            qs.append(np.float32(q))
            ps.append(np.float32(p))
            kws.append(kwargs)
            evs.append(crafted_events(model, q, p, kwargs))
        path = os.path.join(args.out, name, "events_crafted.npz")
        np.savez_compressed(path, q=np.array(qs), prcp=np.array(ps), kwargs_json=np.array(json.dumps(kws)),
                            events_json=np.array(json.dumps(evs)), dt=np.float64(model.setup.dt),
                            smash_version=np.array(smash.__version__))
        print("wrote", path, sum(len(e) for e in evs), "events")
        qs, ps, kws, evs, sigs = [], [], [], [], []
        for seed in range(N_MISSING):
            q, p = crafted_series(n, dt_hours, seed)
            q = with_missing(q, n, dt_hours, seed)
            kwargs = CRAFTED_KWARGS[seed % 2]
            qs.append(q)
            ps.append(np.float32(p))
            kws.append(kwargs)
            evs.append(crafted_events(model, q, p, kwargs))
            # Signatures of the same observed series (gaps included), events found with kwargs.
            sig = smash.signatures(model, gauge=[model.mesh.code[0]], event_seg=kwargs, domain="obs")
            sigs.append({"cont": records(sig.cont), "event": records(sig.event)})
        path = os.path.join(args.out, name, "events_missing.npz")
        np.savez_compressed(path, q=np.array(qs), prcp=np.array(ps), kwargs_json=np.array(json.dumps(kws)),
                            events_json=np.array(json.dumps(evs)), signatures_json=np.array(json.dumps(sigs)),
                            dt=np.float64(model.setup.dt),
                            smash_version=np.array(smash.__version__))
        print("wrote", path, sum(len(e) for e in evs), "events")


if __name__ == "__main__":
    main()
