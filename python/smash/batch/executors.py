"""Executors of a batch: where the catchments run. Each calls `on_done(code, row)` as a catchment ends.

- `run_local`: a pool of `workers` processes on this machine, one process per catchment, so that a
  worker killed mid-catchment (out of memory, a signal) fails that catchment alone and the pool
  goes on; its temporary folder is removed.
- `run_dask`: tasks on a `dask.distributed` cluster (an existing scheduler, a `LocalCluster`, or
  a `SLURMCluster` from dask-jobqueue, see `smash.batch.slurm`).
Both run the same function, `catchment.run_catchment`, hence the same results.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import uuid

from smash.batch._deps import require
from smash.batch.bookkeeping import clean_partials
from smash.batch.catchment import FAILED_DIR, RESULT_FILE, partial_folder, publish, run_catchment
from smash.batch.outputs import warm_up


def record_failure(outdir: str, catchment, error: str) -> dict:
    """Publish a failed result for a catchment whose own process could not (it was killed)."""
    row = {"code": catchment.code, "status": "failed", "n_iter": None, "wall_time": None, "error": error}
    partial = partial_folder(outdir, catchment.code)
    os.makedirs(partial, exist_ok=True)
    with open(os.path.join(partial, RESULT_FILE), "w", encoding="utf-8") as stream:
        json.dump({"row": row, "scores": {}, "gauge": None}, stream, indent=1)
    with open(os.path.join(partial, "log.txt"), "w", encoding="utf-8") as stream:
        stream.write(f"catchment {catchment.code} failed: {error}\n")
    publish(partial, os.path.join(outdir, FAILED_DIR, catchment.code))
    return row


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _worker(connection, outdir: str, mode: str) -> None:
    """A worker process: run the catchments received one at a time, send back each summary row."""
    # Ctrl-C reaches the whole process group: the parent decides and stops its workers with SIGTERM,
    # which unwinds run_catchment (its temporary folder removed).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            try:
                catchment = connection.recv()
            except EOFError:
                return
            if catchment is None:
                return
            connection.send(run_catchment(catchment.config, catchment.source, catchment.code, outdir,
                                          catchment.base_dir, mode))
    except KeyboardInterrupt:
        # Stopped by the parent: run_catchment has removed its temporary folder; no traceback to show.
        return


class _Worker:
    """A worker process, its end of the pipe and the catchment it runs (None when idle)."""

    def __init__(self, context, outdir: str, mode: str):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_worker, args=(child_end, outdir, mode), daemon=True,
                                       name="smash-batch-worker")
        self.process.start()
        child_end.close()
        self.catchment = None

    def give(self, catchment) -> None:
        self.catchment = catchment
        self.connection.send(catchment)

    def result(self):
        """The row it sent, or None when it died before sending one."""
        try:
            if self.connection.poll():
                return self.connection.recv()
        except (EOFError, OSError):
            pass
        return None

    def death(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
        return f"WorkerDied: the worker process was {how}"

    def stop(self, now: bool) -> None:
        if now:
            self.process.terminate()
        else:
            with contextlib.suppress(OSError):
                self.connection.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _warm_up() -> None:
    """Import in the parent what every catchment needs on first use (scipy.optimize for the optimizers,
    xarray's NetCDF backends: ~2 s together), so that forked workers start with them loaded."""
    import scipy.optimize  # noqa: F401

    warm_up()


def _context():
    # fork starts a worker in milliseconds with smash already imported; spawn where there is no fork.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def check_workers(workers: int, ncpu: int, oversubscribe: bool) -> None:
    """Refuse `workers` x `ncpu` threads above the cores of this machine unless `oversubscribe`."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers * ncpu > cores and not oversubscribe:
        raise ValueError(f"--workers {workers} x ncpu {ncpu} = {workers * ncpu} threads exceeds the {cores} cores "
                         f"available; lower --workers or calibration.ncpu, or pass --oversubscribe")


def run_local(catchments, outdir: str, on_done, workers: int = 1, mode: str = "calibrate") -> None:
    """Run `catchments` on at most `workers` worker processes.

    A worker that dies mid-catchment (a signal, out of memory) fails that catchment only: its
    temporary folder is removed and a new worker takes its place for the rest.
    """
    context = _context()
    if context.get_start_method() == "fork" and catchments:
        _warm_up()
    pending = list(catchments)
    pool: list[_Worker] = []
    try:
        while pending or any(w.catchment for w in pool):
            for worker in pool:
                if worker.catchment is None and pending:
                    worker.give(pending.pop(0))
            while pending and len(pool) < workers:
                pool.append(_Worker(context, outdir, mode))
                pool[-1].give(pending.pop(0))
            busy = [w for w in pool if w.catchment is not None]
            ready = set(multiprocessing.connection.wait([w.connection for w in busy] +
                                                        [w.process.sentinel for w in busy]))
            ended = []
            for worker in busy:
                if worker.connection not in ready and worker.process.sentinel not in ready:
                    continue
                catchment, row = worker.catchment, worker.result()
                worker.catchment = None
                if row is None:
                    # Died before it could report: no half-written folder stays, the catchment is failed.
                    error = worker.death()
                    clean_partials(outdir, pid=worker.process.pid)
                    worker.connection.close()
                    pool.remove(worker)
                    row = record_failure(outdir, catchment, error)
                elif not worker.process.is_alive():
                    # It reported, then died: not given another catchment.
                    worker.stop(now=True)
                    pool.remove(worker)
                ended.append((catchment, row))
            # The next catchments start before the bookkeeping of the ended ones.
            for worker in pool:
                if worker.catchment is None and pending:
                    worker.give(pending.pop(0))
            for catchment, row in ended:
                on_done(catchment.code, row)
    except BaseException:
        for worker in pool:
            if worker.catchment is not None:
                worker.process.terminate()
        for worker in pool:
            worker.stop(now=worker.catchment is not None)
            clean_partials(outdir, pid=worker.process.pid)
        pool = []
        raise
    finally:
        for worker in pool:
            worker.stop(now=False)


def run_dask(catchments, outdir: str, on_done, client, mode: str = "calibrate") -> None:
    """Run `catchments` as tasks of the dask.distributed `client`."""
    distributed = require("distributed", "The dask executor")
    batch_id = uuid.uuid4().hex[:8]
    futures = {client.submit(run_catchment, c.config, c.source, c.code, outdir, c.base_dir, mode,
                             key=f"smash-{c.code}-{batch_id}", pure=False): c for c in catchments}
    try:
        for future in distributed.as_completed(futures):
            catchment = futures[future]
            try:
                row = future.result()
            except Exception as err:  # e.g. KilledWorker: the task's workers died more times than allowed
                row = record_failure(outdir, catchment, f"{type(err).__name__}: {err}")
            on_done(catchment.code, row)
    except BaseException:
        client.cancel(list(futures))
        raise
