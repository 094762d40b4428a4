"""Forcings streamed from disk a window at a time (setup forcing_storage, smash.stream): the same
discharge, final states, returned series, cost and gradient bit for bit as the forcings held whole,
on Lez (daily GeoTIFF) and Cance (hourly GeoTIFF, daily interannual PET, interception re-estimate)."""

import functools
import logging

import numpy as np
import pytest

import smash
from smash import _testing

RETURNED = {"internal_fluxes": True, "rr_states": True, "q_domain": True, "cost": True}


@functools.cache
def _dataset(data_dir, name):
    return smash.factory.load_dataset(name, path=data_dir)


def _setup(data_dir, name, **extra):
    setup, mesh = _dataset(data_dir, name)
    # Short periods: the point is the windows, not the length.
    end = {"Lez": "2012-10-01", "Cance": "2014-09-25 00:00"}[name]
    return dict(setup, read_descriptor=False, end_time=end, **extra), mesh


def _pair(data_dir, name, window, **extra):
    """(in memory, streamed by windows of `window` steps); the in-memory model checkpoints by the same
    chunks, the streamed gradient's windows (whose summation order the adjoint follows)."""
    setup, mesh = _setup(data_dir, name, **extra)
    held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    _testing.core_setup(held).checkpoint_steps = window
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=window), mesh)
    assert _testing.forcing_stream(held) is None and _testing.forcing_stream(streamed) is not None
    return held, streamed


def _assert_same_forward(held, streamed):
    ret_h = held.forward_run(return_options=RETURNED)
    ret_s = streamed.forward_run(return_options=RETURNED)
    assert np.array_equal(held.response.q, streamed.response.q)
    assert np.array_equal(held.rr_final_states.values, streamed.rr_final_states.values)
    assert np.array_equal(ret_h.q_domain, ret_s.q_domain) and ret_h.cost == ret_s.cost
    for key in ret_h.internal_fluxes:
        assert np.array_equal(ret_h.internal_fluxes[key], ret_s.internal_fluxes[key]), key
    for a, b in zip(ret_h.rr_states, ret_s.rr_states, strict=True):
        assert np.array_equal(a.values, b.values)


def _assert_same_gradient(held, streamed, mapping="distributed"):
    ret_h = held.backward_run(mapping=mapping, return_options={"cost": True, "grad": True})
    ret_s = streamed.backward_run(mapping=mapping, return_options={"cost": True, "grad": True})
    assert ret_h.cost == ret_s.cost
    assert np.array_equal(ret_h.grad, ret_s.grad)
    assert np.abs(ret_h.grad).max() > 0


@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_streamed_run_and_gradient_equal_in_memory(data_dir, name):
    held, streamed = _pair(data_dir, name, window=7)
    # Cance is hourly with gr4: ci was re-estimated from the forcings, window by window when streamed.
    assert np.array_equal(held.rr_parameters.values, streamed.rr_parameters.values)
    _assert_same_forward(held, streamed)
    stream = _testing.forcing_stream(streamed)
    nwindow = -(-streamed.setup.ntime_step // 7)
    before = stream.reads
    _assert_same_gradient(held, streamed)
    # The forward sweep reads every window, the reverse sweep every one again but the last (still loaded).
    assert stream.reads - before == 2 * nwindow - 1


def test_streamed_snow_structure_and_kinematic_wave(data_dir):
    held, streamed = _pair(data_dir, "Cance", window=11, snow_module="ssn", hydrological_module="gr6",
                           routing_module="kw")
    _assert_same_forward(held, streamed)
    _assert_same_gradient(held, streamed, mapping="uniform")


def test_default_windows_follow_the_adjoint_chunks(data_dir):
    """With no forcing_window the gradient streams by the in-memory run's own checkpoint chunks."""
    setup, mesh = _setup(data_dir, "Cance")
    # 720 steps of 383 cells: above md_forward's small_run, so the adjoint checkpoints.
    setup["end_time"] = "2014-10-15 00:00"
    held = smash.Model(setup, mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream"), mesh)
    windows = _testing.forcing_stream(streamed).windows
    nt = streamed.setup.ntime_step
    assert windows["gradient"] == int(np.ceil(np.sqrt(nt))) < nt
    _assert_same_forward(held, streamed)
    _assert_same_gradient(held, streamed)


def test_auto_streams_only_when_memory_is_short(data_dir, monkeypatch, caplog):
    setup, mesh = _setup(data_dir, "Lez", forcing_window=30)
    setup["end_time"] = "2013-07-31"
    with caplog.at_level(logging.INFO, logger="smash.stream"):
        held = smash.Model(setup, mesh)
    assert _testing.forcing_stream(held) is None and not caplog.records
    # A memory limit below the in-memory model's needs (about 0.95 MB here, 0.5 MB of it the forcings)
    # and above the streamed one's (about 0.3 MB with windows of 30 steps).
    monkeypatch.setenv("SMASH_MEMORY_AVAILABLE", "6e5")
    with caplog.at_level(logging.INFO, logger="smash.stream"):
        streamed = smash.Model(setup, mesh)
    assert _testing.forcing_stream(streamed) is not None
    lines = [r.getMessage() for r in caplog.records if r.name == "smash.stream"]
    assert len(lines) == 1 and "streamed from disk (30 steps per window)" in lines[0]
    assert "SMASH_MEMORY_AVAILABLE" in lines[0]
    held.forward_run()
    streamed.forward_run()
    assert np.array_equal(held.response.q, streamed.response.q)
    # Forced either way by the setup; memory refused when it does not fit.
    with pytest.raises(MemoryError):
        smash.Model(dict(setup, forcing_storage="memory"), mesh)


def test_streamed_forcings_read_back_and_refuse_assignment(data_dir):
    held, streamed = _pair(data_dir, "Lez", window=10)
    assert np.array_equal(held.atmos_data.prcp, streamed.atmos_data.prcp)
    assert np.array_equal(held.atmos_data.mean_pet, streamed.atmos_data.mean_pet)
    with pytest.raises(ValueError, match="forcing_storage='memory'"):
        streamed.atmos_data.prcp = held.atmos_data.prcp


def test_bad_storage_settings_are_refused(data_dir):
    setup, mesh = _setup(data_dir, "Lez")
    with pytest.raises(ValueError, match="forcing_storage"):
        smash.Model(dict(setup, forcing_storage="disk"), mesh)
    with pytest.raises(ValueError, match="forcing_window"):
        smash.Model(dict(setup, forcing_window=-3), mesh)
    with pytest.raises(ValueError, match="nothing to stream"):
        smash.Model(dict(setup, forcing_storage="stream", read_prcp=False, read_pet=False), mesh)


def test_a_failed_window_read_fails_the_run(data_dir):
    """An error of the reader thread (a file gone, a disk error) is raised once the core returns, never
    a run on stale forcings; the next run reads again."""
    held, streamed = _pair(data_dir, "Lez", window=10)
    stream = _testing.forcing_stream(streamed)
    source = stream.source

    class Failing:
        def read(self, kind, first, count, out=None):
            if first >= 20:
                raise OSError(f"disk error at step {first}")
            return source.read(kind, first, count, out)

    stream.source = Failing()
    with pytest.raises(RuntimeError, match="streamed forcings failed") as caught:
        streamed.forward_run()
    assert "disk error at step 20" in str(caught.value.__cause__)
    stream.source = source
    streamed.forward_run()
    held.forward_run()
    assert np.array_equal(held.response.q, streamed.response.q)


def test_the_first_window_is_read_during_the_build(data_dir):
    """The build starts reading a forward run's first window (ForcingStream.prefetch): the first run finds it
    read (no window read while it waits), with the held results; a gradient first (other windows) discards it."""
    held, streamed = _pair(data_dir, "Cance", window=7)
    stream = _testing.forcing_stream(streamed)
    assert stream.reads == 1 and stream.unpredicted == 0
    _assert_same_forward(held, streamed)
    assert stream.unpredicted == 0 and stream.reads == -(-streamed.setup.ntime_step // 7)
    setup, mesh = _setup(data_dir, "Cance")
    setup["end_time"] = "2014-10-15 00:00"      # 720 steps: the gradient's windows are its chunks, 27 steps
    streamed = smash.Model(dict(setup, forcing_storage="stream"), mesh)
    held = smash.Model(setup, mesh)
    stream = _testing.forcing_stream(streamed)
    assert stream.reads == 1 and stream.windows["forward"] == 720
    # A gradient first: its windows are not the forward one the build read; it reads its own.
    _assert_same_gradient(held, streamed)
    assert stream.windows["gradient"] == 27 and stream.unpredicted == 1
    _assert_same_forward(held, streamed)
