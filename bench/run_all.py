"""Every benchmark in one command; tables go to bench/results/summary.md (plot: scaling.png).

    python bench/run_all.py [--data DIR] [--anchor-python /path/to/python] [--quick]

Runs forward.py, gradient.py, calibration.py, threads.py, neural.py and scaling.py in turn with
the same options. --quick skips the 1e8 scaling size and the neural trainings.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    os.makedirs(args.out, exist_ok=True)
    anchor = ["--anchor-python", args.anchor_python] if args.anchor_python else []
    runs = [("Forward runs", ["forward.py", "--data", args.data]),
            ("Cost + gradient", ["gradient.py", "--data", args.data]),
            ("50-iteration distributed L-BFGS-B", ["calibration.py", "--data", args.data]),
            ("Two threads", ["threads.py", "--data", args.data])]
    if not args.quick:
        runs.append(("Neural networks", ["neural.py", "--data", args.data]))
    sizes = "1e5,1e6,1e7" if args.quick else "1e5,1e6,1e7,1e8"
    runs.append(("Growth with problem size (plot: scaling.png)", ["scaling.py", "--sizes", sizes, "--out", args.out]))
    sections = []
    for title, cmd in runs:
        print(f"== {title}", flush=True)
        proc = subprocess.run([sys.executable, os.path.join(HERE, cmd[0]), *cmd[1:], *anchor],
                              capture_output=True, text=True)
        table = "\n".join(ln for ln in proc.stdout.splitlines() if ln.startswith("|"))
        print(table or proc.stderr[-2000:], flush=True)
        sections.append(f"## {title}\n\n{table or 'failed: ' + proc.stderr[-500:]}\n")
    path = os.path.join(args.out, "summary.md")
    with open(path, "w") as f:
        f.write("# Benchmarks\n\nRatios are smash 1.3 / ours (> 1: we are faster or lighter).\n\n")
        f.write("\n".join(sections))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
