"""Small builders shared by tests (meshes made by hand, no files)."""

import functools
import importlib.util
from pathlib import Path

import numpy as np

from smash import _testing

TESTS_ROOT = Path(__file__).resolve().parent
REPO_ROOT = TESTS_ROOT.parent
# Numbers measured from smash 1.3 run as a black box (tools/anchor_refs/ made them).
ANCHOR_REFS = TESTS_ROOT / "anchor_refs"


def line_mesh(ncell=4, dx=1000.0):
    """A 1-row mesh draining east into a gauge on the last cell."""
    flwdir = np.full((1, ncell), 3, dtype=np.float32)
    return {
        "nrow": 1, "ncol": ncell, "xmin": 0.0, "ymax": 1000.0, "xres": dx, "yres": dx,
        "flwdir": flwdir,
        "active_cell": np.ones((1, ncell), dtype=np.int32),
        "dx": np.full((1, ncell), dx, dtype=np.float32),
        "dy": np.full((1, ncell), dx, dtype=np.float32),
        "flwdst": np.arange(ncell - 1, -1, -1, dtype=np.float32)[None, :] * dx,
        "flwacc": (np.arange(1, ncell + 1, dtype=np.float32) * dx * dx)[None, :],
        "gauge_pos": np.array([[0, ncell - 1]], dtype=np.int32),
        "code": np.array(["G0"]),
        "area": np.array([ncell * dx * dx], dtype=np.float32),
    }


def daily_setup(ndays=30, **extra):
    setup = {"start_time": "2020-01-01", "end_time": f"2020-01-{1 + ndays:02d}" if ndays < 31 else "2020-03-01",
             "dt": 86400}
    setup.update(extra)
    return setup


def line_model(ndays=30, ncell=4, seed=0):
    """A Model on line_mesh with gamma rain, 2 mm/day of PET and no observations."""
    import smash

    model = smash.Model(daily_setup(ndays), line_mesh(ncell))
    rng = np.random.default_rng(seed)
    model.atmos_data.prcp = rng.gamma(0.5, 8.0, size=(1, ncell, ndays)).astype(np.float32)
    model.atmos_data.pet = np.full((1, ncell, ndays), 2.0, dtype=np.float32)
    return model


def core_output(model):
    """The core's output record for a run of `model` without saved series."""
    return _testing.new_output(model)


def core_gradient(model, fcost):
    """(cost, gradient, output) of the core parameters as they stand (no sync from the maps),
    through the generated adjoint."""
    fo = core_output(model)
    grad = _testing.new_core_parameters(model)
    cost = _testing.run_adjoint(model, fcost, fo, grad)
    return cost, grad, fo


@functools.cache
def snow_inputs_writer():
    """tools/anchor_refs/snow_imperviousness_inputs.py as a module: the synthetic temperature, snow and
    imperviousness rasters the smash 1.3 references were made on (shared by the tests that rebuild them)."""
    path = REPO_ROOT / "tools" / "anchor_refs" / "snow_imperviousness_inputs.py"
    spec = importlib.util.spec_from_file_location("snow_imperviousness_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
