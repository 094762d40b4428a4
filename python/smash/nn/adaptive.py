"""First-order update rules shared by the adaptive optimizers (distributed controls and Net training).

adam (beta1 0.9, beta2 0.999, bias-corrected), adagrad, rmsprop (rho 0.9) and
plain sgd; eps 1e-8 keeps a zero gradient from dividing by zero.

`smash_control=True` gives the rules smash 1.3 applies to a control vector
(measured on Cance, distributed mapping, 3 steps each, control vectors equal to
1e-8 with them, 1e-3 to 3e-2 off without):
- adam keeps the first step's bias correction, m / (1 - 0.9) and
  v / (1 - 0.999), at every step;
- adagrad and rmsprop put eps inside the root: lr g / sqrt(v + 1e-8).
"""

from __future__ import annotations

import numpy as np

RULES = ("adam", "sgd", "adagrad", "rmsprop")


class AdaptiveStep:
    """Steps for several arrays, each with its own moment estimates (keyed by the caller)."""

    def __init__(self, rule: str, learning_rate: float, smash_control: bool = False):
        if rule not in RULES:
            raise ValueError(f"Unknown optimizer {rule!r}; choose one of {list(RULES)}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
        self.rule, self.lr = rule, float(learning_rate)
        self.t = 0
        self.smash_control = bool(smash_control)
        self._m, self._v = {}, {}

    def next_iteration(self):
        self.t += 1

    def step(self, key, g) -> np.ndarray:
        """The increment to subtract from the array `key` whose gradient is g."""
        m = self._m.setdefault(key, np.zeros_like(g))
        v = self._v.setdefault(key, np.zeros_like(g))
        eps = 1e-8
        if self.rule == "adam":
            m[...] = 0.9 * m + 0.1 * g
            v[...] = 0.999 * v + 0.001 * g * g
            t = 1 if self.smash_control else max(self.t, 1)
            return self.lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + eps)
        if self.rule == "adagrad":
            v += g * g
        elif self.rule == "rmsprop":
            v[...] = 0.9 * v + 0.1 * g * g
        if self.rule in ("adagrad", "rmsprop"):
            return self.lr * g / (np.sqrt(v + eps) if self.smash_control else np.sqrt(v) + eps)
        return self.lr * g


class BestIterate:
    """The best iterate so far and early stopping, as the adaptive optimizers and the ANN training use them.

    `offer` each evaluated iterate in turn: a lower cost than the best so far replaces it, any other
    counts one more iteration without improvement; with `patience` p > 0, p such iterations in a row
    end the run.
    """

    def __init__(self, patience: int):
        self.patience = int(patience)
        self.cost, self.iterate, self.value = np.inf, None, None
        self.since_best = 0

    def offer(self, iterate: int, cost: float, value) -> bool:
        """Record iterate `iterate` with its `cost` and `value` (kept as given when best); True when
        early stopping ends the run here."""
        if cost < self.cost:
            self.cost, self.iterate, self.value, self.since_best = cost, iterate, value, 0
            return False
        self.since_best += 1
        return bool(self.patience) and self.since_best >= self.patience
