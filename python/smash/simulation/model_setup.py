"""Validation and defaults of the user's setup dictionary."""

from __future__ import annotations

import datetime as _dt
import difflib
import os

import numpy as np

from smash.nn.hybrid import hidden_sizes
from smash.registry import Structure, module_names
from smash.time_axis import TIME_FORMAT, parse_time

DEFAULTS = {
    "snow_module": "zero",
    "hydrological_module": "gr4",
    "routing_module": "lr",
    "dt": 3600,
    "read_qobs": False,
    "qobs_directory": None,
    "read_prcp": False,
    "prcp_format": "tif",
    "prcp_conversion_factor": 1.0,
    "prcp_directory": None,
    "read_pet": False,
    "pet_format": "tif",
    "pet_conversion_factor": 1.0,
    "pet_directory": None,
    "daily_interannual_pet": False,
    "read_snow": False,
    "snow_format": "tif",
    "snow_conversion_factor": 1.0,
    "snow_directory": None,
    "read_temp": False,
    "temp_format": "tif",
    "temp_directory": None,
    "read_descriptor": False,
    "descriptor_name": [],
    "descriptor_directory": None,
    "descriptor_format": "tif",
    "descriptor_tfm": "standardize",
    "adjust_interception": True,
    "compute_mean_atmos": True,
    "sparse_storage": False,
    # Forcings held whole ("memory"), read from disk a window of steps at a time during each run
    # ("stream"), or chosen from the memory estimate ("auto"); smash.stream, docs/running.md.
    "forcing_storage": "auto",
    # Steps per streamed window (0: chosen by smash.stream.window_steps).
    "forcing_window": 0,
    # Bytes a gradient's adjoint tape may hold in memory, its oldest checkpoints spilling to a temporary
    # file beyond (0: half the memory available; smash.simulation.memory.plan_checkpoints).
    "adjoint_memory": 0,
    "hidden_neuron": 16,
    # Directory layout hints of smash 1.3 (e.g. "%Y/%m"): our readers always search the folder
    # recursively, which finds the same files; the hints are kept on the setup as given.
    "prcp_access": "",
    "pet_access": "",
    "snow_access": "",
    "temp_access": "",
    # Rain / snow split of prcp (+ snow) from temp (smash.inputs.partitioning).
    "prcp_partitioning": False,
    # The impervious share of each cell, one raster (smash names the path imperviousness_file).
    "read_imperviousness": False,
    "imperviousness_format": "tif",
    "imperviousness_file": None,
    # Structural error models of smash's Bayesian estimation (held on the setup, see SERR_PARAMETERS).
    "serr_mu_mapping": "Zero",
    "serr_sigma_mapping": "Linear",
    "synthetic": None,
}
REQUIRED = ("start_time", "end_time")
# How descriptors enter the regionalization mappings (regionalization.normalized_descriptors).
DESCRIPTOR_TRANSFORMS = ("standardize", "normalize", "keep")
# smash 1.3 names that mean a module of ours. The setup keeps the name the user gave.
MODULE_ALIASES = {"gr4_ude": "gr4_ode_mlp"}
# Parameters of smash's structural error mappings, in smash's order (their count is nsep_mu / nsep_sigma).
SERR_PARAMETERS = {
    "mu": {"Zero": (), "Constant": ("mg0",), "Linear": ("mg0", "mg1")},
    "sigma": {"Constant": ("sg0",), "Linear": ("sg0", "sg1"), "Power": ("sg0", "sg1", "sg2"),
              "Exponential": ("sg0", "sg1", "sg2"), "Gaussian": ("sg0", "sg1", "sg2")},
}
# smash 1.3 shows an unset path as this placeholder (and a path whose read_* flag is off).
UNSET_PATH = "..."
# The read flag of each folder setting.
_PATH_FLAGS = {"qobs_directory": "read_qobs", "prcp_directory": "read_prcp", "pet_directory": "read_pet",
               "snow_directory": "read_snow", "temp_directory": "read_temp",
               "descriptor_directory": "read_descriptor", "imperviousness_file": "read_imperviousness"}
# Spellings of setup keys accepted for smash's name (the setup keeps smash's).
KEY_ALIASES = {"imperviousness_directory": "imperviousness_file"}
# Time stamps as smash 1.3 holds them on model.setup.
def _resolve_aliases(setup: dict) -> dict:
    """The setup with KEY_ALIASES spelled smash's way; both spellings at once is an error."""
    if not isinstance(setup, dict) or not any(k in setup for k in KEY_ALIASES):
        return setup
    out = dict(setup)
    for alias, key in KEY_ALIASES.items():
        if alias in out:
            if key in out and out[key] is not None and out[alias] is not None and out[key] != out[alias]:
                raise ValueError(f"setup gives both {alias!r} and {key!r} (the same setting); give {key!r} only")
            value = out.pop(alias)
            if out.get(key) is None:
                out[key] = value
    return out


def _period(setup: dict):
    """(start, end, ntime_step) of a setup with an int `dt`, checked to be whole steps."""
    start = parse_time(setup["start_time"], "start_time")
    end = parse_time(setup["end_time"], "end_time")
    if end <= start:
        raise ValueError(f"setup end_time {end} is not after start_time {start}")
    span = (end - start).total_seconds()
    if span % setup["dt"]:
        raise ValueError(
            f"The period {start} -> {end} is not a whole number of time steps of dt={setup['dt']} s"
        )
    return start, end, int(span // setup["dt"])


def normalize_setup(setup: dict) -> dict:
    """Return a new setup with defaults filled in, checked and typed."""
    if not isinstance(setup, dict):
        raise TypeError(f"setup must be a dict (see smash.factory.load_dataset), not {type(setup).__name__}")
    setup = _resolve_aliases(setup)
    unknown = [k for k in setup if k not in DEFAULTS and k not in REQUIRED]
    if unknown:
        hints = {k: difflib.get_close_matches(k, list(DEFAULTS) + list(REQUIRED), n=1) for k in unknown}
        detail = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise ValueError(f"Unknown setup key(s): {detail}")
    missing = [k for k in REQUIRED if k not in setup]
    if missing:
        raise ValueError(f"setup is missing required key(s) {missing}")

    out = dict(DEFAULTS)
    out.update(setup)
    for key in _PATH_FLAGS:
        if isinstance(out.get(key), str) and out[key] == UNSET_PATH:
            out[key] = None
    _check_value_types(out)
    out["descriptor_name"] = [str(n) for n in (out["descriptor_name"] if out["descriptor_name"] is not None else [])]
    out["hidden_neuron"] = _hidden_neuron(out["hidden_neuron"])

    dt = out["dt"]
    if not np.isfinite(dt) or dt <= 0 or float(dt) != int(dt):
        raise ValueError(f"setup['dt'] must be a positive whole number of seconds, got {dt!r}")
    out["dt"] = int(dt)

    out["start_time"], out["end_time"], out["ntime_step"] = _period(out)

    for family in ("snow", "hydrological", "routing"):
        key, valid = f"{family}_module", module_names(family)
        if out[key] not in valid and out[key] not in MODULE_ALIASES:
            raise ValueError(f"Unknown {family} module {out[key]!r} (setup[{key!r}]); choose one of {valid}")
    structure_of(out)
    _check_smash_only_options(out)

    _check_input_settings(out)
    _check_forcing_storage(out)
    if out["read_descriptor"] and not out["descriptor_name"]:
        raise ValueError("setup['read_descriptor'] is True but setup['descriptor_name'] is empty")
    if not (out["read_descriptor"] or out["synthetic"]):
        # As smash 1.3: descriptors named but not read are not the model's descriptors.
        out["descriptor_name"] = []
    out["nd"] = len(out["descriptor_name"])
    if not isinstance(out["descriptor_tfm"], str):
        raise TypeError(f"setup['descriptor_tfm'] must be a str, not {type(out['descriptor_tfm']).__name__}")
    if out["descriptor_tfm"] not in DESCRIPTOR_TRANSFORMS:
        raise ValueError(f"Unknown setup['descriptor_tfm'] {out['descriptor_tfm']!r}; "
                         f"choose one of {list(DESCRIPTOR_TRANSFORMS)}")
    hidden = hidden_sizes(out["hidden_neuron"])  # raises on a bad hidden_neuron, hybrid or not
    _check_net_size(hidden, structure_of(out))
    return out


# File formats of the input settings (smash 1.3's choices).
FORMATS = ("tif", "nc", "netcdf", "zarr")  # smash 1.3's, then the stores of smash.inputs.stores
# Keys by the type of value they take (the others are checked where they are used).
_BOOLEAN_KEYS = tuple(k for k, v in DEFAULTS.items() if isinstance(v, bool))
_NUMBER_KEYS = ("dt", "prcp_conversion_factor", "pet_conversion_factor", "snow_conversion_factor")
_TEXT_KEYS = ("snow_module", "hydrological_module", "routing_module", "prcp_format", "pet_format", "snow_format",
              "temp_format", "descriptor_format", "imperviousness_format", "serr_mu_mapping", "serr_sigma_mapping")


def _check_value_types(setup: dict) -> None:
    """Refuse values of the wrong type with an error naming the key (smash 1.3 refuses them too).

    Flags take True / False or 0 / 1, as in smash 1.3: a string such as "False" is refused, not
    read as true. Numbers take int or float (not text, None or a bool). `descriptor_name` takes a
    list of names, not one string (a string would be read as a list of letters).
    """
    for key in _BOOLEAN_KEYS:
        value = setup[key]
        if isinstance(value, (bool, np.bool_)):
            setup[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            if value not in (0, 1):
                raise ValueError(f"setup[{key!r}] must be True or False (or 0 / 1), got {value!r}")
            setup[key] = bool(value)
        else:
            raise TypeError(f"setup[{key!r}] must be True or False (or 0 / 1), got {value!r} "
                            f"of type {type(value).__name__}")
    for key in _NUMBER_KEYS:
        value = setup[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"setup[{key!r}] must be a number, got {value!r} of type {type(value).__name__}")
    for key in _TEXT_KEYS:
        if not isinstance(setup[key], str):
            raise TypeError(f"setup[{key!r}] must be a string, got {setup[key]!r} of type {type(setup[key]).__name__}")
        if key.endswith("_format") and setup[key] not in FORMATS:
            # As smash 1.3 (checked even when the files are not read).
            raise ValueError(f"Unknown setup[{key!r}] = {setup[key]!r}; choose one of {list(FORMATS)}")
    for key in REQUIRED:
        value = setup[key]
        if not (isinstance(value, (str, _dt.date, np.datetime64)) or hasattr(value, "to_pydatetime")):
            # As smash 1.3: a number is not taken for a date.
            raise TypeError(f"setup[{key!r}] must be a date (text such as '2012-08-01 00:00', a datetime or a "
                            f"numpy datetime64), got {value!r} of type {type(value).__name__}")
    synthetic = setup["synthetic"]
    if not (synthetic is None or isinstance(synthetic, (bool, dict))):
        raise TypeError(f"setup['synthetic'] must be None, a bool or a dict such as {{'seed': 0}}, got {synthetic!r}")
    for key in _PATH_FLAGS:
        value = setup.get(key)
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"setup[{key!r}] must be a path (str or os.PathLike) or None, got {value!r}")
    names = setup["descriptor_name"]
    if names is not None:
        if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple, np.ndarray)):
            raise TypeError(f"setup['descriptor_name'] must be a list of descriptor names, e.g. [{names!r}], "
                            f"got {names!r}")
        bad = [n for n in np.asarray(names, dtype=object).ravel().tolist() if not isinstance(n, (str, bytes))]
        if bad:
            raise TypeError(f"setup['descriptor_name'] must hold names (strings), got {bad[0]!r}")


# The core counts the net's weights in 32-bit integers (SetupDT%nn_nweights), as smash 1.3 does.
_MAX_WEIGHTS = 2**31 - 1


def _check_net_size(hidden: tuple[int, ...], structure: Structure) -> None:
    """A net whose weight count the core cannot hold is refused, naming hidden_neuron (it was an
    OverflowError from the core's setup). Whether the memory is there is checked with the model's."""
    if any(n > _MAX_WEIGHTS for n in hidden):
        raise ValueError(f"setup['hidden_neuron'] = {hidden}: a layer of more than {_MAX_WEIGHTS} neurons")
    if not structure.is_hybrid:
        return
    sizes = [len(structure.nn_inputs), *hidden, len(structure.nn_outputs)]
    weights = sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False))
    if weights > _MAX_WEIGHTS:
        raise ValueError(f"setup['hidden_neuron'] = {hidden} makes a net of {weights} weights and biases, beyond the "
                         f"{_MAX_WEIGHTS} the core can count; use fewer neurons")


def _check_input_settings(setup: dict) -> None:
    """Conversion factors, errors naming the key (as smash 1.3 refuses them); the input switches
    are checked with the other flags (_check_value_types)."""
    for kind in ("prcp", "pet", "snow", "qobs"):
        key = f"{kind}_conversion_factor"
        if key not in setup:
            continue
        value = setup[key]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"setup[{key!r}] must be a number, got {value!r}")
        if not np.isfinite(float(value)) or value <= 0:
            raise ValueError(f"setup[{key!r}] must be a finite number greater than 0, got {value!r}")


FORCING_STORAGES = ("auto", "memory", "stream")


def _check_forcing_storage(setup: dict) -> None:
    if setup["forcing_storage"] not in FORCING_STORAGES:
        raise ValueError(f"Unknown setup['forcing_storage'] = {setup['forcing_storage']!r}; "
                         f"choose one of {list(FORCING_STORAGES)}")
    window = setup["forcing_window"]
    if isinstance(window, (bool, np.bool_)) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f"setup['forcing_window'] must be a whole number of steps >= 0 (0: automatic), "
                         f"got {window!r}")
    budget = setup["adjoint_memory"]
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, float, np.integer, np.floating)) or \
            not np.isfinite(budget) or budget < 0:
        raise ValueError(f"setup['adjoint_memory'] must be a number of bytes >= 0 (0: automatic), got {budget!r}")


def _hidden_neuron(value):
    """smash's spellings of hidden_neuron (an int, a list, its own int32 array padded with 0) as an int or tuple."""
    if isinstance(value, (np.ndarray, list, tuple)):
        sizes = [int(n) if isinstance(n, (int, np.integer)) and not isinstance(n, bool) else n
                 for n in np.asarray(value).ravel().tolist()]
        while len(sizes) > 1 and sizes[-1] == 0:
            sizes.pop()
        return tuple(sizes)
    return value


def structure_of(setup: dict) -> Structure:
    """The registry structure of a setup (smash 1.3's module names resolved)."""
    hydro = setup["hydrological_module"]
    return Structure(setup["snow_module"], MODULE_ALIASES.get(hydro, hydro), setup["routing_module"])


def _check_smash_only_options(setup: dict) -> None:
    """Snow inputs, imperviousness and the structural error mappings: combinations smash 1.3 refuses."""
    if setup["snow_module"] == "zero" and not setup["synthetic"]:
        for key in ("read_snow", "read_temp"):
            if setup[key]:
                raise ValueError(f"setup[{key!r}] = True needs a snow module (setup['snow_module'] is 'zero'; "
                                 "choose 'ssn')")
    if setup["prcp_partitioning"] and not setup["read_temp"]:
        raise ValueError("setup['prcp_partitioning'] = True splits precipitation by temperature: it needs "
                         "setup['read_temp'] = True (and a snow module)")
    if setup["read_imperviousness"] and not setup["imperviousness_file"]:
        raise ValueError("setup['read_imperviousness'] = True needs setup['imperviousness_file'], the path of the "
                         "imperviousness raster")
    for which in ("mu", "sigma"):
        key = f"serr_{which}_mapping"
        if setup[key] not in SERR_PARAMETERS[which]:
            raise ValueError(f"Unknown setup[{key!r}] = {setup[key]!r}; choose one of {list(SERR_PARAMETERS[which])}")
    for kind in ("prcp", "pet", "snow", "temp"):
        access = setup[f"{kind}_access"]
        if not isinstance(access, str):
            raise ValueError(f"setup['{kind}_access'] must be a string such as '%Y/%m', got {access!r}")


def setup_attributes(setup: dict) -> dict:
    """`model.setup` as smash 1.3 shows it, from a normalized setup.

    Values take smash's types: times as "YYYY-MM-DD HH:MM" text, `dt` and conversion factors as
    floats, flags as 0 / 1, `hidden_neuron` as an int32 array of two layer sizes (0 = no layer),
    `descriptor_name` as a text array, unset paths (or paths whose read flag is off) as "...".
    The sizes smash derives from the structure (`nrrp`, `n_hydro_fluxes`, `neurons`, ...) come
    from the structure registry.
    """
    structure = structure_of(setup)
    out = {}
    for key, value in setup.items():
        if key in ("start_time", "end_time"):
            value = value.strftime(TIME_FORMAT)
        elif key in _PATH_FLAGS:
            value = str(value) if value is not None and setup[_PATH_FLAGS[key]] else UNSET_PATH
        elif isinstance(value, bool):
            value = int(value)
        elif key == "dt" or key.endswith("_conversion_factor"):
            value = float(value)
        out[key] = value
    out["descriptor_name"] = np.array(setup["descriptor_name"], dtype="<U128")
    hidden = hidden_sizes(setup["hidden_neuron"])
    out["hidden_neuron"] = np.array(list(hidden) + [0] * (2 - len(hidden)), dtype=np.int32)
    snow, hydro, routing = structure.counts("fluxes")
    nn_in, nn_out = len(structure.nn_inputs), len(structure.nn_outputs)
    neurons = [nn_in, *hidden, nn_out]
    out.update(
        structure=f"{setup['snow_module']}-{setup['hydrological_module']}-{setup['routing_module']}",
        snow_module_present=int(setup["snow_module"] != "zero"),
        nrrp=len(structure.rr_parameters),
        nrrs=len(structure.rr_states),
        n_snow_fluxes=snow,
        n_hydro_fluxes=hydro,
        n_routing_fluxes=routing,
        n_internal_fluxes=snow + hydro + routing,
        nqz=structure.discharge_steps,
        n_layers=len(hidden) + 1 if structure.is_hybrid else 0,
        neurons=np.array(neurons + [0] * (4 - len(neurons)), dtype=np.int32),
        nsep_mu=len(SERR_PARAMETERS["mu"][setup["serr_mu_mapping"]]),
        nsep_sigma=len(SERR_PARAMETERS["sigma"][setup["serr_sigma_mapping"]]),
    )
    return out
