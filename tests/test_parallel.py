"""OpenMP over cells: results do not depend on the number of threads.

Cells of a level are independent and every cell's upstream sum runs in a
fixed order inside one thread, so ncpu=2 must reproduce ncpu=1 bit for bit.
"""

import numpy as np

import smash
from smash.factory.synthetic import synthetic_setup_mesh


def test_two_threads_reproduce_one_thread_exactly():
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    model = smash.Model(setup, mesh)
    model.set_rr_parameters("cp", np.linspace(100, 400, 3000).reshape(60, 50))
    one = model.forward_run(common_options={"ncpu": 1}, return_options={"q_domain": True, "rr_states": True,
                                                                        "time_step": ["2020-06-30", "2020-12-31"]})
    q_one, final_one = model.response.q.copy(), model.rr_final_states.values.copy()
    two = model.forward_run(common_options={"ncpu": 2}, return_options={"q_domain": True, "rr_states": True,
                                                                        "time_step": ["2020-06-30", "2020-12-31"]})
    assert np.array_equal(model.response.q, q_one)
    assert np.array_equal(model.rr_final_states.values, final_one)
    assert np.array_equal(one.q_domain, two.q_domain)
    assert np.array_equal(one.rr_states[0].values, two.rr_states[0].values)
