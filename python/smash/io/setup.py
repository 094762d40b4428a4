"""Setup dictionaries as YAML files."""

from __future__ import annotations

import datetime as _dt
import os

import yaml

from smash.atomic import write_text


def read_setup(path) -> dict:
    """Read a setup YAML file (YAML 1.1: ``86_400`` is an integer, bare dates are dates).

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file.

    Returns
    -------
    dict
        The setup, as `smash.Model` takes it.

    Raises
    ------
    FileNotFoundError
        When there is no file at `path`.
    ValueError
        When the file is not a YAML text file holding a mapping.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Setup file not found: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    if b"\0" in raw:
        raise ValueError(f"Setup file {path} is a binary file, not a YAML text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"Setup file {path} is not a UTF-8 text file (byte {err.start}): not a YAML setup") from None
    try:
        setup = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"Setup file {path} is not valid YAML: {err}") from None
    if not isinstance(setup, dict):
        raise ValueError(f"Setup file {path} does not hold a mapping of keys to values")
    return setup


def _plain(value):
    """A YAML-friendly value: dates as 'YYYY-MM-DD HH:MM', numpy values as Python ones."""
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def setup_to_yaml(setup: dict) -> str:
    """The YAML text of a setup dictionary (also stored inside saved models)."""
    return yaml.safe_dump({k: _plain(v) for k, v in setup.items()}, sort_keys=False)


def save_setup(setup: dict, path) -> None:
    """Write a setup as YAML that `read_setup` reads back (atomically: see `smash.atomic`).

    Parameters
    ----------
    setup : dict
        The setup.
    path : str or os.PathLike
        The YAML file to write.
    """
    write_text(path, setup_to_yaml(setup), "setup file")
