"""Calibration: control vectors and mappings, regularization, and the optimizers (`optimize`,
`backward_run`)."""
