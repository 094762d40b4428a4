"""Figures of a model's inputs, outputs and calibrations (matplotlib).

Every function draws on the matplotlib ``Axes`` given as ``ax=`` (a new figure
when none is given) and returns ``(Figure, Axes)``, so that figures can be
combined and restyled with matplotlib itself. Gauges are named by their code
(``model.mesh.code``), parameters, states and descriptors by their names;
an unknown name raises a ``ValueError`` that names it and suggests the closest
known one. Units come from the structure registry (``structures.yaml``).

matplotlib is imported when a figure is drawn, not when ``smash`` is imported.
"""

from smash.plot.comparison import flow_duration_curve, simulated_vs_observed
from smash.plot.history import cost_history
from smash.plot.hydrograph import hydrograph
from smash.plot.maps import descriptor_map, parameter_map

__all__ = ["hydrograph", "parameter_map", "descriptor_map", "cost_history", "simulated_vs_observed",
           "flow_duration_curve"]
