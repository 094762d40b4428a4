"""smash: spatially distributed hydrological modelling with a Fortran core."""

from smash import factory, io
from smash.bayesian.optimize import (
    BayesianOptimize,
    bayesian_optimize,
    bayesian_optimize_control_info,
    default_bayesian_optimize_options,
)
from smash.bayesian.posterior import Posterior, plot_predictive, sample_posterior
from smash.evaluation import evaluation
from smash.forward import ForwardRun, forward_run
from smash.model import Model
from smash.multiple_forward import MultipleForwardRun, multiple_forward_run
from smash.optimize import (
    BackwardRun,
    Optimize,
    backward_run,
    default_optimize_options,
    optimize,
    optimize_control_info,
)
from smash.precipitation_indices import PrecipitationIndices, precipitation_indices
from smash.signatures import Signatures, hydrograph_segmentation, signatures

__all__ = ["Model", "ForwardRun", "forward_run", "MultipleForwardRun", "multiple_forward_run",
           "Optimize", "optimize", "default_optimize_options",
           "optimize_control_info", "BackwardRun", "backward_run", "Signatures", "signatures",
           "hydrograph_segmentation", "PrecipitationIndices", "precipitation_indices", "evaluation", "factory", "io",
           "BayesianOptimize", "bayesian_optimize", "bayesian_optimize_control_info",
           "default_bayesian_optimize_options", "Posterior", "sample_posterior", "plot_predictive"]
__version__ = "0.1.0"
