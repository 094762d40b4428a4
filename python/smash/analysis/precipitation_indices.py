"""Indices of the spatial organisation of rainfall over each gauge's catchment.

For every gauge and step, over the active cells draining through the gauge, with
d the flow distance of a cell to the gauge (mesh flwdst minus flwdst at the gauge)
and P the precipitation of the step:

- std: spatial standard deviation of P (population, over the cells);
- d1, d2: scaled spatial moments of catchment rainfall (Zoccatelli et al., 2011, HESS):
  d1 = (sum P d / sum P) / mean(d) and
  d2 = (sum P (d - theta1)^2 / sum P) / var(d), theta1 = sum P d / sum P;
- vg, hg: vertical and horizontal gaps (Emmanuel et al., 2015, J. Hydrol., 5.2) between
  the cumulative share of rain and the cumulative share of area along the distance
  d / max(d), both read at x = 0, 0.1, ..., 1. vg is the largest vertical gap
  |F_P(x) - F_A(x)|; hg the horizontal distance from the x where it occurs to the
  grid point where the area curve is nearest to F_P(x) (a multiple of 0.1).

Missing precipitation (negative) at a (cell, step) drops that cell from every sum of
that step: from the rainfall sums and also from the catchment's own terms (mean(d),
var(d), the area curve, the cell count of std), so the indices describe the observed
part of the catchment (uniform rain stays uniform: d1 = d2 = 1, std = vg = 0).
NaN where no observed cell of the catchment has rain at that step, and d1 (d2) where
the observed cells' distances have zero mean (variance).

`gap_cells="farther"` computes vg and hg as smash 1.3 does instead (see
`precipitation_indices`): over every active cell at least as far from the outlet
as the gauge, whichever branch it drains to, missing rain counted as 0.
"""

from __future__ import annotations

import numpy as np

from smash.results import Result

INDICES = ("std", "d1", "d2", "vg", "hg")
# smash 1.x stacks the indices in the alphabetical order of their names.
STACK_ORDER = ("d1", "d2", "hg", "std", "vg")
GAP_GRID = 10  # the curves are read at x = k / GAP_GRID, k = 0 .. GAP_GRID
# Differences of two cumulative shares below this are rounding of the sums, not a gap:
# without it uniform rain could report a horizontal gap between two equal area steps.
_GAP_NOISE = 1e-12


class PrecipitationIndices(Result):
    """std, d1, d2, vg, hg: (ng, ntime_step) float64 arrays, NaN at steps without rain.

    Parameters
    ----------
    **indices : numpy.ndarray
        The five indices by name (made by `precipitation_indices`, not by users).
    """

    def __init__(self, **indices: np.ndarray):
        super().__init__(**{name: indices[name] for name in INDICES})

    def to_numpy(self, axis: int = 0) -> np.ndarray:
        """Stack the five indices into one array.

        Parameters
        ----------
        axis : int, default 0
            The new axis along which they are stacked, in the order d1, d2, hg, std, vg.

        Returns
        -------
        numpy.ndarray
            The stacked indices.
        """
        return np.stack([getattr(self, name) for name in STACK_ORDER], axis=axis)

    def __repr__(self):
        ng, nt = self.std.shape
        return f"PrecipitationIndices({', '.join(INDICES)}: (ng, ntime_step) = ({ng}, {nt}))"


GAP_CELLS = ("catchment", "farther")


def precipitation_indices(model, gap_cells: str = "catchment") -> PrecipitationIndices:
    """Spatial indices (std, d1, d2, vg, hg) of the precipitation over each gauge's catchment.

    Parameters
    ----------
    model : Model
        A model whose mesh has gauges and flow distances.
    gap_cells : str, default "catchment"
        Cells of the rain and area curves of vg and hg. "catchment": the gauge's
        catchment, as for the other indices. "farther": smash 1.3's choice, every
        active cell whose flow distance is at least the gauge's (at an upstream gauge
        this mixes in cells of other branches, which do not drain through the gauge),
        missing rain counted as 0 while the cell stays in the area curve
        (docs/running.md gives the evidence and the agreement).

    Returns
    -------
    PrecipitationIndices
        std, d1, d2, vg, hg as (ng, ntime_step) arrays, NaN at steps without rain.
    """
    if gap_cells not in GAP_CELLS:
        raise ValueError(f"gap_cells must be one of {list(GAP_CELLS)}, got {gap_cells!r}")
    net = model.network
    if net.gauge_cell.size == 0:
        raise ValueError("precipitation_indices needs a mesh with gauges (mesh ng = 0): "
                         "the indices are computed over each gauge's catchment")
    if getattr(model.mesh, "flwdst", None) is None:
        raise ValueError("precipitation_indices needs the mesh flow distances (mesh['flwdst'])")
    flwdst = net.from_grid(np.asarray(model.mesh.flwdst, dtype=np.float64))
    if not np.all(np.isfinite(flwdst)):
        # A NaN distance would leave a gauge with no cell at or beyond it (a division by zero).
        raise ValueError("precipitation_indices needs finite mesh flow distances (mesh['flwdst']) on active "
                         f"cells: {int(np.count_nonzero(~np.isfinite(flwdst)))} are not")
    prcp = model._forcing("prcp")  # (nac, ntime_step), cells in network order
    nt = model.setup.ntime_step
    out = {name: np.full((net.gauge_cell.size, nt), np.nan) for name in INDICES}
    # Steps in blocks, each read once for every gauge (streamed forcings: from disk, a block at a time):
    # the (cells, steps) float64 copies stay bounded.
    span = model.atmos_data.block_steps()
    for t0 in range(0, nt, span):
        block = prcp[:, t0:t0 + span]
        steps = slice(t0, t0 + block.shape[1])
        for g, cells in enumerate(net.gauge_upstream()):
            dist = flwdst[cells] - flwdst[net.gauge_cell[g]]
            for name, values in catchment_indices(np.asarray(block[cells], dtype=np.float64), dist).items():
                out[name][g, steps] = values
        if gap_cells == "farther":
            _farther_gaps(net, flwdst, block, steps, out)
    return PrecipitationIndices(**out)


def _farther_gaps(net, flwdst, block, steps: slice, out) -> None:
    """vg, hg of the steps `steps` (`block` their (nac, n) precipitation) over every active cell at least as
    far from the outlet as the gauge (smash 1.3)."""
    for g, gauge in enumerate(net.gauge_cell):
        cells = np.flatnonzero(flwdst >= flwdst[gauge])
        dist = flwdst[cells] - flwdst[gauge]
        rain = np.clip(np.asarray(block[cells], dtype=np.float64), 0.0, None)
        # The area curve counts the gauge and the cells beyond it, not the other cells at
        # the gauge's own distance (smash 1.3 under uniform rain, Cance and Lez).
        counted = np.repeat(((dist > 0) | (cells == gauge))[:, None], rain.shape[1], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            vg, hg = _gaps(rain, counted, dist, rain.sum(axis=0), counted[:, 0].sum())
        # Steps without rain over the catchment stay NaN, as for the other indices.
        dry = np.isnan(out["d1"][g, steps]) & np.isnan(out["std"][g, steps])
        out["vg"][g, steps] = np.where(dry, np.nan, vg)
        out["hg"][g, steps] = np.where(dry, np.nan, hg)


def catchment_indices(prcp: np.ndarray, dist: np.ndarray) -> dict[str, np.ndarray]:
    """Indices of (ncell, nstep) precipitation (negative = missing) on cells at flow distances (ncell,)."""
    observed = prcp >= 0
    rain = np.where(observed, prcp, 0.0)
    n_obs = observed.sum(axis=0)
    total = rain.sum(axis=0)
    wet = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_obs
        std = np.sqrt(np.where(observed, (rain - mean) ** 2, 0.0).sum(axis=0) / n_obs)
        d_mean = (observed * dist[:, None]).sum(axis=0) / n_obs
        d_var = np.where(observed, (dist[:, None] - d_mean) ** 2, 0.0).sum(axis=0) / n_obs
        theta1 = (rain * dist[:, None]).sum(axis=0) / total
        theta2 = (rain * (dist[:, None] - theta1) ** 2).sum(axis=0) / total
        d1 = np.where(d_mean > 0, theta1 / d_mean, np.nan)
        d2 = np.where(d_var > 0, theta2 / d_var, np.nan)
        vg, hg = _gaps(rain, observed, dist, total, n_obs)
    indices = {"std": std, "d1": d1, "d2": d2, "vg": vg, "hg": hg}
    return {name: np.where(wet, values, np.nan) for name, values in indices.items()}


def _gaps(rain, observed, dist, total, n_obs):
    d_max = dist.max()
    x = dist / d_max if d_max > 0 else np.zeros_like(dist)
    # Grid point k counts the cells with x <= k / GAP_GRID: first grid point at or beyond x.
    grid_point = np.searchsorted(np.arange(GAP_GRID + 1) / GAP_GRID, x, side="left")
    onehot = (grid_point[None, :] == np.arange(GAP_GRID + 1)[:, None]).astype(np.float64)
    rain_curve = np.cumsum(onehot @ rain, axis=0) / total
    area_curve = np.cumsum(onehot @ observed.astype(np.float64), axis=0) / n_obs
    gap = rain_curve - area_curve
    gap[np.abs(gap) < _GAP_NOISE] = 0.0
    steps = np.arange(rain.shape[1])
    widest = np.argmax(np.abs(gap), axis=0)
    level = rain_curve[widest, steps]
    nearest = np.argmin(np.abs(area_curve - level[None, :]), axis=0)
    return np.abs(gap[widest, steps]), np.abs(widest - nearest) / GAP_GRID
