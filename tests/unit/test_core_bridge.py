"""One bridge to the Fortran core: only `smash._core` imports `fcore`, and no test reaches into a `Model`.

Both checks read source files (the installed package's and this folder's), so they hold whatever
the linter's configuration.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np

from smash import Model, _testing

from helpers import TESTS_ROOT, daily_setup, line_mesh

PACKAGE_ROOT = Path(importlib.util.find_spec("smash").origin).parent
BRIDGE = PACKAGE_ROOT / "_core.py"
# f90wrap's generated Python wrapper of the compiled core (a build output, not package code).
WRAPPER = PACKAGE_ROOT / "fcore.py"
# The f90wrap layer and the extension under it, in each CPU variant (smash._cpu_variant, which
# fcore.py asks for the one to load, imports it by name).
CORE_MODULES = {"fcore", "_fcore", "_fcore_v3"}


def _imports_core(path: Path) -> list[int]:
    """Lines of `path` importing smash.fcore or smash._fcore, in any spelling."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [f"{module}.{alias.name}" for alias in node.names] + [module]
            if node.level:  # relative, inside the package: `from . import fcore`
                names += [alias.name for alias in node.names] + [module]
        else:
            continue
        if any(part in CORE_MODULES for name in names for part in name.split(".")):
            lines.append(node.lineno)
    return lines


def _model_private_names() -> set[str]:
    """Private attributes and methods of Model: its `_name` members and the `self._name` it assigns."""
    tree = ast.parse((PACKAGE_ROOT / "model.py").read_text())
    model = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model")
    names = set()
    for node in ast.walk(model):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("_"):
            names.add(node.name)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "new")
              and node.attr.startswith("_")):
            names.add(node.attr)
    return {n for n in names if not (n.startswith("__") and n.endswith("__"))}


def test_only_the_bridge_imports_fcore():
    assert _imports_core(BRIDGE), "smash._core should import fcore (is the check reading the right files?)"
    offenders = {str(p.relative_to(PACKAGE_ROOT)): _imports_core(p) for p in sorted(PACKAGE_ROOT.rglob("*.py"))
                 if p not in (BRIDGE, WRAPPER)}
    offenders = {path: lines for path, lines in offenders.items() if lines}
    assert not offenders, f"modules importing fcore outside smash._core (file: lines): {offenders}"


def test_no_test_touches_a_private_attribute_of_model():
    private = _model_private_names()
    assert {"_core", "_network", "_structure", "_sync_parameters"} <= private
    found = []
    for path in sorted(TESTS_ROOT.rglob("*.py")):
        if path == Path(__file__).resolve() or "anchor_refs" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and node.attr in private:
                found.append(f"{path.relative_to(TESTS_ROOT)}:{node.lineno} .{node.attr}")
    assert not found, "tests reaching into Model (use smash._testing or a public property): " + ", ".join(found)


def test_structure_and_network_are_read_only_views_of_the_model():
    model = Model(daily_setup(5, read_prcp=False, read_pet=False), line_mesh(4))
    assert model.network.nac == model.mesh.nac == 4
    assert list(model.structure.rr_parameters) == model.rr_parameters.keys.tolist()
    for name in ("network", "structure"):
        try:
            setattr(model, name, None)
        except AttributeError:
            pass
        else:
            raise AssertionError(f"Model.{name} should be read-only")
    copy = model.copy()
    assert copy.network is model.network
    # the copy shares the inputs until it writes them (what the handles in _testing let tests see)
    assert _testing.core_inputs(copy) is _testing.core_inputs(model)
    copy.response_data.q = np.zeros((copy.mesh.ng, copy.setup.ntime_step), dtype=np.float32)
    assert _testing.core_inputs(copy) is not _testing.core_inputs(model)
