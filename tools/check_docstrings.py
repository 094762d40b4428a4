"""Fail when a public name of smash lacks a numpydoc docstring (the lint step of tests/run.sh).

The public names are those of the API reference: ``smash.__all__`` and the ``__all__`` of every module
it lists (``smash.factory``, ``smash.io``, ``smash.plot``, ...), plus the public methods and properties
of the public classes. Each is validated with numpydoc; these checks fail the run:

- GL08: no docstring;
- SS01: no one-line summary;
- PR01 / PR02: a parameter of the signature is not documented, or a documented one does not exist;
- RT01 / YD01: a function that returns (yields) something has no Returns (Yields) section.

    python tools/check_docstrings.py [--all-checks]

``--all-checks`` lists every numpydoc finding (style included) without failing on them.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys

from numpydoc.docscrape import get_doc_object
from numpydoc.validate import validate

CHECKS = {"GL08", "SS01", "PR01", "PR02", "RT01", "YD01"}


def public_objects(top: str = "smash") -> list[tuple[str, object]]:
    """(dotted name, object) of every public function, class, method and property of the package's API.

    The objects are taken from the namespaces themselves: ``smash.optimize`` is the function that
    ``smash`` exports, not the module of the same name.
    """
    package = importlib.import_module(top)
    modules = [package] + [getattr(package, n) for n in package.__all__ if inspect.ismodule(getattr(package, n))]
    found = []
    for module in modules:
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.ismodule(value):
                continue
            dotted = f"{module.__name__}.{name}"
            found.append((dotted, value))
            if inspect.isclass(value):
                for member, attr in vars(value).items():
                    if member.startswith("_") or not (callable(attr) or isinstance(attr, property)):
                        continue
                    found.append((f"{dotted}.{member}", getattr(value, member)))
    return found


def findings(obj, all_checks: bool = False) -> list[tuple[str, str]]:
    """The (code, message) of the failed checks of one public object."""
    errors = validate(get_doc_object(obj))["errors"]
    if all_checks:
        return list(errors)
    return [(code, message) for code, message in errors if code in CHECKS]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-checks", action="store_true", help="list every numpydoc finding, fail on none")
    args = parser.parse_args(argv)
    bad = 0
    for name, obj in public_objects():
        for code, message in findings(obj, args.all_checks):
            print(f"{name}: {code} {message}")
            bad += 1
    if args.all_checks:
        return 0
    if bad:
        print(f"{bad} docstring problem(s) in the public API (numpydoc checks {sorted(CHECKS)})", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
