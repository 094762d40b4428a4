"""Parameter (and initial state) maps of a model as GeoTIFFs, one `<name>.tif` per map in a folder.

Written as float64 on the whole grid (inactive cells too), georeferenced like the mesh, so a
round trip is exact; read back as smash 1.3 reads them (see `read_grid_parameters`), through the
model's setters.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from smash.atomic import atomic_write
from smash.inputs.raster import ReadReport, read_raster_values, write_mesh_raster
from smash.registry import feasible_mask, parameter_default, state_default


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


def _model_tags(model) -> dict:
    """The model's description smash 1.3 writes as tags of its parameter GeoTIFFs."""
    s = model.setup
    return {"structure": s.structure, "snow_module": s.snow_module, "hydrological_module": s.hydrological_module,
            "routing_module": s.routing_module, "dt": s.dt, "start_time": s.start_time, "end_time": s.end_time,
            "epsg": model.mesh.epsg if "epsg" in model.mesh.__dict__ else ""}


def save_grid_parameters(model, path, parameters=None, save_active_cell=False) -> None:
    """Write parameter and state maps as GeoTIFF files, one per map.

    Each file is written atomically (`smash.atomic`): an interrupted call leaves every map
    either as it was or wholly new, never a damaged one.

    Parameters
    ----------
    model : Model
        The model whose maps are written, on its mesh's grid and projection.
    path : str or os.PathLike
        The folder (created if needed); each map goes to ``<path>/<name>.tif`` (float64).
    parameters : list of str, optional
        The parameters and initial states to write; every rainfall-runoff parameter when not given.
    save_active_cell : bool, default False
        Also write ``<path>/active_cell.tif`` (uint8, 1 on active cells).
    """
    names = _names(model, parameters)
    os.makedirs(path, exist_ok=True)
    mesh = _mesh(model)
    for name in names:
        is_parameter = name in model.rr_parameters.keys
        grid = model.get_rr_parameters(name) if is_parameter else model.get_rr_initial_states(name)
        tags = {"name": name, "kind": "rr_parameters" if is_parameter else "rr_initial_states",
                **_model_tags(model)}
        with atomic_write(os.path.join(path, f"{name}.tif"), "parameter map") as partial:
            write_mesh_raster(partial, grid.astype(np.float64), mesh, tags)
    if save_active_cell:
        active = np.asarray(model.mesh.active_cell).astype(np.uint8)
        with atomic_write(os.path.join(path, "active_cell.tif"), "active cell map") as partial:
            write_mesh_raster(partial, active, mesh, {"name": "active_cell"})


def read_grid_parameters(model, path, parameters=None) -> None:
    """Set the model's parameter and state maps from GeoTIFF files, one per map.

    Every file is read and checked before any map changes.

    As smash 1.3 reads them: a raster of another resolution or grid gives each mesh cell the value of
    the raster cell holding its centre (`smash.inputs.raster.axis_indices_by_centre`; the input
    readers place rasters otherwise, as smash does), and cells outside the raster, nodata
    cells and values outside the domain where the parameter or state is defined (cp <= 0, hp > 1,
    NaN, ...) take the parameter's or state's default value. Unlike smash 1.3 (which warns only of
    a raster partly outside the mesh and keeps NaN), each such case gives a UserWarning saying how
    many cells took the default.

    Parameters
    ----------
    model : Model
        The model whose maps are set (in place).
    path : str or os.PathLike
        The folder holding ``<name>.tif`` for each map, as `save_grid_parameters` writes them.
    parameters : list of str, optional
        The parameters and initial states to read; every rainfall-runoff parameter when not given.

    Raises
    ------
    FileNotFoundError
        When the folder or the file of a requested map does not exist.
    """
    names = _names(model, parameters)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Parameter folder not found: {path}")
    mesh = _mesh(model)
    grids = {}
    for name in names:
        file = os.path.join(path, f"{name}.tif")
        if not os.path.isfile(file):
            raise FileNotFoundError(f"No map for {name!r}: file {file} not found")
        grids[name] = _read_map(model, name, file, mesh)
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


def _read_map(model, name: str, file, mesh: dict) -> np.ndarray:
    """The (nrow, ncol) map of `file`, the default value where it holds no usable value."""
    report = ReadReport(f"{file}")
    values, valid = read_raster_values(file, mesh, report, by_centre=True)
    usable = valid & feasible_mask(name, np.where(valid, values, np.nan))
    is_parameter = name in model.rr_parameters.keys
    default = parameter_default(name, model.setup.dt) if is_parameter else state_default(name)
    report.warn(stacklevel=4)
    filled = int((~usable).sum())
    if filled:
        warnings.warn(f"{file}: {filled} of {usable.size} cells hold no usable {name} (outside the raster, nodata "
                      f"or outside its domain) and take its default value {default:g}", UserWarning, stacklevel=4)
    return np.where(usable, values, default)
