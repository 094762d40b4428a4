"""smash's messages through the standard `logging` module.

Every message goes to a logger named under ``smash`` (``optimize`` below it for the optimizers' iterate
lines, ``forward`` for forward runs ...). By default the ``smash`` logger shows them on standard
output as smash 1.x prints them (the text alone, above any progress bar) and keeps them from the
application's own handlers, so a script sees what smash 1.x showed, once. `configure` changes that:

- a batch job sending everything to its log files: ``smash.logs.configure(console=False, propagate=True)``
  then ``logging.basicConfig(filename=...)`` (or handlers of its own on ``logging.getLogger("smash")``);
- silence every message, whatever ``verbose`` says: ``smash.logs.configure(level="WARNING")``.

``verbose=False`` (common_options) still silences a call: its messages are then logged at DEBUG level,
which the ``smash`` logger (level INFO) drops unless a handler and a lower level ask for them.
"""

from __future__ import annotations

import logging
import sys

ROOT = "smash"


class ConsoleHandler(logging.Handler):
    """Each message on the standard output of the moment (so later redirections and captures apply),
    written through tqdm so that it scrolls above a progress bar instead of breaking it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            stream = sys.stdout
            tqdm.write(self.format(record), file=stream)
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's contract: report through handleError, never raise
            self.handleError(record)


_console = ConsoleHandler(level=logging.INFO)
_console.setFormatter(logging.Formatter("%(message)s"))


__all__ = ["configure", "get_logger"]


def get_logger(name: str) -> logging.Logger:
    """The logger of one part of smash's messages.

    Parameters
    ----------
    name : str
        The part, e.g. "optimize" or "forward".

    Returns
    -------
    logging.Logger
        The logger ``smash.<name>``.
    """
    return logging.getLogger(f"{ROOT}.{name}")


def configure(console: bool = True, propagate: bool = False, level: int | str = logging.INFO) -> None:
    """Where smash's messages go.

    Parameters
    ----------
    console : bool, default True
        Show them on standard output (smash 1.x's behaviour).
    propagate : bool, default False
        Pass them on to the application's handlers (those of the root logger, e.g. set by
        ``logging.basicConfig``).
    level : int or str, default "INFO"
        The least severe message kept: "WARNING" silences the iterate lines and run messages,
        "DEBUG" also keeps those of calls made with ``verbose=False``.
    """
    root = logging.getLogger(ROOT)
    root.setLevel(level)
    root.propagate = bool(propagate)
    if console and _console not in root.handlers:
        root.addHandler(_console)
    elif not console and _console in root.handlers:
        root.removeHandler(_console)


configure()
