"""Study files: a template config plus a CSV table of catchments, expanded into one config per catchment.

A study file (YAML)::

    config: template.yaml          # the template config (a path, or the mapping inline)
    catchments: catchments.csv     # code,x,y,area[,data_dir][,dotted.override.keys...]
    output: results                # the output folder (default <study name>_output)
    slurm: {queue: ..., cores: 2, memory: 4GB, walltime: "01:00:00", job_extra_directives: [...]}

In the table, `x`, `y` (the mesh's projection) and `area` (km2) place the gauge on the template's
flow-direction raster; `data_dir` is the folder the catchment's relative paths are read from; any
other column is a dotted key of the config (``setup.dt``, ``mesh.synthetic.seed``,
``calibration.optimize_options.termination_crit.maxiter``) set for that catchment (an empty cell
keeps the template's value).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import os

import yaml

from smash.batch._deps import require
from smash.batch.config import ConfigError, _did_you_mean, read_yaml, set_dotted, validate_config

STUDY_KEYS = ("config", "catchments", "output", "slurm")
SLURM_KEYS = ("queue", "cores", "memory", "walltime", "job_extra_directives", "processes", "jobs", "account",
              "array_count", "python")
GAUGE_COLUMNS = ("x", "y", "area")


@dataclasses.dataclass
class Catchment:
    """One row of the study: its code, its config mapping (template + overrides) and its base folder."""

    code: str
    config: dict
    base_dir: str
    source: str
    # Threads of the Fortran core the catchment asks for (calibration.ncpu).
    ncpu: int = 1


@dataclasses.dataclass
class Study:
    path: str
    output: str
    catchments: list[Catchment]
    slurm: dict

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.catchments]


def _cell_value(text: str):
    """A CSV cell as YAML reads it (numbers become numbers, `true` a bool), None when empty."""
    text = text.strip()
    if text == "":
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def read_catchments(path: str, template: dict, template_dir: str, study_dir: str) -> list[Catchment]:
    """The catchments of the CSV `path`, each config validated (a bad row names the file, row and key)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"catchment table {path} not found")
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        raise ConfigError(f"{path}: no catchment (the table needs a header line and one row per catchment)")
    columns = list(rows[0])
    if "code" not in columns:
        raise ConfigError(f"{path}: no 'code' column; columns are {columns}{_did_you_mean('code', columns)}")
    from_raster = isinstance(template.get("mesh"), dict) and "flwdir" in template["mesh"]
    missing = [c for c in GAUGE_COLUMNS if c not in columns]
    if from_raster and missing:
        raise ConfigError(f"{path}: the template's mesh comes from a flow-direction raster, so the table needs the "
                          f"columns code, x, y, area (km2); missing {missing}")
    catchments, seen = [], set()
    for number, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        where = f"{path} line {number}"
        if not code:
            raise ConfigError(f"{where}: empty code")
        if code in seen:
            raise ConfigError(f"{where}: code {code!r} appears twice")
        if "/" in code or code.startswith("."):
            raise ConfigError(f"{where}: code {code!r} cannot name a folder (no '/' nor leading '.')")
        seen.add(code)
        config = copy.deepcopy(template)
        base_dir = template_dir
        for column, text in row.items():
            if column is None:
                raise ConfigError(f"{where}: more cells than columns")
            value = _cell_value(text or "")
            if column == "code" or value is None:
                continue
            if column == "data_dir":
                base_dir = os.path.normpath(os.path.join(study_dir, os.path.expandvars(str(value))))
            elif column in GAUGE_COLUMNS:
                set_dotted(config, f"mesh.{column}", value)
            else:
                set_dotted(config, column, value)
        if from_raster:
            config["mesh"].setdefault("code", code)
        # Checked now: a misspelt override stops the study before anything runs.
        checked = validate_config(config, f"{where} (catchment {code})", base_dir)
        catchments.append(Catchment(code, config, base_dir, f"{path} (catchment {code})", checked.calibration.ncpu))
    return catchments


def load_study(path, output: str | None = None) -> Study:
    """Read and check the study file `path` and its template and table."""
    path = os.path.abspath(os.fspath(path))
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a study file is a mapping with keys {', '.join(STUDY_KEYS)}")
    for key in data:
        if key not in STUDY_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}; allowed: {', '.join(STUDY_KEYS)}"
                              f"{_did_you_mean(key, STUDY_KEYS)}")
    for key in ("config", "catchments"):
        if key not in data:
            raise ConfigError(f"{path}: {key}: required key missing")
    study_dir = os.path.dirname(path)
    if isinstance(data["config"], dict):
        template, template_dir = data["config"], study_dir
    else:
        template_path = os.path.join(study_dir, os.path.expandvars(str(data["config"])))
        template, template_dir = read_yaml(template_path), os.path.dirname(os.path.abspath(template_path))
        if not isinstance(template, dict):
            raise ConfigError(f"{template_path}: a config must be a YAML mapping")
    slurm = data.get("slurm") or {}
    if not isinstance(slurm, dict):
        raise ConfigError(f"{path}: slurm must be a mapping with keys among {', '.join(SLURM_KEYS)}")
    for key in slurm:
        if key not in SLURM_KEYS:
            raise ConfigError(f"{path}: slurm.{key}: unknown key; allowed: {', '.join(SLURM_KEYS)}"
                              f"{_did_you_mean(key, SLURM_KEYS)}")
    table = os.path.join(study_dir, os.path.expandvars(str(data["catchments"])))
    catchments = read_catchments(table, template, template_dir, study_dir)
    default_output = os.path.splitext(path)[0] + "_output"
    out = output or (os.path.join(study_dir, str(data["output"])) if data.get("output") else default_output)
    return Study(path, os.path.abspath(out), catchments, slurm)


def shard(items: list, index: int, count: int) -> list:
    """Shard `index` of `count` of `items`: every count-th item from `index` (shards 0..count-1 cover each once)."""
    if count < 1:
        raise ValueError(f"--array-count must be at least 1, got {count}")
    if not 0 <= index < count:
        raise ValueError(f"--array-index must lie in 0..{count - 1} (array count {count}), got {index}")
    return items[index::count]


def summary_frame(rows: list[dict]):
    """The summary rows as a pandas DataFrame (pandas is a dependency of smash)."""
    pandas = require("pandas", "The batch summary")
    return pandas.DataFrame(rows)
