"""France over months to a year of hourly steps: memory and time with forcings streamed from disk.

    python bench/scale.py --data DIR [--steps 720,2160,8784] [--memory-steps 720] [--gradient-steps 720]
                          [--store /tmp/smash-scale/france_prcp.zarr] [--ncpu 2] [--out bench/results]

The France mesh (906 044 active cells, gr4-lr, hourly) with synthetic precipitation
(smash.factory.generate_forcing_store, written once to a chunked Zarr store for the longest
period, window by window) and the dataset's daily interannual PET maps. A fresh worker per case
builds the model and runs it; it reports the forward (or gradient) time, the build time and its
peak resident memory (getrusage). Cases: forward runs with streamed forcings over each of
--steps, the same with the forcings held whole over --memory-steps (those that fit), and
gradients over --gradient-steps: France has no gauge (no cost to differentiate), so those report
the memory a gradient would take by smash.simulation.memory's estimate. A case whose memory estimate exceeds
the machine's reports the estimate instead.
Writes scale.md into --out. The interception re-estimate is off (it is one more pass over the
forcings, timed apart in the build when on).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
START = "2012-01-01 00:00"


def period_end(steps: int) -> str:
    import datetime as dt

    return (dt.datetime(2012, 1, 1) + dt.timedelta(hours=steps)).strftime("%Y-%m-%d %H:%M")


def make_store(data_dir, path, steps):
    import smash

    mesh = smash.io.read_mesh(os.path.join(data_dir, "France", "mesh_France.hdf5"))
    marker = path + f".{steps}.done"
    if os.path.exists(marker):
        return 0.0
    t0 = time.perf_counter()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    smash.factory.generate_forcing_store(mesh, path, START, period_end(steps), kinds=("prcp",), window=48,
                                         chunk_steps=24)
    open(marker, "w").close()
    return time.perf_counter() - t0


def worker(data_dir, store, steps, mode, run, ncpu):
    """One case in this process; prints one JSON line."""
    import smash
    from smash import _testing
    from smash.simulation import memory

    mesh = smash.io.read_mesh(os.path.join(data_dir, "France", "mesh_France.hdf5"))
    setup = dict(hydrological_module="gr4", routing_module="lr", dt=3600, start_time=START, end_time=period_end(steps),
                 read_prcp=True, prcp_directory=store, read_pet=True, daily_interannual_pet=True,
                 pet_directory=os.path.join(data_dir, "France", "pet"), adjust_interception=False,
                 forcing_storage=mode)
    out = {"steps": steps, "mode": mode, "run": run}
    t0 = time.perf_counter()
    try:
        model = smash.Model(setup, mesh)
    except MemoryError as error:
        out["refused"] = str(error).split(" To need less")[0]
        print(json.dumps(out))
        return
    out["build_s"] = time.perf_counter() - t0
    stream = _testing.forcing_stream(model)
    if stream is not None:
        out["windows"] = stream.windows
    t0 = time.perf_counter()
    if run == "forward":
        model.forward_run(common_options={"ncpu": ncpu})
    else:
        # France has no gauge, hence no cost to differentiate: the case reports the memory the gradient
        # would take (memory.gradient_estimate: the adjoint's tape of one chunk and the checkpoints).
        estimate = memory.gradient_estimate(model)
        out["refused"] = f"gradient needs about {estimate.total / 1e9:.1f} GB ({estimate.describe()})"
        print(json.dumps(out))
        return
    out["run_s"] = time.perf_counter() - t0
    if stream is not None:
        out["reads"] = stream.reads
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(json.dumps(out))


def run_case(args, steps, mode, run):
    cmd = [sys.executable, __file__, "--worker", "--data", args.data, "--store", args.store, "--ncpu", str(args.ncpu),
           "--case", f"{steps},{mode},{run}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {"steps": steps, "mode": mode, "run": run, "error": (proc.stderr or proc.stdout)[-500:]}
    return json.loads(lines[-1])


def table(results, generation_s) -> str:
    lines = ["| run | steps | forcings | build (s) | run (s) | s per step | peak memory (GB) | windows |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "run_s" in r:
            per = r["run_s"] / r["steps"]
            windows = r.get("windows", {}).get("gradient" if r["run"] == "gradient" else "forward", "-")
            lines.append(f"| {r['run']} | {r['steps']} | {r['mode']} | {r['build_s']:.1f} | {r['run_s']:.1f} | "
                         f"{per:.4f} | {r['peak_gb']:.2f} | {windows} |")
        else:
            lines.append(f"| {r['run']} | {r['steps']} | {r['mode']} | - | - | - | - | "
                         f"{r.get('refused') or r.get('error', '')[-200:]} |")
    if generation_s:
        lines.append(f"\nSynthetic precipitation store generated in {generation_s:.0f} s.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--steps", default="720,2160,8784")
    parser.add_argument("--memory-steps", default="720")
    parser.add_argument("--gradient-steps", default="720")
    parser.add_argument("--store", default="/tmp/smash-scale/france_prcp.zarr")
    parser.add_argument("--ncpu", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--case", default="")
    args = parser.parse_args()
    if args.worker:
        steps, mode, run = args.case.split(",")
        worker(args.data, args.store, int(steps), mode, run, args.ncpu)
        return
    steps = [int(s) for s in args.steps.split(",") if s]
    memory_steps = [int(s) for s in args.memory_steps.split(",") if s]
    gradient_steps = [int(s) for s in args.gradient_steps.split(",") if s]
    longest = max(steps + memory_steps + gradient_steps)
    generation_s = make_store(args.data, args.store, longest)
    print(f"store ready ({generation_s:.0f} s)", flush=True)
    cases = [(n, "stream", "forward") for n in steps] + [(n, "memory", "forward") for n in memory_steps] + \
        [(n, "stream", "gradient") for n in gradient_steps]
    results = []
    for case in cases:
        results.append(run_case(args, *case))
        print(json.dumps(results[-1]), flush=True)
    os.makedirs(args.out, exist_ok=True)
    text = table(results, generation_s)
    with open(os.path.join(args.out, "scale.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
