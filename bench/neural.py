"""Neural-network benchmark: one hybrid (gr4_mlp) cost+gradient and a full regionalization training on Lez.

    python bench/neural.py [--data DIR] [--anchor-python /path/to/python] [--repeat N] [--maxiter N]

Each case runs in a fresh worker under this interpreter and optionally under a
smash 1.3 one (same public API); the ratio column is smash 1.3 time / ours
(>1: we are faster).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ["hybrid-gradient", "ann-mlp-training", "ann-cnn-training"]


def _training(model, conv, maxiter):
    import smash

    problem = {"cp": (1e-06, 1000.0), "ct": (1e-06, 1000.0), "kexc": (-50, 50), "llr": (1e-06, 1000.0),
               "hp": (0, 1), "ht": (0, 1)}
    net = smash.factory.Net()
    if conv:
        net.add_conv2d(24, filter_shape=(4, 4), input_shape=model.physio_data.descriptor.shape, activation="relu")
        net.add_flatten()
    else:
        net.add_dense(24, input_shape=model.setup.nd, activation="relu")
    net.add_dense(60, activation="relu")
    net.add_dense(len(problem), activation="tanh")
    net.add_scale(list(problem.values()))
    options = {"net": net, "learning_rate": 0.003, "termination_crit": {"maxiter": maxiter}, "random_state": 1,
               "parameters": list(problem), "bounds": problem}
    t0 = time.perf_counter()
    _, opt = smash.optimize(model, mapping="ann", optimize_options=options, return_options={"net": True},
                            common_options={"verbose": False})
    return time.perf_counter() - t0, opt.net.history["loss_train"][-1]


def worker(data_dir, case, repeat, maxiter):
    sys.path.insert(0, HERE)
    from _cases import dataset_setup_mesh, peak_mb

    import smash

    structure = "zero-gr4_mlp-lr" if case == "hybrid-gradient" else "zero-gr4-lr"
    setup, mesh = dataset_setup_mesh(data_dir, "Lez", structure)
    setup["hidden_neuron"] = 12
    model = smash.Model(setup, mesh)
    times, extra = [], None
    for _ in range(repeat):
        if case == "hybrid-gradient":
            model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=0)
            t0 = time.perf_counter()
            smash.backward_run(model, return_options={"cost": True, "grad": True}, common_options={"verbose": False})
            times.append(time.perf_counter() - t0)
        else:
            elapsed, extra = _training(model, case == "ann-cnn-training", maxiter)
            times.append(elapsed)
    print(json.dumps({"case": case, "time_s": min(times), "final_loss": extra,
                      "peak_mb": peak_mb()}))


def main():
    from _cases import run_worker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--maxiter", type=int, default=250)
    parser.add_argument("--worker", default=None)
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    if args.worker:
        worker(args.data, args.worker, args.repeat, args.maxiter)
        return
    header = "| case | ours (s) | final loss |" + (" smash 1.3 (s) | final loss | speed ratio |"
                                                   if args.anchor_python else "")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for case in CASES:
        runs = [run_worker(os.path.abspath(__file__), py, args.data, case, args.repeat, ("--maxiter", args.maxiter))
                for py in [sys.executable] + ([args.anchor_python] if args.anchor_python else [])]
        cells = []
        for r in runs:
            loss = "-" if "error" in r or r["final_loss"] is None else f"{r['final_loss']:.4f}"
            cells.append(f"error: {r['error']} | |" if "error" in r else f"{r['time_s']:.3f} | {loss} |")
        row = f"| {case} | " + " ".join(cells)
        if len(runs) == 2 and "error" not in runs[0] and "error" not in runs[1]:
            row += f" {runs[1]['time_s'] / runs[0]['time_s']:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
