"""tools/check_docstrings.py (the lint step's docstring check) finds what it must and passes the package."""

import importlib.util

import pytest

import smash

from helpers import REPO_ROOT

pytest.importorskip("numpydoc")
TOOL = REPO_ROOT / "tools" / "check_docstrings.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_docstrings", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _undocumented(x):
    return x


def _parameter_left_out(x, y):
    """Add two numbers.

    Parameters
    ----------
    x : float
        The first.

    Returns
    -------
    float
        The sum.
    """
    return x + y


def _no_returns_section(x):
    """Double a number.

    Parameters
    ----------
    x : float
        The number.
    """
    return 2 * x


def test_missing_docstring_parameter_and_returns_are_found(check):
    assert [code for code, _ in check.findings(_undocumented)] == ["GL08"]
    assert [code for code, _ in check.findings(_parameter_left_out)] == ["PR01"]
    assert [code for code, _ in check.findings(_no_returns_section)] == ["RT01"]


def test_every_public_name_is_checked_and_passes(check):
    names = {name for name, _ in check.public_objects()}
    for module in (smash, smash.factory, smash.io, smash.plot):
        prefix = module.__name__
        expected = {f"{prefix}.{n}" for n in module.__all__ if not hasattr(getattr(module, n), "__path__")
                    and type(getattr(module, n)).__name__ != "module"}
        assert expected <= names, expected - names
    assert "smash.Model.forward_run" in names and "smash.factory.Net.add_dense" in names
    # `smash.optimize` is the function smash exports, not the module of that name.
    assert dict(check.public_objects())["smash.optimize"] is smash.optimize
    problems = {name: found for name, obj in check.public_objects() if (found := check.findings(obj))}
    assert problems == {}
