"""The structure registry (structures.yaml) as Python objects.

Every list of parameters, states and fluxes, every default and bound comes
from that one file; the Fortran core reads the same file at build time.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import yaml

FAMILIES = ("snow", "hydrological", "routing")


@functools.cache
def registry() -> dict:
    path = os.path.join(os.path.dirname(__file__), "structures.yaml")
    # libyaml's loader when present: the pure-Python one took 0.09 s of every first Model.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as f:
        return yaml.load(f, Loader=loader)


def module_names(family: str) -> list[str]:
    return list(registry()["modules"][family])


def module_id(family: str, name: str) -> int:
    """1-based id of a module, as numbered in the Fortran core."""
    return module_names(family).index(name) + 1


def metric_names() -> list[str]:
    return list(registry()["metrics"])


@dataclass(frozen=True)
class Structure:
    """A snow-hydrological-routing chain and the column layout it implies."""

    snow: str
    hydrological: str
    routing: str

    def __post_init__(self):
        for family, name in zip(FAMILIES, (self.snow, self.hydrological, self.routing), strict=True):
            valid = module_names(family)
            if name not in valid:
                raise ValueError(
                    f"Unknown {family} module {name!r}; choose one of {valid}"
                )

    def _records(self):
        mods = registry()["modules"]
        return (
            mods["snow"][self.snow],
            mods["hydrological"][self.hydrological],
            mods["routing"][self.routing],
        )

    def _concat(self, key):
        return tuple(name for rec in self._records() for name in rec[key])

    def counts(self, key) -> tuple[int, int, int]:
        return tuple(len(rec[key]) for rec in self._records())

    @property
    def name(self) -> str:
        return f"{self.snow}-{self.hydrological}-{self.routing}"

    @property
    def rr_parameters(self) -> tuple[str, ...]:
        return self._concat("parameters")

    @property
    def rr_states(self) -> tuple[str, ...]:
        return self._concat("states")

    @property
    def fluxes(self) -> tuple[str, ...]:
        return self._concat("fluxes")

    @property
    def discharge_steps(self) -> int:
        """Steps of discharge the routing keeps (smash's `nqz`)."""
        return int(self._records()[2].get("discharge_steps", 1))

    @property
    def flux_records(self) -> tuple[tuple[str, str, str], ...]:
        """(family, name, unit) of every internal flux, in output order."""
        fluxes = registry()["fluxes"]
        return tuple(
            (family, name, rec.get("flux_units", {}).get(name, fluxes[name]["unit"]))
            for family, rec in zip(FAMILIES, self._records(), strict=True)
            for name in rec["fluxes"]
        )

    @property
    def is_hybrid(self) -> bool:
        """True when the hydrological module embeds a net (the *_mlp structures)."""
        return "nn" in self._records()[1]

    @property
    def nn_inputs(self) -> tuple[str, ...]:
        return tuple(self._records()[1].get("nn", {}).get("inputs", ()))

    @property
    def nn_outputs(self) -> tuple[str, ...]:
        return tuple(self._records()[1].get("nn", {}).get("outputs", ()))

    def ids(self) -> tuple[int, int, int]:
        return (
            module_id("snow", self.snow),
            module_id("hydrological", self.hydrological),
            module_id("routing", self.routing),
        )


def parameter_default(name: str, dt: float) -> float:
    rec = registry()["parameters"][name]
    scale = dt / 3600.0 if rec.get("per_hour") else 1.0
    return float(rec["default"]) * scale


def parameter_bounds(name: str) -> tuple[float, float]:
    low, high = registry()["parameters"][name]["bounds"]
    return float(low), float(high)


def state_default(name: str) -> float:
    return float(registry()["states"][name]["default"])


def state_bounds(name: str) -> tuple[float, float]:
    low, high = registry()["states"][name]["bounds"]
    return float(low), float(high)


def _record(name: str) -> dict:
    reg = registry()
    if name in reg["parameters"]:
        return reg["parameters"][name]
    return reg["states"][name]


def feasible_violation(name: str, values: np.ndarray) -> str | None:
    """Describe why `values` leave the domain where `name` is defined, or None."""
    rule = _record(name)["feasible"]
    values = np.asarray(values, dtype=float)
    # One reduction per rule (this runs on every forward run, over every cell).
    low, high = {">0": (0.0, np.inf), ">=0": (0.0, np.inf), "[0,1]": (0.0, 1.0),
                 "(0,1)": (0.0, 1.0), "any": (-np.inf, np.inf)}[rule]
    vmin, vmax = (float(values.min()), float(values.max())) if values.size else (low, high)
    if not (np.isfinite(vmin) and np.isfinite(vmax)):  # min and max propagate NaN
        return f"{name} must be finite (got NaN or inf)"
    open_low, open_high = rule in (">0", "(0,1)"), rule == "(0,1)"
    if vmin < low or (open_low and vmin <= low):
        return f"{name} must be {_RULE_TEXT[rule]} (got {vmin:g})"
    if vmax > high or (open_high and vmax >= high):
        return f"{name} must be {_RULE_TEXT[rule]} (got {vmax:g})"
    return None


def feasible_mask(name: str, values: np.ndarray) -> np.ndarray:
    """Where `values` lie in the domain where `name` is defined (finite and inside its `feasible` rule)."""
    rule = _record(name)["feasible"]
    values = np.asarray(values, dtype=float)
    low, high = {">0": (0.0, np.inf), ">=0": (0.0, np.inf), "[0,1]": (0.0, 1.0),
                 "(0,1)": (0.0, 1.0), "any": (-np.inf, np.inf)}[rule]
    above = values > low if rule in (">0", "(0,1)") else values >= low
    below = values < high if rule == "(0,1)" else values <= high
    return np.isfinite(values) & above & below


_RULE_TEXT = {">0": "> 0", ">=0": ">= 0", "[0,1]": "in [0, 1]", "(0,1)": "in (0, 1)", "any": ""}
