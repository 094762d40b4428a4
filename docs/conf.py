"""Sphinx configuration of the smash documentation site.

Build (from the repository root, with the `docs` extra installed):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

SMASH_DOCS_FAST=1 runs the tutorials with few iterations (what CI does); tutorials read the
datasets from SMASH_DATA_DIR.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import smash  # noqa: E402

# The tutorials' kernels inherit this: calibration logs print their lines, without tqdm's progress bars
# (a bar redrawn with carriage returns is noise in a page).
os.environ.setdefault("TQDM_DISABLE", "1")

project = "smash"
author = "smash developers"
copyright = "2026, smash developers"
release = version = smash.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "smash_structures",
    "smash_api",
]

# MyST Markdown pages (.md) and notebooks written as MyST Markdown with code cells (tutorials).
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "benchmarks/*.md", "examples/**", "**/.ipynb_checkpoints", "jupyter_execute"]
templates_path = ["_templates"]
# `name` in docstrings links to the API page of that name when there is one.
default_role = "py:obj"

# Tutorials run at every build (a failing cell fails the build); each has its own time budget.
nb_execution_mode = "force"
nb_execution_timeout = int(os.environ.get("SMASH_DOCS_CELL_TIMEOUT", "1800"))
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# The API reference: one page per public name, from the packages' __all__ (see _ext/smash_api.py).
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# A public name without a docstring fails the build (-W): numpydoc's "GL08: no docstring".
numpydoc_validation_checks = {"GL08"}
numpydoc_validation_exclude = {r"\.__\w+__$"}

html_theme = "pydata_sphinx_theme"
html_title = f"smash {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
}
html_static_path = []

nitpicky = False
# The Markdown pages nest ### under # in places (kept as written).
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
