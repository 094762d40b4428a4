"""The API reference pages, written from the packages' ``__all__`` lists when the build starts.

``smash.__all__`` gives the top-level names; each of its entries that is a module (``factory``, ``io``,
``plot``, and any subpackage added later) gets its own page listing its own ``__all__``. A name added to
an ``__all__`` list appears in the reference without editing the documentation; autosummary then writes
one page per name (``api/generated/``) from its docstring. Both folders are build products.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

TOP = "smash"


def _page(module_name: str, names: list[str]) -> str:
    module = importlib.import_module(module_name)
    summary = (inspect.getdoc(module) or "").strip()
    title = f"``{module_name}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {module_name}", "   :no-members:", "",
             f".. currentmodule:: {module_name}", ""]
    classes = [n for n in names if inspect.isclass(getattr(module, n))]
    functions = [n for n in names if n not in classes]
    for heading, group in (("Classes", classes), ("Functions", functions)):
        if not group:
            continue
        lines += [heading, "-" * len(heading), "", ".. autosummary::", "   :toctree: generated", ""]
        lines += [f"   {name}" for name in group]
        lines.append("")
    del summary  # the automodule directive shows the module's docstring
    return "\n".join(lines)


def public_modules() -> dict[str, list[str]]:
    """{module name: its public names but submodules}, for smash and each module in smash.__all__."""
    top = importlib.import_module(TOP)
    pages = {TOP: [n for n in top.__all__ if not inspect.ismodule(getattr(top, n))]}
    for name in top.__all__:
        value = getattr(top, name)
        if inspect.ismodule(value):
            pages[value.__name__] = [n for n in value.__all__ if not inspect.ismodule(getattr(value, n))]
    return pages


def write_pages(folder: Path) -> list[str]:
    """Write one page per public module into `folder` (only when its text changed); their names."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for module_name, names in public_modules().items():
        path = folder / f"{module_name}.rst"
        text = _page(module_name, names)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(module_name)
    index = ["API reference", "=============", "",
             "Every public name of the package, from the ``__all__`` lists of ``smash`` and of its public",
             "subpackages; each page is made from the docstrings.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {name}" for name in written]
    path = folder / "index.rst"
    text = "\n".join(index) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return written


def setup(app):
    # At load time, before autosummary (builder-inited) looks for its directives.
    write_pages(Path(app.srcdir) / "api")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
