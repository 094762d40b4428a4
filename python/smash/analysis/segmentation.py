"""Baseflow separation and flood-event segmentation, shared by the cost and the signature tables.

Both the cost options (event signatures scored in Fortran on the events found here,
continuous signatures checked on the baseflow) and `smash.signatures` /
`smash.hydrograph_segmentation` use these definitions; they live here, below both.

Segmentation (smash's math documentation, its details pinned down on smash 1.3
as a black box; see `find_events` and docs/calibration.md): flood peaks are
local maxima of discharge at or above its `peak_quant` quantile (and
`peak_value`). An event starts at the first peak of the rainfall gradient (at or
above its 0.8 quantile) in the 72 h before the peak whose 24 h rainfall energy
exceeds 0.2 of the largest in that window, and ends where |Q - Qb| summed over
48 h is smallest, within `max_duration` hours of the start. Overlapping events
are merged (`multipeak`).
"""

from __future__ import annotations

import numpy as np

EVENT = ("Eff", "Ebf", "Erc", "Erchf", "Erclf", "Erch2r", "Elt", "Epf")
EVENT_SEG_DEFAULTS = {"peak_quant": 0.995, "peak_value": 0.0, "max_duration": 240.0}
LH_ALPHA = 0.925


def baseflow_separation(q, alpha: float = LH_ALPHA, passes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(baseflow, quickflow) of a discharge series, separated as smash 1.3 does it.

    Lyne-Hollick filter in its baseflow form, b[i] = min(x[i], alpha b[i-1] +
    (1 - alpha)/2 (x[i] + x[i-1])), passes alternating forward and backward, x the
    previous pass's baseflow. The first pass starts from q[0] if it is below the
    first quartile of q, else from mean(q)/1.5; each later pass from its first
    value reset to q/1.2 there if q is below the mean of the previous baseflow,
    else to that mean. Quick flow is q - base flow, except where the last pass
    starts (the first step): there q minus the previous pass's baseflow, before
    the reset (smash's event quick-flow volumes on Lez and Cance, and its
    whole-series ones on crafted series, need it). Same definition as the cost's
    Fortran filter (test).
    """
    q = np.asarray(q, dtype=np.float64)
    n = q.size
    base = np.empty(n)
    if n == 0:
        return base, base.copy()
    base[0] = q[0] if q[0] < np.quantile(q, 0.25) else q.mean() / 1.5
    x = q.copy()
    for p in range(passes):
        step = 1 if p % 2 == 0 else -1
        first = 0 if step == 1 else n - 1
        # The quick flow where the last pass starts is measured from the previous baseflow.
        start_quick = (first, q[first] - x[first])
        if p > 0:
            mean_x = x.mean()
            base[first] = q[first] / 1.2 if q[first] < mean_x else mean_x
        for i in range(first + step, n if step == 1 else -1, step):
            base[i] = min(x[i], alpha * base[i - step] + 0.5 * (1 - alpha) * (x[i] + x[i - step]))
        x = base.copy()
    quick = q - x
    quick[start_quick[0]] = start_quick[1]
    return x, quick


def _steps(hours: float, dt: float) -> int:
    return int(round(hours * 3600.0 / dt))


def local_peaks(x, min_height=None) -> np.ndarray:
    """Indices of the local maxima of x (rising edges: x[i] > x[i-1] and x[i] >= x[i+1]).

    The peak detector smash's documentation cites (Duarte's detect_peaks, edge
    "rising", minimum distance 1): the first and last values are never peaks, a
    flat top counts at its first step; with min_height, peaks below it are dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 3:
        return np.zeros(0, dtype=int)
    dx = np.diff(x)
    peaks = np.flatnonzero((dx[1:] <= 0) & (dx[:-1] > 0)) + 1
    if min_height is not None:
        peaks = peaks[x[peaks] >= min_height]
    return peaks


def _event_start(prcp, peak, dt) -> int:
    """Start of the event of one discharge peak: the rainfall gradient and energy criteria.

    In the 72 h before the peak (the peak step excluded), candidates are the
    peaks of the rainfall gradient (numpy.gradient of that window) at or above
    its 0.8 quantile; the start is the first candidate whose rainfall energy, the
    norm of the rain from one step before it over 24 h, exceeds 0.2 of the
    largest energy in the window. Energies are taken inside the window (cut at
    the peak), as smash 1.3 computes them; with no candidate passing, the start
    is the steepest rise of the window.
    """
    lo = max(0, peak - _steps(72, dt))
    window = prcp[lo:peak]
    if window.size < 2:
        return lo
    grad = np.gradient(window)
    candidates = local_peaks(grad, np.quantile(grad, 0.8))
    # "From one step before to 23 h after": 24 values hourly, 2 daily.
    after = max(1, _steps(23, dt))
    energy = np.array([np.sqrt(np.sum(window[max(k - 1, 0):k + after] ** 2)) for k in range(window.size)])
    passing = candidates[energy[candidates] > 0.2 * energy.max()]
    return lo + int(passing[0] if passing.size else np.argmax(grad))


def _event_end(q, peak, start, dt, max_duration, missing=None) -> int | None:
    """End of the event: where |Q - Qb| summed over 48 h is smallest.

    Candidate ends te run from the peak to start + max_duration (and no later
    than 48 h before the end of the series); the window of te is the 48 steps
    from te - 1. The base flow Qb is separated on the stretch of discharge
    those windows cover (from the step before the peak), not on the whole series:
    the ends smash 1.3 gives on crafted series need it. A window holding a
    missing step (`missing`) is no candidate; None when no window is left (smash
    1.3 then has no event for that peak).
    """
    width = _steps(48, dt)
    last = min(q.size - width, start + _steps(max_duration, dt))
    if last < peak:
        return peak
    first = max(peak - 1, 0)
    stretch = q[first:last + width - 1]
    gap = np.abs(stretch - baseflow_separation(stretch)[0])
    gaps_missing = np.zeros(stretch.size, dtype=bool) if missing is None else missing[first:last + width - 1]
    sums = []
    for te in range(peak, last + 1):
        window = slice(max(te - 1 - first, 0), te - 1 - first + width)
        sums.append(np.inf if gaps_missing[window].any() else gap[window].sum())
    sums = np.array(sums)
    if np.isinf(sums).all():
        return None
    return peak + int(np.argmin(sums))


def find_events(q, prcp, dt: float, peak_quant=0.995, peak_value=0.0, max_duration=240.0) -> list[dict]:
    """Flood events of one gauge: dicts with start, end, flood (peak step), rain_peak, multipeak.

    As smash 1.3 segments (identified on Cance, Lez and crafted series): every
    local maximum of discharge at or above max(quantile(q, peak_quant),
    peak_value), not next to a missing step, starts an event (start: `_event_start`, end: `_event_end`);
    events are taken in time order and one that starts before the previous one
    ends is merged into it (earliest start, latest end). An event is multipeak
    when it holds more than one such maximum. Its flood is its largest
    discharge; its rainfall peak (`rain_peak`, the table's maxrainfall) the
    largest rain between a start and its peak (the step before the peak at
    most), the largest of its merged events'; `rain_max` the largest rain of the
    whole event (the lag time Elt of the signatures).
    """
    q = np.asarray(q, dtype=np.float64)
    prcp = np.clip(np.asarray(prcp, dtype=np.float64), 0.0, None)
    valid = q >= 0
    if valid.sum() < 3:
        return []
    # Missing discharge is bridged by the previous value for the base flow; the end
    # criterion skips its windows that hold a missing step.
    filled = q.copy()
    for i in np.flatnonzero(~valid):
        filled[i] = filled[i - 1] if i > 0 and filled[i - 1] >= 0 else 0.0
    threshold = max(float(np.quantile(q[valid], peak_quant)), float(peak_value))
    peaks = local_peaks(filled, threshold)
    # A step next to a missing one is no peak (the NaN rule of the peak detector smash uses).
    near_missing = ~valid | np.r_[~valid[1:], False] | np.r_[False, ~valid[:-1]]
    peaks = peaks[~near_missing[peaks]]
    events = []
    for peak in peaks.tolist():
        start = _event_start(prcp, peak, dt)
        end = _event_end(filled, peak, start, dt, max_duration, ~valid)
        if end is None:
            continue
        rain_peak = start + int(np.argmax(prcp[start:peak])) if peak > start else start
        if events and start <= events[-1]["end"]:
            last = events[-1]
            if prcp[rain_peak] > prcp[last["rain_peak"]]:
                last["rain_peak"] = rain_peak
            last.update(start=min(start, last["start"]), end=max(end, last["end"]))
        else:
            events.append({"start": start, "end": end, "rain_peak": rain_peak})
    for ev in events:
        ev["multipeak"] = int(np.count_nonzero((peaks >= ev["start"]) & (peaks <= ev["end"]))) > 1
        ev["flood"] = ev["start"] + int(np.argmax(filled[ev["start"]:ev["end"] + 1]))
        # The lag time Elt takes the rain peak over the whole event (smash's signature tables).
        ev["rain_max"] = ev["start"] + int(np.argmax(prcp[ev["start"]:ev["end"] + 1]))
    return events


def check_event_seg(event_seg, allow_by: bool = False) -> dict:
    """event_seg options with their defaults; `by` ("obs" or "sim") only where allowed.

    smash 1.3 takes `by` in `signatures(event_seg=...)` but not in cost_options.
    """
    opts = dict(EVENT_SEG_DEFAULTS)
    valid = list(EVENT_SEG_DEFAULTS) + (["by"] if allow_by else [])
    by = "obs"
    for key, value in (event_seg or {}).items():
        if key not in valid:
            raise ValueError(f"Unknown event_seg key {key!r}; valid: {valid}")
        if key == "by":
            if value not in ("obs", "sim"):
                raise ValueError(f"event_seg by must be 'obs' or 'sim', got {value!r}")
            by = value
        else:
            opts[key] = float(value)
    if not 0 <= opts["peak_quant"] < 1:
        raise ValueError(f"event_seg peak_quant must be in [0, 1), got {opts['peak_quant']}")
    if opts["max_duration"] <= 0:
        raise ValueError(f"event_seg max_duration must be positive (hours), got {opts['max_duration']}")
    if allow_by:
        opts["by"] = by
    return opts


def gauge_events(model, gauges, event_seg=None, q=None) -> dict[int, list[dict]]:
    """Events of each gauge index, by the observed discharge unless q is given."""
    opts = check_event_seg(event_seg)
    q = model.response_data._observed() if q is None else q
    prcp = model.atmos_data.mean_prcp
    return {int(g): find_events(q[g], prcp[g], model.setup.dt, **opts) for g in gauges}
