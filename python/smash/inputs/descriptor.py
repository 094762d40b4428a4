"""Physical descriptor maps (one GeoTIFF per descriptor)."""

from __future__ import annotations

import os

import numpy as np

from smash.inputs.raster import read_raster


def read_descriptor(setup: dict, mesh: dict) -> np.ndarray:
    """(nrow, ncol, nd) float32 in `descriptor_name` order; -99 where missing."""
    if setup.get("synthetic"):
        from smash.factory.synthetic import synthetic_descriptor

        return synthetic_descriptor(setup, mesh)
    directory = setup.get("descriptor_directory")
    if not directory or not os.path.isdir(directory):
        raise FileNotFoundError(f"setup['descriptor_directory'] = {directory!r} is not a directory")
    fmt = setup.get("descriptor_format", "tif")
    maps = []
    for name in setup["descriptor_name"]:
        path = os.path.join(directory, f"{name}.{fmt}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Descriptor {name!r} not found: {path}")
        grid, _ = read_raster(path, mesh)
        maps.append(grid)
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    return np.stack(maps, axis=-1) if maps else np.zeros((nrow, ncol, 0), dtype=np.float32)
