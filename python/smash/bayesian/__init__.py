"""Bayesian estimation (smash 1.x's bayesian_optimize) and posterior sampling.

`serr` holds the structural error model and the observation uncertainty of a Model, `control`
the control vector with structural error parameters, `prior` the priors of its entries,
`optimize` the maximum a posteriori estimation and `posterior` the MCMC sampling of the same
log-posterior.
"""
