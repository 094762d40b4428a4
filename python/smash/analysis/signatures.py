"""Hydrological signatures of simulated and observed discharge (`smash.signatures`) and the
flood-event table (`smash.hydrograph_segmentation`).

The same definitions feed the cost (md_signatures in Fortran scores the
signatures of simulated against observed discharge on the events found by
`smash.analysis.segmentation`, where the baseflow separation and the segmentation rules live).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from smash.analysis.cost_options import resolve_gauges
from smash.analysis.segmentation import (  # find_events re-exported: smash.signatures has always named it
    EVENT,
    baseflow_separation,
    check_event_seg,
    find_events,  # noqa: F401
    gauge_events,
)
from smash.results import Result
from smash.time_axis import TimeAxis

CONTINUOUS = ("Crc", "Crchf", "Crclf", "Crch2r", "Cfp2", "Cfp10", "Cfp50", "Cfp90")


# ------------------------------------------------------------------ user tables
def _time(model, step: int) -> _dt.datetime:
    # Step i is labelled start_time + i * dt, as smash labels its events.
    return TimeAxis.of(model.setup).time(step)


def _season(date: _dt.datetime) -> str:
    return {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring", 6: "summer",
            7: "summer", 8: "summer"}.get(date.month, "autumn")


def _gauge_indices(model, gauge):
    """Gauges as the cost options name them ('all', 'dws', codes)."""
    return [int(g) for g in resolve_gauges(model, gauge)]


def _series(model, by):
    if by not in ("obs", "sim"):
        raise ValueError(f"by/domain must be 'obs' or 'sim', got {by!r}")
    return model.response_data._observed() if by == "obs" else model.response.q


def hydrograph_segmentation(model, gauge="all", peak_quant=0.995, peak_value=0, max_duration=240, by="obs"):
    """Find the flood events of each gauge.

    Parameters
    ----------
    model : Model
        The model (its observed or simulated discharge and mean rainfall).
    gauge : str or list of str, default "all"
        ``"all"``, ``"dws"`` (the most downstream gauges) or gauge codes.
    peak_quant : float, default 0.995
        Peaks are the discharges above this quantile of the series.
    peak_value : float, default 0
        And above this discharge (m3/s).
    max_duration : float, default 240
        The longest event (hours).
    by : {"obs", "sim"}, default "obs"
        Segment the observed or the simulated discharge.

    Returns
    -------
    pandas.DataFrame
        One row per event: code, start, end, multipeak, maxrainfall, flood, season.
    """
    import pandas as pd

    idx = _gauge_indices(model, gauge)
    seg = {"peak_quant": peak_quant, "peak_value": peak_value, "max_duration": max_duration}
    rows = []
    for g, events in gauge_events(model, idx, seg, q=_series(model, by)).items():
        for ev in events:
            rows.append({"code": str(model.mesh.code[g]), "start": _time(model, ev["start"]),
                         "end": _time(model, ev["end"]), "multipeak": ev["multipeak"],
                         "maxrainfall": _time(model, ev["rain_peak"]), "flood": _time(model, ev["flood"]),
                         "season": _season(_time(model, ev["flood"]))})
    return pd.DataFrame(rows, columns=["code", "start", "end", "multipeak", "maxrainfall", "flood", "season"])


def _volumes(q, prcp, base, quick, span, to_mm):
    total, rain = q[span].sum() * to_mm, prcp[span].sum()
    return total, rain, quick[span].sum() * to_mm, base[span].sum() * to_mm


class Signatures(Result):
    """The signature tables of `signatures`.

    Parameters
    ----------
    cont : pandas.DataFrame
        The continuous signatures, one row per gauge.
    event : pandas.DataFrame
        The flood-event signatures, one row per flood event.
    """

    def __init__(self, cont, event):
        super().__init__(cont=cont, event=event)

    def __repr__(self):
        return f"Signatures(cont: {len(self.cont)} gauge(s), event: {len(self.event)} event(s))"


def _event_rows(model, code, qv, pv, steps, gauge_events, to_mm, wanted) -> list[dict]:
    """One row of flood-event signatures per event of a gauge (observed steps `steps`, discharge `qv`,
    rainfall `pv` on them)."""
    rows = []
    for ev in gauge_events:
        inside = (steps >= ev["start"]) & (steps <= ev["end"])
        if not inside.any():
            continue
        span = np.flatnonzero(inside)
        # The event's base flow is separated on the event alone, as smash 1.3 does.
        event_base, event_quick = np.zeros(qv.size), np.zeros(qv.size)
        event_base[span], event_quick[span] = baseflow_separation(qv[span])
        total, rain, quick, slow = _volumes(qv, pv, event_base, event_quick, span, to_mm)
        peak = steps[span[np.argmax(qv[span])]]
        # The rain peak over every step of the event, observed discharge or not (smash 1.3).
        rain_max = ev["rain_max"]
        # Eff and Ebf as smash reports them: mean quick / base flow over the event (m3/s).
        values = {"Eff": quick / to_mm / span.size, "Ebf": slow / to_mm / span.size, "Erc": total / rain,
                  "Erchf": quick / rain, "Erclf": slow / rain, "Erch2r": quick / total,
                  "Elt": float(peak - rain_max), "Epf": qv[span].max()}
        row = {"code": code, "season": _season(_time(model, ev["flood"])), "start": _time(model, ev["start"]),
               "end": _time(model, ev["end"]), "multipeak": ev["multipeak"]}
        row.update({k: float(v) for k, v in values.items() if k in wanted})
        rows.append(row)
    return rows


def signatures(model, sign=None, gauge="all", event_seg=None, domain="obs") -> Signatures:
    """Continuous and flood-event signatures of observed (domain='obs') or simulated discharge.

    Runoff coefficients use depths over the delineated drained area (mesh
    `area_dln`); flow percentiles, peak flow Epf and the event flows Eff / Ebf
    (mean quick / base flow over the event) are in m3/s; lag time Elt in steps.

    Parameters
    ----------
    model : Model
        The model (run first for ``domain="sim"``).
    sign : str or list of str, optional
        The signatures (``Crc``, ``Crchf``, ..., ``Epf``, ``Elt``); all of them when not given.
    gauge : str or list of str, default "all"
        ``"all"``, ``"dws"`` or gauge codes.
    event_seg : dict, optional
        Flood-event segmentation: ``peak_quant``, ``peak_value``, ``max_duration``, ``by``.
    domain : {"obs", "sim"}, default "obs"
        The signatures of the observed or of the simulated discharge.

    Returns
    -------
    Signatures
        ``cont`` and ``event`` tables (pandas).
    """
    import pandas as pd

    wanted = list(CONTINUOUS + EVENT) if sign is None else ([sign] if isinstance(sign, str) else list(sign))
    bad = [s for s in wanted if s not in CONTINUOUS + EVENT]
    if bad:
        raise ValueError(f"Unknown signature(s) {bad}; choose among {list(CONTINUOUS + EVENT)}")
    idx = _gauge_indices(model, gauge)
    q_all = _series(model, domain)
    prcp_all = model.atmos_data.mean_prcp
    seg = check_event_seg(event_seg, allow_by=True)
    by = seg.pop("by")
    events = gauge_events(model, idx, seg, q=_series(model, by)) if set(wanted) & set(EVENT) else {}
    cont_rows, event_rows = [], []
    for g in idx:
        code = str(model.mesh.code[g])
        q = np.asarray(q_all[g], dtype=np.float64)
        valid = np.asarray(model.response_data._observed()[g]) >= 0 if domain == "obs" else np.ones(q.size, bool)
        prcp = np.clip(np.asarray(prcp_all[g], dtype=np.float64), 0, None)
        # Runoff depth over the delineated drained area (the modelled catchment).
        area = getattr(model.mesh, "area_dln", None)
        area = float((area if area is not None else model.mesh.area)[g])
        to_mm = model.setup.dt / area * 1e3
        qv, pv = q[valid], prcp[valid]
        base, quick_flow = baseflow_separation(qv) if qv.size else (qv, qv)
        row = {"code": code}
        if qv.size:
            total, rain, quick, slow = _volumes(qv, pv, base, quick_flow, slice(None), to_mm)
            values = {"Crc": total / rain, "Crchf": quick / rain, "Crclf": slow / rain, "Crch2r": quick / total,
                      "Cfp2": np.quantile(qv, 0.02), "Cfp10": np.quantile(qv, 0.1),
                      "Cfp50": np.quantile(qv, 0.5), "Cfp90": np.quantile(qv, 0.9)}
            row.update({k: float(v) for k, v in values.items() if k in wanted})
        cont_rows.append(row)
        event_rows += _event_rows(model, code, qv, pv, np.flatnonzero(valid), events.get(g, []), to_mm, wanted)
    cont_cols = ["code"] + [s for s in CONTINUOUS if s in wanted]
    event_cols = ["code", "season", "start", "end", "multipeak"] + [s for s in EVENT if s in wanted]
    return Signatures(pd.DataFrame(cont_rows, columns=cont_cols), pd.DataFrame(event_rows, columns=event_cols))
