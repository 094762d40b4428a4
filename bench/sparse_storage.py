"""Memory of the sparse forcing storage (setup sparse_storage=True) against the dense one, France gr4-lr.

    python bench/sparse_storage.py --data $SMASH_DATA_DIR [--repeat 3]

One fresh worker per storage (in this run, same interpreter) builds the France model (906 044
active cells, 32 hourly steps: reading the rasters, the sub-daily ci estimate), then runs forward
`repeat` times. Each reports the bytes of forcings the core holds, its peak resident memory after
building and after the runs, the best forward time, and a digest of the final states and of the
discharge of every cell (the two storages must give the same bits). Prints a table and the
sparse / dense ratios.
"""

import argparse
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _cases import dataset_setup_mesh, peak_mb, run_worker  # noqa: E402

FORCING_ARRAYS = ("prcp", "pet", "snow", "temp", "sp_values", "sp_index", "sp_start", "sp_istart", "sp_coo",
                  "sp_zvalue")


def forcing_bytes(finput, name):
    """Bytes of one forcing array of the core (0 when not allocated)."""
    import numpy as np

    try:
        return np.asarray(getattr(finput, name)).nbytes
    except ValueError:  # an unallocated array (the sparse ones under dense storage)
        return 0


def worker(args):
    import numpy as np

    import smash
    from smash import _testing

    setup, mesh = dataset_setup_mesh(args.data, "France", "zero-gr4-lr")
    setup["sparse_storage"] = args.worker == "sparse"
    t0 = time.perf_counter()
    model = smash.Model(setup, mesh)
    build_s = time.perf_counter() - t0
    peak_build = peak_mb()
    held = sum(forcing_bytes(_testing.core_inputs(model), name) for name in FORCING_ARRAYS)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ret = model.forward_run(return_options={"q_domain": True, "time_step": str(model.setup.end_time)})
        times.append(time.perf_counter() - t0)
    digest = hashlib.sha256(np.ascontiguousarray(model.rr_final_states.values).tobytes())
    digest.update(np.ascontiguousarray(ret.q_domain).tobytes())
    print(json.dumps({"case": args.worker, "build_s": build_s, "forward_s": min(times), "forcing_mb": held / 2**20,
                      "peak_build_mb": peak_build, "peak_mb": peak_mb(), "digest": digest.hexdigest()[:16]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=("dense", "sparse"))
    parser.add_argument("--ncpu", type=int, default=1)
    args = parser.parse_args()
    if not args.data:
        parser.error("--data (or SMASH_DATA_DIR) is required")
    if args.worker:
        worker(args)
        return
    rows = {case: run_worker(os.path.abspath(__file__), sys.executable, args.data, case, args.repeat)
            for case in ("dense", "sparse")}
    for row in rows.values():
        if "error" in row:
            raise SystemExit(f"{row['case']} worker failed: {row['error']}")
    print("| storage | forcings held (MB) | peak after build (MB) | peak after runs (MB) | build (s) | forward (s) |"
          " digest |")
    print("|---|---|---|---|---|---|---|")
    for case, r in rows.items():
        print(f"| {case} | {r['forcing_mb']:.1f} | {r['peak_build_mb']:.0f} | {r['peak_mb']:.0f} | {r['build_s']:.2f} |"
              f" {r['forward_s']:.3f} | {r['digest']} |")
    d, s = rows["dense"], rows["sparse"]
    print(f"sparse / dense: forcings held {s['forcing_mb'] / d['forcing_mb']:.3f}, peak memory "
          f"{s['peak_mb'] / d['peak_mb']:.3f}, forward time {s['forward_s'] / d['forward_s']:.3f}; "
          f"same results: {s['digest'] == d['digest']}")


if __name__ == "__main__":
    main()
