"""What every figure needs: an Axes to draw on, names checked against what exists, units, time steps."""

from __future__ import annotations

import difflib

import numpy as np

from smash.registry import Structure, registry
from smash.time_axis import TimeAxis

# How a step length reads in a unit ("mm/dt" becomes "mm/h" for hourly models).
_STEP_NAMES = {60: "min", 3600: "h", 86400: "d"}


def axes(ax, figsize=(8, 4)):
    """The figure and axes to draw on: `ax` and its figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, new_ax = plt.subplots(figsize=figsize)
    return fig, new_ax


def unknown(kind: str, name, known) -> ValueError:
    """The error for a name that is not among `known`, with the closest known names."""
    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}{hint} Known: {', '.join(known) or 'none'}")


def gauge_index(model, code) -> int:
    """The row of gauge `code` in the model's gauge arrays; the first gauge when `code` is None."""
    codes = [str(c) for c in np.asarray(model.mesh.code).ravel()]
    if not codes:
        raise ValueError("The model's mesh has no gauge (mesh.code is empty)")
    if code is None:
        return 0
    if str(code) not in codes:
        raise unknown("gauge", code, codes)
    return codes.index(str(code))


def step_unit(unit: str, dt: float) -> str:
    """`unit` with its "dt" (per time step) spelled as the model's step when it has a name."""
    if "dt" not in unit:
        return unit
    return unit.replace("dt", _STEP_NAMES.get(int(dt), f"({int(dt)} s)"))


def structure_of(model) -> Structure:
    s = model.setup
    return Structure(s.snow_module, s.hydrological_module, s.routing_module)


def registry_unit(name: str, dt: float) -> str | None:
    """The unit of parameter or state `name` in structures.yaml ("-" for dimensionless), None if absent."""
    reg = registry()
    for table in ("parameters", "states"):
        if name in reg[table]:
            return step_unit(str(reg[table][name]["unit"]), dt)
    return None


def label(name: str, unit: str | None) -> str:
    """A quantity's axis or colour bar label: "name (unit)", the name alone when it has no unit."""
    return name if unit in (None, "", "-") else f"{name} ({unit})"


def end_times(model) -> list:
    """The end time of every time step of the model."""
    return TimeAxis.of(model.setup).end_times()


def observed(model, index: int) -> np.ndarray:
    """Observed discharge at gauge row `index`, NaN where missing (negative in the data)."""
    q = np.asarray(model.response_data.q[index], dtype=np.float64)
    return np.where(q >= 0, q, np.nan)


def simulated(model, index: int) -> np.ndarray:
    """Simulated discharge at gauge row `index` (the last forward run or optimization)."""
    return np.asarray(model.response.q[index], dtype=np.float64)
