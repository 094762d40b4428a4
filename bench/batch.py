"""Batch throughput: catchments per hour with 1 and 2 local workers, and the batch's overhead per
catchment against calling the Python API in a loop for the same work.

    python bench/batch.py [--catchments 8] [--size 16] [--maxiter 20] [--repeat 2]

The study is made of synthetic twin catchments (each its own seed). The loop does what a catchment
of the batch does (build, calibrate, validate, score, write the discharge NetCDF and the parameter
GeoTIFFs) with the public API in one process; the batch adds a process per catchment, the config
validation, the log file, the atomic folder and the summary. Each figure is the best of `--repeat`
runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

import yaml


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children: unlike the wall time,
    it does not grow when other jobs share the cores."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def write_study(folder: str, n: int, size: int, maxiter: int) -> str:
    template = {
        "setup": {"hydrological_module": "gr4", "routing_module": "lr"},
        "mesh": {"synthetic": {"nrow": size, "ncol": size, "seed": 0, "year": 2020}},
        "periods": {"calibration": {"start": "2020-01-01", "end": "2020-08-31", "warmup_end": "2020-02-01"},
                    "validation": {"start": "2020-09-01", "end": "2020-12-31", "warmup_end": "2020-09-15"}},
        "calibration": {"mapping": "distributed", "optimizer": "lbfgsb",
                        "optimize_options": {"termination_crit": {"maxiter": maxiter}}},
        "metrics": ["nse", "kge"],
    }
    with open(os.path.join(folder, "template.yaml"), "w") as stream:
        yaml.safe_dump(template, stream)
    with open(os.path.join(folder, "catchments.csv"), "w") as stream:
        stream.write("code,mesh.synthetic.seed\n" + "".join(f"B{i},{200 + i}\n" for i in range(n)))
    path = os.path.join(folder, "study.yaml")
    with open(path, "w") as stream:
        yaml.safe_dump({"config": "template.yaml", "catchments": "catchments.csv", "output": "out"}, stream)
    return path


def api_loop(study_path: str, outdir: str) -> float:
    """Wall time of the same work done with the Python API in a loop (one process)."""
    from threadpoolctl import threadpool_limits

    import smash
    from smash.batch.catchment import build_model
    from smash.batch.config import validate_config
    from smash.batch.outputs import write_discharge
    from smash.batch.study import load_study

    study = load_study(study_path)
    configs = [validate_config(c.config, c.source, c.base_dir) for c in study.catchments]
    # One BLAS thread, as each batch catchment runs (smash.batch.catchment.blas_threads): with the
    # default pool the loop keeps a second core busy-waiting and the comparison is of BLAS settings.
    limit = threadpool_limits(limits=1, user_api="blas")
    t0, c0 = time.perf_counter(), cpu_seconds()
    for code, config in zip(study.codes, configs, strict=True):
        folder = os.path.join(outdir, code)
        os.makedirs(folder)
        cal = config.calibration
        model = build_model(config)
        model, _ = smash.optimize(model, cal.mapping, cal.optimizer, cal.smash_optimize_options(),
                                  {"end_warmup": config.periods.calibration.warmup_end},
                                  common_options={"verbose": False}, return_options={"cost": True})
        validation = build_model(config, config.periods.validation)
        for name in model.rr_parameters.keys:
            validation.set_rr_parameters(str(name), model.get_rr_parameters(str(name)))
        validation.forward_run(common_options={"verbose": False})
        smash.evaluation(model, ["nse", "kge"], start_eval=config.periods.calibration.warmup_end)
        smash.evaluation(validation, ["nse", "kge"], start_eval=config.periods.validation.warmup_end)
        write_discharge(os.path.join(folder, "discharge_calibration.nc"), model)
        write_discharge(os.path.join(folder, "discharge_validation.nc"), validation)
        smash.io.save_grid_parameters(model, os.path.join(folder, "parameters"))
    elapsed = time.perf_counter() - t0, cpu_seconds() - c0
    limit.restore_original_limits()
    return elapsed


def batch_run(study_path: str, outdir: str, workers: int) -> float:
    import smash

    t0, c0 = time.perf_counter(), cpu_seconds()
    frame = smash.batch(study_path, workers=workers, output=outdir, force=True)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if not (frame["status"] == "finished").all():
        raise RuntimeError(f"a catchment failed:\n{frame[['code', 'status', 'error']]}")
    return elapsed, cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catchments", type=int, default=8)
    parser.add_argument("--size", type=int, default=16, help="grid side of each synthetic catchment (cells)")
    parser.add_argument("--maxiter", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    n = args.catchments
    with tempfile.TemporaryDirectory() as folder:
        study = write_study(folder, n, args.size, args.maxiter)
        # Imports and first-use costs out of the timings (the batch parent warms up the same way).
        api_loop(study, os.path.join(folder, "warm"))
        times = {"loop": [], 1: [], 2: []}
        for r in range(args.repeat):
            loop_dir = os.path.join(folder, f"loop{r}")
            times["loop"].append(api_loop(study, loop_dir))
            shutil.rmtree(loop_dir)
            for workers in (1, 2):
                times[workers].append(batch_run(study, os.path.join(folder, f"batch{workers}_{r}"), workers))
    best = {k: min(t[0] for t in v) for k, v in times.items()}
    cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    load = os.getloadavg()
    print(f"batch bench: {n} synthetic catchments of {args.size} x {args.size} cells, lbfgsb distributed, "
          f"maxiter {args.maxiter}, best of {args.repeat}; load average {load[0]:.1f} on {os.cpu_count()} cores")
    print(f"  API loop (one process):  {best['loop']:.2f} s = {3600 * n / best['loop']:.0f} catchments/h")
    for workers in (1, 2):
        rate = 3600 * n / best[workers]
        print(f"  smash.batch, {workers} worker(s): {best[workers]:.2f} s = {rate:.0f} catchments/h")
    print(f"  speed-up 2 workers / 1 worker: {best[1] / best[2]:.2f}x (target >= 1.8x)")
    overhead = (best[1] - best["loop"]) / n
    print(f"  batch overhead per catchment (1 worker vs loop), wall time: {1000 * overhead:.0f} ms = "
          f"{100 * (best[1] - best['loop']) / best['loop']:.1f} % (target < 5 %)")
    print(f"  CPU time (user + system): loop {cpu['loop']:.2f} s, batch 1 worker {cpu[1]:.2f} s, 2 workers "
          f"{cpu[2]:.2f} s; overhead per catchment {1000 * (cpu[1] - cpu['loop']) / n:.0f} ms = "
          f"{100 * (cpu[1] - cpu['loop']) / cpu['loop']:.1f} %")


if __name__ == "__main__":
    main()
