"""The `smash` command: every subcommand, its --help, config errors, SLURM scripts, Ctrl-C, the examples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from batch_twins import twin_codes, write_twin_study

from helpers import REPO_ROOT

pytest.importorskip("pydantic")
xr = pytest.importorskip("xarray")

import smash  # noqa: E402
from smash.batch import catchment  # noqa: E402
from smash.batch.cli import main  # noqa: E402
from smash.batch.config import load_config  # noqa: E402

EXAMPLES = REPO_ROOT / "docs" / "examples"


def _example(tmp_path, name: str, maxiter: int) -> Path:
    """A copy of docs/examples/<name> with fewer iterations (its paths are absolute or ${SMASH_DATA_DIR})."""
    data = yaml.safe_load((EXAMPLES / name).read_text())
    data["calibration"]["optimize_options"]["termination_crit"]["maxiter"] = maxiter
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("command", [[], ["run"], ["calibrate"], ["batch"], ["status"]])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: smash")
    for word in {(): ["run", "calibrate", "batch", "status"], ("run",): ["CONFIG", "--quiet", "--verbose"],
                 ("calibrate",): ["CONFIG", "--out", "--force"],
                 ("batch",): ["--executor", "--workers", "--scheduler", "--array-index", "--array-count",
                              "--job-array-script", "--dry-run", "--retry-failed"],
                 ("status",): ["OUTDIR"]}[tuple(command)]:
        assert word in out


def test_run_writes_the_discharge_of_a_forward_run(tmp_path, capsys):
    config = _example(tmp_path, "synthetic.yaml", 1)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "-q"]) == 0
    model = catchment.build_model(load_config(config))
    model.forward_run(common_options={"verbose": False})
    with xr.open_dataset(tmp_path / "out" / "discharge_calibration.nc") as data:
        np.testing.assert_array_equal(data["qsim"].values, model.response.q)
    assert "run:" in capsys.readouterr().out


def test_calibrate_the_synthetic_example_and_refuse_to_overwrite(tmp_path, capsys):
    config = _example(tmp_path, "synthetic.yaml", 2)
    out = tmp_path / "cal"
    assert main(["calibrate", str(config), "--out", str(out), "--verbose"]) == 0
    captured = capsys.readouterr()
    assert "(2 iterations)" in captured.out and "val_nse = " in captured.out
    # --verbose shows the iterations, which the log file holds too.
    assert "iteration 2: cost" in captured.err and "iteration 2: cost" in (out / "log.txt").read_text()
    assert {p.name for p in out.iterdir()} >= {"discharge_calibration.nc", "discharge_validation.nc", "parameters",
                                               "log.txt", "result.json", "config.yaml"}
    assert main(["calibrate", str(config), "--out", str(out), "-q"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["calibrate", str(config), "--out", str(out), "-q", "--force"]) == 0
    assert capsys.readouterr().err == "", "--quiet shows no progress"


def test_config_error_exits_2_naming_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mesh: {synthetic: {seed: 1}}\ncalibration: {optimiser: lbfgsb}\n")
    assert main(["calibrate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "calibration.optimiser: unknown key" in err and "did you mean 'optimizer'?" in err


def test_batch_through_python_m_smash_then_status(tmp_path, capsys):
    study = write_twin_study(tmp_path, n=3, maxiter=1)
    done = subprocess.run([sys.executable, "-m", "smash", "batch", str(study), "--workers", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 finished" in done.stdout and "[3/3]" in done.stderr
    assert main(["status", str(tmp_path / "study_output")]) == 0
    out = capsys.readouterr().out
    assert "3 catchment(s): 3 finished, 0 failed, 0 running, 0 not started" in out
    assert all(code in out for code in twin_codes(3)) and "cal_nse" in out


def test_slurm_dry_run_prints_the_job_script_with_the_requested_resources(tmp_path, capsys):
    pytest.importorskip("dask_jobqueue")
    study = write_twin_study(tmp_path, n=2)
    assert main(["batch", str(study), "--executor", "slurm", "--dry-run", "-q"]) == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH -p short", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=6G", "#SBATCH -t 00:20:00",
                 "#SBATCH --qos=batchtest", "#SBATCH --constraint=skylake", "distributed.cli.dask_worker"):
        assert line in script, line
    assert "# 2 catchment(s) to run" in script
    assert not (tmp_path / "study_output").exists(), "a dry run writes nothing"


def test_job_array_script_and_shards_from_slurm_array_task_id(tmp_path, capsys, monkeypatch):
    study = write_twin_study(tmp_path, n=8, maxiter=1)
    assert main(["batch", str(study), "--job-array-script", "--array-count", "3", "--workers", "2"]) == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH --array=0-2", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=6GB", "#SBATCH --time=00:20:00",
                 "#SBATCH --partition=short", "#SBATCH --qos=batchtest", "--array-count 3", "--workers 2"):
        assert line in script, line
    listed = []
    for index in range(3):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(index))
        assert main(["batch", str(study), "--dry-run", "--array-count", "3", "-q"]) == 0
        listed += capsys.readouterr().out.split(":")[-1].split()
    assert sorted(listed) == twin_codes(8), "shards 0..2 cover every catchment exactly once"
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert main(["batch", str(study), "--array-count", "3", "-q"]) == 0
    outdir = tmp_path / "study_output"
    assert sorted(p.name for p in outdir.iterdir() if p.name.startswith("TWIN")) == ["TWIN1", "TWIN4", "TWIN7"]
    summary = (outdir / "summary.csv").read_text()
    assert summary.count(",finished,") == 3 and summary.count(",not started,") == 5


def test_ctrl_c_stops_cleanly_with_the_summary_and_a_rerun_skips_the_finished(tmp_path, capsys):
    study = write_twin_study(tmp_path, n=4, maxiter=15)
    outdir = tmp_path / "study_output"
    process = subprocess.Popen([sys.executable, "-m", "smash", "batch", str(study), "--workers", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not (outdir / "TWIN0" / "result.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err
    summary = (outdir / "summary.csv").read_text()
    assert summary.count(",finished,") >= 1 and ",not started," in summary
    assert not [p for p in os.listdir(outdir) if p.startswith(".partial-")], "no half-written folder"
    finished = [c for c in twin_codes(4) if (outdir / c).exists()]
    assert main(["status", str(outdir)]) == 0
    assert f"4 catchment(s): {len(finished)} finished, 0 failed, 0 running, {4 - len(finished)} not started" in (
        capsys.readouterr().out)
    stamps = {c: (outdir / c / "result.json").stat().st_mtime_ns for c in finished}
    frame = smash.batch(study, workers=1)
    assert (frame["status"] == "finished").all()
    assert stamps == {c: (outdir / c / "result.json").stat().st_mtime_ns for c in finished}


def test_lez_example_calibrates(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    assert main(["calibrate", str(_example(tmp_path, "lez.yaml", 2)), "--out", str(tmp_path / "lez"), "-q"]) == 0
    with xr.open_dataset(tmp_path / "lez" / "discharge_calibration.nc") as data:
        assert list(data["gauge"].values) == ["Y3204040"]
        assert float(data["area"].values[0]) == pytest.approx(169e6, rel=0.1)
        assert np.isfinite(data["qobs"].values).sum() > 100
    assert "cal_nse" in capsys.readouterr().out


def test_cance_example_calibrates(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    assert main(["calibrate", str(_example(tmp_path, "cance.yaml", 1)), "--out", str(tmp_path / "cance"), "-q"]) == 0
    with xr.open_dataset(tmp_path / "cance" / "discharge_validation.nc") as data:
        assert list(data["gauge"].values) == ["V3524010", "V3515010", "V3517010"]


def test_lez_study_example_with_a_gauge_off_the_raster_failing_alone(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    _example(tmp_path, "lez.yaml", 1)
    study = yaml.safe_load((EXAMPLES / "lez_study.yaml").read_text())
    (tmp_path / "lez_study.yaml").write_text(yaml.safe_dump(study))
    first_gauge = (EXAMPLES / "lez_gauges.csv").read_text().splitlines()[:2]
    (tmp_path / "lez_gauges.csv").write_text("\n".join([*first_gauge, "OFFGRID,-5e6,9e7,50"]) + "\n")
    frame = smash.batch(tmp_path / "lez_study.yaml").set_index("code")
    assert frame.loc["Y3204040", "status"] == "finished"
    assert frame.loc["OFFGRID", "status"] == "failed"
    assert "outside the flow-direction raster" in frame.loc["OFFGRID", "error"]


def test_synthetic_study_example_runs_one_shard(tmp_path):
    out = tmp_path / "example_output"
    frame = smash.batch(EXAMPLES / "synthetic_study.yaml", array_index=3, array_count=4, output=str(out))
    assert list(frame.loc[frame["status"] == "finished", "code"]) == ["TWIN3", "TWIN7"]
    assert (frame["status"] == "not started").sum() == 6
    assert (frame.loc[frame["status"] == "finished", "cal_nse"] > 0.5).all()


def test_lez_cance_study_through_batch_equals_the_python_api_study(data_dir, tmp_path, monkeypatch):
    """The six-gauge study of docs/batch_real_data.md, run by `smash batch` on two workers (first guess
    uniform sbs, then distributed L-BFGS-B), gives the scores its Python API script measured."""
    monkeypatch.setenv("SMASH_DATA_DIR", str(data_dir))
    folder = EXAMPLES / "lez_cance_study"
    for name in ("template.yaml", "study.yaml", "study_catchments.csv"):
        (tmp_path / name).write_text((folder / name).read_text())
    frame = smash.batch(tmp_path / "study.yaml", workers=2).set_index("code")
    api = pd.read_csv(folder / "results" / "summary.csv").set_index("code")
    assert (frame["status"] == "finished").all()
    for column in ("cal_nse", "cal_kge", "val_nse", "val_kge"):
        # the API table is rounded to 3 decimals
        np.testing.assert_allclose(frame.loc[api.index, column], api[column], atol=6e-4, err_msg=column)
