"""Ready-made inputs (datasets, the synthetic catchment), mesh generation and the neural network builder."""

from smash.factory.dataset import load_dataset
from smash.factory.forcing_generator import generate_forcing_store
from smash.factory.mesh import detect_sink, generate_mesh
from smash.nn.net import Net
from smash.simulation.samples import Samples, generate_samples

__all__ = ["Net", "Samples", "detect_sink", "generate_forcing_store", "generate_mesh", "generate_samples",
           "load_dataset"]
