"""GeoTIFF windows on the mesh grid."""

from __future__ import annotations

import numpy as np
import rasterio

MISSING = -99.0


class GridWindow:
    """Where the mesh grid sits inside a raster of the same resolution."""

    def __init__(self, mesh: dict, transform, width: int, height: int, path):
        xres, yres = float(mesh.get("xres", 1000.0)), float(mesh.get("yres", 1000.0))
        if not (np.isclose(transform.a, xres) and np.isclose(-transform.e, yres)):
            raise ValueError(
                f"{path}: resolution ({transform.a}, {-transform.e}) differs from the mesh ({xres}, {yres})"
            )
        self.key = (transform, width, height)
        self.col0 = int(round((float(mesh.get("xmin", transform.c)) - transform.c) / xres))
        self.row0 = int(round((transform.f - float(mesh.get("ymax", transform.f))) / yres))
        nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
        # Part of the mesh covered by the raster (the rest stays missing).
        self.r0, self.c0 = max(0, -self.row0), max(0, -self.col0)
        self.r1, self.c1 = min(nrow, height - self.row0), min(ncol, width - self.col0)
        self.shape = (nrow, ncol)
        self.empty = self.r1 <= self.r0 or self.c1 <= self.c0

    def read(self, dataset) -> np.ndarray:
        """The mesh-shaped float32 grid; nodata and uncovered cells are -99."""
        out = np.full(self.shape, MISSING, dtype=np.float32)
        if self.empty:
            return out
        window = rasterio.windows.Window(self.c0 + self.col0, self.r0 + self.row0,
                                         self.c1 - self.c0, self.r1 - self.r0)
        values = dataset.read(1, window=window)
        block = values.astype(np.float32)
        if dataset.nodata is not None:
            block[values == dataset.nodata] = MISSING
        out[self.r0:self.r1, self.c0:self.c1] = block
        return out


def read_raster(path, mesh: dict, window: GridWindow | None = None) -> tuple[np.ndarray, GridWindow]:
    """Read one single-band GeoTIFF onto the mesh grid; reuse `window` when the georeferencing matches."""
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise OSError(f"Cannot read raster {path}: {err}") from None
    with dataset:
        key = (dataset.transform, dataset.width, dataset.height)
        if window is None or window.key != key:
            window = GridWindow(mesh, dataset.transform, dataset.width, dataset.height, path)
        return window.read(dataset), window
