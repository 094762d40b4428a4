"""NetCDF and Zarr forcing stores (smash.inputs.stores) made by smash.io.convert_forcings from the GeoTIFF
series: the same forcings as the GeoTIFF files, and, streamed or held whole, the same discharge, final
states and gradient bit for bit as the GeoTIFF model held whole (Lez: prcp and PET stores; Cance: a prcp
store beside daily interannual PET maps)."""

import datetime as dt
import functools

import numpy as np
import pytest

import smash
from smash import _testing
from smash.drainage.network import model_cell_order

xr = pytest.importorskip("xarray", reason="the netcdf extra (xarray, h5netcdf, zarr) is not installed")

PERIODS = {"Lez": ("2012-08-01", "2012-09-20"), "Cance": ("2014-09-15 00:00", "2014-09-22 00:00")}


@functools.cache
def _dataset(data_dir, name):
    setup, mesh = smash.factory.load_dataset(name, path=data_dir)
    start, end = PERIODS[name]
    return dict(setup, read_descriptor=False, start_time=start, end_time=end), mesh


@functools.cache
def _stores(data_dir, name, suffix, folder, layout="grid"):
    setup, mesh = _dataset(data_dir, name)
    kinds = ["prcp"] if setup.get("daily_interannual_pet") else ["prcp", "pet"]
    return {f"{kind}_directory": smash.io.convert_forcings(
        setup[f"{kind}_directory"], f"{folder}/{name}_{kind}_{layout}.{suffix}", kind, setup["start_time"],
        setup["end_time"], setup.get(f"{kind}_conversion_factor", 1.0), chunk_steps=10,
        mesh=mesh if layout == "cells" else None) for kind in kinds}


@pytest.fixture(scope="module")
def store_folder(tmp_path_factory):
    return str(tmp_path_factory.mktemp("stores"))


def _gradient(model):
    return model.backward_run(mapping="distributed", return_options={"cost": True, "grad": True})


@pytest.mark.parametrize("layout", ["grid", "cells"])
@pytest.mark.parametrize("suffix", ["nc", "zarr"])
@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_store_models_equal_the_geotiff_model(data_dir, store_folder, name, suffix, layout):
    """Stores of the grid, and of the mesh's cells in the model's order (read without a gather)."""
    setup, mesh = _dataset(data_dir, name)
    tiff = smash.Model(setup, mesh)
    _testing.core_setup(tiff).checkpoint_steps = 8
    paths = _stores(data_dir, name, suffix, store_folder, layout)
    held = smash.Model(dict(setup, **paths), mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=8, **paths), mesh)
    stream = _testing.forcing_stream(streamed)
    assert stream is not None
    assert stream.source.by_kind["prcp"].series.in_order == (layout == "cells")
    for kind in ("prcp", "pet"):
        assert np.array_equal(getattr(tiff.atmos_data, kind), getattr(held.atmos_data, kind)), kind
    assert np.array_equal(tiff.rr_parameters.values, streamed.rr_parameters.values)
    for model in (tiff, held, streamed):
        model.forward_run()
    for model in (held, streamed):
        assert np.array_equal(tiff.response.q, model.response.q)
        assert np.array_equal(tiff.rr_final_states.values, model.rr_final_states.values)
    ref, got = _gradient(tiff), _gradient(streamed)
    assert ref.cost == got.cost and np.array_equal(ref.grad, got.grad)


def test_store_units_time_and_axes(data_dir, tmp_path):
    """A hand-made CF store: rates in kg m-2 s-1, y running south to north, a missing value, a step absent."""
    setup, mesh = _dataset(data_dir, "Lez")
    setup = dict(setup, end_time="2012-08-06")
    tiff = smash.Model(setup, mesh)
    nrow, ncol = mesh["nrow"], mesh["ncol"]
    x = mesh["xmin"] + (np.arange(ncol) + 0.5) * mesh["xres"]
    y = mesh["ymax"] - (np.arange(nrow) + 0.5) * mesh["yres"]
    prcp = np.moveaxis(np.asarray(tiff.atmos_data.prcp, dtype=np.float32), -1, 0).copy()  # (time, y, x)
    prcp[2, 3, 4] = np.nan
    times = [np.datetime64(dt.datetime(2012, 8, 2) + dt.timedelta(days=t)) for t in range(5)]
    keep = [0, 1, 2, 4]  # the fourth step absent
    rate = prcp[keep][:, ::-1] / np.float32(86400)
    ds = xr.Dataset({"rain": (("time", "y", "x"), rate, {"units": "kg m-2 s-1"})},
                    coords={"time": np.array(times)[keep], "y": y[::-1], "x": x})
    path = tmp_path / "rain.nc"
    ds.to_netcdf(path)
    with pytest.warns(UserWarning, match=r"Missing steps: 1 model step\(s\) have no time in the store.*2012-08-05"):
        model = smash.Model(dict(setup, prcp_directory=str(path)), mesh)
    got = np.moveaxis(np.asarray(model.atmos_data.prcp), -1, 0)
    active = mesh["active_cell"].astype(bool)
    expected = prcp.copy()
    expected[3] = -99.0
    expected[2, 3, 4] = -99.0
    np.testing.assert_allclose(got[:, active], expected[:, active], rtol=1e-6)
    assert (got[3][active] == -99.0).all()


def test_store_errors_name_the_problem(data_dir, tmp_path):
    setup, mesh = _dataset(data_dir, "Lez")
    x = mesh["xmin"] + (np.arange(mesh["ncol"]) + 0.5) * mesh["xres"]
    y = mesh["ymax"] - (np.arange(mesh["nrow"]) + 0.5) * mesh["yres"]
    shape = (3, mesh["nrow"], mesh["ncol"])
    two_daily = np.arange("2012-08-02", "2012-08-08", 2, dtype="datetime64[D]").astype("datetime64[ns]")
    xr.Dataset({"prcp": (("time", "y", "x"), np.zeros(shape, np.float32), {"units": "mm"})},
               coords={"time": two_daily, "y": y, "x": x}).to_netcdf(tmp_path / "coarse.nc")
    with pytest.raises(ValueError, match="172800 s apart but the model's dt is 86400"):
        smash.Model(dict(setup, prcp_directory=str(tmp_path / "coarse.nc")), mesh)
    daily = np.arange("2012-08-02", "2012-08-05", dtype="datetime64[D]").astype("datetime64[ns]")
    xr.Dataset({"prcp": (("time", "y", "x"), np.zeros(shape, np.float32), {"units": "furlongs"})},
               coords={"time": daily, "y": y, "x": x}).to_netcdf(tmp_path / "units.nc")
    with pytest.raises(ValueError, match="units 'furlongs'"):
        smash.Model(dict(setup, prcp_directory=str(tmp_path / "units.nc")), mesh)


@pytest.mark.parametrize("suffix", ["nc", "zarr"])
def test_series_written_to_a_store_as_the_run_goes(data_dir, tmp_path, suffix):
    """return_options output_store: the store holds what the run would return, streamed (slots reused
    window by window) or not; the model's own results are unchanged."""
    setup, mesh = _dataset(data_dir, "Cance")
    held = smash.Model(setup, mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream", forcing_window=40), mesh)
    asked = {"q_domain": True, "rr_states": True, "internal_fluxes": True,
             "time_step": pd_steps(held)}
    ref = held.forward_run(return_options=asked)
    q_ref = held.response.q.copy()
    for model, name in ((held, "held"), (streamed, "streamed")):
        path = tmp_path / f"{name}.{suffix}"
        got = model.forward_run(return_options=dict(asked, output_store=str(path)))
        assert got.output_store == str(path) and not hasattr(got, "q_domain")
        assert np.array_equal(model.response.q, q_ref)
        # Off the mesh the store holds the returned -99.
        ds = xr.open_dataset(path, engine="zarr" if suffix == "zarr" else None, mask_and_scale=False)
        assert np.array_equal(ds["time"].values.astype("datetime64[s]"), ref.time_step)
        assert np.array_equal(np.moveaxis(ds["q_domain"].values, 0, -1), ref.q_domain)
        for i, state in enumerate(ref.rr_states):
            for j, key in enumerate(state.keys):
                assert np.array_equal(ds[f"state_{key}"].values[i], state.values[..., j].astype(np.float32)), key
        for key, grid in ref.internal_fluxes.items():
            assert np.array_equal(np.moveaxis(ds[f"flux_{key}"].values, 0, -1), grid), key
        ds.close()


def pd_steps(model):
    """Every third step from the 5th: returned steps that leave some windows with fewer of them."""
    import smash.time_axis as ta

    axis = ta.TimeAxis.of(model.setup)
    return [axis.time(t) for t in range(5, model.setup.ntime_step + 1, 3)]


def test_many_netcdf_files_are_one_series(data_dir, store_folder, tmp_path):
    """A glob pattern of NetCDF files (a month per file, as SAFRAN or COMEPHORE come), merged by time."""
    setup, mesh = _dataset(data_dir, "Lez")
    whole = xr.open_dataset(_stores(data_dir, "Lez", "nc", store_folder)["prcp_directory"])
    for part, (lo, hi) in enumerate((("2012-08-01", "2012-08-31"), ("2012-08-31", "2012-09-30"))):
        piece = whole.sel(time=slice(np.datetime64(lo) + np.timedelta64(1, "D"), np.datetime64(hi)))
        piece.to_netcdf(tmp_path / f"prcp_{part}.nc")
    whole.close()
    tiff = smash.Model(setup, mesh)
    split = smash.Model(dict(setup, prcp_directory=str(tmp_path / "prcp_*.nc"), forcing_storage="stream",
                             forcing_window=9), mesh)
    assert _testing.core_inputs(split).prcp.shape == (split.mesh.nac, 9)
    tiff.forward_run()
    split.forward_run()
    assert np.array_equal(tiff.response.q, split.response.q)


def test_missing_extra_is_named(monkeypatch):
    """Without xarray the error names the extra that installs it (the package itself imports none of it)."""
    import builtins
    import subprocess
    import sys

    from smash.inputs import stores

    real_import = builtins.__import__

    def no_xarray(name, *args, **kwargs):
        if name == "xarray":
            raise ImportError("No module named 'xarray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xarray)
    with pytest.raises(ImportError, match=r"smash-hydrology\[netcdf\]"):
        stores.xarray()
    monkeypatch.undo()
    code = "import sys, smash; print(sorted(m for m in ('xarray', 'zarr', 'h5netcdf') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["store.nc", "store.zarr"])
def test_a_failed_store_write_leaves_the_previous_store_and_no_temporary(tmp_path, name):
    pytest.importorskip("xarray")
    from smash.stream.store_writer import StoreWriter

    path = tmp_path / name
    x, y = np.array([0.5, 1.5]), np.array([1.5, 0.5])
    times = [np.datetime64("2020-01-01T01:00"), np.datetime64("2020-01-01T02:00")]
    with StoreWriter(path, x, y, {"prcp": {"units": "mm"}}, nstep=2) as writer:
        writer.append(times, {"prcp": np.ones((2, 2, 2))})
    with pytest.raises(RuntimeError, match="stopped"):
        with StoreWriter(path, x, y, {"prcp": {"units": "mm"}}, nstep=2) as writer:
            writer.append(times[:1], {"prcp": np.full((1, 2, 2), 7.0)})
            raise RuntimeError("stopped")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    import xarray as xr

    with xr.open_dataset(path, engine="zarr" if name.endswith(".zarr") else "h5netcdf") as data:
        np.testing.assert_array_equal(data["prcp"].values, np.ones((2, 2, 2)))


@pytest.mark.parametrize("suffix", ["nc", "zarr"])
def test_windows_across_chunks_decode_each_chunk_once(data_dir, store_folder, suffix, monkeypatch):
    """Windows that straddle the store's 10-step chunks, read forward then backward (the adjoint's reverse
    sweep) and at random, equal the whole period read at once; read in order, each chunk is decoded once."""
    from smash.inputs import stores
    from smash.simulation.model_setup import normalize_setup

    setup, mesh = _dataset(data_dir, "Lez")
    paths = _stores(data_dir, "Lez", suffix, store_folder)
    setup = normalize_setup(dict(setup, **paths))
    whole = stores.read_store(setup, mesh, "prcp", cells=np.flatnonzero(mesh["active_cell"]))
    nt = whole.shape[0]
    series = stores.StoreSeries(setup, mesh, "prcp", cells=np.flatnonzero(mesh["active_cell"]))
    assert series.parts[0].time_chunk == 10
    decoded = []
    box = series._box
    monkeypatch.setattr(series, "_box", lambda p, lo, hi, out=None: decoded.append((lo, hi)) or box(p, lo, hi, out))
    chunks = series.parts[0].zarr_chunks
    assert (chunks is not None) == (suffix == "zarr")   # a Zarr store's chunks decoded by its codec alone
    if chunks is not None:
        decode = chunks.decode
        monkeypatch.setattr(chunks, "decode", lambda c, out: decoded.append((10 * c, min(10 * c + 10, nt)))
                            or decode(c, out))
    starts = list(range(0, nt, 7))
    for first in starts:
        assert np.array_equal(series.read(first, min(7, nt - first)), whole[first:first + 7])
    assert sorted(decoded) == [(lo, min(lo + 10, nt)) for lo in range(0, nt, 10)]
    for first in reversed(starts):
        assert np.array_equal(series.read(first, min(7, nt - first)), whole[first:first + 7])
    rng = np.random.default_rng(0)
    for first in rng.integers(0, nt - 1, 20):
        count = int(rng.integers(1, 30))
        assert np.array_equal(series.read(int(first), min(count, nt - int(first))), whole[first:first + count])


def test_a_store_of_cells_in_another_order(data_dir, store_folder):
    """A store of cells written for another model's order (a mesh whose gauges differ reorders the cells), or
    holding a cell the mesh lacks: read by a gather, the same values as the grid store."""
    from smash.inputs import stores
    from smash.simulation.model_setup import normalize_setup

    setup, mesh = _dataset(data_dir, "Lez")
    grid = normalize_setup(dict(setup, **_stores(data_dir, "Lez", "zarr", store_folder)))
    cells = normalize_setup(dict(setup, **_stores(data_dir, "Lez", "zarr", store_folder, "cells")))
    order = model_cell_order(mesh)
    shuffled = np.random.default_rng(1).permutation(order)
    ref = stores.StoreSeries(grid, mesh, "prcp", cells=shuffled)
    got = stores.StoreSeries(cells, mesh, "prcp", cells=shuffled)
    assert not got.in_order and ref.box_index.size == got.box_index.size == order.size
    nt = int(grid["ntime_step"])
    assert np.array_equal(got.read(3, nt - 3), ref.read(3, nt - 3))
    # A mesh cell the store does not hold is missing.
    outside = np.concatenate([shuffled, [np.flatnonzero(np.asarray(mesh["active_cell"]).ravel() == 0)[0]]])
    values = stores.StoreSeries(cells, mesh, "prcp", cells=outside).read(0, 5)
    assert np.array_equal(values[:, :-1], ref.read(0, 5)) and (values[:, -1] == -99).all()


def test_cells_store_needs_the_mesh_grid(data_dir, tmp_path):
    setup, mesh = _dataset(data_dir, "Lez")
    moved = dict(mesh, xmin=mesh["xmin"] + mesh["xres"] / 3)
    with pytest.raises(ValueError, match="not aligned with the mesh"):
        smash.io.convert_forcings(setup["prcp_directory"], str(tmp_path / "p.zarr"), "prcp", setup["start_time"],
                                  setup["end_time"], mesh=moved)
    coarse = dict(mesh, xres=mesh["xres"] * 2)
    with pytest.raises(ValueError, match="needs rasters on its grid"):
        smash.io.convert_forcings(setup["prcp_directory"], str(tmp_path / "p.zarr"), "prcp", setup["start_time"],
                                  setup["end_time"], mesh=coarse)


def test_zarr_chunks_decode_as_zarr_reads(tmp_path):
    """smash.inputs.zarr_chunks against zarr itself: full chunks, the short last chunk, a chunk never written
    (its fill value), and layouts it leaves to zarr (chunks across space, filters)."""
    import zarr

    from smash.inputs.zarr_chunks import ZarrChunks
    from smash.stream.store_writer import _fast_compressor

    values = np.random.default_rng(2).gamma(0.3, 2.0, size=(23, 5, 7)).astype(np.float32)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=2)
    array = group.create_array("v", shape=values.shape, chunks=(10, 5, 7), dtype="f4", fill_value=np.float32(np.nan),
                               compressors=_fast_compressor())
    array[:20] = values[:20]   # the last chunk (steps 20-22) never written
    array = zarr.open_array(str(tmp_path / "s.zarr" / "v"), mode="r")
    chunks = ZarrChunks.of(array)
    assert chunks is not None and chunks.chunk_steps == 10
    buffer = np.empty(10 * 35, dtype=np.float32)
    for c in range(3):
        got = chunks.decode(c, buffer)
        assert np.array_equal(got, array[10 * c:10 * c + 10], equal_nan=True), c
    assert got.shape == (3, 5, 7) and np.isnan(got).all()
    spatial = group.create_array("w", shape=values.shape, chunks=(10, 5, 4), dtype="f4")
    assert ZarrChunks.of(spatial) is None


def test_aligned_windows_are_decoded_straight_into_the_buffer(data_dir, store_folder, monkeypatch):
    """A store of the model's cells whose chunks start with the period: windows of whole chunks are decoded
    into the caller's buffer itself (no kept chunk, no copy), a window's short end through a kept chunk; the
    values equal the whole period read at once. A period starting inside a chunk is not aligned."""
    from smash.inputs import stores
    from smash.simulation.model_setup import normalize_setup

    setup, mesh = _dataset(data_dir, "Lez")
    paths = _stores(data_dir, "Lez", "zarr", store_folder, "cells")
    cells = model_cell_order(mesh)
    norm = normalize_setup(dict(setup, **paths))
    whole = stores.read_store(norm, mesh, "prcp", cells=cells)
    nt = whole.shape[0]
    series = stores.StoreSeries(norm, mesh, "prcp", cells=cells)
    assert series.aligned_chunk_steps() == 10
    kept = []
    chunk = series._chunk
    monkeypatch.setattr(series, "_chunk", lambda p, c, steps: kept.append(c) or chunk(p, c, steps))
    out = np.full((25, cells.size), np.nan, dtype=np.float32)
    for first in range(0, nt, 20):
        count = min(20, nt - first)
        got = series.read(first, count, out=out[:count])
        assert got is out[:count].base or np.shares_memory(got, out)
        assert np.array_equal(out[:count], whole[first:first + count])
    last = nt // 10   # the short chunk at the end of the store (whole chunks only are decoded in place)
    assert kept == ([last] if nt % 10 else [])
    # A window of 25 steps: two whole chunks in place, its last 5 steps out of a kept chunk.
    kept.clear()
    series.read(0, 25, out=out)
    assert np.array_equal(out, whole[:25]) and kept == [2]
    later = normalize_setup(dict(setup, **paths, start_time="2012-08-04"))
    assert stores.StoreSeries(later, mesh, "prcp", cells=cells).aligned_chunk_steps() is None


def test_forward_windows_are_aligned_on_the_store_chunks(data_dir, store_folder, monkeypatch):
    """A streamed model's forward windows are rounded down to whole chunks of its precipitation store (when
    the setup does not choose them): Cance then runs on windows of 20 steps (chunks of 10) instead of 27,
    with the discharge and final states of the GeoTIFF model bit for bit."""
    from smash.stream import storage

    setup, mesh = _dataset(data_dir, "Cance")
    tiff = smash.Model(setup, mesh)
    paths = _stores(data_dir, "Cance", "zarr", store_folder, "cells")
    nac = int(np.count_nonzero(mesh["active_cell"]))
    monkeypatch.setattr(storage, "FORWARD_WINDOW_BYTES", 27 * nac * 4)
    streamed = smash.Model(dict(setup, forcing_storage="stream", **paths), mesh)
    assert _testing.forcing_stream(streamed).windows["forward"] == 20
    chosen = smash.Model(dict(setup, forcing_storage="stream", forcing_window=27, **paths), mesh)
    assert _testing.forcing_stream(chosen).windows["forward"] == 27
    for model in (tiff, streamed, chosen):
        model.forward_run()
    for model in (streamed, chosen):
        assert np.array_equal(tiff.response.q, model.response.q)
        assert np.array_equal(tiff.rr_final_states.values, model.rr_final_states.values)


def test_zarr_compression_follows_the_first_window(tmp_path):
    """A Zarr variable is compressed by LZ4 with byte shuffling or without, whichever makes its first window
    smaller (counted here with numcodecs directly): shuffling for a smooth field, none for patchy rain with
    runs of zeros; the values read back are the values written."""
    import json

    from numcodecs import Blosc

    from smash.stream.store_writer import StoreWriter

    rng = np.random.default_rng(4)
    shape = (48, 30, 40)
    smooth = (280 + np.cumsum(rng.normal(0, 0.01, shape), axis=2)).astype(np.float32)
    patchy = np.where(rng.random(shape) < 0.85, 0.0, np.round(rng.gamma(0.5, 2.0, shape), 1)).astype(np.float32)
    x, y = np.arange(40.0), np.arange(30.0)[::-1]
    times = [dt.datetime(2020, 1, 1) + dt.timedelta(hours=h + 1) for h in range(48)]
    chosen = {}
    for name, values in (("smooth", smooth), ("patchy", patchy)):
        path = tmp_path / f"{name}.zarr"
        with StoreWriter(path, x, y, {"v": {"units": "mm"}}, chunk_steps=24, nstep=48) as writer:
            writer.append(times[:24], {"v": values[:24]})
            writer.append(times[24:], {"v": values[24:]})
        with open(path / "v" / ".zarray") as f:
            chosen[name] = json.load(f)["compressor"]["shuffle"]
        sizes = {mode: len(Blosc(cname="lz4", clevel=5, shuffle=mode).encode(values[:24]))
                 for mode in (Blosc.SHUFFLE, Blosc.NOSHUFFLE)}
        assert chosen[name] == min(sizes, key=sizes.get), (name, sizes)
        with xr.open_zarr(path, consolidated=True) as ds:
            assert np.array_equal(ds["v"].values, values)
    assert chosen == {"smooth": Blosc.SHUFFLE, "patchy": Blosc.NOSHUFFLE}


def test_a_streamed_gradient_reads_windows_of_several_chunks(data_dir, store_folder):
    """A streamed gradient whose checkpoint chunks are shorter than the store's time chunks reads windows of
    several chunks (memory.gradient_window: the most that leave the plan as it is, within a store chunk):
    Cance's gradient by chunks of 2 steps, from a grid store of 10-step chunks beside daily interannual PET
    maps, reads windows of 10 steps, each once a sweep, and equals the GeoTIFF model's held whole with the
    same chunks bit for bit (forward run and gradient)."""
    from smash.simulation import memory
    from smash.stream.window import gradient_windows

    setup, mesh = _dataset(data_dir, "Cance")
    held = smash.Model(setup, mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream", **_stores(data_dir, "Cance", "zarr", store_folder)),
                           mesh)
    for model in (held, streamed):
        _testing.core_setup(model).checkpoint_steps = 2
    nac, nt = streamed.mesh.nac, streamed.setup.ntime_step
    plan = memory.gradient_plan(streamed)
    assert (nt, plan.chunk, plan.window, plan.segment, plan.spills) == (168, 2, 10, 0, False)
    # The window's arrays (prcp and pet, current and read ahead) counted among the gradient's.
    assert plan.run_bytes == memory.gradient_run_bytes(streamed, 10)
    stream = _testing.forcing_stream(streamed)
    served = []
    stream.window_hook = served.append
    reads, unpredicted = stream.reads, stream.unpredicted
    ret_s = _gradient(streamed)
    stream.window_hook = None
    ret_h = _gradient(held)
    assert ret_h.cost == ret_s.cost and np.array_equal(ret_h.grad, ret_s.grad) and np.abs(ret_h.grad).max() > 0
    # Each 2-step chunk asks for its steps (forward, then back), served from the 10-step window holding it:
    # 17 windows read forward, 16 back (the last one still loaded), one of them while the run waited.
    chunks = [(t0, min(t0 + 1, nt)) for t0 in range(1, nt + 1, 2)]
    assert served == [t0 for t0, _ in chunks + chunks[::-1]]
    assert gradient_windows(nt, 10, 0, 2)[:6] == [(1, 10)] * 5 + [(11, 20)]
    assert stream.windows["gradient"] == 10 and _testing.core_inputs(streamed).prcp.shape == (nac, 10)
    assert (stream.reads - reads, stream.unpredicted - unpredicted) == (2 * 17 - 1, 1)
    # Checkpoint chunks the core was asked for are given back after the gradient; the forward runs agree.
    assert _testing.core_setup(streamed).checkpoint_steps == 2
    held.forward_run()
    streamed.forward_run()
    assert np.array_equal(held.response.q, streamed.response.q)
    assert np.array_equal(held.rr_final_states.values, streamed.rr_final_states.values)


def test_interannual_pet_windows_read_each_day_once(data_dir, monkeypatch):
    """Daily interannual PET streamed in windows of a few hours: a day's map is read from its file once and
    kept for the day's later windows (a few days at most, the least recently used dropped), and every window
    equals the whole period read at once, forward and back."""
    from smash.inputs import atmos
    from smash.simulation.model_setup import normalize_setup
    from smash.stream.sources import TiffSource

    setup, mesh = _dataset(data_dir, "Cance")
    norm = normalize_setup(setup)
    assert norm["daily_interannual_pet"]
    cells = model_cell_order(mesh)
    whole = atmos.read_atmos(norm, mesh, "pet", cells=cells)
    nt = whole.shape[0]
    days = len(set(atmos.SeriesPlan(norm, "pet").day_keys))
    source = TiffSource(norm, mesh, cells)
    opened = []
    read = atmos.RasterSeries.read
    monkeypatch.setattr(atmos.RasterSeries, "read", lambda self, path: opened.append(path) or read(self, path))
    firsts = list(range(0, nt, 5))
    for first in firsts + firsts[::-1]:
        count = min(5, nt - first)
        out = np.full((count, cells.size), np.nan, dtype=np.float32)
        source.read("pet", first, count, out=out)
        assert np.array_equal(out, whole[first:first + count])
        assert len(source._daily["pet"]) <= 4
    # Forward: each day's file once; back: the last 4 days still kept, the others read again.
    assert days == 8 and len(opened) == days + (days - 4)
    assert len(set(opened[:days])) == days


def test_nested_checkpoints_over_windows_of_several_chunks(data_dir, store_folder, monkeypatch):
    """Nested checkpointing whose segments (8 steps) cut across the windows (10 steps, chunks of 2): the
    read-ahead follows the sweeps' order of windows (one read while the run waited) and the gradient is the
    one of the GeoTIFF model held whole with the same chunks and segments, bit for bit."""
    import dataclasses

    from smash.simulation import memory

    setup, mesh = _dataset(data_dir, "Cance")
    held = smash.Model(setup, mesh)
    streamed = smash.Model(dict(setup, forcing_storage="stream", **_stores(data_dir, "Cance", "zarr", store_folder)),
                           mesh)
    for model in (held, streamed):
        _testing.core_setup(model).checkpoint_steps = 2
    planned = memory.gradient_plan
    monkeypatch.setattr(memory, "gradient_plan", lambda model: dataclasses.replace(planned(model), segment=8))
    stream = _testing.forcing_stream(streamed)
    unpredicted = stream.unpredicted
    ret_s = _gradient(streamed)
    assert stream.windows["gradient"] == 10 and stream.unpredicted - unpredicted == 1
    monkeypatch.setattr(memory, "gradient_plan", planned)
    _testing.core_setup(held).checkpoint_segment_steps = 8
    ret_h = _gradient(held)
    assert ret_h.cost == ret_s.cost and np.array_equal(ret_h.grad, ret_s.grad) and np.abs(ret_h.grad).max() > 0


def test_a_span_of_a_store_of_cells_decodes_only_its_blocks(data_dir, store_folder):
    """A model holding a fifth of a store's cells, all within the first fifth of them (a catchment of a
    national store): its chunks are decoded over that span only (c-blosc's getitem), the values read
    equal the grid store's; the span's decoding equals a whole chunk's decoding cut to it."""
    from smash.inputs import stores
    from smash.simulation.model_setup import normalize_setup

    setup, mesh = _dataset(data_dir, "Lez")
    grid = normalize_setup(dict(setup, **_stores(data_dir, "Lez", "zarr", store_folder)))
    cells = normalize_setup(dict(setup, **_stores(data_dir, "Lez", "zarr", store_folder, "cells")))
    order = model_cell_order(mesh)
    some = order[: order.size // 5][::-1]
    ref = stores.StoreSeries(grid, mesh, "prcp", cells=some)
    got = stores.StoreSeries(cells, mesh, "prcp", cells=some)
    part = got.parts[0]
    assert part.zarr_chunks.decodes_spans and got._whole_chunks(part) and not got.in_order
    first, stop = got._cell_span(part)
    assert (first, stop) == (0, some.size) and stop < got.box_size
    nt = int(grid["ntime_step"])
    for start in range(0, nt, 7):
        count = min(7, nt - start)
        assert np.array_equal(got.read(start, count), ref.read(start, count))
    chunks = part.zarr_chunks
    whole = chunks.decode(1, np.empty(10 * got.box_size, dtype=np.float32))
    span = chunks.decode_span(1, 3, 40, np.empty(10 * 37, dtype=np.float32))
    assert np.array_equal(span, whole[:, 3:40], equal_nan=True)
    # Windows of whole chunks: each step's span decoded then gathered (gather_span), the same values.
    assert got.aligned_chunk_steps() == chunks.chunk_steps == 10
    gathered = np.empty((10, 5), dtype=np.float32)
    chunks.gather_span(1, 3, 40, np.array([36, 0, 7, 7, 20]), gathered, np.empty(37, dtype=np.float32))
    assert np.array_equal(gathered, whole[:, [39, 3, 10, 10, 23]], equal_nan=True)
    calls = []
    gather = type(chunks).gather_span
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(chunks), "gather_span", lambda self, *args: calls.append(args[0]) or gather(self, *args))
        for start in range(0, nt, 20):
            count = min(20, nt - start)
            out = np.empty((count, some.size), dtype=np.float32)
            assert np.array_equal(got.read(start, count, out=out), ref.read(start, count))
    assert calls == list(range(nt // 10))


def test_nonfinite_rain_in_a_streamed_window_is_missing(data_dir, tmp_path):
    """A store's NaN and infinite rain reaches a streamed run's core unchecked (the reader skips a pass over
    the window) and the core takes it for missing, as the held model's array has it (-99): discharge, final
    states and gradient equal bit for bit, where rain left in place would change them."""
    import zarr

    setup, mesh = _dataset(data_dir, "Cance")
    path = smash.io.convert_forcings(setup["prcp_directory"], str(tmp_path / "prcp.zarr"), "prcp",
                                     setup["start_time"], setup["end_time"], 1.0, chunk_steps=10, mesh=mesh)
    cells = model_cell_order(mesh)
    array = zarr.open_group(path, mode="r+")["prcp"]
    values = array[:]
    # Rainy cell-steps spoiled: NaN, +inf and -inf, inside windows read straight into the core's arrays.
    rainy = np.argwhere(values > 1.0)
    assert rainy.shape[0] > 30
    picked = rainy[np.linspace(0, rainy.shape[0] - 1, 30).astype(int)]
    for (t, c), bad in zip(picked, [np.nan, np.inf, -np.inf] * 10, strict=True):
        values[t, c] = bad
    array[:] = values
    held = smash.Model(dict(setup, prcp_directory=path), mesh)
    streamed = smash.Model(dict(setup, prcp_directory=path, forcing_storage="stream"), mesh)
    held_prcp = np.asarray(_testing.core_inputs(held).prcp)
    # The store holds the model's cells in its order: cell c, step t is the core's (c, t).
    assert np.isfinite(held_prcp).all() and all(held_prcp[c, t] == -99 for t, c in picked)
    source = _testing.forcing_stream(streamed).source
    window = np.empty((10, cells.size), dtype=np.float32)
    first = picked[0][0] // 10 * 10
    source.read_unchecked("prcp", first, 10, window)
    assert (~np.isfinite(window)).sum() == (~np.isfinite(values[first:first + 10])).sum() > 0
    for model in (held, streamed):
        model.forward_run()
    assert np.array_equal(held.response.q, streamed.response.q)
    assert np.array_equal(held.rr_final_states.values, streamed.rr_final_states.values)
    ref, got = _gradient(held), _gradient(streamed)
    assert ref.cost == got.cost and np.array_equal(ref.grad, got.grad)
    # The rain spoiled mattered: the same store with it kept gives other discharge.
    array[:] = zarr.open_group(smash.io.convert_forcings(
        setup["prcp_directory"], str(tmp_path / "kept.zarr"), "prcp", setup["start_time"], setup["end_time"], 1.0,
        chunk_steps=10, mesh=mesh), mode="r")["prcp"][:]
    kept = smash.Model(dict(setup, prcp_directory=path, forcing_storage="stream"), mesh)
    kept.forward_run()
    assert not np.array_equal(kept.response.q, held.response.q)
