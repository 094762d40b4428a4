"""bayesian_optimize: maximum a posteriori estimation of the controls and of the structural error
parameters (smash 1.x), with the optimizers and mappings of `optimize`.

The cost is smash's: J = -(log_lkh + log_prior + log_h) / nobs, where log_lkh is the Gaussian
log-likelihood of the structural error model (Fortran, md_bayesian_cost, differentiated by
Tapenade in the discharge and in the structural error parameters), log_prior the sum of the
control priors (smash.bayesian.prior) and nobs the number of observations scored. log_h is 0
in every case measured on smash 1.3 (it has no documented definition), and so it is here.
"""

from __future__ import annotations

import time

import numpy as np

from smash import _core
from smash.analysis.cost_options import build_cost_options
from smash.bayesian import prior as _prior
from smash.bayesian import serr as _serr
from smash.bayesian.control import BayesianControl
from smash.calibration.optimize import (
    FORWARD_OUTPUTS,
    _build_control,
    _calibrate_once,
    _callback_report,
    _check_options,
    _forward_outputs,
    _Problem,
    _restore_maps,
    _saved_maps,
    default_optimize_options,
)
from smash.progress import OptimizerLog
from smash.results import Result
from smash.simulation import work_split
from smash.simulation.forward import check_common_options, check_return_keys

BAYESIAN_COST_KEYS = ("end_warmup", "gauge", "control_prior")
BAYESIAN_RETURN_KEYS = (*FORWARD_OUTPUTS, "control_vector", "cost", "n_iter", "projg", "log_lkh", "log_prior",
                        "log_h", "serr_mu", "serr_sigma", "iter_cost", "iter_projg")
BAYESIAN_MAPPINGS = ("uniform", "distributed", "multi-linear", "multi-power")


class BayesianOptimize(Result):
    """What bayesian_optimize returns on request (BAYESIAN_RETURN_KEYS): the forward outputs at the
    result, `control_vector`, `cost` (-(log_lkh + log_prior + log_h) / nobs), `n_iter`, `projg`,
    `log_lkh`, `log_prior`, `log_h`, `serr_mu` and `serr_sigma` ((ng, ntime_step) at the result),
    `iter_cost`, `iter_projg`.

    Parameters
    ----------
    **values
        The outputs, by name.
    """


def _serr_names(model) -> list[str]:
    return [*_serr.serr_keys(model, "mu"), *_serr.serr_keys(model, "sigma")]


def default_bayesian_optimize_options(model, mapping: str = "uniform", optimizer: str | None = None) -> dict:
    """smash's default options of `bayesian_optimize`.

    Parameters
    ----------
    model : Model
        The model to calibrate.
    mapping : str, default "uniform"
        The mapping.
    optimizer : str or None
        The optimizer (None: the mapping's default).

    Returns
    -------
    dict
        Those of `default_optimize_options`, with every structural error parameter of the model's
        mappings added to ``parameters`` and their bounds to ``bounds``.
    """
    _check_mapping(mapping)
    options = default_optimize_options(model, mapping, optimizer)
    names = _serr_names(model)
    options["parameters"] = [*options["parameters"], *names]
    serr_bounds = {**_serr.bounds_of(model, "mu"), **_serr.bounds_of(model, "sigma")}
    options["bounds"] = {**options["bounds"], **{k: serr_bounds[k] for k in names}}
    return options


def _check_mapping(mapping):
    if mapping not in BAYESIAN_MAPPINGS:
        raise ValueError(f"Unknown mapping {mapping!r} for bayesian_optimize; choose one of {list(BAYESIAN_MAPPINGS)}")


def _split_options(model, mapping, optimizer, optimize_options):
    """(optimizer, options of the base control, structural error names, their bounds)."""
    _check_mapping(mapping)
    given = dict(optimize_options or {})
    serr_all = _serr_names(model)
    serr_bounds = {**_serr.bounds_of(model, "mu"), **_serr.bounds_of(model, "sigma")}
    parameters = given.get("parameters")
    if parameters is None:
        base_names, serr_names = None, serr_all
    else:
        names = [parameters] if isinstance(parameters, str) else list(parameters)
        serr_names = [p for p in names if p in serr_all]
        base_names = [p for p in names if p not in serr_all]
        if not base_names:
            raise ValueError("optimize_options['parameters'] needs at least one rr parameter, state or net array "
                             "besides the structural error parameters")
        given["parameters"] = base_names
    bounds = dict(given.get("bounds") or {})
    for key in [k for k in bounds if k in serr_all]:
        low, high = (float(v) for v in bounds.pop(key))
        if not low < high:
            raise ValueError(f"bounds of {key!r} must satisfy lower < upper, got ({low}, {high})")
        if key.startswith("sg") and low <= 0:
            raise ValueError(f"bounds of {key!r} must be positive (a standard deviation's parameter)")
        serr_bounds[key] = (low, high)
    if "bounds" in given:
        given["bounds"] = bounds
    optimizer, options = _check_options(model, mapping, optimizer, given)
    return optimizer, options, serr_names, serr_bounds


def _bayesian_cost_options(model, cost_options):
    """(fcost with the Bayesian cost, resolved end_warmup / gauge options, the control_prior given)."""
    given = dict(cost_options or {})
    unknown = set(given) - set(BAYESIAN_COST_KEYS)
    if unknown:
        raise ValueError(f"Unknown cost option(s) {sorted(unknown)} for bayesian_optimize; valid: "
                         f"{list(BAYESIAN_COST_KEYS)}")
    control_prior = given.pop("control_prior", None)
    plain = {k: v for k, v in given.items() if v is not None}
    _, fcost = build_cost_options(model, plain)
    _serr.core_serr_options(model, fcost)
    return fcost, plain, control_prior


def _control(model, mapping, options, serr_names, serr_bounds, fcost) -> BayesianControl:
    gauges = np.flatnonzero(np.asarray(fcost.wgauge)[: model.mesh.ng] > 0)
    for key in serr_names:
        which = "mu" if key.startswith("mg") else "sigma"
        values = _serr.get_parameters(model, which, key)[gauges]
        low, high = serr_bounds[key]
        # A float32 round trip (smash 1.3's control vectors) may leave a value a hair outside its bound.
        slack = 1e-6 * max(abs(low), abs(high))
        if np.any(values < low - slack) or np.any(values > high + slack):
            raise ValueError(f"bounds ({low}, {high}) of {key!r} do not include its current values "
                             f"{values.tolist()} at the calibrated gauges")
    return BayesianControl(model, _build_control(model, mapping, options), serr_names, gauges, serr_bounds)


class _BayesianProblem(_Problem):
    """-(log_lkh + log_prior) / nobs and its gradient in the Bayesian control vector."""

    def __init__(self, model, control, fcost, priors):
        super().__init__(model, control, fcost)
        self.priors = priors
        net = model.network
        ng, nt = max(int(net.gauge_cell.size), 1), int(model.setup.ntime_step)
        self.grad_q = np.zeros((ng, nt), order="F")
        self.grad_mu = np.zeros(np.shape(fcost.serr_mu), order="F")
        self.grad_sigma = np.zeros(np.shape(fcost.serr_sigma), order="F")
        # The scored observations: the same rule as the core's (a likelihood of any discharge tells).
        self.nobs = self.serr_terms(np.zeros((ng, nt), order="F"))[1]
        if self.nobs == 0:
            raise ValueError("No observed discharge to estimate from: the calibrated gauges have no observation "
                             "(>= 0) after end_warmup")
        self.log_lkh, self.log_prior = float("nan"), float("nan")

    def serr_terms(self, qsim) -> tuple[float, int]:
        """(log_lkh, nobs) of qsim, the gradients of log_lkh in the serr parameters into grad_mu, grad_sigma."""
        log_lkh, nobs = _core.serr_gradient(self.model, self.fcost, qsim, self.grad_q, self.grad_mu,
                                            self.grad_sigma)
        return float(log_lkh), int(nobs)

    def _load(self, x):
        self.control.load_x(x)
        _serr.load_serr(self.model, self.fcost)
        self.model._sync_parameters()

    def _prior(self, x):
        raw, slope = self.control.raw_and_slope(x)
        value, grad_raw = _prior.log_prior(self.priors, raw)
        return value, grad_raw * slope

    def cost(self, x) -> float:
        self._load(x)
        _core.run_forward(self.model, self.fcost, self.output, self.mesh)
        self.nfg += 1
        self.log_lkh = -float(self.output.cost) * self.nobs
        self.log_prior = self._prior(x)[0]
        j = -(self.log_lkh + self.log_prior) / self.nobs
        self._record(x, j)
        return j

    def cost_grad(self, x):
        cost_lkh = self._adjoint(x)
        if cost_lkh is None:
            return float("inf"), np.zeros(np.size(x))
        m = self.model
        log_lkh, _ = self.serr_terms(np.asarray(self.output.q, order="F"))
        ctrl = self.control
        grad_serr = []
        for which, key in ctrl.serr_keys:
            maps = getattr(m, f"serr_{which}_parameters")
            grad = self.grad_mu if which == "mu" else self.grad_sigma
            grad_serr.append(-grad[ctrl.gauges, maps.index(key)] / self.nobs)
        grad_serr = np.concatenate(grad_serr) if grad_serr else np.zeros(0)
        g = ctrl.gradient_x(x, np.array(self.grad.rr_parameters), np.array(self.grad.rr_initial_states),
                            np.array(self.grad.nn_parameters), grad_serr)
        self.log_lkh = log_lkh
        self.log_prior, prior_grad = self._prior(x)
        j = float(cost_lkh) - self.log_prior / self.nobs
        g = g - prior_grad / self.nobs
        self._record(x, j)
        return j, g


def _saved_serr(model):
    return model.serr_mu_parameters.values.copy(), model.serr_sigma_parameters.values.copy()


def _restore_serr(model, saved):
    model.serr_mu_parameters.values[...], model.serr_sigma_parameters.values[...] = saved


def _prepare(model, mapping, optimizer, optimize_options, cost_options):
    optimizer, options, serr_names, serr_bounds = _split_options(model, mapping, optimizer, optimize_options)
    fcost, plain_cost, control_prior = _bayesian_cost_options(model, cost_options)
    control = _control(model, mapping, options, serr_names, serr_bounds, fcost)
    priors = _prior.check_control_prior(control_prior, control.names())
    return optimizer, options, fcost, plain_cost, control, priors


def run_bayesian_optimize(model, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
                          common_options=None, return_options=None, callback=None):
    """bayesian_optimize of `model` in place; a BayesianOptimize when `return_options` asks for outputs."""
    report = _callback_report(callback)
    common = check_common_options(common_options, verbose=True)
    ret = check_return_keys(return_options, BAYESIAN_RETURN_KEYS)
    optimizer, options, fcost, plain_cost, control, priors = _prepare(model, mapping, optimizer, optimize_options,
                                                                      cost_options)
    work_split.use_threads(model, common["ncpu"])
    problem = _BayesianProblem(model, control, fcost, priors)
    x0 = control.x_from_model()
    start_maps, start_serr = _saved_maps(model), _saved_serr(model)
    log = OptimizerLog(common["verbose"])
    log("</> Bayesian Optimize")
    t0 = time.perf_counter()
    maxiter = int(options["termination_crit"]["maxiter"])
    try:
        (_, x, costs, projg), _, _, _, _ = _calibrate_once(problem, (x0, *control.bounds_x()), start_maps, mapping,
                                                          optimizer, options, common["verbose"], log, report)
        elapsed = time.perf_counter() - t0
        if maxiter == 0:
            _restore_maps(model, start_maps)
            _restore_serr(model, start_serr)
            x = x0
        # The result's terms: every optimizer ends by evaluating its result.
        problem.cost(x)
        log_lkh, log_prior = problem.log_lkh, problem.log_prior
        if maxiter > 0:
            control.load_x(x)
        forward = _forward_outputs(model, ret, plain_cost, common["ncpu"])
    except BaseException:
        _restore_maps(model, start_maps)
        _restore_serr(model, start_serr)
        raise
    if not ret:
        return None
    out = {"time": elapsed, **forward}
    values = {"control_vector": np.array(x, dtype=np.float64),
              "cost": -(log_lkh + log_prior) / problem.nobs,
              "n_iter": problem.n_iter if problem.n_iter is not None else len(costs) - 1,
              "projg": float(projg[-1]) if projg else float("nan"),
              "log_lkh": log_lkh, "log_prior": log_prior, "log_h": 0.0,
              "iter_cost": np.array(costs), "iter_projg": np.array(projg)}
    for key, value in values.items():
        if ret.get(key):
            out[key] = value
    if ret.get("serr_mu") or ret.get("serr_sigma"):
        mu, sigma = _serr.serr_moments(model)
        if ret.get("serr_mu"):
            out["serr_mu"] = mu
        if ret.get("serr_sigma"):
            out["serr_sigma"] = sigma
    return BayesianOptimize(**out)


def bayesian_optimize(model, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
                      common_options=None, return_options=None, callback=None):
    """Bayesian estimation of a copy of `model` (smash 1.x's bayesian_optimize).

    Maximizes the log-posterior log_lkh + log_prior of the controls (rr parameters and states of any
    mapping of `optimize`, hybrid net weights) and of the structural error parameters
    (`serr_mu_parameters`, `serr_sigma_parameters`) of the calibrated gauges, with any optimizer of
    `optimize`.

    Parameters
    ----------
    model : Model
    mapping : str, default "uniform"
        "uniform", "distributed", "multi-linear" or "multi-power".
    optimizer : str or None
        As for `optimize` (default: "sbs" for uniform, "lbfgsb" otherwise).
    optimize_options : dict or None
        As for `optimize`; `parameters` and `bounds` may also name structural error parameters
        (mg0, mg1, sg0, sg1, sg2). See `default_bayesian_optimize_options`.
    cost_options : dict or None
        `end_warmup`, `gauge` (the gauges whose likelihood is used and whose structural error
        parameters are estimated) and `control_prior` ({control name: [distribution, parameters]},
        distributions FlatPrior, Uniform, Gaussian, Exponential, LogNormal, Triangle, on raw values).
    common_options : dict or None
        `ncpu`, `verbose`.
    return_options : dict or None
        Keys of BAYESIAN_RETURN_KEYS set to True.
    callback : callable or None
        Called after each iteration with `iopt` (control_vector, cost, n_iter, projg).

    Returns
    -------
    Model, or (Model, BayesianOptimize) when `return_options` is given.
    """
    new = model.copy()
    result = run_bayesian_optimize(new, mapping, optimizer, optimize_options, cost_options, common_options,
                                   return_options, callback)
    return (new, result) if return_options else new


def bayesian_optimize_control_info(model, mapping="uniform", optimizer=None, optimize_options=None,
                                   cost_options=None) -> dict:
    """smash's description of the `bayesian_optimize` control vector.

    Parameters
    ----------
    model : Model
        The model to calibrate.
    mapping, optimizer, optimize_options, cost_options
        As given to `bayesian_optimize`.

    Returns
    -------
    dict
        As `optimize_control_info`, with the structural error controls and their counts in
        ``nbk[2]`` (mu) and ``nbk[3]`` (sigma).
    """
    _, _, _, _, control, _ = _prepare(model, mapping, optimizer, optimize_options, cost_options)
    return control.info()


def set_control_bayesian_optimize(model, control_vector, mapping="uniform", optimizer=None, optimize_options=None,
                                  cost_options=None) -> None:
    """Set `model`'s parameters, states and structural error parameters from a bayesian_optimize control vector."""
    _, _, _, _, control, _ = _prepare(model, mapping, optimizer, optimize_options, cost_options)
    x = np.asarray(control_vector, dtype=np.float64).ravel()
    if x.size != control.size:
        raise ValueError(f"control_vector has {x.size} values but this bayesian_optimize control has {control.size} "
                         "(see bayesian_optimize_control_info)")
    control.load_x(x)
    model._sync_parameters()
