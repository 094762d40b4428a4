"""Learnable regionalization (mapping="ann"): a Net maps physical descriptors to parameter maps.

The net reads the descriptors transformed by setup['descriptor_tfm'] (normalized_descriptors): per
pixel for a dense-first net (input (nac, nd)), or the whole map for a
conv-first net (input (nrow, ncol, nd), output (nrow*ncol, nparams)). Its
outputs, scaled to the bounds, become the distributed rr parameters and
initial states; the cost gradient with respect to those maps comes from the
generated adjoint and is back-propagated through the net.
"""

from __future__ import annotations

import numpy as np

ANN_OPTIMIZERS = ("adam", "sgd", "adagrad", "rmsprop")


def normalized_descriptors(model) -> np.ndarray:
    """Descriptors (nrow, ncol, nd) as they enter the mappings, transformed by setup['descriptor_tfm']:

    - "standardize" (smash 1.3's default): (D - mean) / std,
    - "normalize": (D - min) / (max - min),
    - "keep": D unchanged,

    with the statistics of `model.physio_data` (whole grid, population std). A
    constant descriptor (std or max - min zero) becomes 0 rather than NaN.
    """
    desc = np.asarray(model.physio_data.descriptor, dtype=np.float64)
    if desc.shape[-1] == 0:
        raise ValueError("this mapping needs physical descriptors: set setup['read_descriptor'] = True "
                         "and setup['descriptor_name']")
    pd = model.physio_data
    tfm = getattr(model.setup, "descriptor_tfm", "standardize")
    if tfm == "keep":
        return desc
    if tfm == "normalize":
        low, high = np.asarray(pd.l_descriptor, dtype=np.float64), np.asarray(pd.u_descriptor, dtype=np.float64)
        span = np.where(high > low, high - low, 1.0)
        return (desc - low) / span
    mean, std = np.asarray(pd.mean_descriptor, dtype=np.float64), np.asarray(pd.std_descriptor, dtype=np.float64)
    return (desc - mean) / np.where(std > 0, std, 1.0)


def default_net(nd: int, bounds: list[tuple[float, float]]):
    """A per-pixel MLP sized from the number of descriptors and of outputs."""
    from smash.factory.net import Net

    n_out = len(bounds)
    net = Net()
    net.add_dense(max(16, 4 * nd), input_shape=nd, activation="relu")
    net.add_dense(max(8, 2 * n_out), activation="relu")
    net.add_dense(n_out, activation="sigmoid")
    net.add_scale(bounds)
    return net


def _is_conv(net) -> bool:
    return net.layers[0].layer_name == "Conv2D"


def check_net(net, model, names, bounds):
    """Clear errors when the net's input or output does not fit the descriptors and parameters."""
    from smash.factory.net import Net

    if not isinstance(net, Net):
        raise TypeError(f"optimize_options['net'] must be a smash.factory.Net, not {type(net).__name__}")
    if not net.layers:
        raise ValueError("optimize_options['net'] has no layers")
    nd = model.physio_data.descriptor.shape[-1]
    grid = (model.mesh.nrow, model.mesh.ncol, nd)
    expected_in = grid if _is_conv(net) else (nd,)
    if tuple(net.input_shape) != expected_in:
        raise ValueError(f"the net's input shape {tuple(net.input_shape)} does not match the descriptors: "
                         f"expected {expected_in} ({nd} descriptors {model.setup.descriptor_name})")
    n_out = net.output_shape[-1]
    if n_out != len(names):
        raise ValueError(f"the net has {n_out} outputs but optimize_options['parameters'] lists {len(names)}: "
                         f"{names}")
    scale = [layer for layer in net.layers if layer.layer_name == "Scale"]
    if scale:
        low, high = np.asarray(scale[-1].lower, dtype=float), np.asarray(scale[-1].upper, dtype=float)
        want = np.asarray(bounds, dtype=float)
        if not (np.allclose(low, want[:, 0]) and np.allclose(high, want[:, 1])):
            raise ValueError(f"the net's Scale layer bounds {list(zip(low, high, strict=True))} differ from the "
                             f"optimize bounds {[tuple(b) for b in bounds]} of {names}")


def train_ann(problem, model, net, options, log):
    """Train `net` so that its maps minimise the cost; keep the best weights.

    `problem` evaluates cost and dJ/d(raw maps) of a distributed, untransformed
    control over `names`. A non-finite cost or gradient (a diverging step)
    is never taken: the last finite weights are restored and the learning
    rate halved, so training cannot end in NaN.
    """
    crit = options["termination_crit"]
    maxiter, patience = int(crit["maxiter"]), int(crit.get("early_stopping") or 0)
    lr = float(options["learning_rate"])
    net._compile(optimizer=options["optimizer"], learning_rate=lr, random_state=options.get("random_state"))
    control = problem.control
    nparams, nac = len(control.names), control.ncell
    cells = model._network
    desc = normalized_descriptors(model)
    conv = _is_conv(net)
    x_in = desc if conv else desc[cells.rows, cells.cols]
    flat_cells = cells.rows * model.mesh.ncol + cells.cols

    def maps_of(y):
        y = y[flat_cells] if conv else y
        return np.clip(y.T, control.lower[:, None], control.upper[:, None])

    best_j, best_snap, since_best = np.inf, net._snapshot(), 0
    last_good = net._snapshot()
    costs, projg = [], []
    reason = "TOTAL NO. OF ITERATIONS REACHED LIMIT"
    net.history["loss_train"].clear()
    net.history["proj_grad"].clear()
    for it in range(maxiter + 1):
        y = net._forward(x_in, training=True)
        raw = maps_of(y)
        j, g = problem.cost_grad(raw.ravel())
        g = g.reshape(nparams, nac)
        if not (np.isfinite(j) and np.all(np.isfinite(g)) and np.all(np.isfinite(y))):
            net._restore(last_good)
            lr /= 2
            net._compile(optimizer=options["optimizer"], learning_rate=lr, random_state=options.get("random_state"))
            log(f"    At iterate {it:>5}    non-finite cost or gradient: step undone, learning rate -> {lr:.3e}")
            continue
        last_good = net._snapshot()
        dy = np.zeros_like(y)
        if conv:
            dy[flat_cells] = g.T
        else:
            dy[...] = g.T
        net._backward(dy)
        gnorm = net._gradient_norm()
        costs.append(j)
        projg.append(gnorm)
        net.history["loss_train"].append(j)
        net.history["proj_grad"].append(gnorm)
        log(f"    At iterate {it:>5}    nfg = {problem.nfg:>5}    J = {j:.5e}    |proj g| = {gnorm:.5e}", it, j)
        if j < best_j:
            best_j, best_snap, since_best = j, net._snapshot(), 0
        else:
            since_best += 1
            if patience and since_best >= patience:
                reason = f"EARLY STOPPING: NO IMPROVEMENT FOR {patience} ITERATIONS"
                break
        if it == maxiter:
            break
        net._update()
    net._restore(best_snap)
    raw = maps_of(net._forward(x_in, training=False))
    return raw.ravel(), costs, projg, reason
