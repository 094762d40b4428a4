"""Simulated against observed discharge at a gauge: scatter and flow-duration curves."""

from __future__ import annotations

import numpy as np

from smash.plot import _lookup


def simulated_vs_observed(model, code=None, *, ax=None, title=None):
    """Scatter the simulated against the observed discharge of one gauge, with the 1:1 line.

    Parameters
    ----------
    model : Model
        A model that has been run.
    code : str, optional
        The gauge code (one of ``model.mesh.code``); the first gauge when not given.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure when not given.
    title : str, optional
        The axes title; the gauge code when not given.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    ax : matplotlib.axes.Axes
        The axes drawn on: one point per time step with an observation, and the 1:1 line.

    Raises
    ------
    ValueError
        When `code` is not a gauge of the model (naming it and the closest gauge code), or the gauge has
        no observation.
    """
    gauge, obs, sim = _observed_pairs(model, code)
    fig, ax = _lookup.axes(ax, figsize=(5, 5))
    ax.scatter(obs, sim, s=6, alpha=0.5, color="tab:blue")
    top = float(max(np.nanmax(obs), np.nanmax(sim), 0.0)) * 1.05 or 1.0
    ax.plot([0.0, top], [0.0, top], color="k", lw=1, ls="--", label="1:1")
    ax.set_xlim(0.0, top)
    ax.set_ylim(0.0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("observed discharge (m$^3$/s)")
    ax.set_ylabel("simulated discharge (m$^3$/s)")
    ax.set_title(title if title is not None else f"gauge {gauge}")
    ax.legend()
    return fig, ax


def flow_duration_curve(model, code=None, *, ax=None, log=True, title=None):
    """Plot the observed and simulated flow-duration curves of one gauge.

    The curve gives, for each discharge, the fraction of time steps at which it is equalled or exceeded
    (Weibull plotting position ``rank / (n + 1)``). Both curves use the time steps with an observation, so
    that they describe the same period.

    Parameters
    ----------
    model : Model
        A model that has been run.
    code : str, optional
        The gauge code (one of ``model.mesh.code``); the first gauge when not given.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure when not given.
    log : bool, default True
        A logarithmic discharge axis (low flows stay readable).
    title : str, optional
        The axes title; the gauge code when not given.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    ax : matplotlib.axes.Axes
        The axes drawn on (exceedance probability in %, discharge in m3/s).

    Raises
    ------
    ValueError
        When `code` is not a gauge of the model (naming it and the closest gauge code), or the gauge has
        no observation.
    """
    gauge, obs, sim = _observed_pairs(model, code)
    fig, ax = _lookup.axes(ax, figsize=(6, 4))
    for values, name, colour in ((obs, "observed", "k"), (sim, "simulated", "tab:blue")):
        ordered = np.sort(values)[::-1]
        exceedance = 100.0 * np.arange(1, ordered.size + 1) / (ordered.size + 1)
        ax.plot(exceedance, ordered, color=colour, lw=1, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("exceedance probability (%)")
    ax.set_ylabel("discharge (m$^3$/s)")
    ax.set_title(title if title is not None else f"flow-duration curve, gauge {gauge}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig, ax


def _observed_pairs(model, code):
    """(gauge code, observed, simulated discharge) at the steps of one gauge with an observation."""
    index = _lookup.gauge_index(model, code)
    obs, sim = _lookup.observed(model, index), _lookup.simulated(model, index)
    seen = np.isfinite(obs)
    gauge = str(np.asarray(model.mesh.code).ravel()[index])
    if not seen.any():
        raise ValueError(f"Gauge {gauge!r} has no observed discharge over the simulation period")
    return gauge, obs[seen], sim[seen]
