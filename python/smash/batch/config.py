"""The YAML config of one catchment: its schema (pydantic v2) and its loading with named errors.

A config holds the smash `setup` keys, where the mesh comes from (a mesh HDF5 file, a D8
flow-direction raster cut by `generate_mesh` at one gauge, or the built-in synthetic
catchment), the calibration (`mapping`, `optimizer`, `optimize_options`, `cost_options`),
the calibration and validation periods, the metrics to report and the outputs to write.
Every error names the file, the key and what is allowed, with a "did you mean" for a
misspelt key or value (see `docs/batch.md` for the reference).
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import os
import typing
from typing import Any, Literal

import yaml

from smash.analysis.cost_options import DEFAULT_COST_OPTIONS, METRICS_WITH_TFM, REGULARIZATION_KEYS
from smash.batch._deps import require
from smash.calibration.optimize import ALL_MAPPINGS, CRIT_KEYS
from smash.calibration.optimizers import OPTIMIZERS
from smash.simulation.model_setup import DEFAULTS as SETUP_DEFAULTS
from smash.simulation.model_setup import REQUIRED as SETUP_REQUIRED

pydantic = require("pydantic", "smash batch configs")
BaseModel, ConfigDict, Field = pydantic.BaseModel, pydantic.ConfigDict, pydantic.Field
field_validator, model_validator = pydantic.field_validator, pydantic.model_validator

SETUP_KEYS = tuple(SETUP_DEFAULTS) + tuple(SETUP_REQUIRED)
COST_KEYS = tuple(DEFAULT_COST_OPTIONS) + tuple(REGULARIZATION_KEYS)
# Setup keys that are folders, resolved against the config's folder (or the catchment's data_dir).
DIRECTORY_KEYS = tuple(k for k in SETUP_DEFAULTS if k.endswith("_directory"))
MetricName = Literal[tuple(METRICS_WITH_TFM)]


class ConfigError(ValueError):
    """A config or study file that does not follow the schema; the message names the file and the key."""


def _did_you_mean(word: str, allowed) -> str:
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(values: dict, allowed, what: str) -> None:
    for key in values:
        if key not in allowed:
            raise ValueError(f"unknown {what} key {key!r}; allowed: {', '.join(allowed)}{_did_you_mean(key, allowed)}")


def _parse_moment(text, key: str) -> _dt.datetime:
    if isinstance(text, _dt.datetime):
        return text
    if isinstance(text, _dt.date):
        return _dt.datetime(text.year, text.month, text.day)
    try:
        return _dt.datetime.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{key} {text!r} is not a date; write YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SyntheticMesh(_Strict):
    """The built-in synthetic catchment (1 km cells, daily steps over `year`)."""

    nrow: int = Field(10, ge=5)
    ncol: int = Field(10, ge=5)
    seed: int = Field(0, ge=0)
    year: int = Field(2020, ge=1900, le=2100)


class MeshSource(_Strict):
    """Exactly one of `file` (mesh HDF5), `flwdir` (raster cut at the gauge x, y, area) or `synthetic`."""

    file: str | None = None
    flwdir: str | None = None
    code: str | None = None
    x: float | None = None
    y: float | None = None
    # km2, as in the datasets' gauge_attributes.csv (generate_mesh takes m2).
    area: float | None = Field(None, gt=0)
    max_depth: int = Field(1, ge=0)
    area_error_th: float | None = Field(None, gt=0)
    synthetic: SyntheticMesh | None = None

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("file", "flwdir", "synthetic") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one mesh source among file, flwdir and synthetic, got "
                             f"{given or 'none'}")
        if self.flwdir is not None:
            missing = [k for k in ("x", "y", "area") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a mesh from flwdir needs the gauge's x, y and area (km2); missing {missing}")
        return self


class Period(_Strict):
    """A simulated period; the scores (and the calibration cost) leave out the steps up to `warmup_end`."""

    start: str
    end: str
    warmup_end: str | None = None

    @field_validator("start", "end", "warmup_end", mode="before")
    @classmethod
    def _date_text(cls, value, info):
        if value is None:
            return None
        return _parse_moment(value, info.field_name).strftime("%Y-%m-%d %H:%M")

    @model_validator(mode="after")
    def _ordered(self):
        start, end = _parse_moment(self.start, "start"), _parse_moment(self.end, "end")
        if end <= start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if self.warmup_end is not None and not start <= _parse_moment(self.warmup_end, "warmup_end") < end:
            raise ValueError(f"warmup_end ({self.warmup_end}) must lie in [start, end) = [{self.start}, {self.end})")
        return self


class Periods(_Strict):
    """Calibration period (default: the setup's start_time / end_time) and optional validation period."""

    calibration: Period | None = None
    validation: Period | None = None


class TerminationCrit(_Strict):
    maxiter: int | None = Field(None, ge=0)
    xatol: float | None = Field(None, gt=0)
    fatol: float | None = Field(None, gt=0)
    factr: float | None = Field(None, gt=0)
    pgtol: float | None = Field(None, gt=0)
    early_stopping: int | None = Field(None, ge=0)


class OptimizeOptions(_Strict):
    """smash's optimize_options that a YAML file can hold (not `net`, a Python object)."""

    parameters: list[str] | str | None = None
    bounds: dict[str, tuple[float, float]] | None = None
    control_tfm: Literal["sbs", "normalize", "keep"] | None = None
    descriptor: dict[str, list[str]] | None = None
    termination_crit: TerminationCrit | None = None
    learning_rate: float | None = Field(None, gt=0)
    random_state: int | None = None


class CalibrationStep(_Strict):
    """One optimize call: a mapping, its optimizer and their options."""

    mapping: Literal[ALL_MAPPINGS] = "uniform"
    optimizer: Literal[OPTIMIZERS] | None = None
    optimize_options: OptimizeOptions = OptimizeOptions()

    def smash_optimize_options(self) -> dict:
        """optimize_options as smash takes them (unset entries left to smash's defaults)."""
        out = self.optimize_options.model_dump(exclude_none=True)
        if "termination_crit" in out:
            out["termination_crit"] = {k: v for k, v in out["termination_crit"].items() if k in CRIT_KEYS}
        if "bounds" in out:
            out["bounds"] = {k: tuple(v) for k, v in out["bounds"].items()}
        return out


class Calibration(CalibrationStep):
    # A calibration to start from (e.g. uniform sbs before a distributed L-BFGS-B), with the same costs.
    first_guess: CalibrationStep | None = None
    cost_options: dict[str, Any] = {}
    # Threads of the Fortran core for this catchment (each batch worker runs one catchment at a time).
    ncpu: int = Field(1, ge=1)

    @field_validator("cost_options")
    @classmethod
    def _cost_keys(cls, value):
        _check_keys(value, COST_KEYS, "cost_options")
        return value


class Outputs(_Strict):
    """What a catchment writes (in its output folder; `directory` is used by `smash run|calibrate`)."""

    directory: str = "smash_output"
    discharge: bool = True
    observed: bool = True
    parameters: bool = True


class Config(_Strict):
    """One catchment's config (see the module docstring)."""

    setup: dict[str, Any] = {}
    mesh: MeshSource
    calibration: Calibration = Calibration()
    periods: Periods = Periods()
    metrics: list[MetricName] = Field(default_factory=lambda: ["nse", "kge"], min_length=1)
    outputs: Outputs = Outputs()
    # Folder the relative paths are read from (the config file's, or the catchment's data_dir).
    base_dir: str = "."

    @field_validator("setup")
    @classmethod
    def _setup_keys(cls, value):
        _check_keys(value, SETUP_KEYS, "setup")
        return value

    @model_validator(mode="after")
    def _has_period(self):
        setup_period = "start_time" in self.setup and "end_time" in self.setup
        if self.periods.calibration is None and not setup_period and self.mesh.synthetic is None:
            raise ValueError("no simulation period: give periods.calibration (start, end) or setup start_time and "
                             "end_time")
        return self

    def path(self, value: str) -> str:
        """`value` with environment variables expanded, made absolute against base_dir."""
        expanded = os.path.expanduser(os.path.expandvars(str(value)))
        return os.path.normpath(os.path.join(self.base_dir, expanded))


def _schema_at(loc) -> type | None:
    """The pydantic model found at `loc` (a path of keys from Config), for the allowed keys there."""
    model = Config
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _describe(err: dict) -> tuple[str, str]:
    """(dotted key, message) of one pydantic error."""
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[")))]
    key = ".".join(str(p) for p in loc) or "(top level)"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        parent = _schema_at(loc[:-1])
        allowed = [k for k in parent.model_fields if k != "base_dir"] if parent else []
        return key, (f"unknown key {loc[-1]!r}; allowed: {', '.join(allowed)}{_did_you_mean(loc[-1], allowed)}")
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        allowed = [a.strip(" '") for a in expected.replace(" or ", ", ").split(",") if a.strip()]
        hint = _did_you_mean(err["input"], allowed)
        return key, f"{err['input']!r} is not allowed; allowed: {', '.join(allowed)}{hint}"
    if kind == "missing":
        return key, "required key missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return key, f"{msg} (got {err['input']!r})" if kind not in ("value_error", "assertion_error") else msg


def validate_config(data: dict, source: str, base_dir: str | None = None) -> Config:
    """A Config from the mapping `data` read from `source` (a file name, for the messages).

    Raises
    ------
    ConfigError
        Naming `source`, each bad key (dotted, e.g. ``calibration.optimizer``) and what is allowed.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config must be a YAML mapping of keys (setup, mesh, calibration, ...), got "
                          f"{type(data).__name__}")
    data = dict(data)
    data["base_dir"] = os.path.abspath(base_dir or os.path.dirname(os.path.abspath(source)))
    try:
        return Config.model_validate(data)
    except pydantic.ValidationError as err:
        lines = [f"  {key}: {message}" for key, message in (_describe(e) for e in err.errors())]
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(lines)) from None


def read_yaml(path) -> dict:
    """The mapping held by a YAML file; a syntax error names the file and the line."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path} not found")
    with open(path, encoding="utf-8") as stream:
        try:
            data = yaml.safe_load(stream)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return {} if data is None else data


def load_config(path) -> Config:
    """Read and validate the config file `path` (relative paths in it are relative to its folder)."""
    return validate_config(read_yaml(path), os.fspath(path))


def set_dotted(data: dict, dotted: str, value) -> None:
    """Set `data[a][b][c] = value` for `dotted` = "a.b.c", creating the mappings on the way."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is not a mapping")
    node[parts[-1]] = value


def config_to_yaml(config: Config) -> str:
    """The config as YAML text (for the outputs' attributes), without the internal base_dir."""
    data = copy.deepcopy(config.model_dump(mode="json", exclude_none=True))
    data.pop("base_dir", None)
    return yaml.safe_dump(data, sort_keys=False)
