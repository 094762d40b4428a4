"""Analysis of simulations against observations: metrics and cost options, hydrograph segmentation,
signatures, evaluation and precipitation indices."""
