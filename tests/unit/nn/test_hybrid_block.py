"""The hybrid net evaluated over blocks of cells (md_mlp::mlp_block) gives each cell the net of its own inputs.

The core runs a hybrid's net over blocks of up to 64 cells, one matrix product per layer. Here the
net is evaluated again cell by cell and step by step in numpy, from the inputs the core reports
(states at the start of the step, pn and en in float64 through smash._testing), and compared with
the correction the core applied, read back from a flux that depends on it alone:

- gr5_ri_mlp_exc: lexc = (1 + fl) kexc (ht - aexc), ht the level at the start of the step;
- gr4_ri_mlp_exc: lexc = (1 + fl) kexc ht^3.5.

Tolerance: 1e-12 absolute on fl, which lies in (-1, 1). The block evaluates each cell by the same
operations in the same order as a single cell; the gap to numpy is float64 rounding of a net of a few
dozen terms and of the division that recovers fl (at most 1.1e-15 measured). The synthetic line has 70 cells: a full
block and a partial one, so cells at every position of a block and a short block are checked.
A run on two threads, whose split cuts the blocks elsewhere, must give the same bits.
"""

import numpy as np
import pytest

import smash
from smash import _testing

from helpers import line_mesh

NCELL = 70
NDAYS = 40
ATOL = 1e-12


def _silu(z):
    return z / (1.0 + np.exp(-z))


def _net(weights, biases, x):
    """The net of one cell, as smash 1.3's math documentation defines it: SiLU hidden layers, TanH output."""
    a = x
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = w @ a + b
        a = np.tanh(z) if i == len(weights) - 1 else _silu(z)
    return a


def _hybrid(hydro, hidden_neuron):
    setup = {"start_time": "2020-01-01", "end_time": "2020-02-10", "dt": 86400, "hydrological_module": hydro,
             "routing_module": "lr", "hidden_neuron": hidden_neuron}
    model = smash.Model(setup, line_mesh(NCELL))
    rng = np.random.default_rng(7)
    nt = model.setup.ntime_step
    prcp = rng.gamma(0.6, 10.0, size=(1, NCELL, nt))
    prcp[0, 5, 3] = -99.0   # a missing rainfall: the step ignores the net there
    model.atmos_data.prcp = prcp.astype(np.float32)
    model.atmos_data.pet = (1.0 + 3.0 * rng.random((1, NCELL, nt))).astype(np.float32)
    model.set_rr_parameters("kexc", rng.uniform(1.0, 4.0, size=(1, NCELL)))
    model.set_rr_initial_states("ht", rng.uniform(0.3, 0.8, size=(1, NCELL)))
    model.set_rr_initial_states("hp", rng.uniform(0.2, 0.8, size=(1, NCELL)))
    if "aexc" in model.rr_parameters.keys:
        model.set_rr_parameters("aexc", 0.05)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=11)
    model.set_nn_parameters_bias(initializer="uniform", random_state=12)
    return model


@pytest.mark.parametrize("hydro, hidden_neuron", [("gr5_ri_mlp_exc", 16), ("gr4_ri_mlp_exc", (12, 8))])
def test_block_net_equals_the_net_of_each_cell(hydro, hidden_neuron):
    model = _hybrid(hydro, hidden_neuron)
    states, fluxes = _testing.saved_series(model)
    net = model.network
    names = model.structure
    s_index = {n: i for i, n in enumerate(names.rr_states)}
    f_index = {n: i for i, n in enumerate(names.fluxes)}
    initial = model.rr_initial_states.values[net.rows, net.cols]          # (nac, nstates)
    start = np.concatenate([initial[:, :, None], states[:, :, :-1]], axis=2)   # states at the start of each step
    kexc = model.get_rr_parameters("kexc")[net.rows, net.cols]
    weights = [np.asarray(w, dtype=np.float64) for w in model.get_nn_parameters_weight()]
    biases = [np.asarray(b, dtype=np.float64).ravel() for b in model.get_nn_parameters_bias()]
    prcp = model.atmos_data.prcp[net.rows, net.cols]

    checked = 0
    for k in range(net.nac):
        for t in range(model.setup.ntime_step):
            if prcp[k, t] < 0:
                continue
            hp, ht = start[k, s_index["hp"], t], start[k, s_index["ht"], t]
            x = np.array([hp, ht, fluxes[k, f_index["pn"], t], fluxes[k, f_index["en"], t]])
            fl = _net(weights, biases, x)[0]
            if hydro == "gr5_ri_mlp_exc":
                base = kexc[k] * (ht - 0.05)
            else:
                base = kexc[k] * ht**3 * np.sqrt(ht)
            core_fl = fluxes[k, f_index["lexc"], t] / base - 1.0
            assert abs(core_fl - fl) <= ATOL, (k, t, core_fl, fl)
            checked += 1
    assert checked == net.nac * model.setup.ntime_step - 1


def test_block_net_same_bits_on_two_threads():
    model = _hybrid("gr5_ri_mlp_exc", 16)
    one = _testing.saved_series(model, ncpu=1)
    two = _testing.saved_series(model, ncpu=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
