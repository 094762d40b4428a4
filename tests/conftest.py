"""Shared fixtures: data locations, reference folders and cached models."""

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _folder(env: str, what: str) -> Path | None:
    value = os.environ.get(env)
    path = Path(value) if value else None
    if path is not None and path.is_dir():
        return path
    if IN_CI:
        # CI always has the shared folders beside the clone: never skip there.
        raise RuntimeError(f"{env} must point to the {what} folder in CI (got {value!r})")
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _folder("SMASH_DATA_DIR", "datasets")
    if path is None:
        pytest.skip("SMASH_DATA_DIR is not set to the datasets folder (Lez, Cance, France)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = _folder("SMASH_REFERENCE_DIR", "smash 1.3 reference outputs")
    if path is None:
        pytest.skip("SMASH_REFERENCE_DIR is not set to the smash 1.3 reference folder (shared/reference)")
    return path


@pytest.fixture(scope="session")
def tutorials_dir() -> Path:
    path = _folder("SMASH_TUTORIALS_DIR", "tutorial scripts (shared/seeds)")
    if path is None:
        pytest.skip("SMASH_TUTORIALS_DIR is not set to the folder of the tutorial scripts (shared/seeds)")
    return path
