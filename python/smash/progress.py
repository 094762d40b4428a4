"""Optimizer logs and progress bars.

Calibrations run for minutes to hours; users want smash's iterate lines
("At iterate N nfg = K J = ...") and a bar telling how far the run is. The
lines are messages of the ``smash.optimize`` logger (`smash.logs`: shown on
standard output by default, above the bar); the bar is drawn on standard
error only when it is a terminal: redirected to a file, its redraws would
fill the file with carriage returns. Nothing is shown when `verbose=False`.
"""

from __future__ import annotations

import logging
import sys

from smash.logs import get_logger

LOGGER = get_logger("optimize")


def on_terminal(stream=None) -> bool:
    """Whether `stream` (default standard error, where bars are drawn) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(iterable=None, **options):
    """A tqdm bar on standard error, drawn only on a terminal (with output redirected it is a plain
    pass-through of `iterable`, counting nothing on screen)."""
    from tqdm import tqdm

    return tqdm(iterable, disable=not on_terminal(), **options)


class OptimizerLog:
    """Log lines and a bar over `total` iterations, both silent unless `verbose`."""

    def __init__(self, verbose: bool, total: int | None = None, desc: str = "Optimize"):
        self.verbose = verbose
        self.level = logging.INFO if verbose else logging.DEBUG
        self.bar = None
        if verbose and total and on_terminal():
            self.bar = progress_bar(total=int(total), desc=desc, unit="it", leave=False, dynamic_ncols=True)

    def __call__(self, text: str, iterate: int | None = None, cost: float | None = None):
        """Log `text`; with `iterate` (and its `cost`), also move the bar there."""
        LOGGER.log(self.level, text)
        if self.bar is not None and iterate is not None:
            self.bar.update(max(0, min(iterate, self.bar.total) - self.bar.n))
            if cost is not None:
                self.bar.set_postfix_str(f"J = {cost:.5e}", refresh=False)
            self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def iterate_line(iterate: int, nfg: int, cost: float, ddx: float | None = None, projg: float | None = None) -> str:
    """smash's iterate line: the iteration, the evaluation count and J, then sbs's step `ddx` or a
    gradient method's `projg` (|proj g|) when given."""
    line = f"    At iterate {iterate:>5}    nfg = {nfg:>5}    J = {cost:.5e}"
    if ddx is not None:
        line += f"    ddx = {ddx:.2f}"
    if projg is not None:
        line += f"    |proj g| = {projg:.5e}"
    return line
