"""smash.factory.generate_mesh / detect_sink against the smash 1.3 mesh files and independent computations."""

import csv
import time

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import smash
from smash.factory import detect_sink, generate_mesh
from smash.io import read_mesh, save_mesh

FRANCE_BBOX = [100000, 1250000, 6050000, 7125000]
# float32 holds k * 1e6 m2 exactly only while k * 15625 < 2**24 (1e6 = 2**6 * 15625): above, the last bits
# depend on the order of the float32 additions (see test_france_bbox_reproduces_mesh_file).
EXACT_AREA_LIMIT = (2**24 // 15625) * 1e6


def gauge_attributes(data_dir, name):
    with open(data_dir / name / "gauge_attributes.csv") as f:
        rows = list(csv.DictReader(f))
    return {"x": [float(r["x"]) for r in rows], "y": [float(r["y"]) for r in rows],
            "area": [float(r["area"]) * 1e6 for r in rows], "code": [r["code"] for r in rows]}


def assert_same_field(key, generated, stored):
    generated, stored = np.asarray(generated), np.asarray(stored)
    assert generated.dtype == stored.dtype, f"{key}: dtype {generated.dtype} != {stored.dtype}"
    assert generated.shape == stored.shape, f"{key}: shape {generated.shape} != {stored.shape}"
    assert np.array_equal(generated, stored), f"{key}: {np.sum(generated != stored)} values differ"


@pytest.fixture(scope="module")
def flwdir_path(data_dir):
    return data_dir / "France_flwdir.tif"


@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_gauges_reproduce_mesh_file(data_dir, flwdir_path, name):
    mesh = generate_mesh(flwdir_path, **gauge_attributes(data_dir, name))
    stored = read_mesh(data_dir / name / f"mesh_{name}.hdf5")
    assert set(mesh) == set(stored) - {"_save_func"}
    for key in sorted(mesh):
        assert_same_field(key, mesh[key], stored[key])


def test_france_bbox_reproduces_mesh_file(data_dir, flwdir_path):
    start = time.perf_counter()
    mesh = generate_mesh(flwdir_path, bbox=FRANCE_BBOX)
    elapsed = time.perf_counter() - start
    stored = read_mesh(data_dir / "France" / "mesh_France.hdf5")
    assert set(mesh) == set(stored) - {"_save_func"} and mesh["nac"] == 906044 and mesh["ng"] == 0
    for key in sorted(set(mesh) - {"flwacc"}):
        assert_same_field(key, mesh[key], stored[key])
    # flwacc: ours is the exact drained area rounded once to float32; smash 1.3 summed in float32, so above
    # EXACT_AREA_LIMIT its last bits depend on the summation order. Exact below, a few ulps above.
    flwacc, stored_acc = mesh["flwacc"], stored["flwacc"]
    assert flwacc.dtype == stored_acc.dtype and flwacc.shape == stored_acc.shape
    exact = stored_acc < EXACT_AREA_LIMIT
    assert np.array_equal(flwacc[exact], stored_acc[exact])
    np.testing.assert_allclose(flwacc[~exact], stored_acc[~exact], rtol=5e-6, atol=0)
    assert elapsed < 10, f"generate_mesh on France took {elapsed:.1f} s"


def test_generated_mesh_runs_like_file_mesh(data_dir, flwdir_path, tmp_path):
    setup, file_mesh = smash.factory.load_dataset("Lez")
    mesh = generate_mesh(flwdir_path, **gauge_attributes(data_dir, "Lez"))
    save_mesh(mesh, tmp_path / "mesh.hdf5")
    for key, value in read_mesh(tmp_path / "mesh.hdf5").items():
        if key != "_save_func":
            assert_same_field(key, value, file_mesh[key])
    reference = smash.Model(setup, file_mesh)
    reference.forward_run()
    model = smash.Model(setup, mesh)
    model.forward_run()
    assert np.array_equal(model.response.q, reference.response.q)


def test_gauge_placement_and_defaults(data_dir, flwdir_path):
    lez = gauge_attributes(data_dir, "Lez")
    mesh = generate_mesh(flwdir_path, x=lez["x"][0], y=lez["y"][0], area=lez["area"][0])
    assert mesh["code"].tolist() == ["_c0"] and mesh["ng"] == 1
    # Searching no neighbour keeps the gauge on the cell holding the point.
    with pytest.warns(UserWarning, match="relative error 0.991"):  # the point is beside the stream (1.3 does the same)
        mesh = generate_mesh(flwdir_path, x=lez["x"][2], y=lez["y"][2], area=lez["area"][2], max_depth=0)
    with rasterio.open(flwdir_path) as src:
        row, col = src.index(lez["x"][2], lez["y"][2])
        expected = (src.transform.c + col * 1000.0, src.transform.f - row * 1000.0)
    gauge = mesh["gauge_pos"][0]
    assert (mesh["xmin"] + gauge[1] * 1000.0, mesh["ymax"] - gauge[0] * 1000.0) == expected
    assert mesh["area_dln"][0] == mesh["flwacc"][tuple(gauge)] == mesh["nac"] * 1e6


def test_area_error_threshold(data_dir, flwdir_path):
    lez = gauge_attributes(data_dir, "Lez")
    assert generate_mesh(flwdir_path, **lez, area_error_th=0.05)["ng"] == 3  # errors are 1.8%, 0.7%, 2.7%
    with pytest.raises(ValueError, match=r"area_error_th=0.01 for Y3204040: reported 1.69e\+08 m2, "
                                         r"delineated 1.72e\+08 m2.*Y3204010"):
        generate_mesh(flwdir_path, **lez, area_error_th=0.01)
    with pytest.warns(UserWarning, match="_c0: reported 1e\\+12 m2"):
        generate_mesh(flwdir_path, x=lez["x"][0], y=lez["y"][0], area=1e12)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"x": [772330, 1], "y": [6274127], "area": [1e8]}, ValueError, "same length.*x: 2, y: 1, area: 1, code: 2"),
    ({"x": 772330, "y": 6274127, "area": 1e8, "code": ["A", "B"]}, ValueError, "same length.*code: 2"),
    ({"x": 0.0, "y": 0.0, "area": 1e8}, ValueError, r"\(x, y\) = \(0.0, 0.0\) is outside"),
    ({"x": 772330, "y": 6274127, "area": 0.0, "code": "G1"}, ValueError, r"area must be positive.*\['G1'\]"),
    ({"x": 75500, "y": 7124500, "area": 1e6, "code": "SEA", "max_depth": 0}, ValueError, "SEA: no cell with a flow"),
    ({"bbox": [0, 775000, 6270000, 6300000]}, ValueError, "not inside the flow-direction raster"),
    ({"bbox": [775000, 760000, 6270000, 6300000]}, ValueError, "not ordered"),
    ({"x": 772330, "y": 6274127}, ValueError, "either bbox or all of x, y and area"),
    ({"bbox": FRANCE_BBOX, "shp_path": "catchments.shp"}, NotImplementedError, "shp_path"),
])
def test_bad_input_is_named(flwdir_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        generate_mesh(flwdir_path, **kwargs)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.tif"):
        generate_mesh(tmp_path / "nowhere.tif", bbox=FRANCE_BBOX)


def write_flwdir(path, flwdir, crs="EPSG:2154"):
    with rasterio.open(path, "w", driver="GTiff", height=flwdir.shape[0], width=flwdir.shape[1], count=1,
                       dtype="float32", crs=crs, transform=from_origin(0, 5000, 1000, 1000), nodata=-9999) as out:
        out.write(flwdir.astype(np.float32), 1)


CRAFTED_LOOP_CELLS = ([2, 2, 4, 4, 3], [2, 3, 0, 1, 1])


def crafted_flwdir():
    """5 x 5, everything drains east off the grid except a 2-cell loop and a 3-cell loop fed by neighbours."""
    flwdir = np.full((5, 5), 3, dtype=np.float32)
    flwdir[2, 2], flwdir[2, 3] = 3, 7          # (2, 2) <-> (2, 3); (2, 1) drains into the loop
    flwdir[1, 2] = 5                           # drains into the loop from the north
    flwdir[4, 0], flwdir[4, 1], flwdir[3, 1] = 3, 1, 6   # (4,0) -> (4,1) -> (3,1) -> (4,0)
    flwdir[0, 0] = -9999
    return flwdir


def test_detect_sink_on_crafted_loops(tmp_path):
    write_flwdir(tmp_path / "flwdir.tif", crafted_flwdir())
    sink = detect_sink(tmp_path / "flwdir.tif", output_path=tmp_path / "sink.tif")
    expected = np.zeros((5, 5), dtype=np.int32)
    expected[CRAFTED_LOOP_CELLS] = 1
    assert sink.dtype == np.int32 and np.array_equal(sink, expected)
    with rasterio.open(tmp_path / "sink.tif") as written, rasterio.open(tmp_path / "flwdir.tif") as source:
        assert np.array_equal(written.read(1), expected)
        assert written.transform == source.transform and written.crs == source.crs


def test_loop_in_mesh_is_an_error(tmp_path):
    write_flwdir(tmp_path / "flwdir.tif", crafted_flwdir())
    with pytest.raises(ValueError, match=r"loop through cell \(row, col\) = \((2, 2|3, 1)\)"):
        generate_mesh(tmp_path / "flwdir.tif", bbox=[0, 5000, 0, 5000])


def test_epsg_only_when_raster_has_none(tmp_path):
    flwdir = np.full((3, 3), 3, dtype=np.float32)
    write_flwdir(tmp_path / "nocrs.tif", flwdir, crs=None)
    with pytest.raises(ValueError, match="pass epsg"):
        generate_mesh(tmp_path / "nocrs.tif", bbox=[0, 3000, 2000, 5000])
    assert generate_mesh(tmp_path / "nocrs.tif", bbox=[0, 3000, 2000, 5000], epsg=2154)["epsg"] == 2154


def loop_cells_by_pointer_doubling(flwdir):
    """Cells on loops, independently: after n >= ncell steps every path sits on a loop or has ended."""
    nrow, ncol = flwdir.shape
    drow = {1: -1, 2: -1, 3: 0, 4: 1, 5: 1, 6: 1, 7: 0, 8: -1}
    dcol = {1: 0, 2: 1, 3: 1, 4: 1, 5: 0, 6: -1, 7: -1, 8: -1}
    rows, cols = np.mgrid[0:nrow, 0:ncol]
    end = nrow * ncol  # sink node for "no downstream"
    succ = np.full(end + 1, end)
    for d in range(1, 9):
        r, c = rows + drow[d], cols + dcol[d]
        ok = (flwdir == d) & (r >= 0) & (r < nrow) & (c >= 0) & (c < ncol)
        succ[:-1][ok.ravel()] = (r * ncol + c)[ok]
    steps = 1
    while steps < end:
        succ, steps = succ[succ], steps * 2
    on_loop = np.zeros(end + 1, dtype=bool)
    on_loop[succ] = True
    return on_loop[:-1].reshape(nrow, ncol)


def test_detect_sink_on_france_matches_pointer_doubling(flwdir_path):
    with rasterio.open(flwdir_path) as src:
        flwdir = src.read(1)
    assert np.array_equal(detect_sink(flwdir_path), loop_cells_by_pointer_doubling(flwdir).astype(np.int32))
    # The independent computation itself finds the crafted loops.
    expected = np.zeros((5, 5), dtype=bool)
    expected[CRAFTED_LOOP_CELLS] = True
    assert np.array_equal(loop_cells_by_pointer_doubling(crafted_flwdir()), expected)
