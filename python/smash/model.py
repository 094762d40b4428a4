"""The Model: a catchment mesh, its inputs, a structure and its parameters."""

from __future__ import annotations

import copy as _copy
import datetime as _dt
import weakref as _weakref

import numpy as np

from smash import fcore, hybrid_nn, routing_tree, work_split
from smash.containers import AtmosData, NamedMaps, PhysioData, Response, ResponseData
from smash.model_setup import normalize_setup
from smash.network import build_network
from smash.registry import (
    Structure,
    feasible_violation,
    parameter_bounds,
    parameter_default,
    state_bounds,
    state_default,
)


class _Attributes:
    """Attribute access to a dict (model.setup.dt, model.mesh.flwdir)."""

    def __init__(self, values: dict, title: str):
        self.__dict__.update(values)
        self._title = title

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
        Grid, flow directions and gauges (see `smash.io.read_mesh`).
    verbose : bool
        Show progress while reading inputs.
    """

    def __init__(self, setup: dict, mesh: dict, verbose: bool = False):
        from smash import inputs

        norm = normalize_setup(setup)
        self._structure = Structure(norm["snow_module"], norm["hydrological_module"], norm["routing_module"])
        norm["structure"] = self._structure.name
        self.setup = _Attributes(norm, "Setup")
        self._network = build_network(mesh)
        mesh_attrs = {k: (np.asarray(v) if isinstance(v, (list, tuple)) else v) for k, v in mesh.items()}
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
        self.mesh = _Attributes(mesh_attrs, "Mesh")
        self._check_mesh_geometry()

        self._build_setup()
        self._fmesh = self._build_mesh()
        self._read_inputs(inputs, verbose)
        self._init_parameters()
        self.response = Response(np.zeros((self.mesh.ng, norm["ntime_step"]), dtype=np.float32))
        final = np.full_like(self.rr_initial_states.values, -99.0)
        self.rr_final_states = NamedMaps(self.rr_initial_states.keys, final)
        if norm["synthetic"]:
            from smash.factory.synthetic import synthetic_observations

            self.response_data.q = synthetic_observations(self)

    # ------------------------------------------------------------------ build
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
        fs = fcore.md_setup.SetupDT()
        fs.dt = float(s.dt)
        fs.ntime_step = s.ntime_step
        fs.snow_module, fs.hydrological_module, fs.routing_module = self._structure.ids()
        fs.nsnow_parameters, fs.nhy_parameters, fs.nrt_parameters = self._structure.counts("parameters")
        fs.nsnow_states, fs.nhy_states, fs.nrt_states = self._structure.counts("states")
        fs.nsnow_fluxes, fs.nhy_fluxes, fs.nrt_fluxes = self._structure.counts("fluxes")
        fs.ncpu = 1
        st = self._structure
        if st.is_hybrid:
            self._nn_shapes = hybrid_nn.layer_shapes(len(st.nn_inputs), hybrid_nn.hidden_sizes(s.hidden_neuron),
                                                     len(st.nn_outputs))
            fs.nn_nin, fs.nn_nh1, fs.nn_nh2, fs.nn_nout, fs.nn_nweights = hybrid_nn.core_sizes(self._nn_shapes)
        else:
            self._nn_shapes = []
        self._fsetup = fs

    def _build_mesh(self):
        """The core's read-only view of the network (shared by copies of the model)."""
        net = self._network
        fm = fcore.md_mesh.MeshDT()
        fcore.md_mesh.mesh_alloc(fm, net.nrow, net.ncol, net.nac, int(net.gauge_cell.size),
                                 int(net.up_cell.size), routing_tree.DEPTH)
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
        # Area drained by the upstream cells: accumulate cell areas down the levels.
        area = dx * dy
        acc = area.copy()
        by_level = np.argsort(net.levels, kind="stable")
        starts = np.searchsorted(net.levels[by_level], np.arange(1, net.levels.max() + 2))
        for first, last in zip(starts[:-1], starts[1:], strict=True):
            cells = by_level[first:last]
            cells = cells[net.downstream[cells] >= 0]
            np.add.at(acc, net.downstream[cells], acc[cells])
        fm.up_area[:] = acc - area
        return fm

    def _read_inputs(self, inputs, verbose):
        s, net = self.setup.__dict__, self._network
        fi = fcore.md_input_data.InputDataDT()
        with_snow = s["snow_module"] != "zero"
        fcore.md_input_data.input_data_alloc(fi, net.nac, int(net.gauge_cell.size), s["ntime_step"], with_snow)
        self._finput, self._input_users = fi, _weakref.WeakSet([self])
        mesh = self.mesh.__dict__
        kinds = ["prcp", "pet"] + (["snow", "temp"] if with_snow else [])
        for kind in kinds:
            if s.get(f"read_{kind}") or s["synthetic"]:
                arr = inputs.read_atmos(s, mesh, kind, cells=net.flat, verbose=verbose)
                getattr(fi, kind)[...] = arr.T
        if s["read_qobs"] and net.gauge_cell.size and not s["synthetic"]:
            fi.qobs[: net.gauge_cell.size] = inputs.read_qobs(s, mesh)
        if s["read_descriptor"] or (s["synthetic"] and s["descriptor_name"]):
            desc = inputs.read_descriptor(s, mesh)
            self._check_descriptor(desc)
        else:
            desc = np.zeros((net.nrow, net.ncol, 0), dtype=np.float32)
        self.atmos_data = AtmosData(self)
        self.physio_data = PhysioData(desc, s["descriptor_name"])
        self.response_data = ResponseData(self)

    def _check_descriptor(self, desc):
        net, names = self._network, self.setup.descriptor_name
        expected = (net.nrow, net.ncol, len(names))
        if desc.shape != expected:
            raise ValueError(f"descriptors have shape {desc.shape}, expected (nrow, ncol, nd) = {expected}")
        on_active = desc[net.rows, net.cols]
        for i, name in enumerate(names):
            if np.any(on_active[:, i] < -98) or not np.all(np.isfinite(on_active[:, i])):
                raise ValueError(f"descriptor {name!r} has missing values on active cells")

    def _gauge_mean(self, kind):
        """Mean forcing over each gauge's catchment per step, missing values left out."""
        net, data = self._network, getattr(self._finput, kind)
        nt = self.setup.ntime_step
        mean = np.full((int(net.gauge_cell.size), nt), -99.0, dtype=np.float32)
        # A few steps at a time: masks and gathers of the whole series would double the
        # memory of the forcings on a large grid.
        span = max(1, (1 << 22) // max(net.nac, 1))
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
        self._fparams = self._new_core_parameters()
        self._synced_maps = {}
        if "ci" in p_keys and s.dt < 86400 and s.adjust_interception:
            self._adjust_interception()

    def _new_core_parameters(self):
        """A zeroed core ParametersDT with this model's layout (also used for gradients)."""
        fp = fcore.md_parameters.ParametersDT()
        fcore.md_parameters.parameters_alloc(fp, self._network.nac, len(self._structure.rr_parameters),
                                             len(self._structure.rr_states), int(self._fsetup.nn_nweights))
        return fp

    def _adjust_interception(self):
        """Sub-daily runs: re-estimate ci per cell from the forcings (as smash 1.3)."""
        s, net = self.setup, self._network
        end_times = s.start_time + _dt.timedelta(seconds=s.dt) * np.arange(1, s.ntime_step + 1)
        days = np.array([(t - _dt.timedelta(microseconds=0)).date().toordinal() for t in end_times])
        day_of_step = (days - days[0] + 1).astype(np.int32)
        ci = np.zeros(net.nac, dtype=np.float64)
        fcore.md_api.estimate_interception(self._finput, day_of_step, ci)
        i = self.rr_parameters.index("ci")
        self.rr_parameters.values[net.rows, net.cols, i] = ci

    # ------------------------------------------------------------ parameters
    def _maps_get(self, maps: NamedMaps, key: str):
        return maps.values[..., maps.index(key)].copy()

    def _maps_set(self, maps: NamedMaps, key: str, value, what: str):
        i = maps.index(key)
        net = self._network
        arr = np.asarray(value, dtype=np.float64)
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
        return self._maps_get(self.rr_parameters, key)

    def set_rr_parameters(self, key: str, value):
        self._maps_set(self.rr_parameters, key, value, "rr parameter")

    def get_rr_initial_states(self, key: str) -> np.ndarray:
        return self._maps_get(self.rr_initial_states, key)

    def set_rr_initial_states(self, key: str, value):
        self._maps_set(self.rr_initial_states, key, value, "rr initial state")

    def get_rr_final_states(self, key: str) -> np.ndarray:
        return self._maps_get(self.rr_final_states, key)

    # Final states are laid out on the grid when first read after a run, not by every run:
    # on France the scatter was 23 of the ~55 ms a forward run spent outside Fortran.
    @property
    def rr_final_states(self) -> NamedMaps:
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
                maps.values = net.to_grid(final, fill=-99.0, dtype=np.float64)
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
        return {k: parameter_bounds(k) for k in self.rr_parameters.keys.tolist()}

    def get_rr_initial_states_bounds(self) -> dict:
        return {k: state_bounds(k) for k in self.rr_initial_states.keys.tolist()}

    # ------------------------------------------------- hybrid net parameters
    def _check_hybrid(self, what):
        if not self._structure.is_hybrid:
            raise ValueError(f"{what}: the hydrological module {self.setup.hydrological_module!r} has no neural "
                             "network; use a hybrid structure such as 'gr4_mlp'")

    def get_nn_parameters_weight(self) -> list[np.ndarray]:
        """Weights of the hybrid structure's net, one (n_out, n_in) array per layer."""
        self._check_hybrid("get_nn_parameters_weight")
        return [w.copy() for w in self._nn_weight]

    def get_nn_parameters_bias(self) -> list[np.ndarray]:
        """Biases of the hybrid structure's net, one (n_out,) array per layer."""
        self._check_hybrid("get_nn_parameters_bias")
        return [b.copy() for b in self._nn_bias]

    def set_nn_parameters_weight(self, value=None, initializer="glorot_uniform", random_state=None):
        """Set the weights from a list of arrays, or draw them with `initializer` when `value` is None."""
        self._check_hybrid("set_nn_parameters_weight")
        if value is None:
            self._nn_weight = hybrid_nn.draw(initializer, self._nn_shapes, random_state)
        else:
            self._nn_weight = hybrid_nn.check_values("weight", value, self._nn_shapes)

    def set_nn_parameters_bias(self, value=None, initializer="zeros", random_state=None):
        """Set the biases from a list of arrays, or draw them with `initializer` when `value` is None."""
        self._check_hybrid("set_nn_parameters_bias")
        shapes = [(shape[0],) for shape in self._nn_shapes]
        if value is None:
            self._nn_bias = hybrid_nn.draw(initializer, shapes, random_state)
        else:
            self._nn_bias = hybrid_nn.check_values("bias", value, shapes)

    # -------------------------------------------------------------- running
    def _set_threads(self, ncpu: int):
        """Run the core on `ncpu` threads, the rainfall-runoff cells split by expected work."""
        self._fsetup.ncpu = int(ncpu)
        if ncpu > 1:
            self._fsetup.rr_split[: ncpu + 1] = work_split.split_points(self.atmos_data._cell_work(), ncpu)

    def _sync_parameters(self):
        """Copy the user-facing maps into the core (active cells, network order).

        Maps equal to the ones last copied are skipped: on a country-sized grid the
        gather and the checks cost more than comparing, and were the part of a
        two-thread forward run that did not shrink with threads."""
        net, fp = self._network, self._fparams
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

    def forward_run(self, cost_options=None, common_options=None, return_options=None):
        """Run the model in place; return a ForwardRun when `return_options` asks for outputs."""
        from smash.forward import run_forward

        return run_forward(self, cost_options, common_options, return_options)

    def optimize(self, mapping="uniform", optimizer=None, optimize_options=None, cost_options=None,
                 common_options=None, return_options=None, callback=None):
        """Calibrate in place (see smash.optimize); return an Optimize when `return_options` asks."""
        from smash.optimize import run_optimize

        return run_optimize(self, mapping, optimizer, optimize_options, cost_options, common_options,
                            return_options, callback)

    def set_control_optimize(self, control_vector, mapping="uniform", optimizer=None, optimize_options=None):
        """Set the parameters and states (and a hybrid net) from an optimization control vector.

        The vector is read as `optimize_control_info(self, mapping, optimizer, optimize_options)`
        describes it (e.g. a `control_vector` returned by `optimize` or given to its callback).
        """
        from smash.optimize import set_control_optimize

        set_control_optimize(self, control_vector, mapping, optimizer, optimize_options)

    def backward_run(self, diff_target="j", cotangent=None, mapping="uniform", optimizer=None,
                     optimize_options=None, cost_options=None, common_options=None, return_options=None):
        """Cost and gradient with respect to the control vector (see smash.backward_run)."""
        from smash.optimize import run_backward

        return run_backward(self, diff_target, cotangent, mapping, optimizer, optimize_options, cost_options,
                            common_options, return_options)

    def copy(self) -> Model:
        """Deep copy (the core data included)."""
        new = Model.__new__(Model)
        new.setup = _copy.deepcopy(self.setup)
        new.mesh = _copy.deepcopy(self.mesh)
        new._structure = self._structure
        new._network = self._network
        new._build_setup()
        new._fmesh = self._fmesh
        new._finput = self._finput
        new._input_users = self._input_users
        self._input_users.add(new)
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
        new._fparams = new._new_core_parameters()
        new._synced_maps = {}
        return new

    def _own_input(self):
        """Give this model its own copy of the forcings and observations before it writes them.

        A model and its copies share them until one writes (AtmosData and ResponseData call
        this first): smash.forward_run and smash.backward_run return copies, and copying the
        whole inputs each call was most of their time outside Fortran.
        """
        if len(self._input_users) < 2:
            return
        fi, net = fcore.md_input_data.InputDataDT(), self._network
        fcore.md_input_data.input_data_alloc(fi, net.nac, int(net.gauge_cell.size), self.setup.ntime_step,
                                             self.setup.snow_module != "zero")
        for kind in ("prcp", "pet", "snow", "temp", "qobs"):
            getattr(fi, kind)[...] = getattr(self._finput, kind)
        self._input_users.discard(self)
        self._finput, self._input_users = fi, _weakref.WeakSet([self])

    def __repr__(self):
        s, m = self.setup, self.mesh
        return (f"Model\n    structure: {s.structure}\n    dt: {s.dt}\n    start_time: {s.start_time}\n"
                f"    end_time: {s.end_time}\n    nrow x ncol: {m.nrow} x {m.ncol}\n    nac: {m.nac}\n"
                f"    ng: {m.ng}\n    rr_parameters: {self.rr_parameters.keys.tolist()}\n"
                f"    rr_initial_states: {self.rr_initial_states.keys.tolist()}")
