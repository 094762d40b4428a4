"""Mesh dictionaries as HDF5 files.

Layout (smash 1.x): root attribute `_save_func = "save_mesh"`, one group
`mesh` holding scalars as attributes and arrays as gzip datasets. `code` is
stored as fixed-length ASCII (`|S8`) and read back as a numpy str array.
Scalars are read as numpy scalars so that their dtypes (int64 `nrow`, int32
`npar`, ...) survive a round trip.
"""

from __future__ import annotations

import h5py
import numpy as np

from smash.atomic import atomic_write
from smash.io._hdf5 import open_hdf5, read_group, require

# README dtypes of the scalars, used when a mesh holds plain Python numbers.
SCALAR_DTYPES = {"nrow": np.int64, "ncol": np.int64, "nac": np.int64, "ng": np.int64, "npar": np.int32,
                 "xmin": np.float64, "ymax": np.float64, "xres": np.float64, "yres": np.float64, "epsg": np.int64}


def read_mesh(path) -> dict:
    """Read a mesh HDF5 file.

    Parameters
    ----------
    path : str or os.PathLike
        The mesh file (as `save_mesh` writes, e.g. ``mesh_Lez.hdf5``).

    Returns
    -------
    dict
        The mesh: numpy arrays and numpy scalars (``nrow``, ``ncol``, ``flwdir``, ``active_cell``, ...).

    Raises
    ------
    ValueError
        When the file is not a mesh file or lacks the grid's fields.
    """
    with open_hdf5(path, "mesh file") as f:
        if "mesh" not in f:
            raise ValueError(f"{path} has no 'mesh' group: not a smash mesh file")
        # The grid every mesh has, a bare grid included.
        require(f["mesh"], ("nrow", "ncol", "xres", "yres", "xmin", "ymax"), path, "mesh file")
        return mesh_from_group(f["mesh"])


def mesh_from_group(group) -> dict:
    """The mesh dict held by an HDF5 group (also the `mesh` group of a saved model)."""
    mesh = read_group(group)
    # Codes stored as variable-length strings come back as objects holding bytes.
    if "code" in mesh:
        mesh["code"] = np.array([c.decode() if isinstance(c, bytes) else str(c) for c in mesh["code"]], dtype=str)
    return mesh


def save_mesh(mesh: dict, path) -> None:
    """Write a mesh in the layout `read_mesh` reads (atomically: see `smash.atomic`).

    Parameters
    ----------
    mesh : dict
        The mesh, as `read_mesh` or `smash.factory.generate_mesh` give it.
    path : str or os.PathLike
        The HDF5 file to write.
    """
    with atomic_write(path, "mesh file", lock=True) as partial, h5py.File(partial, "w") as f:
        f.attrs["_save_func"] = "save_mesh"
        mesh_to_group(f.create_group("mesh"), mesh)


def mesh_to_group(group, mesh: dict) -> None:
    """Write a mesh dict into an HDF5 group: scalars as attributes, arrays as gzip datasets."""
    for key, value in mesh.items():
        if key == "code":
            codes = [str(c.decode() if isinstance(c, bytes) else c) for c in np.atleast_1d(value)]
            width = max([8] + [len(c) for c in codes])
            group.create_dataset(key, data=np.array(codes, dtype=f"S{width}"), compression="gzip")
        elif isinstance(value, str):
            group.attrs[key] = value
        elif np.ndim(value) == 0:
            is_plain = isinstance(value, (bool, int, float))
            group.attrs[key] = SCALAR_DTYPES[key](value) if is_plain and key in SCALAR_DTYPES else value
        else:
            group.create_dataset(key, data=np.asarray(value), compression="gzip")
