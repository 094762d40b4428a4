"""The structural error model of a Model (smash 1.x): per-gauge parameters of the mean mu and
the standard deviation sigma of the structural errors, their bounds, and the standard deviation
of the observation errors (u_response_data). The definitions of mu and sigma are Fortran
(md_bayesian_cost); this module holds the values and hands them to the core."""

from __future__ import annotations

import numpy as np

from smash import _core
from smash.simulation.containers import NamedMaps, as_numbers
from smash.simulation.model_setup import SERR_PARAMETERS

# Mapping ids of md_bayesian_cost, in smash's order of the names.
MU_MAPPING_IDS = {"Zero": 0, "Constant": 1, "Linear": 2}
SIGMA_MAPPING_IDS = {"Constant": 1, "Linear": 2, "Power": 3, "Exponential": 4, "Gaussian": 5}
# smash 1.3's default values and bounds (measured with get_serr_*_parameters(_bounds)).
SERR_DEFAULTS = {"mg0": 0.0, "mg1": 0.0, "sg0": 1.0, "sg1": 0.2, "sg2": 2.0}
SERR_BOUNDS = {"mg0": (-1e6, 1e6), "mg1": (-1e6, 1e6), "sg0": (1e-6, 1e3), "sg1": (1e-6, 1e1), "sg2": (1e-6, 1e3)}


class UResponseData:
    """Uncertainty of the observed discharge: `q_stdev` (ng, ntime_step), the standard deviation of
    the observation errors u (m3/s, 0 by default), added in variance to the structural errors'."""

    def __init__(self, ng: int, ntime_step: int, q_stdev=None):
        self._shape = (ng, ntime_step)
        self._q_stdev = np.zeros(self._shape, dtype=np.float32) if q_stdev is None else q_stdev

    @property
    def q_stdev(self) -> np.ndarray:
        return self._q_stdev

    @q_stdev.setter
    def q_stdev(self, value):
        arr = as_numbers(value, "u_response_data.q_stdev", np.float32)
        if arr.ndim == 0:
            arr = np.full(self._shape, float(arr), dtype=np.float32)
        if arr.shape != self._shape:
            raise ValueError(f"u_response_data.q_stdev must have shape (ng, ntime_step) = {self._shape}, "
                             f"got {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("u_response_data.q_stdev must be finite and non-negative (a standard deviation)")
        self._q_stdev = arr

    def copy(self) -> UResponseData:
        return UResponseData(*self._shape, self._q_stdev.copy())

    def __repr__(self):
        return f"UResponseData(q_stdev: shape {self._shape})"


def serr_keys(model, which: str) -> tuple:
    """Parameter names of the model's mu ("mu") or sigma ("sigma") mapping, in smash's order."""
    return SERR_PARAMETERS[which][getattr(model.setup, f"serr_{which}_mapping")]


def init_serr(model) -> None:
    """Give a new model smash's default structural error parameters and a zero observation uncertainty."""
    ng, nt = int(model.mesh.ng), int(model.setup.ntime_step)
    for which in ("mu", "sigma"):
        keys = serr_keys(model, which)
        values = np.array([[SERR_DEFAULTS[k] for k in keys]] * ng, dtype=np.float64).reshape(ng, len(keys))
        setattr(model, f"serr_{which}_parameters", NamedMaps(keys, values))
    model.u_response_data = UResponseData(ng, nt)


def bounds_of(model, which: str) -> dict:
    return {k: SERR_BOUNDS[k] for k in serr_keys(model, which)}


def get_parameters(model, which: str, key: str) -> np.ndarray:
    maps = getattr(model, f"serr_{which}_parameters")
    return maps.values[:, maps.index(key)].copy()


def set_parameters(model, which: str, key: str, value) -> None:
    """Set parameter `key` of every gauge (a number, or one per gauge); sigma parameters must be > 0."""
    maps = getattr(model, f"serr_{which}_parameters")
    i = maps.index(key)
    arr = as_numbers(value, f"serr_{which}_parameters {key!r}", np.float64)
    ng = maps.values.shape[0]
    if arr.ndim == 0:
        arr = np.full(ng, float(arr))
    if arr.shape != (ng,):
        raise ValueError(f"serr_{which}_parameters {key!r} must be a number or one value per gauge ({ng}), "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"serr_{which}_parameters {key!r} must be finite")
    if which == "sigma" and np.any(arr <= 0):
        raise ValueError(f"serr_sigma_parameters {key!r} must be positive (sigma's parameters), got {arr.tolist()}")
    maps.values[:, i] = arr


def core_serr_options(model, fcost) -> None:
    """Turn the CostOptionsDT `fcost` into the model's Bayesian cost: its mappings, structural error
    parameters and observation uncertainty."""
    mu, sigma = model.serr_mu_parameters.values, model.serr_sigma_parameters.values
    ng = max(int(model.mesh.ng), 1)
    _core.allocate_bayesian(fcost, MU_MAPPING_IDS[model.setup.serr_mu_mapping],
                            SIGMA_MAPPING_IDS[model.setup.serr_sigma_mapping], mu.shape[1], sigma.shape[1], ng,
                            int(model.setup.ntime_step))
    load_serr(model, fcost)
    if model.mesh.ng:
        fcost.q_stdev[: model.mesh.ng] = model.u_response_data.q_stdev


def load_serr(model, fcost) -> None:
    """Copy the model's structural error parameters into a Bayesian CostOptionsDT."""
    mu, sigma = model.serr_mu_parameters.values, model.serr_sigma_parameters.values
    ng = int(model.mesh.ng)
    if mu.shape[1]:
        fcost.serr_mu[:ng, : mu.shape[1]] = mu
    fcost.serr_sigma[:ng, : sigma.shape[1]] = sigma


def serr_moments(model) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of the structural errors at the model's simulated discharge: (ng, ntime_step) each."""
    from smash.analysis.cost_options import build_cost_options

    _, fcost = build_cost_options(model, None)
    core_serr_options(model, fcost)
    ng, nt = max(int(model.mesh.ng), 1), int(model.setup.ntime_step)
    qsim = np.zeros((ng, nt), order="F")
    qsim[: model.mesh.ng] = model.response.q
    mu, sigma = np.zeros((ng, nt), order="F"), np.zeros((ng, nt), order="F")
    _core.serr_moments(fcost, qsim, mu, sigma)
    return mu[: model.mesh.ng].copy(), sigma[: model.mesh.ng].copy()
