"""OpenMP over cells: results do not depend on the number of threads.

Cells are independent in rainfall-runoff, and routing threads take
sub-catchments that never drain into each other (the routing tree), with
every cell's upstream sum in a fixed order: ncpu=2 (and 4) must reproduce
ncpu=1 bit for bit.
"""

import numpy as np

import smash
from smash.factory.synthetic import synthetic_setup_mesh


def test_two_threads_reproduce_one_thread_exactly():
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    model = smash.Model(setup, mesh)
    # Both halves of the routing tree hold cells: two threads route side by side.
    assert np.all(model._network.node_end[1:3] > model._network.node_first[1:3])
    model.set_rr_parameters("cp", np.linspace(100, 400, 3000).reshape(60, 50))
    options = {"q_domain": True, "rr_states": True, "internal_fluxes": True, "time_step": ["2020-06-30", "2020-12-31"]}
    one = model.forward_run(common_options={"ncpu": 1}, return_options=options)
    q_one, final_one = model.response.q.copy(), model.rr_final_states.values.copy()
    two = model.forward_run(common_options={"ncpu": 2}, return_options=options)
    assert np.array_equal(model.response.q, q_one)
    assert np.array_equal(model.rr_final_states.values, final_one)
    assert np.array_equal(one.q_domain, two.q_domain)
    assert np.array_equal(one.rr_states[0].values, two.rr_states[0].values)
    for name, values in one.internal_fluxes.items():
        assert np.array_equal(values, two.internal_fluxes[name]), name


def _backward(model, ncpu, mapping="distributed"):
    return smash.backward_run(model, mapping=mapping, common_options={"ncpu": ncpu},
                              return_options={"cost": True, "grad": True})[1]


def test_two_threads_reproduce_the_gradient_exactly():
    """The adjoint's cell sweeps (rainfall-runoff, and routing of the tree's nodes) give every thread
    the same block of cells in both sweeps (its own tape), and each cell's adjoint accumulates
    in the same order: bit-identical gradients."""
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    for structure in ({"hydrological_module": "gr4", "routing_module": "lr"},
                      {"hydrological_module": "vic3l", "routing_module": "kw", "snow_module": "ssn"}):
        model = smash.Model(dict(setup, **structure), mesh)
        one = _backward(model, 1)
        for ncpu in (2, 4):   # 4: the tree's four nodes of depth 2, then the two trunks above
            other = _backward(model, ncpu)
            assert one.cost == other.cost
            assert np.array_equal(one.grad, other.grad)


def test_hybrid_gradient_with_two_threads():
    """Hybrid nets share one weight adjoint across cells: their sweeps stay serial, same result."""
    setup, mesh = synthetic_setup_mesh(nrow=12, ncol=10)
    model = smash.Model(dict(setup, hydrological_module="gr4_mlp", routing_module="lr"), mesh)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
    one, two = _backward(model, 1, "uniform"), _backward(model, 2, "uniform")
    assert one.cost == two.cost and np.array_equal(one.grad, two.grad)
