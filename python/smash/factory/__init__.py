"""Ready-made inputs (datasets, the synthetic catchment) and the neural network builder."""

from smash.factory.dataset import load_dataset
from smash.factory.net import Net
from smash.factory.samples import Samples, generate_samples

__all__ = ["Net", "Samples", "generate_samples", "load_dataset"]
