"""Positions from the registry: every flux lands under the name structures.yaml gives it.

The Fortran operators index parameters, states and fluxes by constants that fortran/gen_registry.py
writes from the registry. These tests check (1) the constants against the registry order, (2) that no
operator still spells a position as a number, and (3) on a synthetic catchment, that each flux the
core reports under a name has the value that name's equation gives, computed here in numpy from the
operator's equations and the step's forcings, parameters and states: a flux written in the wrong
column, or a registry reordered without the operator, shows up as a wrong value under some name.
"""

import importlib.util
import re

import numpy as np
import pytest

import smash
from smash.registry import registry

from helpers import REPO_ROOT, line_mesh

ROOT = REPO_ROOT
DT = 86400.0
AREA = 1000.0 * 1000.0   # line_mesh cells: 1 km x 1 km
# Cell 0 wet (rain above PET), cell 1 dry (PET above rain), cell 2 wet and drained by cell 1.
PRCP = np.array([30.0, 0.5, 12.0])
PET = np.array([2.0, 4.0, 1.0])
# Values chosen so that the fluxes of a step differ from each other.
PARAMETERS = {"ci": 3.0, "cp": 250.0, "ct": 90.0, "cl": 400.0, "kexc": 2.0, "aexc": 0.3, "be": 8.0,
              "alpha1": 3.0e-4, "alpha2": 1.0e-3, "ca": 220.0, "cc": 80.0, "kb": 1.5, "kmlt": 2.0, "llr": 600.0}
STATES = {"hi": 0.4, "hp": 0.55, "ht": 0.45, "hl": 0.35, "he": -5.0, "ha": 0.5, "hc": 0.4, "hs": 20.0,
          "hcl": 0.5, "husl": 0.3, "hmsl": 0.4, "hbsl": 0.6}
SNOW, TEMP = 5.0, 3.0
RTOL = 2e-6   # the core reports fluxes in float32


def _generator():
    spec = importlib.util.spec_from_file_location("gen_registry", ROOT / "fortran" / "gen_registry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Lists of a module record, and the infix and count name of their constants (fortran/gen_registry.py).
RECORD_KINDS = (("parameters", "P", "NP"), ("states", "S", "NS"), ("fluxes", "FX", "NFX"))


def test_generated_constants_follow_the_registry_order():
    text = _generator().render(registry())
    constants = {m[1]: int(m[2]) for m in re.finditer(r"integer, parameter :: (\w+) = (-?\d+)", text)}
    checked = 0
    for family in registry()["modules"].values():
        for module, record in family.items():
            if not any(record.get(k) for k in ("parameters", "states", "fluxes")):
                continue
            kinds = [(record.get(key) or [], infix, count) for key, infix, count in RECORD_KINDS]
            if "nn" in record:
                kinds += [(record["nn"]["inputs"], "IN", "NIN"), (record["nn"]["outputs"], "OUT", "NOUT")]
            for names, infix, count in kinds:
                assert constants[f"{module.upper()}_{count}"] == len(names)
                for position, name in enumerate(names, start=1):
                    assert constants[f"{module.upper()}_{infix}_{name.upper()}"] == position, (module, name)
                    checked += 1
    assert checked > 350


# A position written as a number: fx(10), cell_fx(k, 14), p(2), h(k, 1), p(ik + 1). Slices from 1
# (fx(1:nfx)) are whole blocks, not positions.
LITERAL_POSITION = re.compile(r"\b(fx|cell_fx|ode_fx|fluxes|p|h)\(\s*(k\s*,\s*)?(\d+\s*[,)]|ik\b)", re.IGNORECASE)


def test_no_literal_positions_left_in_the_operators():
    sources = sorted((ROOT / "fortran" / "operators").glob("*.f90")) + [ROOT / "fortran" / "core" / "forward.f90"]
    hits = []
    for path in sources:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("!")[0]
            if LITERAL_POSITION.search(code):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "positions spelled as numbers (use the md_registry constants):\n" + "\n".join(hits)


def test_the_literal_position_pattern_finds_literal_positions():
    for code in ("fx(10) = qr", "cell_fx(14)", "q = h(k, 1)", "lexc = p(ik + 1)", "output%fluxes(k, 1, slot)"):
        assert LITERAL_POSITION.search(code), code
    for code in ("fx(1:nfx) = 0._rk", "p(GR4_P_CT)", "h(k, 1:nh)", "f(1)"):
        assert not LITERAL_POSITION.search(code), code


# ---- the operators' equations, for the first step of a cell (fp = fe = fc = fl = 0: no net)

def gr_interception(prcp, pet, ci, hi):
    ei = np.minimum(pet, prcp + hi * ci)
    pn = np.maximum(0.0, prcp - ci * (1.0 - hi) - ei)
    return ei, pn, pet - ei


def plain_interception(prcp, pet):
    ei = np.minimum(pet, prcp)
    return ei, np.maximum(0.0, prcp - ei), pet - ei


def inv_beta():
    return 1.0 / (2.25 * (86400.0 / DT) ** 0.25)


def gr_production(pn, en, cp, hp, ib):
    tpn, ten = np.tanh(pn / cp), np.tanh(en / cp)
    ps = np.where(pn > 0, np.minimum(pn, cp * (1 - hp**2) * tpn / (1 + hp * tpn)), 0.0)
    es = np.where(en > 0, np.minimum(en, hp * cp * (2 - hp) * ten / (1 + (1 - hp) * ten)), 0.0)
    hp_star = hp + (ps - es) / cp
    perc = (hp_star - hp_star / (1 + (hp_star * ib) ** 4) ** 0.25) * cp if ib > 0 else 0.0 * hp_star
    return np.where(pn > 0, pn - ps, 0.0), perc, ps, es


def gr_ri_production(pn, en, cp, hp, ib, alpha1):
    gam = 1 - np.exp(-pn * alpha1)
    lam = np.sqrt(1 - gam)
    tpn, ten = np.tanh(lam * pn / cp), np.tanh(en / cp)
    ps = cp / lam * tpn * (1 - (lam * hp) ** 2) / (1 + lam * hp * tpn) - gam * DT
    es = hp * cp * (2 - hp) * ten / (1 + (1 - hp) * ten)
    hp_star = hp + (ps - es) / cp
    perc = (hp_star - hp_star / (1 + (hp_star * ib) ** 4) ** 0.25) * cp
    return np.where(pn > 0, pn - ps, 0.0), perc, ps, es


def transfer(n, inflow, c, h):
    h_star = np.maximum(0.0, h + inflow / c)
    return (h_star - h_star / (1 + h_star ** (n - 1)) ** (1.0 / (n - 1))) * c


def exponential_store(inflow, be, he):
    h_star = he + inflow
    return be * np.log1p(np.exp(h_star / be))


def expected_gr(hydro, prcp, pet, p, h):
    """Fluxes (mm) of the first step of the GR-family structure `hydro` (hybrids with zero weights)."""
    parent = hydro.replace("_mlp_exc", "").replace("_mlp", "")
    ib = inv_beta()
    if parent in ("grd", "loieau"):
        ei, pn, en = plain_interception(prcp, pet)
    else:
        ei, pn, en = gr_interception(prcp, pet, p["ci"], h["hi"])
    if parent == "loieau":
        pr, perc, ps, es = gr_production(pn, en, p["ca"], h["ha"], ib)
        prr = 0.9 * (pr + perc)
        prd = pr + perc - prr
        qr, qd = transfer(4, prr, p["cc"], h["hc"]), np.maximum(0.0, prd)
        return dict(ei=ei, pn=pn, en=en, pr=pr, perc=perc, ps=ps, es=es, prr=prr, prd=prd, qr=qr, qd=qd,
                    qt=p["kb"] * (qr + qd))
    if parent == "grd":
        pr, perc, ps, es = gr_production(pn, en, p["cp"], h["hp"], 0.0)
        prr = pr + perc
        qr = transfer(5, prr, p["ct"], h["ht"])
        return dict(ei=ei, pn=pn, en=en, pr=pr, perc=perc, ps=ps, es=es, prr=prr, qr=qr, qt=qr)
    ht = h["ht"]
    if parent in ("gr6", "grc"):
        pr, perc, ps, es = gr_production(pn, en, p["cp"], h["hp"], ib if parent == "gr6" else 0.0)
        lexc = p["kexc"] * (ht - p["aexc"]) if parent == "gr6" else p["kexc"] * ht**3.5
        routed = 0.9 * (pr + perc)
        prr, prd = 0.6 * routed + lexc, pr + perc - routed
        qr, qd = transfer(5, prr, p["ct"], ht), np.maximum(0.0, prd + lexc)
        out = dict(pn=pn, en=en, pr=pr, perc=perc, ps=ps, es=es, lexc=lexc, prr=prr, prd=prd, qr=qr, qd=qd)
        if parent == "gr6":
            pre = 0.4 * routed + lexc
            qe = exponential_store(pre, p["be"], h["he"])
            return dict(out, pre=pre, qe=qe, qt=qr + qd + qe)
        prl = 0.4 * routed
        ql = transfer(5, prl, p["cl"], h["hl"])
        return dict(out, prl=prl, ql=ql, qt=qr + qd + ql)
    # gr4, gr5 and their rainfall-intensity variants
    if "_ri" in parent:
        pr, perc, ps, es = gr_ri_production(pn, en, p["cp"], h["hp"], ib, p["alpha1"])
        split = 0.9 * np.tanh(p["alpha2"] * pn) ** 2 + 0.1
    else:
        pr, perc, ps, es = gr_production(pn, en, p["cp"], h["hp"], ib)
        split = 0.1
    lexc = p["kexc"] * (ht - p["aexc"]) if parent.startswith("gr5") else p["kexc"] * ht**3.5
    prr, prd = (1 - split) * (pr + perc) + lexc, split * (pr + perc)
    qr, qd = transfer(5, prr, p["ct"], ht), np.maximum(0.0, prd + lexc)
    return dict(pn=pn, en=en, pr=pr, perc=perc, ps=ps, es=es, lexc=lexc, prr=prr, prd=prd, qr=qr, qd=qd, qt=qr + qd)


def _run(snow, hydro, routing):
    setup = {"start_time": "2020-01-01", "end_time": "2020-01-03", "dt": DT, "snow_module": snow,
             "hydrological_module": hydro, "routing_module": routing, "adjust_interception": False}
    model = smash.Model(setup, line_mesh(3))
    nt = model.setup.ntime_step
    model.atmos_data.prcp = np.repeat(PRCP[None, :, None], nt, axis=2).astype(np.float32)
    model.atmos_data.pet = np.repeat(PET[None, :, None], nt, axis=2).astype(np.float32)
    if snow == "ssn":
        model.atmos_data.snow = np.full((1, 3, nt), SNOW, dtype=np.float32)
        model.atmos_data.temp = np.full((1, 3, nt), TEMP, dtype=np.float32)
    for key in map(str, model.rr_parameters.keys):
        if key in PARAMETERS:
            model.set_rr_parameters(key, PARAMETERS[key])
    for key in map(str, model.rr_initial_states.keys):
        if key in STATES:
            model.set_rr_initial_states(key, STATES[key])
    ret = model.forward_run(return_options={"internal_fluxes": True, "q_domain": True, "rr_states": True})
    fluxes = {name: np.asarray(v, dtype=np.float64)[0, :, 0] for name, v in ret.internal_fluxes.items()}
    states = {str(k): np.asarray(ret.rr_states[0].values, dtype=np.float64)[0, :, i]
              for i, k in enumerate(ret.rr_states[0].keys)}
    # model parameters as the core holds them (float32 maps): the same numbers the equations use
    params = {str(k): float(np.asarray(model.get_rr_parameters(str(k)), dtype=np.float64)[0, 0])
              for k in model.rr_parameters.keys}
    initial = {str(k): float(np.asarray(model.get_rr_initial_states(str(k)), dtype=np.float64)[0, 0])
               for k in model.rr_initial_states.keys}
    return model, fluxes, states, np.asarray(ret.q_domain, dtype=np.float64)[0, :, 0], params, initial


def _to_reported(hydro, mm):
    """Fluxes of `hydro` computed in mm over the cell, in the units the output reports them (registry)."""
    own = registry()["modules"]["hydrological"][hydro].get("flux_units", {})
    units = {name: own.get(name, registry()["fluxes"][name]["unit"]) for name in mm}
    return {name: value * (AREA * 1e-3 / DT if units[name] == "m3/s" else 1.0) for name, value in mm.items()}


def _check(fluxes, expected, context):
    assert set(expected) <= set(fluxes), (context, sorted(set(expected) - set(fluxes)))
    for name, value in expected.items():
        np.testing.assert_allclose(fluxes[name], value, rtol=RTOL, atol=1e-9, err_msg=f"{context}: flux {name}")


GR_FAMILY = [name for name in registry()["modules"]["hydrological"] if name not in ("vic3l", "gr4_ode", "gr4_ode_mlp")]


# Fluxes that the structure's own equations make equal (a swap of these cannot change any output).
EQUAL_BY_EQUATION = {"grd": {("pr", "prr")}, "loieau": {("prd", "qd")}}


@pytest.mark.parametrize("hydro", GR_FAMILY)
def test_gr_family_fluxes_land_under_their_names(hydro):
    model, fluxes, _, _, p, h = _run("zero", hydro, "lag0")
    expected = expected_gr(hydro, PRCP, PET, p, h)
    listed = registry()["modules"]["hydrological"][hydro]["fluxes"]
    assert set(expected) == set(listed), "the test's equations miss some flux of the registry"
    # the values are pairwise distinct in some cell: a swap of two columns cannot go unnoticed
    reported = _to_reported(hydro, expected)
    values = {name: np.broadcast_to(value, PRCP.shape) for name, value in reported.items()}
    alike = {(a, b) for a in values for b in values if a < b and np.all(np.abs(values[a] - values[b]) < 1e-3)}
    parent = hydro.replace("_mlp_exc", "").replace("_mlp", "")
    assert alike <= EQUAL_BY_EQUATION.get(parent, set()), f"{hydro}: fluxes alike in every cell: {alike}"
    _check(fluxes, reported, hydro)


@pytest.mark.parametrize("hydro", ["gr4_ode", "gr4_ode_mlp"])
def test_gr4_ode_fluxes_land_under_their_names(hydro):
    model, fluxes, states, _, p, h = _run("zero", hydro, "lag0")
    _, pn, en = gr_interception(PRCP, PET, p["ci"], h["hi"])
    hp, ht = states["hp"], states["ht"]   # levels after the step's implicit Euler
    lexc = p["kexc"] * ht**3.5
    qt = 0.1 * hp * hp * pn + lexc + 0.25 * p["ct"] * ht**5
    _check(fluxes, _to_reported(hydro, dict(pn=pn, en=en, lexc=lexc, qt=qt)), hydro)


def test_vic3l_fluxes_land_under_their_names():
    model, fluxes, _, _, _, h = _run("zero", "vic3l", "lag0")
    hcl = h["hcl"]
    ec = np.minimum(PET * hcl ** (2.0 / 3.0), PRCP + hcl)
    pn = np.maximum(0.0, PRCP - (1.0 - hcl) - ec)
    _check(fluxes, dict(pn=pn, en=PET - ec), "vic3l")
    # the dry cell has no net rainfall, hence no surface runoff: its outflow is all baseflow
    assert pn[1] == 0 and fluxes["qr"][1] == 0 and fluxes["qb"][1] > 0
    np.testing.assert_allclose(fluxes["qt"], (fluxes["qr"] + fluxes["qb"]) * AREA * 1e-3 / DT, rtol=RTOL)


def test_snow_melt_lands_under_its_name():
    _, fluxes, _, _, p, h = _run("ssn", "gr4", "lag0")
    mlt = np.minimum(h["hs"] + SNOW, p["kmlt"] * TEMP)
    _check(fluxes, dict(mlt=np.full(3, mlt)), "ssn")
    # melt joins the rain before interception
    _check(fluxes, _to_reported("gr4", expected_gr("gr4", PRCP + mlt, PET, p, h)), "ssn-gr4")


@pytest.mark.parametrize("routing", ["lag0", "lr", "kw"])
def test_routing_inflow_lands_under_its_name(routing):
    _, fluxes, _, q, p, h = _run("zero", "gr4", routing)
    (name,) = registry()["modules"]["routing"][routing]["fluxes"]
    unit = registry()["modules"]["routing"][routing].get("flux_units", {}).get(name, "m3/s")
    # line_mesh: cell k drains into cell k + 1
    inflow = np.array([0.0, q[0], q[1]])
    if unit == "mm":
        inflow = np.array([0.0, q[0] * DT / (1e-3 * AREA), q[1] * DT / (1e-3 * 2 * AREA)])
    _check(fluxes, {name: inflow}, routing)
    # and the hydrological fluxes still sit under their own names with a routing block after them
    _check(fluxes, _to_reported("gr4", expected_gr("gr4", PRCP, PET, p, h)), f"gr4-{routing}")
