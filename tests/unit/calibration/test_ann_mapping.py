"""mapping="ann" against hydro-smash 1.3 on Cance gr4-lr (tests/anchor_refs/Cance/ann-*.npz and
tests/anchor_refs/Net/default_net.json, made by tools/anchor_refs/make_ann.py).

The control vector is the net's weights and biases (443 on Cance's default net) in smash's
order and names; smash's default net, its seeded draws and a 10-iteration adam calibration
from the same committed weights give smash's control vector (measured max difference
2.5e-6) and discharge (1e-3 m3/s; smash computes in float32).
"""

import json
import warnings

import numpy as np
import pytest

import smash
from smash.nn.regionalization import default_hidden_sizes

from helpers import ANCHOR_REFS

ANCHOR = ANCHOR_REFS


def _ref(name):
    return np.load(ANCHOR / "Cance" / name)


def _cance(tfm):
    setup, mesh = smash.factory.load_dataset("Cance")
    try:
        return smash.Model(dict(setup, descriptor_tfm=tfm), mesh)
    except ValueError as exc:
        if "descriptor_tfm" not in str(exc):
            raise
    # Before setup['descriptor_tfm'] exists the net reads min-max descriptors: smash's "normalize".
    if tfm != "normalize":
        pytest.skip("setup['descriptor_tfm'] is not implemented on this branch: only smash's 'normalize' applies")
    return smash.Model(setup, mesh)


@pytest.fixture(scope="module")
def cance_normalize(data_dir):
    return _cance("normalize")


def _start_net(model, ref, n_layers=4):
    net = smash.default_optimize_options(model, mapping="ann")["net"]
    net.set_weight([ref[f"init_weight_{i}"] for i in range(n_layers)])
    net.set_bias([ref[f"init_bias_{i}"] for i in range(n_layers)])
    return net


def test_default_net_sizes_as_smash():
    rows = json.loads((ANCHOR / "Net" / "default_net.json").read_text())
    assert len(rows) == 18
    for row in rows:
        sizes = default_hidden_sizes(row["nd"], row["nout"], row["nrow"], row["ncol"])
        assert sizes == row["dense_sizes"], row
        n_params = sum((a + 1) * b for a, b in zip([row["nd"], *sizes[:-1]], sizes, strict=True))
        assert n_params == row["n"], row


def test_default_options_and_control_info_as_smash(cance_normalize):
    model, ref = cance_normalize, _ref("ann-zero-gr4-lr-normalize.npz")
    options = smash.default_optimize_options(model, mapping="ann")
    assert list(options) == ["parameters", "bounds", "net", "learning_rate", "random_state", "termination_crit"]
    assert options["parameters"] == ref["default_parameters"].tolist()
    np.testing.assert_array_equal([options["bounds"][p] for p in options["parameters"]], ref["default_bounds"])
    assert options["learning_rate"] == ref["default_learning_rate"] and options["random_state"] is None
    assert options["termination_crit"] == {"maxiter": 200, "early_stopping": 0}
    assert repr(options["net"]) == str(ref["default_net_repr"])
    info = smash.optimize_control_info(model, mapping="ann", optimize_options={"random_state": 11})
    assert sorted(info) == sorted(k[len("info_"):] for k in ref.files if k.startswith("info_"))
    assert info["n"] == ref["info_n"] == 443
    assert info["name"].tolist() == ref["info_name"].tolist()
    # smash's seeded draw of its default net, hence the same starting point.
    np.testing.assert_allclose(info["x"], ref["info_x"], rtol=1e-14, atol=0)
    np.testing.assert_allclose(info["x_raw"], ref["info_x_raw"], rtol=1e-14, atol=0)
    for key in ("l", "u", "l_raw", "u_raw", "nbd", "nbk"):
        np.testing.assert_array_equal(info[key], ref[f"info_{key}"], err_msg=key)


@pytest.mark.parametrize("tfm", ["normalize", "standardize"])
def test_ann_calibration_matches_smash(data_dir, tfm):
    ref = _ref(f"ann-zero-gr4-lr-{tfm}.npz")
    model = _cance(tfm)
    net = _start_net(model, ref)
    new, res = smash.optimize(model, mapping="ann", optimize_options={"net": net, "termination_crit": {"maxiter": 10}},
                              return_options={"control_vector": True, "net": True, "cost": True, "n_iter": True,
                                              "projg": True, "jobs": True}, common_options={"verbose": False})
    assert res.control_vector.shape == (443,)
    assert np.abs(res.control_vector - ref["control_vector"]).max() < 1e-3
    np.testing.assert_allclose(res.control_vector, ref["control_vector"], rtol=0, atol=2e-5)
    assert np.abs(new.response.q - ref["q"]).max() < 0.1
    assert res.n_iter == ref["n_iter"] == 10
    assert res.cost == pytest.approx(float(ref["cost"]), rel=1e-5)
    assert res.jobs == pytest.approx(float(ref["jobs"]), rel=1e-5)
    # smash's history: J and |proj g| = max |dJ/d(descriptors)| at iterates 1..10.
    np.testing.assert_allclose(res.net.history["loss_train"], ref["loss_train"], rtol=1e-5)
    np.testing.assert_allclose(res.net.history["proj_grad"], ref["proj_grad"], rtol=1e-3)
    assert res.projg == pytest.approx(float(ref["projg"]), rel=1e-3)
    # The user's net is left as given.
    np.testing.assert_array_equal(net.get_weight()[0], ref["user_net_weight_0_after"])


def test_cnn_calibration_matches_smash(cance_normalize):
    ref = _ref("ann-cnn-zero-gr4-lr-normalize.npz")
    model = cance_normalize
    bounds = smash.default_optimize_options(model, mapping="ann")["bounds"]
    net = smash.factory.Net()
    net.add_conv2d(4, filter_shape=(2, 3), input_shape=model.physio_data.descriptor.shape, activation="relu")
    net.add_flatten()
    net.add_dense(4, activation="tanh")
    net.add_scale(list(bounds.values()))
    net.set_weight(random_state=int(ref["seed"]))   # the same draws as smash's
    net.set_bias(random_state=int(ref["seed"]))
    for i in range(2):
        np.testing.assert_allclose(net.get_weight()[i], ref[f"init_weight_{i}"], rtol=1e-14)
    info = smash.optimize_control_info(model, mapping="ann", optimize_options={"net": net})
    assert info["name"].tolist() == ref["info_name"].tolist()
    np.testing.assert_allclose(info["x"], ref["info_x"], rtol=1e-14)
    new, res = smash.optimize(model, mapping="ann", optimize_options={"net": net, "termination_crit": {"maxiter": 5}},
                              return_options={"control_vector": True, "net": True}, common_options={"verbose": False})
    assert np.abs(res.control_vector - ref["control_vector"]).max() < 1e-3
    assert np.abs(new.response.q - ref["q"]).max() < 0.1
    np.testing.assert_allclose(res.net.history["loss_train"], ref["loss_train"], rtol=1e-5)
    np.testing.assert_allclose(res.net.history["proj_grad"], ref["proj_grad"], rtol=1e-3)


def test_early_stopping_reverts_to_the_best_iterate(cance_normalize):
    """With early_stopping = p the result is the best iterate once p iterations in a row did not
    improve on it (smash's 'Revert to iteration k'); without it, the last iterate."""
    model, ref = cance_normalize, _ref("ann-zero-gr4-lr-normalize.npz")
    net = _start_net(model, ref)
    options = {"net": net, "learning_rate": 0.3, "termination_crit": {"maxiter": 8}}
    ret = {"net": True, "cost": True, "n_iter": True, "control_vector": True}
    quiet = {"verbose": False}
    _, last = smash.optimize(model, mapping="ann", optimize_options=options, return_options=ret, common_options=quiet)
    history = last.net.history["loss_train"]
    assert last.n_iter == 8 and last.cost == pytest.approx(history[-1], rel=1e-12)
    options["termination_crit"] = {"maxiter": 8, "early_stopping": 2}
    new, best = smash.optimize(model, mapping="ann", optimize_options=options, return_options=ret,
                               common_options=quiet)
    loss = best.net.history["loss_train"]
    k = int(np.argmin(loss))
    assert len(loss) == k + 3 and best.n_iter == k + 1 < 8   # stopped 2 iterations after the best
    assert best.cost == pytest.approx(loss[k], rel=1e-9)
    assert new.forward_run(return_options={"cost": True}).cost == pytest.approx(loss[k], rel=1e-9)


@pytest.mark.parametrize("label", ["scale", "noscale"])
def test_scale_layer_bounds_win_with_a_warning_as_in_smash(cance_normalize, label):
    """A Scale layer whose bounds differ from the optimize bounds is used as it is, with a warning per
    parameter (smash 1.3 warns and ignores the optimize bounds); a net without Scale layer works too."""
    model, ref = cance_normalize, _ref("ann-scale-bounds-normalize.npz")
    net = smash.factory.Net()
    net.add_dense(4, input_shape=2, activation="tanh" if label == "scale" else "relu")
    if label == "scale":
        net.add_scale(ref["scale_bounds"].tolist())
    net.set_weight([ref[f"{label}_init_weight"]])
    net.set_bias([0.5])
    options = {"net": net, "termination_crit": {"maxiter": 1}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new, res = smash.optimize(model, mapping="ann", optimize_options=options,
                                  return_options={"control_vector": True}, common_options={"verbose": False})
    warned = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(warned) == len(ref[f"{label}_warnings"]) == (4 if label == "scale" else 0)
    assert all(name in text for name, text in zip(["cp", "ct", "kexc", "llr"], warned, strict=False))
    np.testing.assert_allclose(res.control_vector, ref[f"{label}_control_vector"], rtol=0, atol=1e-5)
    active = ref["active_cell"] == 1
    keys = ref["rr_parameters_keys"].tolist()
    for name in ("cp", "ct", "kexc", "llr"):
        ours = new.get_rr_parameters(name)[active]
        theirs = ref[f"{label}_rr_parameters_values"][..., keys.index(name)][active]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5, err_msg=name)

