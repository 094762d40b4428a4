"""smash.batch studies of synthetic twin catchments: executors agree, outputs are consistent, faults stay local."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import yaml
from batch_twins import twin_codes, write_twin_study

pytest.importorskip("pydantic")
xr = pytest.importorskip("xarray")
distributed = pytest.importorskip("distributed")

import smash  # noqa: E402
from smash.batch import catchment  # noqa: E402
from smash.batch.config import load_config, validate_config  # noqa: E402
from smash.io import read_grid_parameters  # noqa: E402

N_TWINS = 8


@pytest.fixture(scope="module")
def twin_study(tmp_path_factory):
    """An 8-twin study calibrated with the local executor (2 workers): (study file, summary)."""
    study = write_twin_study(tmp_path_factory.mktemp("twins"), n=N_TWINS)
    summary = smash.batch(study, executor="local", workers=2)
    return study, summary


def _outdir(study) -> str:
    return str(study.parent / "study_output")


def _parameters(folder) -> dict:
    import rasterio

    out = {}
    for name in sorted(os.listdir(os.path.join(folder, "parameters"))):
        with rasterio.open(os.path.join(folder, "parameters", name)) as src:
            out[name] = src.read(1)
    return out


def test_every_twin_finishes_and_calibration_beats_the_default_parameters(twin_study):
    study, summary = twin_study
    assert list(summary["code"]) == twin_codes(N_TWINS)
    assert (summary["status"] == "finished").all(), summary[["code", "error"]]
    assert (summary["n_iter"] == 3).all()
    for code, cal_nse in zip(summary["code"], summary["cal_nse"], strict=True):
        config = validate_config(yaml.safe_load(open(os.path.join(_outdir(study), code, "config.yaml"))),
                                 "config.yaml")
        default = catchment.build_model(config)
        default.forward_run(common_options={"verbose": False})
        # The uncalibrated model's NSE at the same gauge over the same window.
        before = smash.evaluation(default, "nse", start_eval=config.periods.calibration.warmup_end)[0, 0]
        assert cal_nse > before + 0.01, (code, cal_nse, before)


def test_reported_scores_are_the_nse_of_the_written_discharge(twin_study):
    study, summary = twin_study
    for _, row in summary.iterrows():
        for period, prefix in (("calibration", "cal"), ("validation", "val")):
            data = xr.open_dataset(os.path.join(_outdir(study), row["code"], f"discharge_{period}.nc"))
            config = load_config(os.path.join(_outdir(study), row["code"], "config.yaml"))
            warmup_end = np.datetime64(getattr(config.periods, period).warmup_end.replace(" ", "T"))
            window = data["time"].values > warmup_end
            sim = data["qsim"].values[0, window].astype(np.float64)
            obs = data["qobs"].values[0, window].astype(np.float64)
            seen = np.isfinite(obs)
            nse = 1 - np.sum((sim[seen] - obs[seen]) ** 2) / np.sum((obs[seen] - obs[seen].mean()) ** 2)
            assert row[f"{prefix}_nse"] == pytest.approx(nse, rel=1e-6, abs=1e-9)
            data.close()


def test_netcdf_follows_cf_and_holds_the_config(twin_study):
    study, _ = twin_study
    folder = os.path.join(_outdir(study), "TWIN0")
    with xr.open_dataset(os.path.join(folder, "discharge_calibration.nc")) as data:
        assert data.attrs["Conventions"].startswith("CF-")
        assert data.attrs["smash_version"] == smash.__version__
        assert yaml.safe_load(data.attrs["smash_config"])["mesh"]["synthetic"]["seed"] == 100
        assert list(data["gauge"].values) == ["SYN00000", "SYN00001", "SYN00002"]
        assert data["qsim"].attrs["units"] == "m3 s-1" and data["qobs"].attrs["units"] == "m3 s-1"
        assert data["qsim"].dims == ("gauge", "time")
        # Daily steps from 2020-01-01 to 2020-06-30: the first ends on 01-02.
        assert str(data["time"].values[0])[:10] == "2020-01-02" and str(data["time"].values[-1])[:10] == "2020-06-30"


def test_written_parameter_maps_reproduce_the_written_discharge(twin_study):
    study, _ = twin_study
    folder = os.path.join(_outdir(study), "TWIN5")
    config = load_config(os.path.join(folder, "config.yaml"))
    model = catchment.build_model(config)
    read_grid_parameters(model, os.path.join(folder, "parameters"))
    model.forward_run(common_options={"verbose": False})
    with xr.open_dataset(os.path.join(folder, "discharge_calibration.nc")) as data:
        np.testing.assert_allclose(data["qsim"].values, model.response.q, rtol=1e-6, atol=1e-7)


def test_dask_local_cluster_gives_identical_parameters_and_scores(twin_study, tmp_path):
    study, local = twin_study
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = smash.batch(study, executor="dask", scheduler=cluster.scheduler_address,
                              output=str(tmp_path / "dask_output"))
    columns = [c for c in local.columns if c.startswith(("cal_", "val_"))] + ["code", "status", "n_iter"]
    assert on_dask[columns].equals(local[columns])
    for code in twin_codes(N_TWINS):
        ours, theirs = _parameters(os.path.join(_outdir(study), code)), _parameters(tmp_path / "dask_output" / code)
        assert ours.keys() == theirs.keys() and len(ours) == 5
        for name in ours:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=f"{code} {name}")


def _partials(outdir) -> list[str]:
    return [n for n in os.listdir(outdir) if n.startswith(".partial-")]


def test_killed_worker_fails_its_catchment_only_and_a_rerun_completes_without_redoing(tmp_path, monkeypatch):
    study = write_twin_study(tmp_path, n=4, maxiter=1)
    outdir = _outdir(study)
    real_calibrate = catchment.calibrate

    def killed_in_twin1(config, logger):
        if logger.name == "smash.batch.TWIN1":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_calibrate(config, logger)

    # The local executor forks its workers: they inherit the patched pipeline.
    monkeypatch.setattr(catchment, "calibrate", killed_in_twin1)
    summary = smash.batch(study, workers=2).set_index("code")
    assert summary.loc["TWIN1", "status"] == "failed"
    assert "killed by signal 9" in summary.loc["TWIN1", "error"]
    assert (summary.drop("TWIN1")["status"] == "finished").all()
    assert not os.path.exists(os.path.join(outdir, "TWIN1")), "no half-written folder"
    assert not _partials(outdir)
    monkeypatch.setattr(catchment, "calibrate", real_calibrate)
    stamps = {c: os.stat(os.path.join(outdir, c, "result.json")).st_mtime_ns for c in ("TWIN0", "TWIN2", "TWIN3")}

    # A plain re-run leaves both the finished and the failed catchments alone.
    again = smash.batch(study, workers=2).set_index("code")
    assert again.loc["TWIN1", "status"] == "failed"
    again = smash.batch(study, workers=2, retry_failed=True).set_index("code")
    assert (again["status"] == "finished").all()
    assert not os.path.exists(os.path.join(outdir, "_failed", "TWIN1"))
    assert stamps == {c: os.stat(os.path.join(outdir, c, "result.json")).st_mtime_ns for c in stamps}
    with open(os.path.join(outdir, "summary.csv")) as stream:
        assert stream.read().count(",finished,") == 4


def test_bad_input_in_one_catchment_is_reported_while_the_others_succeed(tmp_path):
    study = write_twin_study(tmp_path, n=3, maxiter=1,
                             rows_extra={"TWIN1": {"calibration.cost_options.end_warmup": "2030-01-01"}})
    summary = smash.batch(study).set_index("code")
    assert summary.loc["TWIN1", "status"] == "failed"
    assert "end_warmup" in summary.loc["TWIN1", "error"]
    assert (summary.loc[["TWIN0", "TWIN2"], "status"] == "finished").all()
    failed = os.path.join(_outdir(study), "_failed", "TWIN1")
    with open(os.path.join(failed, "result.json")) as stream:
        assert json.load(stream)["row"]["status"] == "failed"
    with open(os.path.join(failed, "log.txt")) as stream:
        assert "end_warmup" in stream.read()


def test_workers_times_threads_above_the_cores_is_refused(tmp_path):
    study = write_twin_study(tmp_path, n=2, maxiter=1)
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match=r"exceeds the \d+ cores available.*--oversubscribe"):
        smash.batch(study, workers=cores + 1)


def test_force_redoes_finished_catchments(tmp_path):
    study = write_twin_study(tmp_path, n=2, maxiter=1)
    first = smash.batch(study)
    result = os.path.join(_outdir(study), "TWIN0", "result.json")
    stamp = os.stat(result).st_mtime_ns
    assert smash.batch(study).equals(first) and os.stat(result).st_mtime_ns == stamp
    again = smash.batch(study, force=True)
    assert os.stat(result).st_mtime_ns != stamp
    columns = ["code", "status", "cal_nse", "val_nse", "n_iter"]
    assert again[columns].equals(first[columns])
