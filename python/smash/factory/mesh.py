"""Meshes cut out of a D8 flow-direction raster (`generate_mesh`) and flow loops in it (`detect_sink`)."""

from __future__ import annotations

import numpy as np
import rasterio

from smash.atomic import atomic_write
from smash.drainage import d8 as mesh_tools
from smash.factory.flwdir_raster import FlwdirRaster, bbox_window, read_flwdir
from smash.factory.gauges import check_area_errors, gauge_arrays, place_gauges
from smash.inputs.raster import open_raster


def generate_mesh(flwdir_path, bbox=None, x=None, y=None, area=None, code=None, shp_path=None, max_depth=1,
                  epsg=None, area_error_th=None) -> dict:
    """Build a mesh from a D8 flow-direction GeoTIFF.

    Gauge mode (`x`, `y`, `area` in m and m2, optional `code`, default
    "_c0", "_c1", ...): each gauge goes on the cell within `max_depth` cells
    of (x, y) whose drained area is closest to `area`; the active cells are
    those draining to a gauge and the grid is their bounding box. With
    `area_error_th`, a gauge whose relative error ``abs(area_dln - area) / area``
    exceeds it is an error (naming the gauges); without it, errors above 0.5
    are warned about.

    Bbox mode (`bbox=[xmin, xmax, ymin, ymax]`, edges moved to the nearest
    cell edge): the grid is the box, the active cells those with a valid
    direction, no gauge (ng = 0). xmin and ymax are int64 when the bbox is
    given in integers (as in mesh_France.hdf5), float64 otherwise.

    Parameters
    ----------
    flwdir_path : str or os.PathLike
        The flow-direction raster (the coding of the mesh files, e.g. ``load_dataset("flwdir")``).
    bbox : list of float, optional
        ``[xmin, xmax, ymin, ymax]`` in the raster's CRS (m): bbox mode.
    x, y : list of float, optional
        The gauges' outlet coordinates in the raster's CRS (m): gauge mode.
    area : list of float, optional
        The gauges' reported drained areas (m2).
    code : list of str, optional
        The gauges' codes.
    shp_path : str, optional
        Catchment polygons: not supported (NotImplementedError).
    max_depth : int, default 1
        How many cells around (x, y) a gauge may move to.
    epsg : int, optional
        The CRS to assume when the raster has none.
    area_error_th : float, optional
        The largest relative drained-area error accepted.

    Returns
    -------
    dict
        The mesh, with the fields of the mesh files (as `smash.io.read_mesh` gives them).

    Raises
    ------
    ValueError
        When neither bbox nor all of x, y and area are given, a gauge's area error exceeds
        `area_error_th`, the bbox leaves the raster, or the flow directions loop inside the mesh.
    NotImplementedError
        When `shp_path` is given.
    """
    if shp_path is not None:
        raise NotImplementedError("shp_path (catchment polygons refining the gauge placement) is not supported; "
                                  "place gauges with x, y, area and max_depth")
    if bbox is None and (x is None or y is None or area is None):
        raise ValueError("generate_mesh needs either bbox or all of x, y and area")
    if bbox is not None:
        raster = read_flwdir(flwdir_path, epsg)
        return _bbox_mesh(raster, bbox)
    x, y, area, codes = gauge_arrays(x, y, area, code)
    raster = read_flwdir(flwdir_path, epsg)
    return _gauge_mesh(raster, x, y, area, codes, max_depth, area_error_th, flwdir_path)


def detect_sink(flwdir_path, output_path=None) -> np.ndarray:
    """Find the cells of a flow-direction raster that lie on a flow loop.

    A cell is on a loop when following the directions from it comes back to it
    (two cells draining into each other, or longer cycles); cells merely
    draining into a loop are 0.

    Parameters
    ----------
    flwdir_path : str or os.PathLike
        The D8 flow-direction GeoTIFF.
    output_path : str or os.PathLike, optional
        Also write the mask there, as a uint8 GeoTIFF with the raster's georeferencing.

    Returns
    -------
    numpy.ndarray
        The (nrow, ncol) int32 mask of the raster: 1 for cells on a loop, 0 elsewhere.
    """
    with open_raster(flwdir_path) as dataset:
        flwdir = dataset.read(1)
        profile = {"transform": dataset.transform, "crs": dataset.crs}
    sink = mesh_tools.loop_cells(mesh_tools.downstream_index(flwdir)).reshape(flwdir.shape).astype(np.int32)
    if output_path is not None:
        with atomic_write(output_path, "sink mask") as partial, rasterio.open(
                partial, "w", driver="GTiff", height=sink.shape[0], width=sink.shape[1], count=1, dtype="uint8",
                **profile) as out:
            out.write(sink.astype(np.uint8), 1)
    return sink


def _grid_fields(raster: FlwdirRaster, rows: slice, cols: slice, active: np.ndarray) -> dict:
    """Fields shared by both modes, on the window rows x cols of the raster."""
    flwdir = raster.flwdir[rows, cols].copy()
    try:
        graph = mesh_tools.FlowGraph.from_flwdir(flwdir)
    except ValueError as err:
        raise ValueError(f"mesh window (raster rows {rows.start}:{rows.stop}, columns {cols.start}:{cols.stop}): "
                         f"{err}") from None
    dx = np.full(flwdir.shape, raster.xres, dtype=np.float32)
    dy = np.full(flwdir.shape, raster.yres, dtype=np.float32)
    flwpar, ncpar, cscpar, cpar_to_rowcol = mesh_tools.flow_partition(flwdir, graph)
    return {
        "xres": np.float64(raster.xres), "yres": np.float64(raster.yres),
        "nrow": np.int64(flwdir.shape[0]), "ncol": np.int64(flwdir.shape[1]),
        "dx": dx, "dy": dy, "flwdir": flwdir, "flwacc": mesh_tools.flow_accumulation(flwdir, dx, dy, graph),
        "npar": np.int32(ncpar.size), "ncpar": ncpar, "cscpar": cscpar, "cpar_to_rowcol": cpar_to_rowcol,
        "flwpar": flwpar, "nac": np.int64(active.sum()), "active_cell": active.astype(np.int32),
        "epsg": np.int64(raster.epsg),
    }, graph


def _bbox_mesh(raster: FlwdirRaster, bbox) -> dict:
    row0, row1, col0, col1 = bbox_window(raster, bbox)
    rows, cols = slice(row0, row1), slice(col0, col1)
    active = mesh_tools.d8_code(raster.flwdir[rows, cols]) > 0
    if not active.any():
        raise ValueError(f"bbox {list(bbox)} holds no cell with a valid flow direction")
    mesh, _ = _grid_fields(raster, rows, cols, active)
    xmin, ymax = raster.xmin + col0 * raster.xres, raster.ymax - row0 * raster.yres
    integral = all(isinstance(v, (int, np.integer)) for v in bbox) and float(xmin).is_integer() and \
        float(ymax).is_integer()
    as_type = np.int64 if integral else np.float64
    mesh.update(xmin=as_type(xmin), ymax=as_type(ymax), ng=np.int64(0))
    return mesh


def _gauge_mesh(raster: FlwdirRaster, x, y, area, codes, max_depth, area_error_th, path) -> dict:
    # Placement needs the drained area of every raster cell; loops elsewhere in
    # the raster do not matter unless they fall inside the mesh window.
    graph = mesh_tools.FlowGraph.from_flwdir(raster.flwdir, allow_loops=True)
    ones = np.ones(raster.shape, dtype=np.float32)
    flwacc = mesh_tools.flow_accumulation(raster.flwdir, ones * raster.xres, ones * raster.yres, graph)
    usable = (mesh_tools.d8_code(raster.flwdir) > 0) & ~mesh_tools.loop_cells(graph.down).reshape(raster.shape)
    positions = place_gauges(raster, flwacc, usable, x, y, area, codes, max_depth)
    domain = mesh_tools.upstream_mask(raster.flwdir, positions, graph)
    in_rows, in_cols = np.flatnonzero(domain.any(axis=1)), np.flatnonzero(domain.any(axis=0))
    rows, cols = slice(in_rows[0], in_rows[-1] + 1), slice(in_cols[0], in_cols[-1] + 1)
    mesh, window_graph = _grid_fields(raster, rows, cols, domain[rows, cols])
    gauge_pos = (positions - [rows.start, cols.start]).astype(np.int32)
    area_dln = mesh["flwacc"][gauge_pos[:, 0], gauge_pos[:, 1]].astype(np.float32)
    check_area_errors(codes, area, area_dln, area_error_th)
    mesh.update(
        xmin=np.float64(raster.xmin + cols.start * raster.xres),
        ymax=np.float64(raster.ymax - rows.start * raster.yres),
        flwdst=mesh_tools.flow_distance(mesh["flwdir"], mesh["dx"], mesh["dy"], mesh["active_cell"], window_graph),
        ng=np.int64(codes.size), gauge_pos=gauge_pos, code=codes, area=area.astype(np.float32), area_dln=area_dln,
    )
    return mesh
