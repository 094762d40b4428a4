"""The structure registry: one record per snow, hydrological and routing module (`structures.yaml`).

Parameters, states, their defaults and bounds, internal fluxes and neural-network sizes are read
from the YAML file here and nowhere else; the Fortran index constants are generated from the same
file at build time (`fortran/gen_registry.py`).
"""

from smash.registry.records import (
    FAMILIES,
    Structure,
    feasible_mask,
    feasible_violation,
    metric_names,
    module_id,
    module_names,
    parameter_bounds,
    parameter_default,
    registry,
    state_bounds,
    state_default,
)

__all__ = ["FAMILIES", "Structure", "feasible_mask", "feasible_violation", "metric_names", "module_id",
           "module_names", "parameter_bounds", "parameter_default", "registry", "state_bounds", "state_default"]
