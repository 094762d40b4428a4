"""Learnable regionalization (mapping="ann"): a Net maps physical descriptors to parameter maps.

The net reads the descriptors as the setup transforms them (`normalized_descriptors`;
smash 1.3 feeds its net the same transformed descriptors, measured for each
descriptor_tfm): per pixel for a dense-first net (input (nac, nd)), or the
whole map for a conv-first net (input (nrow, ncol, nd), output (nrow*ncol,
nparams)). Its outputs, scaled to the bounds, become the distributed rr
parameters and initial states; the cost gradient with respect to those maps
comes from the generated adjoint and is back-propagated through the net.

The control vector of mapping="ann" is the net's weights and biases, in smash
1.x's order and names (`ann_control_vector`, `ann_control_names`).
"""

from __future__ import annotations

import warnings

import numpy as np

from smash.nn.adaptive import BestIterate
from smash.nn.net import Net
from smash.progress import iterate_line


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


def default_hidden_sizes(nd: int, n_out: int, nrow: int, ncol: int) -> list[int]:
    """Neurons of smash 1.3's default net: 3 nd, round(sqrt(nd n_out) ln(nrow ncol)), 3 n_out, n_out.

    Measured with hydro-smash 1.3 (optimize_control_info on Lez, Cance and two
    other grids, nd 1-6, 1-7 outputs: tests/anchor_refs/Net/default_net.json).
    """
    middle = int(round(np.sqrt(nd * n_out) * np.log(nrow * ncol)))
    return [3 * nd, middle, 3 * n_out, n_out]


def default_net(model, bounds: list[tuple[float, float]]):
    """smash 1.3's default net for `model`'s descriptors and the given output bounds.

    Three ReLU dense layers, a TanH output layer and a scaling onto `bounds`;
    glorot_uniform weights, zero biases (drawn when training starts).
    """

    nd = model.physio_data.descriptor.shape[-1]
    if nd == 0:
        raise ValueError("mapping='ann' needs physical descriptors: set setup['read_descriptor'] = True "
                         "and setup['descriptor_name']")
    sizes = default_hidden_sizes(nd, len(bounds), model.mesh.nrow, model.mesh.ncol)
    net = Net()
    net.add_dense(sizes[0], input_shape=nd, activation="relu")
    net.add_dense(sizes[1], activation="relu")
    net.add_dense(sizes[2], activation="relu")
    net.add_dense(sizes[3], activation="tanh")
    net.add_scale(bounds)
    return net


def _is_conv(net) -> bool:
    return net.layers[0].layer_name() == "Conv2D"


def ann_control_names(net) -> list[str]:
    """smash 1.x names of the ann control vector: `reg_weight_L-i-j`, `reg_bias_L-i`.

    L is the layer's 1-based position in `net.layers` (activations counted), i the
    output neuron (or filter), j the input; weights run column-major over (i, j).
    """
    names = []
    for pos, layer in enumerate(net.layers, start=1):
        if not hasattr(layer, "weight_shape"):
            continue
        n_out, n_in = layer.weight_shape
        names += [f"reg_weight_{pos}-{i}-{j}" for j in range(1, n_in + 1) for i in range(1, n_out + 1)]
        names += [f"reg_bias_{pos}-{i}" for i in range(1, n_out + 1)]
    return names


def ann_control_vector(net) -> np.ndarray:
    """The net's weights and biases as smash 1.x's ann control vector (layer by layer, weights
    column-major, then biases)."""
    parts = []
    for w, b in zip(net.get_weight(), net.get_bias(), strict=True):
        if w is None or b is None:
            raise ValueError("the net's weights are not initialised yet")
        parts += [w.ravel(order="F"), b.ravel()]
    return np.concatenate(parts) if parts else np.zeros(0)


def check_net(net, model, names, bounds):
    """Clear errors when the net's input or output does not fit the descriptors and parameters.

    Returns the bounds of the net's outputs: those of its Scale layer when it has one. A
    Scale layer whose bounds differ from `bounds` wins, with a UserWarning (smash 1.3's rule).
    """

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
    scale = [layer for layer in net.layers if layer.layer_name().startswith("Scale")]
    if not scale:
        return [tuple(b) for b in bounds]
    low, high = np.asarray(scale[-1].lower, dtype=float), np.asarray(scale[-1].upper, dtype=float)
    want = np.asarray(bounds, dtype=float)
    for name, lo, hi, (wlo, whi) in zip(names, low, high, want, strict=True):
        if not (np.isclose(lo, wlo) and np.isclose(hi, whi)):
            warnings.warn(f"the net's Scale layer bounds ({lo}, {hi}) for {name} differ from the optimize bounds "
                          f"({wlo}, {whi}): the Scale layer's are used", UserWarning, stacklevel=4)
    return list(zip(low.tolist(), high.tolist(), strict=True))


def prepare_net(net, model, names, bounds, random_state):
    """The net `mapping="ann"` trains: a copy of the user's (or smash's default) with its missing
    weights and biases drawn from `random_state` as smash 1.3 draws them; and the bounds of its
    outputs (see check_net)."""
    import copy

    net = default_net(model, bounds) if net is None else copy.deepcopy(net)
    out_bounds = check_net(net, model, names, bounds)
    net._initialize(random_state)
    return net, out_bounds


def _net_cost(problem, model, net):
    """The net's maps and cost: `final_maps()` gives the raw maps (dropout off); `evaluate()` gives J at
    the net's weights and smash's |proj g|, leaving the gradient in the layers, or None when not finite."""
    control = problem.control
    nparams, nac = len(control.names), control.ncell
    cells = model.network
    desc = normalized_descriptors(model)
    conv = _is_conv(net)
    x_in = desc if conv else desc[cells.rows, cells.cols]
    flat_cells = cells.rows * model.mesh.ncol + cells.cols

    def maps_of(y):
        y = y[flat_cells] if conv else y
        return np.clip(y.T, control.lower[:, None], control.upper[:, None])

    def final_maps():
        return maps_of(net._forward(x_in, training=False))

    def evaluate():
        # smash 1.3 reports max |dJ/d(input descriptors)| as |proj g| (measured).
        y = net._forward(x_in, training=True)
        j, g = problem.cost_grad(maps_of(y).ravel())
        if not (np.isfinite(j) and np.all(np.isfinite(g)) and np.all(np.isfinite(y))):
            return None
        dy = np.zeros_like(y)
        if conv:
            dy[flat_cells] = g.reshape(nparams, nac).T
        else:
            dy[...] = g.reshape(nparams, nac).T
        d_input = net._backward(dy)
        return j, float(np.abs(d_input).max()) if d_input.size else 0.0

    return final_maps, evaluate


def train_ann(problem, model, net, options, log):
    """Train `net` (initialised) so that its maps minimise the cost, as smash 1.3 trains it.

    `problem` evaluates cost and dJ/d(raw maps) of a distributed, untransformed
    control over the net's outputs. Iterate 0 evaluates the starting weights;
    each of the `maxiter` iterations then takes one optimizer step and
    evaluates the new weights (`net.history` records iterates 1, 2, ...). The
    result is the last iterate, or with `early_stopping` = p > 0 the best
    iterate once p iterations in a row did not improve on it. A non-finite
    cost or gradient (a diverging step) is never taken: the last finite
    weights are restored and the learning rate halved, so training cannot end
    in NaN. Returns the raw maps of the result, the costs of iterates 0 to the
    result, their gradient norms and the stop reason.
    """
    crit = options["termination_crit"]
    maxiter, patience = int(crit["maxiter"]), int(crit.get("early_stopping") or 0)
    lr = float(options["learning_rate"])
    net._compile(optimizer=options["optimizer"], learning_rate=lr, random_state=options.get("random_state"))
    final_maps, evaluate = _net_cost(problem, model, net)
    net.history["loss_train"].clear()
    net.history["proj_grad"].clear()
    first = evaluate()
    if first is None:
        raise ValueError("mapping='ann': the cost or its gradient is not finite at the starting weights of the net")
    j, gnorm = first
    costs, projg = [j], [gnorm]
    log(iterate_line(0, problem.nfg, j, projg=projg[0]), 0, j)
    last_good = net._snapshot()
    best = BestIterate(patience)
    result_it = 0
    reason = "TOTAL NO. OF ITERATIONS REACHED LIMIT"
    for it in range(1, maxiter + 1):
        net._update()
        evaluated = evaluate()
        if evaluated is None:
            net._restore(last_good)
            lr /= 2
            net._compile(optimizer=options["optimizer"], learning_rate=lr, random_state=options.get("random_state"))
            log(f"    At iterate {it:>5}    non-finite cost or gradient: step undone, learning rate -> {lr:.3e}")
            continue
        last_good = net._snapshot()
        j, gnorm = evaluated
        costs.append(j)
        projg.append(gnorm)
        result_it = len(costs) - 1
        net.history["loss_train"].append(j)
        net.history["proj_grad"].append(gnorm)
        log(iterate_line(it, problem.nfg, j, projg=gnorm), it, j)
        if patience and best.offer(result_it, j, last_good):
            reason = f"EARLY STOPPING: NO IMPROVEMENT FOR {patience} CONSECUTIVE ITERATIONS"
            log(f"    Revert to iteration {best.iterate} with J = {best.cost:.5e} due to early stopping")
            net._restore(best.value)
            result_it = best.iterate
            break
    raw = final_maps()
    # The model ends with the result's maps and its outputs (dropout off).
    costs, projg = costs[:result_it + 1], projg[:result_it + 1]
    costs[-1] = problem.cost(raw.ravel())
    return raw.ravel(), costs, projg, reason
