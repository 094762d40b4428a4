"""Calibration: options, the control vector, its cost and gradient from the generated adjoint, and the
results; the optimizer loops are in smash.calibration.optimizers."""

from __future__ import annotations

import inspect
import time
import warnings

import numpy as np

from smash import _core
from smash.analysis.cost_options import REGULARIZATION_KEYS, build_cost_options, check_observations
from smash.calibration import regularization
from smash.calibration.control import MAPPINGS, build_control, default_parameters, nn_parameter_names, parse_parameters
from smash.calibration.descriptor_mapping import (
    DESCRIPTOR_MAPPINGS,
    DescriptorControl,
    UndefinedMapError,
    descriptor_choice,
)
from smash.calibration.optimizers import ADAPTIVE, OPTIMIZER_RUNS, OPTIMIZERS
from smash.docparams import shared_parameters
from smash.nn import regionalization
from smash.nn.regionalization import normalized_descriptors
from smash.progress import OptimizerLog
from smash.results import Result
from smash.simulation import memory, work_split
from smash.simulation.forward import check_common_options, check_return_keys, run_forward

OPTIONS_KEYS = ("parameters", "bounds", "control_tfm", "descriptor", "termination_crit", "learning_rate", "net",
                "random_state")
ALL_MAPPINGS = (*MAPPINGS, *DESCRIPTOR_MAPPINGS, "ann")
CRIT_KEYS = ("maxiter", "xatol", "fatol", "factr", "pgtol", "early_stopping")
# Outputs of the forward run at the result, as forward_run returns them.
FORWARD_OUTPUTS = ("time_step", "rr_states", "q_domain", "internal_fluxes")
OPTIMIZE_RETURN_KEYS = (*FORWARD_OUTPUTS, "control_vector", "net", "cost", "jobs", "jreg", "lcurve_wjreg", "n_iter",
                        "projg", "iter_cost", "iter_projg")
BACKWARD_RETURN_KEYS = (*FORWARD_OUTPUTS, "cost", "jobs", "jreg", "grad")


def _default_optimizer(mapping):
    return {"uniform": "sbs", "ann": "adam"}.get(mapping, "lbfgsb")


@shared_parameters
def default_optimize_options(model, mapping: str = "uniform", optimizer: str | None = None) -> dict:
    """Get the calibration options used when none are given.

    Parameters
    ----------
    model : Model
        The model (its structure gives the parameters, its descriptors the regionalization's inputs).
    {{mapping}}
    {{optimizer}}

    Returns
    -------
    dict
        The options (``parameters``, ``bounds``, ``control_tfm``, ``termination_crit``, and per mapping
        ``descriptor`` or ``net``, ``learning_rate``, ``random_state``), to edit and pass as
        ``optimize_options``.
    """
    if mapping not in ALL_MAPPINGS:
        raise ValueError(f"Unknown mapping {mapping!r}; choose one of {list(ALL_MAPPINGS)}")
    optimizer = optimizer or _default_optimizer(mapping)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}")
    if mapping == "ann" and optimizer not in ADAPTIVE:
        raise ValueError(f"mapping='ann' trains a neural network: use one of {list(ADAPTIVE)}, not {optimizer!r}")
    if mapping == "ann":
        return _default_ann_options(model, optimizer)
    parameters = default_parameters(model)
    bounds = {k: v for k, v in model.get_rr_parameters_bounds().items() if k in parameters}
    crit = {"sbs": {"maxiter": 50}, "lbfgsb": {"maxiter": 100, "factr": 1e6, "pgtol": 1e-12},
            "nelder-mead": {"maxiter": 200, "xatol": 1e-4, "fatol": 1e-4}, "powell": {"maxiter": 50}}.get(
        optimizer, {"maxiter": 200, "early_stopping": 0})
    options = {
        "parameters": parameters,
        "bounds": bounds,
        "control_tfm": "sbs" if optimizer == "sbs" else "normalize",
        "termination_crit": crit,
    }
    if mapping in DESCRIPTOR_MAPPINGS:
        rr = [p for p in parameters if p not in nn_parameter_names(model)]
        options["descriptor"] = {p: np.array(model.setup.descriptor_name, dtype="<U128") for p in rr}
    if optimizer in ADAPTIVE:
        # smash 1.3's defaults (default_optimize_options)
        options["learning_rate"] = {"sgd": 0.02, "adagrad": 0.02}.get(optimizer, 0.003)
    return options


# smash 1.3's defaults for mapping="ann" (measured): learning rate per optimizer.
ANN_LEARNING_RATES = {"adam": 0.003, "sgd": 0.02, "adagrad": 0.02, "rmsprop": 0.003}


def _default_ann_options(model, optimizer):
    """smash 1.3's ann defaults: rr parameters but ci, their bounds, its default net (undrawn)."""
    parameters = [p for p in default_parameters(model) if p not in nn_parameter_names(model)]
    bounds = {k: v for k, v in model.get_rr_parameters_bounds().items() if k in parameters}
    net = regionalization.default_net(model, [bounds[p] for p in parameters])
    return {"parameters": parameters, "bounds": bounds, "net": net,
            "learning_rate": ANN_LEARNING_RATES[optimizer], "random_state": None,
            "termination_crit": {"maxiter": 200, "early_stopping": 0}}


def _check_options(model, mapping, optimizer, optimize_options):
    optimizer = optimizer or _default_optimizer(mapping)
    options = default_optimize_options(model, mapping, optimizer)
    given = dict(optimize_options or {})
    if mapping == "ann":
        # The default net fits the default parameters: a net is built for the given ones at training.
        options["net"] = None
        if "control_tfm" in given:
            warnings.warn("optimize_options['control_tfm'] does not apply to mapping='ann' (its controls are "
                          "the net's weights): ignored", UserWarning, stacklevel=3)
            given.pop("control_tfm")
    unknown = set(given) - set(OPTIONS_KEYS)
    if unknown:
        raise ValueError(f"Unknown optimize option(s) {sorted(unknown)}; valid: {list(OPTIONS_KEYS)}")
    crit = dict(options["termination_crit"])
    for key, value in (given.pop("termination_crit", None) or {}).items():
        if key not in CRIT_KEYS:
            raise ValueError(f"Unknown termination_crit {key!r}; valid: {list(CRIT_KEYS)}")
        crit[key] = value
    # None means smash's default for every option.
    given = {k: v for k, v in given.items() if v is not None}
    if "parameters" in given:
        given["parameters"] = parse_parameters(model, given["parameters"])
        if "bounds" not in given:
            given["bounds"] = {}
    if "descriptor" in given and mapping not in DESCRIPTOR_MAPPINGS:
        given.pop("descriptor")   # smash uses it with multi-linear / multi-power only
    options.update(given)
    options["termination_crit"] = crit
    if mapping in DESCRIPTOR_MAPPINGS and "descriptor" not in given:
        options["descriptor"] = {p: np.array(model.setup.descriptor_name, dtype="<U128")
                                 for p in options["parameters"] if p not in nn_parameter_names(model)}
    if options.get("control_tfm") == "sbs" and optimizer != "sbs":   # ann has no control_tfm
        raise ValueError(f"control_tfm 'sbs' goes with the sbs optimizer only; with {optimizer!r} use "
                         "'normalize' or 'keep'")
    if optimizer in ("nelder-mead", "powell", "sbs") and mapping != "uniform":
        raise ValueError(f"optimizer {optimizer!r} suits the uniform mapping only (too many controls otherwise)")
    maxiter = crit.get("maxiter")
    if not isinstance(maxiter, (int, np.integer)) or maxiter < 0:
        raise ValueError(f"termination_crit['maxiter'] must be a non-negative integer, got {maxiter!r}")
    return optimizer, options


def _build_control(model, mapping, options):
    if mapping == "ann":
        # smash 1.3's backward_run fails on it too; optimize and optimize_control_info handle it.
        raise ValueError("mapping='ann' is for optimize and optimize_control_info: its controls are the weights "
                         "of a net trained by optimize")
    if mapping not in DESCRIPTOR_MAPPINGS:
        return build_control(model, mapping, options["parameters"], options["bounds"], options["control_tfm"])
    if np.shape(model.physio_data.descriptor)[-1] == 0:
        raise ValueError(f"mapping={mapping!r} needs physical descriptors (it maps them to the parameters) and the "
                         "model has none: "
                         "set setup['read_descriptor'] = True and setup['descriptor_name'], or use "
                         "mapping='uniform' or 'distributed'")
    normalized_descriptors(model)
    base = build_control(model, "distributed", options["parameters"], options["bounds"], options["control_tfm"])
    control = DescriptorControl(model, mapping, base.names, base.kinds, base.lower, base.upper,
                                options["control_tfm"], base.nn_names)
    control.descriptor_index = descriptor_choice(model, base.names, options.get("descriptor"))
    return control


class _Problem:
    """Cost and gradient of the control vector x, counting evaluations."""

    def __init__(self, model, control, fcost):
        self.model, self.control, self.fcost = model, control, fcost
        net, s = model.network, model.structure
        self.output = _core.new_output(net.gauge_cell.size, net.nac, model.setup.ntime_step, len(s.rr_states),
                                       len(s.fluxes), 0, False, False, False)
        self.mesh = None  # the model's own mesh; backward_run on q gives one with a gauge at every cell
        self.grad = model._new_core_parameters()
        self.nfg = 0
        self.tape_checked = False  # the adjoint's tape size is checked against the memory once
        self.checkpoints = None   # memory.CheckpointPlan of the gradients, chosen with that check
        self.undefined = None     # message of the last control whose maps had no value
        self.n_iter = None        # the optimizer's own iteration count, where it differs from len(costs) - 1
        self.reset_best()

    def reset_best(self):
        """Forget the best evaluated point (each calibration cycle starts afresh)."""
        self.best_x, self.best_j = None, np.inf

    def _record(self, x, j):
        # The point an interrupted calibration falls back to (see _settle_interrupted).
        if np.isfinite(j) and j < self.best_j:
            self.best_x, self.best_j = np.array(x, dtype=np.float64, copy=True), float(j)

    def cost_here(self) -> float:
        """J of the model's maps as they stand (no control loaded)."""
        m = self.model
        m._sync_parameters()
        _core.run_forward(m, self.fcost, self.output, self.mesh)
        return float(self.output.cost)

    def _load(self, x):
        self.control.load_x(x)
        self.model._sync_parameters()

    def cost(self, x) -> float:
        self._load(x)
        m = self.model
        _core.run_forward(m, self.fcost, self.output, self.mesh)
        self.nfg += 1
        j = float(self.output.cost)
        self._record(x, j)
        return j

    def _adjoint(self, x) -> float | None:
        """Load `x` and run the forward model and its adjoint (gradients into self.grad): the cost, or
        None where the mapping has no maps (`undefined` then says why)."""
        try:
            self._load(x)
        except UndefinedMapError as err:
            self.undefined = str(err)
            self.nfg += 1
            return None
        if not self.tape_checked:
            # One checkpointing for the whole calibration (its chunks fix the order of a few additions),
            # planned once: its tape is checked against the memory available before the core grows it.
            self.checkpoints = memory.gradient_plan(self.model)
            memory.check_gradient(self.model, self.checkpoints)
            memory.log_plan(self.checkpoints)
            self.tape_checked = True
        with memory.gradient_checkpoints(self.model, self.checkpoints):
            cost = _core.run_adjoint(self.model, self.fcost, self.output, self.grad, self.mesh)
        self.nfg += 1
        return cost

    def cost_grad(self, x):
        cost = self._adjoint(x)
        if cost is None:
            # No maps there: an infinite cost makes a line search step back (smash's L-BFGS-B stops too).
            return float("inf"), np.zeros(np.size(x))
        g = self.control.gradient_x(x, np.array(self.grad.rr_parameters), np.array(self.grad.rr_initial_states),
                                    np.array(self.grad.nn_parameters))
        self._record(x, float(cost))
        return float(cost), g


def _forward_outputs(model, ret, cost_options, ncpu) -> dict:
    """Run `model` as it stands, returning the forward outputs `ret` asks for (FORWARD_OUTPUTS)."""
    wanted = {k: ret[k] for k in FORWARD_OUTPUTS if k in ret}
    result = run_forward(model, _observation_options(cost_options), {"ncpu": ncpu}, wanted)
    return {} if result is None else dict(result.__dict__)


class Optimize(Result):
    """What an optimization returns on request (OPTIMIZE_RETURN_KEYS): the forward outputs at the
    result (`time_step`, `rr_states`, `q_domain`, `internal_fluxes`), `cost`, `jobs`, `jreg`,
    `control_vector`, `n_iter`, `projg` (last projected gradient), `iter_cost`, `iter_projg`,
    `lcurve_wjreg`, `net`.

    Parameters
    ----------
    **values
        The results, by name (made by `optimize`, not by users).
    """


def _restore_maps(model, start_maps) -> None:
    """Put back the parameters, initial states (and hybrid net) saved before the calibration."""
    model.rr_parameters.values[...], model.rr_initial_states.values[...] = start_maps[0], start_maps[1]
    if start_maps[2]:
        model._nn_weight = [w.copy() for w in start_maps[2]]
        model._nn_bias = [b.copy() for b in start_maps[3]]
    model._sync_parameters()


def _settle_interrupted(model, problem, control, start_maps, cost_options, ncpu) -> None:
    """After a KeyboardInterrupt: leave the model at the better of its state before the call and the
    best point the calibration evaluated, with the response of a forward run there."""
    best_x, best_j = problem.best_x, problem.best_j
    _restore_maps(model, start_maps)
    if best_x is not None and best_j < problem.cost_here():
        control.load_x(best_x)
        model._sync_parameters()
    run_forward(model, _observation_options(cost_options), {"ncpu": ncpu}, None)


def _observation_options(cost_options):
    """The cost options a plain forward run understands (no regularization keys)."""
    return {k: v for k, v in (cost_options or {}).items() if k not in REGULARIZATION_KEYS}


class OptimizeIteration(Result):
    """What `callback` receives after each iteration of an optimizer (smash 1.3's attributes):
    `control_vector` (the iterate, in the control_tfm space), `cost` (J there), `n_iter` (1, 2, ...)
    and, for gradient-based optimizers, `projg` (the projected gradient's largest component)."""


_NO_PROJG = object()


def _callback_report(callback):
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):
        params = {}
    if "iopt" not in params:
        # smash 1.3 passes the iteration as the keyword argument iopt.
        raise ValueError("callback must have an 'iopt' argument, e.g. def callback(iopt): ...")

    def report(it, x, j, projg=_NO_PROJG):
        # As smash: sbs gives no projg, nelder-mead and powell projg=None, gradient methods a number.
        values = {"control_vector": np.array(x, dtype=np.float64), "cost": float(j), "n_iter": int(it)}
        if projg is not _NO_PROJG:
            values["projg"] = None if projg is None else float(projg)
        callback(iopt=OptimizeIteration(**values))

    return report


def run_optimize(model, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
                 common_options=None, return_options=None, callback=None):
    """Calibrate `model` in place; return an Optimize when `return_options` asks for outputs.

    `callback`, when given, is called after each iteration with an OptimizeIteration.

    Nothing to calibrate against (no gauge, every gauge weight 0, a gauge of the cost without observations
    its metrics can score) is a ValueError naming the gauge, raised before any change. With
    termination_crit maxiter=0 the model keeps its parameters and states exactly. A KeyboardInterrupt
    leaves the model at the better of its state before the call and the best point evaluated, with the
    response of a forward run there, and is re-raised; any other error restores the state before the call."""
    report = _callback_report(callback)
    # Optimizer logs are shown unless asked otherwise, as in smash.
    common = check_common_options(common_options, verbose=True)
    optimizer, options = _check_options(model, mapping, optimizer, optimize_options)
    cost_opts, fcost = build_cost_options(model, cost_options, regularization=True)
    check_observations(model, fcost)
    ret = _optimize_return_keys(return_options, cost_opts)
    control = _optimize_control(model, mapping, options)
    # The adjoint's cell sweeps run on ncpu threads too.
    work_split.use_threads(model, common["ncpu"])
    x0 = control.x_from_model()
    if cost_opts["reg"]:
        regularization.attach(model, control, fcost, cost_opts["reg"], x0, mapping)
    problem = _Problem(model, control, fcost)
    first_guess = (x0, *control.bounds_x())
    start_maps = _saved_maps(model)
    log = OptimizerLog(common["verbose"])

    def calibrate():
        return _calibrate_once(problem, first_guess, start_maps, mapping, optimizer, options, common["verbose"], log,
                               report)

    log("</> Optimize")
    t0 = time.perf_counter()
    try:
        if cost_opts["reg"]:
            (net, x, costs, projg), lcurve = regularization.run_cycles(calibrate, fcost, cost_opts["reg"], log)
        else:
            (net, x, costs, projg), lcurve = calibrate()[0], None
        jobs, jreg = float(problem.output.jobs), float(problem.output.jreg)
        elapsed = time.perf_counter() - t0
        _place_result(model, control, x, int(options["termination_crit"]["maxiter"]), start_maps)
        forward = _forward_outputs(model, ret, cost_options, common["ncpu"])
    except KeyboardInterrupt:
        # Ctrl-C: never leave a trial point and a stale response behind; the caller still gets the interrupt.
        _settle_interrupted(model, problem, control, start_maps, cost_options, common["ncpu"])
        raise
    except Exception:
        # An error mid-calibration (a non-finite trial, a failing callback): the model as it was before
        # the call, not the failing trial's maps (its response was not touched).
        _restore_maps(model, start_maps)
        raise
    if not ret:
        return None
    out = {"time": elapsed, **forward, **_requested_results(ret, net, x, costs, projg, jobs, jreg, lcurve)}
    out["n_iter"] = problem.n_iter if problem.n_iter is not None else len(costs) - 1
    return Optimize(**out)


def _optimize_return_keys(return_options, cost_opts) -> dict:
    ret = check_return_keys(return_options, OPTIMIZE_RETURN_KEYS)
    if ret.get("lcurve_wjreg") and not (cost_opts["reg"] and cost_opts["reg"]["wjreg"] == "lcurve"):
        raise ValueError("return_options['lcurve_wjreg'] needs cost_options['wjreg'] = 'lcurve'")
    return ret


def _saved_maps(model):
    """The parameters, initial states (and hybrid net) as they stand, for _restore_maps."""
    return (model.rr_parameters.values.copy(), model.rr_initial_states.values.copy(),
            [w.copy() for w in getattr(model, "_nn_weight", [])],
            [b.copy() for b in getattr(model, "_nn_bias", [])])


def _place_result(model, control, x, maxiter, start_maps) -> None:
    """Leave the model with the calibration's result x."""
    if maxiter == 0:
        # No iteration: the model keeps its parameters and states exactly (a round trip through
        # the control space, or a uniform control's spatial mean, would change them).
        _restore_maps(model, start_maps)
    else:
        # Leave the model with the optimum and its simulated discharge.
        control.load_x(x)


def _optimize_control(model, mapping, options):
    """The control vector optimize works on for this mapping and options."""
    if mapping != "ann":
        return _build_control(model, mapping, options)
    # The net's outputs are raw maps: a distributed control without transform.
    control = build_control(model, "distributed", options["parameters"], options["bounds"], "keep")
    control.network_order = True
    return control


def _calibrate_once(problem, first_guess, start_maps, mapping, optimizer, options, verbose, log, report):
    """One calibration from `first_guess` (x0 and the bounds of x), the model's maps first reset to
    `start_maps`: ((net, x, costs, projg), jobs, jreg, J, J at the first guess)."""
    model, control = problem.model, problem.control
    x0, lower, upper = first_guess
    # Every cycle starts from the same first guess, and counts its own evaluations.
    problem.nfg = 0
    problem.n_iter = None
    problem.reset_best()
    _restore_maps(model, start_maps)
    net = None
    # A bar over the iterations under the iterate lines (none when verbose=False).
    maxiter = int(options["termination_crit"]["maxiter"])
    with OptimizerLog(verbose, maxiter, f"Optimize ({optimizer}, {mapping})") as step_log:
        if mapping == "ann":
            net, x, costs, projg, reason = _train_ann(problem, model, control, optimizer, options, step_log)
        else:
            run = OPTIMIZER_RUNS[optimizer]
            x, costs, projg, reason = run(problem, x0, lower, upper, optimizer, options, step_log, report)
    log(f"    STOP: {reason}")
    # Every optimizer ends by evaluating its result: the output holds its terms.
    out = problem.output
    # J at the first guess; it is J_obs there when wjreg = 0 (the first automatic cycle).
    start = costs[0] if costs else float("nan")
    return ((net, x, costs, projg), float(out.jobs), float(out.jreg), float(out.cost), start)


def _requested_results(ret, net, x, costs, projg, jobs, jreg, lcurve) -> dict:
    """The calibration results `ret` asks for (OPTIMIZE_RETURN_KEYS but the forward outputs and n_iter)."""
    out = {}
    if ret.get("cost"):
        out["cost"] = costs[-1] if costs else float("nan")
    if ret.get("jobs"):
        out["jobs"] = jobs
    if ret.get("jreg"):
        out["jreg"] = jreg
    if ret.get("lcurve_wjreg"):
        out["lcurve_wjreg"] = lcurve
    if ret.get("iter_cost"):
        out["iter_cost"] = np.array(costs)
    if ret.get("iter_projg"):
        out["iter_projg"] = np.array(projg)
    if ret.get("projg"):
        # Gradient-free optimizers (sbs, nelder-mead, powell) have none.
        out["projg"] = float(projg[-1]) if projg else float("nan")
    if ret.get("control_vector"):
        # With mapping="ann" the controls are the net's weights and biases (smash's order).
        out["control_vector"] = np.array(x) if net is None else _ann_vector(net)
    if ret.get("net"):
        if net is None:
            raise ValueError("return_options['net'] needs mapping='ann'")
        out["net"] = net
    return out


def _train_ann(problem, model, control, optimizer, options, log):
    """Train a copy of the user's net (smash's default net when none is given); the user's net stays
    as given, and the trained copy is returned (through return_options['net'])."""
    bounds = list(zip(control.lower.tolist(), control.upper.tolist(), strict=True))
    net, out_bounds = regionalization.prepare_net(options.get("net"), model, control.names, bounds,
                                                  options.get("random_state"))
    # The maps live within the net's output bounds (its Scale layer's when they differ).
    control.lower[:], control.upper[:] = np.array(out_bounds).T
    x, costs, projg, reason = regionalization.train_ann(problem, model, net, dict(options, optimizer=optimizer), log)
    return net, x, costs, projg, reason


def _ann_vector(net):
    return regionalization.ann_control_vector(net)


def _ann_control_info(model, optimizer, options) -> dict:
    """optimize_control_info for mapping="ann": the net's weights and biases, unbounded (smash 1.3's keys)."""
    control = build_control(model, "distributed", options["parameters"], options["bounds"], "keep")
    bounds = list(zip(control.lower.tolist(), control.upper.tolist(), strict=True))
    net, _ = regionalization.prepare_net(options.get("net"), model, control.names, bounds, options.get("random_state"))
    x = regionalization.ann_control_vector(net)
    n = x.size
    inf = np.full(n, np.inf)
    # nbk counts the controls per kind; smash puts the regionalization net's in the last slot.
    return {"l": -inf, "l_raw": -inf.copy(), "n": n, "name": np.array(regionalization.ann_control_names(net)),
            "nbd": np.zeros(n), "nbk": np.array([0, 0, 0, 0, 0, n]), "u": inf.copy(), "u_raw": inf.copy(),
            "x": x, "x_raw": x.copy()}


@shared_parameters
def optimize(model, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
             common_options=None, return_options=None, callback=None):
    """Calibrate a copy of a model.

    Parameters
    ----------
    model : Model
        The model to calibrate (left unchanged); its current parameters are the first guess.
    {{mapping}}
    {{optimizer}}
    {{optimize_options}}
    {{cost_options}}
    {{common_options}}
    return_options : dict, optional
        Results to return, as ``{name: True}``: ``cost``, ``jobs``, ``jreg``, ``lcurve_wjreg``,
        ``control_vector``, ``n_iter``, ``projg``, ``iter_cost``, ``iter_projg``, ``net`` (ann), and the
        forward outputs ``time_step``, ``rr_states``, ``q_domain``, ``internal_fluxes`` at the result.
    callback : callable, optional
        Called after each iteration as ``callback(iopt=...)`` with an OptimizeIteration (``control_vector``,
        ``cost``, ``n_iter``, and ``projg`` for gradient-based optimizers), as in smash 1.3.

    Returns
    -------
    model : Model
        The calibrated copy.
    result : Optimize
        The results asked for; returned only when `return_options` is given.

    Examples
    --------
    >>> import smash
    >>> model = smash.Model(*smash.factory.load_dataset("synthetic"))
    >>> calibrated = smash.optimize(model, optimize_options={"termination_crit": {"maxiter": 2}})
    """
    new = model.copy()
    result = run_optimize(new, mapping, optimizer, optimize_options, cost_options, common_options, return_options,
                          callback)
    return (new, result) if return_options else new


@shared_parameters
def optimize_control_info(model, mapping="uniform", optimizer=None, optimize_options=None) -> dict:
    """Describe the control vector of a calibration, as smash 1.3 does.

    Parameters
    ----------
    model : Model
        The model to calibrate.
    {{mapping}}
    {{optimizer}}
    {{optimize_options}}

    Returns
    -------
    dict
        ``n``, ``nbk`` (sizes per kind: rr parameters, rr initial states, two unused kinds, the hybrid net,
        the regionalization net), ``name``, ``x``, ``l``, ``u`` (in the control_tfm space), ``nbd``
        (0 unbounded, 1 lower only, 2 both, 3 upper only) and ``x_raw``, ``l_raw``, ``u_raw``
        (untransformed).
    """
    optimizer, options = _check_options(model, mapping, optimizer, optimize_options)
    if mapping == "ann":
        return _ann_control_info(model, optimizer, options)
    return _build_control(model, mapping, options).info()


def set_control_optimize(model, control_vector, mapping="uniform", optimizer=None, optimize_options=None) -> None:
    """Set `model`'s parameters, states (and hybrid net) from a control vector of this mapping and options."""
    optimizer, options = _check_options(model, mapping, optimizer, optimize_options)
    control = _build_control(model, mapping, options)
    x = np.asarray(control_vector, dtype=np.float64).ravel()
    if x.size != control.size:
        raise ValueError(f"control_vector has {x.size} values but mapping={mapping!r} with these options has "
                         f"{control.size} controls (see optimize_control_info)")
    control.load_x(x)
    model._sync_parameters()


class BackwardRun(Result):
    """`cost`, `jobs`, `jreg` and `grad` (dJ/dcontrol, in the control_tfm space) of a backward run, and
    the forward outputs (`time_step`, `rr_states`, `q_domain`, `internal_fluxes`) at the same point.

    Parameters
    ----------
    **values
        The results, by name (made by `backward_run`, not by users).
    """


def run_backward(model, diff_target="j", cotangent=None, mapping="uniform", optimizer=None, optimize_options=None,
                 cost_options=None, common_options=None, return_options=None):
    if diff_target not in ("j", "q"):
        raise ValueError(f"Unknown diff_target {diff_target!r}; choose 'j' (the cost) or 'q' (the discharge)")
    common = check_common_options(common_options)
    work_split.use_threads(model, common["ncpu"])
    # smash's defaults: the mapping's default optimizer and its control_tfm (sbs space for uniform).
    optimizer, options = _check_options(model, mapping, optimizer, optimize_options)
    control = _build_control(model, mapping, options)
    if diff_target == "q":
        return _backward_q(model, control, cotangent, common, return_options)
    cost_opts, fcost = build_cost_options(model, cost_options, regularization=True)
    check_observations(model, fcost)
    saved = (model.rr_parameters.values.copy(), model.rr_initial_states.values.copy())
    x = control.x_from_model()
    if cost_opts["reg"]:
        if isinstance(cost_opts["reg"]["wjreg"], str):
            raise ValueError(f"wjreg={cost_opts['reg']['wjreg']!r} is chosen by calibrating: use optimize, "
                             "or give backward_run a number")
        # The prior is the current point, where prior and smoothing terms vanish.
        regularization.attach(model, control, fcost, cost_opts["reg"], x, mapping)
    ret = check_return_keys(return_options, BACKWARD_RETURN_KEYS) if return_options else {"cost": True, "grad": True}
    problem = _Problem(model, control, fcost)
    cost, grad = problem.cost_grad(x)
    # At the point the gradient was taken: a uniform control is the spatial mean of the maps.
    out = _forward_outputs(model, ret, cost_options, common["ncpu"]) if set(ret) & set(FORWARD_OUTPUTS) else {}
    # A uniform control is the spatial mean: evaluating it must not flatten the user's maps.
    model.rr_parameters.values[...], model.rr_initial_states.values[...] = saved
    scale = 1.0 if cotangent is None else float(cotangent)
    if ret.get("cost"):
        out["cost"] = cost
    if ret.get("jobs"):
        out["jobs"] = float(problem.output.jobs)
    if ret.get("jreg"):
        out["jreg"] = float(problem.output.jreg)
    if ret.get("grad"):
        out["grad"] = scale * grad
    return BackwardRun(**out)


def _q_target_cotangent(model, cotangent) -> np.ndarray:
    """The cotangent of q on active cells as smash takes it: (nac, ntime_step), cells in smash's
    column-major order (ones when not given); returned in the network's cell order, float64."""
    net = model.network
    shape = (net.nac, model.setup.ntime_step)
    if cotangent is None:
        return np.ones(shape)
    cot = np.asarray(cotangent, dtype=np.float64)
    if cot.shape != shape:
        raise ValueError(f"cotangent for diff_target='q' must have shape (mesh.nac, setup.ntime_step) = {shape}, "
                         f"got {cot.shape}")
    if not np.all(np.isfinite(cot)):
        raise ValueError("cotangent for diff_target='q' must be finite")
    out = np.empty(shape)
    out[np.lexsort((net.rows, net.cols))] = cot
    return out


def _backward_q(model, control, cotangent, common, return_options) -> BackwardRun:
    """Gradient of sum over active cells and steps of cotangent * q, by the generated adjoint: the
    core runs with a gauge at every active cell and its cost is that sum (md_cost_options q_target)."""
    ret = check_return_keys(return_options, BACKWARD_RETURN_KEYS) if return_options else {"grad": True}
    net, fm = model.network, _core.mesh_of(model)
    cot = _q_target_cotangent(model, cotangent)
    qmesh = _core.new_mesh(int(fm.nrow), int(fm.ncol), net.nac, net.nac, int(np.size(fm.up_cell)),
                           int(fm.tree_depth))
    for name in ("cell_row", "cell_col", "up_start", "up_cell", "dx", "dy", "up_area", "node_first",
                 "trunk_first", "node_last"):
        getattr(qmesh, name)[...] = getattr(fm, name)
    qmesh.gauge_cell[:] = np.arange(1, net.nac + 1)
    _, fcost = build_cost_options(model, None)
    _core.allocate_q_target(fcost, net.nac, model.setup.ntime_step)
    fcost.q_cotangent[...] = cot
    saved = (model.rr_parameters.values.copy(), model.rr_initial_states.values.copy())
    x = control.x_from_model()
    problem = _Problem(model, control, fcost)
    s = model.structure
    problem.output = _core.new_output(net.nac, net.nac, model.setup.ntime_step, len(s.rr_states), len(s.fluxes), 0,
                                      False, False, False)
    problem.mesh = qmesh
    cost, grad = problem.cost_grad(x)
    out = _forward_outputs(model, ret, None, common["ncpu"]) if set(ret) & set(FORWARD_OUTPUTS) else {}
    model.rr_parameters.values[...], model.rr_initial_states.values[...] = saved
    if ret.get("cost"):
        out["cost"] = cost
    if ret.get("grad"):
        out["grad"] = grad
    return BackwardRun(**out)


@shared_parameters
def backward_run(model, diff_target="j", cotangent=None, mapping="uniform", optimizer=None, optimize_options=None,
                 cost_options=None, common_options=None, return_options=None):
    """Compute the cost and its gradient with respect to the control vector.

    The gradient is in the control_tfm space of the mapping's default optimizer unless `optimize_options`
    say otherwise (sbs space for "uniform", as smash 1.3).

    Parameters
    ----------
    model : Model
        The model (left unchanged).
    diff_target : {"j", "q"}, default "j"
        Differentiate the cost, or the discharge on the active cells.
    cotangent : float or numpy.ndarray, optional
        The seed of the adjoint: a factor of the cost for "j", a (nac, ntime_step) array for "q".
    {{mapping}}
    {{optimizer}}
    {{optimize_options}}
    {{cost_options}}
    {{common_options}}
    return_options : dict, optional
        Results to return, as ``{name: True}``: ``cost``, ``jobs``, ``jreg``, ``grad``, and the forward
        outputs ``time_step``, ``rr_states``, ``q_domain``, ``internal_fluxes``.

    Returns
    -------
    model : Model
        The run copy.
    result : BackwardRun
        The results asked for; returned only when `return_options` is given (smash 1.x signature).
    """
    new = model.copy()
    result = run_backward(new, diff_target, cotangent, mapping, optimizer, optimize_options, cost_options,
                          common_options, return_options)
    return (new, result) if return_options else new
