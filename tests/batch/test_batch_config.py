"""smash.batch configs and study files: what the schema accepts, and errors naming the file, key and choices."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from batch_twins import TEMPLATE, write_twin_study

pytest.importorskip("pydantic")

from smash.batch.config import ConfigError, load_config  # noqa: E402
from smash.batch.study import load_study, shard  # noqa: E402


def _write(tmp_path, data, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _error(tmp_path, data) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, "the message names the file"
    return message


def _template(**changes):
    data = yaml.safe_load(yaml.safe_dump(TEMPLATE))
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def test_the_template_is_valid_and_resolves_relative_paths(tmp_path):
    data = _template()
    data["setup"]["qobs_directory"] = "qobs"
    config = load_config(_write(tmp_path, data))
    assert config.calibration.smash_optimize_options() == {"termination_crit": {"maxiter": 3}}
    assert config.periods.calibration.warmup_end == "2020-01-31 00:00"
    assert config.path(config.setup["qobs_directory"]) == str(tmp_path / "qobs")


def test_misspelt_top_level_key_names_it_lists_the_keys_and_suggests(tmp_path):
    data = _template()
    data["calibraton"] = data.pop("calibration")
    message = _error(tmp_path, data)
    assert "calibraton: unknown key 'calibraton'" in message
    assert "allowed: setup, mesh, calibration, periods, metrics, outputs" in message
    assert "did you mean 'calibration'?" in message


def test_misspelt_nested_key_and_setup_key(tmp_path):
    message = _error(tmp_path, _template(calibration__optimize_options__termination_crit__maxiters=3,
                                         setup__hydrological_modul="gr4"))
    assert "calibration.optimize_options.termination_crit.maxiters: unknown key" in message
    assert "did you mean 'maxiter'?" in message
    assert "unknown setup key 'hydrological_modul'" in message and "did you mean 'hydrological_module'?" in message


def test_value_outside_its_choices_lists_them_with_a_suggestion(tmp_path):
    message = _error(tmp_path, _template(calibration__optimizer="lbfgs", metrics=["nse", "kgee"]))
    assert "calibration.optimizer: 'lbfgs' is not allowed; allowed: sbs, lbfgsb" in message
    assert "did you mean 'lbfgsb'?" in message
    assert "metrics.1: 'kgee' is not allowed" in message and "did you mean 'kge'?" in message


def test_wrong_type_and_impossible_values(tmp_path):
    message = _error(tmp_path, _template(mesh__synthetic__nrow="ten",
                                         calibration__optimize_options__termination_crit__maxiter=-1,
                                         periods__calibration={"start": "2020-05-01", "end": "2020-01-01"}))
    assert "mesh.synthetic.nrow: Input should be a valid integer" in message and "'ten'" in message
    assert "termination_crit.maxiter: Input should be greater than or equal to 0 (got -1)" in message
    assert "periods.calibration: end (2020-01-01 00:00) must be after start (2020-05-01 00:00)" in message


def test_mesh_source_must_be_one_and_flwdir_needs_the_gauge(tmp_path):
    message = _error(tmp_path, _template(mesh={"flwdir": "France_flwdir.tif", "x": 1.0}))
    assert "a mesh from flwdir needs the gauge's x, y and area (km2); missing ['y', 'area']" in message
    message = _error(tmp_path, _template(mesh={"file": "a.hdf5", "synthetic": {"seed": 1}}))
    assert "exactly one mesh source" in message


def test_unknown_cost_option_is_refused_with_a_suggestion(tmp_path):
    message = _error(tmp_path, _template(calibration__cost_options={"jobs_cmp": "nse"}))
    assert "unknown cost_options key 'jobs_cmp'" in message and "did you mean 'jobs_cmpt'?" in message


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("mesh: {synthetic: [\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(path)


def test_study_override_column_with_a_misspelt_key_names_the_table_line(tmp_path):
    study = write_twin_study(tmp_path, n=3, rows_extra={"TWIN1": {"calibration.optimizer": "lbfgs"}})
    with pytest.raises(ConfigError) as info:
        load_study(study)
    message = str(info.value)
    assert "catchments.csv line 3 (catchment TWIN1)" in message
    assert "calibration.optimizer: 'lbfgs' is not allowed" in message and "did you mean 'lbfgsb'?" in message


def test_study_misspelt_key_and_slurm_key(tmp_path):
    study = write_twin_study(tmp_path, n=2)
    data = yaml.safe_load(study.read_text())
    data["slurm"]["walltme"] = "1:00:00"
    study.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"slurm.walltme: unknown key.*did you mean 'walltime'"):
        load_study(study)
    data = yaml.safe_load(study.read_text())
    data.pop("slurm")
    data["catchment"] = data.pop("catchments")
    study.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"unknown key 'catchment'.*did you mean 'catchments'"):
        load_study(study)


def test_study_from_raster_needs_the_gauge_columns(tmp_path):
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(
        {"mesh": {"flwdir": "f.tif", "x": 0, "y": 0, "area": 1}, "setup": {"start_time": "2020-01-01",
                                                                          "end_time": "2020-02-01"}}))
    (tmp_path / "c.csv").write_text("code,x,y\nA,1,2\n")
    (tmp_path / "s.yaml").write_text("config: t.yaml\ncatchments: c.csv\n")
    with pytest.raises(ConfigError, match=r"c.csv: .*needs the columns code, x, y, area \(km2\); missing \['area'\]"):
        load_study(tmp_path / "s.yaml")


def test_study_rows_override_the_template(tmp_path):
    study = load_study(write_twin_study(tmp_path, n=3, rows_extra={"TWIN2": {"setup.dt": "86400"}}))
    assert study.codes == ["TWIN0", "TWIN1", "TWIN2"]
    assert [c.config["mesh"]["synthetic"]["seed"] for c in study.catchments] == [100, 101, 102]
    assert study.catchments[2].config["setup"]["dt"] == 86400 and "dt" not in study.catchments[0].config["setup"]
    assert study.output == str(tmp_path / "study_output")


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 11])
def test_shards_cover_every_catchment_exactly_once(count):
    items = [f"C{i}" for i in range(8)]
    shards = [shard(items, i, count) for i in range(count)]
    assert sorted(c for s in shards for c in s) == sorted(items)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    with pytest.raises(ValueError, match=r"--array-index must lie in 0\.\."):
        shard(items, count, count)


def test_import_smash_leaves_the_batch_dependencies_unimported():
    code = ("import sys, smash; heavy = [m for m in ('pydantic', 'dask', 'distributed', 'xarray', 'smash.batch') "
            "if m in sys.modules]; assert not heavy, heavy; assert callable(smash.batch); "
            "assert smash.batch.run_batch.__module__ == 'smash.batch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_batch_extra_is_named_by_the_command(tmp_path):
    config = _write(tmp_path, _template())
    code = ("import sys; sys.modules['pydantic'] = None\n"
            "from smash.batch.cli import main\n"
            f"sys.exit(main(['calibrate', {str(config)!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "needs pydantic, part of the optional 'batch' extra: pip install 'smash-hydrology[batch]'" in done.stderr


def test_data_dir_column_roots_the_catchment_relative_paths(tmp_path):
    data = _template()
    data["setup"].update(read_qobs=True, qobs_directory="qobs")
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "c.csv").write_text("code,data_dir\nA,basins/a\nB,\n")
    (tmp_path / "s.yaml").write_text("config: template.yaml\ncatchments: c.csv\n")
    study = load_study(tmp_path / "s.yaml")
    from smash.batch.config import validate_config

    resolved = [validate_config(c.config, c.source, c.base_dir) for c in study.catchments]
    assert resolved[0].path(resolved[0].setup["qobs_directory"]) == str(tmp_path / "basins" / "a" / "qobs")
    assert resolved[1].path(resolved[1].setup["qobs_directory"]) == str(tmp_path / "qobs")


def test_status_counts_a_catchment_being_written_as_running(tmp_path):
    import os
    import socket

    from smash.batch.bookkeeping import clean_partials, running

    host = socket.gethostname()
    (tmp_path / f".partial-A-1.x@{host}.{os.getpid()}").mkdir()   # a live process of this host
    (tmp_path / f".partial-B@{host}.999999999").mkdir()           # a dead one
    (tmp_path / ".partial-C@node-7.cluster.org.12").mkdir()       # another node: cannot tell, counted
    assert running(str(tmp_path)) == {"A-1.x", "C"}
    assert clean_partials(str(tmp_path)) == [f".partial-B@{host}.999999999"]
    left = sorted(os.listdir(tmp_path))
    assert left == [f".partial-A-1.x@{host}.{os.getpid()}", ".partial-C@node-7.cluster.org.12"]


def test_a_result_moved_aside_by_a_dead_process_is_put_back(tmp_path):
    import json
    import socket

    from smash.batch.bookkeeping import catchment_state, clean_partials

    host = socket.gethostname()
    # A --force run killed between moving the old result aside and renaming the new one into place.
    aside = tmp_path / f".partial-A@{host}.999999999.old"
    aside.mkdir()
    (aside / "result.json").write_text(json.dumps({"row": {"code": "A", "status": "finished", "cal_nse": 0.9}}))
    (tmp_path / f".partial-A@{host}.999999999").mkdir()   # the new result, incomplete
    clean_partials(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A"]
    assert catchment_state(str(tmp_path), "A")["cal_nse"] == 0.9


def test_first_guess_takes_a_calibration_step_and_names_its_bad_keys(tmp_path):
    data = _template()
    data["calibration"]["first_guess"] = {"mapping": "uniform", "optimizer": "sbs",
                                          "optimize_options": {"termination_crit": {"maxiter": 2}}}
    path = tmp_path / "first_guess.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert config.calibration.first_guess.smash_optimize_options() == {"termination_crit": {"maxiter": 2}}
    data["calibration"]["first_guess"] = {"maping": "uniform"}
    message = _error(tmp_path, data)
    assert "calibration.first_guess.maping: unknown key 'maping'" in message
    assert "did you mean 'mapping'?" in message
