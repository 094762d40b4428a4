"""HDF5 conventions shared by the model files: a root `_save_func` attribute naming the writer,
groups of arrays (gzip datasets) and scalars (attributes), text as fixed-length bytes."""

from __future__ import annotations

import errno
import os

import h5py
import numpy as np


def open_hdf5(path, what: str) -> h5py.File:
    """The HDF5 file at `path` opened for reading; errors name the file and `what` it should be."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return h5py.File(path, "r")
    except BlockingIOError:
        raise BlockingIOError(errno.EWOULDBLOCK, f"Cannot read the {what} {path}: another process is writing it "
                              "(an HDF5 file lock); retry once it is done", os.fspath(path)) from None
    except OSError as err:
        text = str(err)
        if "signature not found" in text:
            problem = "is not an HDF5 file"
        elif "truncated" in text:
            problem = "is a truncated HDF5 file (its write did not finish, or the copy was cut short)"
        else:
            problem = "is a damaged HDF5 file"
        raise ValueError(f"{path} {problem}; expected a {what} ({text})") from None


def require(group, names, path, what: str) -> None:
    """Refuse a file whose `group` lacks any of `names` (groups, datasets or attributes), naming them."""
    missing = [n for n in names if n not in group and n not in group.attrs]
    if missing:
        where = "the file's root" if group.name == "/" else f"its group {group.name!r}"
        raise ValueError(f"{path} is an incomplete {what}: {where} has no {', '.join(map(repr, missing))}")


def open_saved(path, save_func: str) -> h5py.File:
    """The file at `path` opened for reading, checked to have been written by `save_func`."""
    f = open_hdf5(path, f"file written by smash.io.{save_func}")
    found = f.attrs.get("_save_func")
    found = found.decode() if isinstance(found, bytes) else found
    if found != save_func:
        f.close()
        what = f"one written by {found}" if found else "no '_save_func' attribute"
        raise ValueError(f"{path} is not a file written by smash.io.{save_func} ({what})")
    return f


def _is_text(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "US"


def write_group(group, values: dict) -> None:
    """Scalars and strings as attributes, arrays as gzip datasets (text as bytes); None is left out."""
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, str) or np.ndim(value) == 0:
            group.attrs[key] = value
            continue
        arr = np.asarray(value)
        if _is_text(arr):
            arr = np.char.encode(arr.astype(str), "utf-8") if arr.size else arr.astype("S1")
        # Empty datasets cannot be chunked, so not compressed either.
        group.create_dataset(key, data=arr, compression="gzip" if arr.size else None)


def read_dataset(item: h5py.Dataset) -> np.ndarray:
    """The values of a dataset; a chunk that cannot be read (damaged file) is an error naming the file
    and the dataset."""
    try:
        return item[()]
    except (OSError, RuntimeError) as err:
        raise ValueError(f"{item.file.filename}: dataset {item.name!r} cannot be read, the file is damaged "
                         f"({err})") from None


def read_group(group) -> dict:
    """The dict `write_group` wrote: bytes back to str (numpy str arrays for datasets)."""
    values = {}
    try:
        for key, item in group.items():
            if isinstance(item, h5py.Dataset):
                arr = read_dataset(item)
                values[key] = np.char.decode(arr, "utf-8").astype(str) if arr.dtype.kind == "S" else arr
        for key, value in group.attrs.items():
            values[key] = value.decode() if isinstance(value, bytes) else value
    except (OSError, RuntimeError, KeyError) as err:
        # Damaged object headers or links (a bad attribute or a dangling member).
        raise ValueError(f"{group.file.filename}: group {group.name!r} cannot be read, the file is damaged "
                         f"({err})") from None
    return values
