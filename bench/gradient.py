"""Cost + gradient benchmark (uniform and distributed controls) and its ratio to a forward run.

    python bench/gradient.py [--data DIR] [--anchor-python /path/to/python] [--repeat N]

Runs smash.backward_run (the public API both packages share) in a fresh worker
per case, under this interpreter and optionally under a smash 1.3 one; the
ratio columns are smash 1.3 time / ours (>1: we are faster).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = [f"{d}:zero-gr4-lr:{m}" for d in ("Lez", "Cance") for m in ("uniform", "distributed")]


def worker(data_dir, case, repeat, ncpu=1):
    sys.path.insert(0, HERE)
    from _cases import dataset_setup_mesh, peak_mb

    import smash

    name, structure, mapping = case.split(":")
    setup, mesh = dataset_setup_mesh(data_dir, name, structure)
    model = smash.Model(setup, mesh)
    forward, gradient = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model.forward_run(common_options={"ncpu": ncpu, "verbose": False})
        forward.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        smash.backward_run(model, mapping=mapping, return_options={"cost": True, "grad": True},
                           common_options={"verbose": False, "ncpu": ncpu})
        gradient.append(time.perf_counter() - t0)
    try:  # our adjoint's tape high-water mark (smash 1.3 has no such counter)
        from smash._testing import tape_peak_bytes

        tape_mb = tape_peak_bytes() / 2**20
    except ImportError:
        tape_mb = float("nan")
    print(json.dumps({"case": case, "forward_s": min(forward), "gradient_s": min(gradient),
                      "peak_mb": peak_mb(), "tape_mb": tape_mb}))


from _cases import run_worker  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--worker", default=None)
    parser.add_argument("--ncpu", type=int, default=1, help="threads of the worker (common_options ncpu)")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    if args.worker:
        worker(args.data, args.worker, args.repeat, args.ncpu)
        return
    header = "| case | forward (s) | cost+gradient (s) | gradient/forward | peak MB | adjoint tape MB |"
    if args.anchor_python:
        header += " smash 1.3 cost+gradient (s) | smash 1.3 gradient/forward | gradient speed ratio |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for case in args.cases.split(","):
        ours = run_worker(os.path.abspath(__file__), sys.executable, args.data, case, args.repeat)
        if "error" in ours:
            print(f"| {case} | error: {ours['error']} |")
            continue
        row = (f"| {case} | {ours['forward_s']:.4f} | {ours['gradient_s']:.4f} | "
               f"{ours['gradient_s'] / ours['forward_s']:.2f} | {ours['peak_mb']:.0f} | {ours['tape_mb']:.0f} |")
        if args.anchor_python:
            ref = run_worker(os.path.abspath(__file__), args.anchor_python, args.data, case, args.repeat)
            if "error" in ref:
                row += f" error: {ref['error']} | | |"
            else:
                row += (f" {ref['gradient_s']:.4f} | {ref['gradient_s'] / ref['forward_s']:.2f} | "
                        f"{ref['gradient_s'] / ours['gradient_s']:.2f} |")
        print(row, flush=True)


if __name__ == "__main__":
    main()
