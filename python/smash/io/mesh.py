"""Mesh dictionaries as HDF5 files: one `mesh` group, scalars as attributes, arrays as datasets."""

from __future__ import annotations

import os

import h5py
import numpy as np


def read_mesh(path) -> dict:
    """Read a mesh HDF5 file into a dict of numpy arrays and scalars."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Mesh file not found: {path}")
    with h5py.File(path, "r") as f:
        if "mesh" not in f:
            raise ValueError(f"{path} has no 'mesh' group: not a smash mesh file")
        group = f["mesh"]
        mesh = {key: group[key][()] for key in group}
        for key, value in group.attrs.items():
            mesh[key] = value.item() if isinstance(value, np.generic) else value
    if "code" in mesh:
        mesh["code"] = np.array([c.decode() if isinstance(c, bytes) else str(c) for c in mesh["code"]])
    return mesh


def save_mesh(mesh: dict, path) -> None:
    """Write a mesh dict in the layout `read_mesh` reads (gzip-compressed arrays)."""
    with h5py.File(path, "w") as f:
        f.attrs["_save_func"] = "save_mesh"
        group = f.create_group("mesh")
        for key, value in mesh.items():
            arr = np.asarray(value)
            if key == "code":
                group.create_dataset(key, data=np.array([str(c).encode() for c in arr], dtype="S8"))
            elif arr.ndim == 0:
                group.attrs[key] = value
            else:
                group.create_dataset(key, data=arr, compression="gzip")
