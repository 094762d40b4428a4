"""Hydrological signatures in the cost (jobs_cmpt 'Crc' ... 'Epf'), their tables and the segmentation.

Reference: tests/anchor_refs/Cance/signatures.json, made by make_refs.py with
hydro-smash 1.3 as a black box.
"""

import json

import numpy as np
import pytest
from test_generated_adjoint import _model as line_model

import smash
from smash import _testing
from smash.analysis.cost_options import build_cost_options
from smash.analysis.signatures import CONTINUOUS, EVENT, baseflow_separation, find_events

from helpers import ANCHOR_REFS, core_gradient

ANCHOR = ANCHOR_REFS
REF = ANCHOR / "Cance" / "signatures.json"
# Continuous signatures, and the event ones that do not depend on where events end:
# smash's values within float32 noise.
EXACT = ["Crc", "Crchf", "Crclf", "Cfp2", "Cfp10", "Cfp50", "Cfp90", "Elt", "Epf"]
# Event volumes: they depend on the event ends (see below).
EVENT_VOLUMES = ["Eff", "Ebf", "Erchf", "Erclf", "Erch2r"]
BASEFLOW_REF = ANCHOR_REFS / "Cance" / "baseflow.npz"


@pytest.fixture(scope="module")
def cance(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    model = smash.Model(dict(setup, read_descriptor=False), mesh)
    model.forward_run()
    return model


@pytest.fixture(scope="module")
def ref():
    return json.loads(REF.read_text())


def _cost(model, name, **extra):
    return model.forward_run(cost_options={"jobs_cmpt": name, "gauge": "all", **extra},
                             return_options={"cost": True}).cost


@pytest.mark.parametrize("name", EXACT)
def test_signature_costs_match_smash(cance, ref, name):
    # smash sorts and sums float32 series: 2e-5 relative covers it.
    assert _cost(cance, name) == pytest.approx(ref["costs_all_gauges"][name], rel=2e-5)



def test_baseflow_volume_matches_smash_on_crafted_series():
    """smash 1.3's Crclf / Crc (Crch2r) of an observed series is its base (quick) flow volume
    over its flow volume: on crafted series (start-up, step, impulse, trend, noise) ours agree."""
    ref = np.load(BASEFLOW_REF)
    names = ref["sig_names"].tolist()
    keys = [k[2:] for k in ref.files if k.startswith("q_")]
    assert len(keys) == 7
    for key in keys:
        q = ref[f"q_{key}"].astype(np.float64)
        sig = dict(zip(names, ref[f"sig_{key}"], strict=True))
        base, quick = baseflow_separation(q)
        # smash sums ~1e4 m3/s in single precision: 2e-5 relative, and 1e-5 absolute
        # on the small quick share (a few hundredths).
        assert base.sum() / q.sum() == pytest.approx(sig["Crclf"] / sig["Crc"], rel=2e-5), key
        assert quick.sum() / q.sum() == pytest.approx(sig["Crch2r"], rel=2e-5, abs=1e-5), key


def test_quick_to_total_flow_cost_close_to_smash(cance, ref):
    # A ratio of two small single-precision sums in smash, squared relative error in the cost.
    assert _cost(cance, "Crch2r") == pytest.approx(ref["costs_all_gauges"]["Crch2r"], rel=5e-4)



@pytest.mark.parametrize("name", EVENT_VOLUMES + ["Erc"])
def test_event_volume_signature_costs_close_to_smash(cance, ref, name):
    # Same events, event base flow separated on each event, as smash does: float32 noise.
    assert _cost(cance, name) == pytest.approx(ref["costs_all_gauges"][name], rel=1e-5)


def test_segmentation_finds_smash_events(cance, ref):
    seg = smash.hydrograph_segmentation(cance)
    theirs = ref["segmentation"]
    assert seg["code"].tolist() == [r["code"] for r in theirs]
    for (_, ours), r in zip(seg.iterrows(), theirs, strict=True):
        for key in ("start", "end", "maxrainfall", "flood"):
            assert ours[key] == np.datetime64(r[key].replace("Z", "")), key
        assert ours["multipeak"] == r["multipeak"]
    # Tables: the continuous signatures are smash's.
    sig = smash.signatures(cance)
    for ours, r in zip(sig.cont.to_dict("records"), ref["cont"], strict=True):
        for key in ("Crc", "Crclf", "Cfp2", "Cfp10", "Cfp50", "Cfp90"):
            assert ours[key] == pytest.approx(r[key], rel=1e-5), key
        # Quick flow: a few hundredths of m3/s of smash's float32 sums over the year.
        for key in ("Crchf", "Crch2r"):
            assert ours[key] == pytest.approx(r[key], rel=1e-4), key
    for ours, r in zip(sig.event.to_dict("records"), ref["event"], strict=True):
        assert ours["Epf"] == pytest.approx(r["Epf"], rel=1e-6) and ours["Elt"] == r["Elt"]
        for key in ("Eff", "Ebf", "Erc", "Erchf", "Erclf", "Erch2r"):
            assert ours[key] == pytest.approx(r[key], rel=2e-6), key


def _anchor_model(name, data_dir, reference_dir):
    """Default gr4-lr model whose simulated discharge is smash 1.3's own (float32) run.

    by="sim" segmentations are then done on the very series smash segmented: our
    float64 run moves two Cance ends by an hour (near ties of the end criterion).
    """
    setup, mesh = smash.factory.load_dataset(name, path=data_dir)
    model = smash.Model(dict(setup, read_descriptor=False), mesh)
    path = (ANCHOR / "Cance" if name == "Cance" else reference_dir / "Lez") / "zero-gr4-lr.npz"
    model.response.q = np.load(path)["q"].astype(np.float32)
    return model


@pytest.mark.parametrize("name", ["Cance", "Lez"])
def test_segmentation_equals_smash_for_every_option(name, data_dir, reference_dir):
    """Every event (start, end, flood, maxrainfall, multipeak) of smash 1.3 on all gauges,
    for default and other peak_quant / peak_value / max_duration, by obs and sim."""
    model = _anchor_model(name, data_dir, reference_dir)
    events = json.loads((ANCHOR / name / "events.json").read_text())
    assert len(events["segmentation"]) >= 7
    for case in events["segmentation"]:
        ours = smash.hydrograph_segmentation(model, **case["kwargs"])
        theirs = case["table"]
        assert len(ours) == len(theirs), case["kwargs"]
        for (_, o), t in zip(ours.iterrows(), theirs, strict=True):
            assert o["code"] == t["code"] and bool(o["multipeak"]) == t["multipeak"], case["kwargs"]
            for key in ("start", "end", "flood", "maxrainfall"):
                assert o[key] == np.datetime64(t[key].replace("Z", "")), (case["kwargs"], key)


@pytest.mark.parametrize("name", ["Cance", "Lez"])
def test_event_signatures_equal_smash_for_every_option(name, data_dir, reference_dir):
    """signatures(..., event_seg={... "by": "obs" | "sim"}, domain="obs" | "sim") event tables."""
    model = _anchor_model(name, data_dir, reference_dir)
    events = json.loads((ANCHOR / name / "events.json").read_text())
    for case in events["signatures"]:
        ours = smash.signatures(model, **case["kwargs"]).event
        theirs = case["event"]
        assert len(ours) == len(theirs), case["kwargs"]
        for o, t in zip(ours.to_dict("records"), theirs, strict=True):
            assert o["start"] == np.datetime64(t["start"].replace("Z", "")) and o["end"] == np.datetime64(
                t["end"].replace("Z", ""))
            assert o["Elt"] == t["Elt"], case["kwargs"]
            # smash sums its float32 series in float32: 3e-5 relative covers the volumes.
            for key in ("Eff", "Ebf", "Erc", "Erchf", "Erclf", "Erch2r", "Epf"):
                assert o[key] == pytest.approx(t[key], rel=3e-5), (case["kwargs"], key)


@pytest.mark.parametrize("name", ["Cance", "Lez"])
def test_segmentation_equals_smash_on_crafted_series(name):
    """40 made-up series per time step (hourly Cance, daily Lez), 148 events in all."""
    ref = np.load(ANCHOR / name / "events_crafted.npz")
    kwargs, expected = json.loads(str(ref["kwargs_json"])), json.loads(str(ref["events_json"]))
    assert len(expected) == 40
    rain_differs = []
    for q, prcp, kw, theirs in zip(ref["q"], ref["prcp"], kwargs, expected, strict=True):
        ours = find_events(q, prcp, float(ref["dt"]), **kw)
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs, strict=True):
            assert [o["start"], o["end"], o["flood"], o["multipeak"]] == [t[0], t[1], t[2], t[4]]
            if o["rain_peak"] != t[3]:
                rain_differs.append((o["rain_peak"], t))
    # One hourly event (of 62) has smash's maxrainfall on an earlier, smaller rain
    # peak (3.10 mm at step 1054 rather than 3.31 mm at 1061, 1 h before the
    # flood); no rule found covers it without breaking others (docs/calibration.md).
    assert rain_differs == ([] if name == "Lez" else [(1061, [1041, 1164, 1062, 1054, False])])


def test_segmentation_with_missing_discharge():
    """12 crafted series per dataset with missing discharge (-99 at 10 steps and on a 26 h / 3 day block).

    As smash 1.3: a step next to a missing one is no flood peak (Lez series 3 and 4 lose an
    event that way); an end window holding a missing step is no candidate, and a peak left
    without candidate has no event (Cance series 9).
    """
    for name in ("Cance", "Lez"):
        ref = np.load(ANCHOR / name / "events_missing.npz")
        kwargs, expected = json.loads(str(ref["kwargs_json"])), json.loads(str(ref["events_json"]))
        assert len(expected) == 12
        for i, (q, prcp, kw, theirs) in enumerate(zip(ref["q"], ref["prcp"], kwargs, expected, strict=True)):
            assert (q < 0).sum() >= 12
            ours = [[e["start"], e["end"], e["flood"], e["rain_peak"], e["multipeak"]]
                    for e in find_events(q, prcp, float(ref["dt"]), **kw)]
            assert ours == theirs, (name, i)


@pytest.mark.parametrize("name", ["Cance", "Lez"])
def test_signatures_with_missing_discharge_equal_smash(name, data_dir):
    """Continuous and event signatures of observed series with gaps (gauge 0 of a dataset
    model, discharge and mean rain replaced by the crafted series): smash 1.3's tables."""
    ref = np.load(ANCHOR / name / "events_missing.npz")
    kwargs, expected = json.loads(str(ref["kwargs_json"])), json.loads(str(ref["signatures_json"]))
    setup, mesh = smash.factory.load_dataset(name, path=data_dir)
    model = smash.Model(dict(setup, read_descriptor=False), mesh)
    code = str(model.mesh.code[0])
    n_events = 0
    for q, prcp, kw, theirs in zip(ref["q"], ref["prcp"], kwargs, expected, strict=True):
        model.response_data.q[0] = q
        model.atmos_data.mean_prcp[0] = prcp
        sig = smash.signatures(model, gauge=[code], event_seg=kw, domain="obs")
        for table in ("cont", "event"):
            ours = getattr(sig, table).to_dict("records")
            assert len(ours) == len(theirs[table])
            for o, t in zip(ours, theirs[table], strict=True):
                for key in CONTINUOUS if table == "cont" else EVENT:
                    # float32 sums in smash: 5e-6 relative.
                    assert o[key] == pytest.approx(t[key], rel=5e-6, abs=1e-9), (table, key)
        n_events += len(theirs["event"])
    assert n_events >= 15


def test_event_costs_with_warmup_equal_smash(cance):
    """Event-signature costs with end_warmup before the floods, inside an event and after the
    flood peaks: smash's. Elt scores each event's steps after the warm-up, its rain peak among
    them, and only events whose observed lag time is positive; where a gauge has none smash's
    cost is NaN and ours an error naming the gauge."""
    cases = json.loads((ANCHOR / "Cance" / "events.json").read_text())["warmup_costs"]
    assert len(cases) == 30
    for case in cases:
        if np.isnan(case["cost"]):
            assert case["cost_options"]["jobs_cmpt"] == "Elt"
            with pytest.raises(ValueError, match="no flood event with a positive observed lag time"):
                _cost_of(cance, case["cost_options"])
            continue
        assert _cost_of(cance, case["cost_options"]) == pytest.approx(case["cost"], rel=5e-6), case["cost_options"]


def _cost_of(model, cost_options):
    return model.forward_run(cost_options=cost_options, return_options={"cost": True}).cost


def test_fortran_costs_equal_the_python_tables(cance):
    """The cost's Fortran signatures against the numpy ones of smash.signatures (independent code).

    The tables read response.q, stored in float32: 1e-6 relative.
    """
    obs = smash.signatures(cance, domain="obs")
    sim = smash.signatures(cance, domain="sim")
    for name in CONTINUOUS:
        expected = np.mean((sim.cont[name] / obs.cont[name] - 1) ** 2)
        assert _cost(cance, name) == pytest.approx(expected, rel=1e-6), name
    for name in EVENT:
        per_gauge = []
        for code in obs.event["code"].unique():
            o = obs.event.loc[obs.event["code"] == code, name].to_numpy()
            s = sim.event.loc[sim.event["code"] == code, name].to_numpy()
            keep = o != 0
            per_gauge.append(np.mean((s[keep] / o[keep] - 1) ** 2) if keep.any() else 0.0)
        assert _cost(cance, name) == pytest.approx(np.mean(per_gauge), rel=1e-6), name


def test_baseflow_filter_properties():
    rng = np.random.default_rng(0)
    q = np.convolve(rng.gamma(0.3, 20.0, 400), np.exp(-np.arange(30) / 6.0))[:400] + 1.0
    base, quick = baseflow_separation(q)
    assert np.all(base >= -1e-12) and np.all(base <= q + 1e-12)
    np.testing.assert_allclose(base[1:] + quick[1:], q[1:], rtol=1e-14)
    # The first quick flow is measured from the second pass's baseflow (before the last pass).
    assert quick[0] == pytest.approx(q[0] - baseflow_separation(q, passes=2)[0][0], rel=1e-14)
    # A constant flow is all baseflow away from the ends: a pass starts below the flow
    # (mean/1.5, or the previous pass's mean) and closes the gap as 0.925^k.
    flat_base, _ = baseflow_separation(np.full(1000, 3.0))
    assert flat_base[400:-400] == pytest.approx(3.0, rel=1e-6)


def test_signature_adjoint_dot_product_and_finite_differences():
    model = line_model("gr4", ncell=5, seed=2)
    names = ["Crc", "Crchf", "Cfp50", "Cfp90", "Epf", "Erchf", "Ebf"]
    opts = {"jobs_cmpt": names, "wjobs_cmpt": [1.0] * len(names), "gauge": "all",
            "event_seg": {"peak_quant": 0.9}}
    _, fc = build_cost_options(model, opts)
    assert fc.nevent[0] >= 1
    _testing.sync_parameters(model)
    cost, grad, fo = core_gradient(model, fc)
    direction = _testing.new_core_parameters(model)
    assert cost > 0
    p0 = np.array(_testing.core_parameters(model).rr_parameters)
    rng = np.random.default_rng(3)
    dp = p0 * rng.uniform(-1, 1, p0.shape) * 1e-2
    direction.rr_parameters[...] = dp
    _, dcost = _testing.run_tangent(model, fc, direction, fo)
    adjoint = float(np.sum(np.array(grad.rr_parameters) * dp))
    assert dcost == pytest.approx(adjoint, rel=1e-10)

    def cost_at(eps):
        _testing.core_parameters(model).rr_parameters[...] = p0 + eps * dp
        _testing.run_forward(model, fc, fo)
        return fo.cost

    # Quantiles and the filter's clipping are piecewise smooth: a small step stays on one piece.
    eps = 1e-5
    fd = (cost_at(eps) - cost_at(-eps)) / (2 * eps)
    assert fd == pytest.approx(adjoint, rel=1e-5)


def test_missing_observations_are_skipped():
    model = line_model("gr4", ncell=3, seed=4)
    full = {n: _cost(model, n, event_seg={"peak_quant": 0.9}) for n in ("Crc", "Cfp50", "Epf")}
    qobs = model.response_data.q.copy()
    qobs[0, 5:9] = -99.0
    model.response_data.q = qobs
    for name, value in full.items():
        cost = _cost(model, name, event_seg={"peak_quant": 0.9})
        assert np.isfinite(cost) and cost >= 0
        if name == "Crc":
            assert cost != value  # the missing steps left the sums


def test_signature_errors():
    model = line_model("gr4", ncell=3, seed=4)
    with pytest.raises(ValueError, match="Unknown jobs_cmpt"):
        _cost(model, "Cfp95")
    with pytest.raises(ValueError, match="Unknown event_seg key 'peak'"):
        _cost(model, "Epf", event_seg={"peak": 0.9})
    flat = model.copy()
    flat.response_data.q = np.full_like(model.response_data.q, 2.0)
    with pytest.raises(ValueError, match="No flood event found at gauge"):
        _cost(flat, "Epf")
    with pytest.raises(ValueError, match="Unknown signature"):
        smash.signatures(model, sign="Xyz")
