"""50-iteration distributed L-BFGS-B calibration: time, final cost and peak memory.

    python bench/calibration.py [--data DIR] [--anchor-python /path/to/python]
                                [--cases Lez:zero-gr4-lr,Cance:zero-gr4-lr] [--maxiter 50] [--ncpu 1]

The same call in both packages (smash.optimize with mapping='distributed',
optimizer='lbfgsb'), each case in a fresh worker. France is not a default case
(one gradient takes ~20 s here, about an hour for 50 iterations under smash 1.3);
add France:zero-gr4-lr to --cases to run it.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = "Lez:zero-gr4-lr,Cance:zero-gr4-lr"


def worker(data_dir, case, maxiter, ncpu):
    sys.path.insert(0, HERE)
    from _cases import dataset_setup_mesh, peak_mb

    import smash

    name, structure = case.split(":")
    setup, mesh = dataset_setup_mesh(data_dir, name, structure)
    model = smash.Model(setup, mesh)
    t0 = time.perf_counter()
    _, ret = smash.optimize(model, mapping="distributed", optimizer="lbfgsb",
                            optimize_options={"termination_crit": {"maxiter": maxiter}},
                            common_options={"verbose": False, "ncpu": ncpu},
                            return_options={"cost": True, "n_iter": True})
    print(json.dumps({"case": case, "time_s": time.perf_counter() - t0, "cost": float(ret.cost),
                      "n_iter": int(ret.n_iter), "peak_mb": peak_mb()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--maxiter", type=int, default=50)
    parser.add_argument("--ncpu", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)  # run_worker passes it
    parser.add_argument("--worker", default=None)
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    if args.worker:
        worker(args.data, args.worker, args.maxiter, args.ncpu)
        return
    sys.path.insert(0, HERE)
    from _cases import run_worker

    extra = ("--maxiter", args.maxiter, "--ncpu", args.ncpu)
    header = "| case | iterations | time (s) | final J | peak MB |"
    if args.anchor_python:
        header += " smash 1.3 iterations | smash 1.3 time (s) | smash 1.3 final J | time ratio |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for case in args.cases.split(","):
        ours = run_worker(os.path.abspath(__file__), sys.executable, args.data, case, 1, extra)
        if "error" in ours:
            print(f"| {case} | error: {ours['error']} |")
            continue
        row = (f"| {case} | {ours['n_iter']} | {ours['time_s']:.2f} | {ours['cost']:.5f} | "
               f"{ours['peak_mb']:.0f} |")
        if args.anchor_python:
            ref = run_worker(os.path.abspath(__file__), args.anchor_python, args.data, case, 1, extra)
            if "error" in ref:
                row += f" error: {ref['error']} | | | |"
            else:
                row += (f" {ref['n_iter']} | {ref['time_s']:.2f} | {ref['cost']:.5f} | "
                        f"{ref['time_s'] / ours['time_s']:.2f} |")
        print(row, flush=True)


if __name__ == "__main__":
    main()
