"""Forward-run benchmark: model construction, forward time and peak memory.

    python bench/forward.py [--data DIR] [--anchor-python /path/to/python] [--repeat N]
                            [--cases Lez:zero-gr4-lr,Cance:zero-vic3l-lr,...]

Each case runs in a fresh worker process (so its peak memory is its own).
With --anchor-python, the same worker runs under that interpreter, where
`import smash` is hydro-smash 1.3, and the table shows both with ratios
(>1 means we are faster or lighter).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = [
    f"{d}:zero-{s}" for d in ("Lez", "Cance", "France") for s in ("gr4-lr", "vic3l-lr", "gr4-kw")
]


def worker(data_dir, case, repeat, ncpu=1):
    """Runs inside the measured interpreter; prints one JSON line."""
    sys.path.insert(0, HERE)
    from _cases import dataset_setup_mesh, peak_mb

    import smash

    name, structure = case.split(":")
    setup, mesh = dataset_setup_mesh(data_dir, name, structure)
    t0 = time.perf_counter()
    model = smash.Model(setup, mesh)
    build = time.perf_counter() - t0
    times = []
    # France: the first run page-faults its arrays in, and one warm run varies by 15-20 % with
    # the memory traffic of the machine (two threads 0.59-0.70 s): the best of three warm runs.
    for _ in range(repeat if name != "France" else min(repeat, 4)):
        t0 = time.perf_counter()
        model.forward_run(common_options={"ncpu": ncpu, "verbose": False})
        times.append(time.perf_counter() - t0)
    nac = int(model.mesh.nac)
    ntime = int(model.setup.ntime_step)
    peak = peak_mb()
    print(json.dumps({"case": case, "build_s": build, "forward_s": min(times), "nac": nac,
                      "ntime": ntime, "peak_mb": peak}))


from _cases import run_worker  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--worker", default=None)
    parser.add_argument("--ncpu", type=int, default=1, help="threads of the worker (common_options ncpu)")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    if args.worker:
        worker(args.data, args.worker, args.repeat, args.ncpu)
        return

    header = "| case | nac x steps | build (s) | forward (s) | cell-steps/s | peak MB |"
    if args.anchor_python:
        header += " smash 1.3 build (s) | smash 1.3 forward (s) | forward ratio | build ratio | memory ratio |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for case in args.cases.split(","):
        ours = run_worker(os.path.abspath(__file__), sys.executable, args.data, case, args.repeat)
        if "error" in ours:
            print(f"| {case} | error: {ours['error']} |")
            continue
        cells = ours["nac"] * ours["ntime"]
        row = (f"| {case} | {ours['nac']} x {ours['ntime']} | {ours['build_s']:.3f} | {ours['forward_s']:.4f} | "
               f"{cells / ours['forward_s']:.3g} | {ours['peak_mb']:.0f} |")
        if args.anchor_python:
            ref = run_worker(os.path.abspath(__file__), args.anchor_python, args.data, case, args.repeat)
            if "error" in ref:
                row += f" error: {ref['error']} | | | | |"
            else:
                row += (f" {ref['build_s']:.3f} | {ref['forward_s']:.4f} | {ref['forward_s'] / ours['forward_s']:.2f} |"
                        f" {ref['build_s'] / ours['build_s']:.2f} | {ref['peak_mb'] / ours['peak_mb']:.2f} |")
        print(row, flush=True)


if __name__ == "__main__":
    main()
