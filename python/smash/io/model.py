"""A whole Model in one HDF5 file (save_model / read_model) and a light export of its main data
for analysis (save_model_ddt / read_model_ddt). Layouts: docs/data.md."""

from __future__ import annotations

import h5py
import numpy as np
import yaml

from smash.atomic import atomic_write
from smash.io._hdf5 import open_saved, read_group, require, write_group
from smash.io.mesh import mesh_from_group, mesh_to_group
from smash.io.setup import setup_to_yaml
from smash.model import Model, _user_setup_of
from smash.simulation.containers import NamedMaps, PhysioData, Response
from smash.simulation.model_setup import normalize_setup, setup_attributes
from smash.stream.saved import streaming_from

MAPS = ("rr_parameters", "rr_initial_states", "rr_final_states")
# The structural error parameters of a Bayesian estimation (per gauge: (ng, n) values) and the
# observation uncertainty, kept as smash 1.3's save_model keeps them; files written before have none
# and read as a new model's defaults.
SERR_MAPS = ("serr_mu_parameters", "serr_sigma_parameters")
# A read model is built from the file alone: nothing read from data folders, no synthetic
# inputs drawn and no interception re-estimated (the saved ci is the one that was used).
FROM_FILE_ONLY = {"read_prcp": False, "read_pet": False, "read_snow": False, "read_temp": False,
                  "read_qobs": False, "read_descriptor": False, "synthetic": None, "adjust_interception": False,
                  # The saved forcings are already split, the saved imperviousness already read.
                  "prcp_partitioning": False, "read_imperviousness": False}
# The keys smash 1.3's save_model_ddt writes (descriptor_tfm when the setup has it); the structural
# error mappings and parameters of its Bayesian estimation are left out: this package has none.
DDT_SETUP_KEYS = ("snow_module", "hydrological_module", "routing_module", "start_time", "end_time", "dt",
                  "descriptor_name", "descriptor_tfm")
DDT_MESH_KEYS = ("xres", "yres", "xmin", "ymax", "dx", "dy", "active_cell", "gauge_pos", "code", "area")
NN_LAYERS = ("weight_1", "bias_1", "weight_2", "bias_2", "weight_3", "bias_3")


def _forcing_kinds(model) -> tuple[str, ...]:
    return ("prcp", "pet", "snow", "temp") if model.setup.snow_module != "zero" else ("prcp", "pet")


def _user_setup(model) -> dict:
    """The setup as the user gives it (the keys Model accepts), not the derived ones."""
    return _user_setup_of(model)


def _nn_parameters(model) -> dict:
    if not model.structure.is_hybrid:
        return {}
    layers = enumerate(zip(model.get_nn_parameters_weight(), model.get_nn_parameters_bias(), strict=True), 1)
    return {f"{kind}_{i}": arr for i, (w, b) in layers for kind, arr in (("weight", w), ("bias", b))}


def _maps(maps: NamedMaps) -> dict:
    return {"keys": maps.keys, "values": maps.values}


def save_model(model, path) -> None:
    """Write everything a Model holds (setup, mesh, forcings, observations, descriptors, parameters,
    initial and final states, simulated discharge, hybrid net, structural error parameters and
    observation uncertainty) to one HDF5 file.

    The file is written whole to a temporary file beside `path`, then renamed over it: an error or
    an interrupt during the write leaves an existing file at `path` unchanged (`smash.atomic`).

    Parameters
    ----------
    model : Model
        The model to save.
    path : str or os.PathLike
        The HDF5 file to write.
    """
    with atomic_write(path, "model file", lock=True) as partial, h5py.File(partial, "w") as f:
        f.attrs["_save_func"] = "save_model"
        f.create_group("setup").attrs["yaml"] = setup_to_yaml(_user_setup(model))
        mesh_to_group(f.create_group("mesh"), {k: v for k, v in model.mesh.__dict__.items() if k[0] != "_"})
        _write_forcings(f.create_group("atmos_data"), model)
        write_group(f.create_group("physio_data"), {"descriptor": model.physio_data.descriptor,
                                                    "descriptor_name": np.array(model.physio_data.names, dtype=str),
                                                    "imperviousness": model.physio_data.imperviousness})
        write_group(f.create_group("response_data"), {"q": model.response_data._observed()})
        write_group(f.create_group("response"), {"q": model.response.q})
        for name in MAPS:
            write_group(f.create_group(name), _maps(getattr(model, name)))
        write_group(f.create_group("nn_parameters"), _nn_parameters(model))
        for name in SERR_MAPS:
            write_group(f.create_group(name), _maps(getattr(model, name)))
        write_group(f.create_group("u_response_data"), {"q_stdev": model.u_response_data.q_stdev})


def _write_forcings(group, model) -> None:
    """The (nrow, ncol, ntime_step) forcing grids; streamed forcings read and written a block of steps at a
    time (the whole period is never in memory), the same values as held whole."""
    atmos = model.atmos_data
    if not atmos.streamed:
        write_group(group, {k: getattr(atmos, k) for k in _forcing_kinds(model)})
        return
    shape = (int(model.mesh.nrow), int(model.mesh.ncol), int(model.setup.ntime_step))
    # Chunks of whole grids over a few steps (about 4 MB), gzip as write_group's datasets.
    chunk_steps = max(1, min(shape[2], (1 << 20) // max(shape[0] * shape[1], 1)))
    for kind in _forcing_kinds(model):
        dataset = group.create_dataset(kind, shape=shape, dtype=np.float32, chunks=(*shape[:2], chunk_steps),
                                       compression="gzip")
        for t0, grid in atmos.blocks(kind):
            dataset[:, :, t0:t0 + grid.shape[2]] = grid


# What every model file holds: groups, and the members read from each.
MODEL_GROUPS = {"setup": ("yaml",), "mesh": ("nrow", "ncol", "xres", "yres", "xmin", "ymax", "flwdir", "dx", "dy"),
                "atmos_data": (), "physio_data": ("descriptor", "descriptor_name"),
                "response_data": ("q",), "response": ("q",), **{name: ("keys", "values") for name in MAPS},
                "nn_parameters": ()}


def _read_saved_model(f, path) -> tuple[dict, dict, dict]:
    """(setup, mesh, groups) of an open model file, every part checked present and readable."""
    require(f, MODEL_GROUPS, path, "model file (written by smash.io.save_model)")
    for name, members in MODEL_GROUPS.items():
        require(f[name], members, path, "model file")
    try:
        setup = yaml.safe_load(f["setup"].attrs["yaml"])
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: the saved setup (group 'setup', attribute 'yaml') cannot be read: {err}") from None
    if not isinstance(setup, dict):
        raise ValueError(f"{path}: the saved setup (group 'setup', attribute 'yaml') is not a mapping of keys")
    if isinstance(setup.get("hidden_neuron"), list):
        # YAML has no tuples; smash spells two hidden layers as a tuple.
        setup["hidden_neuron"] = tuple(setup["hidden_neuron"])
    mesh = mesh_from_group(f["mesh"])
    # The forcings are read once the model is built, and only when it holds them (not when it streams them).
    data = {name: read_group(f[name]) for name in MODEL_GROUPS if name not in ("setup", "mesh", "atmos_data")}
    data["atmos_data"] = list(f["atmos_data"].keys())
    for name in (*SERR_MAPS, "u_response_data"):
        if name in f:
            data[name] = read_group(f[name])
    return setup, mesh, data


def read_model(path):
    """Read a model saved by `save_model`, rebuilt without any data file.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file `save_model` wrote.

    Returns
    -------
    Model
        The model as it was saved (inputs, parameters, states, simulated discharge).

    Raises
    ------
    FileNotFoundError
        No file at `path`.
    ValueError
        The file is not a model file (another program's HDF5 file, another format), is truncated or
        damaged, or lacks a part of a model; the message names the file and the part.
    """
    with open_saved(path, "save_model") as f:
        setup, mesh, data = _read_saved_model(f, path)
    try:
        # A model whose forcings are streamed (its saved setup's forcing_storage) streams them from this file.
        with streaming_from(path):
            model = Model(dict(setup, **FROM_FILE_ONLY), mesh)
    except (ValueError, KeyError, TypeError) as err:
        raise type(err)(f"{path}: the saved setup and mesh do not make a model: {err}") from err
    # The setup as saved (read flags, folders, descriptor names), not the file-only one it was built with.
    model.setup.__dict__.update(setup_attributes(normalize_setup(setup)))
    try:
        _fill_model(model, data, path)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: {err}") from err
    return model


def _fill_model(model, data: dict, path) -> None:
    """Set the arrays read from a model file on the model built from its setup and mesh."""
    kinds = _forcing_kinds(model)
    absent = [k for k in kinds if k not in data["atmos_data"]]
    if absent:
        raise ValueError(f"group 'atmos_data' has no {absent} (the structure {model.setup.structure} needs {kinds})")
    if not model.atmos_data.streamed:
        with open_saved(path, "save_model") as f:
            for kind, grid in read_group(f["atmos_data"]).items():
                setattr(model.atmos_data, kind, grid)
    physio = data["physio_data"]
    # Files written before imperviousness was read have none: 0.
    model.physio_data = PhysioData(physio["descriptor"], [str(n) for n in physio["descriptor_name"]],
                                   physio.get("imperviousness"))
    model.response_data.q = data["response_data"]["q"]
    model.response = Response(data["response"]["q"])
    for name in MAPS:
        saved, maps = data[name], getattr(model, name)
        if saved["keys"].tolist() != maps.keys.tolist():
            raise ValueError(f"{name} keys {saved['keys'].tolist()} do not match the structure "
                             f"{model.setup.structure} ({maps.keys.tolist()})")
        values = np.array(saved["values"], dtype=np.float64)
        expected = (int(model.mesh.nrow), int(model.mesh.ncol), len(maps.keys))
        if values.shape != expected:
            raise ValueError(f"group {name!r}: values have shape {values.shape}, expected {expected}")
        setattr(model, name, NamedMaps(maps.keys, values))
    nn = data["nn_parameters"]
    if nn:
        n_layers = len(nn) // 2
        model.set_nn_parameters_weight([nn[f"weight_{i}"] for i in range(1, n_layers + 1)])
        model.set_nn_parameters_bias([nn[f"bias_{i}"] for i in range(1, n_layers + 1)])
    _fill_serr(model, data)


def _fill_serr(model, data: dict) -> None:
    """The structural error parameters and observation uncertainty of a model file (absent: the defaults)."""
    for name in SERR_MAPS:
        if name not in data:
            continue
        saved, maps = data[name], getattr(model, name)
        keys = [str(k) for k in saved.get("keys", [])]
        if keys != [str(k) for k in maps.keys]:
            mapping = model.setup.serr_mu_mapping if name == "serr_mu_parameters" else model.setup.serr_sigma_mapping
            raise ValueError(f"{name} keys {keys} do not match the saved mapping {mapping!r} ({list(maps.keys)})")
        values = np.array(saved.get("values"), dtype=np.float64)
        if values.shape != maps.values.shape:
            raise ValueError(f"group {name!r}: values have shape {values.shape}, expected {maps.values.shape} "
                             "(ng, number of parameters)")
        if not np.all(np.isfinite(values)) or (name == "serr_sigma_parameters" and np.any(values <= 0)):
            raise ValueError(f"group {name!r}: values must be finite (and positive for sigma's parameters)")
        maps.values[...] = values
    if "u_response_data" in data:
        if "q_stdev" not in data["u_response_data"]:
            raise ValueError("group 'u_response_data' has no 'q_stdev'")
        model.u_response_data.q_stdev = data["u_response_data"]["q_stdev"]


def save_model_ddt(model, path) -> None:
    """Write the main data of a model for analysis.

    The file holds a setup summary, the mesh geometry, gauge-mean forcings, observed and simulated
    discharge, descriptors, parameter and state maps and the hybrid net; it cannot be read back into a
    Model (use `save_model` for that).

    Parameters
    ----------
    model : Model
        The model whose data are written.
    path : str or os.PathLike
        The HDF5 file to write.
    """
    setup = {k: model.setup.__dict__[k] for k in DDT_SETUP_KEYS if k in model.setup.__dict__}
    mesh = {k: model.mesh.__dict__[k] for k in DDT_MESH_KEYS if k in model.mesh.__dict__}
    groups = {
        "setup": setup,
        "mesh": mesh,
        "atmos_data": {f"mean_{k}": getattr(model.atmos_data, f"mean_{k}") for k in _forcing_kinds(model)}
        if model.mesh.ng else {},
        "physio_data": {"descriptor": model.physio_data.descriptor},
        "response_data": {"q": model.response_data._observed()},
        "response": {"q": model.response.q},
        **{name: _maps(getattr(model, name)) for name in MAPS},
        # Every layer, empty ones included, as smash 1.3 writes them.
        "nn_parameters": {key: getattr(model.nn_parameters, key) for key in NN_LAYERS},
    }
    with atomic_write(path, "model ddt file", lock=True) as partial, h5py.File(partial, "w") as f:
        f.attrs["_save_func"] = "save_model_ddt"
        for name, values in groups.items():
            write_group(f.create_group(name), values)


def read_model_ddt(path) -> dict[str, dict]:
    """Read the data written by `save_model_ddt`.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file `save_model_ddt` wrote.

    Returns
    -------
    dict of dict
        One dict of numpy arrays and scalars per group (``setup``, ``mesh``, ``atmos_data``, ...).
    """
    with open_saved(path, "save_model_ddt") as f:
        return {name: read_group(group) for name, group in f.items()}
