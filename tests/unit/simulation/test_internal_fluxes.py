"""Internal fluxes (forward_run return_options["internal_fluxes"]): smash 1.3's names, units and values.

The references are smash 1.3's fluxes on Lez (daily) for every structure and on Cance (hourly) for a few
(tests/anchor_refs/<Lez|Cance>/internal_fluxes.npz, made by tools/anchor_refs/make_internal_fluxes.py) with
drawn parameter and initial-state maps, seeded hybrid nets and, for ssn, made-up snow and temperature series.
"""

import functools

import numpy as np
import pytest

import smash

from helpers import ANCHOR_REFS

ANCHOR = ANCHOR_REFS

# Relative tolerances. smash 1.3 computes in float32; the default covers its rounding over a year of
# daily steps. Two families drift further (docs/running.md, "Internal fluxes"):
# - *_ri: with daily steps pr, ps and perc reach ~3e5 mm from ~30 mm of rain and cancel each other
#   (pr - ps ~ pn), so float32 loses ~1.5 % of them; the stores then carry the difference into lexc;
# - vic3l: the known float32 noise of smash's vic3l (tests/parity/test_reference.py, VIC3L_GAP) reaches the
#   canopy and soil fluxes (en, qr, qb, qt) by up to ~3 %.
RTOL_DEFAULT = 2e-4
RTOL_DRIFT = 4e-2


def _rtol(structure):
    hydro = structure.split("-")[1]
    return RTOL_DRIFT if "_ri" in hydro or hydro == "vic3l" else RTOL_DEFAULT


@functools.cache
def _reference(dataset):
    return dict(np.load(ANCHOR / dataset / "internal_fluxes.npz"))


@functools.cache
def _inputs(data_dir, dataset="Lez"):
    setup, mesh = smash.factory.load_dataset(dataset, path=data_dir)
    setup = dict(setup, read_descriptor=False)
    model = smash.Model(setup, mesh)
    return setup, mesh, np.asarray(model.atmos_data.prcp), np.asarray(model.atmos_data.pet)


def _cases():
    cases = []
    for dataset in ("Lez", "Cance"):
        path = ANCHOR / dataset / "internal_fluxes.npz"
        if path.exists():
            cases += [pytest.param(dataset, str(s), id=f"{dataset}-{s}") for s in np.load(path)["structures"]]
    return cases


def _model(data_dir, dataset, structure):
    """The model smash 1.3 ran: same maps, net and forcings (read once, assigned)."""
    ref = _reference(dataset)
    setup, mesh, prcp, pet = _inputs(data_dir, dataset)
    snow, hydro, routing = structure.split("-")
    setup = dict(setup, snow_module=snow, hydrological_module=hydro, routing_module=routing,
                 read_prcp=False, read_pet=False)
    model = smash.Model(setup, mesh)
    model.atmos_data.prcp, model.atmos_data.pet = prcp, pet
    for kind, setter in (("rr_parameters", model.set_rr_parameters),
                         ("rr_initial_states", model.set_rr_initial_states)):
        for key in map(str, getattr(model, kind).keys):
            setter(key, ref[f"{kind}:{key}"].astype(np.float64))
    if f"{structure}:nn_weight_0" in ref:
        nlayer = sum(k.startswith(f"{structure}:nn_weight_") for k in ref)
        model.set_nn_parameters_weight([ref[f"{structure}:nn_weight_{i}"] for i in range(nlayer)])
        model.set_nn_parameters_bias([ref[f"{structure}:nn_bias_{i}"] for i in range(nlayer)])
    if snow == "ssn":
        snow_ref = np.load(ANCHOR / "Lez" / "ssn-gr4-lr.npz")
        model.atmos_data.snow, model.atmos_data.temp = snow_ref["snow"], snow_ref["temp"]
    return model


@pytest.mark.parametrize("dataset, structure", _cases())
def test_internal_fluxes_match_smash_13(data_dir, dataset, structure):
    ref = _reference(dataset)
    model = _model(data_dir, dataset, structure)
    ret = model.forward_run(return_options={"internal_fluxes": True})
    keys = [str(k) for k in ref[f"{structure}:keys"]]
    assert list(ret.internal_fluxes) == keys

    fluxes = np.stack([ret.internal_fluxes[k] for k in keys], axis=-1).astype(np.float64)
    assert fluxes.dtype == np.float64 and ret.internal_fluxes[keys[0]].dtype == np.float32
    rows, cols = ref["cell_rowcol"].T
    sample = fluxes[rows, cols][:, ref["step_index"]]
    expected = ref[f"{structure}:sample"].astype(np.float64)
    known = np.isfinite(expected)  # NaN: smash's uninitialised routing flux of a cell without upstream
    assert known.any(axis=(0, 1)).all()
    # A flux in another unit would be off by a factor (86.4 for mm vs m3/s on a daily 1 km grid, 3.6 hourly).
    scale = np.nanmax(np.abs(expected), axis=(0, 1))
    atol = 1e-4 * np.maximum(scale, 0.1)  # float32 rounding of the stores (up to ~1e3 mm) feeding small fluxes
    err = np.abs(sample - expected)
    bad = known & (err > _rtol(structure) * np.abs(expected) + atol)
    assert not bad.any(), {k: float(np.nanmax(np.where(known, err, 0)[..., i])) for i, k in enumerate(keys)
                           if bad[..., i].any()}

    # Totals over every active cell and step (routing fluxes: cells with upstream cells only).
    active = model.mesh.active_cell == 1
    has_upstream = model.mesh.flwacc > 1.5 * model.mesh.dx * model.mesh.dy
    totals = []
    for i, (family, _name, _unit) in enumerate(model.structure.flux_records):
        cells = active & has_upstream if family == "routing" else active
        totals.append(fluxes[cells][:, :, i].sum())
    ref_totals = ref[f"{structure}:sum"]
    assert np.allclose(totals, ref_totals, rtol=_rtol(structure), atol=1e-3 * np.abs(ref_totals).max())


def test_flux_counts_are_smash_13s():
    """The registry's snow / hydrological / routing flux counts are smash 1.3's setup.n_*_fluxes."""
    import json

    from smash.registry import Structure
    from smash.simulation.model_setup import MODULE_ALIASES

    counts = json.loads(str(_reference("Lez")["setup_n_fluxes_json"]))
    assert len(counts) == 76
    for name, smash_counts in counts.items():
        snow, hydro, routing = name.split("-")
        structure = Structure(snow, MODULE_ALIASES.get(hydro, hydro), routing)
        n_snow, n_hydro, n_routing = structure.counts("fluxes")
        assert (n_snow, n_hydro, n_routing) == (smash_counts["n_snow_fluxes"], smash_counts["n_hydro_fluxes"],
                                                smash_counts["n_routing_fluxes"]), name
        assert len(structure.flux_records) == smash_counts["n_internal_fluxes"]


def test_flux_units_follow_their_definitions(data_dir):
    """qt is the cell's own discharge (a headwater cell's q_domain with lag0); lag0's qup is the sum of the
    upstream cells' discharge (m3/s); lr's qup is that inflow as a depth (mm) over the upstream area."""
    setup, mesh, prcp, pet = _inputs(data_dir)
    rets = {}
    for routing in ("lag0", "lr"):
        model = smash.Model(dict(setup, routing_module=routing, read_prcp=False, read_pet=False), mesh)
        model.atmos_data.prcp, model.atmos_data.pet = prcp, pet
        rets[routing] = model.forward_run(return_options={"internal_fluxes": True, "q_domain": True})
    lag0, lr = rets["lag0"], rets["lr"]
    active = mesh["active_cell"] == 1
    area = mesh["dx"] * mesh["dy"]
    headwater = active & (mesh["flwacc"] <= 1.5 * area)
    np.testing.assert_allclose(lag0.internal_fluxes["qt"][headwater], lag0.q_domain[headwater], rtol=1e-6,
                               atol=1e-9)

    # Upstream neighbours from the D8 directions (smash's coding: 1 = N, then clockwise).
    drow = {1: -1, 2: -1, 3: 0, 4: 1, 5: 1, 6: 1, 7: 0, 8: -1}
    dcol = {1: 0, 2: 1, 3: 1, 4: 1, 5: 0, 6: -1, 7: -1, 8: -1}
    inflow = {"lag0": np.zeros_like(lag0.q_domain, dtype=np.float64),
              "lr": np.zeros_like(lr.q_domain, dtype=np.float64)}
    for r, c in np.argwhere(active):
        d = int(mesh["flwdir"][r, c])
        rd, cd = r + drow[d], c + dcol[d]
        if 0 <= rd < active.shape[0] and 0 <= cd < active.shape[1] and active[rd, cd]:
            for name, ret in rets.items():
                inflow[name][rd, cd] += ret.q_domain[r, c]
    np.testing.assert_allclose(lag0.internal_fluxes["qup"][active], inflow["lag0"][active], rtol=1e-5, atol=1e-9)
    upstream_area = (mesh["flwacc"] - area)[active][:, None]
    depth = np.where(upstream_area > 0, inflow["lr"][active] * setup["dt"] / (1e-3 * np.maximum(upstream_area, 1)),
                     0.0)
    np.testing.assert_allclose(lr.internal_fluxes["qup"][active], depth, rtol=1e-5, atol=1e-9)
