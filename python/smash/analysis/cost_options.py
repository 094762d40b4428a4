"""Cost options (`jobs_cmpt`, `wjobs_cmpt`, `gauge`, `wgauge`, `end_warmup`) resolved to numbers."""

from __future__ import annotations

import numpy as np

from smash import _core
from smash.analysis.segmentation import EVENT, EVENT_SEG_DEFAULTS, baseflow_separation, check_event_seg, gauge_events
from smash.registry import metric_names
from smash.time_axis import TimeAxis, parse_time

# Aggregations of the per-gauge costs (wgauge) or of the terms of one gauge (wjobs_cmpt) by a
# quantile instead of a weighted sum. smash 1.3 returns the negated value for wjobs_cmpt
# quantiles (a sign slip: J < 0); we return the quantile itself.
GAUGE_QUANTILES = {"median": 0.5, "lquartile": 0.25, "uquartile": 0.75}
# Discharge transforms of the efficiency metrics, in md_metrics TFM_* order.
DISCHARGE_TRANSFORMS = ("keep", "sqrt", "inv")
METRICS_WITH_TFM = ("nse", "nnse", "kge", "mae", "mape", "mse", "rmse", "lgrm")

DEFAULT_COST_OPTIONS = {
    "jobs_cmpt": "nse",
    "wjobs_cmpt": "mean",
    "jobs_cmpt_tfm": "keep",
    "gauge": "dws",
    "wgauge": "mean",
    "end_warmup": None,
    "event_seg": None,
}
# Keys that only make sense where there is a control vector (optimize, backward_run).
REGULARIZATION_KEYS = ("jreg_cmpt", "wjreg_cmpt", "wjreg")
JREG_NAMES = ("prior", "smoothing", "hard-smoothing")
AUTO_WJREG = ("fast", "lcurve")


def _as_list(value):
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0:
        return [value]
    return list(value)


def _weights(spec, n, what):
    if isinstance(spec, str):
        if spec == "mean":
            return np.full(n, 1.0 / n)
        valid = "'mean', 'median', 'lquartile', 'uquartile'"
        raise ValueError(f"{what} {spec!r} is not supported; give {valid} or one number per item")
    w = np.asarray(_as_list(spec), dtype=float)
    if w.shape != (n,):
        raise ValueError(f"{what} has {w.size} values but {n} are needed")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{what} must be finite and non-negative, got {w.tolist()}")
    return w


def resolve_gauges(model, gauge) -> np.ndarray:
    """Indices of the gauges entering the cost: 'dws', 'all', a code or a list of codes."""
    codes = [str(c) for c in model.mesh.code]
    if model.mesh.ng == 0:
        raise ValueError("The mesh has no gauge: the cost needs observed discharge at gauges")
    if isinstance(gauge, str) and gauge == "all":
        return np.arange(len(codes))
    if isinstance(gauge, str) and gauge == "dws":
        flwdst = np.asarray(model.mesh.flwdst, dtype=float) if hasattr(model.mesh, "flwdst") else None
        if flwdst is None:
            return np.array([0])
        pos = np.asarray(model.mesh.gauge_pos)
        dist = flwdst[pos[:, 0], pos[:, 1]]
        return np.flatnonzero(dist == dist.min())
    wanted = _as_list(gauge)
    missing = [g for g in wanted if str(g) not in codes]
    if missing:
        raise ValueError(f"Unknown gauge code(s) {missing}; the mesh has {codes}")
    return np.array([codes.index(str(g)) for g in wanted])


# Metrics that divide by the variance of the observations (nse, nnse, kge) and those that
# only score positive observations (mape: relative errors, lgrm: log ratios).
VARIANCE_METRICS = ("nse", "nnse", "kge")
POSITIVE_METRICS = ("mape", "lgrm")


def unscorable_reason(metric: str, tfm: str, obs: np.ndarray) -> str | None:
    """Why `metric` (with transform `tfm`) cannot score the observed values `obs` (missing ones
    already removed), or None when it can: an undefined or degenerate cost instead of a number."""
    if obs.size == 0:
        return "no observed discharge"
    if metric in VARIANCE_METRICS and (obs.size < 2 or np.all(obs == obs[0])):
        what = "a single observed value" if obs.size < 2 else f"constant observed discharge ({obs[0]:g})"
        return f"{what}: {metric} divides by the variance of the observations, which is 0"
    if metric in POSITIVE_METRICS and not np.any(obs > 0):
        return f"every observed discharge is 0: {metric} scores positive observations only"
    if tfm == "inv" and not np.any(obs > 0):
        return "every observed discharge is 0: jobs_cmpt_tfm 'inv' takes 1 / q"
    if metric in CONTINUOUS_SIGNATURE_QUANTILES or metric in ("Crc", "Crchf", "Crclf", "Crch2r"):
        return _unscorable_signature(metric, obs)
    return None


# Continuous signatures that are flow quantiles, and their probabilities (numpy's linear quantile,
# as md_signatures computes them).
CONTINUOUS_SIGNATURE_QUANTILES = {"Cfp2": 0.02, "Cfp10": 0.1, "Cfp50": 0.5, "Cfp90": 0.9}


def _unscorable_signature(metric: str, obs: np.ndarray) -> str | None:
    """The core scores a continuous signature by (S_sim / S_obs - 1)^2 and silently gives 0 when S_obs is
    0 or fewer than 2 steps are observed: name those cases instead."""
    if obs.size < 2:
        return f"fewer than 2 observed values: the signature {metric} cannot be computed"
    if metric in CONTINUOUS_SIGNATURE_QUANTILES:
        observed = float(np.quantile(obs, CONTINUOUS_SIGNATURE_QUANTILES[metric]))
    elif metric == "Crc":
        observed = float(obs.sum())
    else:
        base, quick = baseflow_separation(obs)
        observed = float({"Crchf": quick, "Crclf": base, "Crch2r": quick}[metric].sum())
    if observed == 0.0:
        return f"the observed {metric} is 0, so its relative error (the cost term) is undefined"
    return None


def resolve_regularization(opts: dict) -> dict | None:
    """Check `jreg_cmpt`, `wjreg_cmpt`, `wjreg`; None when regularization is off."""
    wjreg = opts.get("wjreg", 0.0)
    names = [str(n) for n in _as_list(opts.get("jreg_cmpt", "prior"))]
    bad = [n for n in names if n not in JREG_NAMES]
    if bad:
        raise ValueError(f"Unknown jreg_cmpt {bad}; choose among {list(JREG_NAMES)}")
    if isinstance(wjreg, str):
        if wjreg not in AUTO_WJREG:
            raise ValueError(f"wjreg {wjreg!r} is not supported; give a number >= 0, 'fast' or 'lcurve'")
    else:
        try:
            wjreg = float(wjreg)
        except (TypeError, ValueError):
            raise ValueError(f"wjreg must be a number >= 0, 'fast' or 'lcurve', got {wjreg!r}") from None
        if not np.isfinite(wjreg) or wjreg < 0:
            raise ValueError(f"wjreg must be finite and >= 0, got {wjreg}")
        if wjreg == 0:
            return None
    spec = opts.get("wjreg_cmpt", "mean")
    if isinstance(spec, str):
        if spec != "mean":
            raise ValueError(f"wjreg_cmpt {spec!r} is not supported; give 'mean' or one number per jreg_cmpt")
        weights = np.full(len(names), 1.0 / len(names))
    else:
        weights = np.asarray(_as_list(spec), dtype=float)
        if weights.shape != (len(names),):
            raise ValueError(f"wjreg_cmpt has {weights.size} values but jreg_cmpt has {len(names)}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"wjreg_cmpt must be finite and non-negative, got {weights.tolist()}")
    cmpt = dict.fromkeys(JREG_NAMES, 0.0)
    for name, w in zip(names, weights, strict=True):
        cmpt[name] += float(w)
    return {"jreg_cmpt": names, "wjreg_cmpt": weights, "wjreg": wjreg, "weights": cmpt}


def check_observations(model, fcost) -> None:
    """There is something to calibrate against: at least one gauge enters the cost (weight > 0), and
    every such gauge has observations in the scored period that its metrics can score (not constant for
    nse/nnse/kge, not all 0 for mape/lgrm). Errors name the gauge."""
    ng = model.mesh.ng
    if getattr(model, "_bare_grid", False):
        model._sync_parameters()   # raises: a bare grid holds inputs but cannot run (its own message)
    if ng == 0:
        raise ValueError("The mesh has no gauge: there is nothing to calibrate against (the cost needs observed "
                         "discharge at gauges; give mesh gauge_pos and code)")
    codes = [str(c) for c in model.mesh.code]
    weights = np.asarray(fcost.wgauge)[:ng]
    scored = np.flatnonzero(weights > 0)
    if scored.size == 0:
        raise ValueError(f"Every gauge of the cost has weight 0 (wgauge) at gauge(s) {codes}: there is nothing to "
                         "calibrate against; give at least one gauge a positive weight")
    qobs = model.response_data._observed()
    start = int(fcost.end_warmup)
    valid = metric_names()
    jobs = [valid[int(i) - 1] for i in np.asarray(fcost.jobs_metric)]
    tfms = [DISCHARGE_TRANSFORMS[int(i)] for i in np.asarray(fcost.jobs_tfm)]
    for g in scored:
        obs = np.asarray(qobs[g, start:], dtype=np.float64)
        obs = obs[obs >= 0]
        if obs.size == 0:
            raise ValueError(
                f"Gauge {codes[g]} has no observed discharge in the scored period "
                f"(all missing after end_warmup): it cannot enter the cost"
            )
        for metric, tfm in zip(jobs, tfms, strict=True):
            reason = unscorable_reason(metric, tfm, obs)
            if reason:
                raise ValueError(f"Gauge {codes[g]} cannot be scored by jobs_cmpt {metric!r} over the scored period "
                                 f"({obs.size} observed steps after end_warmup): {reason}; leave the gauge out "
                                 "(cost_options['gauge']) or choose another metric")


def build_cost_options(model, cost_options: dict | None, regularization: bool = False):
    """Check user cost options and return (resolved dict, Fortran CostOptionsDT).

    With `regularization`, the dict's "reg" holds the resolved jreg options (None when off);
    `smash.calibration.regularization.attach` then gives the Fortran options the controlled maps.
    """
    opts = dict(DEFAULT_COST_OPTIONS)
    valid_keys = list(DEFAULT_COST_OPTIONS) + (list(REGULARIZATION_KEYS) if regularization else [])
    if cost_options:
        unknown = set(cost_options) - set(valid_keys)
        if unknown:
            where = "" if regularization else (" (regularization keys belong to optimize and backward_run)"
                                               if unknown & set(REGULARIZATION_KEYS) else "")
            raise ValueError(f"Unknown cost option(s) {sorted(unknown)}{where}; valid: {valid_keys}")
        opts.update(cost_options)
    opts["reg"] = resolve_regularization(opts) if regularization else None

    jobs = [str(j) for j in _as_list(opts["jobs_cmpt"])]
    valid = metric_names()
    bad = [j for j in jobs if j not in valid]
    if bad:
        raise ValueError(f"Unknown jobs_cmpt {bad}; choose among {valid}")
    quantile_jobs = isinstance(opts["wjobs_cmpt"], str) and opts["wjobs_cmpt"] in GAUGE_QUANTILES
    wjobs = np.full(len(jobs), 1.0) if quantile_jobs else _weights(opts["wjobs_cmpt"], len(jobs), "wjobs_cmpt")
    tfm = [str(t) for t in _as_list(opts["jobs_cmpt_tfm"])]
    if len(tfm) == 1:
        tfm = tfm * len(jobs)
    if len(tfm) != len(jobs):
        raise ValueError(f"jobs_cmpt_tfm has {len(tfm)} values but jobs_cmpt has {len(jobs)}")
    bad = [t for t in tfm if t not in DISCHARGE_TRANSFORMS]
    if bad:
        raise ValueError(f"Unknown jobs_cmpt_tfm {bad}; choose among {list(DISCHARGE_TRANSFORMS)}")
    on_signatures = [j for j, t in zip(jobs, tfm, strict=True) if t != "keep" and j not in METRICS_WITH_TFM]
    if on_signatures:
        raise ValueError(f"jobs_cmpt_tfm applies to efficiency metrics, not to the signatures {on_signatures}")

    ng = model.mesh.ng
    fc = _core.new_cost_options(len(jobs), ng)
    fc.jobs_metric[:] = [valid.index(j) + 1 for j in jobs]
    fc.wjobs[:] = wjobs
    fc.jobs_tfm[:] = [DISCHARGE_TRANSFORMS.index(t) for t in tfm]
    if quantile_jobs:
        fc.jobs_quantile = GAUGE_QUANTILES[opts["wjobs_cmpt"]]
    if ng:
        gauges = resolve_gauges(model, opts["gauge"])
        if isinstance(opts["wgauge"], str) and opts["wgauge"] in GAUGE_QUANTILES:
            fc.wgauge[gauges] = 1.0
            fc.gauge_quantile = GAUGE_QUANTILES[opts["wgauge"]]
        else:
            fc.wgauge[gauges] = _weights(opts["wgauge"], gauges.size, "wgauge")

    end_warmup = 0
    if opts["end_warmup"] is not None:
        when = parse_time(opts["end_warmup"], "end_warmup")
        end_warmup = TimeAxis.of(model.setup).steps_until(when, "end_warmup")
    fc.end_warmup = end_warmup
    _attach_events(model, fc, jobs, opts["event_seg"])
    opts.update(jobs_cmpt=jobs, wjobs_cmpt=wjobs, jobs_cmpt_tfm=tfm, end_warmup=end_warmup)
    return opts, fc


def _attach_events(model, fc, jobs, event_seg) -> None:
    """Flood events of the gauges in the cost, for the event signatures (Eff ... Epf)."""
    if event_seg is not None and not isinstance(event_seg, dict):
        raise ValueError(f"event_seg must be a dict of {list(EVENT_SEG_DEFAULTS)}, got {event_seg!r}")
    if not set(jobs) & set(EVENT):
        if event_seg:
            check_event_seg(event_seg)
        return
    gauges = np.flatnonzero(np.asarray(fc.wgauge)[: model.mesh.ng] > 0)
    events = gauge_events(model, gauges, event_seg)
    empty = [str(model.mesh.code[g]) for g in gauges if not events[g]]
    if empty:
        raise ValueError(f"No flood event found at gauge(s) {empty} for the event signatures "
                         f"{[j for j in jobs if j in EVENT]}; lower event_seg['peak_quant'] or "
                         "drop those signatures")
    if "Elt" in jobs:
        _check_lag_times(model, fc, events)
    _core.allocate_events(fc, max(len(e) for e in events.values()), model.mesh.ng)
    for g, evs in events.items():
        fc.nevent[g] = len(evs)
        for e, ev in enumerate(evs):
            # Fortran steps are 1-based.
            fc.event_start[e, g] = ev["start"] + 1
            fc.event_end[e, g] = ev["end"] + 1
            # Lag time: the rain peak over the event's scored steps (after the warm-up), as
            # smash 1.3's Elt cost when the warm-up ends inside an event (Cance, 2014-11-04 12:00).
            fc.event_rain_peak[e, g] = _scored_rain_peak(model, fc, g, ev) + 1


def _scored_rain_peak(model, fc, g, ev) -> int:
    """Rain peak of an event over its steps after the warm-up (the lag time's reference)."""
    first = max(ev["start"], int(fc.end_warmup))
    rain = np.asarray(model.atmos_data.mean_prcp[g])
    return first + int(np.argmax(rain[first:ev["end"] + 1])) if first <= ev["end"] else ev["rain_max"]


def _check_lag_times(model, fc, events) -> None:
    """Elt scores only events whose observed lag time is positive (as smash 1.3, whose cost is
    NaN when a gauge has none): such a gauge is an error here, not a silent 0 or NaN."""
    qobs = np.asarray(model.response_data.q)
    bad = []
    for g, evs in events.items():
        usable = False
        for ev in evs:
            steps = np.arange(max(ev["start"], int(fc.end_warmup)), ev["end"] + 1)
            steps = steps[qobs[g, steps] >= 0]
            if steps.size and steps[np.argmax(qobs[g, steps])] > _scored_rain_peak(model, fc, g, ev):
                usable = True
        if not usable:
            bad.append(str(model.mesh.code[g]))
    if bad:
        raise ValueError(f"Elt: no flood event with a positive observed lag time (discharge peak after the rain "
                         f"peak, after end_warmup) at gauge(s) {bad}; move end_warmup earlier or drop Elt")
