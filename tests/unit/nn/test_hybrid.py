"""Hybrid structures (*_mlp, gr4_ode_mlp / gr4_ude): parity with smash 1.3 on
Lez with the stored non-zero nets, equality with the parent structure at
zero weights, the net's sizes and the user-facing errors.

The Lez references were made by smash 1.3 in float32 with hidden_neuron=12;
the same 1e-4 relative L2 criterion as the conceptual structures applies.
"""

import functools

import numpy as np
import pytest

import smash
from smash.registry import Structure, module_names

HYBRIDS = [m for m in module_names("hydrological") if Structure("zero", m, "lr").is_hybrid]
# Reference files use smash 1.3's name of the neural-ODE hybrid.
REFERENCE_NAME = {"gr4_ode_mlp": "gr4_ude"}
PARENT = {"gr4_ode_mlp": "gr4_ode", "gr4_ri_mlp_exc": "gr4_ri", "gr5_ri_mlp_exc": "gr5_ri"}


@functools.cache
def _lez(data_dir):
    return smash.factory.load_dataset("Lez", path=data_dir)


def _synthetic(hydro, **extra):
    setup, mesh = smash.factory.load_dataset("synthetic")
    setup = dict(setup, hydrological_module=hydro, **extra)
    return smash.Model(setup, mesh)


def test_every_hybrid_is_listed():
    assert sorted(HYBRIDS) == sorted(["gr4_mlp", "gr5_mlp", "gr6_mlp", "grc_mlp", "grd_mlp", "loieau_mlp",
                                      "gr4_ri_mlp_exc", "gr5_ri_mlp_exc", "gr4_ode_mlp"])


@pytest.mark.parametrize("hydro", HYBRIDS)
def test_lez_hybrid_matches_smash_13(data_dir, reference_dir, hydro):
    ref = np.load(reference_dir / "Lez" / f"zero-{REFERENCE_NAME.get(hydro, hydro)}-lr.npz")
    setup, mesh = _lez(data_dir)
    setup = dict(setup, hydrological_module=REFERENCE_NAME.get(hydro, hydro), hidden_neuron=int(ref["hidden_neuron"]))
    model = smash.Model(setup, mesh)
    # The name the user gave is kept (smash 1.3 spells gr4_ode_mlp "gr4_ude").
    assert model.setup.hydrological_module == REFERENCE_NAME.get(hydro, hydro)
    assert model.setup.structure == f"zero-{REFERENCE_NAME.get(hydro, hydro)}-lr"
    assert model.structure.hydrological == hydro
    shapes = [w.shape for w in model.get_nn_parameters_weight()]
    assert shapes == [ref["nn_weight_1"].shape, ref["nn_weight_2"].shape]
    model.set_nn_parameters_weight([ref["nn_weight_1"], ref["nn_weight_2"]])
    model.set_nn_parameters_bias([ref["nn_bias_1"], ref["nn_bias_2"]])
    model.forward_run()
    q, qref = model.response.q.astype(float), ref["q"].astype(float)
    rel = np.linalg.norm(q - qref, axis=1) / np.linalg.norm(qref, axis=1)
    assert rel.max() < 1e-4
    if hydro.endswith("_mlp_exc"):
        return  # exchange-only net: kexc defaults to 0 on Lez, so the net cannot matter there
    # The net matters: the parent structure is far from this reference.
    parent = smash.Model(dict(setup, hydrological_module=PARENT.get(hydro, hydro.removesuffix("_mlp"))), mesh)
    parent.forward_run()
    rel_parent = np.linalg.norm(parent.response.q - qref, axis=1) / np.linalg.norm(qref, axis=1)
    assert rel_parent.max() > 100 * rel.max()


@pytest.mark.parametrize("hydro", HYBRIDS)
def test_zero_net_hybrid_equals_parent(hydro):
    model = _synthetic(hydro, hidden_neuron=(6, 5))
    parent = _synthetic(PARENT.get(hydro, hydro.removesuffix("_mlp")))
    if "kexc" in model.rr_parameters.keys:
        # A non-zero exchange, so that the exchange correction matters too.
        for m in (model, parent):
            m.set_rr_parameters("kexc", -1.0)
    model.forward_run()
    parent.forward_run()
    assert np.array_equal(model.response.q, parent.response.q)
    # ... and a non-zero net changes the discharge.
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
    model.set_nn_parameters_bias(initializer="uniform", random_state=2)
    model.forward_run()
    assert np.abs(model.response.q - parent.response.q).max() > 1e-3 * np.abs(parent.response.q).max()


def test_net_sizes_follow_registry_and_hidden_neuron():
    model = _synthetic("gr6_mlp", hidden_neuron=(7, 3))
    assert [w.shape for w in model.get_nn_parameters_weight()] == [(7, 5), (3, 7), (5, 3)]
    assert [b.shape for b in model.get_nn_parameters_bias()] == [(7,), (3,), (5,)]
    model = _synthetic("gr4_ri_mlp_exc", hidden_neuron=4)
    assert [w.shape for w in model.get_nn_parameters_weight()] == [(4, 4), (1, 4)]
    assert all(np.all(w == 0) for w in model.get_nn_parameters_weight())


def test_initializers_follow_their_laws_and_seed():
    model = _synthetic("gr4_mlp", hidden_neuron=(64, 32))
    model.set_nn_parameters_weight(initializer="he_uniform", random_state=23)
    w = model.get_nn_parameters_weight()
    # Same draws as numpy's legacy seeding, layer after layer (smash 1.3's convention).
    np.random.seed(23)
    expected = [np.random.uniform(-np.sqrt(6 / n_in), np.sqrt(6 / n_in), (n_out, n_in)).astype(np.float32)
                for n_out, n_in in [(64, 4), (32, 64), (4, 32)]]
    for a, b in zip(w, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    model.set_nn_parameters_weight(initializer="glorot_normal", random_state=0)
    w2 = model.get_nn_parameters_weight()[1]
    assert w2.std() == pytest.approx(np.sqrt(2 / (64 + 32)), rel=0.1)
    model.set_nn_parameters_weight(initializer="he_normal", random_state=0)
    assert model.get_nn_parameters_weight()[1].std() == pytest.approx(np.sqrt(2 / 64), rel=0.1)
    model.set_nn_parameters_bias(initializer="uniform", random_state=5)
    b = model.get_nn_parameters_bias()[0]
    assert b.min() >= -1 and b.max() <= 1 and b.std() > 0.4
    model.set_nn_parameters_bias(initializer="zeros")
    assert all(np.all(b == 0) for b in model.get_nn_parameters_bias())


def test_copy_keeps_the_net():
    model = _synthetic("gr4_mlp", hidden_neuron=5)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
    other = model.copy()
    model.forward_run()
    other.forward_run()
    assert np.array_equal(model.response.q, other.response.q)
    other.set_nn_parameters_weight(initializer="zeros")
    np.testing.assert_array_equal(model.get_nn_parameters_weight()[0] != 0, True)


def test_hybrid_errors():
    with pytest.raises(ValueError, match="3 hidden layers"):
        _synthetic("gr4_mlp", hidden_neuron=(4, 4, 4))
    with pytest.raises(TypeError, match="hidden_neuron"):
        _synthetic("gr4_mlp", hidden_neuron=2.5)
    with pytest.raises(ValueError, match="no neural network"):
        _synthetic("gr4").get_nn_parameters_weight()
    model = _synthetic("gr4_mlp", hidden_neuron=5)
    with pytest.raises(ValueError, match=r"weight_2 must have shape \(4, 5\)"):
        model.set_nn_parameters_weight([np.zeros((5, 4)), np.zeros((5, 5))])
    with pytest.raises(ValueError, match="needs 2 arrays"):
        model.set_nn_parameters_bias([np.zeros(5)])
    with pytest.raises(ValueError, match="Unknown initializer 'xavier'"):
        model.set_nn_parameters_weight(initializer="xavier")
    with pytest.raises(ValueError, match="NaN"):
        model.set_nn_parameters_bias([np.full(5, np.nan), np.zeros(4)])
