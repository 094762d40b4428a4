"""GeoTIFF rasters cut to the mesh grid.

Every raster is read through a `MeshWindow`: the raster cell of each mesh row
and column (as smash 1.3 places them, resampling by nearest neighbour when the
resolutions differ). Nodata values and mesh cells outside the raster are
`MISSING` (-99).

Every file of a series is checked against the mesh: a file whose GeoTIFF
georeferencing tags are byte for byte those of the series' first file is read
without georeferencing (GDAL's CRS lookup costs about 0.6 ms per file, as
much as reading a small raster; `tiff_header` reads the tags in microseconds);
any other file is opened with its georeferencing and placed by it. A file of
another grid in the middle of a series is never read as if it were aligned.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.transform import Affine
from rasterio.windows import Window

from smash.inputs.tiff_header import georeference_signature

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


# Issues met while placing rasters on the mesh, reported once per kind of input (see ReadReport).
RESOLUTION, OVERLAP, PARTLY_OUT, WHOLLY_OUT = "resolution", "overlap", "partly_out", "wholly_out"


def _round_half_even(x: float) -> int:
    # Python's round: ties to even, the rounding smash 1.3's placements follow (1.5 -> 2, 2.5 -> 2).
    return int(round(x))


def axis_indices(start: float, n_mesh: int, mesh_res: float, raster_res: float, raster_size: int):
    """Raster index of each of `n_mesh` mesh cells along one axis (-1 where the raster has no cell), and
    the issues met.

    `start` is the position of the mesh's first edge in raster cells. As smash 1.3 does: the mesh is
    snapped to the nearest raster edge, its extent rounded to whole raster cells
    (round(n_mesh * mesh_res / raster_res), ties to even), that span cut to the raster, and the cut
    span resampled by nearest neighbour (source cell floor((k + 0.5) * span / n_out), as GDAL's
    nearest resampling) onto the mesh cells it covers, starting round(cut / ratio) cells in.
    """
    ratio = mesh_res / raster_res  # raster cells per mesh cell
    issues = set()
    if not np.isclose(mesh_res, raster_res, rtol=1e-9, atol=0.0):
        issues.add(RESOLUTION)
    first = _round_half_even(start)
    if not np.isclose(start, first, rtol=0.0, atol=1e-6):
        issues.add(OVERLAP)
    span = max(_round_half_even(n_mesh * ratio), 1)
    lo, hi = max(first, 0), min(first + span, raster_size)
    index = np.full(n_mesh, -1, dtype=np.int64)
    if hi <= lo:
        issues.add(WHOLLY_OUT)
        return index, issues
    if lo > first or hi < first + span:
        issues.add(PARTLY_OUT)
    offset = _round_half_even((lo - first) / ratio)
    n_out = min(_round_half_even((hi - lo) / ratio), n_mesh - offset)
    if n_out > 0:
        k = np.arange(n_out)
        index[offset:offset + n_out] = lo + np.floor((k + 0.5) * (hi - lo) / n_out).astype(np.int64)
    return index, issues


def axis_indices_by_centre(start: float, n_mesh: int, mesh_res: float, raster_res: float, raster_size: int):
    """Raster index of each mesh cell along one axis by the raster cell holding the mesh cell's centre
    (-1 outside the raster): how smash 1.3's read_grid_parameters places parameter maps (where the
    input readers snap instead, see `axis_indices`), and the issues met."""
    ratio = mesh_res / raster_res
    issues = set()
    if not np.isclose(mesh_res, raster_res, rtol=1e-9, atol=0.0):
        issues.add(RESOLUTION)
    if not np.isclose(start, round(start), rtol=0.0, atol=1e-6):
        issues.add(OVERLAP)
    index = np.floor(start + (np.arange(n_mesh) + 0.5) * ratio).astype(np.int64)
    inside = (index >= 0) & (index < raster_size)
    index[~inside] = -1
    if not inside.any():
        issues.add(WHOLLY_OUT)
    elif not inside.all():
        issues.add(PARTLY_OUT)
    return index, issues


@dataclass(frozen=True)
class MeshWindow:
    """Where each mesh row and column lies in rasters of one size and georeferencing."""

    raster_shape: tuple[int, int]  # (height, width) of the raster
    row_index: tuple[int, ...]  # raster row of each mesh row, -1 outside the raster
    col_index: tuple[int, ...]  # raster column of each mesh column, -1 outside the raster
    issues: frozenset  # RESOLUTION, OVERLAP, PARTLY_OUT, WHOLLY_OUT

    @property
    def nrow(self) -> int:
        return len(self.row_index)

    @property
    def ncol(self) -> int:
        return len(self.col_index)

    @property
    def empty(self) -> bool:
        return max(self.row_index) < 0 or max(self.col_index) < 0

    @property
    def exact(self) -> bool:
        """The raster's cells are the mesh's cells (same resolution, whole-cell offset)."""
        return not self.issues & {RESOLUTION, OVERLAP}

    def _bounds(self):
        rows = np.array(self.row_index)
        cols = np.array(self.col_index)
        rows, cols = rows[rows >= 0], cols[cols >= 0]
        return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1

    def raster_window(self) -> Window:
        """The block of the raster holding every cell the mesh uses."""
        r0, r1, c0, c1 = self._bounds()
        return Window(c0, r0, c1 - c0, r1 - r0)

    def read_block(self, dataset, path) -> np.ndarray:
        """The block of band 1 the mesh uses, in the file's own dtype."""
        if (dataset.height, dataset.width) != self.raster_shape:
            raise ValueError(f"{path}: raster size {(dataset.height, dataset.width)} differs from {self.raster_shape}")
        return dataset.read(1, window=self.raster_window())

    def block_index(self, cells: np.ndarray):
        """(positions in the flat row-major mesh `cells` the raster covers, their flat indices in the block)."""
        rows, cols = np.divmod(np.asarray(cells, dtype=np.int64), self.ncol)
        src_rows = np.array(self.row_index, dtype=np.int64)[rows]
        src_cols = np.array(self.col_index, dtype=np.int64)[cols]
        covered = (src_rows >= 0) & (src_cols >= 0)
        if not covered.any():
            return np.flatnonzero(covered), np.zeros(0, dtype=np.int64)
        r0, _, c0, c1 = self._bounds()
        return np.flatnonzero(covered), (src_rows[covered] - r0) * (c1 - c0) + (src_cols[covered] - c0)


class ReadReport:
    """Issues met while reading one kind of input, given as one UserWarning at the end (as smash 1.3:
    missing files, resolution and overlap mismatches, mesh out of a raster's bounds)."""

    _TEXT = {
        RESOLUTION: "Resolution mismatch: at least one raster has another resolution than the mesh; it was "
                    "resampled to the mesh resolution by nearest neighbour",
        OVERLAP: "Overlap mismatch: the cells of at least one raster do not line up with the mesh cells; the "
                 "mesh was placed on the nearest raster cells",
        PARTLY_OUT: "Out of bounds: the mesh lies partly outside at least one raster; cells outside hold no "
                    "data (-99)",
        WHOLLY_OUT: "Out of bounds: the mesh lies wholly outside at least one raster; its cells hold no data (-99)",
    }

    def __init__(self, what: str):
        self.what = what
        self.missing: list[str] = []
        self.issues: set[str] = set()
        # Files of a series on another grid than its first file (each placed by its own header).
        self.misplaced: list[str] = []
        # Further lines (missing values, implausible values, incomplete aggregated steps).
        self.notes: list[str] = []

    def warn(self, stacklevel: int = 3) -> None:
        lines = []
        if self.missing:
            # Every missing date of a long period would bury the message: the first ones tell the story.
            shown = str(self.missing[:10])[:-1] + (", ...]" if len(self.missing) > 10 else "]")
            lines.append(f"Missing files: {len(self.missing)} file(s) not found, left as no data (-99): {shown}")
        lines += [self._TEXT[issue] for issue in (RESOLUTION, OVERLAP, PARTLY_OUT, WHOLLY_OUT) if issue in self.issues]
        if self.misplaced:
            names = sorted(os.path.basename(p) for p in self.misplaced)
            shown = str(names[:10])[:-1] + (", ...]" if len(names) > 10 else "]")
            lines.append(f"Grid mismatch: {len(names)} file(s) lie on another grid than the first file of the "
                         f"series; each was placed on the mesh by its own georeferencing: {shown}")
        lines += self.notes
        if lines:
            warnings.warn("\n".join([f"Reading {self.what}:"] + lines), UserWarning, stacklevel=stacklevel)


def with_missing(values: np.ndarray, nodata) -> np.ndarray:
    """float64 copy of raw raster values with the nodata ones set to MISSING."""
    out = values.astype(np.float64)
    if nodata is not None:
        out[_is_nodata(values, nodata)] = MISSING
    out[~np.isfinite(out)] = MISSING
    return out


def mesh_window(dataset, mesh: dict, path, by_centre: bool = False) -> MeshWindow:
    """Check the raster's orientation and CRS against the mesh and place the mesh cells in it (by
    `axis_indices`, or by `axis_indices_by_centre` with `by_centre`)."""
    xres, yres = float(mesh["xres"]), float(mesh["yres"])
    transform = dataset.transform
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise ValueError(f"{path}: raster is not north-up (transform {tuple(transform)[:6]})")
    epsg = mesh.get("epsg")
    if dataset.crs is not None and epsg is not None and int(epsg) != -99:
        raster_epsg = _epsg_of(dataset.crs.to_wkt())
        if raster_epsg is not None and raster_epsg != int(epsg):
            raise ValueError(f"{path}: raster CRS is EPSG:{raster_epsg}, the mesh is EPSG:{int(epsg)}")
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    raster_xres, raster_yres = transform.a, -transform.e
    place = axis_indices_by_centre if by_centre else axis_indices
    cols, col_issues = place((float(mesh["xmin"]) - transform.c) / raster_xres, ncol, xres, raster_xres,
                                    dataset.width)
    rows, row_issues = place((transform.f - float(mesh["ymax"])) / raster_yres, nrow, yres, raster_yres,
                                    dataset.height)
    issues = col_issues | row_issues
    if WHOLLY_OUT in issues:
        issues -= {PARTLY_OUT}
    return MeshWindow(raster_shape=(dataset.height, dataset.width), row_index=tuple(rows.tolist()),
                      col_index=tuple(cols.tolist()), issues=frozenset(issues))


def read_raster(path, mesh: dict, report: ReadReport | None = None) -> np.ndarray:
    """One raster on the (nrow, ncol) mesh grid, float32, -99 where missing; placement issues go to `report`."""
    values, valid = read_raster_values(path, mesh, report)
    return np.where(valid, values, MISSING).astype(np.float32)


def read_raster_values(path, mesh: dict, report: ReadReport | None = None,
                       by_centre: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One raster placed on the (nrow, ncol) mesh grid: its float64 values and where they are data
    (inside the raster and not nodata); placement issues go to `report`. `by_centre`: see `mesh_window`."""
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    values = np.full(nrow * ncol, np.nan)
    valid = np.zeros(nrow * ncol, dtype=bool)
    with rasterio.Env(**GDAL_OPTIONS), open_raster(path) as dataset:
        window = mesh_window(dataset, mesh, path, by_centre)
        if not window.empty:
            where, block_index = window.block_index(np.arange(nrow * ncol))
            try:
                picked = window.read_block(dataset, path).ravel()[block_index]
            except RasterioError as err:
                raise OSError(f"Cannot read raster {path}: {err}") from None
            values[where] = picked
            valid[where] = np.isfinite(picked) & (True if dataset.nodata is None else
                                                  ~_is_nodata(picked, dataset.nodata))
    if report is not None:
        report.issues |= window.issues
    return values.reshape(nrow, ncol), valid.reshape(nrow, ncol)


def _is_nodata(values: np.ndarray, nodata) -> np.ndarray:
    return np.isnan(values) if np.isnan(nodata) else values == nodata


class RasterSeries:
    """Reads many rasters onto selected mesh cells.

    `cells` are flat row-major indices into the (nrow, ncol) grid. `read`
    returns float64 values for those cells (-99 where missing) and how many
    of them were nodata or non-finite. Every file's header (size, resolution,
    origin, orientation, CRS) is checked against the mesh: a file placed
    otherwise than the first one is placed by its own georeferencing (as
    smash 1.3 places each raster) and named in `misplaced`; another CRS or
    orientation is refused naming the file. Call `read` inside
    `rasterio.Env(**GDAL_OPTIONS)` (one per thread, as rasterio's environment
    is thread-local) and with NotGeoreferencedWarning silenced. Placement
    issues of every window used are gathered in `issues`.
    """

    def __init__(self, mesh: dict, cells: np.ndarray, reference_path):
        self.mesh = mesh
        self.cells = np.asarray(cells, dtype=np.int64)
        with rasterio.Env(**GDAL_OPTIONS), open_raster(reference_path) as dataset:
            self.window = mesh_window(dataset, mesh, reference_path)
        self._index = self.window.block_index(self.cells)
        # Window and cell index of each header signature met (tiff_header), checked once by GDAL.
        self._by_signature = {}
        signature = georeference_signature(reference_path)
        if signature is not None:
            self._by_signature[signature] = (self.window, self._index)
        self.issues = set(self.window.issues)
        self.misplaced: list[str] = []
        self._lock = threading.Lock()

    def read(self, path) -> tuple[np.ndarray, int, int]:
        """(values at the cells, -99 where missing; count of nodata values; count of NaN / inf values)."""
        values = np.full(self.cells.size, MISSING)
        signature = georeference_signature(path)
        if signature is not None and signature in self._by_signature:
            # Its header's georeferencing tags are byte for byte those of a file already placed: the
            # same grid and CRS, so GDAL's costly CRS lookup is skipped.
            window, index = self._by_signature[signature]
            if window is not self.window:
                with self._lock:
                    self.misplaced.append(str(path))
            with open_raster(path, georeferenced=False) as dataset:
                return (values, *self._place(values, window, index, dataset, path))
        with open_raster(path) as dataset:
            window = mesh_window(dataset, self.mesh, path)
            if window == self.window:
                window = self.window  # the identity marks files placed like the first
            index = self._index if window is self.window else window.block_index(self.cells)
            counts = self._place(values, window, index, dataset, path)
        with self._lock:
            if window is not self.window:
                self.issues |= window.issues
                self.misplaced.append(str(path))
            if signature is not None:
                self._by_signature[signature] = (window, index)
        return (values, *counts)

    @staticmethod
    def _place(values, window, index, dataset, path) -> tuple[int, int]:
        where, block_index = index
        if not where.size:
            return 0, 0
        try:
            picked = window.read_block(dataset, path).ravel()[block_index]
        except RasterioError as err:
            raise OSError(f"Cannot read raster {path}: {err}") from None
        nodata = np.zeros(picked.shape, dtype=bool) if dataset.nodata is None else _is_nodata(picked, dataset.nodata)
        nonfinite = ~nodata & ~np.isfinite(picked)
        placed = picked.astype(np.float64)
        placed[nodata | nonfinite] = MISSING
        values[where] = placed
        return int(nodata.sum()), int(nonfinite.sum())


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
