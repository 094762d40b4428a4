"""The control vector on its own: transforms, bounds, names and order, the hybrid net's place.

Everything is checked against numbers computed here from the definitions (smash's keep / normalize /
sbs transforms, column-major cell order, the registry's bounds) on the synthetic catchment.
"""

import numpy as np
import pytest

import smash
from smash.calibration.control import Control, sbs_kinds
from smash.registry import registry

BOUNDED = [("rr_parameters", name) for name in registry()["parameters"]] + \
          [("rr_initial_states", name) for name in registry()["states"]]


def _model(**setup_changes):
    setup, mesh = smash.factory.load_dataset("synthetic")
    setup = dict(setup, end_time="2020-02-15 00:00", **setup_changes)
    return smash.Model(setup, mesh)


@pytest.fixture(scope="module")
def model():
    return _model()


def _inside(low, high, n=41):
    """n values spread strictly inside (low, high), both ends nearly reached."""
    return low + (high - low) * np.linspace(1e-6, 1 - 1e-6, n)


def _expected_sbs(raw, low, high):
    if low >= 0 and high <= 1:
        return np.log(raw / (1 - raw))
    if low >= 0:
        return np.log(raw)
    return np.arcsinh(raw)


@pytest.mark.parametrize("kind,name", BOUNDED, ids=[n for _, n in BOUNDED])
@pytest.mark.parametrize("tfm", ["keep", "normalize", "sbs"])
def test_transform_round_trips_over_the_registry_bounds(kind, name, tfm):
    low, high = registry()["parameters" if kind == "rr_parameters" else "states"][name]["bounds"]
    raw = _inside(float(low), float(high))
    n = raw.size
    # One name per row (uniform mapping: one column), so the vector holds every value once.
    control = Control(None, "uniform", [name] * n, [kind] * n, np.full(n, float(low)), np.full(n, float(high)), tfm)
    x = control.to_x(raw[:, None])
    expected = {"keep": raw, "normalize": (raw - low) / (high - low), "sbs": _expected_sbs(raw, low, high)}[tfm]
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-12)
    back = control.to_raw(x).ravel()
    np.testing.assert_allclose(back, raw, rtol=1e-9, atol=1e-12 * max(abs(low), abs(high)))
    # The derivative of the inverse transform, against a central difference.
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    numeric = (control.to_raw(x + h).ravel() - control.to_raw(x - h).ravel()) / (2 * h)
    np.testing.assert_allclose(control.d_raw_d_x(x).ravel(), numeric, rtol=1e-5)


@pytest.mark.parametrize("low,high,kind", [
    (1e-6, 0.999999, "logit"), (0.0, 1.0, "logit"), (1e-3, 1.0, "logit"), (0.5, 1.0, "logit"),
    (0.0, 1.0000001, "log"), (1e-6, 1000.0, "log"), (0.0, 0.5, "logit"),
    (-50.0, 50.0, "asinh"), (-1000.0, 0.0, "asinh"), (-1e-9, 0.5, "asinh"),
])
def test_sbs_kind_follows_the_bounds(low, high, kind):
    """logit when the bounds lie in [0, 1] (both ends included), log when only non-negative, asinh else."""
    assert sbs_kinds(np.array([low]), np.array([high])).tolist() == [kind]


def test_sbs_bounds_of_a_level_state_are_its_logits(model):
    """A state stored as a fraction (hp, bounds inside (0, 1]) is a logit control; its bounds in x are the
    logits of its raw bounds."""
    low, high = 0.05, 0.95
    model = model.copy()
    model.set_rr_initial_states("hp", 0.3)
    info = smash.optimize_control_info(model, optimizer="sbs", optimize_options={
        "parameters": ["hp"], "bounds": {"hp": (low, high)}, "control_tfm": "sbs"})
    np.testing.assert_allclose(info["l"], [np.log(low / (1 - low))], rtol=1e-12)
    np.testing.assert_allclose(info["u"], [np.log(high / (1 - high))], rtol=1e-12)
    np.testing.assert_allclose(info["l_raw"], [low])
    raw = float(model.get_rr_initial_states("hp")[model.mesh.active_cell == 1].mean())
    np.testing.assert_allclose(info["x"], [np.log(raw / (1 - raw))], rtol=1e-12)


@pytest.mark.parametrize("bounds,words", [
    ({"cp": (500.0, 100.0)}, ["'cp'", "lower < upper"]),
    ({"cp": (100.0, 100.0)}, ["'cp'", "lower < upper"]),
    ({"cp": (300.0, 900.0)}, ["'cp'", "current values"]),   # the default cp (200) lies outside
    ({"cp": (1.0,)}, ["'cp'", "two numbers"]),
    ({"cp": (1.0, np.inf)}, ["'cp'", "finite"]),
    ({"hp": (-0.5, 0.5)}, ["'hp'", "feasible"]),
    ({"nope": (0.0, 1.0)}, ["nope"]),
])
def test_bad_bounds_are_errors_naming_the_name(model, bounds, words):
    parameters = ["cp", "hp"] if "nope" not in bounds else ["cp"]
    with pytest.raises(ValueError) as error:
        smash.optimize_control_info(model, optimizer="lbfgsb", optimize_options={
            "parameters": parameters, "bounds": bounds, "control_tfm": "normalize"})
    for word in words:
        assert word in str(error.value)


def test_unknown_and_fixed_names_are_refused(model):
    with pytest.raises(ValueError, match="'ci'"):
        smash.optimize_control_info(model, optimize_options={"parameters": ["ci", "cp"]})
    with pytest.raises(ValueError, match="'bkw'"):
        smash.optimize_control_info(model, optimize_options={"parameters": ["bkw"]})


def test_distributed_controls_are_named_and_ordered_column_major(model):
    """Parameters first in the model's key order (whatever order asked), then states; each over the active
    cells taken column by column, named `name-ROW-COL` (1-based)."""
    m = model.copy()
    rng = np.random.default_rng(3)
    m.set_rr_parameters("cp", rng.uniform(100, 900, (m.mesh.nrow, m.mesh.ncol)))
    m.set_rr_parameters("kexc", rng.uniform(-5, 5, (m.mesh.nrow, m.mesh.ncol)))
    m.set_rr_initial_states("ht", rng.uniform(0.1, 0.9, (m.mesh.nrow, m.mesh.ncol)))
    info = smash.optimize_control_info(m, mapping="distributed", optimizer="lbfgsb", optimize_options={
        "parameters": ["ht", "kexc", "cp"], "control_tfm": "keep"})
    # Independent construction: transpose, so that np.nonzero walks columns first.
    cols, rows = np.nonzero(np.asarray(m.mesh.active_cell).T == 1)
    assert rows.size == m.mesh.nac
    names, raw = [], []
    for name, getter in (("cp", m.get_rr_parameters), ("kexc", m.get_rr_parameters),
                         ("ht", m.get_rr_initial_states)):
        names += [f"{name}-{r + 1}-{c + 1}" for r, c in zip(rows, cols, strict=True)]
        raw.append(getter(name)[rows, cols])
    assert info["name"].tolist() == names
    np.testing.assert_array_equal(info["x"], np.concatenate(raw))
    assert info["n"] == 3 * m.mesh.nac
    assert info["nbk"][:2].tolist() == [2 * m.mesh.nac, m.mesh.nac]
    np.testing.assert_array_equal(info["l_raw"][:m.mesh.nac], np.full(m.mesh.nac, registry()["parameters"]["cp"]
                                                                      ["bounds"][0]))
    assert set(info["nbd"].tolist()) == {2}


@pytest.mark.parametrize("tfm,optimizer", [("keep", "lbfgsb"), ("normalize", "lbfgsb")])
def test_setting_the_distributed_vector_back_is_the_identity_and_places_each_value(model, tfm, optimizer):
    m = model.copy()
    options = {"parameters": ["cp", "ht"], "control_tfm": tfm}
    info = smash.optimize_control_info(m, mapping="distributed", optimizer=optimizer, optimize_options=options)
    before_cp, before_ht = m.get_rr_parameters("cp"), m.get_rr_initial_states("ht")
    m.set_control_optimize(info["x"], mapping="distributed", optimizer=optimizer, optimize_options=options)
    np.testing.assert_allclose(m.get_rr_parameters("cp"), before_cp, rtol=1e-12)
    np.testing.assert_allclose(m.get_rr_initial_states("ht"), before_ht, rtol=1e-12)
    # One value changed in x lands on that cell only, as its name says.
    k = 7
    row, col = (int(v) - 1 for v in info["name"][k].split("-")[1:])
    x = info["x"].copy()
    new_raw = 321.0
    x[k] = new_raw if tfm == "keep" else (new_raw - info["l_raw"][k]) / (info["u_raw"][k] - info["l_raw"][k])
    m.set_control_optimize(x, mapping="distributed", optimizer=optimizer, optimize_options=options)
    after = m.get_rr_parameters("cp")
    assert after[row, col] == pytest.approx(new_raw, rel=1e-12)
    changed = np.argwhere(after != before_cp)
    assert changed.tolist() == [[row, col]]


def test_uniform_control_is_the_mean_over_active_cells(model):
    m = model.copy()
    m.set_rr_parameters("ct", np.linspace(50, 800, m.mesh.nrow * m.mesh.ncol).reshape(m.mesh.nrow, m.mesh.ncol))
    info = smash.optimize_control_info(m, optimizer="sbs", optimize_options={"parameters": ["ct"],
                                                                             "control_tfm": "keep"})
    active = np.asarray(m.mesh.active_cell) == 1
    assert info["name"].tolist() == ["ct-0"]
    np.testing.assert_allclose(info["x"], [m.get_rr_parameters("ct")[active].mean()], rtol=1e-12)


def test_hybrid_net_arrays_follow_the_rr_block_column_major():
    m = _model(hydrological_module="gr4_mlp", hidden_neuron=3)
    rng = np.random.default_rng(5)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in m.get_nn_parameters_weight()]
    biases = [rng.normal(size=b.shape).astype(np.float32) for b in m.get_nn_parameters_bias()]
    m.set_nn_parameters_weight(weights)
    m.set_nn_parameters_bias(biases)
    # Asked in another order: smash orders rr parameters, then weight_1, bias_1, weight_2, bias_2.
    options = {"parameters": ["bias_2", "weight_2", "cp", "bias_1", "weight_1"], "control_tfm": "normalize"}
    info = smash.optimize_control_info(m, optimizer="adam", optimize_options=options)
    names, values = ["cp-0"], []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True), start=1):
        names += [f"weight_{layer}-{r + 1}-{c + 1}" for c in range(w.shape[1]) for r in range(w.shape[0])]
        names += [f"bias_{layer}-{r + 1}" for r in range(b.size)]
        values += [w.ravel(order="F"), b]
    nn = np.concatenate(values).astype(np.float64)
    assert info["name"].tolist() == names
    np.testing.assert_array_equal(info["x"][1:], nn)
    assert info["nbk"].tolist() == [1, 0, 0, 0, nn.size, 0]
    assert np.all(np.isneginf(info["l"][1:])) and np.all(np.isposinf(info["u"][1:]))
    assert info["nbd"].tolist() == [2] + [0] * nn.size
    # Written back: a new vector puts each value where its name says.
    x = info["x"].copy()
    x[1:] = np.arange(nn.size, dtype=np.float64) / 10
    m.set_control_optimize(x, optimizer="adam", optimize_options=options)
    offset = 0
    for layer, w in enumerate(m.get_nn_parameters_weight(), start=1):
        expected = x[1 + offset:1 + offset + w.size].reshape(w.shape, order="F")
        np.testing.assert_allclose(w, expected, rtol=1e-6)
        offset += w.size + m.get_nn_parameters_bias()[layer - 1].size
