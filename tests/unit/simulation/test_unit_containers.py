"""The data objects hung on a Model (smash.simulation.containers): NamedMaps by key, read-only keys, copies that own
their arrays, reprs, and the setters' validation, on the synthetic catchment."""

import numpy as np
import pytest

import smash
from smash.simulation.containers import NamedMaps, PhysioData, Response, Snapshot


@pytest.fixture(scope="module")
def base():
    setup, mesh = smash.factory.load_dataset("synthetic")
    return smash.Model(dict(setup, end_time="2020-01-21 00:00"), mesh)


@pytest.fixture
def model(base):
    return base.copy()


def _maps():
    values = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    return NamedMaps(["a", "bb", "c", "d"], values), values


# ---------------------------------------------------------------- NamedMaps
def test_named_maps_index_and_values_by_key():
    maps, values = _maps()
    for i, key in enumerate(["a", "bb", "c", "d"]):
        assert maps.index(key) == i
        np.testing.assert_array_equal(maps.values[..., maps.index(key)], values[..., i])
    with pytest.raises(ValueError, match=r"'zz'.*\['a', 'bb', 'c', 'd'\]"):
        maps.index("zz")


def test_named_maps_keys_are_read_only():
    maps, _ = _maps()
    with pytest.raises(AttributeError, match="cannot be changed"):
        maps.keys = ["bb", "a", "c", "d"]
    with pytest.raises(ValueError):
        maps.keys[0] = "z"           # the array itself is not writable either
    maps.keys = ["a", "bb", "c", "d"]   # the same keys: nothing to refuse
    assert maps.keys.tolist() == ["a", "bb", "c", "d"]


def test_named_maps_values_setter_checks_shape_and_numbers():
    maps, values = _maps()
    new = np.ones((2, 3, 4), dtype=np.float32)
    maps.values = new
    assert maps.values is new            # a float array is kept: edits to it reach the maps
    maps.values = np.zeros((2, 3, 4), dtype=np.int64).tolist()
    assert maps.values.dtype == np.float64 and not maps.values.any()
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\).*got \(2, 3, 3\)"):
        maps.values = np.zeros((2, 3, 3))
    with pytest.raises(TypeError, match="values"):
        maps.values = np.full((2, 3, 4), "x")


def test_named_maps_copy_owns_its_arrays_and_repr():
    maps, values = _maps()
    other = maps.copy()
    assert not np.shares_memory(other.values, maps.values)
    other.values[0, 0, 0] = -1.0
    assert maps.values[0, 0, 0] == 0.0
    assert other.keys.tolist() == maps.keys.tolist()
    assert repr(maps) == "NamedMaps(keys=['a', 'bb', 'c', 'd'], values: shape (2, 3, 4))"


# ------------------------------------------------- the model's maps by key
def test_get_and_set_rr_maps_by_key(model):
    nrow, ncol = model.mesh.nrow, model.mesh.ncol
    grid = np.linspace(100.0, 900.0, nrow * ncol).reshape(nrow, ncol)
    model.set_rr_parameters("cp", grid)
    got = model.get_rr_parameters("cp")
    np.testing.assert_array_equal(got, grid)
    np.testing.assert_array_equal(model.rr_parameters.values[..., model.rr_parameters.index("cp")], grid)
    got[0, 0] = 1.0                                  # a copy: the model is untouched
    assert model.get_rr_parameters("cp")[0, 0] == grid[0, 0]
    model.set_rr_initial_states("hp", 0.25)          # a scalar fills the grid
    np.testing.assert_array_equal(model.get_rr_initial_states("hp"), np.full((nrow, ncol), 0.25))
    # In-place edits of values are what the next run uses (smash 1.x's documented way).
    model.rr_parameters.values[..., model.rr_parameters.index("ct")] = 42.0
    np.testing.assert_array_equal(model.get_rr_parameters("ct"), 42.0)


@pytest.mark.parametrize("setter,key,value,error,words", [
    ("set_rr_parameters", "cp", -5.0, ValueError, ["cp", "> 0"]),
    ("set_rr_parameters", "cp", np.ones((3, 3)), ValueError, ["'cp'", "(nrow, ncol)"]),
    ("set_rr_parameters", "cp", "high", TypeError, ["'cp'"]),
    ("set_rr_parameters", "nope", 1.0, ValueError, ["'nope'", "cp"]),
    ("set_rr_initial_states", "hp", 1.5, ValueError, ["hp", "[0, 1]"]),
    ("set_rr_initial_states", "hp", np.nan, ValueError, ["hp", "finite"]),
])
def test_bad_map_values_are_errors_naming_the_key(model, setter, key, value, error, words):
    before = model.rr_parameters.values.copy(), model.rr_initial_states.values.copy()
    with pytest.raises(error) as raised:
        getattr(model, setter)(key, value)
    for word in words:
        assert word in str(raised.value)
    np.testing.assert_array_equal(model.rr_parameters.values, before[0])
    np.testing.assert_array_equal(model.rr_initial_states.values, before[1])


def test_final_states_are_named_maps_of_the_run(model):
    model.forward_run(common_options={"verbose": False})
    final = model.rr_final_states
    assert final.keys.tolist() == model.rr_initial_states.keys.tolist()
    np.testing.assert_array_equal(model.get_rr_final_states("ht"), final.values[..., final.index("ht")])


# ------------------------------------------------------------- forcings
def test_atmos_grids_are_read_only_and_hold_minus_99_off_the_catchment(model):
    prcp = model.atmos_data.prcp
    assert prcp.shape == (model.mesh.nrow, model.mesh.ncol, model.setup.ntime_step)
    assert prcp.dtype == np.float32
    with pytest.raises(ValueError):
        prcp[0, 0, 0] = 1.0
    inactive = np.asarray(model.mesh.active_cell) == 0
    assert np.all(prcp[inactive] == -99.0)
    with pytest.raises(AttributeError, match="snow module"):
        _ = model.atmos_data.snow


def test_atmos_setter_round_trip_and_checks(model):
    active = np.asarray(model.mesh.active_cell) == 1
    shape = (model.mesh.nrow, model.mesh.ncol, model.setup.ntime_step)
    new = np.random.default_rng(0).uniform(0, 20, shape).astype(np.float32)
    model.atmos_data.prcp = new
    np.testing.assert_array_equal(model.atmos_data.prcp[active], new[active])
    # The gauge means follow the new forcing (a mean over each gauge's drained cells, recomputed).
    assert model.atmos_data.mean_prcp.shape == (model.mesh.ng, model.setup.ntime_step)
    with pytest.raises(ValueError, match=r"atmos_data.pet.*\(nrow, ncol, ntime_step\)"):
        model.atmos_data.pet = new[..., :-1]
    with pytest.raises(TypeError, match="atmos_data.pet"):
        model.atmos_data.pet = "dry"
    holed = new.copy()
    rows, cols = np.nonzero(active)
    holed[rows[0], cols[0], 3] = np.nan
    with pytest.warns(UserWarning, match="NaN"):
        model.atmos_data.prcp = holed
    assert model.atmos_data.prcp[rows[0], cols[0], 3] == -99.0


def test_observed_discharge_setter_and_writable_view(model):
    ng, nt = model.mesh.ng, model.setup.ntime_step
    q = np.abs(np.random.default_rng(1).normal(5, 2, (ng, nt))).astype(np.float32)
    model.response_data.q = q
    np.testing.assert_array_equal(model.response_data.q, q)
    view = model.response_data.q
    view[0, 0] = 123.0
    assert model.response_data.q[0, 0] == 123.0
    with pytest.raises(ValueError, match=r"response_data.q.*\(ng, ntime_step\)"):
        model.response_data.q = q[:, :-1]
    with pytest.raises(ValueError, match="-99"):
        model.response_data.q = np.full((ng, nt), np.nan)


def test_copies_of_data_objects_own_their_arrays(model):
    atmos = model.atmos_data.copy()
    assert isinstance(atmos, Snapshot)
    atmos.prcp[...] = 0.0                 # writable and detached
    assert model.atmos_data.prcp.max() > 0
    again = atmos.copy()
    assert not np.shares_memory(again.prcp, atmos.prcp)
    observed = model.response_data.copy()
    observed.q[...] = -1.0
    assert np.any(model.response_data.q != -1.0)
    response = Response(np.ones((2, 3)))
    other = response.copy()
    other.q[0, 0] = 7.0
    assert response.q[0, 0] == 1.0
    physio = model.physio_data.copy()
    physio.descriptor[...] = 0
    assert np.any(model.physio_data.descriptor != 0)


def test_physio_statistics_are_over_the_whole_grid(model):
    desc = np.asarray(model.physio_data.descriptor)
    flat = desc.reshape(-1, desc.shape[-1]).astype(np.float64)
    physio = model.physio_data
    np.testing.assert_array_equal(physio.l_descriptor, desc.reshape(-1, desc.shape[-1]).min(axis=0))
    np.testing.assert_array_equal(physio.u_descriptor, desc.reshape(-1, desc.shape[-1]).max(axis=0))
    np.testing.assert_allclose(physio.mean_descriptor, flat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(physio.std_descriptor, np.sqrt(((flat - flat.mean(axis=0)) ** 2).mean(axis=0)),
                               rtol=1e-12)
    empty = PhysioData(np.zeros((2, 2, 0), dtype=np.float32), [])
    assert empty.l_descriptor.size == 0 and empty.std_descriptor.size == 0


def test_reprs_name_what_they_hold(model):
    assert repr(model.rr_parameters) == (f"NamedMaps(keys={model.rr_parameters.keys.tolist()}, values: shape "
                                         f"({model.mesh.nrow}, {model.mesh.ncol}, 5))")
    nt = model.setup.ntime_step
    assert repr(model.atmos_data) == (f"AtmosData(prcp, pet: (nrow, ncol, ntime) = ({model.mesh.nrow}, "
                                      f"{model.mesh.ncol}, {nt}); mean_prcp, mean_pet: (ng, ntime))")
    assert repr(model.response_data) == f"ResponseData(q: shape ({model.mesh.ng}, {nt}))"
    assert repr(model.physio_data) == (f"PhysioData(descriptor: shape {model.physio_data.descriptor.shape}, "
                                       f"names={np.asarray(model.setup.descriptor_name).tolist()})")
    assert repr(Snapshot("Thing", a=np.zeros(1), b=np.zeros(2))) == "Thing(a, b)"
