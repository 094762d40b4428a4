"""GeoTIFF windows on the mesh grid."""

from __future__ import annotations

import logging

import numpy as np
import rasterio
import tifffile

# tifffile logs a warning when it cannot type GDAL's text nodata tag; we parse
# that tag ourselves.
logging.getLogger("tifffile").setLevel(logging.ERROR)

MISSING = -99.0
# Rasters up to this many pixels are decoded whole with tifffile, which opens a
# file several times faster than GDAL; larger ones go through rasterio, which
# decodes only the window the mesh needs.
SMALL_RASTER = 1_000_000


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
        """The mesh-shaped float32 grid from a rasterio dataset; nodata and uncovered cells are -99."""
        if self.empty:
            return np.full(self.shape, MISSING, dtype=np.float32)
        window = rasterio.windows.Window(self.c0 + self.col0, self.r0 + self.row0,
                                         self.c1 - self.c0, self.r1 - self.r0)
        return self.place(dataset.read(1, window=window), dataset.nodata)

    def cut(self, image: np.ndarray, nodata) -> np.ndarray:
        """The mesh-shaped float32 grid from a whole decoded image."""
        if self.empty:
            return np.full(self.shape, MISSING, dtype=np.float32)
        block = image[self.r0 + self.row0:self.r1 + self.row0, self.c0 + self.col0:self.c1 + self.col0]
        return self.place(block, nodata)

    def place(self, values: np.ndarray, nodata) -> np.ndarray:
        out = np.full(self.shape, MISSING, dtype=np.float32)
        block = values.astype(np.float32)
        if nodata is not None:
            block[values == nodata] = MISSING
        out[self.r0:self.r1, self.c0:self.c1] = block
        return out


class _Transform:
    """The affine parts GridWindow uses (a = x size, e = -y size, c/f = origin)."""

    def __init__(self, x0, y0, sx, sy):
        self.a, self.e, self.c, self.f = sx, -sy, x0, y0

    def __eq__(self, other):
        return (self.a, self.e, self.c, self.f) == (other.a, other.e, other.c, other.f)


def _tiff_georeference(page):
    """(transform, nodata) of a north-up GeoTIFF page, or None when it needs GDAL."""
    tags = page.tags
    if page.is_tiled or page.samplesperpixel != 1 or "ModelPixelScaleTag" not in tags \
            or "ModelTiepointTag" not in tags or "ModelTransformationTag" in tags:
        return None
    sx, sy = tags["ModelPixelScaleTag"].value[:2]
    tie = tags["ModelTiepointTag"].value
    if len(tie) != 6 or tie[0] != 0 or tie[1] != 0:
        return None
    x0, y0 = tie[3], tie[4]
    keys = tags["GeoKeyDirectoryTag"].value if "GeoKeyDirectoryTag" in tags else ()
    # GTRasterTypeGeoKey (1025) = 2: the tie point is a pixel centre; GDAL
    # (and so smash) shift the origin to the pixel corner.
    for i in range(4, len(keys) - 3, 4):
        if keys[i] == 1025 and keys[i + 1] == 0 and keys[i + 3] == 2:
            x0, y0 = x0 - 0.5 * sx, y0 + 0.5 * sy
    nodata = None
    if "GDAL_NODATA" in tags:
        text = str(tags["GDAL_NODATA"].value).strip().strip("\x00")
        nodata = float(text) if text.lower() != "nan" else None
    return _Transform(x0, y0, sx, sy), nodata


def _as_pixel_value(nodata, dtype):
    """The nodata value as stored in pixels of `dtype` (GDAL writes it as text)."""
    if nodata is None:
        return None
    if np.issubdtype(dtype, np.floating):
        return dtype.type(nodata)
    info = np.iinfo(dtype)
    return dtype.type(nodata) if info.min <= nodata <= info.max and float(nodata).is_integer() else None


def read_raster(path, mesh: dict, window: GridWindow | None = None) -> tuple[np.ndarray, GridWindow]:
    """Read one single-band GeoTIFF onto the mesh grid; reuse `window` when the georeferencing matches."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            geo = _tiff_georeference(page) if page.shape and np.prod(page.shape) <= SMALL_RASTER else None
            if geo is not None:
                transform, nodata = geo
                height, width = page.shape[:2]
                key = (transform, width, height)
                if window is None or window.key != key:
                    window = GridWindow(mesh, transform, width, height, path)
                image = page.asarray()
                return window.cut(image, _as_pixel_value(nodata, image.dtype)), window
    except (tifffile.TiffFileError, OSError, ValueError, KeyError):
        pass  # not a plain GeoTIFF tifffile can place: let GDAL read it
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise OSError(f"Cannot read raster {path}: {err}") from None
    with dataset:
        key = (dataset.transform, dataset.width, dataset.height)
        if window is None or window.key != key:
            window = GridWindow(mesh, dataset.transform, dataset.width, dataset.height, path)
        return window.read(dataset), window
