"""The pytest markers stay meaningful: each test listed as slow exists, and the markers are registered."""

import ast

import conftest
import pytest

from helpers import TESTS_ROOT

TESTS = TESTS_ROOT


def test_every_listed_slow_test_exists():
    """A renamed or moved slow test would silently join the fast layer: its entry must follow it."""
    files = {}
    for path in TESTS.rglob("test_*.py"):
        assert path.name not in files, f"test file basename {path.name} is not unique"
        files[path.name] = path
    for entry in conftest.SLOW_TESTS:
        name, _, test = entry.partition("::")
        assert name in files, f"SLOW_TESTS names {name}, not a test file"
        function = test.split("[")[0]
        tree = ast.parse(files[name].read_text())
        assert function in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}, entry


def test_markers_are_registered():
    tomllib = pytest.importorskip("tomllib")   # Python 3.11+
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    registered = {line.split(":")[0] for line in config["tool"]["pytest"]["ini_options"]["markers"]}
    assert registered == {"slow", "data", "parity"}
