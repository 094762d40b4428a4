"""Parameter sections shared by the docstrings of the module functions and their `Model` methods.

`smash.optimize` and `Model.optimize` (and the other pairs) take the same options; their text is
written once here. A docstring line holding only ``{{name}}`` is replaced by the section `name`,
indented as that line is.
"""

import re

SECTIONS = {
    "mapping": '''mapping : {"uniform", "distributed", "multi-linear", "multi-polynomial", "ann"}, default "uniform"
    How the control vector makes the parameter maps (see the Calibration page).''',
    "optimizer": '''optimizer : str, optional
    ``"sbs"``, ``"lbfgsb"``, ``"nelder-mead"``, ``"powell"``, ``"adam"``, ``"sgd"``, ``"adagrad"`` or
    ``"rmsprop"``; the mapping's default (sbs for uniform, adam for ann, lbfgsb otherwise) when not given.''',
    "optimize_options": '''optimize_options : dict, optional
    ``parameters``, ``bounds``, ``control_tfm``, ``descriptor``, ``termination_crit``, ``net``,
    ``learning_rate``, ``random_state``; `default_optimize_options` gives the defaults.''',
    "cost_options": '''cost_options : dict, optional
    The cost: ``jobs_cmpt`` (metrics and signatures), ``wjobs_cmpt``, ``jobs_cmpt_tfm``, ``gauge``,
    ``wgauge``, ``end_warmup``, ``event_seg``, and for calibrations ``jreg_cmpt``, ``wjreg_cmpt``,
    ``wjreg`` (see the Calibration page). Default: 1 - NSE at the most downstream gauge.''',
    "common_options": '''common_options : dict, optional
    ``ncpu`` (threads, default 1) and ``verbose`` (logs and progress bar).''',
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{\{(?P<name>\w+)\}\}[ \t]*$", re.MULTILINE)


def fill(doc: str) -> str:
    """`doc` with each ``{{name}}`` line replaced by SECTIONS[name], indented as the line."""

    def section(match):
        indent = match.group("indent")
        return "\n".join(indent + line if line else line for line in SECTIONS[match.group("name")].split("\n"))

    return _PLACEHOLDER.sub(section, doc)


def shared_parameters(function):
    """Decorator: fill the ``{{name}}`` lines of `function`'s docstring from SECTIONS."""
    if function.__doc__:
        function.__doc__ = fill(function.__doc__)
    return function
