"""forward_run: simulate discharge, optionally returning states, fluxes and cost."""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import time

import numpy as np

from smash import _core
from smash.analysis.cost_options import build_cost_options, check_observations
from smash.docparams import shared_parameters
from smash.logs import get_logger
from smash.results import Result
from smash.simulation import memory, work_split
from smash.simulation.containers import RRStates
from smash.simulation.internal_fluxes import fluxes_to_grids
from smash.stream.outputs import OutputStore
from smash.time_axis import TimeAxis, parse_time

RETURN_KEYS = ("time_step", "rr_states", "q_domain", "internal_fluxes", "cost", "jobs", "output_store")
COMMON_KEYS = ("ncpu", "verbose")
LOGGER = get_logger("forward")


class ForwardRun(Result):
    """Outputs of a forward run selected by `return_options`.

    Attributes present depending on the options: `time_step` (end times of
    the returned steps), `rr_states` (list of RRStates), `q_domain`
    (nrow, ncol, n) m3/s, `internal_fluxes` (dict of (nrow, ncol, n) arrays),
    `cost`, `jobs`; with return option ``output_store`` (a ``*.nc`` or ``*.zarr`` path) the series
    asked for are written there as the run goes (smash.stream.outputs) and `output_store` holds the path.

    Parameters
    ----------
    **values
        The outputs, by name (made by `forward_run`, not by users).
    """


@functools.cache
def _max_threads() -> int:
    """The most threads SetupDT%rr_split has room for."""
    return _core.max_threads()


def check_common_options(common_options, verbose=False):
    opts = {"ncpu": 1, "verbose": verbose}
    if common_options:
        unknown = set(common_options) - set(COMMON_KEYS)
        if unknown:
            raise ValueError(f"Unknown common option(s) {sorted(unknown)}; valid: {list(COMMON_KEYS)}")
        opts.update(common_options)
    ncpu = opts["ncpu"]
    if isinstance(ncpu, bool) or not isinstance(ncpu, (int, np.integer)) or ncpu < 1:
        raise ValueError(f"common_options['ncpu'] must be a positive integer, got {ncpu!r}")
    most = _max_threads()
    if ncpu > most:
        raise ValueError(f"common_options['ncpu'] = {ncpu} is above the {most} threads the core can split cells "
                         "between")
    return opts


def check_return_keys(return_options, valid) -> dict:
    """`return_options` as a dict, refusing keys not in `valid` (a typo would otherwise return nothing)."""
    ret = dict(return_options or {})
    unknown = set(ret) - set(valid)
    if unknown:
        raise ValueError(f"Unknown return option(s) {sorted(unknown)}; valid: {list(valid)}")
    return ret


def _time_steps(model, spec):
    """1-based indices of the steps whose outputs are returned."""
    s = model.setup
    n = s.ntime_step
    if spec is None or (isinstance(spec, str) and spec == "all"):
        return np.arange(1, n + 1)
    values = [spec] if isinstance(spec, (str, _dt.date, np.datetime64)) else list(spec)
    axis = TimeAxis.of(s)
    steps = []
    for v in values:
        when = parse_time(v, "return_options['time_step']")
        step = axis.step_ending_at(when)
        if step is None:
            raise ValueError(f"time_step {when} is not the end of a simulated step "
                             f"({axis.time(1)} -> {s.end_time}, every {s.dt:g} s)")
        steps.append(step)
    return np.unique(steps)


def run_forward(model, cost_options=None, common_options=None, return_options=None):
    common = check_common_options(common_options)
    ret = check_return_keys(return_options, RETURN_KEYS)
    _, fcost = build_cost_options(model, cost_options)
    if ret.get("cost") or ret.get("jobs"):
        if model.mesh.ng == 0:
            raise ValueError("return_options asks for the cost but the mesh has no gauge")
        check_observations(model, fcost)

    net = model.network
    steps = _time_steps(model, ret.get("time_step"))
    want_states, want_q, want_fluxes = (bool(ret.get(k)) for k in ("rr_states", "q_domain", "internal_fluxes"))
    any_series = want_states or want_q or want_fluxes
    store = _output_store(model, ret, steps, any_series)
    fo = _core_output(model, steps, store, (want_q, want_states, want_fluxes))
    model._sync_parameters()
    work_split.use_threads(model, common["ncpu"], forward_only=True)
    t0 = time.perf_counter()
    if store is not None:
        try:
            _run_writing(model, fcost, fo, store)
        except BaseException:
            store.abort()
            raise
        store.close()
    else:
        _core.run_forward(model, fcost, fo)
    elapsed = time.perf_counter() - t0
    LOGGER.log(logging.INFO if common["verbose"] else logging.DEBUG, "</> Forward Run (%.3f s)", elapsed)

    ng = int(net.gauge_cell.size)
    model.response.q = np.array(fo.q[:ng], dtype=np.float32)
    model._final_states_from(fo, keep_output=not any_series)
    if not ret:
        return None

    return ForwardRun(**_returned(model, fo, steps, ret, store))


def _output_store(model, ret: dict, steps: np.ndarray, any_series: bool):
    """The store the series go to when return_options names one (`output_store`), else None."""
    if not ret.get("output_store"):
        return None
    if not any_series:
        raise ValueError("return_options['output_store'] needs series to write: rr_states, q_domain or "
                         "internal_fluxes")
    want_states, want_q, want_fluxes = (bool(ret.get(k)) for k in ("rr_states", "q_domain", "internal_fluxes"))
    streamed = getattr(_core.inputs_of(model), "stream", None)
    return OutputStore(model, ret["output_store"], steps, want_q, want_states, want_fluxes,
                       streamed.windows["forward"] if streamed is not None else None)


def _core_output(model, steps: np.ndarray, store, wanted: tuple[bool, bool, bool]):
    """The core's OutputDT of a run saving `steps` (in `store`'s window of slots when streamed);
    `wanted`: (q_domain, rr_states, internal_fluxes) series asked for."""
    s, net, structure = model.setup, model.network, model.structure
    any_series = any(wanted)
    nslot = store.nslot if store is not None else steps.size
    layout = (net.gauge_cell.size, net.nac, s.ntime_step, len(structure.rr_states), len(structure.fluxes),
              nslot if any_series else 0, *wanted)
    # Runs without saved series reuse the model's last output: allocating and first touching
    # the final states of a country-sized grid again each run cost about 1 % of a run.
    if any_series:
        memory.check(memory.series_estimate(model, nslot, *wanted))
    cached = model.__dict__.get("_last_output")
    if not any_series and cached is not None and cached[0] == layout:
        return cached[1]
    fo = _core.new_output(*layout)
    model._last_output = None if any_series else (layout, fo)
    if any_series:
        fo.save_slot[steps - 1] = store.slots if store is not None else np.arange(1, steps.size + 1)
    return fo


def _returned(model, fo, steps: np.ndarray, ret: dict, store=None) -> dict:
    """The outputs `return_options` asks for, from the core output `fo` of a run saving `steps` (the
    series went to `store` instead when given)."""
    net, structure = model.network, model.structure
    want_states, want_q, want_fluxes = (bool(ret.get(k)) for k in ("rr_states", "q_domain", "internal_fluxes"))
    out = {}
    axis = TimeAxis.of(model.setup)
    end_times = [axis.time(t) for t in steps]
    if want_states or want_q or want_fluxes:
        out["time_step"] = np.array(end_times, dtype="datetime64[s]")
    if store is not None:
        out["output_store"] = store.path
        want_states = want_q = want_fluxes = False
    if want_states:
        series = np.array(fo.rr_states)
        out["rr_states"] = [
            RRStates(structure.rr_states, net.to_grid(series[:, :, i], fill=-99.0, dtype=np.float64),
                     np.datetime64(end_times[i], "s"))
            for i in range(steps.size)
        ]
    if want_q:
        out["q_domain"] = net.to_grid(np.array(fo.q_domain), fill=-99.0, dtype=np.float32)
    if want_fluxes:
        out["internal_fluxes"] = fluxes_to_grids(model, np.array(fo.fluxes))
    if ret.get("cost"):
        out["cost"] = float(fo.cost)
    if ret.get("jobs"):
        out["jobs"] = float(fo.cost)
    return out


def _run_writing(model, fcost, fo, store) -> None:
    """The forward run with its series written to `store` (smash.stream.outputs): on streamed forcings
    each window's steps when the core asks for the next window, the rest after the run."""
    streamed = getattr(_core.inputs_of(model), "stream", None)
    if streamed is not None:
        streamed.window_hook = lambda t0: store.flush(fo, t0 - 1)
    try:
        _core.run_forward(model, fcost, fo)
    finally:
        if streamed is not None:
            streamed.window_hook = None
    store.flush(fo, model.setup.ntime_step)


@shared_parameters
def forward_run(model, cost_options=None, common_options=None, return_options=None):
    """Run a copy of a model over its whole period.

    Parameters
    ----------
    model : Model
        The model to run (left unchanged).
    {{cost_options}}
    {{common_options}}
    return_options : dict, optional
        Outputs to return, as ``{name: True}``: ``time_step``, ``rr_states``, ``q_domain``,
        ``internal_fluxes``, ``cost``, ``jobs``.

    Returns
    -------
    model : Model
        The run copy (its ``response.q``: simulated discharge at the gauges, m3/s).
    result : ForwardRun
        The outputs asked for; returned only when `return_options` is given.

    Examples
    --------
    >>> import smash
    >>> model = smash.Model(*smash.factory.load_dataset("synthetic"))
    >>> run, result = smash.forward_run(model, return_options={"cost": True})
    """
    new = model.copy()
    result = run_forward(new, cost_options, common_options, return_options)
    return (new, result) if return_options else new
