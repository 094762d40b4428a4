"""Maps on the mesh: rainfall-runoff parameters, initial or final states, physiographic descriptors."""

from __future__ import annotations

import numpy as np

from smash.plot import _lookup

_STATE_KINDS = ("initial", "final")


def parameter_map(model, name, *, ax=None, state="initial", cmap="viridis", vmin=None, vmax=None, colorbar=True,
                  gauges=True):
    """Map a rainfall-runoff parameter or state over the active cells of the mesh.

    Parameters
    ----------
    model : Model
        The model whose maps are drawn.
    name : str
        A parameter of the model's structure (``model.rr_parameters.keys``, e.g. ``"cp"``) or a state
        (``model.rr_initial_states.keys``, e.g. ``"hp"``).
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure when not given.
    state : {"initial", "final"}, default "initial"
        For a state, which map: the initial states or the final states of the last run.
    cmap : str, default "viridis"
        The matplotlib colour map.
    vmin, vmax : float, optional
        The colour scale's limits; the map's range over the active cells when not given.
    colorbar : bool, default True
        Add a colour bar labelled with the name and its unit from ``structures.yaml``.
    gauges : bool, default True
        Mark the gauges (the centres of their cells) with red triangles.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    ax : matplotlib.axes.Axes
        The axes holding the map (an ``AxesImage`` whose array is masked outside the active cells),
        in the mesh's projected coordinates (km).

    Raises
    ------
    ValueError
        When `name` is neither a parameter nor a state of the model's structure (naming it and the
        closest known name), or `state` is not "initial" or "final".

    Examples
    --------
    >>> import smash
    >>> model = smash.Model(*smash.factory.load_dataset("synthetic"))
    >>> fig, ax = smash.plot.parameter_map(model, "cp")
    """
    parameters = [str(k) for k in model.rr_parameters.keys]
    states = [str(k) for k in model.rr_initial_states.keys]
    if state not in _STATE_KINDS:
        raise ValueError(f"state must be one of {_STATE_KINDS}, got {state!r}")
    if name in parameters:
        values = model.get_rr_parameters(name)
    elif name in states:
        values = model.get_rr_initial_states(name) if state == "initial" else model.get_rr_final_states(name)
    else:
        raise _lookup.unknown(f"parameter or state of structure {model.setup.structure}", name, parameters + states)
    unit = _lookup.registry_unit(name, model.setup.dt)
    return _draw(model, values, name, unit, ax, cmap, vmin, vmax, colorbar, gauges)


def descriptor_map(model, name, *, ax=None, cmap="viridis", vmin=None, vmax=None, colorbar=True, gauges=True):
    """Map a physiographic descriptor over the active cells of the mesh.

    Parameters
    ----------
    model : Model
        A model whose setup reads descriptors (``setup["read_descriptor"]``).
    name : str
        The descriptor's name (one of ``model.setup.descriptor_name``, e.g. ``"slope"``).
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; a new figure when not given.
    cmap : str, default "viridis"
        The matplotlib colour map.
    vmin, vmax : float, optional
        The colour scale's limits; the descriptor's range over the active cells when not given.
    colorbar : bool, default True
        Add a colour bar labelled with the descriptor's name (descriptors carry no unit in the data).
    gauges : bool, default True
        Mark the gauges (the centres of their cells) with red triangles.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    ax : matplotlib.axes.Axes
        The axes holding the map, masked outside the active cells.

    Raises
    ------
    ValueError
        When `name` is not a descriptor of the model, naming it and the closest descriptor.
    """
    names = [str(n) for n in np.asarray(model.setup.descriptor_name).ravel()]
    if name not in names:
        raise _lookup.unknown("descriptor", name, names)
    values = np.asarray(model.physio_data.descriptor)[..., names.index(name)]
    return _draw(model, values, name, None, ax, cmap, vmin, vmax, colorbar, gauges)


def _draw(model, values, name, unit, ax, cmap, vmin, vmax, colorbar, gauges):
    """Draw `values` (nrow, ncol) masked outside the active cells, in the mesh's coordinates."""
    mesh = model.mesh
    inactive = np.asarray(mesh.active_cell) == 0
    masked = np.ma.masked_array(np.asarray(values, dtype=np.float64), mask=inactive)
    fig, ax = _lookup.axes(ax, figsize=(6, 5))
    # Cell edges in projected coordinates, in km (x to the east, y to the north from ymax down): metre
    # coordinates of national grids (7 digits) make unreadable tick labels.
    km = 1e-3
    extent = tuple(km * v for v in (mesh.xmin, mesh.xmin + mesh.ncol * mesh.xres, mesh.ymax - mesh.nrow * mesh.yres,
                                    mesh.ymax))
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
    ax.set_title(name)
    ax.set_xlabel("x (km)")
    ax.set_ylabel("y (km)")
    if gauges and mesh.ng:
        rows, cols = np.asarray(mesh.gauge_pos, dtype=np.float64).reshape(-1, 2).T
        ax.plot(km * (mesh.xmin + (cols + 0.5) * mesh.xres), km * (mesh.ymax - (rows + 0.5) * mesh.yres), "^",
                color="red", markeredgecolor="k", ls="none", label="gauges")
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
    if colorbar:
        fig.colorbar(image, ax=ax, label=_lookup.label(name, unit))
    return fig, ax
