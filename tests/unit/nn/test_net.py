"""smash.factory.Net: backward pass against finite differences, Conv2D against a direct loop,
the scale layer, optimizers, freezing, and errors. float64 throughout: central differences
with eps = 1e-6 agree with the analytic gradient to ~1e-8 relative on smooth paths; a
pre-activation within eps of a ReLU-type kink costs up to ~1e-5, hence rel=2e-5.

The public API against hydro-smash 1.3 (tests/anchor_refs/Net/net_api.*, made by
tools/anchor_refs/make_ann.py): layer names and shapes, weight layouts (dense
(neurons, inputs), Conv2D (filters, channels * fh * fw)), seeded draws of every
initializer, set_bias / set_weight scalars, forward_pass values, reprs.
"""

import json

import numpy as np
import pytest

import smash
from smash.nn.layers import ACTIVATIONS

from helpers import ANCHOR_REFS

NET_REFS = ANCHOR_REFS / "Net"


def _mlp(nd=3, activation="relu"):
    net = smash.factory.Net()
    net.add_dense(5, input_shape=nd, activation=activation)
    net.add_dense(4, activation="tanh")
    net.add_scale([(0, 1), (-2, 3), (1e-6, 1000.0), (10, 20)])
    return net


def _cnn(shape=(5, 4, 3), filt=(2, 2)):
    net = smash.factory.Net()
    net.add_conv2d(3, filter_shape=filt, input_shape=shape, activation="relu")
    net.add_flatten()
    net.add_dense(2, activation="sigmoid")
    net.add_scale([(0, 1), (-1, 1)])
    return net


def _check_backward(net, x, rng):
    net._compile(random_state=0)
    for layer in net._trainable_layers:
        layer.bias = rng.normal(0, 0.3, layer.bias.shape)   # non-zero biases: every path active
    y = net._forward(x)
    r = rng.standard_normal(y.shape)
    dx = net._backward(r)
    grads = [(layer, layer.grad_weight.copy(), layer.grad_bias.copy()) for layer in net._trainable_layers]

    def loss():
        return float(np.sum(net._forward(x) * r))

    eps = 1e-6
    for layer, gw, gb in grads:
        for attr, g in (("weight", gw), ("bias", gb)):
            arr = getattr(layer, attr)
            for idx in [tuple(rng.integers(0, n) for n in arr.shape) for _ in range(5)]:
                old = arr[idx]
                arr[idx] = old + eps
                up = loss()
                arr[idx] = old - eps
                down = loss()
                arr[idx] = old
                assert (up - down) / (2 * eps) == pytest.approx(g[idx], rel=2e-5, abs=1e-8)
    for idx in [tuple(rng.integers(0, n) for n in x.shape) for _ in range(5)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd = (np.sum(net._forward(xp) * r) - np.sum(net._forward(xm) * r)) / (2 * eps)
        assert fd == pytest.approx(dx[idx], rel=2e-5, abs=1e-8)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(1)
    net = _mlp(activation=activation)
    _check_backward(net, rng.uniform(-1, 1, (7, 3)), rng)


@pytest.mark.parametrize("filt", [(2, 2), (3, 3), (4, 3)])
def test_cnn_backward_matches_finite_differences(filt):
    rng = np.random.default_rng(2)
    net = _cnn(filt=filt)
    _check_backward(net, rng.uniform(0, 1, (5, 4, 3)), rng)


@pytest.mark.parametrize("filt", [(2, 2), (3, 3), (4, 4), (1, 3)])
def test_conv2d_same_padding_against_direct_loop(filt):
    rng = np.random.default_rng(3)
    net = smash.factory.Net()
    net.add_conv2d(4, filter_shape=filt, input_shape=(6, 5, 2))
    net._compile(random_state=1)
    layer = net.layers[0]
    layer.bias = rng.standard_normal(layer.bias.shape)
    x = rng.standard_normal((6, 5, 2))
    y = net._forward(x)
    fh, fw = filt
    assert layer.weight.shape == (4, 2 * fh * fw)
    kernel = layer.weight.reshape(4, 2, fh, fw)   # smash's (filter, channel, row, column) order
    top, left = (fh - 1) // 2, (fw - 1) // 2
    expected = np.zeros((6, 5, 4))
    for r in range(6):
        for c in range(5):
            for i in range(fh):
                for j in range(fw):
                    rr, cc = r + i - top, c + j - left
                    if 0 <= rr < 6 and 0 <= cc < 5:
                        expected[r, c] += kernel[:, :, i, j] @ x[rr, cc]
            expected[r, c] += layer.bias[0]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_scale_maps_activation_range_onto_bounds():
    net = smash.factory.Net()
    net.add_dense(2, input_shape=1, activation="tanh")
    net.add_scale([(-50, 50), (1e-6, 1000.0)])
    net.set_weight([np.zeros((2, 1))])
    net.set_bias([np.array([[-40.0, 40.0]])])   # tanh saturates at -1 and +1
    y = net._forward(np.zeros((1, 1)))
    np.testing.assert_allclose(y, [[-50, 1000.0]])


def test_optimizers_first_steps_and_descent():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (50, 2))
    target = x @ np.array([[1.5], [-0.5]]) + 0.3
    for name in ("adam", "sgd", "adagrad", "rmsprop"):
        net = smash.factory.Net()
        net.add_dense(1, input_shape=2)
        lr = 0.1 if name == "adagrad" else 0.01   # adagrad's steps shrink fastest
        net._compile(optimizer=name, learning_rate=lr, random_state=0)
        w0 = net.get_weight()[0]
        losses = []
        for step in range(200):
            y = net._forward(x)
            losses.append(float(np.mean((y - target) ** 2)))
            net._backward(2 * (y - target) / len(x))
            g = net.layers[0].grad_weight.copy()
            net._update()
            if step == 0 and name == "adam":
                np.testing.assert_allclose(net.get_weight()[0] - w0, -lr * np.sign(g), rtol=1e-6)
            if step == 0 and name == "sgd":
                np.testing.assert_allclose(net.get_weight()[0] - w0, -lr * g, rtol=1e-12)
        assert losses[-1] < 0.5 * losses[0], name


def test_trainable_snapshot_and_initializers():
    net = _mlp()
    net._compile(random_state=0)
    net.set_trainable([False, False, True, True, True])   # one flag per layer, as in smash
    w0 = net.get_weight()
    snap = net._snapshot()
    net._forward(np.ones((2, 3)))
    net._backward(np.ones((2, 4)))
    net._update()
    w1 = net.get_weight()
    np.testing.assert_array_equal(w1[0], w0[0])
    assert not np.array_equal(w1[1], w0[1])
    assert "Trainable parameters: 24" in repr(net) and "Total parameters: 44" in repr(net)
    net._restore(snap)
    np.testing.assert_array_equal(net.get_weight()[1], w0[1])
    big = smash.factory.Net()
    big.add_dense(400, input_shape=300, kernel_initializer="he_normal")
    big.add_dense(300, kernel_initializer="glorot_uniform")
    big.set_weight(random_state=3)
    w = big.get_weight()
    assert w[0].std() == pytest.approx(np.sqrt(2 / 300), rel=0.05)
    assert np.abs(w[1]).max() <= np.sqrt(6 / 700) and w[1].std() == pytest.approx(np.sqrt(2 / 700), rel=0.05)
    again = smash.factory.Net()
    again.add_dense(400, input_shape=300, kernel_initializer="he_normal")
    again.add_dense(300, kernel_initializer="glorot_uniform")
    again.set_weight(random_state=3)
    np.testing.assert_array_equal(again.get_weight()[1], w[1])


def test_net_errors():
    net = smash.factory.Net()
    with pytest.raises(ValueError, match="needs input_shape"):
        net.add_dense(3)
    with pytest.raises(ValueError, match="Unknown activation 'relux'"):
        net.add_dense(3, input_shape=2, activation="relux")
    with pytest.raises(ValueError, match="Unknown initializer 'xavier'"):
        smash.factory.Net().add_dense(3, input_shape=2, kernel_initializer="xavier")
    net = smash.factory.Net()
    net.add_dense(2, input_shape=2, activation="relu")
    with pytest.raises(ValueError, match="bounded activation"):
        net.add_scale([(0, 1), (0, 1)])
    net = _mlp()
    assert net.get_weight() == [None, None] and net.get_bias() == [None, None]
    with pytest.raises(ValueError, match=r"weight of layer 1 \(Dense\) must have shape \(4, 5\)"):
        net.set_weight([np.zeros((5, 3)), np.zeros((5, 4))])
    with pytest.raises(ValueError, match="needs 2 values"):
        net.set_bias([0.5])
    with pytest.raises(TypeError, match="number or a numpy array"):
        net.set_bias([0.5, [[1.0, 2.0, 3.0, 4.0]]])
    with pytest.raises(ValueError, match="set_trainable needs 5 booleans"):
        net.set_trainable([True, False])
    with pytest.raises(ValueError, match="not set yet"):
        net.forward_pass(np.ones(3))
    net.set_weight(random_state=0)
    net.set_bias([0.0, 0.0])
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\), the net takes \(3,\)"):
        net.forward_pass(np.ones((2, 3)))
    with pytest.raises(TypeError, match="numpy array"):
        net.forward_pass([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="Unknown optimizer"):
        net._compile(optimizer="lbfgsb")
    with pytest.raises(ValueError, match=r"drop_rate must be in \[0, 1\)"):
        net.add_dropout(1.5)


@pytest.fixture(scope="module")
def synthetic_model():
    setup, mesh = smash.factory.load_dataset("synthetic")
    return smash.Model(setup, mesh)


def test_ann_mapping_trains_and_rejects_mismatched_nets(synthetic_model):
    model = synthetic_model
    problem = {"cp": (1e-6, 1000.0), "ct": (1e-6, 1000.0), "hp": (0, 1)}
    net = smash.factory.Net()
    net.add_dense(8, input_shape=model.setup.nd, activation="relu")
    net.add_dense(3, activation="sigmoid")
    net.add_scale(list(problem.values()))
    options = {"net": net, "learning_rate": 0.01, "random_state": 0, "termination_crit": {"maxiter": 20},
               "parameters": list(problem), "bounds": problem}
    new, opt = smash.optimize(model, mapping="ann", optimize_options=options, common_options={"verbose": False},
                              return_options={"net": True, "iter_cost": True})
    assert opt.iter_cost.min() < opt.iter_cost[0]
    # smash's history: iterates 1..maxiter (iterate 0 is the starting point).
    assert len(opt.net.history["loss_train"]) == 20 and opt.net is not net
    # Without early stopping the model holds the last iterate's maps, as in smash.
    cost = new.forward_run(return_options={"cost": True}).cost
    assert cost == pytest.approx(opt.net.history["loss_train"][-1], rel=1e-9)
    with pytest.raises(ValueError, match="does not match the descriptors"):
        bad = smash.factory.Net()
        bad.add_dense(3, input_shape=5, activation="sigmoid")
        smash.optimize(model, mapping="ann", optimize_options=dict(options, net=bad),
                       common_options={"verbose": False})
    with pytest.raises(ValueError, match="has 3 outputs but"):
        smash.optimize(model, mapping="ann", optimize_options=dict(options, parameters=["cp", "ct"],
                       bounds={"cp": (1e-6, 1000.0), "ct": (1e-6, 1000.0)}), common_options={"verbose": False})


@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_default_ann_net_never_ends_in_nan(synthetic_model, random_state):
    new, opt = smash.optimize(synthetic_model, mapping="ann",
                              optimize_options={"random_state": random_state, "learning_rate": 0.05,
                                                "termination_crit": {"maxiter": 15}},
                              common_options={"verbose": False}, return_options={"iter_cost": True, "net": True})
    assert np.all(np.isfinite(opt.iter_cost))
    assert np.all(np.isfinite(new.rr_parameters.values))


# ---------------------------------------------------------------------------------------------
# The public Net API against hydro-smash 1.3 (numbers in tests/anchor_refs/Net, make_ann.py).

@pytest.fixture(scope="module")
def net_refs():
    return np.load(NET_REFS / "net_api.npz"), json.loads((NET_REFS / "net_api.json").read_text())


def _ref_dense_net():
    net = smash.factory.Net()
    net.add_dense(4, input_shape=3, activation="relu")
    net.add_dense(2, activation="sigmoid")
    net.add_scale([(0, 1), (2, 5)])
    return net


def _ref_conv_net():
    net = smash.factory.Net()
    net.add_conv2d(16, filter_shape=(3, 4), input_shape=(5, 6, 2), activation="relu")
    net.add_conv2d(3, filter_shape=2)
    net.add_flatten()
    net.add_dense(2, activation="tanh")
    net.add_scale([(0, 1), (2, 5)])
    return net


def test_layers_and_reprs_as_smash(net_refs):
    _, info = net_refs
    net = _ref_dense_net()
    assert repr(net) == info["dense_repr"]
    for layer, ref in zip(net.layers, info["dense_layers"], strict=True):
        assert layer.layer_name() == ref["layer_name"]
        assert layer.input_shape == tuple(ref["input_shape"]) and layer.output_shape() == tuple(ref["output_shape"])
        assert layer.n_params() == ref["n_params"] and layer.trainable == ref["trainable"]
        assert all(hasattr(layer, name) for name in ref["attributes"]), ref["attributes"]
    assert net.get_weight() == [None, None]   # smash: None until drawn or set
    conv = _ref_conv_net()
    assert repr(conv) == info["conv_repr"]
    assert [la.layer_name() for la in conv.layers] == [r["layer_name"] for r in info["conv_layers"]]
    assert [la.output_shape() for la in conv.layers] == [tuple(r["output_shape"]) for r in info["conv_layers"]]
    frozen = smash.factory.Net()
    frozen.add_dense(3, input_shape=2, activation="relu")
    frozen.add_dense(1)
    frozen.set_trainable([1, 0, 0])
    assert repr(frozen) == info["set_trainable_repr"]
    assert repr(smash.factory.Net()).splitlines()[1] == "| Layer Type  Input/Output Shape  Num Parameters |"


def test_seeded_draws_and_weight_layouts_as_smash(net_refs):
    ref, _ = net_refs
    net = _ref_dense_net()
    net.set_weight(random_state=0)
    for i, w in enumerate(net.get_weight()):
        np.testing.assert_allclose(w, ref[f"dense_weight_rs0_{i}"], rtol=0, atol=1e-15)
    assert [w.shape for w in net.get_weight()] == [(4, 3), (2, 4)]
    conv = _ref_conv_net()
    conv.set_weight(random_state=0)
    assert [w.shape for w in conv.get_weight()] == [(16, 24), (3, 64), (2, 3)]
    for i, w in enumerate(conv.get_weight()):
        np.testing.assert_allclose(w, ref[f"conv_weight_rs0_{i}"], rtol=0, atol=1e-15)
    for init in ("uniform", "glorot_uniform", "he_uniform", "normal", "glorot_normal", "he_normal", "zeros"):
        net = smash.factory.Net()
        net.add_dense(3, input_shape=2, kernel_initializer=init, bias_initializer=init)
        net.add_dense(2, kernel_initializer=init, bias_initializer=init)
        net.set_weight(random_state=1)
        net.set_bias(random_state=1)
        for i in range(2):
            np.testing.assert_allclose(net.get_weight()[i], ref[f"init_{init}_weight_{i}"], rtol=1e-14, atol=0,
                                       err_msg=init)
            np.testing.assert_allclose(net.get_bias()[i], ref[f"init_{init}_bias_{i}"], rtol=1e-14, atol=0,
                                       err_msg=init)


def test_set_scalars_and_forward_pass_as_smash(net_refs):
    ref, _ = net_refs
    net = _ref_dense_net()
    net.set_weight(random_state=0)
    net.set_bias([0.1, -0.2])   # one number per layer fills its bias
    for i, b in enumerate(net.get_bias()):
        np.testing.assert_array_equal(b, ref[f"dense_bias_scalars_{i}"])
    y = net.forward_pass(ref["dense_x"])
    assert y.shape == ref["dense_y"].shape == (1, 2)
    np.testing.assert_allclose(y, ref["dense_y"], rtol=1e-14)
    net.set_weight([0.1, np.full((2, 4), -0.3)])
    for i, w in enumerate(net.get_weight()):
        np.testing.assert_array_equal(w, ref[f"dense_weight_scalar_{i}"])
    for act in ("relu", "sigmoid", "selu", "elu", "softmax", "leakyrelu", "tanh", "softplus"):
        one = smash.factory.Net()
        one.add_dense(5, input_shape=3, activation=act)
        one.set_weight([ref["act_weight"]])
        one.set_bias([ref["act_bias"]])
        np.testing.assert_allclose(one.forward_pass(ref["act_x"]), ref[f"act_{act}_y"], rtol=1e-13, atol=1e-15,
                                   err_msg=act)
    drop = smash.factory.Net()
    drop.add_dense(5, input_shape=3)
    drop.add_dropout(0.5)
    drop.set_weight([ref["act_weight"]])
    drop.set_bias([ref["act_bias"]])
    # smash drops outputs in forward_pass too, without rescaling the kept ones: each output is 0 or the
    # dense output, in smash's draw (3 of 5 dropped there) as in ours.
    full = ref["act_x"] @ ref["act_weight"].T + ref["act_bias"]
    for y in (ref["dropout_y"], *(drop.forward_pass(ref["act_x"]) for _ in range(20))):
        assert np.all((y == 0) | np.isclose(y, full, rtol=1e-13)) and y.shape == (1, 5)
    assert 20 < sum(int(np.sum(drop.forward_pass(ref["act_x"]) == 0)) for _ in range(20)) < 80
    conv = _ref_conv_net()
    conv.set_weight([ref[f"conv_weight_rs0_{i}"] for i in range(3)])
    conv.set_bias([0.1, -0.1, 0.2])
    y = conv.forward_pass(ref["conv_x"])
    assert y.shape == ref["conv_y"].shape == (30, 2)
    np.testing.assert_allclose(y, ref["conv_y"], rtol=1e-13)
    lone = smash.factory.Net()
    lone.add_conv2d(4, filter_shape=(3, 2), input_shape=(5, 6, 2))
    lone.set_weight([ref["conv1_weight"]])
    lone.set_bias([ref["conv1_bias"]])
    np.testing.assert_allclose(lone.forward_pass(ref["conv_x"]), ref["conv1_y"], rtol=1e-13, atol=1e-14)
