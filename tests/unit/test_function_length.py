"""Functions of the package stay short enough to read whole: under 60 lines of code each (the
docstring, numpydoc sections included, is not counted: documenting a function must not push it over)."""

import ast
import importlib.util
from pathlib import Path

MAX_LINES = 59


def function_lengths(root: Path) -> list[tuple[int, str]]:
    """(lines of code without the docstring, "file:line name") of every function under `root`."""
    lengths = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                        and isinstance(first.value.value, str):
                    lines -= first.end_lineno - first.lineno + 1
                lengths.append((lines, f"{path.relative_to(root)}:{node.lineno} {node.name}"))
    return lengths


def test_the_measure_counts_code_not_docstrings(tmp_path):
    (tmp_path / "m.py").write_text('def f():\n    """Doc.\n\n    More.\n    """\n    a = 1\n    return a\n')
    assert function_lengths(tmp_path) == [(3, "m.py:1 f")]


def test_no_function_of_the_package_is_longer_than_the_limit():
    root = Path(importlib.util.find_spec("smash").origin).parent
    lengths = function_lengths(root)
    assert len(lengths) > 500  # the whole package was read
    too_long = sorted(item for item in lengths if item[0] > MAX_LINES)
    assert not too_long, f"functions over {MAX_LINES} lines of code: {too_long}"
