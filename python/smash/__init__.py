"""smash: spatially distributed hydrological modelling with a Fortran core."""

from smash import factory, io
from smash.forward import ForwardRun, forward_run
from smash.model import Model

__all__ = ["Model", "ForwardRun", "forward_run", "factory", "io"]
__version__ = "0.1.0"
