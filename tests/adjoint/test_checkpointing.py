"""Checkpointing of the adjoint's time loop: same gradient, bounded tape."""

import numpy as np
import pytest
from test_generated_adjoint import STRUCTURES, _model

import smash
from smash import _testing
from smash.analysis.cost_options import build_cost_options

from helpers import core_gradient, line_mesh


def _gradient(model, checkpoint_steps):
    _testing.core_setup(model).checkpoint_steps = checkpoint_steps
    _, fc = build_cost_options(model, {"gauge": "all"})
    _testing.sync_parameters(model)
    cost, grad, _ = core_gradient(model, fc)
    return (cost, np.array(grad.rr_parameters), np.array(grad.rr_initial_states),
            _testing.tape_peak_bytes(), np.array(grad.nn_parameters))


def _close(g, ref):
    """Equal but for the order of a few additions: time blocks of at least 8 steps run on
    per-thread copies of the cells (md_forward::rainfall_runoff_copies), whose adjoint sums a
    cell's parameter adjoint over each block before adding it to the total, and the blocks
    follow the chunks. Each cell's sum of ~1e3 terms may move by a few ulps of its largest."""
    np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-13 * np.abs(ref).max())


def test_chunked_adjoint_gives_the_same_gradient_with_a_smaller_tape():
    model = _model("gr4", "kw", ncell=6)
    _testing.core_setup(model).block_steps = 1         # time blocks of one step, whatever the chunks (see _close)
    nt = model.setup.ntime_step
    whole = _gradient(model, nt)          # one chunk: the tape of every step
    for steps in (1, 7, 0):               # 0: the default, one chunk for a run this small
        cost, gp, gs, peak, _ = _gradient(model, steps)
        # Re-running a chunk from its snapshot repeats the same operations: bit-identical.
        assert cost == whole[0]
        assert np.array_equal(gp, whole[1]) and np.array_equal(gs, whole[2])
        assert 0 < peak < whole[3] if steps else peak == whole[3]


def test_time_blocks_inside_chunks_give_the_same_results():
    # A chunk runs through its steps in time blocks (rainfall-runoff of the block, then its
    # routing); blocks smaller than the chunk, ending mid-chunk, change nothing.
    model = _model("gr4", "kw", ncell=6)
    nt = model.setup.ntime_step
    whole = _gradient(model, nt)
    model.forward_run()
    q = model.response.q.copy()
    # Blocks of 9 steps run on copies (see _close) and end mid-run (nt = 60) and mid-chunk (30).
    for chunk, block in ((7, 3), (nt, 4), (nt, 1), (nt, 9), (30, 9)):
        _testing.core_setup(model).block_steps = block
        cost, gp, gs, _, _ = _gradient(model, chunk)
        assert cost == whole[0]
        _close(gp, whole[1])
        _close(gs, whole[2])
        model.forward_run()
        assert np.array_equal(model.response.q, q)
    _testing.core_setup(model).block_steps = 0


@pytest.mark.parametrize("snow, hydrological, routing", STRUCTURES)
def test_every_structure_hands_each_chunk_zero_block_adjoints(snow, hydrological, routing):
    # The reverse sweep of a chunk starts from the block adjoints the previous one left
    # (tapenade/generate.py drops Tapenade's refill with zeros): each structure's reverse
    # sweep must zero every entry it reads, or chunked gradients would pick up stale ones.
    # Blocks of 3 steps write the block arrays in place, blocks of 9 through per-thread
    # copies; chunks of 7 and 30 steps end mid-block.
    model = _model(hydrological, routing, snow)
    if model.structure.is_hybrid:
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
    whole = _gradient(model, model.setup.ntime_step)
    for chunk, block in ((7, 3), (30, 9), (7, 9)):
        _testing.core_setup(model).block_steps = block
        cost, gp, gs, _, gn = _gradient(model, chunk)
        assert cost == whole[0]
        _close(gp, whole[1])
        _close(gs, whole[2])
        _close(gn, whole[4])
    _testing.core_setup(model).block_steps = 0


@pytest.mark.parametrize("snow, hydrological, routing", STRUCTURES)
def test_a_chunk_restarts_from_what_missing_rain_releases_again(snow, hydrological, routing):
    # The snapshots hold the states and the few values a step reads of the one before
    # (md_forward::carried_columns): a GR step with missing rainfall releases its routing stores'
    # last outflows again, the kinematic wave reads the last discharge. Rain missing at the first
    # step of every chunk of 7 (and at the two before) makes a chunk re-run read them from its
    # snapshot: the gradient must equal that of one chunk.
    model = _model(hydrological, routing, snow)
    if model.structure.is_hybrid:
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
    prcp = np.array(model.atmos_data.prcp)
    for first in (5, 6, 7):
        prcp[..., first::7] = -99.0
    model.atmos_data.prcp = prcp
    _testing.core_setup(model).block_steps = 1        # blocks of one step: no per-thread copies (see _close)
    whole = _gradient(model, model.setup.ntime_step)
    cost, gp, gs, _, gn = _gradient(model, 7)
    assert cost == whole[0]
    if model.structure.is_hybrid:
        # The net's weight adjoints are summed per chunk before they join the total.
        _close(gp, whole[1])
        _close(gs, whole[2])
        _close(gn, whole[4])
    else:
        assert np.array_equal(gp, whole[1]) and np.array_equal(gs, whole[2])
    assert np.abs(whole[1]).max() > 0
    _testing.core_setup(model).block_steps = 0


def test_default_chunks_of_a_large_run_bound_the_tape():
    # 1700 cells x 60 days is above the 1e5 cell-steps a run may tape whole: the
    # default then checkpoints chunks of ~sqrt(nt) steps, with the same gradient.
    model = _model("gr4", "lr", ncell=1700)
    nt = model.setup.ntime_step
    whole = _gradient(model, nt)
    cost, gp, gs, peak_default, _ = _gradient(model, 0)
    assert cost == whole[0]
    _close(gp, whole[1])
    _close(gs, whole[2])
    # The tape holds ~sqrt(nt)/nt of the steps, plus snapshots.
    assert peak_default < 3.0 * np.sqrt(nt) / nt * whole[3]


def test_series_saved_inside_a_chunk_are_the_states_of_that_step():
    # Rainfall-runoff runs a whole chunk of steps before the chunk's routing, so the states
    # and fluxes of a step inside a chunk are saved as that step ends, not at the chunk's end:
    # they must equal the final states of a run that stops at that step.
    model = _model("gr4", "lr", ncell=6)
    _testing.core_setup(model).checkpoint_steps = 7    # step 10 is the 3rd of the 2nd chunk
    ret = model.forward_run(return_options={"rr_states": True, "q_domain": True, "internal_fluxes": True,
                                            "time_step": ["2020-01-11"]})
    short = smash.Model({"start_time": "2020-01-01", "end_time": "2020-01-11", "dt": 86400,
                         "hydrological_module": "gr4", "routing_module": "lr"}, line_mesh(6))
    short.atmos_data.prcp = model.atmos_data.prcp[..., :10]
    short.atmos_data.pet = model.atmos_data.pet[..., :10]
    short.rr_parameters.values[...] = model.rr_parameters.values
    short.rr_initial_states.values[...] = model.rr_initial_states.values
    last = short.forward_run(return_options={"q_domain": True, "internal_fluxes": True,
                                             "time_step": ["2020-01-11"]})
    assert np.array_equal(ret.rr_states[0].values, short.rr_final_states.values)
    assert np.array_equal(ret.q_domain, last.q_domain)
    for name, values in last.internal_fluxes.items():
        assert np.array_equal(ret.internal_fluxes[name], values), name
