"""How smash 1.3's `smash.io.read_grid_parameters` reads parameter GeoTIFFs that are not the model's
own: another resolution, partly outside the mesh, nodata cells, values outside the domain where the
parameter or state is defined; measured as a black box on Lez (gr4-lr).

    /opt/anchor/bin/python tools/anchor_refs/make_grid_parameters.py --data /work/shared/datasets

Writes `Lez/grid_parameters.npz`: per case `<case>__raster` (float64 values written), `<case>__geometry`
(xres, x0, y0, nodata; square cells, nodata NaN = none), `<case>__key`, `<case>__read` (the map read),
`<case>__warnings` (JSON list) and `<case>__error`; `before` holds the value each map had before
reading (set with set_rr_parameters / set_rr_initial_states).
"""

import argparse
import json
import os
import tempfile
import warnings

import numpy as np
import rasterio
import yaml
from rasterio.transform import Affine

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

BEFORE = {"cp": 321.0, "kexc": 1.5, "llr": 7.0, "hp": 0.3}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="datasets folder (Lez)")
    parser.add_argument("--out", default=ANCHOR_REFS)
    args = parser.parse_args()
    with open(os.path.join(args.data, "Lez", "setup_Lez.yaml")) as f:
        setup = yaml.safe_load(f)
    for kind in ("qobs", "prcp", "pet"):
        setup[f"{kind}_directory"] = os.path.join(args.data, "Lez", kind)
    setup.update(end_time="2012-08-05", read_descriptor=False)
    mesh = smash.io.read_mesh(os.path.join(args.data, "Lez", "mesh_Lez.hdf5"))
    model = smash.Model(setup, mesh)
    x0, y0 = float(mesh["xmin"]), float(mesh["ymax"])
    rng = np.random.default_rng(7)

    def uniform(shape):
        return rng.uniform(100.0, 900.0, shape)

    nodata_map = uniform((27, 14))
    nodata_map[rng.random((27, 14)) < 0.1] = -99.0
    cases = {
        # name: (key, values, xres, x0, y0, nodata)
        "finer_500": ("cp", uniform((54, 28)), 500.0, x0, y0, -99.0),
        "coarser_3000_shifted": ("cp", uniform((10, 6)), 3000.0, x0 - 1500.0, y0 + 1000.0, -99.0),
        "partly_out": ("cp", uniform((10, 14)), 1000.0, x0, y0, -99.0),
        "nodata_cells": ("cp", nodata_map, 1000.0, x0, y0, -99.0),
        "cp_negative": ("cp", np.full((27, 14), -5.0), 1000.0, x0, y0, -99.0),
        "cp_zero": ("cp", np.full((27, 14), 0.0), 1000.0, x0, y0, -99.0),
        "cp_above_bounds": ("cp", np.full((27, 14), 5000.0), 1000.0, x0, y0, -99.0),
        "kexc_negative": ("kexc", np.full((27, 14), -3.0), 1000.0, x0, y0, -99.0),
        "kexc_minus99_no_nodata": ("kexc", np.full((27, 14), -99.0), 1000.0, x0, y0, None),
        "llr_minus99_other_nodata": ("llr", np.full((27, 14), -99.0), 1000.0, x0, y0, -9999.0),
        "hp_above_one": ("hp", np.full((27, 14), 1.5), 1000.0, x0, y0, -99.0),
        "hp_nodata": ("hp", np.full((27, 14), -99.0), 1000.0, x0, y0, -99.0),
    }
    out = {"case_names": np.array(list(cases)), "before_json": np.array(json.dumps(BEFORE)),
           "active_cell": np.array(mesh["active_cell"])}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (key, values, xres, left, top, nodata) in cases.items():
            folder = os.path.join(tmp, name)
            os.makedirs(folder)
            profile = dict(driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype="float64",
                           crs="EPSG:2154", transform=Affine(xres, 0, left, 0, -xres, top), nodata=nodata)
            with rasterio.open(os.path.join(folder, f"{key}.tif"), "w", **profile) as dst:
                dst.write(values, 1)
            copy = model.copy()
            for k, v in BEFORE.items():
                (copy.set_rr_parameters if k in copy.rr_parameters.keys else copy.set_rr_initial_states)(k, v)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    smash.io.read_grid_parameters(copy, folder, [key])
                    error = ""
                except Exception as err:  # noqa: BLE001 - we record what smash does
                    error = f"{type(err).__name__}: {err}"
            get = copy.get_rr_parameters if key in copy.rr_parameters.keys else copy.get_rr_initial_states
            out[f"{name}__key"] = np.array(key)
            out[f"{name}__raster"] = values
            out[f"{name}__geometry"] = np.array([xres, left, top, np.nan if nodata is None else nodata])
            out[f"{name}__read"] = get(key).copy()
            out[f"{name}__error"] = np.array(error)
            out[f"{name}__warnings"] = np.array(json.dumps([str(w.message) for w in caught
                                                            if "matmul" not in str(w.message)]))
    np.savez_compressed(os.path.join(args.out, "Lez", "grid_parameters.npz"), **out)


if __name__ == "__main__":
    main()
