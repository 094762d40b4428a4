"""Forward and cost + gradient of every structure, single-threaded, beside smash 1.3.

    python bench/structures.py [--data DIR] [--anchor /path/to/python] [--repeat N]
                               [--datasets Lez,Cance] [--structures gr4-lr,vic3l-kw,...]
                               [--json out.json] [--anchor-json earlier.json] [--ours-json earlier.json]
                               [--before-json earlier.json] [--before-python /path/to/python]
                               [--before-cpu-variant baseline]

The cases are every hydrological module of the registry (python/smash/registry/structures.yaml)
with `lr` routing, and gr4 with every routing module, all without snow. For each
dataset one worker process per package runs them all (smash.Model, forward_run,
backward_run with a distributed mapping: the public API both packages share), each
timing the minimum over --repeat runs (forward) and half as many (gradient), in wall
time and in the process's CPU time: on a machine whose cores are shared with other
work, the CPU time leaves out the time the process waited for a core, and the minimum
is the run least disturbed (caches, frequency) by the others. The first table is CPU time.
With --anchor the same worker runs under that interpreter (where `import smash` is
hydro-smash 1.3, run as a black box) and the table shows the ratios smash 1.3 time / ours
(>1: we are faster). --before-python runs the same worker under the interpreter of an earlier build
of ours, dataset by dataset between our run and smash 1.3's (before/after in one run, under the
same load), and shows its times beside ours with the speed-ups; --before-cpu-variant runs that
earlier worker with SMASH_CPU_VARIANT set (under this interpreter unless --before-python names
another): `SMASH_CPU_VARIANT=x86-64-v3 ... --before-cpu-variant baseline` compares the two variants
of one build. --anchor-json reuses
the smash 1.3 numbers of an earlier --json output instead of measuring them again, --ours-json
ours (to measure each package at a different time, or rebuild a table).

Our worker also times the Fortran core's own calls (smash._core.run_forward /
run_adjoint) inside each run: the rest of a forward_run is the Python overhead per call.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import yaml

# Our module names that smash 1.3 spells otherwise (python/smash/registry/structures.yaml notes them).
ANCHOR_NAMES = {"gr4_ode_mlp": "gr4_ude"}
HERE = os.path.dirname(os.path.abspath(__file__))
REGISTRY = os.path.join(HERE, os.pardir, "python", "smash", "registry", "structures.yaml")


def default_structures():
    """`zero-<hy>-lr` for every hydrological module, then `zero-gr4-<rt>` for every other routing."""
    with open(REGISTRY) as f:
        modules = yaml.safe_load(f)["modules"]
    cases = [f"{hy}-lr" for hy in modules["hydrological"]]
    cases += [f"gr4-{rt}" for rt in modules["routing"] if rt != "lr"]
    return cases


def _core_timer(smash):
    """Wrap our core's entry points to add their wall time to a counter; None under smash 1.3."""
    try:
        from smash import _core
    except ImportError:
        return None
    spent = {"s": 0.0}

    def timed(function):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t0

        return wrapper

    _core.run_forward = timed(_core.run_forward)
    _core.run_adjoint = timed(_core.run_adjoint)
    return spent


def worker(data_dir, dataset, structures, repeat):
    """Runs inside the measured interpreter; prints one JSON line per structure."""
    sys.path.insert(0, HERE)
    from _cases import dataset_setup_mesh

    import smash

    spent = _core_timer(smash)
    # The variant of our compiled core this worker runs (smash 1.3 has no such thing).
    variant = smash.show_config(display=False)["cpu_variant"] if hasattr(smash, "show_config") else None
    options = {"ncpu": 1, "verbose": False}
    for structure in structures:
        record = {"dataset": dataset, "structure": structure}
        if variant:
            record["cpu_variant"] = variant
        try:
            if spent is None:  # smash 1.3 names some modules differently
                hydro, routing = structure.split("-")
                structure = f"{ANCHOR_NAMES.get(hydro, hydro)}-{routing}"
            setup, mesh = dataset_setup_mesh(data_dir, dataset, f"zero-{structure}")
            model = smash.Model(setup, mesh)
            forward, forward_cpu, overhead, gradient, gradient_cpu = [], [], [], [], []
            model.forward_run(common_options=options)  # warm: first touches of the arrays
            for _ in range(repeat):
                core0 = spent["s"] if spent else 0.0
                t0, c0 = time.perf_counter(), time.process_time()
                model.forward_run(common_options=options)
                forward.append(time.perf_counter() - t0)
                forward_cpu.append(time.process_time() - c0)
                if spent:
                    overhead.append(forward[-1] - (spent["s"] - core0))
            for _ in range(max(1, (repeat + 1) // 2)):
                t0, c0 = time.perf_counter(), time.process_time()
                smash.backward_run(model, mapping="distributed", return_options={"cost": True, "grad": True},
                                   common_options=options)
                gradient.append(time.perf_counter() - t0)
                gradient_cpu.append(time.process_time() - c0)
            record.update(forward_s=min(forward), gradient_s=min(gradient), forward_cpu_s=min(forward_cpu),
                          gradient_cpu_s=min(gradient_cpu), nac=int(model.mesh.nac),
                          ntime=int(model.setup.ntime_step))
            if overhead:
                record["overhead_s"] = min(overhead)
        except Exception as error:  # one structure's failure must not hide the others
            record["error"] = f"{type(error).__name__}: {error}"[:200]
        print(json.dumps(record), flush=True)


def run_package(python, data_dir, dataset, structures, repeat, cpu_variant=None):
    """{structure: record} of one worker process under `python`, single-threaded (with
    SMASH_CPU_VARIANT=`cpu_variant` when given)."""
    cmd = [python, os.path.abspath(__file__), "--worker", dataset, "--data", os.path.abspath(data_dir),
           "--repeat", str(repeat), "--structures", ",".join(structures)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if cpu_variant:
        env["SMASH_CPU_VARIANT"] = cpu_variant
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp")
    records = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            records[record["structure"]] = record
    for structure in structures:
        if structure not in records:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            records[structure] = {"dataset": dataset, "structure": structure, "error": tail}
    return records


def table(ours, anchor, clock="_cpu_s", before=None):
    """Markdown rows: ours, smash 1.3 and the ratios, per dataset and structure, in the process's
    CPU time (`clock` "_cpu_s") or in wall time ("_s"); with `before` (our records of an earlier
    build) its times and the ratios to them first."""
    header = "| dataset | structure |"
    if before:
        header += " forward before (ms) | cost+gradient before (ms) | forward speed-up | gradient speed-up |"
    header += " forward (ms) | cost+gradient (ms) |"
    if anchor:
        header += " smash 1.3 forward (ms) | smash 1.3 cost+gradient (ms) | forward ratio | gradient ratio |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for key, record in ours.items():
        dataset, structure = key.split(":")
        if "error" in record:
            lines.append(f"| {dataset} | {structure} | error: {record['error']} |")
            continue
        fw, gr = record[f"forward{clock}"], record[f"gradient{clock}"]
        row = f"| {dataset} | {structure} |"
        if before:
            old = before.get(key, {})
            if f"forward{clock}" in old:
                old_fw, old_gr = old[f"forward{clock}"], old[f"gradient{clock}"]
                row += f" {1e3 * old_fw:.2f} | {1e3 * old_gr:.1f} | {old_fw / fw:.2f} | {old_gr / gr:.2f} |"
            else:
                row += " | | | |"
        row += f" {1e3 * fw:.2f} | {1e3 * gr:.1f} |"
        if anchor:
            ref = anchor.get(key, {"error": "not measured"})
            if "error" in ref:
                row += f" error: {ref['error']} | | | |"
            else:
                ref_fw, ref_gr = ref[f"forward{clock}"], ref[f"gradient{clock}"]
                row += f" {1e3 * ref_fw:.2f} | {1e3 * ref_gr:.1f} | {ref_fw / fw:.2f} | {ref_gr / gr:.2f} |"
        lines.append(row)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--anchor", "--anchor-python", dest="anchor", default=None,
                        help="python interpreter where `import smash` is smash 1.3")
    parser.add_argument("--anchor-json", default=None, help="reuse the smash 1.3 records of an earlier --json")
    parser.add_argument("--ours-json", default=None, help="reuse our records of an earlier --json")
    parser.add_argument("--before-json", default=None,
                        help="our records of an earlier build (--json output), shown beside ours with speed-ups")
    parser.add_argument("--before-python", default=None,
                        help="python interpreter of an earlier build of ours, measured in this run")
    parser.add_argument("--before-cpu-variant", default=None,
                        help="SMASH_CPU_VARIANT of the earlier worker (default interpreter: this one)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--datasets", default="Lez,Cance")
    parser.add_argument("--structures", default=None, help="comma-separated hydrological-routing pairs")
    parser.add_argument("--json", default=None, help="write every record here")
    parser.add_argument("--worker", default=None)
    args = parser.parse_args()
    if not args.data:
        parser.error("give --data or set SMASH_DATA_DIR to the datasets folder")
    structures = args.structures.split(",") if args.structures else default_structures()
    if args.worker:
        worker(args.data, args.worker, structures, args.repeat)
        return

    if args.before_cpu_variant and not args.before_python:
        args.before_python = sys.executable
    ours, anchor, before = {}, {}, None
    if args.anchor_json:
        with open(args.anchor_json) as f:
            anchor = json.load(f)["smash 1.3"]
    if args.ours_json:
        with open(args.ours_json) as f:
            ours = json.load(f)["ours"]
    if args.before_json:
        with open(args.before_json) as f:
            before = json.load(f)["ours"]
    for dataset in args.datasets.split(","):
        if args.before_python:
            before = {} if before is None else before
            for structure, record in run_package(args.before_python, args.data, dataset, structures,
                                                 args.repeat, args.before_cpu_variant).items():
                before[f"{dataset}:{structure}"] = record
        if not args.ours_json:
            for structure, record in run_package(sys.executable, args.data, dataset, structures, args.repeat).items():
                ours[f"{dataset}:{structure}"] = record
        if args.anchor and not args.anchor_json:
            for structure, record in run_package(args.anchor, args.data, dataset, structures, args.repeat).items():
                anchor[f"{dataset}:{structure}"] = record
    if args.json:  # first: a table that fails must not lose the measurements
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "smash 1.3": anchor, "before": before or {}}, f, indent=1)
    for name, records in (("ours", ours), ("before", before or {})):
        variants = sorted({r["cpu_variant"] for r in records.values() if "cpu_variant" in r})
        if variants:
            print(f"CPU variant of the core, {name}: {', '.join(variants)}")
    print("CPU time of the process (minimum over runs):\n")
    print("\n".join(table(ours, anchor, before=before)))
    print("\nWall time (minimum over runs):\n")
    print("\n".join(table(ours, anchor, "_s", before=before)))
    overheads = [r["overhead_s"] for k, r in ours.items() if k.startswith("Lez:") and "overhead_s" in r]
    if overheads:
        print(f"\nPython overhead per forward_run call on Lez (outside the Fortran core, minimum over runs): "
              f"median over structures {1e3 * sorted(overheads)[len(overheads) // 2]:.2f} ms, "
              f"largest {1e3 * max(overheads):.2f} ms")


if __name__ == "__main__":
    main()
