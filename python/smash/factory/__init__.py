"""Ready-made inputs: datasets and the synthetic catchment."""

from smash.factory.dataset import load_dataset

__all__ = ["load_dataset"]
