"""Descriptor-based mappings "multi-linear" and "multi-power" (smash's math documentation).

For each optimized name k, with descriptors D_d min-max normalised over the
active cells and the bounds (l_k, u_k) of k:
  multi-linear: theta_k(x) = S_k(rho_k0 + sum_d rho_kd D_d(x))
  multi-power:  theta_k(x) = S_k(rho_k0 + sum_d rho_kd D_d(x) ** e_kd)
with the scaled sigmoid S_k(z) = l_k + (u_k - l_k) / (1 + exp(-z)). The control
x holds, per name, [rho_k0, rho_k1..rho_kN] (then [e_k1..e_kN] for
multi-power), unbounded (exponents >= 0): S_k keeps every map inside its bounds. First guess:
rho_k0 = S_k^-1(spatial mean of theta_k), other coefficients 0, exponents 1.
The hybrid structures' net is not part of these controls.
"""

from __future__ import annotations

import numpy as np

from smash.control import Control

DESCRIPTOR_MAPPINGS = ("multi-linear", "multi-power")


class DescriptorControl(Control):
    """A Control whose maps are functions of the physical descriptors."""

    def _descriptors(self) -> np.ndarray:
        from smash.regionalization import normalized_descriptors

        net = self.model._network
        return normalized_descriptors(self.model)[net.rows, net.cols]   # (nac, nd)

    @property
    def ncell(self) -> int:
        return self.model._network.nac

    @property
    def n_per_name(self) -> int:
        nd = self.model.physio_data.descriptor.shape[-1]
        return 1 + nd * (2 if self.mapping == "multi-power" else 1)

    @property
    def n_rr(self) -> int:
        return len(self.names) * self.n_per_name

    def _split(self, x):
        nd = self.model.physio_data.descriptor.shape[-1]
        rho = np.asarray(x[:self.n_rr], dtype=np.float64).reshape(len(self.names), self.n_per_name)
        coef = rho[:, 1:1 + nd]
        expo = rho[:, 1 + nd:] if self.mapping == "multi-power" else np.ones_like(coef)
        return rho[:, 0], coef, expo

    def _z(self, x):
        """Pre-sigmoid maps (nnames, nac) and the powered descriptors (nnames, nac, nd)."""
        bias, coef, expo = self._split(x)
        desc = self._descriptors()
        powered = desc[None, :, :] ** expo[:, None, :]
        return bias[:, None] + np.einsum("kd,kcd->kc", coef, powered), powered

    def _sigmoid(self, z):
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def maps(self, x) -> np.ndarray:
        z, _ = self._z(x)
        return self.lower[:, None] + (self.upper - self.lower)[:, None] * self._sigmoid(z)

    def x_from_model(self) -> np.ndarray:
        mean = np.clip(self.raw().mean(axis=1), self.lower, self.upper)
        # Keep the first guess strictly inside (l, u), where S^-1 is finite.
        frac = np.clip((mean - self.lower) / (self.upper - self.lower), 1e-6, 1 - 1e-6)
        rho = np.zeros((len(self.names), self.n_per_name))
        rho[:, 0] = np.log(frac / (1 - frac))
        if self.mapping == "multi-power":
            nd = self.model.physio_data.descriptor.shape[-1]
            rho[:, 1 + nd:] = 1.0
        return rho.ravel()

    def load_x(self, x) -> None:
        self.set_raw(self.maps(np.asarray(x, dtype=np.float64)))

    def bounds_x(self):
        lower = np.full((len(self.names), self.n_per_name), -np.inf)
        if self.mapping == "multi-power":
            # Non-negative exponents: normalised descriptors reach 0, where a negative power is infinite.
            nd = self.model.physio_data.descriptor.shape[-1]
            lower[:, 1 + nd:] = 0.0
        return lower.ravel(), np.full(self.n_rr, np.inf)

    def grad_x(self, x, grad_parameters, grad_states, grad_nn) -> np.ndarray:
        maps_grad = {"rr_parameters": (self.model.rr_parameters, grad_parameters),
                     "rr_initial_states": (self.model.rr_initial_states, grad_states)}
        z, powered = self._z(x)
        s = self._sigmoid(z)
        dtheta_dz = (self.upper - self.lower)[:, None] * s * (1 - s)
        bias, coef, expo = self._split(x)
        desc = self._descriptors()
        with np.errstate(divide="ignore", invalid="ignore"):
            log_desc = np.where(desc > 0, np.log(np.where(desc > 0, desc, 1.0)), 0.0)
        rows = []
        for k, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            named, grad = maps_grad[kind]
            gz = grad[:, named.index(name)] * dtheta_dz[k]          # dJ/dz per cell
            parts = [np.array([gz.sum()]), powered[k].T @ gz]
            if self.mapping == "multi-power":
                parts.append(coef[k] * ((powered[k] * log_desc).T @ gz))
            rows.append(np.concatenate(parts))
        return np.concatenate(rows)
