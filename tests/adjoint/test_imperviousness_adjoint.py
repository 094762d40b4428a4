"""The generated adjoint and tangent with an imperviousness map: dot-product and finite-difference checks.

Imperviousness scales the net rainfall entering the production store and its evaporation in every
GR structure (fortran/operators/gr_structures.f90, gr_ode.f90); these checks run the differentiated
code on cells of different impervious shares, with hybrid nets that matter.
"""

import numpy as np
import pytest

import smash
from smash import _testing

from helpers import core_gradient, line_mesh


def adjoint_case(hydrological, ncell=5, seed=0):
    """A small line catchment with random forcings, parameters, observations and imperviousness; its
    gradient and the tangent along a random direction."""
    from smash.analysis.cost_options import build_cost_options

    setup = {"start_time": "2020-01-01", "end_time": "2020-03-01", "dt": 86400,
             "hydrological_module": hydrological, "routing_module": "lr"}
    model = smash.Model(setup, line_mesh(ncell))
    rng = np.random.default_rng(seed)
    nt = model.setup.ntime_step
    model.atmos_data.prcp = rng.gamma(0.6, 10.0, size=(1, ncell, nt)).astype(np.float32)
    model.atmos_data.pet = (2.0 + rng.random((1, ncell, nt))).astype(np.float32)
    model.physio_data.imperviousness = np.linspace(0.0, 0.8, ncell, dtype=np.float32)[None, :]
    for maps, bounds in ((model.rr_parameters, model.get_rr_parameters_bounds()),
                         (model.rr_initial_states, model.get_rr_initial_states_bounds())):
        for i, key in enumerate(maps.keys):
            low, high = bounds[key]
            if key == "llr":
                low, high = 30.0, 200.0
            maps.values[..., i] = low + rng.uniform(0.3, 0.7, size=(1, ncell)) * (high - low)
    if model.structure.is_hybrid:
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
        model.set_nn_parameters_bias([0.1 * b for b in model.get_nn_parameters_bias()])
    model.forward_run()
    q = model.response.q.astype(float)
    model.response_data.q = (q * (1 + 0.3 * rng.standard_normal(q.shape)) + 0.05).clip(0).astype(np.float32)

    net = model.network
    p0 = model.rr_parameters.values[net.rows, net.cols]
    s0 = model.rr_initial_states.values[net.rows, net.cols]
    dp = p0 * rng.uniform(-1, 1, size=p0.shape) * 1e-1
    ds = s0 * rng.uniform(-1, 1, size=s0.shape) * 1e-1
    _, fc = build_cost_options(model, {"gauge": "all"})
    _testing.sync_parameters(model)
    n0 = np.array(_testing.core_parameters(model).nn_parameters)
    dn = rng.uniform(-1, 1, size=n0.shape) * 1e-1 if model.structure.is_hybrid else np.zeros_like(n0)
    cost, grad, fo = core_gradient(model, fc)
    direction = _testing.new_core_parameters(model)
    direction.rr_parameters[...] = dp
    direction.rr_initial_states[...] = ds
    direction.nn_parameters[...] = dn
    cost_t, dcost = _testing.run_tangent(model, fc, direction, fo)
    gradient = (np.array(grad.rr_parameters), np.array(grad.rr_initial_states), np.array(grad.nn_parameters))
    return model, fc, (p0, s0, n0), (dp, ds, dn), (cost, *gradient, cost_t, dcost, fo)


@pytest.mark.parametrize("hydrological", ["gr4", "gr4_ri", "gr6", "grc", "grd", "loieau", "gr4_ode", "gr4_mlp",
                                          "gr4_ode_mlp", "gr5_ri_mlp_exc"])
def test_adjoint_with_imperviousness_dot_product_and_finite_differences(hydrological):
    model, fc, (p0, s0, n0), (dp, ds, dn), (cost, gp, gs, gn, cost_t, dcost, fo) = adjoint_case(hydrological)
    # The map matters: the same run without it costs something else.
    ret = model.forward_run(cost_options={"gauge": "all"}, return_options={"cost": True})
    assert cost == pytest.approx(ret.cost, rel=1e-12) and cost_t == pytest.approx(ret.cost, rel=1e-12)
    pervious = model.copy()
    pervious.physio_data.imperviousness = np.zeros_like(model.physio_data.imperviousness)
    assert pervious.forward_run(cost_options={"gauge": "all"}, return_options={"cost": True}).cost != \
        pytest.approx(ret.cost, rel=1e-6)

    adjoint = float(np.sum(gp * dp) + np.sum(gs * ds) + np.sum(gn * dn))
    assert dcost == pytest.approx(adjoint, rel=1e-10, abs=1e-14)

    def cost_at(eps):
        _testing.core_parameters(model).rr_parameters[...] = p0 + eps * dp
        _testing.core_parameters(model).rr_initial_states[...] = s0 + eps * ds
        _testing.core_parameters(model).nn_parameters[...] = n0 + eps * dn
        _testing.run_forward(model, fc, fo)
        return fo.cost

    eps = 1e-4
    fd = (cost_at(eps) - cost_at(-eps)) / (2 * eps)
    assert fd == pytest.approx(adjoint, rel=1e-5, abs=1e-9)
