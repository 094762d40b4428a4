"""Forcings streamed from a model file (smash.io.save_model) when `smash.io.read_model` reads back a model
whose forcings are streamed: the file's (nrow, ncol, ntime_step) grids read a window of steps at a time."""

from __future__ import annotations

import contextlib
import contextvars

import h5py
import numpy as np

from smash.inputs.stores import written

# The model file whose forcings the model being built streams (set by smash.io.read_model around Model()).
_SAVED_FILE: contextvars.ContextVar = contextvars.ContextVar("smash_saved_forcings", default=None)


@contextlib.contextmanager
def streaming_from(path):
    """Models built inside stream their forcings (when their setup streams) from the model file `path`."""
    token = _SAVED_FILE.set(str(path))
    try:
        yield
    finally:
        _SAVED_FILE.reset(token)


def saved_file() -> str | None:
    """The model file set by `streaming_from` around the model being built, else None."""
    return _SAVED_FILE.get()


class SavedModelSource:
    """Windows of the forcings of a model file (group ``atmos_data``) at the flat row-major `cells`.

    Parameters
    ----------
    path : str
        The model file.
    cells : array of int
        Flat row-major cells of the grid read.
    """

    def __init__(self, path: str, cells):
        self.path, self.cells = str(path), np.asarray(cells, dtype=np.int64)

    def read(self, kind: str, first: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            grids = np.asarray(f["atmos_data"][kind][:, :, first:first + count], dtype=np.float32)
        values = grids.reshape(-1, grids.shape[2])[self.cells].T
        return written(values if out is not None else np.ascontiguousarray(values), out)
