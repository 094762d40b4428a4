"""smash: spatially distributed hydrological modelling with a Fortran core."""

from smash import factory, io, logs, plot
from smash.analysis.evaluation import evaluation
from smash.analysis.precipitation_indices import PrecipitationIndices, precipitation_indices
from smash.analysis.signatures import Signatures, hydrograph_segmentation, signatures
from smash.bayesian.optimize import (
    BayesianOptimize,
    bayesian_optimize,
    bayesian_optimize_control_info,
    default_bayesian_optimize_options,
)
from smash.bayesian.posterior import Posterior, plot_predictive, sample_posterior
from smash.build_info import show_config
from smash.calibration.multiset import MultisetEstimate, multiset_estimate
from smash.calibration.optimize import (
    BackwardRun,
    Optimize,
    backward_run,
    default_optimize_options,
    optimize,
    optimize_control_info,
)
from smash.model import Model
from smash.simulation.forward import ForwardRun, forward_run
from smash.simulation.multiple_forward import MultipleForwardRun, multiple_forward_run

__all__ = ["Model", "ForwardRun", "forward_run", "MultipleForwardRun", "multiple_forward_run",
           "MultisetEstimate", "multiset_estimate",
           "Optimize", "optimize", "default_optimize_options",
           "optimize_control_info", "BackwardRun", "backward_run", "Signatures", "signatures",
           "hydrograph_segmentation", "PrecipitationIndices", "precipitation_indices", "evaluation", "factory", "io",
           "logs", "plot", "BayesianOptimize", "bayesian_optimize", "bayesian_optimize_control_info",
           "default_bayesian_optimize_options", "Posterior", "sample_posterior", "plot_predictive", "show_config"]
__version__ = "0.1.0"


def __getattr__(name):
    # smash.batch (batch calibration) is imported on first use: `import smash` stays free of its
    # optional dependencies (pydantic, xarray, dask).
    if name == "batch":
        import importlib

        return importlib.import_module("smash.batch")
    raise AttributeError(f"module 'smash' has no attribute {name!r}")
