"""What reads a model's whole period works on streamed forcings window by window, with the in-memory model's
results: precipitation indices, signatures, gauge series (to_xarray), save_model / read_model (a saved streamed
model is read back streaming from its file), pickling (the reader's recipe travels, not the forcings)."""

import functools
import pickle

import numpy as np
import pytest

import smash
from smash import _testing

WINDOW = 9


@functools.cache
def _dataset(data_dir):
    setup, mesh = smash.factory.load_dataset("Lez", path=data_dir)
    return dict(setup, read_descriptor=False, end_time="2012-10-15"), mesh


@pytest.fixture
def pair(data_dir):
    setup, mesh = _dataset(data_dir)
    held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=WINDOW), mesh)
    for model in (held, streamed):
        model.forward_run()
    return held, streamed


def _windows_only(streamed):
    """Make the streamed model's reader refuse any read of more than a window (the whole period never read)."""
    stream = _testing.forcing_stream(streamed)
    source, asked = stream.source, []

    class WindowOnly:
        def read(self, kind, first, count, out=None):
            assert count <= WINDOW, f"{count} steps of {kind} read at once"
            asked.append(count)
            return source.read(kind, first, count, out)

    stream.source = WindowOnly()
    return asked


def test_precipitation_indices_and_signatures(pair):
    held, streamed = pair
    asked = _windows_only(streamed)
    got, ref = smash.precipitation_indices(streamed), smash.precipitation_indices(held)
    for name in ("std", "d1", "d2", "vg", "hg"):
        assert np.array_equal(getattr(got, name), getattr(ref, name), equal_nan=True), name
    assert np.isfinite(ref.d1).sum() > 10
    assert asked
    sig_s, sig_h = smash.signatures(streamed), smash.signatures(held)
    assert sig_s.cont.equals(sig_h.cont) and sig_s.event.equals(sig_h.event)
    assert sig_h.event.shape[0] > 0


def test_gauge_series_to_xarray(pair):
    pytest.importorskip("xarray")
    held, streamed = pair
    _windows_only(streamed)
    got, ref = streamed.to_xarray(), held.to_xarray()
    for name in ("mean_prcp", "mean_pet", "qsim"):
        assert np.array_equal(got[name].values, ref[name].values, equal_nan=True), name


def test_save_and_read_a_streamed_model(pair, tmp_path):
    held, streamed = pair
    _windows_only(streamed)
    smash.io.save_model(held, tmp_path / "held.hdf5")
    smash.io.save_model(streamed, tmp_path / "streamed.hdf5")
    back_held = smash.io.read_model(tmp_path / "held.hdf5")
    back = smash.io.read_model(tmp_path / "streamed.hdf5")
    # Read back streaming from the model file, not holding its forcings.
    assert _testing.forcing_stream(back) is not None and _testing.forcing_stream(back_held) is None
    assert back.setup.forcing_storage == "stream"
    for kind in ("prcp", "pet"):
        assert np.array_equal(getattr(back.atmos_data, kind), getattr(held.atmos_data, kind)), kind
    assert np.array_equal(back.response.q, held.response.q)
    back.forward_run()
    back_held.forward_run()
    assert np.array_equal(back.response.q, held.response.q) and np.array_equal(back_held.response.q, held.response.q)
    # A streamed model read back pickles as one streaming from the file.
    again = pickle.loads(pickle.dumps(back))
    again.forward_run()
    assert np.array_equal(again.response.q, held.response.q)


def test_pickled_streamed_model_streams_the_same_files(pair):
    held, streamed = pair
    copy = pickle.loads(pickle.dumps(streamed))
    stream = _testing.forcing_stream(copy)
    assert stream is not None and stream is not _testing.forcing_stream(streamed)
    assert _testing.core_inputs(copy).prcp.shape == (copy.mesh.nac, WINDOW)
    copy.rr_parameters.values[..., 0] *= 1.0  # the copy runs on its own core
    ret = copy.backward_run(mapping="uniform", return_options={"cost": True, "grad": True})
    ref = streamed.backward_run(mapping="uniform", return_options={"cost": True, "grad": True})
    assert ret.cost == ref.cost and np.array_equal(ret.grad, ref.grad)
    copy.forward_run()
    assert np.array_equal(copy.response.q, held.response.q)
