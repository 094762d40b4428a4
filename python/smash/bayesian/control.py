"""The control vector of bayesian_optimize: the control of `optimize` (any mapping) with the
structural error parameters of the calibrated gauges inserted after its rr block, as smash 1.3
lays it out (measured with bayesian_optimize_control_info):

    [rr parameters, rr initial states | serr mu parameters | serr sigma parameters | hybrid net]

Structural error controls are uniform per gauge, named `KEY-CODE` (e.g. `sg0-V3524010`), key by
key and, within a key, gauge by gauge. They are bounded; control_tfm "normalize" maps them to
[0, 1], "keep" and "sbs" leave them raw (smash's sbs transform does not apply to them).
"""

from __future__ import annotations

import numpy as np

from smash.bayesian import serr as _serr
from smash.calibration.descriptor_mapping import DescriptorControl


class BayesianControl:
    """A base control (smash.calibration.control.Control or DescriptorControl) and the structural error block."""

    def __init__(self, model, base, serr_names: list, gauges: np.ndarray, serr_bounds: dict):
        self.model, self.base = model, base
        self.gauges = np.asarray(gauges, dtype=int)
        keys_mu, keys_sigma = _serr.serr_keys(model, "mu"), _serr.serr_keys(model, "sigma")
        # (which, key) of each controlled structural error parameter, in smash's order.
        self.serr_keys = [("mu", k) for k in keys_mu if k in serr_names] + \
                         [("sigma", k) for k in keys_sigma if k in serr_names]
        self.serr_lower = np.repeat([float(serr_bounds[k][0]) for _, k in self.serr_keys], self.gauges.size)
        self.serr_upper = np.repeat([float(serr_bounds[k][1]) for _, k in self.serr_keys], self.gauges.size)
        self.mapping, self.control_tfm = base.mapping, base.control_tfm

    # ---- sizes and blocks
    @property
    def n_rr(self) -> int:
        return self.base.n_rr if self.base.names else 0

    @property
    def n_serr(self) -> int:
        return len(self.serr_keys) * self.gauges.size

    @property
    def size(self) -> int:
        return self.base.size + self.n_serr

    def _split(self, x):
        x = np.asarray(x, dtype=np.float64)
        a, b = self.n_rr, self.n_rr + self.n_serr
        return np.concatenate([x[:a], x[b:]]), x[a:b]

    def _join(self, base_part, serr_part):
        return np.concatenate([base_part[:self.n_rr], serr_part, base_part[self.n_rr:]])

    # ---- structural error block
    def serr_raw(self) -> np.ndarray:
        rows = []
        for which, key in self.serr_keys:
            maps = getattr(self.model, f"serr_{which}_parameters")
            rows.append(maps.values[self.gauges, maps.index(key)])
        return np.concatenate(rows) if rows else np.zeros(0)

    def _serr_scale(self):
        return (self.serr_upper - self.serr_lower) if self.control_tfm == "normalize" else np.ones(self.n_serr)

    def _serr_to_x(self, raw):
        raw = np.clip(raw, self.serr_lower, self.serr_upper)
        return (raw - self.serr_lower) / self._serr_scale() if self.control_tfm == "normalize" else raw

    def _serr_to_raw(self, xs):
        return self.serr_lower + xs * self._serr_scale() if self.control_tfm == "normalize" else np.array(xs)

    def _set_serr_raw(self, raw):
        ng = self.gauges.size
        for i, (which, key) in enumerate(self.serr_keys):
            maps = getattr(self.model, f"serr_{which}_parameters")
            maps.values[self.gauges, maps.index(key)] = raw[i * ng:(i + 1) * ng]

    # ---- the interface the optimizers use
    def x_from_model(self) -> np.ndarray:
        return self._join(self.base.x_from_model(), self._serr_to_x(self.serr_raw()))

    def load_x(self, x) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.size,):
            raise ValueError(f"the control vector has shape {x.shape}; this control needs ({self.size},)")
        base_part, serr_part = self._split(x)
        self.base.load_x(base_part)
        self._set_serr_raw(self._serr_to_raw(serr_part))

    def bounds_x(self):
        lower, upper = self.base.bounds_x()
        sl, su = self._serr_to_x(self.serr_lower), self._serr_to_x(self.serr_upper)
        return self._join(lower, sl), self._join(upper, su)

    def gradient_x(self, x, grad_parameters, grad_states, grad_nn, grad_serr_raw) -> np.ndarray:
        """dJ/dx from the core's gradients of the maps and dJ/d(raw serr controls)."""
        base_part, serr_part = self._split(x)
        g = self.base.gradient_x(base_part, grad_parameters, grad_states, grad_nn)
        return self._join(g, grad_serr_raw * self._serr_scale())

    def raw_and_slope(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Raw value of every control (what a prior applies to) and d(raw)/dx, entry by entry."""
        base_part, serr_part = self._split(x)
        rr = base_part[:self.n_rr]
        if isinstance(self.base, DescriptorControl):
            raw, slope = self.base._raw_of(rr), self._descriptor_slope(rr)
        elif self.base.names:
            raw, slope = self.base.to_raw(rr).ravel(), self.base.d_raw_d_x(rr).ravel()
        else:
            raw, slope = rr, np.ones_like(rr)
        nn = base_part[self.n_rr:]
        return (self._join(np.concatenate([raw, nn]), self._serr_to_raw(serr_part)),
                self._join(np.concatenate([slope, np.ones_like(nn)]), self._serr_scale()))

    def _descriptor_slope(self, rr):
        # Only the multi-power exponents are transformed (normalize: affine).
        return self.base._raw_of(np.ones_like(rr)) - self.base._raw_of(np.zeros_like(rr))

    # ---- what bayesian_optimize_control_info shows
    def names(self) -> list[str]:
        info = self.base.info()
        codes = [str(self.model.mesh.code[g]) for g in self.gauges]
        serr = [f"{key}-{code}" for _, key in self.serr_keys for code in codes]
        return self._join_list(list(info["name"]), serr)

    def _join_list(self, base, serr):
        return base[:self.n_rr] + serr + base[self.n_rr:]

    def info(self) -> dict:
        info = self.base.info()
        x = self.x_from_model()
        lower, upper = self.bounds_x()
        serr_raw = self.serr_raw()
        nbk = np.array(info["nbk"], dtype=np.int64)
        nmu = sum(1 for which, _ in self.serr_keys if which == "mu") * self.gauges.size
        nbk[2], nbk[3] = nmu, self.n_serr - nmu
        nbd = self._join(np.asarray(info["nbd"]), np.full(self.n_serr, 2)).astype(np.int32)
        return {"n": int(x.size), "nbk": nbk, "name": np.array(self.names(), dtype="<U128"), "x": x,
                "l": lower, "u": upper, "nbd": nbd,
                "x_raw": self._join(np.asarray(info["x_raw"], dtype=float), serr_raw),
                "l_raw": self._join(np.asarray(info["l_raw"], dtype=float), self.serr_lower),
                "u_raw": self._join(np.asarray(info["u_raw"], dtype=float), self.serr_upper)}
