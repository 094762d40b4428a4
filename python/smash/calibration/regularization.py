"""Regularization of a calibration: J = J_obs + wjreg * J_reg.

`jreg_cmpt` picks the terms of J_reg (`prior`, `smoothing`, `hard-smoothing`,
computed in Fortran by md_regularization and differentiated with the rest of
the cost), `wjreg_cmpt` weighs them, and `wjreg` weighs J_reg against J_obs:
a number, or an automatic choice:

- ``"fast"``: one calibration without regularization, then
  wjreg = (J_obs at the start - J_obs at its end) / J_reg at its end, and the
  final calibration with that weight;
- ``"lcurve"``: that first calibration, five more with weights spread around
  the fast weight (factors 10^(0.33 k), k = -2..2), then the weight whose
  (J_reg, J_obs) point is farthest from the chord of the L-curve (both axes
  normalized to [0, 1]), and the final calibration with it.

These are smash 1.3's definitions, checked against it as a black box (cycle
weights, printed logs and chosen weight on Lez).
"""

from __future__ import annotations

import numpy as np

from smash import _core

# Spacing (in log10) of the L-curve weights around the fast estimate.
LCURVE_LOG10_STEP = 0.33
LCURVE_POWERS = (-2, -1, 0, 1, 2)


def neighbours(network, nrow: int, ncol: int) -> np.ndarray:
    """(4, nac) 1-based neighbours (previous/next row, previous/next column) of each ordered active cell."""
    index = np.full((nrow, ncol), -1, dtype=np.int64)
    index[network.rows, network.cols] = np.arange(network.nac)
    own = np.arange(network.nac)
    out = np.empty((4, network.nac), dtype=np.int64)
    for i, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        r, c = network.rows + dr, network.cols + dc
        inside = (r >= 0) & (r < nrow) & (c >= 0) & (c < ncol)
        nb = np.full(network.nac, -1, dtype=np.int64)
        nb[inside] = index[r[inside], c[inside]]
        out[i] = np.where(nb >= 0, nb, own)
    return out + 1


def attach(model, control, fcost, reg: dict, x0: np.ndarray, mapping: str) -> None:
    """Give the Fortran cost options the controlled maps, their priors phi(x0) and the neighbours."""
    if reg["weights"]["prior"] > 0 and mapping not in ("uniform", "distributed"):
        raise ValueError(f"jreg_cmpt 'prior' is defined here on uniform and distributed controls, not on "
                         f"mapping={mapping!r}; use 'smoothing' or 'hard-smoothing'")
    net = model.network
    params, states = model.rr_parameters, model.rr_initial_states
    np_, ns = len(params.keys), len(states.keys)
    # The prior is the starting point of the calibration as the model maps see it.
    saved = (params.values.copy(), states.values.copy())
    control.load_x(x0)
    prior = np.concatenate([params.values[net.rows, net.cols, :], states.values[net.rows, net.cols, :]], axis=1)
    params.values[...], states.values[...] = saved
    model._sync_parameters()

    weight = np.zeros(np_ + ns)
    cell_weight = 1.0 / net.nac if mapping == "uniform" else 1.0
    for name, kind in zip(control.names, control.kinds, strict=True):
        f = params.index(name) if kind == "rr_parameters" else np_ + states.index(name)
        weight[f] = cell_weight
    _core.allocate_regularization(fcost, net.nac, np_ + ns)
    fcost.reg_weight[:] = weight
    fcost.prior[...] = prior
    fcost.neighbour[...] = neighbours(net, model.mesh.nrow, model.mesh.ncol)
    fcost.wprior = reg["weights"]["prior"]
    fcost.wsmoothing = reg["weights"]["smoothing"]
    fcost.whard_smoothing = reg["weights"]["hard-smoothing"]
    fcost.wjreg = reg["wjreg"] if not isinstance(reg["wjreg"], str) else 0.0


def chord_distances(x, y) -> np.ndarray | None:
    """Distance of each point of an L-curve (x, y), both axes scaled to [0, 1], from the chord joining
    its ends (the corner is the farthest point); None when the ends coincide."""

    def unit(v):
        span = v.max() - v.min()
        return (v - v.min()) / span if span > 0 else np.zeros_like(v)

    x, y = unit(np.asarray(x, float)), unit(np.asarray(y, float))
    dx, dy = x[-1] - x[0], y[-1] - y[0]
    norm = np.hypot(dx, dy)
    if norm == 0:
        return None
    return np.abs(dy * (x - x[0]) - dx * (y - y[0])) / norm


def lcurve_choice(wjreg, jobs, jreg) -> tuple[float, np.ndarray]:
    """Weight at the corner of the L-curve: the point farthest from the chord joining its ends."""
    chord = chord_distances(jreg, jobs)
    distance = np.full(np.size(jobs), np.nan)
    if chord is not None:
        distance[1:-1] = chord[1:-1]
    best = int(np.nanargmax(distance)) if np.any(np.isfinite(distance)) else 0
    return float(np.asarray(wjreg)[best]), distance


def run_cycles(calibrate, fcost, reg: dict, log):
    """Calibrate with the requested wjreg; 'fast' and 'lcurve' first calibrate to choose it.

    `calibrate()` restarts from the first guess and returns (result, jobs, jreg, cost, jobs_start).
    Returns (result of the final calibration, lcurve record or None).
    """
    if not isinstance(reg["wjreg"], str):
        fcost.wjreg = reg["wjreg"]
        return calibrate()[0], None
    label = "FAST" if reg["wjreg"] == "fast" else "L-CURVE"
    log(f"    {label} WJREG CYCLE 1")
    fcost.wjreg = 0.0
    _, jobs1, jreg1, cost1, jobs0 = calibrate()
    if not jreg1 > 0:
        raise ValueError(f"wjreg={reg['wjreg']!r} needs a regularization term that moves away from zero during "
                         f"calibration; J_reg stayed {jreg1} with jreg_cmpt {reg['jreg_cmpt']}")
    fast = max((jobs0 - jobs1) / jreg1, 0.0)
    record = None
    if reg["wjreg"] == "fast":
        chosen = fast
    else:
        weights, jobs, jregs, costs = [0.0], [jobs1], [jreg1], [cost1]
        for cycle, power in enumerate(LCURVE_POWERS, start=2):
            log(f"    L-CURVE WJREG CYCLE {cycle}")
            fcost.wjreg = fast * 10.0 ** (LCURVE_LOG10_STEP * power)
            _, j_obs, j_reg, cost, _ = calibrate()
            weights.append(float(fcost.wjreg))
            jobs.append(j_obs)
            jregs.append(j_reg)
            costs.append(cost)
        chosen, distance = lcurve_choice(weights, jobs, jregs)
        record = {"wjreg_opt": chosen, "wjreg_approx": fast, "distance": distance, "cost": np.array(costs),
                  "jobs": np.array(jobs), "jreg": np.array(jregs), "wjreg": np.array(weights)}
    log(f"    {label} WJREG LAST CYCLE. wjreg: {chosen:.5e}")
    fcost.wjreg = chosen
    return calibrate()[0], record
