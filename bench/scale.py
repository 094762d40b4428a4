"""France over months to a year of hourly steps: memory and time with forcings streamed from disk.

    python bench/scale.py --data DIR [--steps 720,2160,8784] [--memory-steps 720] [--gradient-steps 720] [--pairs 5]
                          [--store /tmp/smash-scale/france_prcp_<layout>.zarr] [--layout cells|grid]
                          [--ncpu 2] [--out bench/results] [--adjoint-memory 3e9]
                          [--compare-steps 720 --compare-chunk 2 --compare-repeats 2]
                          [--compare-domain catchment|france] [--compare-store national|catchment]

The France mesh (906 044 active cells, gr4-lr, hourly) with synthetic precipitation
(smash.factory.generate_forcing_store, written once to a chunked Zarr store for the longest period,
window by window: by default a store of France's active cells in the model's order, read without a
gather; --layout grid for the (time, y, x) store of the whole grid) and the dataset's daily
interannual PET maps. A fresh worker per case builds the model and runs it; it reports the forward
(or gradient) time, the build time and its peak resident memory (getrusage). Cases: forward runs
with streamed forcings over each of --steps, the same with the forcings held whole over --memory-
steps (those that fit), and gradients over --gradient-steps. France has no gauge: the gradient cases
put one at the outlet of largest drained area (and at every other cell whose flow leaves the domain,
unobserved) and observe there a twin forward run with other parameters (computed once, over the
longest gradient period, on that outlet's catchment alone, with streamed forcings: only its gauge
series is kept, in --out); the gradient is then that of the NSE at default parameters, the process
kept within --adjoint-memory bytes (setup adjoint_memory: what the process holds, the gradient's
arrays and the tape, whose share smash.simulation.memory.plan_checkpoints keeps with smaller chunks,
nested segments, snapshots spilled to the temporary folder). --compare-steps runs the gradient on the
outlet's catchment (136 170 cells) with forcings streamed and held whole, by the same chunks of
--compare-chunk steps and with the automatic budget, interleaved --compare-repeats times: the share of
reading not hidden behind computing where both fit (--compare-domain france: France itself, gauged at
its outlets, over periods short enough to hold its forcings and snapshots); with --compare-store catchment both read the
catchment's own store (its cells in its model's order, extracted once from the national store by
smash.io.convert_forcings(..., mesh=) and kept beside it as <store>.catchment.zarr: windows decoded
straight into the core's arrays, no gather) instead of the national store. A case whose memory estimate
exceeds the machine's reports the estimate instead. Writes scale.md into --out. The interception re-estimate is
off (it is one more pass over the forcings, timed apart in the build when on).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
START = "2012-01-01 00:00"


def period_end(steps: int) -> str:
    import datetime as dt

    return (dt.datetime(2012, 1, 1) + dt.timedelta(hours=steps)).strftime("%Y-%m-%d %H:%M")


def make_store(data_dir, path, steps, layout="grid"):
    import glob

    import smash

    mesh = smash.io.read_mesh(os.path.join(data_dir, "France", "mesh_France.hdf5"))
    # A marker `<store>.<steps>.done` says the store holds that many steps from START: a longer one serves too.
    markers = glob.glob(glob.escape(path) + ".*.done")
    if any(int(m.rsplit(".", 2)[-2]) >= steps for m in markers if m.rsplit(".", 2)[-2].isdigit()):
        return 0.0
    t0 = time.perf_counter()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # The store is written anew: no marker may vouch for the old one, nor for a catchment store extracted from it.
    for old in markers + glob.glob(glob.escape(catchment_store_path(path)) + ".*.done"):
        os.remove(old)
    marker = path + f".{steps}.done"
    smash.factory.generate_forcing_store(mesh, path, START, period_end(steps), kinds=("prcp",), window=48,
                                         chunk_steps=24, layout=layout)
    open(marker, "w").close()
    return time.perf_counter() - t0


def catchment_store_path(store: str) -> str:
    return store.rstrip("/") + ".catchment.zarr"


def make_catchment_store(data_dir, store, steps) -> float:
    """The outlet catchment's store of `steps` steps from START (outlet_catchment's cells in its model's
    order), extracted from the national `store` once; the seconds it took (0 when a marker
    `<catchment store>.<steps>.done` of at least that many steps says it is there)."""
    import glob

    import smash

    path = catchment_store_path(store)
    markers = glob.glob(glob.escape(path) + ".*.done")
    if any(int(m.rsplit(".", 2)[-2]) >= steps for m in markers if m.rsplit(".", 2)[-2].isdigit()):
        return 0.0
    t0 = time.perf_counter()
    for old in markers:
        os.remove(old)
    mesh = outlet_catchment(outlet_gauge(smash.io.read_mesh(os.path.join(data_dir, "France", "mesh_France.hdf5"))))
    smash.io.convert_forcings(store, path, "prcp", START, period_end(steps), chunk_steps=24, mesh=mesh)
    open(path + f".{steps}.done", "w").close()
    return time.perf_counter() - t0


def outlet_gauge(mesh):
    """`mesh` with a gauge at every cell whose flow leaves the active domain (a gauged mesh must see all
    its water leave), the first, coded OUTLET, at the active cell of largest drained area."""
    import numpy as np

    from smash.drainage.network import _active_downstream

    active = mesh["active_cell"] == 1
    no_direction = active & ~np.isin(mesh["flwdir"], np.arange(1, 9))
    dn, _ = _active_downstream(mesh["flwdir"], active, no_direction)
    rows, cols = np.nonzero(active)
    outlets = np.flatnonzero(dn < 0)
    outlets = outlets[np.argsort(-mesh["flwacc"][rows[outlets], cols[outlets]], kind="stable")]
    pos = np.stack([rows[outlets], cols[outlets]], axis=1).astype(np.int32)
    area = mesh["flwacc"][pos[:, 0], pos[:, 1]].astype(np.float64)
    codes = np.array(["OUTLET"] + [f"O{i}" for i in range(1, len(pos))])
    return dict(mesh, ng=len(pos), gauge_pos=pos, code=codes, area=area, area_dln=area)


def outlet_catchment(mesh):
    """`mesh` reduced to the catchment of its OUTLET gauge (outlet_gauge), gauged there only: the twin
    run's discharge at the outlet for a sixth of France's cost (no cell outside drains into it)."""
    import numpy as np

    from smash.drainage.network import _active_downstream

    active = mesh["active_cell"] == 1
    no_direction = active & ~np.isin(mesh["flwdir"], np.arange(1, 9))
    dn, _ = _active_downstream(mesh["flwdir"], active, no_direction)
    rows, cols = np.nonzero(active)
    # Each cell's outlet by pointer jumping: 2**24 cells of flow path is beyond any mesh.
    end = np.where(dn < 0, np.arange(dn.size), dn)
    for _ in range(24):
        end = end[end]
    row, col = mesh["gauge_pos"][0]
    outlet = int(np.flatnonzero((rows == row) & (cols == col))[0])
    inside = end == outlet
    catchment = np.zeros_like(mesh["active_cell"])
    catchment[rows[inside], cols[inside]] = 1
    return dict(mesh, active_cell=catchment, nac=int(inside.sum()), ng=1, gauge_pos=mesh["gauge_pos"][:1],
                code=mesh["code"][:1], area=mesh["area"][:1], area_dln=mesh["area_dln"][:1])


def france_model(data_dir, store, steps, mode, gauge=False, adjoint_memory=0, catchment=False, chunk=0):
    """France (or with `catchment` its outlet's catchment), forcings held whole or streamed (`mode`); with
    `chunk`, the gradient's checkpoint chunks fixed to that many steps (streamed: its windows of whole chunks
    are planned, memory.gradient_window)."""
    import smash
    from smash import _testing

    mesh = smash.io.read_mesh(os.path.join(data_dir, "France", "mesh_France.hdf5"))
    setup = dict(hydrological_module="gr4", routing_module="lr", dt=3600, start_time=START, end_time=period_end(steps),
                 read_prcp=True, prcp_directory=store, read_pet=True, daily_interannual_pet=True,
                 pet_directory=os.path.join(data_dir, "France", "pet"), adjust_interception=False,
                 forcing_storage=mode, adjoint_memory=adjoint_memory)
    if gauge:
        mesh = outlet_catchment(outlet_gauge(mesh)) if catchment else outlet_gauge(mesh)
    model = smash.Model(setup, mesh)
    if chunk:
        _testing.core_setup(model).checkpoint_steps = chunk
    return model


def twin_path(out_dir, steps):
    return os.path.join(out_dir, f"france_outlet_twin_{steps}.npy")


def twin(data_dir, store, steps, ncpu, out_dir):
    """The twin run's discharge at the outlet gauge (other parameters than the default), saved for the
    gradient cases; prints one JSON line."""
    import numpy as np

    model = france_model(data_dir, store, steps, "stream", gauge=True, catchment=True)
    for name, factor in (("cp", 1.6), ("ct", 0.6), ("kexc", 0.0), ("llr", 2.0)):
        values = model.get_rr_parameters(name)
        model.set_rr_parameters(name, values * factor if factor else values - 0.5)
    t0 = time.perf_counter()
    model.forward_run(common_options={"ncpu": ncpu})
    q = np.asarray(model.response.q[:1], dtype=np.float32)
    os.makedirs(out_dir, exist_ok=True)
    np.save(twin_path(out_dir, steps), q)
    print(json.dumps({"steps": steps, "run": "twin", "nac": int(model.network.nac), "run_s": time.perf_counter() - t0,
                      "q_mean": float(q[:, 1:].mean())}))


def gradient_case(model, out, ncpu, twin_file):
    """The outlet NSE's gradient against the twin observations (see twin) into `out`."""
    import numpy as np

    from smash import _core, _testing
    from smash.simulation import memory

    q = np.full(model.response_data.q.shape, -99.0, dtype=np.float32)   # observed at the outlet only
    q[0] = np.load(twin_file)[0, : model.setup.ntime_step]
    model.response_data.q = q
    _testing.set_threads(model, ncpu)      # the plan splits the budget between the threads' tapes
    plan = memory.gradient_plan(model)
    # The budget bounds the process: what it holds now, the gradient's arrays and the tape's share.
    out.update(chunk=plan.chunk, segment=plan.segment, spill_limit_gb=plan.spill_limit / 1e9,
               budget_gb=plan.budget / 1e9, held_gb=plan.held_bytes / 1e9, run_arrays_gb=plan.run_bytes / 1e9,
               expected_peak_gb=plan.peak_bytes / 1e9)
    cpu0, t0 = time.process_time(), time.perf_counter()
    ret = model.backward_run(cost_options={"gauge": "OUTLET"}, common_options={"ncpu": ncpu})
    out["run_s"] = time.perf_counter() - t0
    out["cpu_s"] = time.process_time() - cpu0
    out["cost"] = float(ret.cost)
    out["grad_norm"] = float(np.linalg.norm(ret.grad))
    out["tape_peak_gb"] = _core.tape_peak_bytes() / 1e9
    out["spilled_gb"] = _core.tape_spilled_bytes() / 1e9
    stream = _testing.forcing_stream(model)
    if stream is not None:
        out["unpredicted"] = stream.unpredicted     # windows read while the run waited (read-ahead missed)


def cpu_ticks() -> tuple[int, int]:
    """(steal, all) ticks of the machine's CPUs so far (/proc/stat; (0, 0) where there is none): the share a
    hypervisor took from this virtual machine while a case ran, which slows it whatever the code does."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (values[7] if len(values) > 7 else 0), sum(values[:8])


def count_reader_cpu():
    """Make each streamed window read add its reader thread's CPU time to READER_CPU[0] (the share of the
    run's CPU the reading takes; the reads run in the stream's reader thread, or the run's when it waits;
    numcodecs' Blosc decodes in the calling thread when that is not the main thread, so decoding counts)."""
    from smash.stream.window import ForcingStream

    read = ForcingStream._read_window

    def timed(self, t0, t1, **kwargs):
        cpu0 = time.thread_time()
        try:
            return read(self, t0, t1, **kwargs)
        finally:
            READER_CPU[0] += time.thread_time() - cpu0

    ForcingStream._read_window = timed
    from smash.stream.sources import KindSources

    for name in ("read", "read_days"):
        method = getattr(KindSources, name)

        def by_kind(self, kind, *args, _method=method, **kwargs):
            cpu0 = time.thread_time()
            try:
                return _method(self, kind, *args, **kwargs)
            finally:
                KIND_CPU[kind] = KIND_CPU.get(kind, 0.0) + time.thread_time() - cpu0

        setattr(KindSources, name, by_kind)


READER_CPU = [0.0]
KIND_CPU: dict = {}     # the same by forcing kind (the readers of GeoTIFF folders and stores: KindSources)


def worker(args, steps, mode, run):
    """One case in this process; prints one JSON line."""
    from smash import _testing

    count_reader_cpu()

    if run == "twin":
        twin(args.data, args.store, steps, args.ncpu, args.out)
        return
    out = {"steps": steps, "mode": mode, "run": run}
    if run == "compare":
        out["domain"] = args.compare_domain
    t0 = time.perf_counter()
    # "compare": the gradient on the outlet's catchment, streamed or held whole, by the same chunks, from the
    # national store or the catchment's own (--compare-store).
    compare = run == "compare"
    store = args.store
    if compare:
        out["store"] = args.compare_store
        if args.compare_store == "catchment":
            store = catchment_store_path(args.store)
    try:
        model = france_model(args.data, store, steps, mode, gauge=run != "forward",
                             adjoint_memory=0 if compare else args.adjoint_memory,
                             catchment=compare and args.compare_domain == "catchment",
                             chunk=args.compare_chunk if compare else 0)
    except MemoryError as error:
        out["refused"] = str(error).split(" To need less")[0]
        print(json.dumps(out))
        return
    out["build_s"] = time.perf_counter() - t0
    stream = _testing.forcing_stream(model)
    if stream is not None:
        out["windows"] = stream.windows
    READER_CPU[0] = 0.0     # the run's reads only
    KIND_CPU.clear()
    if run == "forward":
        steal0, ticks0 = cpu_ticks()
        cpu0, t0 = time.process_time(), time.perf_counter()
        model.forward_run(common_options={"ncpu": args.ncpu})
        out["run_s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - cpu0     # computing and, streamed, reading: all threads
        steal1, ticks1 = cpu_ticks()
        out["steal"] = (steal1 - steal0) / max(ticks1 - ticks0, 1)
    else:
        steal0, ticks0 = cpu_ticks()
        gradient_case(model, out, args.ncpu, twin_path(args.out, args.twin_steps))
        steal1, ticks1 = cpu_ticks()
        out["steal"] = (steal1 - steal0) / max(ticks1 - ticks0, 1)
    if stream is not None:
        out["reads"] = stream.reads
        out["reader_cpu_s"] = READER_CPU[0]     # CPU time of the run's window reads
        out["reader_cpu_by_kind_s"] = dict(KIND_CPU)
        out["wait_s"] = stream.wait_seconds     # the run waiting for its windows (reading not hidden)
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    out["load"] = os.getloadavg()[0]
    print(json.dumps(out))


def run_case(args, steps, mode, run):
    cmd = [sys.executable, __file__, "--worker", "--data", args.data, "--store", args.store, "--ncpu", str(args.ncpu),
           "--case", f"{steps},{mode},{run}", "--out", args.out, "--gradient-steps", args.gradient_steps,
           "--adjoint-memory", str(args.adjoint_memory), "--compare-steps", args.compare_steps,
           "--compare-chunk", str(args.compare_chunk), "--compare-store", args.compare_store,
           "--compare-domain", args.compare_domain]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {"steps": steps, "mode": mode, "run": run, "error": (proc.stderr or proc.stdout)[-500:]}
    return json.loads(lines[-1])


def table(results, generation_s) -> str:
    lines = ["| run | steps | forcings | build (s) | run (s) | s per step | CPU (s) | waiting for windows (s) | "
             "peak memory (GB) | windows |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["run"] == "twin" and "run_s" in r:
            lines.append(f"| twin forward | {r['steps']} | stream | - | {r['run_s']:.1f} | "
                         f"{r['run_s'] / r['steps']:.4f} | - | - | - | - |")
        elif "run_s" in r:
            per = r["run_s"] / r["steps"]
            windows = r.get("windows", {}).get("gradient" if r["run"] == "gradient" else "forward", "-")
            wait = f"{r['wait_s']:.1f}" if "wait_s" in r else "-"
            lines.append(f"| {r['run']} | {r['steps']} | {r['mode']} | {r['build_s']:.1f} | {r['run_s']:.1f} | "
                         f"{per:.4f} | {r.get('cpu_s', 0):.1f} | {wait} | {r['peak_gb']:.2f} | {windows} |")
        else:
            lines.append(f"| {r['run']} | {r['steps']} | {r['mode']} | - | - | - | - | - | - | "
                         f"{r.get('refused') or r.get('error', '')[-200:]} |")
    # Streamed against in-memory over the same steps: the share of reading not hidden behind computing.
    held = {r["steps"]: r for r in results if r["run"] == "forward" and r["mode"] == "memory" and "run_s" in r}
    for r in results:
        if r["run"] == "forward" and r["mode"] == "stream" and "run_s" in r and r["steps"] in held:
            ratio = r["run_s"] / held[r["steps"]]["run_s"]
            lines.append(f"\nStreamed / in-memory run time over {r['steps']} steps: {ratio:.3f}.")
    grads = [r for r in results if r["run"] in ("gradient", "compare") and "run_s" in r]
    if grads:
        lines += ["", "| gradient | steps | forcings | chunk | window | segment | expected peak (GB) | peak (GB) | "
                      "tape peak (GB) | spilled (GB) | wall (s) | CPU (s) | reader CPU (s) | CPU per step (s) | "
                      "reads (waited) | waiting (s) | steal | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {_gradient_domain(r)} | {r['steps']} | {r['mode']} | "
                  f"{r['chunk']} | {r.get('windows', {}).get('gradient', '-')} | {r['segment'] or '-'} | "
                  f"{r.get('expected_peak_gb', 0):.2f} | "
                  f"{r['peak_gb']:.2f} | {r['tape_peak_gb']:.2f} | {r['spilled_gb']:.2f} | {r['run_s']:.1f} | "
                  f"{r['cpu_s']:.1f} | {r.get('reader_cpu_s', 0):.1f} | {r['cpu_s'] / r['steps']:.3f} | "
                  f"{r.get('reads', '-')} ({r.get('unpredicted', '-')}) | {r.get('wait_s', 0):.1f} | "
                  f"{r.get('steal', 0):.0%} | {r['load']:.1f} |" for r in grads]
    # Streamed against in-memory gradients over the same steps and chunks (the least wall and CPU times of
    # the repeats, each apart: a run paused by another job keeps its CPU time).
    compared = [r for r in results if r["run"] == "compare" and "run_s" in r]
    for steps in sorted({r["steps"] for r in compared}):
        runs = {mode: [r for r in compared if r["steps"] == steps and r["mode"] == mode]
                for mode in ("stream", "memory")}
        if runs["stream"] and runs["memory"]:
            wall, cpu = ({mode: min(r[key] for r in runs[mode]) for mode in runs} for key in ("run_s", "cpu_s"))
            first = runs["stream"][0]
            domain = "France" if first.get("domain") == "france" else f"catchment, {first['store']} store"
            lines.append(f"\nStreamed / in-memory gradient over {steps} steps ({domain}, "
                         f"chunks of {first['chunk']}, least of {len(runs['stream'])} runs each): wall "
                         f"{wall['stream'] / wall['memory']:.3f}, CPU {cpu['stream'] / cpu['memory']:.3f}.")
    if generation_s:
        lines.append(f"\nSynthetic precipitation store generated in {generation_s:.0f} s.")
    return "\n".join(lines)


def _gradient_domain(r) -> str:
    """A gradient case's domain in the tables: France, or the outlet's catchment and the store it read."""
    return "France" if r.get("domain", "france") == "france" else f"outlet catchment, {r['store']} store"


def pairs_table(pairs) -> str:
    """Streamed and in-memory forward runs of the same steps, run one after the other (--pairs): each pair's
    ratio, their median and the ratio of their sums, the spread telling the machine's noise apart from the
    reading's cost."""
    lines = ["| pair | steps | streamed run (s) | streamed CPU (s) | reader CPU (s) | waiting (s) | steal "
             "| in-memory run (s) | in-memory CPU (s) | steal | ratio |", "|---" * 11 + "|"]
    ratios, sums = [], [0.0, 0.0]
    for i, (streamed, held) in enumerate(pairs, 1):
        if "run_s" not in streamed or "run_s" not in held:
            lines.append(f"| {i} | - | failed | - | - | - | - | - | - | - | - |")
            continue
        ratios.append(streamed["run_s"] / held["run_s"])
        sums[0] += streamed["run_s"]
        sums[1] += held["run_s"]
        lines.append(f"| {i} | {streamed['steps']} | {streamed['run_s']:.2f} | {streamed['cpu_s']:.1f} | "
                     f"{streamed.get('reader_cpu_s', 0):.2f} | {streamed.get('wait_s', 0):.2f} | "
                     f"{streamed.get('steal', 0):.0%} | {held['run_s']:.2f} | {held['cpu_s']:.1f} | "
                     f"{held.get('steal', 0):.0%} | {ratios[-1]:.3f} |")
    if ratios:
        median = statistics.median(ratios)
        lines.append(f"\nMedian streamed / in-memory ratio of {len(ratios)} pairs: {median:.3f} "
                     f"(range {min(ratios):.3f}-{max(ratios):.3f}); ratio of the sums {sums[0] / sums[1]:.3f}.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--steps", default="720,2160,8784")
    parser.add_argument("--memory-steps", default="720")
    parser.add_argument("--gradient-steps", default="720")
    parser.add_argument("--store", default="", help="the store (default /tmp/smash-scale/france_prcp_<layout>.zarr)")
    parser.add_argument("--layout", default="cells", choices=("cells", "grid"),
                        help="the synthetic store's layout: France's cells in the model's order, or the whole grid")
    parser.add_argument("--ncpu", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--adjoint-memory", type=float, default=3e9,
                        help="bytes the gradients' process may hold (setup adjoint_memory)")
    parser.add_argument("--pairs", type=int, default=0,
                        help="then N more streamed and in-memory forward runs over the first --memory-steps, "
                             "alternated (fresh workers): each pair's ratio and their median")
    parser.add_argument("--compare-steps", default="",
                        help="steps of the streamed / in-memory gradient comparison on the outlet's catchment")
    parser.add_argument("--compare-chunk", type=int, default=2,
                        help="the comparison's checkpoint chunk (core checkpoint_steps, both modes)")
    parser.add_argument("--compare-repeats", type=int, default=2, help="comparison runs of each, interleaved")
    parser.add_argument("--compare-domain", choices=("catchment", "france"), default="catchment",
                        help="the comparison's domain: the outlet's catchment, or France gauged at its outlets "
                             "(held whole it needs the period's forcings and snapshots in memory: short periods)")
    parser.add_argument("--compare-store", default="national", choices=("national", "catchment"),
                        help="the comparison's store: the national one, or the catchment's own, extracted once "
                             "beside it (<store>.catchment.zarr)")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--case", default="")
    args = parser.parse_args()
    if args.compare_domain == "france" and args.compare_store == "catchment":
        parser.error("--compare-store catchment reads the outlet catchment's own store: it needs --compare-domain "
                     "catchment")
    args.gradient_steps_list = [int(s) for s in args.gradient_steps.split(",") if s]
    compare_steps = [int(s) for s in args.compare_steps.split(",") if s]
    # One twin run serves every gradient case: the longest period.
    args.twin_steps = max(args.gradient_steps_list + compare_steps, default=0)
    args.store = args.store or f"/tmp/smash-scale/france_prcp_{args.layout}.zarr"
    if args.worker:
        steps, mode, run = args.case.split(",")
        worker(args, int(steps), mode, run)
        return
    steps = [int(s) for s in args.steps.split(",") if s]
    memory_steps = [int(s) for s in args.memory_steps.split(",") if s]
    gradient_steps = args.gradient_steps_list
    longest = max(steps + memory_steps + gradient_steps + compare_steps)
    generation_s = make_store(args.data, args.store, longest, args.layout)
    print(f"store ready ({generation_s:.0f} s)", flush=True)
    if compare_steps and args.compare_store == "catchment":
        extraction_s = make_catchment_store(args.data, args.store, max(compare_steps))
        print(f"catchment store ready ({extraction_s:.0f} s): {catchment_store_path(args.store)}", flush=True)
    twin_case = [(args.twin_steps, "stream", "twin")] if args.twin_steps and not os.path.exists(
        twin_path(args.out, args.twin_steps)) else []
    compare_cases = [(n, mode, "compare") for n in compare_steps for _ in range(args.compare_repeats)
                     for mode in ("stream", "memory")]
    cases = [(n, "stream", "forward") for n in steps] + [(n, "memory", "forward") for n in memory_steps] + \
        twin_case + compare_cases + [(n, "stream", "gradient") for n in gradient_steps]
    results = []
    for case in cases:
        results.append(run_case(args, *case))
        print(json.dumps(results[-1]), flush=True)
    pairs = []
    for _ in range(args.pairs if memory_steps else 0):
        # Every other pair runs the in-memory case first: a drift of the machine's speed then favours neither.
        order = ("stream", "memory") if len(pairs) % 2 == 0 else ("memory", "stream")
        done = {mode: run_case(args, memory_steps[0], mode, "forward") for mode in order}
        pairs.append((done["stream"], done["memory"]))
        print(json.dumps({"pair": [{k: r.get(k) for k in ("mode", "run_s", "cpu_s", "steal", "reader_cpu_s", "wait_s")}
                                   for r in pairs[-1]]}),
              flush=True)
    os.makedirs(args.out, exist_ok=True)
    text = table(results, generation_s) + ("\n\n" + pairs_table(pairs) if pairs else "")
    with open(os.path.join(args.out, "scale.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
