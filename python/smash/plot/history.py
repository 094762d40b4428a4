"""How the cost of a calibration went down, iteration after iteration."""

from __future__ import annotations

import numpy as np

from smash.plot import _lookup


def cost_history(*histories, ax=None, labels=None, log=False, ylabel="cost J"):
    """Plot the cost of one or more calibrations against the iteration.

    Parameters
    ----------
    *histories : Optimize, Net or array_like
        What to plot: an ``Optimize`` result holding ``iter_cost`` (``return_options={"iter_cost": True}``),
        a trained ``Net`` (its ``history["loss_train"]``, e.g. ``Optimize.net`` of an ``"ann"`` mapping),
        or the costs themselves.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure when not given.
    labels : list of str, optional
        One legend label per history; no legend when not given.
    log : bool, default False
        A logarithmic cost axis.
    ylabel : str, default "cost J"
        The y axis label (e.g. ``"$1-NSE$"`` when the cost is the default one).

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    ax : matplotlib.axes.Axes
        The axes drawn on (one line per history, iteration 0 being the first guess).

    Raises
    ------
    ValueError
        When no history is given, an ``Optimize`` result holds no ``iter_cost``, a history is empty,
        or `labels` does not have one label per history.
    """
    if not histories:
        raise ValueError("cost_history needs at least one history (an Optimize result, a Net or costs)")
    if labels is not None and len(labels) != len(histories):
        raise ValueError(f"labels has {len(labels)} entries for {len(histories)} histories")
    fig, ax = _lookup.axes(ax)
    for i, history in enumerate(histories):
        costs = _costs(history)
        ax.plot(np.arange(costs.size), costs, label=None if labels is None else labels[i])
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if labels is not None:
        ax.legend()
    return fig, ax


def _costs(history) -> np.ndarray:
    """The costs held by an Optimize result, a Net or an array."""
    if hasattr(history, "history") and isinstance(history.history, dict):  # a Net
        costs = history.history.get("loss_train", [])
    elif type(history).__name__ == "Optimize":
        if not hasattr(history, "iter_cost"):
            raise ValueError("This Optimize result holds no iter_cost: optimize with "
                             "return_options={'iter_cost': True} (or plot its .net for an 'ann' mapping)")
        costs = history.iter_cost
    else:
        costs = history
    costs = np.asarray(costs, dtype=np.float64).ravel()
    if costs.size == 0:
        raise ValueError("A cost history is empty (was the calibration run?)")
    return costs
