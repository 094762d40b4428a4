"""Physical descriptor maps: one GeoTIFF `<descriptor_directory>/<name>.<format>` per descriptor."""

from __future__ import annotations

import os

import numpy as np

from smash.inputs.raster import MISSING, ReadReport, read_raster
from smash.inputs.synthetic import synthetic_descriptor


def read_descriptor(setup: dict, mesh: dict) -> np.ndarray:
    """(nrow, ncol, nd) float32 in `descriptor_name` order; nodata and cells outside a raster are -99.

    A descriptor without a file is all -99, with a UserWarning (as smash 1.3); so are rasters placed
    on the mesh by resampling or partly outside it (see `smash.inputs.raster.axis_indices`).
    """
    return read_descriptor_files(setup, mesh)[0]


def read_descriptor_files(setup: dict, mesh: dict) -> tuple[np.ndarray, list[str]]:
    """`read_descriptor` and the names of the descriptors whose file is absent."""
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    names = list(setup.get("descriptor_name") or [])
    absent = []
    if setup.get("synthetic"):
        descriptors = synthetic_descriptor(setup, mesh)
    else:
        directory = setup.get("descriptor_directory")
        if not directory or not os.path.isdir(directory):
            raise FileNotFoundError(f"setup['descriptor_directory'] = {directory!r} is not a directory")
        fmt = setup.get("descriptor_format") or "tif"
        report = ReadReport("physiographic descriptors")
        maps = []
        for name in names:
            path = os.path.join(directory, f"{name}.{fmt}")
            if os.path.isfile(path):
                maps.append(read_raster(path, mesh, report))
            else:
                absent.append(name)
                maps.append(np.full((nrow, ncol), MISSING, dtype=np.float32))
        report.missing = absent
        report.warn()
        descriptors = np.stack(maps, axis=-1) if maps else np.zeros((nrow, ncol, 0), dtype=np.float32)
    if descriptors.shape != (nrow, ncol, len(names)):
        raise ValueError(
            f"descriptors have shape {descriptors.shape}, expected (nrow, ncol, nd) = {(nrow, ncol, len(names))}"
        )
    return descriptors, absent
