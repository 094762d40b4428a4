"""The optimizers of a calibration: each runs from a first guess on a problem's cost (and gradient).

Every run is called as run(problem, x0, lower, upper, optimizer, options, log, report) and returns
(x, costs, projg, stop reason); `problem` is the calibration's cost and gradient of the control vector
(smash.calibration.optimize._Problem).
"""

from __future__ import annotations

import warnings

import numpy as np

from smash.nn.adaptive import AdaptiveStep, BestIterate
from smash.progress import iterate_line

OPTIMIZERS = ("sbs", "lbfgsb", "nelder-mead", "powell", "adam", "sgd", "adagrad", "rmsprop")
ADAPTIVE = ("adam", "sgd", "adagrad", "rmsprop")


def _sbs(problem, x, lower, upper, optimizer, options, log, report=None):
    """Step-by-step search (Michel, 1989) in the sbs control space, as smash 1.3 runs it.

    An inner iteration tries x +- ddx on every control from the current point
    (not the move that would undo the last successful one) and moves to the
    best trial. A failed inner iteration halves ddx; more than 2n successes in
    a row double it. After the first 4n inner iterations each one ends with a
    "diagonal" trial along a running mean of the recent moves. A printed
    iteration is n inner iterations.

    Black-box checks against smash 1.3 on Lez: the trial counts, moves, steps
    and costs of the first 4n inner iterations match exactly (e.g. gr4 default
    nfg 1, 30, 58 and J 0.686, 0.352, 0.181); smash's diagonal step is not
    reproduced exactly, so later iterations follow a close but different path.
    """
    maxiter = int(options["termination_crit"]["maxiter"])
    n = x.size
    j = problem.cost(x)
    costs = [j]
    ddx, successes, undo, inner = 0.64, 0, None, 0
    clg = 0.7 ** (1.0 / max(n, 1))
    momentum = np.zeros_like(x)
    log(iterate_line(0, problem.nfg, j, ddx=ddx), 0, j)
    reason = "TOTAL NO. OF ITERATIONS REACHED LIMIT"
    for it in range(1, maxiter + 1):
        for _ in range(n):
            if ddx < 0.01:
                reason = "CONVERGENCE: DDX < 0.01"
                break
            inner += 1
            start = x.copy()
            best_j, best_move = _sbs_best_trial(problem, x, j, ddx, undo, lower, upper)
            if best_move is None:
                ddx /= 2
                successes, undo = 0, None
            else:
                i, sign, x = best_move
                j = best_j
                undo = (i, -sign)
                successes += 1
                if successes > 2 * n:
                    ddx *= 2
                    successes = 0
            momentum = clg * momentum + (1 - clg) * (x - start)
            if inner > 4 * n and np.any(momentum != 0):
                xt = np.clip(x + momentum, lower, upper)
                jt = problem.cost(xt)
                if jt < j:
                    x, j = xt, jt
        costs.append(j)
        log(iterate_line(it, problem.nfg, j, ddx=ddx), it, j)
        if report:
            report(it, x, j)
        if reason.startswith("CONVERGENCE"):
            break
    problem.cost(x)
    return x, costs, [], reason


def _sbs_best_trial(problem, x, j, ddx, undo, lower, upper):
    """The best of the trials x +- ddx on each control (skipping the move `undo` and trials the bounds
    clip to x), as (J, (control, sign, point)); (j, None) when none improves on j."""
    best_j, best_move = j, None
    for i in range(x.size):
        for sign in (1.0, -1.0):
            if undo == (i, sign):
                continue
            xt = x.copy()
            xt[i] = np.clip(x[i] + sign * ddx, lower[i], upper[i])
            if xt[i] == x[i]:
                continue
            jt = problem.cost(xt)
            if jt < best_j:
                best_j, best_move = jt, (i, sign, xt)
    return best_j, best_move


def _lbfgsb(problem, x, lower, upper, optimizer, options, log, report=None):
    from scipy.optimize import minimize

    crit = options["termination_crit"]
    state = {"it": 0, "costs": [], "projg": [], "x": np.array(x, dtype=float)}

    def projected_gradient_norm(xk, g):
        # smash 1.3 logs and returns the largest |dJ/dx_i|, bounds or not (measured on Cance: 2.95745 at
        # a first guess cp = 0.2 in [0, 1] with dJ/dcp = 2.95745, where a projection would give 0.2).
        return float(np.max(np.abs(g))) if np.size(g) else 0.0

    cost0, g0 = problem.cost_grad(x)
    state["costs"].append(cost0)
    state["projg"].append(projected_gradient_norm(x, g0))
    log(iterate_line(0, problem.nfg, cost0, projg=state["projg"][-1]), 0, cost0)
    # scipy starts by evaluating x itself: hand it the evaluation above rather than
    # counting a second one (smash's nfg counts it once).
    last = {"x": np.array(x, dtype=float), "j": cost0, "g": g0}

    def fun(xk):
        if np.array_equal(last["x"], xk):
            return last["j"], last["g"]
        j, g = problem.cost_grad(xk)
        last.update(x=xk.copy(), j=j, g=g)
        return j, g

    def callback(intermediate_result):
        xk, j = intermediate_result.x, intermediate_result.fun
        if state.get("x") is not None and np.array_equal(state["x"], xk):
            return   # a failed line search leaves the iterate where it was: no new iteration
        state["x"] = np.array(xk, dtype=float)
        state["it"] += 1
        g = last["g"] if np.array_equal(last.get("x"), xk) else problem.cost_grad(xk)[1]
        state["costs"].append(j)
        state["projg"].append(projected_gradient_norm(xk, g))
        log(iterate_line(state["it"], problem.nfg, j, projg=state["projg"][-1]), state["it"], j)
        if report:
            report(state["it"], xk, j, state["projg"][-1])

    if int(crit["maxiter"]) == 0:
        # scipy's L-BFGS-B takes a first step even with maxiter=0: no iteration means no step.
        return np.array(x, dtype=float), state["costs"], state["projg"], "TOTAL NO. OF ITERATIONS REACHED LIMIT"
    res = minimize(fun, x, jac=True, method="L-BFGS-B", bounds=list(zip(lower, upper, strict=True)),
                   callback=callback,
                   options={"maxiter": int(crit["maxiter"]), "ftol": float(crit.get("factr", 1e6)) * 2.2e-16,
                            "gtol": float(crit.get("pgtol", 1e-12)), "maxls": 20})
    reason = "TOTAL NO. OF ITERATIONS REACHED LIMIT" if state["it"] >= crit["maxiter"] else str(res.message)
    if problem.undefined and state["it"] < crit["maxiter"]:
        warnings.warn(f"L-BFGS-B stopped at iteration {state['it']}: its steps led to undefined maps "
                      f"({problem.undefined})", stacklevel=4)
    problem.cost(res.x)
    return res.x, state["costs"], state["projg"], reason


def _scipy_free(problem, x, lower, upper, method, options, log, report=None):
    from scipy.optimize import minimize

    crit = options["termination_crit"]
    costs = [problem.cost(x)]
    log(iterate_line(0, problem.nfg, costs[0]), 0, costs[0])

    def fun(xk):
        return problem.cost(np.clip(xk, lower, upper))

    def callback(intermediate_result):
        costs.append(float(intermediate_result.fun))
        log(iterate_line(len(costs) - 1, problem.nfg, costs[-1]), len(costs) - 1, costs[-1])
        if report:
            report(len(costs) - 1, np.clip(intermediate_result.x, lower, upper), costs[-1], None)

    if int(crit["maxiter"]) == 0:
        problem.n_iter = 0
        return np.array(x, dtype=float), costs, [], "TOTAL NO. OF ITERATIONS REACHED LIMIT"
    method_name = {"nelder-mead": "Nelder-Mead", "powell": "Powell"}[method]
    scipy_options = {"maxiter": int(crit["maxiter"])}
    if method == "nelder-mead":
        scipy_options.update(xatol=float(crit.get("xatol", 1e-4)), fatol=float(crit.get("fatol", 1e-4)))
    res = minimize(fun, x, method=method_name, bounds=list(zip(lower, upper, strict=True)), callback=callback,
                   options=scipy_options)
    xk = np.clip(res.x, lower, upper)
    # scipy's count, as smash reports it (Nelder-Mead counts its first simplex as an iteration).
    problem.n_iter = int(res.nit)
    problem.cost(xk)
    return xk, costs, [], str(res.message)


def _adaptive(problem, x, lower, upper, method, options, log, report=None):
    """First-order methods for many controls, projected onto the bounds; keep the best iterate."""
    crit, learning_rate = options["termination_crit"], float(options.get("learning_rate", 0.003))
    maxiter, patience = int(crit["maxiter"]), int(crit.get("early_stopping") or 0)
    # smash 1.3's rules for a control vector (see smash.nn.adaptive).
    rule = AdaptiveStep(method, learning_rate, smash_control=True)
    x0, best = x.copy(), BestIterate(patience)
    costs, projg = [], []
    reason = "TOTAL NO. OF ITERATIONS REACHED LIMIT"
    for it in range(maxiter + 1):
        j, g = problem.cost_grad(x)
        costs.append(j)
        # smash's projg: the largest |dJ/dx_i| (as for L-BFGS-B).
        projg.append(float(np.max(np.abs(g))) if g.size else 0.0)
        log(iterate_line(it, problem.nfg, j, projg=projg[-1]), it, j)
        if report and it > 0:
            report(it, x, j, projg[-1])
        if best.offer(it, j, x.copy()):
            reason = f"EARLY STOPPING: NO IMPROVEMENT FOR {patience} ITERATIONS"
            break
        if it == maxiter:
            break
        rule.next_iteration()
        step = rule.step("x", g)
        x = np.clip(x - step, lower, upper)
    # When no iterate has a finite cost, the first guess stands.
    best_x = x0 if best.value is None else best.value
    problem.cost(best_x)
    return best_x, costs, projg, reason


# Optimizer name -> its run, all called as run(problem, x0, lower, upper, optimizer, options, log, report)
# and returning (x, costs, projg, stop reason); mapping="ann" trains a net instead (_train_ann).
OPTIMIZER_RUNS = {"sbs": _sbs, "lbfgsb": _lbfgsb, "nelder-mead": _scipy_free, "powell": _scipy_free,
                  **dict.fromkeys(ADAPTIVE, _adaptive)}
