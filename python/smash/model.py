"""The Model: a catchment mesh, its inputs, a structure and its parameters."""

from __future__ import annotations

import copy as _copy
import weakref as _weakref

import numpy as np

from smash import _core, inputs, model_state, stream
from smash.bayesian import serr as _serr
from smash.calibration.multiset import run_multiset_estimate
from smash.calibration.optimize import run_backward, run_optimize, set_control_optimize
from smash.docparams import shared_parameters
from smash.drainage import routing_tree
from smash.drainage.mesh_checks import check_drained_mesh, check_mesh
from smash.drainage.network import bare_grid_network, build_network
from smash.inputs import partitioning
from smash.inputs.imperviousness import check_imperviousness, read_imperviousness
from smash.inputs.synthetic import synthetic_observations
from smash.nn import hybrid as hybrid_nn
from smash.registry import (
    feasible_violation,
    parameter_bounds,
    parameter_default,
    state_bounds,
    state_default,
)
from smash.simulation import memory, sparse_forcing
from smash.simulation.containers import AtmosData, NamedMaps, PhysioData, Response, ResponseData, as_numbers
from smash.simulation.forward import run_forward
from smash.simulation.model_setup import DEFAULTS, REQUIRED, normalize_setup, setup_attributes, structure_of
from smash.time_axis import TimeAxis


class _Attributes:
    """Attribute access to a dict (model.setup.dt, model.mesh.flwdir)."""

    def __init__(self, values: dict, title: str):
        self.__dict__.update(values)
        self._title = title

    def copy(self):
        """A deep copy (as smash 1.3's `model.setup.copy()`, `model.mesh.copy()`)."""
        return _copy.deepcopy(self)

    def __repr__(self):
        keys = sorted(k for k in self.__dict__ if not k.startswith("_"))
        return f"{self._title}({', '.join(keys)})"


class Model:
    """A distributed hydrological model on a mesh.

    Parameters
    ----------
    setup : dict
        Structure, time axis and input locations (see `smash.factory.load_dataset`).
    mesh : dict
        Grid, flow directions and gauges (see `smash.io.read_mesh`). A bare grid (`xres`, `yres`,
        `xmin`, `ymax`, `nrow`, `ncol`, no `flwdir`) gives a model that reads and holds inputs on
        every cell of the grid but cannot run (as in smash 1.3).
    verbose : bool
        Show progress while reading inputs.
    """

    def __init__(self, setup: dict, mesh: dict, verbose: bool = False):
        norm = normalize_setup(setup)
        check_mesh(mesh)
        self._structure = structure_of(norm)
        self.setup = _Attributes(setup_attributes(norm), "Setup")
        self._bare_grid = _is_bare_grid(mesh)
        if self._bare_grid:
            self._network = bare_grid_network(mesh)
            mesh_attrs = _bare_grid_mesh(mesh)
        else:
            check_drained_mesh(mesh)
            self._network = build_network(mesh)
            mesh_attrs = self._mesh_attributes(mesh)
        self.mesh = _Attributes(mesh_attrs, "Mesh")
        if not self._bare_grid:
            self._check_mesh_geometry()
        # Before the core allocates or anything is read: an allocation too large kills the process.
        # Forcings too large to hold whole are streamed from disk a window at a time (smash.stream).
        windows = stream.stream_windows(norm, self._structure, self._network)
        # The core holds a forward run's window; a gradient's is sized when it is planned (memory.gradient_plan).
        memory.check_model(norm, self._structure, self._network, windows["forward"] if windows else None)

        self._core = _core.CoreHandles()  # the Fortran handles, reached only through smash._core
        self._build_setup()
        self._core.mesh = None if self._bare_grid else self._build_mesh()
        self._read_inputs(inputs, norm, verbose, windows)
        self._init_parameters()
        # smash 1.3 marks discharge not yet simulated as missing.
        self.response = Response(np.full((self.mesh.ng, norm["ntime_step"]), -99.0, dtype=np.float32))
        final = np.full_like(self.rr_initial_states.values, -99.0)
        self.rr_final_states = NamedMaps(self.rr_initial_states.keys, final)
        _serr.init_serr(self)
        if norm["synthetic"]:
            self.response_data.q = synthetic_observations(self)
        streamed = getattr(self._core.input, "stream", None)
        if streamed is not None:
            # A forward run's first window read now, as the held mode reads its period here: the run starts on it.
            streamed.prefetch(self._core.input)

    # ------------------------------------------------------------------ build
    def _mesh_attributes(self, mesh: dict) -> dict:
        """model.mesh of a mesh with flow directions: the user's keys plus counts and defaults."""
        # Arrays copied: the model's mesh must not change when the caller edits its dict afterwards.
        mesh_attrs = {k: (np.array(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in mesh.items()}
        mesh_attrs["nac"] = self._network.nac
        mesh_attrs["ng"] = int(self._network.gauge_cell.size)
        mesh_attrs.setdefault("gauge_pos", np.zeros((0, 2), dtype=np.int32))
        mesh_attrs.setdefault("code", np.array([], dtype="<U8"))
        mesh_attrs["code"] = np.array([c.decode() if isinstance(c, bytes) else str(c) for c in mesh_attrs["code"]])
        for key in ("dx", "dy"):
            arr = np.asarray(mesh_attrs.get(key, np.full((self._network.nrow, self._network.ncol), 1000.0)))
            if arr.ndim == 0:
                arr = np.full((self._network.nrow, self._network.ncol), float(arr))
            mesh_attrs[key] = arr
        # smash 1.3's index maps: active cells (one domain here: local = global), and the 0-based
        # column-major rank of each active cell (-100 elsewhere).
        active = np.zeros((self._network.nrow, self._network.ncol), dtype=bool)
        active[self._network.rows, self._network.cols] = True
        mesh_attrs["local_active_cell"] = active.astype(np.int32)
        rank = np.full(active.shape, -100, dtype=np.int32)
        rank.T[active.T] = np.arange(int(active.sum()), dtype=np.int32)
        mesh_attrs["rowcol_to_ind_ac"] = rank
        return mesh_attrs

    def _check_mesh_geometry(self):
        net = self._network
        for key in ("dx", "dy"):
            vals = np.asarray(self.mesh.__dict__[key], dtype=float)
            if vals.shape != (net.nrow, net.ncol):
                raise ValueError(f"mesh[{key!r}] has shape {vals.shape}, expected {(net.nrow, net.ncol)}")
            cell = vals[net.rows, net.cols]
            if not np.all(np.isfinite(cell) & (cell > 0)):
                raise ValueError(f"mesh[{key!r}] must be positive and finite on active cells")

    def _build_setup(self):
        s = self.setup
        fs = _core.new_setup()
        fs.dt = float(s.dt)
        fs.ntime_step = s.ntime_step
        fs.snow_module, fs.hydrological_module, fs.routing_module = self._structure.ids()
        fs.nsnow_parameters, fs.nhy_parameters, fs.nrt_parameters = self._structure.counts("parameters")
        fs.nsnow_states, fs.nhy_states, fs.nrt_states = self._structure.counts("states")
        fs.nsnow_fluxes, fs.nhy_fluxes, fs.nrt_fluxes = self._structure.counts("fluxes")
        fs.ncpu = 1
        st = self._structure
        if st.is_hybrid:
            hidden = tuple(int(n) for n in s.hidden_neuron if n > 0)
            self._nn_shapes = hybrid_nn.layer_shapes(len(st.nn_inputs), hidden, len(st.nn_outputs))
            fs.nn_nin, fs.nn_nh1, fs.nn_nh2, fs.nn_nout, fs.nn_nweights = hybrid_nn.core_sizes(self._nn_shapes)
        else:
            self._nn_shapes = []
        self._core.setup = fs

    def _build_mesh(self):
        """The core's read-only view of the network (shared by copies of the model)."""
        net = self._network
        fm = _core.new_mesh(net.nrow, net.ncol, net.nac, int(net.gauge_cell.size), int(net.up_cell.size),
                            routing_tree.DEPTH)
        fm.cell_row[:] = net.rows + 1
        fm.cell_col[:] = net.cols + 1
        fm.node_first[:] = net.node_first + 1
        fm.trunk_first[:] = net.trunk_first + 1
        fm.node_last[:] = net.node_end
        fm.up_start[:] = net.up_start + 1
        if net.up_cell.size:
            fm.up_cell[:] = net.up_cell + 1
        if net.gauge_cell.size:
            fm.gauge_cell[:] = net.gauge_cell + 1
        dx = np.asarray(self.mesh.dx, dtype=float)[net.rows, net.cols]
        dy = np.asarray(self.mesh.dy, dtype=float)[net.rows, net.cols]
        fm.dx[:] = dx
        fm.dy[:] = dy
        fm.up_area[:] = net.upstream_sum(dx * dy)
        return fm

    def _read_inputs(self, inputs, s: dict, verbose, windows=None):
        """Forcings, observations and descriptors of the normalized setup `s` onto the model's cells
        (with `windows`, streamed forcings: their reader, steps per window of forward runs and gradients)."""
        net = self._network
        mesh = self.mesh.__dict__
        kinds = ["prcp", "pet"] + (["snow", "temp"] if s["snow_module"] != "zero" else [])
        # Opened before the core's window arrays are made: the reader may align the windows on its store's chunks.
        streamed = stream.ForcingStream.of(s, mesh, net.flat, kinds, windows) if windows else None
        fi = self._new_core_input(streamed.windows["forward"] if streamed else None)
        self._core.input, self._input_users = fi, _weakref.WeakSet([self])
        encoded = {}
        # The rain / snow split needs prcp, snow and temp at once: they are read whole, split, then stored.
        split = partitioning.SPLIT_KINDS if s["prcp_partitioning"] else ()
        to_split = {}
        if windows:
            # Streamed: each window read (and split into rain and snow) when the core asks for it, dense
            # also under sparse_storage (a window is small; the layout compresses whole periods).
            fi.stream = streamed
            kinds, split = [], ()
        for kind in kinds:
            if kind in split:
                if s.get(f"read_{kind}") or s["synthetic"]:
                    to_split[kind] = inputs.read_atmos(s, mesh, kind, cells=net.flat, verbose=verbose)
                continue
            if s.get(f"read_{kind}") or s["synthetic"]:
                if s["sparse_storage"]:
                    # Each step is encoded as it is read: the dense series is never held.
                    encoder = sparse_forcing.StepEncoder(s["ntime_step"])
                    arr = inputs.read_atmos(s, mesh, kind, cells=net.flat, verbose=verbose, out=encoder)
                    encoded[kind] = arr.steps if isinstance(arr, sparse_forcing.StepEncoder) else [
                        sparse_forcing.encode_step(row) for row in arr]
                else:
                    arr = inputs.read_atmos(s, mesh, kind, cells=net.flat, verbose=verbose)
                    getattr(fi, kind)[...] = arr.T
        if split:
            missing = np.full((s["ntime_step"], net.flat.size), -99.0, dtype=np.float32)
            rain, snow = partitioning.partition(to_split.get("prcp", missing), to_split.get("snow"),
                                                to_split.get("temp", missing))
            for kind, arr in (("prcp", rain), ("snow", snow), ("temp", to_split["temp"])):
                if s["sparse_storage"]:
                    encoded[kind] = [sparse_forcing.encode_step(row) for row in arr]
                else:
                    getattr(fi, kind)[...] = arr.T
        if s["sparse_storage"] and not windows:
            sparse_forcing.store(fi, encoded, s["ntime_step"])
        if s["read_qobs"] and net.gauge_cell.size and not s["synthetic"]:
            fi.qobs[: net.gauge_cell.size] = inputs.read_qobs(s, mesh)
        if s["read_descriptor"] or (s["synthetic"] and s["descriptor_name"]):
            desc, absent = inputs.read_descriptor_files(s, mesh)
            self._check_descriptor(desc, absent)
        else:
            desc = np.zeros((net.nrow, net.ncol, 0), dtype=np.float32)
        imperv = None
        if s["read_imperviousness"]:
            active = np.zeros((net.nrow, net.ncol), dtype=bool)
            active[net.rows, net.cols] = True
            imperv = read_imperviousness(s, mesh, active)
            fi.imperviousness[...] = net.from_grid(imperv)
        self.atmos_data = AtmosData(self)
        self.physio_data = PhysioData(desc, s["descriptor_name"], imperv)
        self.response_data = ResponseData(self)

    def _check_descriptor(self, desc, absent=()):
        """Descriptors with missing values on active cells are refused, except those whose file is
        absent (smash 1.3 warns and leaves them missing). On a bare grid, where holes outside the
        rasters are expected, only a descriptor missing on every cell is refused (as smash 1.3)."""
        net, names = self._network, [str(n) for n in self.setup.descriptor_name]
        expected = (net.nrow, net.ncol, len(names))
        if desc.shape != expected:
            raise ValueError(f"descriptors have shape {desc.shape}, expected (nrow, ncol, nd) = {expected}")
        on_active = desc[net.rows, net.cols]
        for i, name in enumerate(names):
            if name in absent:
                continue
            missing = (on_active[:, i] < -98) | ~np.isfinite(on_active[:, i])
            if missing.all():
                raise ValueError(f"descriptor {name!r} holds only missing values on the mesh")
            if missing.any() and not self._bare_grid:
                raise ValueError(f"descriptor {name!r} has missing values on active cells")

    def _new_core_input(self, window=None):
        """Empty core inputs: dense (nac, nt) forcings, or with sparse storage the forcings left to
        md_input_data's sparse arrays (the dense ones are then one row), or streamed (`window`
        steps per window, smash.stream)."""
        net, s = self._network, self.setup
        if window:
            return _core.new_input_window(net.nac, int(net.gauge_cell.size), s.ntime_step, window,
                                          s.snow_module != "zero")
        nrow_forcing = 1 if s.sparse_storage else net.nac
        fi = _core.new_input_data(nrow_forcing, int(net.gauge_cell.size), s.ntime_step, s.snow_module != "zero")
        if s.sparse_storage:
            _core.allocate_imperviousness(fi, net.nac)
        return fi

    def _forcing(self, kind):
        """The (nac, ntime_step) forcing of active cells (core order) for reading: the core's array,
        or with sparse storage a view decoding the steps it is indexed with."""
        streamed = getattr(self._core.input, "stream", None)
        if streamed is not None:
            return stream.StreamedSeries(streamed, kind, self._network.nac)
        if self.setup.sparse_storage:
            return sparse_forcing.StepBlocks(self._core.input, kind, self._network.nac, self.setup.ntime_step)
        return getattr(self._core.input, kind)

    def _gauge_mean(self, kind):
        """Mean forcing over each gauge's catchment per step, missing values left out."""
        net, data = self._network, self._forcing(kind)
        nt = self.setup.ntime_step
        mean = np.full((int(net.gauge_cell.size), nt), -99.0, dtype=np.float32)
        if not self.setup.compute_mean_atmos:
            return mean  # left missing, as smash 1.3 leaves them
        # A few steps at a time: masks and gathers of the whole series would double the
        # memory of the forcings on a large grid.
        span = self.atmos_data.block_steps()
        for t0 in range(0, nt, span):
            block = data[:, t0:t0 + span]
            for g, cells in enumerate(net.gauge_upstream()):
                sub = block[cells]
                valid = sub >= 0 if kind != "temp" else sub > -99
                count = valid.sum(axis=0)
                total = np.where(valid, sub, 0.0).sum(axis=0, dtype=np.float64)
                mean[g, t0:t0 + span] = np.where(count > 0, total / np.maximum(count, 1), -99.0)
        return mean

    def _init_parameters(self):
        s, net = self.setup, self._network
        shape = (net.nrow, net.ncol)
        p_keys, s_keys = self._structure.rr_parameters, self._structure.rr_states
        p_vals = np.stack([np.full(shape, parameter_default(k, s.dt)) for k in p_keys], axis=-1) \
            if p_keys else np.zeros(shape + (0,))
        s_vals = np.stack([np.full(shape, state_default(k)) for k in s_keys], axis=-1) \
            if s_keys else np.zeros(shape + (0,))
        self.rr_parameters = NamedMaps(p_keys, p_vals)
        self.rr_initial_states = NamedMaps(s_keys, s_vals)
        # smash 1.x starts the hybrids' nets at zero: the hybrid then equals its parent.
        self._nn_weight = [np.zeros(shape, dtype=np.float32) for shape in self._nn_shapes]
        self._nn_bias = [np.zeros(shape[0], dtype=np.float32) for shape in self._nn_shapes]
        self._core.parameters = self._new_core_parameters()
        self._synced_maps = {}
        if s.adjust_interception:
            self.adjust_interception()

    def _new_core_parameters(self):
        """A zeroed core ParametersDT with this model's layout (also used for gradients)."""
        return _core.new_parameters(self._network.nac, len(self._structure.rr_parameters),
                                    len(self._structure.rr_states), int(self._core.setup.nn_nweights))

    def adjust_interception(self, active_cell_only: bool = True) -> None:
        """Re-estimate the interception capacity `ci` of every cell from its forcings (as smash 1.3).

        Done when the model is built unless `setup["adjust_interception"]` is False. Only sub-daily
        models of a structure with `ci` are adjusted; otherwise nothing changes.

        Parameters
        ----------
        active_cell_only : bool, default True
            Adjust the active cells only. With False the inactive cells are adjusted too, from their
            forcings read again from the setup's folders (the model keeps forcings of active cells
            only); a model whose forcings were not read from files cannot do that.
        """
        s, net = self.setup, self._network
        if "ci" not in self.rr_parameters.keys or s.dt >= 86400:
            return
        day_of_step = self._day_of_step()
        ci = np.zeros(net.nac, dtype=np.float64)
        streamed = getattr(self._core.input, "stream", None)
        if streamed is not None:
            stream.estimate_interception(streamed, net.nac, day_of_step, ci)
        elif s.sparse_storage:
            # A block of cells at a time: the estimate reads each cell's whole series.
            span = max(1, (1 << 22) // max(s.ntime_step, 1))
            for c0 in range(0, net.nac, span):
                c1 = min(net.nac, c0 + span)
                prcp, pet = (np.asfortranarray(sparse_forcing.decode_cells(self._core.input, kind, c0, c1,
                                                                           s.ntime_step))
                             for kind in ("prcp", "pet"))
                part = np.zeros(c1 - c0, dtype=np.float64)
                _core.estimate_interception_cells(prcp, pet, day_of_step, part)
                ci[c0:c1] = part
        else:
            _core.estimate_interception(self._core.input, day_of_step, ci)
        i = self.rr_parameters.index("ci")
        self.rr_parameters.values[net.rows, net.cols, i] = ci
        if not active_cell_only:
            self._adjust_interception_inactive(day_of_step, i)

    def _day_of_step(self) -> np.ndarray:
        """1-based day of each step's end time, counted from the first step's day."""
        days = np.array([t.date().toordinal() for t in TimeAxis.of(self.setup).end_times()])
        return (days - days[0] + 1).astype(np.int32)

    def _adjust_interception_inactive(self, day_of_step, index):
        """ci of the inactive cells, from their forcings read again from the setup's folders."""
        s, net = self.setup, self._network
        inactive = np.setdiff1d(np.arange(net.nrow * net.ncol), net.flat)
        if inactive.size == 0:
            return
        if not (s.read_prcp and s.read_pet):
            raise ValueError("adjust_interception(active_cell_only=False) needs the forcings of inactive cells, read "
                             "from files: this model's prcp and pet were not read (setup read_prcp / read_pet)")
        setup = normalize_setup(_user_setup_of(self))
        fi = _core.new_input_data(inactive.size, 0, s.ntime_step, False)
        for kind in ("prcp", "pet"):
            getattr(fi, kind)[...] = inputs.read_atmos(setup, self.mesh.__dict__, kind, cells=inactive).T
        ci = np.zeros(inactive.size, dtype=np.float64)
        _core.estimate_interception(fi, day_of_step, ci)
        rows, cols = np.divmod(inactive, net.ncol)
        self.rr_parameters.values[rows, cols, index] = ci

    # ------------------------------------------------------------ parameters
    def _maps_get(self, maps: NamedMaps, key: str):
        return maps.values[..., maps.index(key)].copy()

    def _maps_set(self, maps: NamedMaps, key: str, value, what: str):
        i = maps.index(key)
        net = self._network
        arr = as_numbers(value, f"{what} {key!r}", np.float64)
        if arr.ndim == 0:
            arr = np.full((net.nrow, net.ncol), float(arr))
        if arr.shape != (net.nrow, net.ncol):
            raise ValueError(f"{what} {key!r} must be a scalar or an array of shape (nrow, ncol) = "
                             f"{(net.nrow, net.ncol)}, got {arr.shape}")
        problem = feasible_violation(key, arr[net.rows, net.cols])
        if problem:
            raise ValueError(f"Cannot set {what} {problem}")
        maps.values[..., i] = arr

    def get_rr_parameters(self, key: str) -> np.ndarray:
        """Get a copy of the map of a rainfall-runoff parameter.

        Parameters
        ----------
        key : str
            The parameter's name (one of ``model.rr_parameters.keys``, e.g. ``"cp"``).

        Returns
        -------
        numpy.ndarray
            The (nrow, ncol) map, in the unit of ``structures.yaml``.
        """
        return self._maps_get(self.rr_parameters, key)

    def set_rr_parameters(self, key: str, value):
        """Set the map of a rainfall-runoff parameter.

        Parameters
        ----------
        key : str
            The parameter's name (one of ``model.rr_parameters.keys``).
        value : float or numpy.ndarray
            One value for every cell, or a (nrow, ncol) map.

        Raises
        ------
        ValueError
            When `key` is not a parameter of the structure, the shape is wrong, or a value on an active cell
            lies outside the parameter's domain (e.g. a capacity <= 0).
        """
        self._maps_set(self.rr_parameters, key, value, "rr parameter")

    def get_rr_initial_states(self, key: str) -> np.ndarray:
        """Get a copy of the map of a rainfall-runoff initial state.

        Parameters
        ----------
        key : str
            The state's name (one of ``model.rr_initial_states.keys``, e.g. ``"hp"``).

        Returns
        -------
        numpy.ndarray
            The (nrow, ncol) map (reservoir levels with a capacity are normalised by it).
        """
        return self._maps_get(self.rr_initial_states, key)

    def set_rr_initial_states(self, key: str, value):
        """Set the map of a rainfall-runoff initial state.

        Parameters
        ----------
        key : str
            The state's name (one of ``model.rr_initial_states.keys``).
        value : float or numpy.ndarray
            One value for every cell, or a (nrow, ncol) map.

        Raises
        ------
        ValueError
            When `key` is not a state of the structure, the shape is wrong, or a value on an active cell lies
            outside the state's domain (e.g. a normalised level outside [0, 1]).
        """
        self._maps_set(self.rr_initial_states, key, value, "rr initial state")

    def get_rr_final_states(self, key: str) -> np.ndarray:
        """Get a copy of the map of a rainfall-runoff state at the end of the last run.

        Parameters
        ----------
        key : str
            The state's name (one of ``model.rr_final_states.keys``).

        Returns
        -------
        numpy.ndarray
            The (nrow, ncol) map.
        """
        return self._maps_get(self.rr_final_states, key)

    # Laid out on the grid when first read after a run, not by every run (docs/performance-log.md).
    @property
    def rr_final_states(self) -> NamedMaps:
        """The rainfall-runoff states at the end of the last run (``keys``, ``values`` of shape (nrow, ncol, n))."""
        pending = self.__dict__.get("_pending_final")
        if pending is not None:
            self._pending_final = None
            final = pending if isinstance(pending, np.ndarray) else np.asarray(pending.rr_final_states)
            maps, net = self._rr_final_states, self._network
            values = maps.values
            if (values.shape == (net.nrow, net.ncol, final.shape[1]) and values.dtype == np.float64
                    and values.flags.c_contiguous):
                # In place, as a run updates the model's other arrays; one flat index is the fast scatter.
                values.reshape(net.nrow * net.ncol, -1)[net.flat] = final
            else:
                maps._values = net.to_grid(final, fill=-99.0, dtype=np.float64)
        return self._rr_final_states

    @rr_final_states.setter
    def rr_final_states(self, maps: NamedMaps):
        self._pending_final = None
        self._rr_final_states = maps

    def _final_states_from(self, output, keep_output: bool):
        """Take the final states of a core output: the OutputDT itself kept alive until they
        are read, or (when it also holds large series) a copy of its final states."""
        if len(self._structure.rr_states):
            self._pending_final = output if keep_output else np.array(output.rr_final_states)

    def get_rr_parameters_bounds(self) -> dict:
        """Get the default calibration bounds of the structure's parameters.

        Returns
        -------
        dict
            ``{name: (lower, upper)}`` from ``structures.yaml``.
        """
        return {k: parameter_bounds(k) for k in self.rr_parameters.keys.tolist()}

    def get_rr_initial_states_bounds(self) -> dict:
        """Get the default calibration bounds of the structure's states.

        Returns
        -------
        dict
            ``{name: (lower, upper)}`` from ``structures.yaml``.
        """
        return {k: state_bounds(k) for k in self.rr_initial_states.keys.tolist()}

    # ------------------------------------------------- structural error model (Bayesian estimation)
    def get_serr_mu_parameters(self, key: str) -> np.ndarray:
        """A parameter of the structural errors' mean, one value per gauge.

        Parameters
        ----------
        key : str
            The parameter (mg0, mg1 as `setup["serr_mu_mapping"]` has them).

        Returns
        -------
        numpy.ndarray
            (ng,) values.
        """
        return _serr.get_parameters(self, "mu", key)

    def set_serr_mu_parameters(self, key: str, value) -> None:
        """Set a parameter of the structural errors' mean.

        Parameters
        ----------
        key : str
            The parameter (mg0, mg1).
        value : float or array_like
            A number, or one value per gauge.
        """
        _serr.set_parameters(self, "mu", key, value)

    def get_serr_sigma_parameters(self, key: str) -> np.ndarray:
        """A parameter of the structural errors' standard deviation, one value per gauge.

        Parameters
        ----------
        key : str
            The parameter (sg0, sg1, sg2 as `setup["serr_sigma_mapping"]` has them).

        Returns
        -------
        numpy.ndarray
            (ng,) values.
        """
        return _serr.get_parameters(self, "sigma", key)

    def set_serr_sigma_parameters(self, key: str, value) -> None:
        """Set a parameter of the structural errors' standard deviation.

        Parameters
        ----------
        key : str
            The parameter (sg0, sg1, sg2).
        value : float or array_like
            A number, or one value per gauge.
        """
        _serr.set_parameters(self, "sigma", key, value)

    def get_serr_mu_parameters_bounds(self) -> dict:
        """Default bounds of the mean's parameters of `setup["serr_mu_mapping"]`.

        Returns
        -------
        dict
            ``{name: (low, high)}``.
        """
        return _serr.bounds_of(self, "mu")

    def get_serr_sigma_parameters_bounds(self) -> dict:
        """Default bounds of the standard deviation's parameters of `setup["serr_sigma_mapping"]`.

        Returns
        -------
        dict
            ``{name: (low, high)}``.
        """
        return _serr.bounds_of(self, "sigma")

    def get_serr_mu(self) -> np.ndarray:
        """Mean of the structural errors at the simulated discharge `response.q`.

        Returns
        -------
        numpy.ndarray
            (ng, ntime_step) values (m3/s).
        """
        return _serr.serr_moments(self)[0]

    def get_serr_sigma(self) -> np.ndarray:
        """Standard deviation of the structural errors at the simulated discharge `response.q`.

        Returns
        -------
        numpy.ndarray
            (ng, ntime_step) values (m3/s).
        """
        return _serr.serr_moments(self)[1]

    def bayesian_optimize(self, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
                          common_options=None, return_options=None, callback=None):
        """Bayesian estimation of the parameters and structural error parameters, in place.

        Parameters
        ----------
        mapping : str, default "uniform"
            "uniform", "distributed", "multi-linear" or "multi-power".
        optimizer : str or None
            As `smash.optimize` (None: the mapping's default).
        optimize_options, cost_options, common_options, return_options : dict or None
            As `smash.bayesian_optimize`.
        callback : callable or None
            Called with the iterate after each iteration.

        Returns
        -------
        BayesianOptimize or None
            The outputs `return_options` asks for.
        """
        from smash.bayesian.optimize import run_bayesian_optimize

        return run_bayesian_optimize(self, mapping, optimizer, optimize_options, cost_options, common_options,
                                     return_options, callback)

    def set_control_bayesian_optimize(self, control_vector, mapping="uniform", optimizer=None,
                                      optimize_options=None, cost_options=None) -> None:
        """Set the parameters, states and structural error parameters from a control vector.

        Parameters
        ----------
        control_vector : numpy.ndarray
            A vector laid out as `smash.bayesian_optimize_control_info` describes it.
        mapping, optimizer, optimize_options, cost_options
            As given to `smash.bayesian_optimize`.
        """
        from smash.bayesian.optimize import set_control_bayesian_optimize

        set_control_bayesian_optimize(self, control_vector, mapping, optimizer, optimize_options, cost_options)

    # ------------------------------------------------- hybrid net parameters
    def _check_hybrid(self, what):
        if not self._structure.is_hybrid:
            raise ValueError(f"{what}: the hydrological module {self.setup.hydrological_module!r} has no neural "
                             "network; use a hybrid structure such as 'gr4_mlp'")

    def get_nn_parameters_weight(self) -> list[np.ndarray]:
        """Get the weights of the hybrid structure's net.

        Returns
        -------
        list of numpy.ndarray
            One (n_out, n_in) copy per layer.
        """
        self._check_hybrid("get_nn_parameters_weight")
        return [w.copy() for w in self._nn_weight]

    def get_nn_parameters_bias(self) -> list[np.ndarray]:
        """Get the biases of the hybrid structure's net.

        Returns
        -------
        list of numpy.ndarray
            One (n_out,) copy per layer.
        """
        self._check_hybrid("get_nn_parameters_bias")
        return [b.copy() for b in self._nn_bias]

    @property
    def nn_parameters(self) -> NNParameters:
        """The hybrid structure's net as smash 1.3 lays it out: `weight_1..3`, `bias_1..3`."""
        return NNParameters(self)

    def set_nn_parameters_weight(self, value=None, initializer="glorot_uniform", random_state=None):
        """Set the weights of the hybrid structure's net, or draw them.

        Parameters
        ----------
        value : list of numpy.ndarray, optional
            One (n_out, n_in) array per layer; when not given the weights are drawn.
        initializer : str, default "glorot_uniform"
            How to draw them: ``"zeros"``, ``"uniform"``, ``"normal"``, ``"glorot_uniform"``,
            ``"glorot_normal"``, ``"he_uniform"``, ``"he_normal"``.
        random_state : int, optional
            The seed of the draw.
        """
        self._check_hybrid("set_nn_parameters_weight")
        if value is None:
            self._nn_weight = hybrid_nn.draw(initializer, self._nn_shapes, random_state)
        else:
            self._nn_weight = hybrid_nn.check_values("weight", value, self._nn_shapes)

    def set_nn_parameters_bias(self, value=None, initializer="zeros", random_state=None):
        """Set the biases of the hybrid structure's net, or draw them.

        Parameters
        ----------
        value : list of numpy.ndarray, optional
            One (n_out,) array per layer; when not given the biases are drawn.
        initializer : str, default "zeros"
            How to draw them (the initializers of `set_nn_parameters_weight`).
        random_state : int, optional
            The seed of the draw.
        """
        self._check_hybrid("set_nn_parameters_bias")
        shapes = [(shape[0],) for shape in self._nn_shapes]
        if value is None:
            self._nn_bias = hybrid_nn.draw(initializer, shapes, random_state)
        else:
            self._nn_bias = hybrid_nn.check_values("bias", value, shapes)

    # -------------------------------------------------------------- structure
    @property
    def structure(self):
        """The structure's registry record (`smash.registry.Structure`: modules, parameter, state and
        flux names), read-only."""
        return self._structure

    @property
    def network(self):
        """The drainage network of the active cells (`smash.drainage.network.Network`: cells in computation
        order, downstream links, gauges), read-only and shared by copies of the model."""
        return self._network

    # -------------------------------------------------------------- running
    def _sync_parameters(self):
        """Copy the user-facing maps into the core (active cells, network order); every run starts here.

        Maps equal to the ones last copied are skipped: on a country-sized grid the
        gather and the checks cost more than comparing, and were the part of a
        two-thread forward run that did not shrink with threads."""
        if self._bare_grid:
            raise ValueError("This model's mesh is a bare grid (no flow directions): it holds inputs but cannot "
                             "run; build the mesh with smash.factory.generate_mesh")
        net, fp = self._network, self._core.parameters
        for name, maps, target in (("rr parameter", self.rr_parameters, fp.rr_parameters),
                                   ("rr initial state", self.rr_initial_states, fp.rr_initial_states)):
            if maps.values.shape[-1] == 0:
                continue
            last = self._synced_maps.get(name)
            if last is not None and last[0] == list(maps.keys) and np.array_equal(last[1], maps.values):
                continue
            active = net.from_grid(maps.values)
            for i, key in enumerate(maps.keys):
                problem = feasible_violation(str(key), active[:, i])
                if problem:
                    raise ValueError(f"Invalid {name} {problem}")
            target[...] = active
            self._synced_maps[name] = (list(maps.keys), maps.values.copy())
        if self._nn_shapes:
            fp.nn_parameters[...] = hybrid_nn.pack(self._nn_weight, self._nn_bias)
        self._sync_imperviousness()

    def _sync_imperviousness(self):
        """physio_data.imperviousness into the core when it was assigned or edited since the last run."""
        net = self._network
        active = np.zeros((net.nrow, net.ncol), dtype=bool)
        active[net.rows, net.cols] = True
        grid = check_imperviousness(self.physio_data.imperviousness, active)
        values = net.from_grid(grid)
        if not np.array_equal(values, self._core.input.imperviousness):
            self._own_input()
            self._core.input.imperviousness[...] = values

    @shared_parameters
    def forward_run(self, cost_options=None, common_options=None, return_options=None):
        """Run the model in place over its whole period (see `smash.forward_run`).

        Parameters
        ----------
        {{cost_options}}
        {{common_options}}
        return_options : dict, optional
            Outputs to return (see `smash.forward_run`).

        Returns
        -------
        ForwardRun or None
            The outputs asked for, when `return_options` is given.
        """
        return run_forward(self, cost_options, common_options, return_options)

    @shared_parameters
    def optimize(self, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
                 common_options=None, return_options=None, callback=None):
        """Calibrate the model in place (see `smash.optimize`).

        Parameters
        ----------
        {{mapping}}
        {{optimizer}}
        {{optimize_options}}
        {{cost_options}}
        {{common_options}}
        return_options : dict, optional
            Results to return (see `smash.optimize`).
        callback : callable, optional
            Called after each iteration as ``callback(iopt=...)``.

        Returns
        -------
        Optimize or None
            The results asked for, when `return_options` is given.
        """
        return run_optimize(self, mapping, optimizer, optimize_options, cost_options, common_options,
                            return_options, callback)

    @shared_parameters
    def set_control_optimize(self, control_vector, mapping="uniform", optimizer=None, optimize_options=None):
        """Set the parameters and states (and a hybrid net) from an optimization control vector.

        The vector is read as `optimize_control_info(self, mapping, optimizer, optimize_options)`
        describes it (e.g. a `control_vector` returned by `optimize` or given to its callback).

        Parameters
        ----------
        control_vector : numpy.ndarray
            The control vector, in the control_tfm space of the options.
        {{mapping}}
        {{optimizer}}
        {{optimize_options}}
        """
        set_control_optimize(self, control_vector, mapping, optimizer, optimize_options)

    @shared_parameters
    def backward_run(self, diff_target="j", cotangent=None, mapping="uniform", optimizer=None,
                     optimize_options=None, cost_options=None, common_options=None, return_options=None):
        """Compute the cost and its gradient with respect to the control vector (see `smash.backward_run`).

        Parameters
        ----------
        diff_target : {"j", "q"}, default "j"
            Differentiate the cost, or the discharge on the active cells.
        cotangent : float or numpy.ndarray, optional
            The seed of the adjoint: a factor of the cost for "j", a (nac, ntime_step) array for "q".
        {{mapping}}
        {{optimizer}}
        {{optimize_options}}
        {{cost_options}}
        {{common_options}}
        return_options : dict, optional
            Results to return (see `smash.backward_run`).

        Returns
        -------
        BackwardRun or None
            The results asked for, when `return_options` is given.
        """
        return run_backward(self, diff_target, cotangent, mapping, optimizer, optimize_options, cost_options,
                            common_options, return_options)

    def multiset_estimate(self, multiset, alpha=None, common_options=None, return_options=None):
        """Set the sampled parameters / states to the multiset estimate, in place.

        Parameters
        ----------
        multiset : MultipleForwardRun
            The ensemble of forward runs to weigh (`smash.multiple_forward_run`).
        alpha : float, list of float or None, default None
            The weight exponent, or candidates among which the L-curve chooses (None: 50 values
            from -2 to 10).
        common_options : dict or None
            ``ncpu`` and ``verbose``.
        return_options : dict or None
            Outputs to return (the forward outputs and ``lcurve_multiset``).

        Returns
        -------
        MultisetEstimate or None
            The outputs `return_options` asks for (see `smash.multiset_estimate`).
        """
        return run_multiset_estimate(self, multiset, alpha, common_options, return_options)

    def copy(self) -> Model:
        """Copy the model.

        Returns
        -------
        Model
            A deep copy (the core data included; inputs are shared until one of the copies writes them).
        """
        new = Model.__new__(Model)
        new.setup = _copy.deepcopy(self.setup)
        new.mesh = _copy.deepcopy(self.mesh)
        new._structure = self._structure
        new._bare_grid = self._bare_grid
        new._network = self._network
        new._core = _core.CoreHandles()
        new._build_setup()
        new._core.mesh = self._core.mesh
        new._core.input = self._core.input
        new._input_users = self._input_users
        self._input_users.add(new)
        if any(ref() is not None for ref in self.__dict__.get("_qobs_leases", [])):
            # A view of the observations handed out before (response_data.q) may still write them.
            new._own_input()
        new.atmos_data = AtmosData(new)
        new.atmos_data._means = {kind: mean.copy() for kind, mean in self.atmos_data._means.items()}
        new.physio_data = _copy.deepcopy(self.physio_data)
        new.response_data = ResponseData(new)
        new.response = Response(self.response.q.copy())
        new.rr_parameters = self.rr_parameters.copy()
        new.rr_initial_states = self.rr_initial_states.copy()
        new.rr_final_states = self.rr_final_states.copy()
        new._nn_weight = [w.copy() for w in self._nn_weight]
        new._nn_bias = [b.copy() for b in self._nn_bias]
        new.serr_mu_parameters = self.serr_mu_parameters.copy()
        new.serr_sigma_parameters = self.serr_sigma_parameters.copy()
        new.u_response_data = self.u_response_data.copy()
        new._core.parameters = new._new_core_parameters()
        new._synced_maps = {}
        return new

    def to_xarray(self, outputs=None):
        """The model's series per gauge and its maps as an xarray Dataset (CF-1.8 conventions).

        Needs the ``netcdf`` extra (xarray). `smash.io.save_netcdf` writes the same Dataset to a file.

        Parameters
        ----------
        outputs : ForwardRun, Optimize or BackwardRun, optional
            A result of this model holding saved series (return_options ``q_domain``, ``rr_states``,
            ``internal_fluxes``): added as ``q_domain``, ``rr_state_<name>``, ``flux_<name>``
            (time_step, y, x), with the coordinate ``time_step`` (the saved steps' end times).

        Returns
        -------
        xarray.Dataset
            Coordinates ``time`` (step end times; ``time_bnds`` the steps' start and end), ``gauge``
            (the codes, with ``gauge_x``, ``gauge_y``, ``area``, ``area_dln``), ``y`` and ``x`` (cell
            centres, m). Series (gauge, time), NaN where missing: ``qobs``, ``qsim`` (m3/s),
            ``mean_prcp``, ``mean_pet`` (mm over the step; ``mean_snow``, ``mean_temp`` with a snow
            module). Maps (y, x), NaN off the active cells: each rr parameter by its name (``cp``),
            each rr state as ``<name>_initial`` and, once the model has run, ``<name>_final``, each
            descriptor by its name; ``active_cell``. ``crs`` holds the grid mapping (EPSG, WKT) the
            maps refer to.
        """
        from smash.interop.xarray_dataset import model_dataset

        return model_dataset(self, outputs)

    def to_dataframe(self, variables=("qobs", "qsim")):
        """The model's series per gauge as a pandas DataFrame.

        Parameters
        ----------
        variables : str or sequence of str, default ("qobs", "qsim")
            Among qobs, qsim (m3/s), mean_prcp, mean_pet (mm over the step) and, with a snow module,
            mean_snow, mean_temp.

        Returns
        -------
        pandas.DataFrame
            Index ``time`` (step end times), columns (variable, gauge code): ``df["qsim"]`` is one
            column per gauge. Missing values are NaN.
        """
        from smash.interop.frames import gauge_frame

        return gauge_frame(self, variables)

    def __deepcopy__(self, memo) -> Model:
        """`copy.deepcopy(model)` is `model.copy()`: the Fortran handles are never shared by two models."""
        new = self.copy()
        memo[id(self)] = new
        return new

    def __getstate__(self) -> dict:
        """Pickling: everything the model holds, its Fortran core as arrays (`smash.model_state`), so
        a pickled model runs in another process, bit for bit as here, without its data files."""
        return model_state.model_state(self)

    def __setstate__(self, state: dict) -> None:
        model_state.restore(self, state)

    def _own_input(self):
        """Give this model its own copy of the forcings and observations before it writes them.

        A model and its copies share them until one writes (AtmosData and ResponseData call
        this first): smash.forward_run and smash.backward_run return copies, and copying the
        whole inputs each call was most of their time outside Fortran.
        """
        if len(self._input_users) < 2:
            return
        streamed = getattr(self._core.input, "stream", None)
        fi = self._new_core_input(int(self._core.input.window_steps) if streamed is not None else None)
        for kind in ("prcp", "pet", "snow", "temp", "qobs", "imperviousness"):
            getattr(fi, kind)[...] = getattr(self._core.input, kind)
        if streamed is not None:
            fi.stream = streamed
        elif self.setup.sparse_storage:
            old = self._core.input
            _core.allocate_sparse_forcings(fi, self.setup.ntime_step, old.sp_values.size, old.sp_index.size)
            for name in ("sp_start", "sp_istart", "sp_coo", "sp_zvalue", "sp_values", "sp_index"):
                getattr(fi, name)[...] = getattr(old, name)
        self._input_users.discard(self)
        self._core.input, self._input_users = fi, _weakref.WeakSet([self])

    def __repr__(self):
        s, m = self.setup, self.mesh
        return (f"Model\n    structure: {s.structure}\n    dt: {s.dt}\n    start_time: {s.start_time}\n"
                f"    end_time: {s.end_time}\n    nrow x ncol: {m.nrow} x {m.ncol}\n    nac: {m.nac}\n"
                f"    ng: {m.ng}\n    rr_parameters: {self.rr_parameters.keys.tolist()}\n"
                f"    rr_initial_states: {self.rr_initial_states.keys.tolist()}")


def _user_setup_of(model) -> dict:
    """The setup keys Model accepts, from a model's setup (as save_model stores them)."""
    attrs = dict(model.setup.__dict__)
    return {k: attrs[k] for k in (*REQUIRED, *DEFAULTS) if k in attrs}


def _is_bare_grid(mesh: dict) -> bool:
    """A grid without flow directions: no `flwdir`, or the -99 ones a bare-grid model holds (and saves)."""
    if "flwdir" not in mesh:
        return True
    flwdir = np.asarray(mesh["flwdir"])
    return flwdir.size > 0 and bool(np.all(flwdir == -99)) and int(mesh.get("nac", 0)) == 0


def _bare_grid_mesh(mesh: dict) -> dict:
    """model.mesh of a bare grid, holding what smash 1.3 holds there: no active cell, no gauge,
    -99 for what flow directions would give, and the cell sizes only if the user gave them."""
    for key in ("xres", "yres", "xmin", "ymax", "nrow", "ncol"):
        if key not in mesh:
            raise ValueError(f"mesh is missing the key {key!r} (a bare grid needs xres, yres, xmin, ymax, nrow, ncol)")
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    grid = {k: mesh[k] for k in ("xres", "yres", "xmin", "ymax")}
    missing_int = np.full((nrow, ncol), -99, dtype=np.int32)
    missing_float = np.full((nrow, ncol), -99.0, dtype=np.float32)
    out = dict(grid, nrow=nrow, ncol=ncol, nac=0, ng=0, npar=0, epsg=mesh.get("epsg", -99),
               active_cell=missing_int, flwdir=missing_int.copy(), flwpar=missing_int.copy(),
               flwdst=missing_float, flwacc=missing_float.copy(),
               dx=np.asarray(mesh["dx"]) if "dx" in mesh else missing_float.copy(),
               dy=np.asarray(mesh["dy"]) if "dy" in mesh else missing_float.copy(),
               gauge_pos=np.zeros((0, 2), dtype=np.int32), code=np.array([], dtype="<U128"),
               area=np.zeros(0, dtype=np.float32), area_dln=np.zeros(0, dtype=np.float32),
               ncpar=np.zeros(0, dtype=np.int32), cscpar=np.zeros(0, dtype=np.int32),
               local_active_cell=missing_int.copy(), rowcol_to_ind_ac=np.full((nrow, ncol), -100, dtype=np.int32))
    for key in ("dx", "dy"):
        if out[key].shape != (nrow, ncol):
            raise ValueError(f"mesh[{key!r}] has shape {out[key].shape}, expected (nrow, ncol) = {(nrow, ncol)}")
    return out


class NNParameters:
    """A hybrid model's net in smash 1.3's layout: `weight_l` (n_out, n_in) and `bias_l` (n_out,) for
    l = 1, 2, 3, float32. Layers the net does not have are empty arrays, shaped as smash shapes them
    (with one hidden layer: `weight_3` (0, n_out), `bias_3` (0,)); without a net every array is empty
    but `bias_1`, which holds -99 per hidden neuron. Reading gives copies; assigning
    `model.nn_parameters.weight_1 = w` sets that layer (through `set_nn_parameters_weight`)."""

    _LAYERS = (1, 2, 3)

    def __init__(self, model):
        object.__setattr__(self, "_model", model)

    def _arrays(self, kind: str) -> list[np.ndarray]:
        m = self._model
        if m.structure.is_hybrid:
            layers = m.get_nn_parameters_weight() if kind == "weight" else m.get_nn_parameters_bias()
            arrays = [a.astype(np.float32) for a in layers]
            last_out = arrays[-1].shape[0]
            if len(arrays) == 2:
                arrays.append(np.zeros((0, last_out) if kind == "weight" else (0,), dtype=np.float32))
            return arrays
        # Without a net smash sizes the layers from hidden_neuron with 0 inputs and outputs.
        h1, h2 = (int(n) for n in m.setup.hidden_neuron)
        if kind == "weight":
            return [np.zeros((h1, 0), dtype=np.float32), np.zeros((h2, h1), dtype=np.float32)[:0],
                    np.zeros((0, h2), dtype=np.float32)]
        return [np.full(h1, -99.0, dtype=np.float32), np.zeros(h2, dtype=np.float32)[:0],
                np.zeros(0, dtype=np.float32)]

    def __getattr__(self, name):
        kind, _, layer = name.partition("_")
        if kind in ("weight", "bias") and layer.isdigit() and int(layer) in self._LAYERS:
            return self._arrays(kind)[int(layer) - 1]
        raise AttributeError(f"nn_parameters has no attribute {name!r}; it holds weight_1..3 and bias_1..3")

    def __setattr__(self, name, value):
        kind, _, layer = name.partition("_")
        if not (kind in ("weight", "bias") and layer.isdigit() and int(layer) in self._LAYERS):
            raise AttributeError(f"nn_parameters has no attribute {name!r}; it holds weight_1..3 and bias_1..3")
        m = self._model
        m._check_hybrid(f"nn_parameters.{name}")
        layers = m.get_nn_parameters_weight() if kind == "weight" else m.get_nn_parameters_bias()
        index = int(layer) - 1
        if index >= len(layers):
            raise ValueError(f"nn_parameters.{name}: this net has {len(layers)} layers")
        layers[index] = np.asarray(value, dtype=np.float32)
        if kind == "weight":
            m.set_nn_parameters_weight(layers)
        else:
            m.set_nn_parameters_bias(layers)

    def __dir__(self):
        return [f"{kind}_{layer}" for layer in self._LAYERS for kind in ("weight", "bias")] + ["copy"]

    def copy(self) -> _Attributes:
        """A snapshot of the layers, detached from the model (as smash 1.3's `nn_parameters.copy()`)."""
        return _Attributes({k: getattr(self, k) for k in self.__dir__() if k != "copy"}, "NNParameters")

    def __repr__(self):
        shapes = ", ".join(f"{k}: {getattr(self, k).shape}" for k in self.__dir__())
        return f"NNParameters({shapes})"
