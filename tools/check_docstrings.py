"""Fail when a public name of smash lacks a numpydoc docstring (the lint step of tests/run.sh).

The public names are those of the API reference: ``smash.__all__`` and the ``__all__`` of every module
it lists (``smash.factory``, ``smash.io``, ``smash.plot``, ...), plus the public methods and properties
of the public classes. Each is validated with numpydoc; the checks in CHECKS fail the run:

- GL08: no docstring;
- PR01 / PR02: a parameter of the signature is not documented, or a documented one does not exist
  (functions and methods with a ``Parameters`` section, and every function of ``smash.plot``);
- SS01: no one-line summary;
- in STRICT_MODULES also RT01 (no Returns section) and the parameter order and format checks.

    python tools/check_docstrings.py [--all-checks]

``--all-checks`` lists every numpydoc finding (style included) without failing on them.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys

from numpydoc.validate import validate

CHECKS = {"GL08", "SS01", "PR01", "PR02"}
# Parameter checks apply where a Parameters section exists, and always in these modules (written to it).
STRICT_MODULES = ("smash.plot",)
STRICT_CHECKS = {"RT01", "PR03", "PR10"}


def public_names(top: str = "smash") -> list[str]:
    """Dotted names of every public function, class, method and property of the package's API."""
    package = importlib.import_module(top)
    modules = [package] + [getattr(package, n) for n in package.__all__ if inspect.ismodule(getattr(package, n))]
    names = []
    for module in modules:
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.ismodule(value):
                continue
            dotted = f"{module.__name__}.{name}"
            names.append(dotted)
            if inspect.isclass(value):
                for member, attr in vars(value).items():
                    if member.startswith("_") or not (callable(attr) or isinstance(attr, property)):
                        continue
                    names.append(f"{dotted}.{member}")
    return names


def _has_section(name: str, section: str) -> bool:
    """Whether the docstring of the public name has a numpydoc section of that title."""
    module_name, _, rest = name.partition(".")
    value = importlib.import_module(module_name)
    for part in rest.split("."):
        value = getattr(value, part)
    doc = inspect.getdoc(value) or ""
    return f"{section}\n{'-' * len(section)}" in doc


def findings(name: str, all_checks: bool = False) -> list[tuple[str, str]]:
    """The (code, message) of the failed checks of one public name."""
    errors = validate(name)["errors"]
    if all_checks:
        return list(errors)
    strict = name.startswith(STRICT_MODULES)
    out = []
    for code, message in errors:
        if code in ("PR01", "PR02") and not (strict or _has_section(name, "Parameters")):
            continue
        if code in CHECKS or (strict and code in STRICT_CHECKS):
            out.append((code, message))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-checks", action="store_true", help="list every numpydoc finding, fail on none")
    args = parser.parse_args(argv)
    bad = 0
    for name in public_names():
        for code, message in findings(name, args.all_checks):
            print(f"{name}: {code} {message}")
            bad += 1
    if args.all_checks:
        return 0
    if bad:
        print(f"{bad} docstring problem(s) in the public API (numpydoc checks {sorted(CHECKS)})", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
