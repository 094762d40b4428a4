"""Discharge parity with smash 1.3.

- shared/reference/Lez (the 1.3 outputs the project was given): every
  non-hybrid structure with default parameters, and the default gr4-lr cost;
- tests/anchor_refs (made by tools/anchor_refs/make_refs.py with hydro-smash
  1.3 as a black box): Cance for every structure, kw and lag0 routing, and
  spatially varying parameters and initial states on Lez and Cance.

Metric: relative L2 error per gauge ||q - q_ref|| / ||q_ref|| < 1e-4. smash 1.3
computes in float32 and we in float64, so ~1e-6 is the expected floor.
"""

import functools

import numpy as np
import pytest

import smash

from helpers import ANCHOR_REFS

ANCHOR = ANCHOR_REFS
LEZ_STRUCTURES = ["gr4", "gr4_ri", "gr4_ode", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau", "vic3l"]
VIC3L_GAP = pytest.mark.xfail(strict=True, reason="vic3l matches the Lez default to 2.4e-5 but differs by ~2.5e-4 "
                               "on hourly Cance and with spatially varying parameters: smash 1.3 makes surface runoff "
                               "without rain (qr up to 1.1e-4 mm on 24% of the cell-steps with pn = 0, seen in its "
                               "internal fluxes), the float32 rounding of an infiltration that is 0 in exact "
                               "arithmetic. On Cance it sums to 4.8 mm, 0.070% of smash's surface runoff, the size of "
                               "the gap in discharge volume (0.066-0.093% per gauge); float64 cannot reproduce that "
                               "noise (open)")


@functools.cache
def _dataset(data_dir, name):
    return smash.factory.load_dataset(name, path=data_dir)


def _model(data_dir, name, structure):
    setup, mesh = _dataset(data_dir, name)
    snow, hydro, routing = structure.split("-")
    setup = dict(setup, snow_module=snow, hydrological_module=hydro, routing_module=routing, read_descriptor=False)
    return smash.Model(setup, mesh)


def _rel_l2(q, ref):
    return np.linalg.norm(q - ref, axis=1) / np.linalg.norm(ref, axis=1)


@pytest.mark.parametrize("hydro", LEZ_STRUCTURES)
def test_lez_default_structures_match_smash_13(data_dir, reference_dir, hydro):
    ref = np.load(reference_dir / "Lez" / f"zero-{hydro}-lr.npz")
    model = _model(data_dir, "Lez", f"zero-{hydro}-lr")
    assert model.rr_parameters.keys.tolist() == ref["rr_parameters_keys"].tolist()
    assert np.allclose(model.rr_parameters.values, ref["rr_parameters_values"], rtol=1e-6)
    assert np.array_equal(model.response_data.q, ref["qobs"])
    model.forward_run()
    assert _rel_l2(model.response.q, ref["q"]).max() < 1e-4
    active = ref["mesh_active_cell"] == 1
    final = model.rr_final_states.values[active]
    assert np.allclose(final, ref["rr_final_states_values"][active], rtol=1e-3, atol=1e-6)


def test_lez_default_cost_is_smash_13_value(data_dir):
    model = _model(data_dir, "Lez", "zero-gr4-lr")
    ret = model.forward_run(return_options={"cost": True})
    # 1 - NSE at the most downstream gauge, 4 missing observations skipped.
    assert ret.cost == pytest.approx(0.6857715, abs=2e-6)
    q, qobs = model.response.q[0].astype(float), model.response_data.q[0].astype(float)
    keep = qobs >= 0
    assert keep.sum() == 360
    independent = np.sum((q[keep] - qobs[keep]) ** 2) / np.sum((qobs[keep] - qobs[keep].mean()) ** 2)
    assert ret.cost == pytest.approx(independent, rel=1e-5)


def _anchor_cases():
    cases = []
    paths = sorted(ANCHOR.glob("Lez/zero-*.npz")) + sorted(ANCHOR.glob("Cance/zero-*.npz"))
    for path in paths + sorted(ANCHOR.glob("*/dist-*.npz")):
        mark = VIC3L_GAP if "vic3l" in path.name else ()
        cases.append(pytest.param(path.parent.name, path.stem, marks=mark, id=f"{path.parent.name}-{path.stem}"))
    return cases


@pytest.mark.parametrize("dataset, case", _anchor_cases())
def test_anchor_references(data_dir, dataset, case):
    ref = np.load(ANCHOR / dataset / f"{case}.npz")
    structure = case.removeprefix("dist-")
    model = _model(data_dir, dataset, structure)
    setters = {"rr_parameters": model.set_rr_parameters, "rr_initial_states": model.set_rr_initial_states}
    for kind, setter in setters.items():
        if f"{kind}_keys" in ref:
            for i, key in enumerate(ref[f"{kind}_keys"]):
                setter(str(key), ref[f"{kind}_values"][..., i].astype(np.float64))
    ret = model.forward_run(return_options={"cost": True})
    assert _rel_l2(model.response.q, ref["q"]).max() < 1e-4
    assert ret.cost == pytest.approx(float(ref["cost"]), rel=1e-4)


def test_snow_module_matches_smash_13(data_dir):
    ref = np.load(ANCHOR / "Lez" / "ssn-gr4-lr.npz")
    model = _model(data_dir, "Lez", "ssn-gr4-lr")
    assert model.rr_parameters.keys.tolist() == ref["rr_parameters_keys"].tolist()
    model.atmos_data.snow = ref["snow"]
    model.atmos_data.temp = ref["temp"]
    model.forward_run()
    assert _rel_l2(model.response.q, ref["q"]).max() < 1e-4
    # The snow actually matters in this case (else the test would prove nothing).
    assert _rel_l2(ref["q_without_snow_data"], ref["q"]).max() > 1e-2


def test_missing_inputs_freeze_the_stores(data_dir):
    ref = np.load(ANCHOR / "Lez" / "missing-zero-gr4-lr.npz")
    model = _model(data_dir, "Lez", "zero-gr4-lr")
    model.atmos_data.prcp = ref["prcp"]
    model.atmos_data.pet = ref["pet"]
    ret = model.forward_run(return_options={"cost": True})
    assert np.all(np.isfinite(model.response.q)) and np.isfinite(ret.cost)
    active = ref["mesh_active_cell"] == 1
    # Stores follow smash 1.3 (skipped step for missing rain, frozen production store for missing PET).
    assert np.allclose(model.rr_final_states.values[active], ref["rr_final_states_values"][active], atol=1e-5)
    # Discharge differs from smash 1.3 by ~1% relative L2 on this case (open: how smash routes the
    # runoff of a skipped cell); it must at least stay much closer to smash than filling missing values with 0.
    err = _rel_l2(model.response.q, ref["q"]).max()
    assert err < 0.02 and err < 0.5 * _rel_l2(ref["q_zero_filled"], ref["q"]).max()


def test_cance_ci_reestimation_is_smash_13(data_dir):
    """Hourly Cance: the default ci of every active cell is re-estimated to smash 1.3's value."""
    ref = np.load(ANCHOR / "Cance" / "zero-gr4-lr.npz")
    model = _model(data_dir, "Cance", "zero-gr4-lr")
    theirs = ref["rr_parameters_values"][..., list(ref["rr_parameters_keys"]).index("ci")]
    active = model.mesh.active_cell == 1
    assert np.unique(theirs[active]).size > 3      # a real map, not the 1e-6 default
    assert np.allclose(model.get_rr_parameters("ci")[active], theirs[active], rtol=0, atol=1e-6)


def test_france_forcings_ci_and_discharge_close_to_smash_13(data_dir):
    """Forcings scaled in float32 as smash does are its own bit for bit; the single-precision ci
    re-estimation then picks smash's candidate on all but one sampled cell, and over the whole
    grid gives smash's histogram of ci within a few tens of 906 044 cells."""
    ref = np.load(ANCHOR / "France" / "sample-zero-gr4-lr.npz")
    setup, mesh = _dataset(data_dir, "France")
    model = smash.Model(setup, mesh)
    rows, cols = ref["sample_rowcol"][:, 0], ref["sample_rowcol"][:, 1]
    assert np.array_equal(model.atmos_data.prcp[rows, cols, :], ref["prcp_sample"])
    assert np.array_equal(model.atmos_data.pet[rows, cols, :], ref["pet_sample"])
    ci = model.get_rr_parameters("ci")
    same = np.abs(ci[rows, cols] - ref["ci"]) <= 1e-6
    assert same.sum() >= 4999
    # ci is a multiple of 0.1 mm: count cells per tenth, ours against smash's whole-grid histogram
    ours = np.bincount(np.rint(ci[mesh["active_cell"] == 1] * 10).astype(int), minlength=30)
    theirs = np.zeros(30, dtype=int)
    theirs[np.rint(ref["ci_hist_values"].astype(np.float64) * 10).astype(int)] = ref["ci_hist_counts"]
    assert np.abs(ours - theirs).sum() <= 100
    steps = [str(t) for t in ref["q_domain_time_step"]]
    ret = model.forward_run(return_options={"q_domain": True, "time_step": steps})
    q = ret.q_domain[rows, cols]
    assert np.linalg.norm(q - ref["q_domain"]) / np.linalg.norm(ref["q_domain"]) < 1e-4
    final = model.rr_final_states.values[rows, cols][same]
    assert np.allclose(final, ref["rr_final_states_values"][same], rtol=1e-4, atol=1e-5)


@pytest.mark.xfail(strict=True, reason="France ci re-estimation picks another candidate than smash 1.3 on 1 of "
                   "5000 sampled cells (|intercepted - target| is exactly 0 for 0.1, 0.2 and 0.3 mm; smash takes "
                   "0.2); its final hp differs; routed discharge agrees to 6e-5 (open)")
def test_france_sample_matches_smash_13(data_dir):
    ref = np.load(ANCHOR / "France" / "sample-zero-gr4-lr.npz")
    setup, mesh = _dataset(data_dir, "France")
    model = smash.Model(setup, mesh)
    rows, cols = ref["sample_rowcol"][:, 0], ref["sample_rowcol"][:, 1]
    assert np.allclose(model.get_rr_parameters("ci")[rows, cols], ref["ci"], atol=1e-6)
    steps = [str(t) for t in ref["q_domain_time_step"]]
    ret = model.forward_run(return_options={"q_domain": True, "time_step": steps})
    q = ret.q_domain[rows, cols]
    assert np.linalg.norm(q - ref["q_domain"]) / np.linalg.norm(ref["q_domain"]) < 1e-4
    final = model.rr_final_states.values[rows, cols]
    assert np.allclose(final, ref["rr_final_states_values"], rtol=1e-4, atol=1e-5)


def _cost_cases():
    import json

    results = json.loads((ANCHOR / "Lez" / "costs.json").read_text())["results"]
    cases = []
    for r in results:
        metrics = r["cost_options"]["jobs_cmpt"]
        metrics = [metrics] if isinstance(metrics, str) else metrics
        # lgrm agrees once the first weeks are left out (end_warmup); over the whole
        # period it differs by a factor ~2. Cause: in smash's single precision the
        # percolation of the nearly empty initial production store is exactly 0
        # (1 + (hp/beta)^4 rounds to 1), so its first flows decay to 0 (1e-41 on day 9)
        # where ours keep 2.5e-8 m3/s, and lgrm's log magnifies near-zero flows.
        mark = pytest.mark.xfail(strict=True, reason="lgrm over the near-zero early flows: smash's float32 flushes "
                                 "the early percolation to 0, ours keeps 2.5e-8 m3/s") \
            if "lgrm" in metrics and "end_warmup" not in r["cost_options"] else ()
        cases.append(pytest.param(r["cost_options"], r["cost"], marks=mark, id=str(r["cost_options"])))
    return cases


@pytest.mark.parametrize("cost_options, expected", _cost_cases())
def test_cost_functions_match_smash_13(data_dir, cost_options, expected):
    model = _model(data_dir, "Lez", "zero-gr4-lr")
    cost = model.forward_run(cost_options=cost_options, return_options={"cost": True}).cost
    # smash 1.3 accumulates in float32: agreement to a few 1e-7 relative is its precision.
    assert cost == pytest.approx(expected, rel=1e-5)


def _tfm_cases():
    import json

    results = json.loads((ANCHOR / "Lez" / "costs_tfm.json").read_text())["results"]
    return [pytest.param(r["cost_options"], r["cost"], id=str(r["cost_options"])) for r in results]


@pytest.mark.parametrize("cost_options, expected", _tfm_cases())
def test_transformed_costs_match_smash_13(data_dir, cost_options, expected):
    """jobs_cmpt_tfm 'sqrt' / 'inv' (q + 1 % of the mean observed flow). 1/q amplifies smash's float32
    rounding of low flows: 2e-5 relative."""
    model = _model(data_dir, "Lez", "zero-gr4-lr")
    cost = model.forward_run(cost_options=cost_options, return_options={"cost": True}).cost
    assert cost == pytest.approx(expected, rel=2e-5)
