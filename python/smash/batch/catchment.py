"""One catchment's pipeline: build the model, calibrate it, evaluate it over the validation period,
write its outputs into one folder atomically (a temporary name, renamed when complete).

`run_catchment` never raises for the catchment's own problems (a gauge off the raster, no
observations, a non-finite cost...): it returns a result whose status is "failed" with the
message, so that one catchment never stops the others. Only an interrupt propagates, after its
temporary folder is removed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import time
import traceback
import warnings

import numpy as np

from smash.batch._deps import require
from smash.batch.config import DIRECTORY_KEYS, Config, config_to_yaml, validate_config
from smash.batch.logs import catchment_logger
from smash.batch.outputs import write_discharge

FAILED_DIR = "_failed"
RESULT_FILE = "result.json"
LOG_FILE = "log.txt"
PARTIAL_PREFIX = ".partial-"


def build_model(config: Config, period=None):
    """The smash Model the config describes, over `period` (default the calibration period or the setup's)."""
    from smash.factory.mesh import generate_mesh
    from smash.factory.synthetic import synthetic_setup_mesh
    from smash.io.mesh import read_mesh
    from smash.model import Model

    source = config.mesh
    setup = {}
    if source.synthetic is not None:
        spec = source.synthetic
        setup, mesh = synthetic_setup_mesh(spec.nrow, spec.ncol, seed=spec.seed, year=spec.year)
    elif source.file is not None:
        mesh = read_mesh(config.path(source.file))
    else:
        code = source.code or "gauge"
        mesh = generate_mesh(config.path(source.flwdir), x=[source.x], y=[source.y], area=[source.area * 1e6],
                             code=[code], max_depth=source.max_depth, area_error_th=source.area_error_th)
    setup.update(config.setup)
    for key in DIRECTORY_KEYS:
        if setup.get(key):
            setup[key] = config.path(setup[key])
    period = period or config.periods.calibration
    if period is not None:
        setup["start_time"], setup["end_time"] = period.start, period.end
    return Model(setup, mesh)


def _target_gauge(model, code: str) -> int:
    """Index of the gauge named `code` in the mesh, else 0 (the first gauge, smash's most downstream)."""
    codes = [str(c) for c in np.asarray(model.mesh.code)]
    return codes.index(code) if code in codes else 0


def _scores(model, metrics, warmup_end) -> dict:
    """{gauge code: {metric: value}} over the steps after warmup_end (NaN as None for JSON)."""
    from smash.analysis.evaluation import evaluation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = evaluation(model, list(metrics), start_eval=warmup_end)
    return {str(code): {m: (None if not math.isfinite(v) else float(v)) for m, v in zip(metrics, row, strict=True)}
            for code, row in zip(np.asarray(model.mesh.code), values, strict=True)}


def calibrate(config: Config, logger):
    """(calibrated model, number of iterations, final cost) over the calibration period."""
    from smash.calibration.optimize import optimize

    model = build_model(config)
    logger.info("model built: %s, %d x %d cells (%d active), %d gauge(s), %d steps", model.setup.structure,
                model.mesh.nrow, model.mesh.ncol, model.mesh.nac, model.mesh.ng, model.setup.ntime_step)
    cal = config.calibration
    cost_options = dict(cal.cost_options)
    period = config.periods.calibration
    if period is not None and period.warmup_end and "end_warmup" not in cost_options:
        cost_options["end_warmup"] = period.warmup_end

    def callback(iopt):
        logger.debug("iteration %d: cost %.6g", iopt.n_iter, iopt.cost)

    if cal.first_guess is not None:
        first = cal.first_guess
        model, ret = optimize(model, first.mapping, first.optimizer, first.smash_optimize_options(), cost_options,
                              common_options={"ncpu": cal.ncpu, "verbose": False}, return_options={"cost": True},
                              callback=callback)
        logger.info("first guess (%s, %s): %d iterations, cost %.6g", first.mapping, first.optimizer or "default",
                    ret.n_iter, ret.cost)
    model, ret = optimize(model, cal.mapping, cal.optimizer, cal.smash_optimize_options(), cost_options,
                          common_options={"ncpu": cal.ncpu, "verbose": False}, return_options={"cost": True},
                          callback=callback)
    if not math.isfinite(ret.cost):
        raise FloatingPointError(f"the calibration ended on a non-finite cost ({ret.cost})")
    logger.info("calibrated (%s, %s): %d iterations, cost %.6g", cal.mapping, cal.optimizer or "default",
                ret.n_iter, ret.cost)
    return model, int(ret.n_iter), float(ret.cost)


def validate(config: Config, calibrated, logger):
    """A model over the validation period with the calibrated parameters, run forward."""
    model = build_model(config, config.periods.validation)
    for name in np.asarray(calibrated.rr_parameters.keys).astype(str):
        model.set_rr_parameters(name, calibrated.get_rr_parameters(name))
    model.forward_run(common_options={"ncpu": config.calibration.ncpu, "verbose": False})
    logger.info("validation run over %s - %s", model.setup.start_time, model.setup.end_time)
    return model


def _write_outputs(folder: str, config: Config, config_yaml: str, models: dict) -> None:
    from smash.io.grid_parameters import save_grid_parameters

    out = config.outputs
    for period, model in models.items():
        if out.discharge:
            write_discharge(os.path.join(folder, f"discharge_{period}.nc"), model, config_yaml, period, out.observed)
    if out.parameters and "calibration" in models:
        save_grid_parameters(models["calibration"], os.path.join(folder, "parameters"))


def _summary_row(code: str, status: str, scores: dict, gauge: str | None, metrics, n_iter, wall_time, error) -> dict:
    row = {"code": code, "status": status}
    for period in ("calibration", "validation"):
        for m in metrics:
            value = scores.get(period, {}).get(gauge, {}).get(m) if gauge else None
            row[f"{period[:3]}_{m}"] = value
    row.update({"n_iter": n_iter, "wall_time": round(wall_time, 3), "error": error})
    return row


def partial_folder(outdir: str, code: str) -> str:
    """The temporary folder a catchment is written to (its host and process name it: see clean_partials)."""
    return os.path.join(outdir, f"{PARTIAL_PREFIX}{code}@{socket.gethostname()}.{os.getpid()}")


def parse_partial(name: str) -> tuple[str, str, int] | None:
    """(code, host, pid) of a temporary folder's name (`partial_folder`), None for another name."""
    if not name.startswith(PARTIAL_PREFIX):
        return None
    stem = name[len(PARTIAL_PREFIX):].removesuffix(".old")
    owner, _, pid_text = stem.rpartition(".")
    code, _, host = owner.rpartition("@")
    return (code, host, int(pid_text)) if code and host and pid_text.isdigit() else None


def publish(partial: str, target: str) -> None:
    """Put the complete folder `partial` at `target`, replacing an older one (never a half-written state)."""
    if os.path.isdir(target):
        # The old result moves aside first: `target` is always either the old or the new folder.
        old = f"{partial}.old"
        os.rename(target, old)
        os.rename(partial, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(partial, target)


def _run_models(config: Config, mode: str, logger):
    """({"calibration": model[, "validation": model]}, iterations) of a catchment."""
    if mode == "run":
        model = build_model(config)
        model.forward_run(common_options={"ncpu": config.calibration.ncpu, "verbose": False})
        return {"calibration": model}, None
    models = {}
    models["calibration"], n_iter, _ = calibrate(config, logger)
    if config.periods.validation is not None:
        models["validation"] = validate(config, models["calibration"], logger)
    return models, n_iter


@contextlib.contextmanager
def blas_threads(ncpu: int):
    """Limit the BLAS thread pool to the catchment's `ncpu` while it runs: numpy's OpenBLAS keeps a
    thread per core busy-waiting after each call, which took a second core from every worker (two
    workers on two cores ran no faster than one)."""
    threadpoolctl = require("threadpoolctl", "smash batch")
    with threadpoolctl.threadpool_limits(limits=int(ncpu), user_api="blas"):
        yield


def run_catchment(config_data: dict, source: str, code: str, outdir: str, base_dir: str | None = None,
                  mode: str = "calibrate") -> dict:
    """Run one catchment (`mode` "calibrate" or "run") and publish its folder; return its summary row.

    The folder is `<outdir>/<code>` on success and `<outdir>/_failed/<code>` on failure, each with
    `result.json` (the row and the scores per gauge), `log.txt` and `config.yaml`; on success also the
    discharge NetCDF files and the calibrated parameter maps (GeoTIFF, in `parameters/`).
    """
    t0 = time.perf_counter()
    os.makedirs(outdir, exist_ok=True)
    partial = partial_folder(outdir, code)
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    scores, n_iter, error, metrics, gauge = {}, None, None, ["nse"], None
    try:
        with catchment_logger(code, os.path.join(partial, LOG_FILE)) as logger:
            logger.info("catchment %s started (pid %d on %s)", code, os.getpid(), socket.gethostname())
            try:
                config = validate_config(config_data, source, base_dir)
                metrics = list(config.metrics)
                config_yaml = config_to_yaml(config)
                with open(os.path.join(partial, "config.yaml"), "w", encoding="utf-8") as stream:
                    stream.write(config_yaml)
                with blas_threads(config.calibration.ncpu):
                    models, n_iter = _run_models(config, mode, logger)
                gauge = str(np.asarray(models["calibration"].mesh.code)[_target_gauge(models["calibration"], code)])
                for period, model in models.items():
                    window = getattr(config.periods, period)
                    try:
                        scores[period] = _scores(model, metrics, window.warmup_end if window else None)
                    except ValueError as err:
                        if mode != "run":
                            raise
                        logger.info("no scores: %s", err)
                    logger.info("%s scores at %s: %s", period, gauge, scores.get(period, {}).get(gauge))
                _write_outputs(partial, config, config_yaml, models)
                status = "finished"
            except Exception as err:  # one catchment's problem never stops the batch: it is reported
                status, error = "failed", f"{type(err).__name__}: {err}"
                logger.error("catchment %s failed: %s\n%s", code, error, traceback.format_exc())
            row = _summary_row(code, status, scores, gauge, metrics, n_iter, time.perf_counter() - t0, error)
            logger.info("catchment %s %s in %.2f s", code, status, row["wall_time"])
        with open(os.path.join(partial, RESULT_FILE), "w", encoding="utf-8") as stream:
            json.dump({"row": row, "scores": scores, "gauge": gauge}, stream, indent=1)
        target = os.path.join(outdir, code) if status == "finished" else os.path.join(outdir, FAILED_DIR, code)
        # A success replaces an older failure, and the other way round (a failure only with --force).
        other = os.path.join(outdir, FAILED_DIR, code) if status == "finished" else os.path.join(outdir, code)
        publish(partial, target)
        shutil.rmtree(other, ignore_errors=True)
        return row
    except BaseException:
        # An interrupt (or a failure to write): no half-written folder is left behind.
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
        raise
