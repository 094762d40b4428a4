"""smash.factory.Net: backward pass against finite differences, Conv2D against a direct loop,
the scale layer, optimizers, freezing, and errors. float64 throughout: central differences
with eps = 1e-6 agree with the analytic gradient to ~1e-8 relative on smooth paths; a
pre-activation within eps of a ReLU-type kink costs up to ~1e-5, hence rel=2e-5."""

import numpy as np
import pytest

import smash
from smash.factory.net_layers import ACTIVATIONS


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
    top, left = (fh - 1) // 2, (fw - 1) // 2
    expected = np.zeros((6, 5, 4))
    for r in range(6):
        for c in range(5):
            for i in range(fh):
                for j in range(fw):
                    rr, cc = r + i - top, c + j - left
                    if 0 <= rr < 6 and 0 <= cc < 5:
                        expected[r, c] += x[rr, cc] @ layer.weight[i, j]
            expected[r, c] += layer.bias[0]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_scale_maps_activation_range_onto_bounds():
    net = smash.factory.Net()
    net.add_dense(2, input_shape=1, activation="tanh")
    net.add_scale([(-50, 50), (1e-6, 1000.0)])
    net.set_weight([np.zeros((1, 2))])
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
    net.set_trainable([False, True])
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
    with pytest.raises(ValueError, match="not initialised yet"):
        net.get_weight()
    with pytest.raises(ValueError, match=r"weight of layer 1 \(Dense\) must have shape \(5, 4\)"):
        net.set_weight([np.zeros((3, 5)), np.zeros((4, 5))])
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
    assert len(opt.net.history["loss_train"]) == 21 and opt.net is not net
    # The model holds the best net's maps: its cost is the best loss.
    cost = new.forward_run(return_options={"cost": True}).cost
    assert cost == pytest.approx(min(opt.net.history["loss_train"]), rel=1e-9)
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
