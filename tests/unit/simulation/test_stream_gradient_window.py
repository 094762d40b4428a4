"""A streamed gradient's window chosen when the gradient is planned (memory.gradient_plan), from the
adjoint's budget less what the process holds, and read ahead in the order of the nested sweeps
(smash.stream.window.gradient_windows): the same gradient bit for bit as the forcings held whole
with the same chunks, every window but the first read while the one before was computed."""

import dataclasses
import functools

import numpy as np
import pytest

import smash
from smash import _testing
from smash.simulation import memory
from smash.stream.window import gradient_windows


def test_the_order_of_a_nested_gradients_windows():
    # 10 steps, chunks of 3, segments of 6: the forward sweep runs every chunk, then the second
    # segment runs its chunks forward and back (the last one twice in a row), then the first.
    assert gradient_windows(10, 3, 6) == [(1, 3), (4, 6), (7, 9), (10, 10),
                                          (7, 9), (10, 10), (10, 10), (7, 9),
                                          (1, 3), (4, 6), (4, 6), (1, 3)]
    # No segments: forward then back; a segment of one chunk asks for its window once.
    assert gradient_windows(7, 3) == [(1, 3), (4, 6), (7, 7), (7, 7), (4, 6), (1, 3)]
    assert gradient_windows(8, 4, 4) == [(1, 4), (5, 8), (5, 8), (1, 4)]
    assert gradient_windows(5, 5) == [(1, 5)]
    # Windows of 6 steps holding chunks of 2, segments of 4: each chunk asks for the window holding it; the
    # second segment (steps 5-8) runs across the two windows.
    assert gradient_windows(12, 6, 4, 2) == [(1, 6)] * 3 + [(7, 12)] * 3 + [(7, 12)] * 4 + \
        [(1, 6), (7, 12), (7, 12), (1, 6)] + [(1, 6)] * 4
    # A chunk that does not divide the window: the chunk is the window.
    assert gradient_windows(7, 3, 0, 2) == gradient_windows(7, 3)


@functools.cache
def _cance(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", path=data_dir)
    # 720 hourly steps of 383 cells: md_forward's default chunk is 27 steps.
    return dict(setup, read_descriptor=False, end_time="2014-10-15 00:00"), mesh


def test_the_streamed_gradient_window_is_planned_from_the_budget(data_dir, monkeypatch):
    setup, mesh = _cance(data_dir)
    streamed = smash.Model(dict(setup, forcing_storage="stream"), mesh)
    stream = _testing.forcing_stream(streamed)
    nac, nt = streamed.mesh.nac, streamed.setup.ntime_step
    assert (nac, nt, stream.windows["forward"], stream.windows["gradient"]) == (383, 720, 720, 27)
    # The core's window arrays (prcp, pet, current and read ahead, float32) counted by hand.
    assert memory.gradient_run_bytes(streamed, 5) - memory.gradient_run_bytes(streamed, 0) == 383 * 5 * 4 * 2 * 2
    # A process holding 50 MB, of which the forward window's arrays (720 steps) are given back when
    # the gradient's window replaces them; 1.6 MB left to the tape with windows of 5 steps.
    monkeypatch.setattr(memory, "resident_bytes", lambda: 50_000_000)
    held = 50_000_000 - 383 * 720 * 16
    tape = 1_600_000
    streamed.setup.adjoint_memory = held + memory.gradient_run_bytes(streamed, 5) + tape
    plan = memory.gradient_plan(streamed)
    # 0.4 of the tape's budget for a chunk's taped steps at 320 bytes a cell-step: 5 steps (a 4-step
    # window's arrays would leave 6 128 bytes more: still 5); segments of 36 chunks (0.35 of it in
    # snapshots of 40 bytes a cell), whose 4 snapshots and a segment's 36 fit without spilling.
    assert int(0.4 * tape // (383 * 320)) == 5 and int(0.35 * tape // (383 * 40)) == 36
    assert (plan.chunk, plan.segment, plan.spill_limit) == (5, 180, 0)
    assert plan.held_bytes == held and plan.run_bytes == memory.gradient_run_bytes(streamed, 5)
    assert plan.tape_bytes == 383 * (5 * 320 + (36 + 4) * 40)

    served = []
    stream.window_hook = served.append
    reads = stream.reads
    ret_s = streamed.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})
    stream.window_hook = None
    # The windows were the plan's chunks, asked for in the nested sweeps' order; the read-ahead
    # followed it: only the first window was read while the run waited.
    assert stream.windows["gradient"] == 5 and _testing.core_inputs(streamed).prcp.shape == (383, 5)
    assert served == [t0 for t0, _ in gradient_windows(720, 5, 180)]
    assert stream.unpredicted == 1
    assert stream.reads - reads == sum(1 for i, w in enumerate(served) if i == 0 or served[i - 1] != w)

    # The forcings held whole, checkpointed by the same chunks and nothing else: the same gradient.
    held_model = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    _testing.core_setup(held_model).checkpoint_steps = 5
    ret_h = held_model.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})
    assert ret_h.cost == ret_s.cost and np.array_equal(ret_h.grad, ret_s.grad) and np.abs(ret_h.grad).max() > 0


def test_a_forcing_window_fixes_the_streamed_gradients_chunk(data_dir, monkeypatch):
    setup, mesh = _cance(data_dir)
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=9), mesh)
    monkeypatch.setattr(memory, "resident_bytes", lambda: 0)
    streamed.setup.adjoint_memory = memory.gradient_run_bytes(streamed) + 1_600_000
    plan = memory.gradient_plan(streamed)
    assert plan.chunk == 9 and plan.segment > 9


def test_a_window_too_long_for_the_budget_is_shortened_not_refused(data_dir, monkeypatch):
    # France over a year: the default chunk's window (94 steps) alone took 1.4 GB, so a 3 GB budget was
    # refused although windows of one step leave the tape 0.8 GB. Here Cance's default window (27
    # steps) leaves no room for any tape while one step's window leaves 120 kB.
    setup, mesh = _cance(data_dir)
    streamed = smash.Model(dict(setup, forcing_storage="stream"), mesh)
    monkeypatch.setattr(memory, "resident_bytes", lambda: 50_000_000)
    held = 50_000_000 - 383 * 720 * 16
    one, default = memory.gradient_run_bytes(streamed, 1), memory.gradient_run_bytes(streamed, 27)
    assert default - one == 383 * 26 * 16
    streamed.setup.adjoint_memory = held + one + 120_000
    assert held + default > streamed.setup.adjoint_memory
    plan = memory.gradient_plan(streamed)
    # Less than one step's tape (383 cells x 320 bytes): chunks of one step, their window of one step
    # counted and no longer one, the tape's limit the whole room left.
    assert (plan.chunk, plan.window) == (1, 1) and plan.run_bytes == one and plan.held_bytes == held
    assert plan.spill_limit == 120_000 and plan.peak_bytes == streamed.setup.adjoint_memory

    ret_s = streamed.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})
    assert _testing.forcing_stream(streamed).windows["gradient"] == 1
    held_model = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    _testing.core_setup(held_model).checkpoint_steps = 1
    ret_h = held_model.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})
    assert ret_h.cost == ret_s.cost and np.array_equal(ret_h.grad, ret_s.grad)

    # Below what one step's window needs, the refusal gives that figure (the core's window arrays now
    # of one step, given back when the gradient's replace them).
    held = 50_000_000 - 383 * 16
    streamed.setup.adjoint_memory = held + one - 1
    with pytest.raises(MemoryError, match=rf"arrays take about {memory._size(one)}\. Give adjoint_memory more "
                                          rf"than {memory._size(held + one)}"):
        memory.gradient_plan(streamed)


def test_a_window_of_several_chunks_keeps_within_the_budget():
    # A tape at ad_stack.c's floor takes it whatever room the window's arrays leave: a window of several
    # chunks with the same segments and spill is taken when the budget holds it, not beyond.
    floor = memory.MIN_SPILL_LIMIT
    plan = memory.CheckpointPlan(chunk=1, segment=2, spill_limit=floor, tape_bytes=floor, spill_bytes=10**9,
                                 budget=floor // 2)
    run = 1_000_000

    def planned(window):
        return plan, run + 1000 * window

    within = memory.gradient_window(plan, run, 0, 24, planned, room=run + 1000 * 10 + floor)
    assert within[0].window == 10 and within[1] == run + 10_000
    beyond = memory.gradient_window(plan, run, 0, 24, planned, room=run + floor)
    assert beyond == (dataclasses.replace(plan, window=1), run)
    # A window whose arrays leave no tape at all is passed over.

    def refusing(window):
        if window > 4:
            raise MemoryError("no room")
        return planned(window)

    assert memory.gradient_window(plan, run, 0, 24, refusing)[0].window == 4
