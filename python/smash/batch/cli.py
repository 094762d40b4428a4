"""The `smash` command: run, calibrate, batch, status (each with --help)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

COMMANDS = ("run", "calibrate", "batch", "status")
logger = logging.getLogger("smash.batch")


def _verbosity(args) -> int:
    return -1 if args.quiet else (1 if args.verbose else 0)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    talk = common.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="show warnings and errors only")
    talk.add_argument("-v", "--verbose", action="store_true", help="show every log record (iterations too)")

    parser = argparse.ArgumentParser(
        prog="smash", description="Spatially distributed hydrological modelling: run, calibrate and batch-calibrate "
        "smash models from YAML configs. `python -m smash` without arguments runs the demonstration job.",
        epilog="See docs/batch.md for the config and study file reference.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, text in (("run", "build the model of one config, run it and write its simulated discharge"),
                       ("calibrate", "calibrate the model of one config, evaluate it over the validation period "
                                     "and write the results")):
        cmd = sub.add_parser(name, parents=[common], help=text, description=text)
        cmd.add_argument("config", metavar="CONFIG", help="YAML config file")
        cmd.add_argument("--out", help="output folder (default: the config's outputs.directory)")
        cmd.add_argument("--force", action="store_true", help="replace an existing output folder")

    text = "calibrate and evaluate every catchment of a study, in parallel"
    cmd = sub.add_parser("batch", parents=[common], help=text, description=text)
    cmd.add_argument("study", metavar="STUDY", help="study file (template config + catchment table)")
    cmd.add_argument("--executor", choices=("local", "dask", "slurm"), default="local",
                     help="local: a process pool here (default); dask: an existing dask.distributed scheduler; "
                          "slurm: a dask-jobqueue SLURMCluster from the study's slurm section")
    cmd.add_argument("--workers", type=int, default=1, help="catchments at once with the local executor (default 1)")
    cmd.add_argument("--oversubscribe", action="store_true",
                     help="allow workers x calibration.ncpu above the cores of this machine")
    cmd.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address (--executor dask)")
    cmd.add_argument("--array-index", type=int, metavar="I",
                     help="run only shard I (default: SLURM_ARRAY_TASK_ID when --array-count is given)")
    cmd.add_argument("--array-count", type=int, metavar="K", help="number of shards of a job array")
    cmd.add_argument("--job-array-script", action="store_true",
                     help="print a SLURM job-array script running the study (with --array-count shards) and exit")
    cmd.add_argument("--dry-run", action="store_true",
                     help="print what would be submitted (the dask-jobqueue job script with --executor slurm) "
                          "and the catchments to run, and exit")
    cmd.add_argument("--force", action="store_true", help="redo finished catchments too")
    cmd.add_argument("--retry-failed", action="store_true", help="redo failed catchments")
    cmd.add_argument("--output", help="output folder (default: the study's output)")

    text = "what a batch has done: finished, failed (with the error), not started, and the scores so far"
    cmd = sub.add_parser("status", parents=[common], help=text, description=text)
    cmd.add_argument("outdir", metavar="OUTDIR", help="the batch's output folder")
    return parser


def _single(args, mode: str) -> int:
    """smash run / smash calibrate: one config into one folder."""
    from smash.batch.catchment import FAILED_DIR, run_catchment
    from smash.batch.config import load_config, read_yaml

    config = load_config(args.config)
    outdir = os.path.abspath(args.out) if args.out else config.path(config.outputs.directory)
    if os.path.exists(outdir) and not args.force:
        raise FileExistsError(f"output folder {outdir} exists; pass --force to replace it")
    parent, name = os.path.split(outdir)
    row = run_catchment(read_yaml(args.config), os.fspath(args.config), name, parent, mode=mode)
    if row["status"] != "finished":
        logger.error("%s failed: %s (log in %s)", args.config, row["error"], os.path.join(parent, FAILED_DIR, name))
        return 1
    scores = {k: v for k, v in row.items() if k.startswith(("cal_", "val_")) and v is not None}
    print(f"{mode}: {args.config} -> {outdir}" + (f" ({row['n_iter']} iterations)" if row.get("n_iter") else ""))
    for key, value in scores.items():
        print(f"  {key} = {value:.4f}")
    return 0


def _batch(args) -> int:
    from smash.batch.runner import array_position, run_batch
    from smash.batch.study import load_study, shard

    study = load_study(args.study, args.output)
    if args.job_array_script:
        from smash.batch.slurm import job_array_script

        count = args.array_count or int(study.slurm.get("array_count", len(study.catchments)))
        extra = [a for flag, a in ((args.force, "--force"), (args.retry_failed, "--retry-failed")) if flag]
        if args.output:
            extra += ["--output", os.path.abspath(args.output)]
        print(job_array_script(study.path, study.slurm, count, args.workers, extra))
        return 0
    if args.dry_run:
        from smash.batch import bookkeeping

        if args.executor == "slurm":
            from smash.batch.slurm import dask_job_script

            print(dask_job_script(study.slurm))
        position = array_position(args.array_index, args.array_count)
        selected = study.catchments if position is None else shard(study.catchments, *position)
        todo = bookkeeping.to_do(study.output, [c.code for c in selected], args.force, args.retry_failed)
        print(f"# {len(todo)} catchment(s) to run into {study.output}: {' '.join(todo)}")
        return 0
    frame = run_batch(study, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                      array_index=args.array_index, array_count=args.array_count, force=args.force,
                      retry_failed=args.retry_failed, oversubscribe=args.oversubscribe, output=args.output)
    counts = frame["status"].value_counts().to_dict()
    print(f"batch {study.path}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) +
          f"; summary in {os.path.join(args.output or study.output, 'summary.csv')}")
    return 1 if counts.get("failed") else 0


def _status(args) -> int:
    import pandas

    from smash.batch import bookkeeping

    manifest = bookkeeping.read_manifest(args.outdir)
    frame = bookkeeping.summary(args.outdir, manifest["codes"])
    now = bookkeeping.running(args.outdir)
    frame.loc[frame["code"].isin(now) & (frame["status"] == bookkeeping.NOT_STARTED), "status"] = "running"
    counts = frame["status"].value_counts().to_dict()
    print(f"study {manifest['study']}: {len(frame)} catchment(s): " +
          ", ".join(f"{counts.get(s, 0)} {s}" for s in (bookkeeping.FINISHED, bookkeeping.FAILED, "running",
                                                        bookkeeping.NOT_STARTED)))
    with pandas.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.max_colwidth", 80):
        print(frame.to_string(index=False, na_rep="-"))
    return 0


def main(argv=None) -> int:
    """Entry point of the `smash` command; returns the exit status (0 ok, 1 a catchment failed, 2 bad input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from smash.batch.logs import configure_console

    restore_console = configure_console(_verbosity(args))
    try:
        if args.command in ("run", "calibrate"):
            return _single(args, args.command)
        return _batch(args) if args.command == "batch" else _status(args)
    except KeyboardInterrupt:
        print("smash: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as err:
        print(f"smash {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        restore_console()


def console_main() -> None:
    sys.exit(main())
