"""Ready-made inputs (datasets, the synthetic catchment) and the neural network builder."""

from smash.factory.dataset import load_dataset
from smash.factory.net import Net

__all__ = ["Net", "load_dataset"]
