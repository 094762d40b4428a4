"""evaluation: efficiency metrics of the simulated discharge against the observed one, per gauge."""

from __future__ import annotations

import datetime as _dt
import warnings

import numpy as np

from smash import _core
from smash.analysis.cost_options import METRICS_WITH_TFM, unscorable_reason
from smash.registry import metric_names
from smash.time_axis import TimeAxis, parse_time

# The core gives every metric in the form the cost minimises; these three are scores
# (1 is a perfect fit), returned as 1 - cost like smash 1.3 does.
SCORES = ("nse", "nnse", "kge")
# What response.q holds before any run.
NOT_RUN = -99.0


def _metric_list(metric) -> list[str]:
    names = [metric] if isinstance(metric, str) else list(metric) if isinstance(metric, (list, tuple)) else None
    if not names or not all(isinstance(m, str) for m in names):
        raise TypeError(f"metric must be a str or a list of str, got {metric!r}")
    unknown = [m for m in names if m.lower() not in METRICS_WITH_TFM]
    if unknown:
        raise ValueError(f"Unknown evaluation metric(s) {unknown}; choose among {list(METRICS_WITH_TFM)}")
    return [m.lower() for m in names]


def _moment(when, key: str) -> _dt.datetime:
    """`when` as a datetime, with an example of a date in the error."""
    try:
        return parse_time(when, key)
    except ValueError:
        raise ValueError(f"{key} = {when!r} is not a date; use e.g. '2012-08-01' or '2012-08-01 00:00'") from None


def _observed_discharge(model) -> np.ndarray:
    """The observed discharge of a model that has gauges, observations and a simulated discharge."""
    if model.mesh.ng == 0:
        raise ValueError("The mesh has no gauge: there is no discharge to evaluate")
    qsim_all = np.asarray(model.response.q)
    if qsim_all.size and np.all(qsim_all == NOT_RUN):
        raise ValueError("model.response.q holds no simulated discharge (all -99: the model has not been run); "
                         "call model.forward_run() or model.optimize() before evaluation")
    qobs = model.response_data._observed()
    if not np.any(qobs >= 0):
        raise ValueError("The model has no observed discharge (response_data.q is all missing): "
                         "set read_qobs in the setup or assign model.response_data.q")
    return qobs


def _window(model, start_eval, end_eval) -> tuple[int, int]:
    """[first, last) steps of the evaluation window."""
    axis = TimeAxis.of(model.setup)
    first = 0 if start_eval is None else axis.steps_until(_moment(start_eval, "start_eval"), "start_eval")
    last = axis.ntime_step if end_eval is None else axis.steps_until(_moment(end_eval, "end_eval"), "end_eval")
    if first >= last:
        raise ValueError(f"The evaluation window holds no time step: start_eval ({start_eval}) must be before "
                         f"end_eval ({end_eval})")
    return first, last


def evaluation(model, metric="nse", start_eval=None, end_eval=None) -> np.ndarray:
    """Efficiency metrics of `model.response.q` against `model.response_data.q` at every gauge.

    Parameters
    ----------
    model : Model
        A model after a forward run or a calibration.
    metric : str or list of str
        Among nse, nnse, kge (scores, 1 is perfect), mae, mape, mse, rmse, lgrm (errors).
    start_eval, end_eval : str, datetime or pandas.Timestamp, optional
        The window scored: the steps ending after `start_eval` and up to `end_eval`
        (default the whole simulation period).

    Returns
    -------
    numpy.ndarray of shape (ng, n_metrics)
        Missing observations (negative) are left out; a gauge with none in the window gives NaN
        (with a warning). So does a metric that cannot score a gauge's observations: nse, nnse and
        kge over constant or single observed values (their variance is 0), mape over observations
        that are all 0 (a UserWarning names the gauge and the metric).

    Raises
    ------
    ValueError
        When the model holds no simulated discharge (it was never run: `response.q` still holds
        the -99 it is created with), or has no gauge or no observed discharge.
    """
    names = _metric_list(metric)
    qobs = _observed_discharge(model)
    first, last = _window(model, start_eval, end_eval)
    ids = [metric_names().index(m) + 1 for m in names]
    qsim = np.asarray(model.response.q, dtype=np.float64)[:, first:last]
    qobs = np.ascontiguousarray(qobs[:, first:last], dtype=np.float32)
    values = np.full((model.mesh.ng, len(names)), np.nan)
    unobserved, unscorable = [], []
    for g in range(model.mesh.ng):
        if not np.any(qobs[g] >= 0):
            unobserved.append(str(model.mesh.code[g]))
            continue
        sim, obs = np.ascontiguousarray(qsim[g]), qobs[g]
        observed = obs[obs >= 0].astype(np.float64)
        for k, (name, metric_id) in enumerate(zip(names, ids, strict=True)):
            reason = unscorable_reason(name, "keep", observed)
            if reason:
                unscorable.append(f"{model.mesh.code[g]} ({name}: {reason})")
                continue
            cost = _core.metric_value(metric_id, sim, obs)
            values[g, k] = 1.0 - cost if name in SCORES else cost
    if unobserved:
        warnings.warn(f"No observed discharge in the evaluation window at gauge(s) {unobserved}: NaN returned",
                      stacklevel=2)
    if unscorable:
        warnings.warn(f"Metric undefined at gauge(s) {'; '.join(unscorable)}: NaN returned", UserWarning, stacklevel=2)
    return values
