"""Speed-up from threads: forward runs on France and cost+gradient on Cance (also a hybrid), 1 vs N threads.

    python bench/threads.py [--data DIR] [--anchor-python /path/to/python] [--ncpu 2]

Reuses the workers of forward.py and gradient.py (common_options={"ncpu": N},
OMP_NUM_THREADS=N), each case in a fresh process; with --anchor-python the same
runs under smash 1.3. The speed-up columns are time(1 thread) / time(N threads).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _cases import run_worker  # noqa: E402

# (benchmark script, case, timing key in its JSON line)
CASES = [
    ("forward.py", "France:zero-gr4-lr", "forward_s"),
    ("forward.py", "France:zero-vic3l-lr", "forward_s"),
    ("gradient.py", "Cance:zero-gr4-lr:distributed", "gradient_s"),
    # Hybrid: every cell adds to the net's weight adjoint (per-thread buffers in the adjoint).
    ("gradient.py", "Cance:zero-gr4_mlp-lr:distributed", "gradient_s"),
    ("gradient.py", "Lez:zero-gr4-lr:distributed", "gradient_s"),
]


def timings(python, data, script, case, key, ncpu, repeat):
    """(time on 1 thread, time on ncpu threads), or an error message."""
    path = os.path.join(HERE, script)
    one = run_worker(path, python, data, case, repeat)
    many = run_worker(path, python, data, case, repeat, ncpu=ncpu)
    for result in (one, many):
        if "error" in result:
            return result["error"]
    return one[key], many[key]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--ncpu", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    n = args.ncpu
    header = f"| benchmark | case | 1 thread (s) | {n} threads (s) | speed-up |"
    if args.anchor_python:
        header += f" smash 1.3 1 thread (s) | smash 1.3 {n} threads (s) | smash 1.3 speed-up |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for script, case, key in CASES:
        row = f"| {script.removesuffix('.py')} | {case} |"
        pythons = [sys.executable] + ([args.anchor_python] if args.anchor_python else [])
        for python in pythons:
            result = timings(python, args.data, script, case, key, n, args.repeat)
            if isinstance(result, str):
                row += f" error: {result} | | |"
            else:
                row += f" {result[0]:.4f} | {result[1]:.4f} | {result[0] / result[1]:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
