"""How smash 1.3 reads rasters onto a bare grid (a mesh of `xres, yres, xmin, ymax, nrow, ncol` only, no
flow directions): crafted GeoTIFFs of random values at several resolutions and offsets, read as
descriptors and as precipitation, with the warnings smash gives and the values it then holds.

    /opt/anchor/bin/python tools/anchor_refs/make_bare_grid.py --data /work/shared/datasets

Writes `bare_grid/raster_cases.npz` (the crafted rasters, the mesh, and per case the values read and the
warnings) and `bare_grid/bare_mesh.json` (the mesh attributes of a bare-grid model of Cance and of the
descriptor / forcing values it reads compared with the full Cance mesh).
"""

import argparse
import json
import os
import tempfile
import warnings

import numpy as np
import rasterio
from rasterio.transform import Affine

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

# The bare mesh: 6 x 5 cells of 1000 m, top-left corner at (3000, 95000).
MESH = {"xres": 1000.0, "yres": 1000.0, "xmin": 3000.0, "ymax": 95000.0, "nrow": 6, "ncol": 5, "npar": 0, "ng": 0}
EPSG = 2154

# (name, xres, yres, x0, y0, width, height) of each crafted raster (top-left corner at (x0, y0)).
CASES = [
    ("aligned", 1000, 1000, 0, 100000, 12, 12),
    ("partly_out_east", 1000, 1000, 5000, 97000, 2, 10),
    ("partly_out_north", 1000, 1000, 0, 93000, 12, 12),
    ("wholly_out", 1000, 1000, 50000, 100000, 4, 4),
    ("finer_500", 500, 500, 0, 100000, 24, 24),
    ("finer_250", 250, 250, 2000, 96000, 24, 40),
    ("coarser_2000", 2000, 2000, 0, 100000, 6, 6),
    ("coarser_3000", 3000, 3000, 0, 102000, 4, 4),
    ("shift_300", 1000, 1000, 300, 100000, 12, 12),
    ("shift_500_y", 1000, 1000, 0, 100500, 12, 12),
    ("finer_shift_250", 500, 500, 250, 100250, 24, 24),
    ("ratio_700", 700, 700, 0, 100000, 20, 20),
    ("rect_500_2000", 500, 2000, 0, 100000, 24, 6),
    ("finer_500_partly_out", 500, 500, 5000, 97000, 6, 30),
    ("coarser_2000_partly_out", 2000, 2000, 4000, 93000, 6, 6),
    ("ratio_700_partly_out", 700, 700, 4600, 100000, 20, 8),
    ("finer_500_shift_partly_out", 500, 500, 5250, 93250, 6, 30),
]


def write_raster(path, values, xres, yres, x0, y0, nodata=-99.0):
    profile = dict(driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype="float32",
                   crs=f"EPSG:{EPSG}", transform=Affine(xres, 0, x0, 0, -yres, y0), nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(np.float32), 1)


def build(setup, mesh):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = smash.Model(setup, mesh)
            error = ""
        except Exception as err:  # noqa: BLE001 - we record what smash does
            model, error = None, f"{type(err).__name__}: {err}"
    messages = [f"{w.category.__name__}: {w.message}" for w in caught if "Reading" not in str(w.message)]
    return model, messages, error


def base_setup(**kw):
    setup = {"hydrological_module": "gr4", "routing_module": "lr", "dt": 86400,
             "start_time": "2020-01-01", "end_time": "2020-01-04", "adjust_interception": False}
    setup.update(kw)
    return setup


def raster_cases(tmp):
    rng = np.random.default_rng(20240601)
    out = {"mesh_json": np.array(json.dumps(MESH)), "epsg": np.array(EPSG),
           "case_names": np.array([c[0] for c in CASES])}
    for name, xres, yres, x0, y0, width, height in CASES:
        values = rng.uniform(1.0, 100.0, size=(height, width)).astype(np.float32)
        values[rng.random(size=values.shape) < 0.05] = -99.0  # a few nodata cells
        folder = os.path.join(tmp, name)
        os.makedirs(folder)
        write_raster(os.path.join(folder, "desc.tif"), values, xres, yres, x0, y0)
        setup = base_setup(read_descriptor=True, descriptor_directory=folder, descriptor_name=["desc"])
        model, messages, error = build(setup, dict(MESH))
        out[f"{name}__raster"] = values
        out[f"{name}__geometry"] = np.array([xres, yres, x0, y0], dtype=np.float64)
        out[f"{name}__warnings"] = np.array(json.dumps(messages))
        out[f"{name}__error"] = np.array(error)
        if model is not None:
            out[f"{name}__descriptor"] = model.physio_data.descriptor[..., 0].copy()
        # The same raster as the daily precipitation of the 2nd and 3rd days (no file for the 1st step).
        prcp_dir = os.path.join(folder, "prcp")
        os.makedirs(prcp_dir)
        for day in ("20200103", "20200104"):
            write_raster(os.path.join(prcp_dir, f"prcp_{day}.tif"), values, xres, yres, x0, y0)
        setup = base_setup(read_prcp=True, prcp_directory=prcp_dir)
        model, messages, error = build(setup, dict(MESH))
        out[f"{name}__prcp_warnings"] = np.array(json.dumps(messages))
        out[f"{name}__prcp_error"] = np.array(error)
        if model is not None:
            out[f"{name}__prcp"] = model.atmos_data.prcp.copy()
    # Missing files: a descriptor named but absent, a prcp folder without any file of the period.
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    for label, setup in (
        ("missing_descriptor", base_setup(read_descriptor=True, descriptor_directory=os.path.join(tmp, "aligned"),
                                          descriptor_name=["desc", "absent"])),
        ("missing_prcp_all", base_setup(read_prcp=True, prcp_directory=empty)),
        ("missing_pet_all", base_setup(read_pet=True, pet_directory=empty)),
        ("missing_pet_interannual", base_setup(read_pet=True, pet_directory=empty, daily_interannual_pet=True)),
    ):
        model, messages, error = build(setup, dict(MESH))
        out[f"{label}__warnings"] = np.array(json.dumps(messages))
        out[f"{label}__error"] = np.array(error)
        if model is not None:
            out[f"{label}__descriptor"] = model.physio_data.descriptor.copy()
            out[f"{label}__prcp"] = model.atmos_data.prcp.copy()
            out[f"{label}__pet"] = model.atmos_data.pet.copy()
    return out


def full_mesh_cases(data):
    """Missing and invalid inputs on the full Cance mesh: what smash warns or raises."""
    folder = os.path.join(data, "Cance")
    mesh = smash.io.read_mesh(os.path.join(folder, "mesh_Cance.hdf5"))
    base = {"hydrological_module": "gr4", "routing_module": "lr", "dt": 3600,
            "start_time": "2014-10-01 00:00", "end_time": "2014-10-02 00:00"}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        # slope with missing values on some active cells, and a copy holding only missing values.
        with rasterio.open(os.path.join(folder, "descriptor", "slope.tif")) as src:
            profile, slope = src.profile, src.read(1)
        # The descriptor rasters start 7 cells north-west of the Cance mesh: nodata on 5 active cells.
        holes = slope.copy()
        for row, col in np.argwhere(np.asarray(mesh["active_cell"]) == 1)[:5]:
            holes[row + 7, col + 7] = -99.0
        for name, values in (("slope_holes", holes), ("slope_empty", np.full_like(slope, -99.0))):
            with rasterio.open(os.path.join(tmp, f"{name}.tif"), "w", **dict(profile, nodata=-99.0)) as dst:
                dst.write(values, 1)
        cases = {
            "descriptor_file_absent": dict(read_descriptor=True,
                                           descriptor_directory=os.path.join(folder, "descriptor"),
                                           descriptor_name=["slope", "absent"]),
            "descriptor_holes_on_active": dict(read_descriptor=True, descriptor_directory=tmp,
                                               descriptor_name=["slope_holes"]),
            "descriptor_only_missing": dict(read_descriptor=True, descriptor_directory=tmp,
                                            descriptor_name=["slope_empty"]),
            "prcp_directory_absent": dict(read_prcp=True, prcp_directory=os.path.join(tmp, "nowhere")),
            "prcp_no_file_in_period": dict(read_prcp=True, prcp_directory=tmp),
            "qobs_no_file": dict(read_qobs=True, qobs_directory=tmp),
        }
        for label, extra in cases.items():
            model, messages, error = build(dict(base, **extra), dict(mesh))
            rec = {"warnings": messages, "error": error}
            if model is not None and extra.get("read_descriptor"):
                rec["descriptor_unique_last"] = np.unique(model.physio_data.descriptor[..., -1])[:4].tolist()
            if model is not None and extra.get("read_qobs"):
                rec["qobs_unique"] = np.unique(model.response_data.q).tolist()
            out[label] = rec
    return out


def public_attributes(obj):
    rec = {}
    for key in sorted(k for k in dir(obj) if not k.startswith("_")):
        value = getattr(obj, key)
        if callable(value):
            continue
        if isinstance(value, np.ndarray):
            rec[key] = {"dtype": str(value.dtype), "shape": list(value.shape),
                        "unique": np.unique(value)[:8].tolist()}
        else:
            rec[key] = value.item() if hasattr(value, "item") else value
    return rec


def bare_mesh(data):
    """A bare grid of Cance's extent next to the full Cance mesh: mesh attributes and values read."""
    folder = os.path.join(data, "Cance")
    setup = {"hydrological_module": "gr4", "routing_module": "lr", "dt": 3600,
             "start_time": "2014-10-01 00:00", "end_time": "2014-10-04 00:00",
             "read_prcp": True, "prcp_directory": os.path.join(folder, "prcp"), "prcp_conversion_factor": 0.1,
             "read_pet": True, "pet_directory": os.path.join(folder, "pet"), "daily_interannual_pet": True,
             "read_descriptor": True, "descriptor_directory": os.path.join(folder, "descriptor"),
             "descriptor_name": ["slope", "dd"]}
    full = smash.io.read_mesh(os.path.join(folder, "mesh_Cance.hdf5"))
    grid = {k: full[k] for k in ("xres", "yres", "xmin", "ymax", "nrow", "ncol")}
    grid.update(npar=0, ng=0)
    bare, messages, error = build(setup, grid)
    whole, _, _ = build(setup, full)
    active = full["active_cell"].astype(bool)
    rec = {"setup": setup, "grid": {k: float(v) for k, v in grid.items()}, "warnings": messages, "error": error,
           "mesh": public_attributes(bare.mesh), "setup_attributes": public_attributes(bare.setup)}
    rec["prcp_equal_full_on_active"] = bool(np.array_equal(bare.atmos_data.prcp[active], whole.atmos_data.prcp[active]))
    rec["prcp_sum_inactive_bare"] = float(bare.atmos_data.prcp[~active].sum(dtype=np.float64))
    rec["prcp_unique_inactive_full"] = np.unique(whole.atmos_data.prcp[~active])[:5].tolist()
    rec["pet_equal_full_on_active"] = bool(np.array_equal(bare.atmos_data.pet[active], whole.atmos_data.pet[active]))
    rec["descriptor_equal_full"] = bool(np.array_equal(bare.physio_data.descriptor, whole.physio_data.descriptor))
    rec["ci_equal_full_on_active"] = bool(np.array_equal(bare.get_rr_parameters("ci")[active],
                                                         whole.get_rr_parameters("ci")[active]))
    rec["ci_unique_bare_inactive"] = np.unique(bare.get_rr_parameters("ci")[~active])[:5].tolist()
    rec["ci_unique_full_inactive"] = np.unique(whole.get_rr_parameters("ci")[~active])[:5].tolist()
    rec["mean_prcp_shape"] = list(bare.atmos_data.mean_prcp.shape)
    rec["response_q_shape"] = list(bare.response.q.shape)
    rec["l_descriptor"] = bare.physio_data.l_descriptor.tolist()
    rec["u_descriptor"] = bare.physio_data.u_descriptor.tolist()
    arrays = {"prcp_bare": bare.atmos_data.prcp.copy(), "pet_bare": bare.atmos_data.pet.copy(),
              "ci_bare": bare.get_rr_parameters("ci").copy(), "descriptor_bare": bare.physio_data.descriptor.copy(),
              "active_cell_full": np.array(full["active_cell"]), "setup_json": np.array(json.dumps(setup))}
    return rec, arrays


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="datasets folder (Cance)")
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()
    folder = os.path.join(args.out, "bare_grid")
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez_compressed(os.path.join(folder, "raster_cases.npz"), **raster_cases(tmp))
    rec, arrays = bare_mesh(args.data)
    rec["full_mesh_cases"] = full_mesh_cases(args.data)
    with open(os.path.join(folder, "bare_mesh.json"), "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
    np.savez_compressed(os.path.join(folder, "bare_mesh_Cance.npz"), **arrays)


if __name__ == "__main__":
    main()
