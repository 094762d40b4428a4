"""Several streamed models in one process: runs interleaved one after the other, and runs of different models at
once from several Python threads (the core's one window callback serves each thread's own stream), give the
in-memory results bit for bit; a model and its copies (one shared window reader) running at once from two
threads is refused with a clear error, never windows mixed."""

import functools
import threading

import numpy as np
import pytest

import smash
from smash import _testing

GRADIENT = {"cost": True, "grad": True}


@functools.cache
def _dataset(data_dir, name):
    setup, mesh = smash.factory.load_dataset(name, path=data_dir)
    end = {"Lez": "2012-10-01", "Cance": "2014-09-22 00:00"}[name]
    return dict(setup, read_descriptor=False, end_time=end), mesh


def _pair(data_dir, name, window):
    setup, mesh = _dataset(data_dir, name)
    held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    _testing.core_setup(held).checkpoint_steps = window
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=window), mesh)
    return held, streamed


def _results(model):
    """Forward discharge and a gradient, twice (the second pass reuses the stream's state)."""
    out = []
    for _ in range(2):
        model.forward_run()
        out.append(model.response.q.copy())
        ret = model.backward_run(mapping="uniform", return_options=GRADIENT)
        out += [ret.cost, ret.grad.copy()]
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


class _Gate:
    """Wraps a stream's reader: its first read waits at `barrier` (so that runs are known to overlap)."""

    def __init__(self, stream, barrier):
        self.source, self.barrier, self.waited = stream.source, barrier, False
        stream.source = self

    def _wait(self):
        if not self.waited:
            self.waited = True
            self.barrier.wait(timeout=60)

    def read(self, kind, first, count, out=None):
        self._wait()
        return self.source.read(kind, first, count, out)

    def read_days(self, kind, *args):
        # Cance's daily interannual PET is read as its days' maps (ForcingStream.pet_days).
        self._wait()
        return self.source.read_days(kind, *args)


def test_two_streamed_models_interleaved(data_dir):
    lez_held, lez = _pair(data_dir, "Lez", 7)
    cance_held, cance = _pair(data_dir, "Cance", 11)
    expected = {"lez": _results(lez_held), "cance": _results(cance_held)}
    got = {"lez": [], "cance": []}
    for _ in range(2):
        for name, model in (("lez", lez), ("cance", cance)):
            model.forward_run()
            got[name].append(model.response.q.copy())
        for name, model in (("cance", cance), ("lez", lez)):
            ret = model.backward_run(mapping="uniform", return_options=GRADIENT)
            got[name] += [ret.cost, ret.grad.copy()]
    _assert_same(got["lez"], expected["lez"])
    _assert_same(got["cance"], expected["cance"])


def test_two_streamed_models_at_once_from_two_threads(data_dir):
    pairs = {"lez": _pair(data_dir, "Lez", 7), "cance": _pair(data_dir, "Cance", 11)}
    expected = {name: _results(held) for name, (held, _) in pairs.items()}
    barrier = threading.Barrier(2)
    gates = [_Gate(_testing.forcing_stream(streamed), barrier) for _, streamed in pairs.values()]
    got, errors = {}, []

    def run(name):
        try:
            got[name] = _results(pairs[name][1])
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name,)) for name in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    assert all(gate.waited for gate in gates) and not barrier.broken
    for name in pairs:
        _assert_same(got[name], expected[name])


def test_a_model_and_its_copy_at_once_are_refused(data_dir):
    held, streamed = _pair(data_dir, "Lez", 7)
    copy = streamed.copy()
    assert _testing.forcing_stream(copy) is _testing.forcing_stream(streamed)
    stream = _testing.forcing_stream(streamed)
    source, entered, refused = stream.source, threading.Event(), threading.Event()

    class Held:
        def read(self, kind, first, count, out=None):
            entered.set()
            refused.wait(timeout=60)
            return source.read(kind, first, count, out)

    stream.source = Held()
    runner = threading.Thread(target=lambda: streamed.forward_run())
    runner.start()
    assert entered.wait(timeout=60)
    try:
        with pytest.raises(RuntimeError, match="serving a run in another thread"):
            copy.forward_run()
    finally:
        refused.set()
        runner.join(timeout=120)
        stream.source = source
    held.forward_run()
    assert np.array_equal(streamed.response.q, held.response.q)
    # Once the first run is over, the copy runs.
    copy.forward_run()
    assert np.array_equal(copy.response.q, held.response.q)
