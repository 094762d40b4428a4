"""GeoTIFF rasters cut to the mesh grid.

Every raster is read through a `MeshWindow`: the block of the raster that
covers the mesh, placed on the (nrow, ncol) grid. Nodata values and mesh cells
outside the raster are `MISSING` (-99).

Opening a GeoTIFF with its georeferencing costs GDAL a lookup of the CRS in
the PROJ database (about 0.5 ms, most of the time spent per small file). A
series of files from one product shares its georeferencing, so
`RasterSeries` derives the window from one fully opened file and opens the
others without georeferencing, checking only that their size matches.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader
from rasterio.transform import Affine
from rasterio.windows import Window

MISSING = -99.0

# Without this GDAL lists the whole folder on every open to look for sidecar
# files, which is slow in folders holding thousands of rasters.
GDAL_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


def open_raster(path, georeferenced: bool = True):
    """A rasterio dataset, errors naming the file.

    Without georeferencing (`georeferenced=False`) GDAL skips the CRS lookup;
    the dataset is then built directly, without the per-call environment
    `rasterio.open` sets up: call it inside `rasterio.Env(**GDAL_OPTIONS)`.
    """
    try:
        if georeferenced:
            return rasterio.open(path)
        return DatasetReader(os.fspath(path), GEOREF_SOURCES="NONE")
    except RasterioIOError as err:
        raise OSError(f"Cannot read raster {path}: {err}") from None


@functools.lru_cache(maxsize=32)
def _epsg_of(wkt: str):
    # Identifying a CRS searches the PROJ database (~40 ms): once per distinct CRS.
    return CRS.from_wkt(wkt).to_epsg()


@dataclass(frozen=True)
class MeshWindow:
    """Where the mesh grid lies in rasters of one size and georeferencing."""

    raster_shape: tuple[int, int]  # (height, width) of the raster
    nrow: int
    ncol: int
    row_off: int  # raster row of mesh row 0 (may be negative or beyond the raster)
    col_off: int
    # Part of the mesh covered by the raster: mesh rows r0:r1, columns c0:c1.
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def empty(self) -> bool:
        return self.r1 <= self.r0 or self.c1 <= self.c0

    def raster_window(self) -> Window:
        return Window(self.c0 + self.col_off, self.r0 + self.row_off, self.c1 - self.c0, self.r1 - self.r0)

    def read_block(self, dataset, path) -> np.ndarray:
        """The covered block of band 1, in the file's own dtype."""
        if (dataset.height, dataset.width) != self.raster_shape:
            raise ValueError(f"{path}: raster size {(dataset.height, dataset.width)} differs from {self.raster_shape}")
        return dataset.read(1, window=self.raster_window())


def with_missing(values: np.ndarray, nodata) -> np.ndarray:
    """float64 copy of raw raster values with the nodata ones set to MISSING."""
    out = values.astype(np.float64)
    if nodata is not None:
        out[values == nodata] = MISSING
    return out


def mesh_window(dataset, mesh: dict, path) -> MeshWindow:
    """Check the raster matches the mesh grid (resolution, orientation, CRS) and locate the mesh in it."""
    xres, yres = float(mesh["xres"]), float(mesh["yres"])
    transform = dataset.transform
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise ValueError(f"{path}: raster is not north-up (transform {tuple(transform)[:6]})")
    if not (np.isclose(transform.a, xres) and np.isclose(-transform.e, yres)):
        raise ValueError(
            f"{path}: raster resolution ({transform.a}, {-transform.e}) differs from the mesh ({xres}, {yres})"
        )
    epsg = mesh.get("epsg")
    if dataset.crs is not None and epsg is not None:
        raster_epsg = _epsg_of(dataset.crs.to_wkt())
        if raster_epsg is not None and raster_epsg != int(epsg):
            raise ValueError(f"{path}: raster CRS is EPSG:{raster_epsg}, the mesh is EPSG:{int(epsg)}")
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    col_off = int(round((float(mesh["xmin"]) - transform.c) / xres))
    row_off = int(round((transform.f - float(mesh["ymax"])) / yres))
    height, width = dataset.height, dataset.width
    return MeshWindow(
        raster_shape=(height, width), nrow=nrow, ncol=ncol, row_off=row_off, col_off=col_off,
        r0=max(0, -row_off), r1=min(nrow, height - row_off), c0=max(0, -col_off), c1=min(ncol, width - col_off),
    )


def read_raster(path, mesh: dict) -> np.ndarray:
    """One raster on the (nrow, ncol) mesh grid, float32, -99 where missing."""
    with rasterio.Env(**GDAL_OPTIONS), open_raster(path) as dataset:
        window = mesh_window(dataset, mesh, path)
        grid = np.full((window.nrow, window.ncol), MISSING)
        if not window.empty:
            grid[window.r0:window.r1, window.c0:window.c1] = with_missing(window.read_block(dataset, path),
                                                                          dataset.nodata)
    return grid.astype(np.float32)


class RasterSeries:
    """Reads many rasters onto selected mesh cells, deriving the window once.

    `cells` are flat row-major indices into the (nrow, ncol) grid. `read`
    returns float64 values for those cells (-99 where missing). Call `read`
    inside `rasterio.Env(**GDAL_OPTIONS)` (one per thread, as rasterio's
    environment is thread-local) and with NotGeoreferencedWarning silenced.
    """

    def __init__(self, mesh: dict, cells: np.ndarray, reference_path):
        self.mesh = mesh
        self.cells = np.asarray(cells, dtype=np.int64)
        with rasterio.Env(**GDAL_OPTIONS), open_raster(reference_path) as dataset:
            self.window = mesh_window(dataset, mesh, reference_path)
        self._index = self._block_index(self.window)

    def _block_index(self, window: MeshWindow):
        """(positions in `cells` covered by the raster, their flat indices in the window block)."""
        rows, cols = np.divmod(self.cells, window.ncol)
        covered = (rows >= window.r0) & (rows < window.r1) & (cols >= window.c0) & (cols < window.c1)
        block_index = (rows[covered] - window.r0) * (window.c1 - window.c0) + (cols[covered] - window.c0)
        return np.flatnonzero(covered), block_index

    def read(self, path) -> np.ndarray:
        values = np.full(self.cells.size, MISSING)
        with open_raster(path, georeferenced=False) as dataset:
            if (dataset.height, dataset.width) == self.window.raster_shape:
                self._place(values, self.window, self._index, dataset, path)
                return values
        # Another raster size: this file gets its own, fully checked, window.
        with open_raster(path) as dataset:
            window = mesh_window(dataset, self.mesh, path)
            self._place(values, window, self._block_index(window), dataset, path)
        return values

    @staticmethod
    def _place(values, window, index, dataset, path) -> None:
        where, block_index = index
        if where.size:
            picked = window.read_block(dataset, path).ravel()[block_index]
            values[where] = with_missing(picked, dataset.nodata)

    def check_same_georeference(self, path) -> None:
        """Fully open `path` and check it places the mesh exactly like the reference file."""
        with rasterio.Env(**GDAL_OPTIONS), open_raster(path) as dataset:
            window = mesh_window(dataset, self.mesh, path)
        if window != self.window:
            raise ValueError(
                f"{path} is not georeferenced like the other rasters of its folder "
                f"(mesh window {window} instead of {self.window}); all rasters of a series must share one grid"
            )


def mesh_profile(mesh: dict, dtype) -> dict:
    """GeoTIFF profile of a raster covering exactly the mesh grid (CRS from `epsg` when the mesh has one)."""
    epsg = mesh.get("epsg")
    return dict(driver="GTiff", width=int(mesh["ncol"]), height=int(mesh["nrow"]), count=1, dtype=dtype,
                crs=CRS.from_epsg(int(epsg)) if epsg is not None else None, compress="deflate",
                transform=Affine(float(mesh["xres"]), 0.0, float(mesh["xmin"]), 0.0, -float(mesh["yres"]),
                                 float(mesh["ymax"])))


def write_mesh_raster(path, grid: np.ndarray, mesh: dict, tags: dict | None = None) -> None:
    """One (nrow, ncol) grid as a GeoTIFF georeferenced like the mesh, in the grid's dtype."""
    with rasterio.open(path, "w", **mesh_profile(mesh, grid.dtype)) as dataset:
        dataset.write(grid, 1)
        if tags:
            dataset.update_tags(**tags)


def read_mesh_raster(path, mesh: dict) -> np.ndarray:
    """A raster that covers exactly the mesh grid, as float64 values in the file's precision."""
    with rasterio.Env(**GDAL_OPTIONS), open_raster(path) as dataset:
        window = mesh_window(dataset, mesh, path)
        if (dataset.height, dataset.width) != (window.nrow, window.ncol) or window.row_off or window.col_off:
            raise ValueError(f"{path}: raster of shape {(dataset.height, dataset.width)} at offset "
                             f"({window.row_off}, {window.col_off}) cells does not cover exactly the mesh grid "
                             f"(nrow, ncol) = {(window.nrow, window.ncol)}")
        return dataset.read(1).astype(np.float64)
