"""Physical descriptor maps: one GeoTIFF `<descriptor_directory>/<name>.<format>` per descriptor."""

from __future__ import annotations

import os

import numpy as np

from smash.inputs.raster import read_raster


def read_descriptor(setup: dict, mesh: dict) -> np.ndarray:
    """(nrow, ncol, nd) float32 in `descriptor_name` order; nodata and cells outside a raster are -99."""
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    names = list(setup.get("descriptor_name") or [])
    if setup.get("synthetic"):
        from smash.factory.synthetic import synthetic_descriptor

        descriptors = synthetic_descriptor(setup, mesh)
    else:
        directory = setup.get("descriptor_directory")
        if not directory or not os.path.isdir(directory):
            raise FileNotFoundError(f"setup['descriptor_directory'] = {directory!r} is not a directory")
        fmt = setup.get("descriptor_format") or "tif"
        maps = []
        for name in names:
            path = os.path.join(directory, f"{name}.{fmt}")
            if not os.path.isfile(path):
                raise FileNotFoundError(f"Descriptor {name!r} not found: no file {path}")
            maps.append(read_raster(path, mesh))
        descriptors = np.stack(maps, axis=-1) if maps else np.zeros((nrow, ncol, 0), dtype=np.float32)
    if descriptors.shape != (nrow, ncol, len(names)):
        raise ValueError(
            f"descriptors have shape {descriptors.shape}, expected (nrow, ncol, nd) = {(nrow, ncol, len(names))}"
        )
    return descriptors
