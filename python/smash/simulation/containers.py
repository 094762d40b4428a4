"""The data objects hung on a Model, with the smash 1.x attribute names."""

from __future__ import annotations

import copy
import warnings
import weakref

import numpy as np

from smash import _core
from smash.inputs.atmos import implausible_values, plausible_max, plausible_range_text
from smash.simulation import sparse_forcing, work_split


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def as_numbers(value, what: str, dtype) -> np.ndarray:
    """`value` as an array of `dtype`, or a TypeError naming `what` (text, None, booleans)."""
    raw = value if isinstance(value, np.ndarray) else None
    try:
        arr = np.asarray(value, dtype=dtype)
        raw = np.asarray(value) if raw is None else raw
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number or an array of numbers, got {value!r:.80}") from None
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"{what} must be a number or an array of numbers, got an array of dtype {raw.dtype}")
    return arr


def _tiled_copy(dst: np.ndarray, src: np.ndarray, tile: int = 256) -> np.ndarray:
    """dst[...] = src for 2-D arrays of opposite memory orders (the core's forcings are
    time-major, grids cell-major), tile by tile: a plain assignment of a country-sized
    series walks memory across the grain (0.8 s vs 0.2 s for 1e8 values)."""
    for i in range(0, src.shape[0], tile):
        for j in range(0, src.shape[1], tile):
            dst[i:i + tile, j:j + tile] = src[i:i + tile, j:j + tile]
    return dst


class _Lease:
    """The exporter of a writable view handed to the user: numpy keeps it alive as long as any
    array derived from that view, so a weak reference to it tells whether one may still write."""

    def __init__(self, arr: np.ndarray):
        self._arr = arr
        self.__array_interface__ = arr.__array_interface__


class Snapshot:
    """Arrays detached from a model, as attributes (what `copy()` of a model's data objects gives)."""

    def __init__(self, title: str, **arrays):
        self.__dict__.update(arrays)
        self._title = title

    def copy(self) -> Snapshot:
        """A copy whose arrays are its own."""
        return Snapshot(self._title, **{k: np.array(v, copy=True) for k, v in self.__dict__.items()
                                        if not k.startswith("_")})

    def __repr__(self):
        return f"{self._title}({', '.join(k for k in self.__dict__ if not k.startswith('_'))})"


class NamedMaps:
    """Spatial maps of named quantities: `keys` (n,) and `values` (nrow, ncol, n).

    `values` is a plain writable numpy array: editing it in place changes
    what the next run uses. `keys` is read-only: the i-th key names `values[..., i]`, and the core
    reads the maps in the structure's order, so keys reordered by hand would make
    `set_rr_parameters` and the next run disagree on which map is which.
    """

    def __init__(self, keys, values: np.ndarray):
        self._keys = _readonly(np.array(list(keys), dtype="<U16"))
        self._values = values

    @property
    def values(self) -> np.ndarray:
        return self._values

    @values.setter
    def values(self, value):
        # A whole new array must keep one map per key on the same grid: the core reads the maps by position.
        # A float array is kept as given (edits to it reach the model); anything else becomes float64.
        arr = value if isinstance(value, np.ndarray) and value.dtype.kind == "f" else \
            as_numbers(value, "values", np.float64)
        if arr.shape != self._values.shape:
            raise ValueError(f"values must have shape {self._values.shape} (nrow, ncol, one map per key of "
                             f"{self._keys.tolist()}), got {arr.shape}")
        self._values = arr

    @property
    def keys(self) -> np.ndarray:
        return self._keys

    @keys.setter
    def keys(self, value):
        if np.array_equal(np.asarray(value).astype(str), self._keys):
            return
        raise AttributeError(f"keys cannot be changed (they are {self._keys.tolist()}, fixed by the structure): "
                             "set a map with set_rr_parameters / set_rr_initial_states or values[..., i]")

    def index(self, key: str) -> int:
        hits = np.flatnonzero(self.keys == key)
        if hits.size == 0:
            raise ValueError(f"Unknown key {key!r}; choose one of {self.keys.tolist()}")
        return int(hits[0])

    def copy(self) -> NamedMaps:
        return type(self)(self.keys, self.values.copy())

    def __repr__(self):
        return f"{type(self).__name__}(keys={self.keys.tolist()}, values: shape {self.values.shape})"


class RRStates(NamedMaps):
    """Rainfall-runoff states at one time step (`time_step` is its end time)."""

    def __init__(self, keys, values, time_step=None):
        super().__init__(keys, values)
        self.time_step = time_step

    def __repr__(self):
        return f"RRStates(time_step={self.time_step}, keys={self.keys.tolist()})"


def _check_assigned_forcing(kind: str, active: np.ndarray, dt: int) -> None:
    """An assigned (nac, ntime_step) forcing, in place: NaN and inf become missing (-99) so they never reach
    the model states; they and values beyond the plausible bound are counted in one UserWarning."""
    lines = []
    nonfinite = ~np.isfinite(active)
    if nonfinite.any():
        active[nonfinite] = -99.0
        steps = np.flatnonzero(nonfinite.any(axis=0))
        lines.append(f"{int(nonfinite.sum())} NaN or inf value(s) on active cells are taken as missing (-99); "
                     f"first steps (0-based): {steps[:5].tolist()}")
    bound = plausible_max(kind, dt)
    implausible = implausible_values(kind, active, bound)
    if implausible.any():
        limits = plausible_range_text(kind, bound) + ("" if kind == "temp" else f" of {dt} s")
        steps = np.flatnonzero(implausible.any(axis=0))
        lines.append(f"{int(implausible.sum())} value(s) {limits} (kept); first steps (0-based): "
                     f"{steps[:5].tolist()}")
    if lines:
        warnings.warn("\n".join([f"atmos_data.{kind}:"] + lines), UserWarning, stacklevel=4)


class AtmosData:
    """Atmospheric forcings as (nrow, ncol, ntime_step) grids.

    The model keeps forcings of active cells only (that is what the core
    reads), every step whole or, with setup ``sparse_storage``, encoded
    (smash.simulation.sparse_forcing; ``sparse_prcp`` ... show the encoded steps). Reading
    an attribute builds the grid (read-only, -99 outside the active cells);
    assign a whole array to change it.
    """

    _KINDS = ("prcp", "pet", "snow", "temp")

    def __init__(self, model):
        self._model = model
        # Gauge means (mean_prcp, ...): computed when first read, dropped when the forcing is set.
        self._means = {}

    def _check_kind(self, kind):
        if kind in ("snow", "temp") and self._model.setup.snow_module == "zero":
            raise AttributeError(f"atmos_data.{kind} exists only with a snow module (setup snow_module)")

    def _get(self, kind):
        m = self._model
        self._check_kind(kind)
        if getattr(_core.inputs_of(m), "stream", None) is not None:
            # Streamed (smash.stream): the whole period read from disk for this request.
            arr = m._forcing(kind)[:, :]
        elif m.setup.sparse_storage:
            arr = sparse_forcing.decode_steps(_core.inputs_of(m), kind, m.network.nac, 0, m.setup.ntime_step)
        else:
            stored = getattr(_core.inputs_of(m), kind)
            arr = _tiled_copy(np.empty(stored.shape, dtype=np.float32), stored)
        return _readonly(m.network.to_grid(arr, fill=-99.0, dtype=np.float32))

    @property
    def streamed(self) -> bool:
        """Whether the forcings are streamed from disk (setup ``forcing_storage``): reading a whole attribute
        then reads the whole period; `blocks` reads it a block of steps at a time."""
        return getattr(_core.inputs_of(self._model), "stream", None) is not None

    def block_steps(self) -> int:
        """Steps read at a time by whole-period computations (`blocks`, gauge means, precipitation indices):
        a forward run's window of streamed forcings (the steps read together from disk), else about 16 MB
        of active cells."""
        stream = getattr(_core.inputs_of(self._model), "stream", None)
        if stream is not None:
            return int(stream.windows["forward"])
        return max(1, (1 << 22) // max(self._model.network.nac, 1))

    def blocks(self, kind: str, steps: int | None = None):
        """Forcing `kind` a block of steps at a time: yields (first step, (nrow, ncol, n) float32 grid, -99
        outside the active cells) in time order, what ``atmos_data.<kind>[..., first:first + n]`` holds,
        without the whole period in memory (streamed forcings are read from disk a block at a time).

        Parameters
        ----------
        kind : str
            "prcp", "pet", "snow" or "temp".
        steps : int, optional
            Steps per block (by default `block_steps`).
        """
        m = self._model
        self._check_kind(kind)
        nt, net = m.setup.ntime_step, m.network
        steps = self.block_steps() if steps is None else int(steps)
        data = m._forcing(kind)
        for t0 in range(0, nt, steps):
            yield t0, net.to_grid(np.asarray(data[:, t0:t0 + steps]), fill=-99.0, dtype=np.float32)

    def _sparse(self, kind):
        self._check_kind(kind)
        return sparse_forcing.SparseSeries(self._model, kind)

    def _set(self, kind, grid):
        m = self._model
        grid = as_numbers(grid, f"atmos_data.{kind}", np.float32)
        expected = (m.mesh.nrow, m.mesh.ncol, m.setup.ntime_step)
        if grid.shape != expected:
            raise ValueError(
                f"atmos_data.{kind} must have shape (nrow, ncol, ntime_step) = {expected}, got {grid.shape}"
            )
        if getattr(_core.inputs_of(m), "stream", None) is not None:
            raise ValueError(f"atmos_data.{kind} cannot be assigned on a model whose forcings are streamed from disk "
                             "(setup forcing_storage); build the model with forcing_storage='memory' to assign "
                             "forcings by hand")
        active = m.network.from_grid(grid)
        _check_assigned_forcing(kind, active, int(m.setup.dt))
        m._own_input()
        if m.setup.sparse_storage:
            nt = m.setup.ntime_step
            series = {k: sparse_forcing.steps_of(_core.inputs_of(m), k, nt) for k in sparse_forcing.KINDS if k != kind}
            series[kind] = sparse_forcing.encode_series(active)
            sparse_forcing.store(_core.inputs_of(m), series, nt)
        else:
            _tiled_copy(getattr(_core.inputs_of(m), kind), active)
        self._means.pop(kind, None)
        _core.inputs_of(m).cell_work = None

    def _cell_work(self) -> np.ndarray:
        """Expected rainfall-runoff work of each active cell (smash.simulation.work_split). Kept on the core
        inputs it derives from, which copies of a model share until one of them writes."""
        fi = _core.inputs_of(self._model)
        if getattr(fi, "cell_work", None) is None:
            prcp, pet = self._model._forcing("prcp"), self._model._forcing("pet")
            stream = getattr(fi, "stream", None)
            if stream is not None:
                # Streamed: the first window's steps read at once (steps spread over the period would
                # each decompress a chunk of the store; 256 steps of France are 0.9 GB a kind).
                span = min(stream.ntime_step, work_split.SAMPLED_STEPS, stream.windows["forward"])
                prcp, pet = prcp[:, :span], pet[:, :span]
            fi.cell_work = work_split.cell_work(prcp, pet)
        return fi.cell_work

    def _mean(self, kind):
        self._check_kind(kind)
        if kind not in self._means:
            self._means[kind] = self._model._gauge_mean(kind)
        return self._means[kind]

    prcp = property(lambda s: s._get("prcp"), lambda s, v: s._set("prcp", v))
    pet = property(lambda s: s._get("pet"), lambda s, v: s._set("pet", v))
    snow = property(lambda s: s._get("snow"), lambda s, v: s._set("snow", v))
    temp = property(lambda s: s._get("temp"), lambda s, v: s._set("temp", v))
    # smash 1.x's sparse storage (setup sparse_storage): per-step records, empty otherwise.
    sparse_prcp = property(lambda s: s._sparse("prcp"))
    sparse_pet = property(lambda s: s._sparse("pet"))
    sparse_snow = property(lambda s: s._sparse("snow"))
    sparse_temp = property(lambda s: s._sparse("temp"))
    mean_prcp = property(lambda s: s._mean("prcp"))
    mean_pet = property(lambda s: s._mean("pet"))
    mean_snow = property(lambda s: s._mean("snow"))
    mean_temp = property(lambda s: s._mean("temp"))

    def copy(self) -> Snapshot:
        """The forcings (nrow, ncol, ntime_step) and gauge means, as arrays of their own
        (smash 1.3's `atmos_data.copy()`); the model is not changed by editing them."""
        kinds = self._KINDS if self._model.setup.snow_module != "zero" else self._KINDS[:2]
        arrays = {}
        for kind in kinds:
            arrays[kind] = np.array(self._get(kind))
            arrays[f"mean_{kind}"] = np.array(self._mean(kind))
        return Snapshot("AtmosData", **arrays)

    def __repr__(self):
        s = self._model.setup
        attrs = "prcp, pet" + (", snow, temp" if s.snow_module != "zero" else "")
        shape = (self._model.mesh.nrow, self._model.mesh.ncol, s.ntime_step)
        return f"AtmosData({attrs}: (nrow, ncol, ntime) = {shape}; mean_prcp, mean_pet: (ng, ntime))"


class PhysioData:
    """Physical descriptors (nrow, ncol, nd) and, per descriptor, their min (`l_descriptor`), max
    (`u_descriptor`), mean (`mean_descriptor`) and standard deviation (`std_descriptor`, population)
    over the whole grid, as smash 1.3 computes them (inactive cells included)."""

    def __init__(self, descriptor: np.ndarray, names, imperviousness: np.ndarray | None = None):
        self.descriptor = descriptor
        self.names = list(names)
        # Impervious share of each cell (nrow, ncol), 0 unless read (setup read_imperviousness).
        self.imperviousness = (np.zeros(descriptor.shape[:2], dtype=np.float32) if imperviousness is None
                               else imperviousness)
        if descriptor.shape[-1]:
            flat = descriptor.reshape(-1, descriptor.shape[-1])
            self.l_descriptor = flat.min(axis=0)
            self.u_descriptor = flat.max(axis=0)
            wide = flat.astype(np.float64)
            self.mean_descriptor = wide.mean(axis=0)
            self.std_descriptor = wide.std(axis=0)
        else:
            self.l_descriptor = self.u_descriptor = np.zeros(0, dtype=np.float32)
            self.mean_descriptor = self.std_descriptor = np.zeros(0)

    def copy(self) -> PhysioData:
        """A copy whose arrays are its own (smash 1.3's `physio_data.copy()`)."""
        return copy.deepcopy(self)

    def __repr__(self):
        return f"PhysioData(descriptor: shape {self.descriptor.shape}, names={self.names})"


class ResponseData:
    """Observed discharge `q` (ng, ntime_step), m3/s, -99 where missing."""

    def __init__(self, model):
        self._model = model

    @property
    def q(self):
        # A writable view: the model first takes its own copy if it shares it (Model._own_input).
        # The view is built on a lease that lives as long as any view derived from it: a copy made
        # while one lives takes inputs of its own at once (Model.copy), since that view may write.
        m = self._model
        m._own_input()
        lease = _Lease(_core.inputs_of(m).qobs[: m.mesh.ng])
        m._qobs_leases = [ref for ref in m.__dict__.get("_qobs_leases", []) if ref() is not None]
        m._qobs_leases.append(weakref.ref(lease))
        return np.asarray(lease)

    def _observed(self):
        """Read-only view for the package's own reads: shared inputs stay shared."""
        return _readonly(_core.inputs_of(self._model).qobs[: self._model.mesh.ng])

    @q.setter
    def q(self, value):
        m = self._model
        value = as_numbers(value, "response_data.q", np.float32)
        expected = (m.mesh.ng, m.setup.ntime_step)
        if value.shape != expected:
            raise ValueError(f"response_data.q must have shape (ng, ntime_step) = {expected}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError("response_data.q holds NaN or inf; use -99 for missing values")
        m._own_input()
        _core.inputs_of(m).qobs[: m.mesh.ng] = value

    def copy(self) -> Snapshot:
        """The observed discharge as an array of its own (smash 1.3's `response_data.copy()`)."""
        return Snapshot("ResponseData", q=np.array(self._observed()))

    def __repr__(self):
        return f"ResponseData(q: shape ({self._model.mesh.ng}, {self._model.setup.ntime_step}))"


class Response:
    """Simulated discharge `q` (ng, ntime_step), m3/s, from the last run."""

    def __init__(self, q: np.ndarray):
        self.q = q

    def copy(self) -> Response:
        """A copy whose `q` is its own (smash 1.3's `response.copy()`)."""
        return Response(np.array(self.q))

    def __repr__(self):
        return f"Response(q: shape {self.q.shape})"
