"""Parameter (and initial state) maps of a model as GeoTIFFs, one `<name>.tif` per map in a folder.

Written as float64 on the whole grid (inactive cells too), georeferenced like the mesh, so a
round trip is exact; read back through the model's setters, which check the bounds.
"""

from __future__ import annotations

import os

import numpy as np

from smash.inputs.raster import read_mesh_raster, write_mesh_raster


def _names(model, parameters) -> list[str]:
    """The maps asked for: rr parameters by default, any rr parameter or rr initial state by name."""
    if parameters is None:
        return model.rr_parameters.keys.tolist()
    names = [parameters] if isinstance(parameters, str) else list(parameters)
    valid = model.rr_parameters.keys.tolist() + model.rr_initial_states.keys.tolist()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for the structure {model.setup.structure}; "
                         f"choose among {valid}")
    return names


def _mesh(model) -> dict:
    return {k: v for k, v in model.mesh.__dict__.items() if k[0] != "_"}


def save_grid_parameters(model, path, parameters=None, save_active_cell=False) -> None:
    """Write `<path>/<name>.tif` for each map (all rr parameters by default) and, with
    `save_active_cell`, `<path>/active_cell.tif` (uint8, 1 on active cells)."""
    names = _names(model, parameters)
    os.makedirs(path, exist_ok=True)
    mesh = _mesh(model)
    for name in names:
        is_parameter = name in model.rr_parameters.keys
        grid = model.get_rr_parameters(name) if is_parameter else model.get_rr_initial_states(name)
        tags = {"name": name, "kind": "rr_parameters" if is_parameter else "rr_initial_states",
                "structure": model.setup.structure}
        write_mesh_raster(os.path.join(path, f"{name}.tif"), grid.astype(np.float64), mesh, tags)
    if save_active_cell:
        active = np.asarray(model.mesh.active_cell).astype(np.uint8)
        write_mesh_raster(os.path.join(path, "active_cell.tif"), active, mesh, {"name": "active_cell"})


def read_grid_parameters(model, path, parameters=None) -> None:
    """Set the model's maps from `<path>/<name>.tif` (all rr parameters by default). Every file is
    read and checked before any map changes."""
    names = _names(model, parameters)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Parameter folder not found: {path}")
    mesh = _mesh(model)
    grids = {}
    for name in names:
        file = os.path.join(path, f"{name}.tif")
        if not os.path.isfile(file):
            raise FileNotFoundError(f"No map for {name!r}: file {file} not found")
        grids[name] = read_mesh_raster(file, mesh)
    previous = {"p": model.rr_parameters.values.copy(), "s": model.rr_initial_states.values.copy()}
    try:
        for name, grid in grids.items():
            if name in model.rr_parameters.keys:
                model.set_rr_parameters(name, grid)
            else:
                model.set_rr_initial_states(name, grid)
    except ValueError as err:
        model.rr_parameters.values[...] = previous["p"]
        model.rr_initial_states.values[...] = previous["s"]
        raise ValueError(f"{path}: {err}") from None
