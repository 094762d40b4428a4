"""Ready-made inputs (datasets, the synthetic catchment), mesh generation and the neural network builder."""

from smash.factory.dataset import load_dataset
from smash.factory.mesh import detect_sink, generate_mesh
from smash.factory.net import Net

__all__ = ["Net", "detect_sink", "generate_mesh", "load_dataset"]
