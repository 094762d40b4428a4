"""multiple_forward_run: one forward run per sample of uniform parameter / initial state values.

The ensembles behind sensitivity analyses and Monte Carlo calibration: each
sample sets every named rr parameter or initial state to one value over the
whole grid, the model runs, and its discharge at the gauges and its cost are
kept. The model passed in is left unchanged.
"""

from __future__ import annotations

import numpy as np

from smash.factory.samples import Samples
from smash.forward import check_common_options, run_forward


class MultipleForwardRun:
    """`q`: (ng, ntime_step, n_sample) simulated discharge (m3/s, float32) at the gauges;
    `cost`: (n_sample,) cost of each run (None when the mesh has no gauge)."""

    def __init__(self, q: np.ndarray, cost: np.ndarray | None):
        self.q = q
        self.cost = cost

    def __repr__(self):
        cost = "None" if self.cost is None else f"array{self.cost.shape}"
        return f"MultipleForwardRun(q=array{self.q.shape}, cost={cost})"


def _sample_table(model, samples) -> tuple[list[str], np.ndarray]:
    """(names, values of shape (n_sample, n_names)) from a Samples or a {name: values} dict."""
    if isinstance(samples, Samples):
        names, values = samples.names, samples.to_numpy(axis=1)
    elif isinstance(samples, dict) and samples:
        names = list(samples)
        columns = [np.atleast_1d(np.asarray(samples[n], dtype=np.float64)) for n in names]
        sizes = {c.size for c in columns}
        if len(sizes) != 1 or any(c.ndim != 1 for c in columns):
            raise ValueError("samples dict must map each name to a 1-D array, all of the same length; got "
                             + ", ".join(f"{n}: shape {c.shape}" for n, c in zip(names, columns, strict=True)))
        values = np.stack(columns, axis=1)
    else:
        raise TypeError("samples must be a smash.factory.Samples or a non-empty dict {name: values}, "
                        f"got {type(samples).__name__}")
    known = set(model.rr_parameters.keys) | set(model.rr_initial_states.keys)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"samples name(s) {unknown} are neither rr parameters nor rr initial states of the "
                         f"structure {model.setup.structure}: {sorted(known)}")
    return names, values


def multiple_forward_run(model, samples, cost_options=None, common_options=None) -> MultipleForwardRun:
    """Run `model` once per sample (see the module docstring); returns a MultipleForwardRun."""
    common = check_common_options(common_options, verbose=True)
    names, values = _sample_table(model, samples)
    parameters = set(model.rr_parameters.keys)
    work = model.copy()
    ng, nt, n = int(model.mesh.ng), int(model.setup.ntime_step), values.shape[0]
    q = np.zeros((ng, nt, n), dtype=np.float32)
    cost = np.zeros(n) if ng > 0 else None
    run_options = {"ncpu": common["ncpu"], "verbose": False}
    ret = {"cost": True} if ng > 0 else None

    steps = range(n)
    if common["verbose"]:
        from tqdm import tqdm

        steps = tqdm(steps, desc="</> Multiple Forward Run", leave=False, dynamic_ncols=True)
    for i in steps:
        for name, value in zip(names, values[i], strict=True):
            setter = work.set_rr_parameters if name in parameters else work.set_rr_initial_states
            try:
                setter(name, value)
            except ValueError as err:
                raise ValueError(f"sample {i}: {err}") from None
        result = run_forward(work, cost_options, run_options, ret)
        q[:, :, i] = work.response.q
        if cost is not None:
            cost[i] = result.cost
    return MultipleForwardRun(q, cost)
