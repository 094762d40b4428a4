"""A model as an xarray Dataset following the CF conventions (`Model.to_xarray`)."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from smash.interop.grid import cell_centres, epsg_of, grid_mapping_attributes
from smash.interop.series import GAUGE_SERIES, available_series, end_times, gauge_codes, gauge_series
from smash.optional import require

NOT_RUN = -99.0


def _gauge_coordinates(model, x: np.ndarray, y: np.ndarray) -> dict:
    mesh = model.mesh
    pos = np.asarray(mesh.gauge_pos, dtype=int).reshape(-1, 2)
    coords = {
        "gauge_x": ("gauge", x[pos[:, 1]], {"long_name": "x of the centre of the gauge's cell", "units": "m"}),
        "gauge_y": ("gauge", y[pos[:, 0]], {"long_name": "y of the centre of the gauge's cell", "units": "m"}),
    }
    for key, text in (("area", "drainage area given for the gauge"),
                      ("area_dln", "drainage area delineated on the flow directions")):
        values = getattr(mesh, key, None)
        if values is not None and np.size(values) == pos.shape[0]:
            coords[key] = ("gauge", np.asarray(values, dtype=np.float64), {"long_name": text, "units": "m2"})
    return coords


def _maps(model, active: np.ndarray) -> dict:
    """{name: (values, attrs)} of the parameter, state and descriptor maps, NaN off the active cells
    (descriptors: NaN where missing); final states only once the model has run."""
    maps = {}
    groups = [("rr_parameters", model.rr_parameters, "{}", "rr parameter {}"),
              ("rr_initial_states", model.rr_initial_states, "{}_initial", "initial rr state {}")]
    final = model.rr_final_states
    if final.values.size and not np.all(final.values == NOT_RUN):
        groups.append(("rr_final_states", final, "{}_final", "final rr state {}"))
    for group, named, pattern, text in groups:
        for i, key in enumerate(named.keys.tolist()):
            values = np.where(active, named.values[..., i], np.nan)
            maps[pattern.format(key)] = (values, {"long_name": text.format(key), "smash_group": group})
    physio = model.physio_data
    for i, name in enumerate(physio.names):
        values = np.asarray(physio.descriptor[..., i], dtype=np.float32)
        values = np.where((values < -98) | ~np.isfinite(values), np.nan, values)
        maps[name] = (values, {"long_name": f"physiographic descriptor {name}", "smash_group": "descriptor"})
    return maps


def _checked_names(maps: dict, series: list[str]) -> None:
    taken = {"time", "time_bnds", "gauge", "x", "y", "crs", "active_cell", "gauge_x", "gauge_y", "area",
             "area_dln", *series}
    clashes = sorted(taken & set(maps))
    if clashes:
        raise ValueError(f"Cannot build the Dataset: the map name(s) {clashes} clash with other variables of "
                         "the Dataset (a descriptor named as a parameter or a series?); rename the descriptor")


def _output_variables(model, outputs, active: np.ndarray) -> tuple[dict, dict]:
    """({name: (dims, values, attrs)}, {time_step coordinate}) of the saved series of a ForwardRun,
    Optimize or BackwardRun: `q_domain`, `rr_state_<name>`, `flux_<name>` (time_step, y, x), NaN off
    the active cells."""
    saved = [key for key in ("q_domain", "rr_states", "internal_fluxes") if getattr(outputs, key, None) is not None]
    if not saved:
        raise ValueError(f"{type(outputs).__name__} holds no saved series (q_domain, rr_states, internal_fluxes): "
                         "ask for them with return_options, e.g. {'q_domain': True, 'time_step': 'all'}")
    steps = np.asarray(outputs.time_step, dtype="datetime64[ns]")
    coords = {"time_step": ("time_step", steps, {"long_name": "end of the saved time step"})}
    dims = ("time_step", "y", "x")

    def stack(grid):  # (nrow, ncol, n) -> (n, nrow, ncol), NaN off the mesh
        values = np.moveaxis(np.asarray(grid), -1, 0)
        return np.where(active[None], values, np.nan).astype(values.dtype)

    variables = {}
    if "q_domain" in saved:
        variables["q_domain"] = (dims, stack(outputs.q_domain), {
            "units": "m3 s-1", "long_name": "simulated discharge at the outlet of each cell",
            "standard_name": "water_volume_transport_in_river_channel"})
    if "rr_states" in saved:
        keys = outputs.rr_states[0].keys.tolist() if outputs.rr_states else []
        for i, key in enumerate(keys):
            grid = np.stack([states.values[..., i] for states in outputs.rr_states], axis=-1)
            variables[f"rr_state_{key}"] = (dims, stack(grid), {"long_name": f"rr state {key} at the step's end"})
    if "internal_fluxes" in saved:
        units = {name: unit for _, name, unit in model.structure.flux_records}
        for name, grid in outputs.internal_fluxes.items():
            variables[f"flux_{name}"] = (dims, stack(grid), {"long_name": f"internal flux {name} over the step",
                                                             "units": units.get(name, "").replace("m3/s", "m3 s-1")})
    return variables, coords


def _global_attributes(setup) -> dict:
    """The Dataset's CF global attributes: conventions, version, structure and period."""
    import smash

    attrs = {
        "Conventions": "CF-1.8",
        "title": f"smash model {setup.structure}",
        "source": f"smash {smash.__version__}",
        "smash_version": str(smash.__version__),
        "structure": str(setup.structure),
        "dt": float(setup.dt),
        "start_time": str(setup.start_time),
        "end_time": str(setup.end_time),
        "history": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} written by smash Model.to_xarray",
    }
    return attrs


def model_dataset(model, outputs=None):
    """The model's gauge series and maps as an xarray Dataset (CF-1.8). See `Model.to_xarray`."""
    xr = require("xarray", "Model.to_xarray", "netcdf")
    mesh, setup = model.mesh, model.setup
    x, y = cell_centres(mesh)
    active = np.asarray(mesh.active_cell) == 1
    epsg = epsg_of(mesh)
    times = end_times(model)
    starts = times - np.timedelta64(int(setup.dt), "s")

    coords = {
        "time": ("time", times, {"standard_name": "time", "long_name": "end of the time step",
                                 "bounds": "time_bnds"}),
        "x": ("x", x, {"standard_name": "projection_x_coordinate", "long_name": "x of the cell centre",
                       "units": "m", "axis": "X"}),
        "y": ("y", y, {"standard_name": "projection_y_coordinate", "long_name": "y of the cell centre",
                       "units": "m", "axis": "Y"}),
    }
    data_vars = {"time_bnds": (("time", "nv"), np.stack([starts, times], axis=1), {})}
    series = []
    if int(mesh.ng) > 0:
        coords["gauge"] = ("gauge", np.array(gauge_codes(model), dtype=object),
                           {"long_name": "gauge code", "cf_role": "timeseries_id"})
        coords.update(_gauge_coordinates(model, x, y))
        for name in available_series(model):
            units, long_name, standard_name = GAUGE_SERIES[name]
            attrs = {"units": units, "long_name": long_name, "coordinates": "gauge_x gauge_y"}
            if standard_name:
                attrs["standard_name"] = standard_name
            data_vars[name] = (("gauge", "time"), gauge_series(model, name), attrs)
            series.append(name)

    maps = _maps(model, active)
    _checked_names(maps, series)
    grid_attrs = {"grid_mapping": "crs"} if epsg else {}
    data_vars["active_cell"] = (("y", "x"), active.astype(np.int8),
                                {"long_name": "cell drained by the mesh's network (1) or not (0)", **grid_attrs})
    for name, (values, attrs) in maps.items():
        data_vars[name] = (("y", "x"), values, {**attrs, **grid_attrs})
    if outputs is not None:
        variables, step_coords = _output_variables(model, outputs, active)
        _checked_names(variables, list(data_vars))
        coords.update(step_coords)
        for name, (dims, values, attrs) in variables.items():
            data_vars[name] = (dims, values, {**attrs, **grid_attrs})
    if epsg:
        data_vars["crs"] = ((), np.int32(0), grid_mapping_attributes(epsg))

    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=_global_attributes(setup))
