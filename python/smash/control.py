"""The control vector: which parameters/states are optimized, how they map onto the maps, bounds, transforms.

Mappings: "uniform" (one value per name over all active cells) and
"distributed" (one value per name and active cell). Transforms of the control
(`control_tfm`): "keep" (raw values), "normalize" ((x - lower) / (upper - lower)),
"sbs" (log for names with positive bounds, asinh otherwise, as smash 1.3's
step-by-step search does).

The weights and biases of a hybrid structure's net (`weight_1`, `bias_1`, ...)
follow the rr controls at the end of x, raw and unbounded, whatever the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smash import hybrid_nn
from smash.registry import feasible_violation, parameter_bounds, state_bounds

MAPPINGS = ("uniform", "distributed")
TRANSFORMS = ("keep", "normalize", "sbs")


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

    @property
    def ncell(self) -> int:
        return self.model._network.nac if self.mapping != "uniform" else 1

    @property
    def size(self) -> int:
        return len(self.names) * self.ncell

    def _maps(self, kind):
        return self.model.rr_parameters if kind == "rr_parameters" else self.model.rr_initial_states

    # ---- raw values (one row per name, one column per cell or 1)
    def raw(self) -> np.ndarray:
        net = self.model._network
        rows = []
        for name, kind in zip(self.names, self.kinds, strict=True):
            maps = self._maps(kind)
            values = maps.values[net.rows, net.cols, maps.index(name)]
            rows.append(values if self.mapping != "uniform" else np.array([values.mean()]))
        return np.array(rows, dtype=np.float64)

    def set_raw(self, raw: np.ndarray) -> None:
        net = self.model._network
        for i, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            maps = self._maps(kind)
            maps.values[net.rows, net.cols, maps.index(name)] = raw[i] if self.mapping != "uniform" else raw[i, 0]

    # ---- transform between raw values and the control vector x
    def _log_mask(self):
        if self.control_tfm != "sbs":
            return np.zeros(len(self.names), dtype=bool)
        return self.lower > 0

    def to_x(self, raw: np.ndarray) -> np.ndarray:
        raw = np.clip(raw, self.lower[:, None], self.upper[:, None])
        if self.control_tfm == "normalize":
            x = (raw - self.lower[:, None]) / (self.upper - self.lower)[:, None]
        elif self.control_tfm == "sbs":
            x = np.where(self._log_mask()[:, None], np.log(np.maximum(raw, 1e-300)), np.arcsinh(raw))
        else:
            x = raw.copy()
        return x.ravel()

    def to_raw(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(self.names), self.ncell)
        if self.control_tfm == "normalize":
            return self.lower[:, None] + x * (self.upper - self.lower)[:, None]
        if self.control_tfm == "sbs":
            return np.where(self._log_mask()[:, None], np.exp(x), np.sinh(x))
        return x.copy()

    def d_raw_d_x(self, x: np.ndarray) -> np.ndarray:
        """Elementwise derivative of the raw values with respect to x (the transforms are diagonal)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(self.names), self.ncell)
        if self.control_tfm == "normalize":
            return np.broadcast_to((self.upper - self.lower)[:, None], x.shape).copy()
        if self.control_tfm == "sbs":
            return np.where(self._log_mask()[:, None], np.exp(x), np.cosh(x))
        return np.ones_like(x)

    def x_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lower = self.to_x(np.repeat(self.lower[:, None], self.ncell, axis=1))
        upper = self.to_x(np.repeat(self.upper[:, None], self.ncell, axis=1))
        return lower, upper

    # ---- the whole control vector: rr controls then the hybrid net's arrays
    def _nn_arrays(self):
        m = self.model
        return {**{f"weight_{i}": w for i, w in enumerate(m._nn_weight, 1)},
                **{f"bias_{i}": b for i, b in enumerate(m._nn_bias, 1)}}

    @property
    def n_rr(self) -> int:
        return len(self.names) * self.ncell

    def x_from_model(self) -> np.ndarray:
        arrays = self._nn_arrays()
        nn = [np.asarray(arrays[n], dtype=np.float64).ravel() for n in self.nn_names]
        return np.concatenate([self.to_x(self.raw()) if self.names else np.zeros(0), *nn])

    def load_x(self, x) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self.names:
            self.set_raw(self.to_raw(x[:self.n_rr]))
        off = self.n_rr
        m = self.model
        for name in self.nn_names:
            kind, i = name.split("_")
            target = m._nn_weight if kind == "weight" else m._nn_bias
            shape = target[int(i) - 1].shape
            size = int(np.prod(shape))
            target[int(i) - 1] = x[off:off + size].reshape(shape).astype(np.float32)
            off += size

    def bounds_x(self) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = self.x_bounds() if self.names else (np.zeros(0), np.zeros(0))
        n_nn = sum(self._nn_arrays()[n].size for n in self.nn_names)
        return (np.concatenate([lower, np.full(n_nn, -np.inf)]), np.concatenate([upper, np.full(n_nn, np.inf)]))

    def grad_x(self, x, grad_parameters, grad_states, grad_nn) -> np.ndarray:
        """dJ/dx for the whole vector; grad_nn is the core's flat net gradient."""
        rr = self.gradient_x(x[:self.n_rr], grad_parameters, grad_states) if self.names else np.zeros(0)
        if not self.nn_names:
            return rr
        weights, biases = hybrid_nn.unpack(grad_nn, self.model._nn_shapes)
        arrays = {**{f"weight_{i}": w for i, w in enumerate(weights, 1)},
                  **{f"bias_{i}": b for i, b in enumerate(biases, 1)}}
        return np.concatenate([rr, *(arrays[n].ravel() for n in self.nn_names)])

    def gradient_x(self, x, grad_parameters, grad_states) -> np.ndarray:
        """dJ/dx from dJ/d(maps on active cells): sum over cells for uniform, per cell otherwise."""
        maps = {"rr_parameters": (self.model.rr_parameters, grad_parameters),
                "rr_initial_states": (self.model.rr_initial_states, grad_states)}
        rows = []
        for name, kind in zip(self.names, self.kinds, strict=True):
            named, grad = maps[kind]
            g = grad[:, named.index(name)]
            rows.append(g if self.mapping != "uniform" else np.array([g.sum()]))
        return (np.array(rows) * self.d_raw_d_x(x)).ravel()


def nn_parameter_names(model) -> list[str]:
    """Names of the hybrid net's arrays ([] for conceptual structures)."""
    return hybrid_nn.parameter_names(len(model._nn_shapes))


def default_parameters(model) -> list[str]:
    """smash's default: every rr parameter but the interception capacity ci, then the hybrid net's arrays."""
    return [k for k in model.rr_parameters.keys.tolist() if k != "ci"] + nn_parameter_names(model)


def build_control(model, mapping, parameters, bounds, control_tfm) -> Control:
    if mapping not in MAPPINGS:
        raise ValueError(f"Unknown mapping {mapping!r}; choose one of {list(MAPPINGS)}")
    if control_tfm not in TRANSFORMS:
        raise ValueError(f"Unknown control_tfm {control_tfm!r}; choose one of {list(TRANSFORMS)}")
    p_keys = model.rr_parameters.keys.tolist()
    s_keys = model.rr_initial_states.keys.tolist()
    nn_keys = nn_parameter_names(model)
    names, kinds, lower, upper, nn_names = [], [], [], [], []
    bounds = dict(bounds or {})
    unknown = [b for b in bounds if b not in p_keys + s_keys]
    if unknown:
        extra = " (the hybrid net's weights and biases are unbounded)" if set(unknown) & set(nn_keys) else ""
        raise ValueError(f"bounds given for {unknown}, which are not parameters or states of "
                         f"{model.setup.structure}{extra}")
    for name in parameters:
        if name in nn_keys:
            if name not in nn_names:
                nn_names.append(name)
            continue
        if name in p_keys:
            kind, default = "rr_parameters", parameter_bounds(name)
        elif name in s_keys:
            kind, default = "rr_initial_states", state_bounds(name)
        else:
            raise ValueError(
                f"{name!r} is not a parameter or state of structure {model.setup.structure}; "
                f"choose among {p_keys + s_keys + nn_keys}"
            )
        low, high = (float(v) for v in bounds.get(name, default))
        if not low < high:
            raise ValueError(f"bounds of {name!r} must satisfy lower < upper, got ({low}, {high})")
        problem = feasible_violation(name, np.array([low, high]))
        if problem:
            raise ValueError(f"bounds of {name!r} leave its feasible domain: {problem}")
        names.append(name)
        kinds.append(kind)
        lower.append(low)
        upper.append(high)
    if not names and not nn_names:
        raise ValueError("optimize_options['parameters'] is empty: nothing to optimize")
    return Control(model, mapping, names, kinds, np.array(lower), np.array(upper), control_tfm, nn_names)
