"""The package's import graph has no cycle: the dependency direction between its modules is one way.

The graph is built from the installed package's source files, counting the imports at module level
and the ones inside functions alike (an import moved into a function still ties the two modules
together; it only delays the failure to run time). Importing `a.b.c` also imports the packages
`a.b` and `a` (their `__init__` runs), so those are edges too, except for the importing module's own
parent packages, which Python has always imported first.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = "smash"

# Cycles still in the package, each with the reason it is still there. An entry fails the test once
# its cycle is gone (so it cannot linger) or has changed (so nothing new hides in it).
KNOWN_CYCLES: dict = {}

# The layers of the package, lowest first: a module may import its own layer and the ones below,
# never one above (docs/architecture.md draws them). A module's layer is that of its longest listed prefix.
LAYERS = (
    ("smash.registry", "smash.time_axis", "smash.results", "smash.progress", "smash.logs", "smash.atomic",
     "smash.optional", "smash.docparams", "smash._core", "smash.fcore", "smash._fcore", "smash._fcore_v3",
     "smash._cpu_variant", "smash.build_info"),
    ("smash.drainage",),
    ("smash.inputs",),
    ("smash.nn",),
    ("smash.analysis",),
    ("smash.simulation", "smash.stream"),
    ("smash.calibration", "smash.bayesian"),
    ("smash.interop",),
    ("smash.model", "smash.model_state"),
    ("smash.io",),
    ("smash.factory", "smash.plot"),
    ("smash", "smash.__main__", "smash._testing", "smash.batch"),
)


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest prefix of `module` listed there."""
    best, depth = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = index, prefix.count(".")
    if best is None:
        raise KeyError(f"module {module} is in no layer of tests/unit/test_import_graph.py LAYERS")
    return best


def _source_modules(package: str) -> dict[str, tuple[Path, bool]]:
    """{dotted module name: (source file, is a package)} of every .py file of the installed package."""
    spec = importlib.util.find_spec(package)
    root = Path(spec.origin).parent  # the folder of __init__.py (an editable install's search path is virtual)
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _is_module(name: str) -> bool:
    """Whether `name` is an importable module (e.g. a compiled extension that has no .py source)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_graph(package: str = PACKAGE) -> dict[str, set[str]]:
    """{module: modules of the package it imports}, from module- and function-level imports."""
    modules = _source_modules(package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package `here`, node.level - 1 packages up
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in modules or (child.startswith(package + ".")
                                                               and _is_module(child)) else base)
        edges = set()
        for target in targets:
            if target != package and not target.startswith(package + "."):
                continue
            parts = target.split(".")
            # the target and the packages above it that `name` is not itself inside
            for i in range(1, len(parts) + 1):
                module = ".".join(parts[:i])
                if module != name and not name.startswith(module + "."):
                    edges.add(module)
        graph[name] = edges
    for edges in list(graph.values()):
        for module in edges:
            graph.setdefault(module, set())  # compiled modules: leaves
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. the import cycles."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{m} -> {sorted(graph[m] & component)}" for m in sorted(component))


def test_graph_sees_the_package():
    graph = import_graph()
    assert {"smash", "smash.model", "smash.nn.net", "smash.io.model"} <= set(graph)
    assert "smash.fcore" in graph["smash._core"]  # a compiled module without .py source
    # a function-level import counts: it is the way cycles used to hide
    assert "smash.atomic" in graph["smash.__main__"]


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, "import cycles: " + " | ".join(_describe(c, graph) for c in new)
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"known cycles no longer present, remove them from KNOWN_CYCLES: {gone}"


def test_layer_of():
    assert layer_of("smash.simulation.forward") == 5
    assert layer_of("smash.nn") == 3
    assert layer_of("smash") == len(LAYERS) - 1
    with pytest.raises(KeyError):
        layer_of("numpy")


def test_imports_go_down_the_layers():
    graph = import_graph()
    upward = sorted(f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
                    for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


@pytest.mark.parametrize("pair", [("smash.analysis.cost_options", "smash.analysis.signatures"),
                                  ("smash.inputs.atmos", "smash.factory")])
def test_former_cycles_stay_one_way(pair):
    """The two cycles issue 20 names: the lower module no longer reaches the upper one."""
    lower, upper = pair
    graph = import_graph()
    reach, todo = set(), [lower]
    while todo:
        for w in graph[todo.pop()] - reach:
            reach.add(w)
            todo.append(w)
    assert upper not in reach
