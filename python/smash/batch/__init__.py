"""Batch calibration of many catchments: configs, study files, executors (local, dask, SLURM), outputs.

``smash.batch(study, executor="local", workers=2)`` runs a study and returns its summary
(a pandas DataFrame); it is `smash.batch.runner.run_batch`. The command line is ``smash``
(`smash.batch.cli`). Its dependencies (pydantic, xarray, dask...) form the optional ``batch``
extra and are imported only when used.
"""

from __future__ import annotations

import sys
import types

__all__ = ["run_batch", "load_config", "load_study"]


def run_batch(study, executor: str = "local", **options):
    """Run a study and return its summary DataFrame (see `smash.batch.runner.run_batch`)."""
    from smash.batch.runner import run_batch as _run

    return _run(study, executor=executor, **options)


def load_config(path):
    """Read and validate one config file (see `smash.batch.config.load_config`)."""
    from smash.batch.config import load_config as _load

    return _load(path)


def load_study(path, output=None):
    """Read and check a study file (see `smash.batch.study.load_study`)."""
    from smash.batch.study import load_study as _load

    return _load(path, output)


class _CallableModule(types.ModuleType):
    """Lets `smash.batch(...)` call run_batch while `smash.batch` stays this subpackage."""

    def __call__(self, study, executor: str = "local", **options):
        return run_batch(study, executor=executor, **options)


sys.modules[__name__].__class__ = _CallableModule
