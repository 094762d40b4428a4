"""`run_batch`: the catchments of a study still to do, run on an executor, with the summary kept up to date."""

from __future__ import annotations

import logging
import os
import time

from smash.batch import bookkeeping
from smash.batch._deps import require
from smash.batch.executors import check_workers, run_dask, run_local
from smash.batch.study import Study, load_study, shard

EXECUTORS = ("local", "dask", "slurm")
SUMMARY_INTERVAL = 1.0  # seconds between two rewrites of summary.csv while catchments finish
logger = logging.getLogger("smash.batch")


def array_position(array_index: int | None, array_count: int | None) -> tuple[int, int] | None:
    """(index, count) of this job-array task, from the arguments or SLURM's variables; None for the whole study."""
    env = os.environ
    if array_index is None and (array_count is not None or "SLURM_ARRAY_TASK_COUNT" in env):
        if "SLURM_ARRAY_TASK_ID" not in env:
            raise ValueError("--array-count without --array-index needs SLURM_ARRAY_TASK_ID (set in a SLURM job array)")
        array_index = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", 0))
    if array_index is None:
        return None
    if array_count is None:
        if "SLURM_ARRAY_TASK_COUNT" not in env:
            raise ValueError("--array-index needs --array-count (or SLURM_ARRAY_TASK_COUNT)")
        array_count = int(env["SLURM_ARRAY_TASK_COUNT"])
    return int(array_index), int(array_count)


def run_batch(study, executor: str = "local", workers: int = 1, scheduler=None, client=None,
              array_index: int | None = None, array_count: int | None = None, force: bool = False,
              retry_failed: bool = False, oversubscribe: bool = False, output=None, mode: str = "calibrate"):
    """Calibrate and evaluate every catchment of a study; return the summary as a pandas DataFrame.

    Parameters
    ----------
    study : str, os.PathLike or Study
        The study file (template config + catchment table, see `smash.batch.study`).
    executor : {"local", "dask", "slurm"}
        "local": `workers` processes on this machine; "dask": the dask.distributed cluster at
        `scheduler` (an address) or `client`; "slurm": a dask-jobqueue SLURMCluster from the
        study's `slurm` section, scaled to its `jobs` (default 1).
    workers : int
        Catchments at once with the local executor; `workers` x `calibration.ncpu` may not exceed the
        cores unless `oversubscribe`.
    array_index, array_count : int, optional
        Run shard `array_index` of `array_count` only (every K-th catchment); `array_index` defaults to
        SLURM_ARRAY_TASK_ID.
    force : bool
        Redo finished catchments (by default they are skipped).
    retry_failed : bool
        Redo failed catchments (by default they are kept as failed).
    output : str, optional
        Output folder (default the study's `output`).

    Returns
    -------
    pandas.DataFrame
        One row per catchment of the study: code, status (finished, failed, not started),
        cal_<metric> and val_<metric> at the catchment's gauge, n_iter, wall_time (s), error.
        The same table is written to `<output>/summary.csv` as each catchment ends.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose among {', '.join(EXECUTORS)}")
    if not isinstance(study, Study):
        study = load_study(study, output)
    outdir = os.path.abspath(output) if output else study.output
    codes = study.codes
    position = array_position(array_index, array_count)
    selected = study.catchments if position is None else shard(study.catchments, *position)
    if executor == "local":
        check_workers(workers, max((c.ncpu for c in selected), default=1), oversubscribe)
    bookkeeping.write_manifest(outdir, study.path, codes)
    stale = bookkeeping.clean_partials(outdir)
    if stale:
        logger.info("removed %d temporary folder(s) left by killed processes: %s", len(stale), ", ".join(stale))
    todo_codes = set(bookkeeping.to_do(outdir, [c.code for c in selected], force, retry_failed))
    todo = [c for c in selected if c.code in todo_codes]
    skipped = len(selected) - len(todo)
    logger.info("study %s: %d catchment(s)%s, %d to run, %d already done (skipped)", study.path, len(codes),
                "" if position is None else f", shard {position[0]} of {position[1]} holds {len(selected)}",
                len(todo), skipped)
    done = {"n": 0, "written": 0.0}
    # The rows so far, read once: each end of a catchment rewrites the summary without rereading the folders.
    known = {code: bookkeeping.catchment_state(outdir, code) for code in codes}

    def on_done(code, row):
        done["n"] += 1
        known[code] = row
        level = logging.INFO if row.get("status") == "finished" else logging.WARNING
        logger.log(level, "[%d/%d] %s %s%s", done["n"], len(todo), code, row.get("status"),
                   f": {row['error']}" if row.get("error") else "")
        # At most once per SUMMARY_INTERVAL (a study of thousands of small catchments would otherwise spend
        # its time rewriting the table), and always for the last one; the final write follows anyway.
        now = time.monotonic()
        if now - done["written"] >= SUMMARY_INTERVAL or done["n"] == len(todo):
            bookkeeping.write_summary(outdir, codes, known)
            done["written"] = now

    try:
        if executor == "local":
            run_local(todo, outdir, on_done, workers, mode)
        else:
            _run_on_dask(todo, outdir, on_done, executor, scheduler, client, study.slurm, mode)
    except KeyboardInterrupt:
        logger.warning("interrupted: the summary holds the catchments finished so far (%s)",
                       os.path.join(outdir, bookkeeping.SUMMARY))
        raise
    finally:
        # From the folders: shards running at once on other nodes may have finished catchments too.
        rows = bookkeeping.write_summary(outdir, codes)
    return bookkeeping.summary(outdir, codes, {row["code"]: row for row in rows})


def _run_on_dask(todo, outdir, on_done, executor, scheduler, client, slurm, mode) -> None:
    distributed = require("distributed", f"The {executor} executor")
    if client is not None:
        run_dask(todo, outdir, on_done, client, mode)
        return
    if executor == "dask":
        if scheduler is None:
            raise ValueError("the dask executor needs --scheduler ADDRESS (e.g. tcp://10.0.0.1:8786) or a client")
        with distributed.Client(scheduler) as own:
            run_dask(todo, outdir, on_done, own, mode)
        return
    from smash.batch.slurm import slurm_cluster

    with slurm_cluster(slurm) as cluster, distributed.Client(cluster) as own:
        cluster.scale(jobs=int(slurm.get("jobs", 1)))
        run_dask(todo, outdir, on_done, own, mode)
