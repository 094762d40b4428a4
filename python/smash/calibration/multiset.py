"""multiset_estimate: a Bayesian-like weighted estimate from an ensemble of forward runs.

A `multiple_forward_run` ensemble holds `n` sampled values of some rr parameters or initial
states (uniform values or maps) and the cost `J_i` of each run. The estimate of each name at each
cell is the weighted mean of its sampled values,

    w_i ∝ p_i exp(-2**alpha (J_i / min_j J_j - 1)**2),      theta* = sum_i w_i theta_i / sum_i w_i,

where `p_i` is the prior density of the sampled value: the density of the law it was drawn from
for a `Samples` (uniform: a constant; normal: the truncated normal density), otherwise a Gaussian
kernel density estimate of the name's values at that cell (Scott's bandwidth, one variable at a
time). `alpha` sets how fast the likelihood decays away from the best run: small values give back
the prior mean, large ones the best sample. These are smash 1.3's definitions, measured on its
public API (see docs/calibration.md).

Each `alpha` of a list gives one point of the L-curve: the cost of a forward run with the
estimate, and the mean over names and grid cells of the Mahalanobis distance
``(theta* - mean_i theta_i)**2 / var_w(theta)`` from the prior mean (``var_w`` the weighted
variance of the samples). The chosen `alpha` is the corner of the curve: both axes scaled to
[0, 1], the point farthest from the chord joining its ends.
"""

from __future__ import annotations

import numpy as np

from smash.calibration.regularization import chord_distances
from smash.results import Result
from smash.simulation.forward import RETURN_KEYS as FORWARD_RETURN_KEYS
from smash.simulation.forward import check_common_options, check_return_keys, run_forward

RETURN_KEYS = (*FORWARD_RETURN_KEYS, "lcurve_multiset")
# smash 1.3's default alpha range for the L-curve.
DEFAULT_ALPHA = np.linspace(-2.0, 10.0, 50)
# Cells handled at once by the kernel density estimate: it holds n x n x CELL_BLOCK values.
CELL_BLOCK = 4096


class MultisetEstimate(Result):
    """Optional outputs of `multiset_estimate` selected by `return_options`.

    Attributes present depending on the options: the forward outputs of the run with the estimate
    (`time_step`, `rr_states`, `q_domain`, `internal_fluxes`, `cost`, `jobs`, as `ForwardRun`) and
    `lcurve_multiset`, a dict with `cost` and `mahal_dist` (one value, or one per alpha of a list,
    with then `alpha` and the chosen `alpha_opt`).

    Parameters
    ----------
    **values
        The outputs, by name.
    """


def kernel_density(values: np.ndarray) -> np.ndarray:
    """Gaussian kernel density estimate of each column of `values` (n, m) at its own n points.

    The bandwidth is Scott's rule on the column's variance (ddof 1) times n**(-1/5), as
    `scipy.stats.gaussian_kde` for one variable. A column whose values are all equal has no
    density to estimate: it gets a constant one (its weighted mean is then that value).
    """
    n, m = values.shape
    density = np.ones((n, m))
    if n < 2:
        return density
    for start in range(0, m, CELL_BLOCK):
        block = values[:, start:start + CELL_BLOCK]
        variance = block.var(axis=0, ddof=1) * float(n) ** (-2.0 / 5.0)
        spread = variance > 0
        if not spread.any():
            continue
        sub, var = block[:, spread], variance[spread]
        gaps = sub[:, None, :] - sub[None, :, :]
        kernel = np.exp(-0.5 * gaps * gaps / var) / np.sqrt(2.0 * np.pi * var)
        columns = np.flatnonzero(spread) + start
        density[:, columns] = kernel.mean(axis=1)
    return density


def likelihood_exponent(cost: np.ndarray) -> np.ndarray:
    """(J_i / min J - 1)**2 of each run's cost: the decay the likelihood applies, scaled by 2**alpha."""
    cost = np.asarray(cost, dtype=np.float64)
    if not np.all(np.isfinite(cost)):
        bad = np.flatnonzero(~np.isfinite(cost))
        raise ValueError(f"multiset_estimate needs a finite cost for every run; runs {bad.tolist()[:10]} have "
                         f"{cost[bad][:10].tolist()}")
    best = cost.min()
    if best <= 0:
        raise ValueError(f"multiset_estimate weighs runs by their cost relative to the smallest one, which must be "
                         f"positive; the smallest cost is {best}")
    return (cost / best - 1.0) ** 2


class _Ensemble:
    """The sampled values of one multiset, flattened to (n, cells) per name, with their prior log-density."""

    def __init__(self, model, multiset):
        # Checked by what it holds: importing MultipleForwardRun here would tie Model to smash.factory.
        if not hasattr(multiset, "_samples") or not hasattr(multiset, "cost"):
            raise TypeError(f"multiset must be a MultipleForwardRun (smash.multiple_forward_run), got "
                            f"{type(multiset).__name__}")
        samples = multiset._samples
        if not samples or multiset.cost is None:
            raise ValueError("multiset does not hold the samples and costs of its runs: build it with "
                             "smash.multiple_forward_run on a model with gauges")
        self.exponent = likelihood_exponent(multiset.cost)
        n = self.exponent.size
        grid = (int(model.mesh.nrow), int(model.mesh.ncol))
        known = set(model.rr_parameters.keys) | set(model.rr_initial_states.keys)
        self.names = list(samples)
        self.values, self.log_prior = {}, {}
        densities = getattr(multiset, "_densities", None)
        for name in self.names:
            if name not in known:
                raise ValueError(f"multiset samples {name!r}, neither an rr parameter nor an rr initial state of the "
                                 f"structure {model.setup.structure}")
            column = np.asarray(samples[name], dtype=np.float64)
            if column.shape[0] != n or column.shape[1:] not in ((), grid):
                raise ValueError(f"multiset samples of {name!r} have shape {column.shape}; expected ({n},) or "
                                 f"({n}, {grid[0]}, {grid[1]}) for this model's grid")
            values = column.reshape(n, -1)
            self.values[name] = values
            if densities is not None:
                prior = np.asarray(densities[name], dtype=np.float64).reshape(n, -1)
            else:
                prior = kernel_density(values)
            with np.errstate(divide="ignore"):
                self.log_prior[name] = np.log(prior)
        self.grid = grid

    def estimate(self, alpha: float) -> tuple[dict[str, np.ndarray], float]:
        """Weighted-mean maps of each name at `alpha`, and the mean Mahalanobis distance to the prior mean."""
        decay = 2.0 ** float(alpha) * self.exponent
        maps, distances = {}, []
        for name in self.names:
            values = self.values[name]
            log_w = self.log_prior[name] - decay[:, None]
            log_w -= log_w.max(axis=0)
            weight = np.exp(log_w)
            weight /= weight.sum(axis=0)
            mean_w = (weight * values).sum(axis=0)
            spread = (weight * (values - mean_w) ** 2).sum(axis=0)
            gap = (mean_w - values.mean(axis=0)) ** 2
            # A name whose values are all equal at a cell carries no distance there; a posterior
            # collapsed onto one sample (the other weights underflow) is infinitely far.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                distance = np.where(gap > 0, gap / spread, 0.0)
            with np.errstate(over="ignore"):
                distances.append(np.broadcast_to(distance, (int(np.prod(self.grid)),)).mean())
            maps[name] = np.broadcast_to(mean_w, (int(np.prod(self.grid)),)).reshape(self.grid).copy()
        with np.errstate(over="ignore"):
            return maps, float(np.mean(distances))


def lcurve_corner(costs: np.ndarray, distances: np.ndarray) -> int:
    """Index of the corner of the L-curve (distance, cost).

    Both axes scaled to [0, 1], the point farthest from the chord joining the curve's ends. When
    the distance becomes infinite (the weights of every run but the best underflow: the estimate
    is the best sample), the scaled curve has every finite point at distance 0 and its far arm
    at infinity; its corner is then the first infinite point, the smallest alpha giving the best
    sample (smash 1.3 picks the same point).
    """
    costs, distances = np.asarray(costs, dtype=np.float64), np.asarray(distances, dtype=np.float64)
    infinite = np.flatnonzero(~np.isfinite(distances))
    if infinite.size:
        return int(infinite[0])

    chord = chord_distances(distances, costs)
    return 0 if chord is None else int(np.argmax(chord))


def _set_maps(model, maps: dict[str, np.ndarray]) -> None:
    parameters = set(model.rr_parameters.keys)
    for name, value in maps.items():
        (model.set_rr_parameters if name in parameters else model.set_rr_initial_states)(name, value)


def _alphas(alpha) -> tuple[np.ndarray, bool]:
    """The alpha values to try and whether they form an L-curve (a list, or the default range)."""
    if alpha is None:
        return DEFAULT_ALPHA.copy(), True
    if isinstance(alpha, bool):
        raise TypeError(f"alpha must be a number, a list of numbers or None, got {alpha!r}")
    values = np.asarray(alpha, dtype=np.float64) if not isinstance(alpha, str) else None
    if values is None or values.ndim > 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"alpha must be a finite number, a non-empty list of finite numbers or None, got {alpha!r}")
    return values.ravel(), values.ndim == 1


def run_multiset_estimate(model, multiset, alpha=None, common_options=None, return_options=None):
    """Set `model`'s sampled parameters / states to the multiset estimate in place and run it.

    Returns a MultisetEstimate when `return_options` asks for outputs, else None.
    """
    common = check_common_options(common_options)
    ret = check_return_keys(return_options, RETURN_KEYS)
    ensemble = _Ensemble(model, multiset)
    alphas, is_curve = _alphas(alpha)
    cost_options = multiset._cost_options
    run_options = {"ncpu": common["ncpu"], "verbose": False}

    lcurve = None
    if is_curve:
        costs, distances = np.empty(alphas.size), np.empty(alphas.size)
        steps = range(alphas.size)
        if common["verbose"]:
            from tqdm import tqdm

            steps = tqdm(steps, desc="</> Multiple Set Estimate: L-curve", leave=False, dynamic_ncols=True)
        work = model.copy()
        for i in steps:
            maps, distances[i] = ensemble.estimate(alphas[i])
            _set_maps(work, maps)
            costs[i] = run_forward(work, cost_options, run_options, {"cost": True}).cost
        chosen = float(alphas[lcurve_corner(costs, distances)])
        lcurve = {"alpha": alphas, "cost": costs, "mahal_dist": distances, "alpha_opt": chosen}
    else:
        chosen = float(alphas[0])

    maps, distance = ensemble.estimate(chosen)
    _set_maps(model, maps)
    forward_ret = {k: v for k, v in ret.items() if k != "lcurve_multiset"}
    if ret.get("lcurve_multiset") and lcurve is None:
        forward_ret["cost"] = True
    result = run_forward(model, cost_options, run_options, forward_ret or None)
    if not ret:
        return None
    out = dict(vars(result)) if result is not None else {}
    if not ret.get("cost"):
        out.pop("cost", None)
    if ret.get("lcurve_multiset"):
        out["lcurve_multiset"] = lcurve if lcurve is not None else {"cost": result.cost, "mahal_dist": distance}
    return MultisetEstimate(**out)


def multiset_estimate(model, multiset, alpha=None, common_options=None, return_options=None):
    """Estimate `model`'s parameters / initial states from an ensemble of runs (see the module docstring).

    Parameters
    ----------
    model : Model
        The model the ensemble was run from (left unchanged).
    multiset : MultipleForwardRun
        A `multiple_forward_run` result: its samples, costs and cost options.
    alpha : float, list of float or None, default None
        Decay of the likelihood (weights ``exp(-2**alpha (J / min J - 1)**2)``). A list gives an
        L-curve, whose corner is used; None gives smash's range ``linspace(-2, 10, 50)``.
    common_options : dict or None
        ``ncpu``, ``verbose``.
    return_options : dict or None
        The forward outputs of the run with the estimate (``time_step``, ``rr_states``,
        ``q_domain``, ``internal_fluxes``, ``cost``, ``jobs``) and ``lcurve_multiset``.

    Returns
    -------
    Model or (Model, MultisetEstimate)
        A copy of `model` with the estimate, run; with a MultisetEstimate when `return_options` asks.
    """
    new = model.copy()
    result = run_multiset_estimate(new, multiset, alpha, common_options, return_options)
    return (new, result) if return_options else new
