"""smash 1.3 reference numbers for smash.factory.Net and mapping="ann" (run with smash 1.3, as a black box).

    /opt/anchor/bin/python tools/anchor_refs/make_ann.py --data /work/shared/datasets

Writes
  Net/net_api.npz               Net layouts, seeded initialisation, set_bias/set_weight scalars, forward_pass
  Net/net_api.json              reprs, layer attributes, error messages
  Cance/ann-zero-gr4-lr-<tfm>.npz   optimize_control_info(mapping="ann") and a 10-iteration calibration
                                    from given weights, for descriptor_tfm standardize and normalize
  Cance/ann-cnn-zero-gr4-lr-normalize.npz   the same for a small CNN (5 iterations)
  Cance/ann-scale-bounds-normalize.npz   Scale bounds other than the optimize bounds; no Scale layer
  Net/default_net.json          hidden sizes of smash's default ann net per (grid, nd, nout)
"""

import argparse
import json
import os
import pathlib
import warnings

import numpy as np

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

# smash 1.3 documents "silu" for add_dense but refuses it (the error is recorded).
ACTIVATIONS = ["relu", "sigmoid", "selu", "elu", "softmax", "leakyrelu", "tanh", "softplus"]
INITIALIZERS = ["uniform", "glorot_uniform", "he_uniform", "normal", "glorot_normal", "he_normal", "zeros"]


def _error(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # the message is what we record
        return f"{type(exc).__name__}: {exc}"
    return None


def _dense_net():
    net = smash.factory.Net()
    net.add_dense(4, input_shape=3, activation="relu")
    net.add_dense(2, activation="sigmoid")
    net.add_scale([(0, 1), (2, 5)])
    return net


def _conv_net():
    net = smash.factory.Net()
    net.add_conv2d(16, filter_shape=(3, 4), input_shape=(5, 6, 2), activation="relu")
    net.add_conv2d(3, filter_shape=2)
    net.add_flatten()
    net.add_dense(2, activation="tanh")
    net.add_scale([(0, 1), (2, 5)])
    return net


def net_api(out):
    arrays, info = {}, {}
    rng = np.random.default_rng(20240601)
    # Dense: seeded weights, scalar biases, forward pass of one input row.
    net = _dense_net()
    info["dense_repr"] = repr(net)
    info["dense_layers"] = [{"layer_name": la.layer_name(), "input_shape": list(la.input_shape),
                             "output_shape": list(la.output_shape()), "n_params": int(la.n_params()),
                             "trainable": bool(la.trainable),
                             "attributes": sorted(k for k in vars(la) if not k.startswith("_"))} for la in net.layers]
    info["get_weight_before_set"] = repr(net.get_weight())
    net.set_weight(random_state=0)
    for i, w in enumerate(net.get_weight()):
        arrays[f"dense_weight_rs0_{i}"] = w
    net.set_bias([0.1, -0.2])
    for i, b in enumerate(net.get_bias()):
        arrays[f"dense_bias_scalars_{i}"] = b
    arrays["dense_x"] = np.array([0.1, 0.2, 0.3])
    arrays["dense_y"] = net.forward_pass(arrays["dense_x"])
    net.set_bias([1, 2])
    info["set_bias_int_dtype"] = str(net.get_bias()[0].dtype)
    info["errors"] = {
        "set_bias_1d": _error(net.set_bias, [0.5, np.array([1.0, 2.0])]),
        "set_bias_count": _error(net.set_bias, [0.5]),
        "set_bias_tuple": _error(net.set_bias, (0.5, 1.0)),
        "set_bias_nested_list": _error(net.set_bias, [0.5, [[1.0, 2.0]]]),
        "set_weight_shape": _error(net.set_weight, [np.zeros((3, 4)), 0.2]),
        "forward_pass_shape": _error(net.forward_pass, np.ones((2, 3))),
        "forward_pass_list": _error(net.forward_pass, [0.1, 0.2, 0.3]),
        "set_trainable_count": _error(net.set_trainable, [0, 1]),
    }
    net.set_weight([0.1, np.full((2, 4), -0.3)])
    for i, w in enumerate(net.get_weight()):
        arrays[f"dense_weight_scalar_{i}"] = w
    empty = smash.factory.Net()
    info["errors"]["forward_pass_empty"] = _error(empty.forward_pass, np.ones(2))
    fresh = smash.factory.Net()
    fresh.add_dense(3, input_shape=2)
    info["errors"]["forward_pass_unset"] = _error(fresh.forward_pass, np.ones(2))
    # set_trainable takes one flag per layer (activations included).
    net = smash.factory.Net()
    net.add_dense(3, input_shape=2, activation="relu")
    net.add_dense(1)
    net.set_trainable([1, 0, 0])
    info["set_trainable_repr"] = repr(net)
    # Initializers: one seeded draw each (weights then biases, separate seeds).
    for init in INITIALIZERS:
        net = smash.factory.Net()
        net.add_dense(3, input_shape=2, kernel_initializer=init, bias_initializer=init)
        net.add_dense(2, kernel_initializer=init, bias_initializer=init)
        net.set_weight(random_state=1)
        net.set_bias(random_state=1)
        for i, (w, b) in enumerate(zip(net.get_weight(), net.get_bias(), strict=True)):
            arrays[f"init_{init}_weight_{i}"] = w
            arrays[f"init_{init}_bias_{i}"] = b
    info["errors"]["silu_activation"] = _error(smash.factory.Net().add_dense, 3, 2, "silu")
    info["errors"]["unknown_initializer"] = _error(smash.factory.Net().add_dense, 3, 2, None, "xavier")
    # Activations: forward pass of a 3 -> 5 dense layer with given weights.
    x = rng.uniform(-2, 2, 3)
    w = rng.normal(0, 1.5, (5, 3))
    b = rng.normal(0, 0.5, (1, 5))
    arrays["act_x"], arrays["act_weight"], arrays["act_bias"] = x, w, b
    for act in ACTIVATIONS:
        net = smash.factory.Net()
        net.add_dense(5, input_shape=3, activation=act)
        net.set_weight([w])
        net.set_bias([b])
        arrays[f"act_{act}_y"] = net.forward_pass(x)
    # Dropout is left out of forward_pass.
    net = smash.factory.Net()
    net.add_dense(5, input_shape=3)
    net.add_dropout(0.5)
    net.set_weight([w])
    net.set_bias([b])
    np.random.seed(0)   # smash draws the dropout mask from numpy's global generator
    arrays["dropout_y"] = net.forward_pass(x)
    # Conv2D layout: (filters, channels * fh * fw), seeded glorot draw, forward pass.
    net = _conv_net()
    info["conv_repr"] = repr(net)
    info["conv_layers"] = [{"layer_name": la.layer_name(), "input_shape": list(la.input_shape),
                            "output_shape": list(la.output_shape()), "n_params": int(la.n_params())}
                           for la in net.layers]
    net.set_weight(random_state=0)
    net.set_bias([0.1, -0.1, 0.2])
    for i, (w, b) in enumerate(zip(net.get_weight(), net.get_bias(), strict=True)):
        arrays[f"conv_weight_rs0_{i}"] = w
        arrays[f"conv_bias_{i}"] = b
    arrays["conv_x"] = rng.uniform(0, 1, (5, 6, 2))
    arrays["conv_y"] = net.forward_pass(arrays["conv_x"])
    # A lone conv layer: the output map itself.
    net = smash.factory.Net()
    net.add_conv2d(4, filter_shape=(3, 2), input_shape=(5, 6, 2))
    arrays["conv1_weight"] = rng.normal(0, 1, (4, 12))
    arrays["conv1_bias"] = rng.normal(0, 1, (1, 4))
    net.set_weight([arrays["conv1_weight"]])
    net.set_bias([arrays["conv1_bias"]])
    arrays["conv1_y"] = net.forward_pass(arrays["conv_x"])
    np.savez(out / "Net" / "net_api.npz", **arrays)
    (out / "Net" / "net_api.json").write_text(json.dumps(info, indent=1) + "\n")


def _hidden_sizes(names):
    sizes = {}
    for name in names:
        if name.startswith("reg_bias_"):
            layer, neuron = name[len("reg_bias_"):].split("-")
            sizes[int(layer)] = max(sizes.get(int(layer), 0), int(neuron))
    return [sizes[k] for k in sorted(sizes)]


def default_nets(data, out):
    rows = []
    allp = ["cp", "ct", "kexc", "llr", "hp", "ht", "hlr"]
    for dataset in ("Lez", "Cance"):
        setup, mesh = smash.factory.load_dataset(dataset)
        names = list(setup["descriptor_name"])
        for nd in range(1, len(names) + 1):
            model = smash.Model(dict(setup, descriptor_name=names[:nd]), mesh)
            for nout in (1, 4, 7) if nd in (1, 2) else (4,):
                info = smash.optimize_control_info(model, mapping="ann", optimize_options={"parameters": allp[:nout]})
                rows.append({"dataset": dataset, "nrow": int(mesh["nrow"]), "ncol": int(mesh["ncol"]),
                             "nac": int(mesh["nac"]), "nd": nd, "nout": nout, "n": int(info["n"]),
                             "dense_sizes": _hidden_sizes(info["name"])})
    # Other grid sizes (no gauges) around Cance, from the national flow directions.
    setup, mesh = smash.factory.load_dataset("Cance")
    flwdir = smash.factory.load_dataset("flwdir")
    for nrow, ncol in ((20, 28), (10, 10)):
        bbox = [mesh["xmin"], mesh["xmin"] + 1000 * ncol, mesh["ymax"] - 1000 * nrow, mesh["ymax"]]
        grid = smash.factory.generate_mesh(flwdir, bbox=bbox)
        model = smash.Model(dict(setup, read_qobs=False, end_time="2014-09-17 00:00"), grid)
        info = smash.optimize_control_info(model, mapping="ann")
        rows.append({"dataset": "Cance-bbox", "nrow": int(grid["nrow"]), "ncol": int(grid["ncol"]),
                     "nac": int(grid["nac"]), "nd": 2, "nout": 4, "n": int(info["n"]),
                     "dense_sizes": _hidden_sizes(info["name"])})
    (out / "Net" / "default_net.json").write_text(json.dumps(rows, indent=1) + "\n")


def cance_ann(out, tfm, maxiter=10, seed=11):
    setup, mesh = smash.factory.load_dataset("Cance")
    model = smash.Model(dict(setup, descriptor_tfm=tfm), mesh)
    arrays = {"descriptor_tfm": tfm, "seed": seed, "maxiter": maxiter, "smash_version": smash.__version__}
    opts = smash.default_optimize_options(model, mapping="ann")
    info = smash.optimize_control_info(model, mapping="ann", optimize_options={"random_state": seed})
    for key, value in info.items():
        arrays[f"info_{key}"] = np.asarray(value)
    arrays["default_parameters"] = np.array(opts["parameters"])
    arrays["default_bounds"] = np.array([opts["bounds"][p] for p in opts["parameters"]], dtype=float)
    arrays["default_learning_rate"] = opts["learning_rate"]
    net = opts["net"]
    net.set_weight(random_state=seed)
    net.set_bias(random_state=seed)
    for i, (w, b) in enumerate(zip(net.get_weight(), net.get_bias(), strict=True)):
        arrays[f"init_weight_{i}"], arrays[f"init_bias_{i}"] = w, b
    arrays["default_net_repr"] = repr(net)
    options = {"net": net, "termination_crit": {"maxiter": maxiter}}
    new, res = smash.optimize(model, mapping="ann", optimize_options=options,
                              return_options={"control_vector": True, "net": True, "cost": True, "n_iter": True,
                                              "projg": True, "jobs": True},
                              common_options={"verbose": False})
    arrays["control_vector"] = res.control_vector
    arrays["cost"], arrays["jobs"], arrays["n_iter"], arrays["projg"] = res.cost, res.jobs, res.n_iter, res.projg
    arrays["loss_train"] = np.array(res.net.history["loss_train"])
    arrays["proj_grad"] = np.array(res.net.history["proj_grad"])
    for i, (w, b) in enumerate(zip(res.net.get_weight(), res.net.get_bias(), strict=True)):
        arrays[f"final_weight_{i}"], arrays[f"final_bias_{i}"] = w, b
    arrays["user_net_weight_0_after"] = net.get_weight()[0]
    arrays["q"] = new.response.q
    arrays["qobs"] = new.response_data.q
    arrays["rr_parameters_keys"] = np.array(new.rr_parameters.keys)
    arrays["rr_parameters_values"] = new.rr_parameters.values
    arrays["active_cell"] = new.mesh.active_cell
    np.savez(out / "Cance" / f"ann-zero-gr4-lr-{tfm}.npz", **arrays)


def cance_cnn(out, maxiter=5, seed=5):
    """A small CNN on Cance (normalize descriptors): control names/order and a short calibration."""
    setup, mesh = smash.factory.load_dataset("Cance")
    model = smash.Model(dict(setup, descriptor_tfm="normalize"), mesh)
    opts = smash.default_optimize_options(model, mapping="ann")
    net = smash.factory.Net()
    net.add_conv2d(4, filter_shape=(2, 3), input_shape=model.physio_data.descriptor.shape, activation="relu")
    net.add_flatten()
    net.add_dense(4, activation="tanh")
    net.add_scale([opts["bounds"][p] for p in opts["parameters"]])
    net.set_weight(random_state=seed)
    net.set_bias(random_state=seed)
    arrays = {"seed": seed, "maxiter": maxiter}
    info = smash.optimize_control_info(model, mapping="ann", optimize_options={"net": net})
    arrays["info_name"], arrays["info_x"] = np.asarray(info["name"]), np.asarray(info["x"])
    for i, (w, b) in enumerate(zip(net.get_weight(), net.get_bias(), strict=True)):
        arrays[f"init_weight_{i}"], arrays[f"init_bias_{i}"] = w, b
    options = {"net": net, "termination_crit": {"maxiter": maxiter}}
    new, res = smash.optimize(model, mapping="ann", optimize_options=options,
                              return_options={"control_vector": True, "net": True, "cost": True},
                              common_options={"verbose": False})
    arrays["control_vector"], arrays["cost"] = res.control_vector, res.cost
    arrays["loss_train"] = np.array(res.net.history["loss_train"])
    arrays["proj_grad"] = np.array(res.net.history["proj_grad"])
    arrays["q"] = new.response.q
    np.savez(out / "Cance" / "ann-cnn-zero-gr4-lr-normalize.npz", **arrays)


def cance_scale_bounds(out):
    """One-layer nets whose Scale bounds differ from the optimize bounds (smash warns and uses the
    Scale layer's), and without a Scale layer: the maps after one adam iteration."""
    setup, mesh = smash.factory.load_dataset("Cance")
    model = smash.Model(dict(setup, descriptor_tfm="normalize"), mesh)
    arrays = {"scale_bounds": np.array([(10, 500), (10, 500), (-5, 5), (1, 100)], dtype=float)}
    for label, activation, bounds in (("scale", "tanh", arrays["scale_bounds"]), ("noscale", "relu", None)):
        net = smash.factory.Net()
        net.add_dense(4, input_shape=2, activation=activation)
        if bounds is not None:
            net.add_scale(bounds.tolist())
        net.set_weight(random_state=0)
        net.set_bias([0.5])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new, res = smash.optimize(model, mapping="ann",
                                      optimize_options={"net": net, "termination_crit": {"maxiter": 1}},
                                      return_options={"net": True, "control_vector": True},
                                      common_options={"verbose": False})
        arrays[f"{label}_warnings"] = np.array([str(w.message) for w in caught if w.category is UserWarning])
        arrays[f"{label}_init_weight"] = net.get_weight()[0]
        arrays[f"{label}_control_vector"] = res.control_vector
        arrays[f"{label}_rr_parameters_values"] = new.rr_parameters.values
    arrays["rr_parameters_keys"] = np.array(new.rr_parameters.keys)
    arrays["active_cell"] = new.mesh.active_cell
    np.savez(out / "Cance" / "ann-scale-bounds-normalize.npz", **arrays)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    parser.add_argument("--only", default="api,default,cance,cnn,scale")
    args = parser.parse_args()
    os.environ["SMASH_DATA_DIR"] = args.data
    out = pathlib.Path(args.out)
    (out / "Net").mkdir(exist_ok=True)
    only = args.only.split(",")
    warnings.simplefilter("ignore")
    if "api" in only:
        net_api(out)
    if "default" in only:
        default_nets(args.data, out)
    if "cance" in only:
        for tfm in ("standardize", "normalize"):
            cance_ann(out, tfm)
    if "cnn" in only:
        cance_cnn(out)
    if "scale" in only:
        cance_scale_bounds(out)


if __name__ == "__main__":
    main()
