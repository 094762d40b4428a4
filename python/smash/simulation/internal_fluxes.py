"""Internal fluxes as smash 1.x returns them: names and units from the registry.

The core saves every snow and hydrological flux as a depth over the cell during
the step (mm) and every routing flux as a discharge (m3/s). The registry gives
the unit smash 1.x reports for each flux of each module; the conversion happens
here, at output time, since no derivative needs it.
"""

from __future__ import annotations

import numpy as np

from smash import _core

CORE_UNITS = {"snow": "mm", "hydrological": "mm", "routing": "m3/s"}


def unit_factor(family: str, unit: str, cell_area: np.ndarray, upstream_area: np.ndarray, dt: float):
    """Per-cell factor from the core's unit of a `family` flux to `unit` (1.0 when they agree).

    `cell_area` and `upstream_area` (m2, network order) are the cell's own area and the area
    drained by its upstream cells; a routing flux reported in mm is a depth over the latter
    (0 where nothing drains in).
    """
    core = CORE_UNITS[family]
    if unit == core:
        return 1.0
    if (core, unit) == ("mm", "m3/s"):
        return cell_area * 1.0e-3 / dt
    if (core, unit) == ("m3/s", "mm"):
        with np.errstate(divide="ignore"):
            return np.where(upstream_area > 0, dt / (1.0e-3 * np.where(upstream_area > 0, upstream_area, 1.0)), 0.0)
    raise ValueError(f"No conversion of a {family} flux from {core} to {unit!r} (structures.yaml)")


def fluxes_to_grids(model, fluxes: np.ndarray) -> dict[str, np.ndarray]:
    """Core fluxes (nac, nflux, nsteps) as a dict name -> (nrow, ncol, nsteps) float32 grid, -99 off the mesh."""
    net, fm = model.network, _core.mesh_of(model)
    cell_area = np.asarray(fm.dx, dtype=np.float64) * np.asarray(fm.dy, dtype=np.float64)
    upstream_area = np.asarray(fm.up_area, dtype=np.float64)
    out = {}
    for i, (family, name, unit) in enumerate(model.structure.flux_records):
        factor = unit_factor(family, unit, cell_area, upstream_area, float(model.setup.dt))
        values = fluxes[:, i, :] if np.isscalar(factor) and factor == 1.0 else fluxes[:, i, :] * np.asarray(
            factor)[:, None]
        out[name] = net.to_grid(values, fill=-99.0, dtype=np.float32)
    return out
