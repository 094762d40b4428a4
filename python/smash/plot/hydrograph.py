"""Observed and simulated discharge at a gauge, with the rainfall above it."""

from __future__ import annotations

import numpy as np

from smash.plot import _lookup


def hydrograph(model, code=None, *, ax=None, precipitation=True, observed=True, simulated=True, title=None):
    """Plot observed and simulated discharge at one gauge, rainfall as inverted bars above.

    Parameters
    ----------
    model : Model
        A model that has been run (``forward_run`` or ``optimize``): its simulated discharge
        ``model.response.q`` is drawn.
    code : str, optional
        The gauge code (one of ``model.mesh.code``); the first gauge when not given.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure when not given.
    precipitation : bool, default True
        Draw the gauge's mean rainfall over its drained area (``model.atmos_data.mean_prcp``,
        mm per time step) as bars hanging from the top of a second y axis.
    observed, simulated : bool, default True
        Draw the observed (missing values left as gaps) and the simulated discharge.
    title : str, optional
        The axes title; the gauge code and the model structure when not given.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    ax : matplotlib.axes.Axes
        The discharge axes. The rainfall axes, when drawn, is its twin (``fig.axes[-1]``).

    Raises
    ------
    ValueError
        When `code` is not a gauge of the model, naming it and the closest gauge code.

    Examples
    --------
    >>> import smash
    >>> model = smash.Model(*smash.factory.load_dataset("synthetic"))
    >>> model.forward_run()
    >>> fig, ax = smash.plot.hydrograph(model, "SYN00000")
    """
    index = _lookup.gauge_index(model, code)
    gauge = str(np.asarray(model.mesh.code).ravel()[index])
    fig, ax = _lookup.axes(ax, figsize=(10, 4))
    times = _lookup.end_times(model)
    if observed:
        ax.plot(times, _lookup.observed(model, index), color="k", lw=1, label="observed")
    if simulated:
        ax.plot(times, _lookup.simulated(model, index), color="tab:blue", lw=1, label="simulated")
    ax.set_xlabel("end of time step")
    ax.set_ylabel("discharge (m$^3$/s)")
    ax.set_title(title if title is not None else f"gauge {gauge} ({model.setup.structure})")
    ax.grid(alpha=0.3)
    if precipitation:
        _rain_bars(ax, times, model, index)
    ax.legend(loc="center right")
    return fig, ax


def _rain_bars(ax, times, model, index):
    """Mean rainfall over the gauge's drained area as bars hanging from the top of a twin axis."""
    rain = np.asarray(model.atmos_data.mean_prcp[index], dtype=np.float64)
    rain = np.where(rain >= 0, rain, np.nan)  # missing rainfall is negative in the data
    twin = ax.twinx()
    width = model.setup.dt / 86400.0  # matplotlib dates count days
    # Bars end at each step's end time: they cover the step they fell in.
    twin.bar(times, rain, width=-width, align="edge", color="tab:cyan", alpha=0.7, label="rainfall")
    top = np.nanmax(rain) if np.isfinite(rain).any() and np.nanmax(rain) > 0 else 1.0
    # Inverted, with room below so the bars stay clear of the discharge curves.
    twin.set_ylim(3.0 * top, 0.0)
    twin.set_ylabel(f"rainfall ({_lookup.step_unit('mm/dt', model.setup.dt)})")
    return twin
