"""Priors of the control vector's entries (smash 1.x's cost_options['control_prior']); their log-density
and its gradient are Fortran (md_bayesian_cost::control_log_prior, differentiated by Tapenade).

Each prior applies to the raw (untransformed) value of one named control, e.g. "cp-0" or
"sg0-V3524010"; the log-prior is the sum of the log-densities (FlatPrior: 0). Definitions
measured against smash 1.3 (tests/anchor_refs/Cance/bayesian.npz):

- Gaussian [m, s]: log N(x; m, s**2)
- LogNormal [m, s]: log N(ln x; m, s**2) - ln x (x > 0)
- Uniform [a, b]: -ln(b - a) on [a, b]
- Exponential [x0, s]: -ln s - (x - x0) / s for x >= x0
- Triangle [peak, a, b]: the triangular density on [a, b] with mode peak
Outside its support a density is 0: the log-prior is -inf, a point the optimizers step back from.
"""

from __future__ import annotations

import math

import numpy as np

from smash import _core

# name -> number of parameters
DISTRIBUTIONS = {"FlatPrior": 0, "Uniform": 2, "Gaussian": 2, "Exponential": 2, "LogNormal": 2, "Triangle": 3}
# Their ids in md_bayesian_cost, and the log-density it returns outside a support.
PRIOR_IDS = {"FlatPrior": 0, "Uniform": 1, "Gaussian": 2, "Exponential": 3, "LogNormal": 4, "Triangle": 5}
OUTSIDE_SUPPORT = -1e300


def check_control_prior(control_prior, names) -> dict:
    """{control index: (distribution, parameters)} of a user's control_prior over the control `names`."""
    if control_prior is None:
        return {}
    if not isinstance(control_prior, dict):
        raise TypeError(f"cost_options['control_prior'] must be a dict, not {type(control_prior).__name__}")
    names = [str(n) for n in names]
    out = {}
    for key, spec in control_prior.items():
        if key not in names:
            raise ValueError(f"control_prior names {key!r}, which is not a control of this calibration; "
                             f"its controls are {names[:8]}{' ...' if len(names) > 8 else ''} "
                             "(see bayesian_optimize_control_info)")
        if not isinstance(spec, (list, tuple)) or len(spec) != 2:
            raise ValueError(f"control_prior[{key!r}] must be [distribution, parameters], got {spec!r}")
        dist, par = spec
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"control_prior[{key!r}]: unknown distribution {dist!r}; choose one of "
                             f"{list(DISTRIBUTIONS)}")
        par = [float(v) for v in (par or [])]
        if len(par) != DISTRIBUTIONS[dist]:
            raise ValueError(f"control_prior[{key!r}]: {dist} takes {DISTRIBUTIONS[dist]} parameters, "
                             f"got {len(par)}")
        _check_parameters(key, dist, par)
        out[names.index(key)] = (dist, par)
    return out


def _check_parameters(key, dist, par):
    if dist in ("Gaussian", "LogNormal", "Exponential") and par[1] <= 0:
        raise ValueError(f"control_prior[{key!r}]: the {dist} scale must be positive, got {par[1]}")
    if dist == "Uniform" and not par[0] < par[1]:
        raise ValueError(f"control_prior[{key!r}]: Uniform bounds must satisfy lower < upper, got {par}")
    if dist == "Triangle" and not par[1] <= par[0] <= par[2] or dist == "Triangle" and par[1] == par[2]:
        raise ValueError(f"control_prior[{key!r}]: Triangle needs lower <= peak <= upper, lower < upper, got {par}")


def log_prior(priors: dict, raw: np.ndarray) -> tuple[float, np.ndarray]:
    """(log-prior, its gradient in the raw control values) of `priors` (check_control_prior) at `raw`:
    the Fortran md_bayesian_cost::control_log_prior and its generated adjoint."""
    grad = np.zeros(np.size(raw))
    if not priors:
        return 0.0, grad
    index = np.array(sorted(priors))
    ids = np.array([PRIOR_IDS[priors[i][0]] for i in index], dtype=np.int32)
    par = np.zeros((3, index.size), order="F")
    for k, i in enumerate(index):
        values = priors[i][1]
        par[: len(values), k] = values
    x = np.asarray(raw, dtype=np.float64)[index].copy()
    grad_x = np.zeros(index.size)
    value = _core.prior_gradient(ids, par, x, grad_x)
    if value <= OUTSIDE_SUPPORT:
        return -math.inf, grad
    grad[index] = grad_x
    return value, grad
