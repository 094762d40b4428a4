"""The D8 flow-direction GeoTIFF a mesh is cut from, and where points and boxes fall in it."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from smash.inputs.raster import _epsg_of, open_raster


@dataclass(frozen=True)
class FlwdirRaster:
    flwdir: np.ndarray  # (height, width) float32, raw values (nodata kept as stored)
    xmin: float         # west edge, m
    ymax: float         # north edge, m
    xres: float
    yres: float
    epsg: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.flwdir.shape

    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) of the raster."""
        height, width = self.shape
        return self.xmin, self.xmin + width * self.xres, self.ymax - height * self.yres, self.ymax

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of the cells containing the points; points outside the raster are an error."""
        xmin, xmax, ymin, ymax = self.extent()
        outside = (x < xmin) | (x >= xmax) | (y <= ymin) | (y > ymax)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"point (x, y) = ({x[i]}, {y[i]}) is outside the flow-direction raster "
                f"(x in [{xmin}, {xmax}), y in ({ymin}, {ymax}])"
            )
        return ((ymax - y) // self.yres).astype(np.int64), ((x - xmin) // self.xres).astype(np.int64)


def read_flwdir(path, epsg=None) -> FlwdirRaster:
    """Band 1 of `path` with its grid; `epsg` is used only when the file has no CRS."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"flow-direction raster not found: {path}")
    with open_raster(path) as dataset:
        transform = dataset.transform
        if transform.b != 0 or transform.d != 0 or transform.e >= 0:
            raise ValueError(f"{path}: raster is not north-up (transform {tuple(transform)[:6]})")
        flwdir = dataset.read(1).astype(np.float32)
        raster_epsg = _epsg_of(dataset.crs.to_wkt()) if dataset.crs is not None else None
    if raster_epsg is None:
        if epsg is None:
            raise ValueError(f"{path} has no (EPSG-identifiable) CRS: pass epsg")
        raster_epsg = int(epsg)
    elif epsg is not None and int(epsg) != raster_epsg:
        warnings.warn(f"epsg={epsg} ignored: {path} is in EPSG:{raster_epsg}", stacklevel=3)
    return FlwdirRaster(flwdir, float(transform.c), float(transform.f), float(transform.a), float(-transform.e),
                        int(raster_epsg))


def bbox_window(raster: FlwdirRaster, bbox) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the cells covered by bbox = [xmin, xmax, ymin, ymax].

    Each edge is moved to the nearest cell edge of the raster, so a box drawn
    to the metre still gives whole cells.
    """
    try:
        xmin, xmax, ymin, ymax = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(f"bbox must be four numbers [xmin, xmax, ymin, ymax], got {bbox!r}") from None
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"bbox [xmin, xmax, ymin, ymax] = {list(bbox)} is not ordered "
                         "(needs xmin < xmax and ymin < ymax)")
    r_xmin, r_xmax, r_ymin, r_ymax = raster.extent()
    if xmin < r_xmin or xmax > r_xmax or ymin < r_ymin or ymax > r_ymax:
        raise ValueError(f"bbox {list(bbox)} is not inside the flow-direction raster "
                         f"[{r_xmin}, {r_xmax}, {r_ymin}, {r_ymax}]")
    col0, col1 = (int(round((v - r_xmin) / raster.xres)) for v in (xmin, xmax))
    row0, row1 = (int(round((r_ymax - v) / raster.yres)) for v in (ymax, ymin))
    if row1 <= row0 or col1 <= col0:
        raise ValueError(f"bbox {list(bbox)} covers no whole cell of the raster ({raster.xres} x {raster.yres} m)")
    return row0, row1, col0, col1
