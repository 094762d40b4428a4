"""multiple_forward_run: one forward run per sample of rr parameter / initial state values.

The ensembles behind sensitivity analyses and Monte Carlo calibration: each
sample sets every named rr parameter or initial state, the model runs, and its
discharge at the gauges and its cost are kept. The model passed in is left
unchanged. As in smash 1.3, a dict sample may hold for each name either `n`
values (uniform over the grid) or `n` maps of shape (n, nrow, ncol) (spatially
distributed), the two kinds mixed freely; only active cells are checked
against the feasible domain.
"""

from __future__ import annotations

import numpy as np

from smash.progress import progress_bar
from smash.results import Result
from smash.simulation.forward import check_common_options, run_forward
from smash.simulation.samples import Samples


class MultipleForwardRun(Result):
    """The results of `multiple_forward_run`.

    Parameters
    ----------
    q : numpy.ndarray
        (ng, ntime_step, n_sample) simulated discharge at the gauges (m3/s, float32).
    cost : numpy.ndarray or None
        (n_sample,) cost of each run (None when the mesh has no gauge).
    samples : dict or None
        The sampled values of each name (``(n,)`` or ``(n, nrow, ncol)``).
    densities : dict or None
        The density of the law they were drawn from when known (a `Samples`; None for a dict).
    cost_options : dict or None
        The cost options the costs were computed with.

    Notes
    -----
    The run keeps what `multiset_estimate` weighs: the samples, their prior densities and the
    cost options.
    """

    def __init__(self, q: np.ndarray, cost: np.ndarray | None, samples: dict | None = None,
                 densities: dict | None = None, cost_options: dict | None = None):
        super().__init__(q=q, cost=cost)
        self._samples = samples
        self._densities = densities
        self._cost_options = cost_options

    def __repr__(self):
        cost = "None" if self.cost is None else f"array{self.cost.shape}"
        return f"MultipleForwardRun(q=array{self.q.shape}, cost={cost})"


def _sample_table(model, samples) -> tuple[list[str], list[np.ndarray], int]:
    """(names, per-name arrays of shape (n,) or (n, nrow, ncol), n) from a Samples or a {name: values} dict."""
    if isinstance(samples, Samples):
        names = samples.names
        columns = list(samples.to_numpy(axis=0))
    elif isinstance(samples, dict) and samples:
        names = list(samples)
        columns = [np.atleast_1d(np.asarray(samples[n], dtype=np.float64)) for n in names]
    else:
        raise TypeError("samples must be a smash.factory.Samples or a non-empty dict {name: values}, "
                        f"got {type(samples).__name__}")
    grid = (int(model.mesh.nrow), int(model.mesh.ncol))
    well_shaped = all(c.ndim == 1 or (c.ndim == 3 and c.shape[1:] == grid) for c in columns)
    sizes = {c.shape[0] for c in columns}
    if not well_shaped or len(sizes) != 1:
        raise ValueError(f"samples dict must map each name to n values (n,) or n maps (n, nrow, ncol) = "
                         f"(n, {grid[0]}, {grid[1]}), the same n (same length) for every name; got "
                         + ", ".join(f"{n}: shape {c.shape}" for n, c in zip(names, columns, strict=True)))
    known = set(model.rr_parameters.keys) | set(model.rr_initial_states.keys)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"samples name(s) {unknown} are neither rr parameters nor rr initial states of the "
                         f"structure {model.setup.structure}: {sorted(known)}")
    return names, columns, sizes.pop()


def multiple_forward_run(model, samples, cost_options=None, common_options=None) -> MultipleForwardRun:
    """Run `model` once per sample (see the module docstring).

    Parameters
    ----------
    model : Model
        The model to run (left unchanged).
    samples : Samples or dict
        A `generate_samples` result, or ``{name: values}`` with, for each rr parameter or
        initial state name, ``n`` values (uniform maps) or ``n`` maps of shape (n, nrow, ncol).
    cost_options, common_options : dict or None
        As for `forward_run` (common: ``ncpu``, ``verbose``).

    Returns
    -------
    MultipleForwardRun
        ``q`` (ng, ntime_step, n) and ``cost`` (n,) of the runs.
    """
    common = check_common_options(common_options, verbose=True)
    names, columns, n = _sample_table(model, samples)
    parameters = set(model.rr_parameters.keys)
    work = model.copy()
    ng, nt = int(model.mesh.ng), int(model.setup.ntime_step)
    q = np.zeros((ng, nt, n), dtype=np.float32)
    cost = np.zeros(n) if ng > 0 else None
    run_options = {"ncpu": common["ncpu"], "verbose": False}
    ret = {"cost": True} if ng > 0 else None

    steps = range(n)
    if common["verbose"]:
        steps = progress_bar(steps, desc="</> Multiple Forward Run", leave=False, dynamic_ncols=True)
    for i in steps:
        for name, column in zip(names, columns, strict=True):
            setter = work.set_rr_parameters if name in parameters else work.set_rr_initial_states
            try:
                setter(name, column[i])
            except ValueError as err:
                raise ValueError(f"sample {i}: {err}") from None
        result = run_forward(work, cost_options, run_options, ret)
        q[:, :, i] = work.response.q
        if cost is not None:
            cost[i] = result.cost
    if isinstance(samples, Samples):
        densities = {name: samples.prior_density(name) for name in names}
        if any(d is None for d in densities.values()):
            densities = None
    else:
        densities = None
    kept = {name: np.array(column, dtype=np.float64) for name, column in zip(names, columns, strict=True)}
    return MultipleForwardRun(q, cost, kept, densities, None if cost_options is None else dict(cost_options))
