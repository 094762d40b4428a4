"""Descriptor-based mappings "multi-linear" and "multi-power" (smash's math documentation).

For each optimized name k, with its descriptors D_d transformed by
setup["descriptor_tfm"] (`regionalization.normalized_descriptors`) and the
bounds (l_k, u_k) of k:
  multi-linear: theta_k(x) = S_k(rho_k0 + sum_d a_kd D_d(x))
  multi-power:  theta_k(x) = S_k(rho_k0 + sum_d a_kd D_d(x) ** b_kd)
with the scaled sigmoid S_k(z) = l_k + (u_k - l_k) / (1 + exp(-z)).

Layout, names and bounds are smash 1.3's (measured with optimize_control_info):
per name `k-0` (rho_k0), then per descriptor d of k `k-d-a` (and `k-d-b` for
multi-power); intercepts and coefficients are unbounded and untransformed,
exponents are bounded in [0.5, 2] and normalized with control_tfm="normalize".
The maps are computed on the whole grid, as smash does. First guess:
rho_k0 = S_k^-1(mean of theta_k over active cells), a = 0, b = 1. A hybrid
structure's net arrays follow, as for the other mappings.

A non-integer power of a negative descriptor (standardized descriptors are
negative below their mean) has no real value: such a map raises
UndefinedMapError (an optimizer sees an infinite cost there and steps back;
L-BFGS-B then stops, as smash 1.3 stops, see docs/calibration.md). The
derivative a D^b ln D with respect to b counts the cells where D > 0 only, as
smash's adjoint does (D = 0 is its limit 0; D < 0 has none).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from smash.calibration.control import Control
from smash.nn.regionalization import normalized_descriptors

DESCRIPTOR_MAPPINGS = ("multi-linear", "multi-power")


class UndefinedMapError(ValueError):
    """A multi-power map with no real value (a non-integer power of a negative descriptor)."""


EXPONENT_BOUNDS = (0.5, 2.0)


class DescriptorControl(Control):
    """A Control whose maps are functions of the physical descriptors."""

    descriptor_index: list = None    # per name, indices of its descriptors in setup.descriptor_name

    @cached_property
    def _descriptor_grid(self) -> np.ndarray:
        # The descriptors do not change during a calibration: transformed once, not at every evaluation.
        return normalized_descriptors(self.model)   # (nrow, ncol, nd)

    def _descriptors(self) -> np.ndarray:
        return self._descriptor_grid

    @property
    def ncell(self) -> int:
        return self.model.network.nac

    @property
    def _power(self) -> bool:
        return self.mapping == "multi-power"

    def _per_name(self, k) -> int:
        return 1 + len(self.descriptor_index[k]) * (2 if self._power else 1)

    @property
    def n_rr(self) -> int:
        return sum(self._per_name(k) for k in range(len(self.names)))

    def _slices(self):
        off = 0
        for k in range(len(self.names)):
            n = self._per_name(k)
            yield k, slice(off, off + n)
            off += n

    def _is_exponent(self) -> np.ndarray:
        mask = []
        for k in range(len(self.names)):
            nd = len(self.descriptor_index[k])
            mask += [False] + ([False, True] * nd if self._power else [False] * nd)
        return np.array(mask, dtype=bool)

    # ---- transform of the exponents (the only bounded controls here)
    def _raw_of(self, x) -> np.ndarray:
        raw = np.asarray(x[:self.n_rr], dtype=np.float64).copy()
        if self.control_tfm == "normalize":
            low, high = EXPONENT_BOUNDS
            e = self._is_exponent()
            raw[e] = low + raw[e] * (high - low)
        return raw

    def _x_of(self, raw) -> np.ndarray:
        x = np.asarray(raw, dtype=np.float64).copy()
        if self.control_tfm == "normalize":
            low, high = EXPONENT_BOUNDS
            e = self._is_exponent()
            x[e] = (x[e] - low) / (high - low)
        return x

    def _coefficients(self, raw, k):
        """(rho_k0, a_k (nd_k,), b_k (nd_k,)) of name k from the raw rr block."""
        block = raw[list(self._slices())[k][1]]
        if self._power:
            return block[0], block[1::2], block[2::2]
        return block[0], block[1:], np.ones(block.size - 1)

    def _z(self, raw, k, desc):
        """Pre-sigmoid map of name k over the cells of `desc` (ncell, nd) and its powered descriptors."""
        bias, a, b = self._coefficients(raw, k)
        d = desc[:, self.descriptor_index[k]]
        with np.errstate(invalid="ignore"):
            powered = d ** b[None, :] if self._power else d
        return bias + powered @ a, powered, d, a, b

    @staticmethod
    def _sigmoid(z):
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def _name_map(self, raw, k, desc):
        z, *_ = self._z(raw, k, desc)
        return self.lower[k] + (self.upper[k] - self.lower[k]) * self._sigmoid(z)

    def maps(self, x) -> np.ndarray:
        """Maps (nnames, nac) on the active cells (network order) for control x."""
        raw = self._raw_of(x)
        net = self.model.network
        desc = self._descriptors()[net.rows, net.cols]
        return np.array([self._name_map(raw, k, desc) for k in range(len(self.names))])

    # ---- Control interface
    def _rr_x(self) -> np.ndarray:
        raw = np.zeros(self.n_rr)
        net = self.model.network
        for k, sl in self._slices():
            name, kind = self.names[k], self.kinds[k]
            maps = self._maps(kind)
            mean = float(np.mean(maps.values[net.rows, net.cols, maps.index(name)], dtype=np.float64))
            low, high = self.lower[k], self.upper[k]
            mean = min(max(mean, low), high)
            with np.errstate(divide="ignore"):
                raw[sl.start] = np.log((mean - low) / (high - mean))
            if self._power:
                raw[sl.start + 2:sl.stop:2] = 1.0
        return self._x_of(raw)

    def _load_rr(self, x) -> None:
        raw = self._raw_of(x)
        grid = self._descriptors()
        nrow, ncol, nd = grid.shape
        desc = grid.reshape(-1, nd)
        net = self.model.network
        act = net.rows * ncol + net.cols
        for k, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            values = self._name_map(raw, k, desc)
            if not np.all(np.isfinite(values[act])):
                bad = [self.model.setup.descriptor_name[i] for i in self.descriptor_index[k]]
                raise UndefinedMapError(
                    f"multi-power map of {name!r} is undefined: a non-integer exponent of a negative descriptor "
                    f"among {bad} (setup['descriptor_tfm'] = {self.model.setup.descriptor_tfm!r} makes "
                    "descriptors negative below their mean); use descriptor_tfm='normalize' or integer exponents")
            maps = self._maps(kind)
            maps.values[..., maps.index(name)] = values.reshape(nrow, ncol)

    def _rr_bounds_x(self):
        lower, upper = np.full(self.n_rr, -np.inf), np.full(self.n_rr, np.inf)
        e = self._is_exponent()
        lower[e], upper[e] = (0.0, 1.0) if self.control_tfm == "normalize" else EXPONENT_BOUNDS
        return lower, upper

    def _rr_raw(self):
        x = self._rr_x()
        lower, upper = np.full(self.n_rr, -np.inf), np.full(self.n_rr, np.inf)
        e = self._is_exponent()
        lower[e], upper[e] = EXPONENT_BOUNDS
        return self._raw_of(x), lower, upper

    def _nbk_rr(self) -> tuple[int, int]:
        n_par = sum(self._per_name(k) for k, kind in enumerate(self.kinds) if kind == "rr_parameters")
        return n_par, self.n_rr - n_par

    def _rr_names(self) -> list[str]:
        out = []
        desc_names = list(self.model.setup.descriptor_name)
        for k, name in enumerate(self.names):
            out.append(f"{name}-0")
            for i in self.descriptor_index[k]:
                out.append(f"{name}-{desc_names[i]}-a")
                if self._power:
                    out.append(f"{name}-{desc_names[i]}-b")
        return out

    def _rr_gradient_x(self, x, grad_parameters, grad_states) -> np.ndarray:
        raw = self._raw_of(x)
        net, order = self.model.network, self._order
        desc = self._descriptors()[net.rows[order], net.cols[order]]
        grads = self._grad_rows(grad_parameters, grad_states)     # column-major cells
        out = []
        for k in range(len(self.names)):
            z, powered, d, a, b = self._z(raw, k, desc)
            s = self._sigmoid(z)
            gz = grads[k] * (self.upper[k] - self.lower[k]) * s * (1 - s)       # dJ/dz per cell
            parts = [np.array([gz.sum()])]
            ga = powered.T @ gz
            if self._power:
                # d(D^b)/db = D^b ln D where D > 0; smash's adjoint takes 0 elsewhere.
                log_d = np.log(np.where(d > 0, d, 1.0))
                gb = a * ((np.where(d > 0, powered, 0.0) * log_d).T @ gz)
                if self.control_tfm == "normalize":
                    gb = gb * (EXPONENT_BOUNDS[1] - EXPONENT_BOUNDS[0])
                parts.append(np.column_stack([ga, gb]).ravel())
            else:
                parts.append(ga)
            out.append(np.concatenate(parts))
        return np.concatenate(out) if out else np.zeros(0)


def descriptor_choice(model, names, descriptor) -> list[list[int]]:
    """optimize_options['descriptor'] (name -> descriptor names) as indices per optimized name; all by default."""
    all_names = list(model.setup.descriptor_name)
    descriptor = dict(descriptor or {})
    unknown = [k for k in descriptor if k not in names]
    if unknown:
        raise ValueError(f"optimize_options['descriptor'] has keys {unknown} that are not optimized "
                         f"rr parameters or states {names}")
    out = []
    for name in names:
        chosen = descriptor.get(name, all_names)
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        bad = [d for d in chosen if d not in all_names]
        if bad:
            raise ValueError(f"optimize_options['descriptor'][{name!r}] names unknown descriptor(s) {bad}; "
                             f"choose among setup['descriptor_name'] = {all_names}")
        if not chosen:
            raise ValueError(f"optimize_options['descriptor'][{name!r}] is empty")
        # smash keeps the order of setup['descriptor_name'].
        out.append([i for i, d in enumerate(all_names) if d in chosen])
    return out
