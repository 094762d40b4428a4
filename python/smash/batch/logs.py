"""Logging of a batch: one logger per catchment (`smash.batch.<code>`) writing that catchment's log file."""

from __future__ import annotations

import contextlib
import logging
import sys

from smash import logs as smash_logs

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_console(verbosity: int = 0):
    """Show smash's log records on stderr: warnings only (-1, --quiet), progress (0) or details (1, --verbose).

    Returns the function that puts smash's own console back."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    # The batch's stderr handler replaces smash's plain console one (each record shown once).
    smash_logs.configure(console=False, propagate=False, level=logging.DEBUG)
    root = logging.getLogger("smash")
    for handler in list(root.handlers):
        if getattr(handler, "_smash_console", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    handler._smash_console = True
    root.addHandler(handler)

    def restore() -> None:
        """Back to smash's own console (the command ran inside a longer-lived process, e.g. a test)."""
        root.removeHandler(handler)
        smash_logs.configure()

    return restore


@contextlib.contextmanager
def catchment_logger(code: str, path: str):
    """The logger of catchment `code`, writing every record (DEBUG up) to the file `path` while in use."""
    logger = logging.getLogger(f"smash.batch.{code}")
    logger.setLevel(logging.DEBUG)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()
