"""The rain / snow split (prcp_partitioning with read_temp / read_snow) and sparse storage on streamed forcings:
the same split forcings, discharge, final states and gradient bit for bit as the forcings held whole, on Lez with
the synthetic temperature and snow rasters of the snow parity tests (tools/anchor_refs/snow_imperviousness_inputs.py),
read from the GeoTIFF folders and from NetCDF / Zarr stores."""


import numpy as np
import pytest

import smash
from smash import _testing
from smash.stream.sources import SplitSource

from helpers import snow_inputs_writer

SPLIT = {"snow_module": "ssn", "read_temp": True, "prcp_partitioning": True}
WINDOW = 7


@pytest.fixture(scope="module")
def lez(data_dir, tmp_path_factory):
    """(setup, mesh) of Lez over the synthetic snow period, temperature and snow folders filled in."""
    syn = snow_inputs_writer()
    paths = syn.write_inputs(str(tmp_path_factory.mktemp("snow_split")))
    setup, mesh = smash.factory.load_dataset("Lez", data_dir)
    setup = dict(setup, read_descriptor=False, **syn.period(), temp_directory=paths["temp_directory"],
                 snow_directory=paths["snow_directory"], imperviousness_file=paths["imperviousness_file"], **SPLIT)
    return setup, mesh


def _pair(setup, mesh):
    held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    # The in-memory gradient checkpoints by the streamed gradient's windows (the adjoint's summation order).
    _testing.core_setup(held).checkpoint_steps = WINDOW
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=WINDOW), mesh)
    assert _testing.forcing_stream(held) is None and _testing.forcing_stream(streamed) is not None
    return held, streamed


def _assert_same(held, streamed):
    for kind in ("prcp", "snow", "temp", "pet"):
        assert np.array_equal(getattr(held.atmos_data, kind), getattr(streamed.atmos_data, kind)), kind
    held.forward_run()
    streamed.forward_run()
    assert np.array_equal(held.response.q, streamed.response.q)
    assert np.array_equal(held.rr_final_states.values, streamed.rr_final_states.values)
    grads = [m.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})
             for m in (held, streamed)]
    assert grads[0].cost == grads[1].cost and np.array_equal(grads[0].grad, grads[1].grad)
    assert np.abs(grads[0].grad).max() > 0


@pytest.mark.parametrize("read_snow, imperviousness", [(False, False), (True, True)])
def test_streamed_split_equals_the_split_held_whole(lez, read_snow, imperviousness):
    setup, mesh = lez
    held, streamed = _pair(dict(setup, read_snow=read_snow, read_imperviousness=imperviousness), mesh)
    assert (streamed.physio_data.imperviousness.max() > 0) == imperviousness
    assert isinstance(_testing.forcing_stream(streamed).source, SplitSource)
    # The split moved precipitation into snow on the cold days (not a split that does nothing).
    snow = held.atmos_data.snow[mesh["active_cell"] == 1]
    assert snow.max() > 1 and (snow > 0).mean() > 0.05
    _assert_same(held, streamed)


def test_streamed_sparse_storage_equals_sparse_storage_held_whole(lez):
    setup, mesh = lez
    held, streamed = _pair(dict(setup, read_snow=True, sparse_storage=True), mesh)
    # The streamed model serves dense windows; atmos_data.sparse_* encodes the steps read as the held model holds them.
    assert _testing.core_inputs(streamed).prcp.shape == (streamed.mesh.nac, WINDOW)
    for t in (0, 17, streamed.setup.ntime_step - 1):
        a, b = held.atmos_data.sparse_snow[t], streamed.atmos_data.sparse_snow[t]
        assert (a.coo_fmt, a.n, a.zvalue) == (b.coo_fmt, b.n, b.zvalue)
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.values, b.values)
    _assert_same(held, streamed)


def test_streamed_sparse_storage_without_snow(data_dir):
    """sparse_storage alone (it used to be refused with forcing_storage='stream')."""
    setup, mesh = smash.factory.load_dataset("Lez", data_dir)
    setup = dict(setup, read_descriptor=False, end_time="2012-09-15", sparse_storage=True)
    held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=WINDOW), mesh)
    held.forward_run()
    streamed.forward_run()
    assert np.array_equal(held.rr_parameters.values, streamed.rr_parameters.values)
    assert np.array_equal(held.response.q, streamed.response.q) and held.response.q.max() > 0


@pytest.mark.parametrize("suffix", ["nc", "zarr"])
def test_streamed_split_from_stores(lez, tmp_path, suffix):
    """prcp, snow and temp read from NetCDF / Zarr stores, split window by window: the GeoTIFF split held whole."""
    setup, mesh = lez
    setup = dict(setup, read_snow=True)
    stores = {f"{kind}_directory": smash.io.convert_forcings(
        setup[f"{kind}_directory"], str(tmp_path / f"{kind}.{suffix}"), kind, setup["start_time"], setup["end_time"],
        setup.get(f"{kind}_conversion_factor", 1.0), chunk_steps=10) for kind in ("prcp", "snow", "temp")}
    held = smash.Model(dict(setup, forcing_storage="memory"), mesh)
    _testing.core_setup(held).checkpoint_steps = WINDOW
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=WINDOW, **stores), mesh)
    _assert_same(held, streamed)
