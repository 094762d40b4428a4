"""The structure registry (structures.yaml) on its own: every record consistent, and a Model built with a
structure reports exactly what the registry lists for it."""

import functools

import numpy as np
import pytest

import smash
from smash.registry import FAMILIES, Structure, feasible_violation, metric_names, module_id, module_names, registry

# Units an internal flux may have (structures.yaml: depths over the cell during the step, or discharges).
FLUX_UNITS = ("mm", "m3/s")
FEASIBLE_RULES = (">0", ">=0", "[0,1]", "(0,1)", "any")


def _modules():
    return [(family, name, rec) for family in FAMILIES for name, rec in registry()["modules"][family].items()]


def _table(kind):
    return registry()["parameters" if kind == "parameters" else "states"]


@pytest.mark.parametrize("kind", ["parameters", "states"])
def test_every_record_has_a_default_inside_its_bounds_and_feasible_bounds(kind):
    for name, rec in _table(kind).items():
        assert rec["feasible"] in FEASIBLE_RULES, name
        low, high = (float(v) for v in rec["bounds"])
        assert low < high, name
        # Calibration bounds lie where the equations are defined, and so does the default.
        assert feasible_violation(name, np.array([low, high])) is None, name
        default = float(rec["default"])
        for dt in (900.0, 3600.0, 86400.0):
            value = default * dt / 3600.0 if rec.get("per_hour") else default
            if kind == "parameters":
                assert smash.registry.parameter_default(name, dt) == pytest.approx(value, rel=1e-15)
            assert low <= value <= high, (name, dt, value, (low, high))
            assert feasible_violation(name, np.array([value])) is None, name
        assert rec.get("unit") is not None and rec.get("description"), name


def test_parameter_and_state_names_do_not_clash():
    assert not set(_table("parameters")) & set(_table("states"))


@pytest.mark.parametrize("family,name,rec", _modules(), ids=[f"{f}-{n}" for f, n, _ in _modules()])
def test_module_record_names_are_known_and_unique(family, name, rec):
    for key, table in (("parameters", _table("parameters")), ("states", _table("states")),
                       ("fluxes", registry()["fluxes"])):
        names = list(rec[key])
        assert len(names) == len(set(names)), f"{family}.{name}: repeated {key}"
        unknown = [n for n in names if n not in table]
        assert not unknown, f"{family}.{name}: {key} {unknown} have no record"
    for flux in rec["fluxes"]:
        unit = rec.get("flux_units", {}).get(flux, registry()["fluxes"][flux]["unit"])
        assert unit in FLUX_UNITS, f"{family}.{name}: flux {flux} in unknown unit {unit!r}"
    assert set(rec.get("flux_units", {})) <= set(rec["fluxes"])
    assert module_names(family)[module_id(family, name) - 1] == name
    if "nn" in rec:
        inputs, outputs = rec["nn"]["inputs"], rec["nn"]["outputs"]
        assert inputs and outputs and len(set(inputs)) == len(inputs) and len(set(outputs)) == len(outputs)
        # The net reads states of this module and the neutralised forcings.
        assert set(inputs) <= set(rec["states"]) | {"pn", "en"}, name


def test_flux_and_metric_tables():
    for name, rec in registry()["fluxes"].items():
        assert rec["unit"] in FLUX_UNITS, name
    metrics = metric_names()
    assert len(metrics) == len(set(metrics))
    used = {f for _, _, rec in _modules() for f in rec["fluxes"]}
    assert used == set(registry()["fluxes"]), "a flux record no module uses, or the reverse"


def test_no_structure_repeats_a_name():
    for snow in module_names("snow"):
        for hydro in module_names("hydrological"):
            for routing in module_names("routing"):
                s = Structure(snow, hydro, routing)
                for names in (s.rr_parameters, s.rr_states, s.fluxes):
                    assert len(names) == len(set(names)), s.name


def test_an_unknown_module_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'gr9'"):
        Structure("zero", "gr9", "lr")


@functools.cache
def _synthetic():
    return smash.factory.load_dataset("synthetic")


def _model(snow, hydro, routing, **extra):
    setup, mesh = _synthetic()
    setup = dict(setup, end_time="2020-01-06 00:00", snow_module=snow, hydrological_module=hydro,
                 routing_module=routing, **extra)
    return smash.Model(setup, mesh)


STRUCTURES = sorted({("zero", h, "lr") for h in module_names("hydrological")}
                    | {("zero", "gr4", r) for r in module_names("routing")}
                    | {(s, "gr5", "kw") for s in module_names("snow")})


@pytest.mark.parametrize("snow,hydro,routing", STRUCTURES, ids=["-".join(s) for s in STRUCTURES])
def test_a_model_reports_what_the_registry_lists(snow, hydro, routing):
    records = [registry()["modules"][f][n] for f, n in zip(FAMILIES, (snow, hydro, routing), strict=True)]
    parameters = [p for rec in records for p in rec["parameters"]]
    states = [s for rec in records for s in rec["states"]]
    fluxes = [f for rec in records for f in rec["fluxes"]]
    model = _model(snow, hydro, routing)
    assert model.rr_parameters.keys.tolist() == parameters
    assert model.rr_initial_states.keys.tolist() == states
    assert model.rr_parameters.values.shape == (model.mesh.nrow, model.mesh.ncol, len(parameters))
    active = np.asarray(model.mesh.active_cell) == 1
    dt = float(model.setup.dt)
    for name in parameters:
        if name == "ci":
            continue   # set from the data by adjust_interception (tests/unit/simulation/test_adjust_interception.py)
        expected = float(np.float64(_table("parameters")[name]["default"])) * (
            dt / 3600.0 if _table("parameters")[name].get("per_hour") else 1.0)
        np.testing.assert_allclose(model.get_rr_parameters(name)[active], expected, rtol=1e-15, err_msg=name)
    for name in states:
        np.testing.assert_allclose(model.get_rr_initial_states(name)[active], float(_table("states")[name]["default"]),
                                   rtol=1e-15, err_msg=name)
    assert model.get_rr_parameters_bounds() == {p: tuple(map(float, _table("parameters")[p]["bounds"]))
                                                for p in parameters}
    assert model.get_rr_initial_states_bounds() == {s: tuple(map(float, _table("states")[s]["bounds"]))
                                                    for s in states}
    out = model.forward_run(return_options={"internal_fluxes": True}, common_options={"verbose": False})
    assert list(out.internal_fluxes) == fluxes
    for name, grid in out.internal_fluxes.items():
        assert grid.shape == (model.mesh.nrow, model.mesh.ncol, model.setup.ntime_step), name


HYBRIDS = [h for h in module_names("hydrological") if "nn" in registry()["modules"]["hydrological"][h]]


@pytest.mark.parametrize("hidden", [4, (3, 2)], ids=["one-hidden", "two-hidden"])
@pytest.mark.parametrize("hydro", HYBRIDS)
def test_hybrid_net_sizes_come_from_the_registry(hydro, hidden):
    nn = registry()["modules"]["hydrological"][hydro]["nn"]
    n_in, n_out = len(nn["inputs"]), len(nn["outputs"])
    model = _model("zero", hydro, "lr", hidden_neuron=hidden)
    sizes = [n_in, *np.atleast_1d(hidden).tolist(), n_out]
    expected = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    assert [w.shape for w in model.get_nn_parameters_weight()] == expected
    assert [b.shape for b in model.get_nn_parameters_bias()] == [(o,) for o, _ in expected]
    info = smash.optimize_control_info(model, optimizer="adam", optimize_options={
        "parameters": [f"{k}_{i}" for i in range(1, len(expected) + 1) for k in ("weight", "bias")]})
    assert info["n"] == sum(o * (i + 1) for o, i in expected)


def test_conceptual_structures_have_no_net():
    model = _model("zero", "gr4", "lr")
    with pytest.raises(ValueError, match="no neural"):
        model.get_nn_parameters_weight()
