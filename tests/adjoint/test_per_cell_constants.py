"""Gradients through the per-cell constants computed once per run (md_vic3l::vic3l_constants,
md_routing::routing_constants): the time loop reads them instead of the parameters, and the
adjoint sums their adjoints over the run before passing them to the parameters once.

vic3l with the kinematic wave uses both kinds at once. Time blocks of nine steps run the
rainfall-runoff on per-thread copies of the cells and their constants
(md_forward::rainfall_runoff_copies), blocks of one step in place: both must give the
derivative that central finite differences of the forward model give, for every parameter
on its own (a constant lost or summed twice shows in one parameter's column)."""

import numpy as np
import pytest

import smash
from smash import _testing
from smash.analysis.cost_options import build_cost_options

from helpers import core_gradient, line_mesh


def _vic3l_kw_model(ncell=5):
    setup = {"start_time": "2020-01-01", "end_time": "2020-03-01", "dt": 86400,
             "hydrological_module": "vic3l", "routing_module": "kw", "snow_module": "zero"}
    model = smash.Model(setup, line_mesh(ncell))
    rng = np.random.default_rng(5)
    nt = model.setup.ntime_step
    model.atmos_data.prcp = rng.gamma(0.6, 10.0, size=(1, ncell, nt)).astype(np.float32)
    model.atmos_data.pet = (2.0 + rng.random((1, ncell, nt))).astype(np.float32)
    for maps, bounds in ((model.rr_parameters, model.get_rr_parameters_bounds()),
                         (model.rr_initial_states, model.get_rr_initial_states_bounds())):
        for i, key in enumerate(maps.keys):
            low, high = bounds[key]
            maps.values[..., i] = low + rng.uniform(0.3, 0.7, size=(1, ncell)) * (high - low)
    # Baseflow below the bottom layer's content (mid-range dsm drains it all, and ds, dsm, ws
    # would not matter), on both sides of the threshold ws (its linear and quadratic rates).
    for key, low, high in (("ds", 0.2, 0.6), ("dsm", 5.0, 50.0), ("ws", 0.2, 0.5)):
        model.set_rr_parameters(key, rng.uniform(low, high, size=(1, ncell)))
    model.forward_run()
    q = model.response.q.astype(float)
    model.response_data.q = (q * (1 + 0.3 * rng.standard_normal(q.shape)) + 0.05).clip(0).astype(np.float32)
    return model


@pytest.mark.parametrize("block_steps", [9, 1], ids=["thread copies", "in place"])
def test_gradient_of_each_parameter_through_the_constants(block_steps):
    model = _vic3l_kw_model()
    _testing.core_setup(model).block_steps = block_steps
    _, fc = build_cost_options(model, {"gauge": "all"})
    _testing.sync_parameters(model)
    _, grad, fo = core_gradient(model, fc)
    gp = np.array(grad.rr_parameters)
    params = _testing.core_parameters(model)
    p0 = np.array(params.rr_parameters)
    rng = np.random.default_rng(6)
    for i, key in enumerate(model.rr_parameters.keys):
        dp = np.zeros_like(p0)
        dp[:, i] = p0[:, i] * rng.uniform(-1, 1, size=p0.shape[0]) * 1e-1
        eps = 1e-4
        costs = []
        for sign in (1, -1):
            params.rr_parameters[...] = p0 + sign * eps * dp
            _testing.run_forward(model, fc, fo)
            costs.append(fo.cost)
        params.rr_parameters[...] = p0
        fd = (costs[0] - costs[1]) / (2 * eps)
        adjoint = float(np.sum(gp * dp))
        assert abs(fd) > 1e-8, f"{key} does not move the cost: the check would be empty"
        assert fd == pytest.approx(adjoint, rel=1e-5, abs=1e-10), key
