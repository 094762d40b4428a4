"""The control vector: which parameters/states are optimized, how they map onto the maps, bounds, transforms.

Mappings: "uniform" (one value per name over all active cells) and
"distributed" (one value per name and active cell). The layout, names and
transforms are smash 1.3's (measured with `optimize_control_info`):

- rr parameters first (in the model's key order, whatever order they were
  asked in), then rr initial states, then the hybrid net's arrays in the order
  weight_1, bias_1, weight_2, bias_2, ...;
- uniform controls are named `cp-0`; distributed ones `cp-ROW-COL` (1-based),
  the active cells taken column by column (column-major, as Fortran stores
  the grid); the net's matrices are flattened column-major too
  (`weight_1-1-1`, `weight_1-2-1`, ...), biases `bias_1-1`, ...;
- `control_tfm` "keep" (raw values), "normalize" ((x - l) / (u - l)) or "sbs"
  (smash's step-by-step transform, per name from its bounds (l, u):
  ln(x / (1 - x)) when 0 <= l and u <= 1, ln(x) when 0 <= l otherwise,
  asinh(x) when l < 0). The net's weights and biases are raw and unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smash.nn import hybrid as hybrid_nn
from smash.registry import feasible_violation, parameter_bounds, state_bounds

MAPPINGS = ("uniform", "distributed")
CONTROL_TRANSFORMS = ("keep", "normalize", "sbs")
# nbk of optimize_control_info: rr_parameters, rr_initial_states, serr_mu, serr_sigma, nn_parameters, net.
NBK_KINDS = 6


def sbs_kinds(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """smash's sbs transform of each bounded name: "logit", "log" or "asinh"."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    return np.where((lower >= 0) & (upper <= 1), "logit", np.where(lower >= 0, "log", "asinh"))


def sbs_forward(raw: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Raw values (rows follow `kinds`) to the sbs space; a bound of logit/log maps to -inf/inf, as in smash."""
    kinds = np.asarray(kinds)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.log(raw / (1.0 - raw))
        log = np.log(raw)
    return np.where(kinds == "logit", logit, np.where(kinds == "log", log, np.arcsinh(raw)))


def sbs_inverse(x: np.ndarray, kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw values and d(raw)/dx of sbs-space values."""
    kinds = np.asarray(kinds)[:, None]
    with np.errstate(over="ignore"):
        sig = 1.0 / (1.0 + np.exp(-x))
        exp = np.exp(x)
    raw = np.where(kinds == "logit", sig, np.where(kinds == "log", exp, np.sinh(x)))
    slope = np.where(kinds == "logit", sig * (1.0 - sig), np.where(kinds == "log", exp, np.cosh(x)))
    return raw, slope


@dataclass
class Control:
    model: object
    mapping: str
    names: list            # optimized names (rr parameters then rr initial states)
    kinds: list            # "rr_parameters" | "rr_initial_states" for each name
    lower: np.ndarray      # raw bounds per name
    upper: np.ndarray
    control_tfm: str
    nn_names: list = field(default_factory=list)   # hybrid net arrays optimized ("weight_1", "bias_1", ...)
    # True: distributed values follow the network's cell order instead of smash's (the ann trainer's maps).
    network_order: bool = False

    # ---- active cells in smash's order (column-major); `_order` indexes the network's cell order
    @property
    def _order(self) -> np.ndarray:
        net = self.model.network
        return np.arange(net.nac) if self.network_order else np.lexsort((net.rows, net.cols))

    @property
    def ncell(self) -> int:
        return self.model.network.nac if self.mapping != "uniform" else 1

    @property
    def size(self) -> int:
        return self.n_rr + self.n_nn

    def _maps(self, kind):
        return self.model.rr_parameters if kind == "rr_parameters" else self.model.rr_initial_states

    # ---- raw values (one row per name, one column per cell in column-major order, or 1)
    def raw(self) -> np.ndarray:
        net, order = self.model.network, self._order
        rows = []
        for name, kind in zip(self.names, self.kinds, strict=True):
            maps = self._maps(kind)
            values = maps.values[net.rows[order], net.cols[order], maps.index(name)].astype(np.float64)
            rows.append(values if self.mapping != "uniform" else np.array([values.mean()]))
        return np.array(rows, dtype=np.float64).reshape(len(self.names), self.ncell)

    def set_raw(self, raw: np.ndarray) -> None:
        net, order = self.model.network, self._order
        for i, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            maps = self._maps(kind)
            maps.values[net.rows[order], net.cols[order], maps.index(name)] = (
                raw[i] if self.mapping != "uniform" else raw[i, 0])

    # ---- transform between raw values and the control vector x
    @property
    def _sbs_kinds(self) -> np.ndarray:
        return sbs_kinds(self.lower, self.upper)

    def to_x(self, raw: np.ndarray) -> np.ndarray:
        raw = np.clip(raw, self.lower[:, None], self.upper[:, None])
        if self.control_tfm == "normalize":
            x = (raw - self.lower[:, None]) / (self.upper - self.lower)[:, None]
        elif self.control_tfm == "sbs":
            x = sbs_forward(raw, self._sbs_kinds)
        else:
            x = raw.copy()
        return x.ravel()

    def to_raw(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(self.names), self.ncell)
        if self.control_tfm == "normalize":
            return self.lower[:, None] + x * (self.upper - self.lower)[:, None]
        if self.control_tfm == "sbs":
            return sbs_inverse(x, self._sbs_kinds)[0]
        return x.copy()

    def d_raw_d_x(self, x: np.ndarray) -> np.ndarray:
        """Elementwise derivative of the raw values with respect to x (the transforms are diagonal)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(self.names), self.ncell)
        if self.control_tfm == "normalize":
            return np.broadcast_to((self.upper - self.lower)[:, None], x.shape).copy()
        if self.control_tfm == "sbs":
            return sbs_inverse(x, self._sbs_kinds)[1]
        return np.ones_like(x)

    # ---- the net's arrays, flattened column-major as smash orders them
    def _nn_arrays(self):
        m = self.model
        return {**{f"weight_{i}": w for i, w in enumerate(m._nn_weight, 1)},
                **{f"bias_{i}": b for i, b in enumerate(m._nn_bias, 1)}}

    @property
    def n_rr(self) -> int:
        return len(self.names) * self.ncell

    @property
    def n_nn(self) -> int:
        arrays = self._nn_arrays() if self.nn_names else {}
        return sum(arrays[n].size for n in self.nn_names)

    def _rr_x(self) -> np.ndarray:
        return self.to_x(self.raw()) if self.names else np.zeros(0)

    def x_from_model(self) -> np.ndarray:
        arrays = self._nn_arrays()
        nn = [np.asarray(arrays[n], dtype=np.float64).ravel(order="F") for n in self.nn_names]
        return np.concatenate([self._rr_x(), *nn])

    def _load_rr(self, x) -> None:
        self.set_raw(self.to_raw(x))

    def load_x(self, x) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.size,):
            raise ValueError(f"the control vector has shape {x.shape}; this control needs ({self.size},)")
        if self.names:
            self._load_rr(x[:self.n_rr])
        off = self.n_rr
        m = self.model
        for name in self.nn_names:
            kind, i = name.split("_")
            target = m._nn_weight if kind == "weight" else m._nn_bias
            shape = target[int(i) - 1].shape
            size = int(np.prod(shape))
            target[int(i) - 1] = x[off:off + size].reshape(shape, order="F").astype(np.float32)
            off += size

    def _rr_bounds_x(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the rr block of x: the raw bounds of each name through the transform, per cell."""
        if not self.names:
            return np.zeros(0), np.zeros(0)
        lower = self.to_x(np.repeat(self.lower[:, None], self.ncell, axis=1))
        upper = self.to_x(np.repeat(self.upper[:, None], self.ncell, axis=1))
        return lower, upper

    def bounds_x(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the whole control vector; the net's weights and biases are unbounded."""
        lower, upper = self._rr_bounds_x()
        return (np.concatenate([lower, np.full(self.n_nn, -np.inf)]),
                np.concatenate([upper, np.full(self.n_nn, np.inf)]))

    def gradient_x(self, x, grad_parameters, grad_states, grad_nn) -> np.ndarray:
        """dJ/dx for the whole vector; grad_nn is the core's flat net gradient."""
        rr = self._rr_gradient_x(x[:self.n_rr], grad_parameters, grad_states) if self.names else np.zeros(0)
        if not self.nn_names:
            return rr
        weights, biases = hybrid_nn.unpack(grad_nn, self.model._nn_shapes)
        arrays = {**{f"weight_{i}": w for i, w in enumerate(weights, 1)},
                  **{f"bias_{i}": b for i, b in enumerate(biases, 1)}}
        return np.concatenate([rr, *(arrays[n].ravel(order="F") for n in self.nn_names)])

    def _grad_rows(self, grad_parameters, grad_states):
        """dJ/d(map) of each name on the active cells, in smash's column-major order: (nnames, nac)."""
        maps = {"rr_parameters": (self.model.rr_parameters, grad_parameters),
                "rr_initial_states": (self.model.rr_initial_states, grad_states)}
        order = self._order
        rows = []
        for name, kind in zip(self.names, self.kinds, strict=True):
            named, grad = maps[kind]
            rows.append(np.asarray(grad[:, named.index(name)], dtype=np.float64)[order])
        return np.array(rows).reshape(len(self.names), -1)

    def _rr_gradient_x(self, x, grad_parameters, grad_states) -> np.ndarray:
        """dJ/dx of the rr block from dJ/d(maps on active cells): sum over cells for uniform, per cell otherwise."""
        g = self._grad_rows(grad_parameters, grad_states)
        if self.mapping == "uniform":
            g = g.sum(axis=1, keepdims=True)
        return (g * self.d_raw_d_x(x)).ravel()

    # ---- what optimize_control_info shows
    def _rr_names(self) -> list[str]:
        if self.mapping == "uniform":
            return [f"{n}-0" for n in self.names]
        net, order = self.model.network, self._order
        cells = [f"{r + 1}-{c + 1}" for r, c in zip(net.rows[order], net.cols[order], strict=True)]
        return [f"{n}-{cell}" for n in self.names for cell in cells]

    def _rr_raw(self):
        """Raw values and raw bounds of the rr block, flattened as in x."""
        return (self.raw().ravel(), np.repeat(self.lower, self.ncell), np.repeat(self.upper, self.ncell))

    def _nbk_rr(self) -> tuple[int, int]:
        per_name = self.n_rr // max(len(self.names), 1)
        n_par = sum(per_name for k in self.kinds if k == "rr_parameters")
        return n_par, self.n_rr - n_par

    def info(self) -> dict:
        """smash's control information: n, nbk, name, x, l, u, nbd, x_raw, l_raw, u_raw."""
        x = self.x_from_model()
        lower, upper = self.bounds_x()
        arrays = self._nn_arrays() if self.nn_names else {}
        nn_names = []
        for n in self.nn_names:
            a = arrays[n]
            if a.ndim == 2:
                nn_names += [f"{n}-{r + 1}-{c + 1}" for c in range(a.shape[1]) for r in range(a.shape[0])]
            else:
                nn_names += [f"{n}-{r + 1}" for r in range(a.size)]
        x_raw, l_raw, u_raw = self._rr_raw() if self.names else (np.zeros(0),) * 3
        nn_x = x[self.n_rr:]
        inf = np.full(self.n_nn, np.inf)
        l_raw, u_raw = np.concatenate([l_raw, -inf]), np.concatenate([u_raw, inf])
        finite_l, finite_u = np.isfinite(l_raw), np.isfinite(u_raw)
        nbd = np.where(finite_l & finite_u, 2, np.where(finite_l, 1, np.where(finite_u, 3, 0))).astype(np.int32)
        nbk = np.zeros(NBK_KINDS, dtype=np.int64)
        nbk[0], nbk[1] = self._nbk_rr() if self.names else (0, 0)
        nbk[4] = self.n_nn
        return {"n": int(x.size), "nbk": nbk, "name": np.array(self._rr_names() + nn_names, dtype="<U128"),
                "x": x, "l": lower, "u": upper, "nbd": nbd,
                "x_raw": np.concatenate([x_raw, nn_x]), "l_raw": l_raw, "u_raw": u_raw}


def nn_parameter_names(model) -> list[str]:
    """Names of the hybrid net's arrays ([] for conceptual structures)."""
    return hybrid_nn.parameter_names(len(model._nn_shapes))


def default_parameters(model) -> list[str]:
    """smash's default: every rr parameter but the interception capacity ci, then the hybrid net's arrays."""
    return [k for k in model.rr_parameters.keys.tolist() if k != "ci"] + nn_parameter_names(model)


def parse_parameters(model, parameters) -> list[str]:
    """optimize_options['parameters'] as smash reads it: None -> defaults, a name -> [name]."""
    if parameters is None:
        return default_parameters(model)
    if isinstance(parameters, str):
        return [parameters]
    try:
        names = list(parameters)
    except TypeError:
        raise TypeError(f"optimize_options['parameters'] must be a name or a list of names, "
                        f"not {type(parameters).__name__}") from None
    bad = [p for p in names if not isinstance(p, str)]
    if bad:
        raise TypeError(f"optimize_options['parameters'] holds non-string entries {bad}")
    return names


def _ordered(model, parameters) -> tuple[list[str], list[str], list[str]]:
    """The asked names split and ordered as smash orders the control: parameters, states, net arrays."""
    p_keys = model.rr_parameters.keys.tolist()
    s_keys = model.rr_initial_states.keys.tolist()
    nn_keys = nn_parameter_names(model)
    if "ci" in parameters:
        raise ValueError("'ci' (interception capacity) is not optimizable: smash sets it from the data "
                         "(setup['adjust_interception']); leave it out of optimize_options['parameters']")
    unknown = [p for p in parameters if p not in p_keys + s_keys + nn_keys]
    if unknown:
        choices = [k for k in p_keys if k != "ci"] + s_keys + nn_keys
        raise ValueError(f"{unknown[0]!r} is not an optimizable parameter or state of structure "
                         f"{model.setup.structure}; choose among {choices}")
    return ([k for k in p_keys if k in parameters], [k for k in s_keys if k in parameters],
            [k for k in nn_keys if k in parameters])


def _bound_pair(name, value) -> tuple[float, float]:
    """A user bound as (lower, upper) floats; an error naming the parameter otherwise."""
    try:
        pair = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        pair = None
    if pair is None or pair.shape != (2,):
        raise ValueError(f"bounds of {name!r} must be two numbers (lower, upper), got {value!r}")
    if not np.all(np.isfinite(pair)):
        raise ValueError(f"bounds of {name!r} must be finite, got {value!r}")
    return float(pair[0]), float(pair[1])


def control_bounds(model, names, bounds) -> tuple[np.ndarray, np.ndarray]:
    """Raw (lower, upper) of each name, the user's bounds over the defaults, checked as smash checks them."""
    p_keys = model.rr_parameters.keys.tolist()
    s_keys = model.rr_initial_states.keys.tolist()
    nn_keys = nn_parameter_names(model)
    bounds = dict(bounds or {})
    unknown = [b for b in bounds if b not in p_keys + s_keys]
    if unknown:
        extra = " (the hybrid net's weights and biases are unbounded)" if set(unknown) & set(nn_keys) else ""
        raise ValueError(f"bounds given for {unknown}, which are not parameters or states of "
                         f"{model.setup.structure}{extra}")
    bounds = {name: _bound_pair(name, value) for name, value in bounds.items()}
    lower, upper = [], []
    for name in names:
        is_par = name in p_keys
        default = parameter_bounds(name) if is_par else state_bounds(name)
        low, high = (float(v) for v in bounds.get(name, default))
        if not low < high:
            raise ValueError(f"bounds of {name!r} must satisfy lower < upper, got ({low}, {high})")
        problem = feasible_violation(name, np.array([low, high]))
        if problem:
            raise ValueError(f"bounds of {name!r} leave its feasible domain: {problem}")
        maps = model.rr_parameters if is_par else model.rr_initial_states
        net = model.network
        values = maps.values[net.rows, net.cols, maps.index(name)]
        vmin, vmax = float(values.min()), float(values.max())
        # smash refuses bounds that leave out the current values (the first guess would be clipped).
        if vmin < low or vmax > high:
            raise ValueError(f"bounds ({low}, {high}) of {name!r} do not include its current values "
                             f"[{vmin}, {vmax}] on active cells")
        lower.append(low)
        upper.append(high)
    return np.array(lower, dtype=np.float64), np.array(upper, dtype=np.float64)


def build_control(model, mapping, parameters, bounds, control_tfm) -> Control:
    if mapping not in MAPPINGS:
        raise ValueError(f"Unknown mapping {mapping!r}; choose one of {list(MAPPINGS)}")
    if control_tfm not in CONTROL_TRANSFORMS:
        raise ValueError(f"Unknown control_tfm {control_tfm!r}; choose one of {list(CONTROL_TRANSFORMS)}")
    params, states, nn_names = _ordered(model, parse_parameters(model, parameters))
    names = params + states
    kinds = ["rr_parameters"] * len(params) + ["rr_initial_states"] * len(states)
    if not names and not nn_names:
        raise ValueError("optimize_options['parameters'] is empty: nothing to optimize")
    lower, upper = control_bounds(model, names, bounds)
    return Control(model, mapping, names, kinds, lower, upper, control_tfm, nn_names)
