"""Model API on a small hand-built mesh: getters/setters, copies, return options, errors."""

import numpy as np
import pytest

import smash
from smash import _testing

from helpers import daily_setup, line_mesh, line_model


@pytest.fixture
def model():
    m = line_model()
    return m


def test_defaults_come_from_the_registry(model):
    assert model.rr_parameters.keys.tolist() == ["ci", "cp", "ct", "kexc", "llr"]
    assert model.rr_initial_states.keys.tolist() == ["hi", "hp", "ht", "hlr"]
    # llr scales with the time step: 5 min per hour of dt.
    assert model.get_rr_parameters("llr")[0, 0] == pytest.approx(5 * 86400 / 3600)
    assert model.get_rr_parameters_bounds()["cp"] == (1e-6, 1000.0)
    assert model.get_rr_initial_states_bounds()["hp"] == (1e-6, 0.999999)


def test_set_get_roundtrip_and_errors(model):
    cp = np.array([[100.0, 200.0, 300.0, 400.0]])
    model.set_rr_parameters("cp", cp)
    assert np.array_equal(model.get_rr_parameters("cp"), cp)
    with pytest.raises(ValueError, match="Unknown key 'cq'"):
        model.set_rr_parameters("cq", 1.0)
    with pytest.raises(ValueError, match=r"cp must be > 0 \(got -5\)"):
        model.set_rr_parameters("cp", -5.0)
    with pytest.raises(ValueError, match="must be finite"):
        model.set_rr_parameters("ct", np.nan)
    with pytest.raises(ValueError, match=r"hp must be in \[0, 1\]"):
        model.set_rr_initial_states("hp", 1.5)
    with pytest.raises(ValueError, match=r"shape \(nrow, ncol\) = \(1, 4\)"):
        model.set_rr_parameters("cp", np.ones((2, 2)))


def test_forcing_shape_and_nan_errors(model):
    with pytest.raises(ValueError, match=r"atmos_data.prcp must have shape"):
        model.atmos_data.prcp = np.zeros((1, 4, 10))
    bad = np.zeros((1, 4, 30), dtype=np.float32)
    bad[0, 1, 3] = np.nan
    # Non-finite forcings are missing data (issue 19): warned, stored as -99.
    with pytest.warns(UserWarning, match="1 NaN or inf value"):
        model.atmos_data.pet = bad
    assert model.atmos_data.pet[0, 1, 3] == -99.0
    with pytest.raises(ValueError, match="read-only"):
        model.atmos_data.prcp[0, 0, 0] = 1.0


def test_copy_is_independent(model):
    other = model.copy()
    other.set_rr_parameters("cp", 50.0)
    other.atmos_data.prcp = np.zeros((1, 4, 30), dtype=np.float32)
    model.forward_run()
    other.forward_run()
    assert model.get_rr_parameters("cp")[0, 0] == 200.0
    assert model.response.q.sum() > 0
    assert not np.allclose(model.response.q, other.response.q)


def test_copies_share_inputs_until_one_writes(model):
    """Copies share forcings and observations (no copy per smash.forward_run call) until
    either side writes; a write never shows through to the other model."""
    model.response_data.q = np.linspace(1.0, 2.0, 30, dtype=np.float32)[None, :]
    prcp, qobs = model.atmos_data.prcp.copy(), model.response_data.q.copy()
    other = model.copy()
    assert _testing.core_inputs(other) is _testing.core_inputs(model)
    other.response_data.q[0, :5] = -99.0
    assert _testing.core_inputs(other) is not _testing.core_inputs(model)
    assert np.array_equal(model.response_data.q, qobs)
    third = model.copy()
    model.atmos_data.prcp = np.zeros_like(prcp)
    assert np.array_equal(third.atmos_data.prcp, prcp)
    assert np.array_equal(third.response_data.q, qobs)
    assert not np.array_equal(other.response_data.q, qobs)
    # the package's own reads (cost options, signatures) keep the inputs shared
    fourth = third.copy()
    smash.backward_run(fourth, return_options={"cost": True})
    assert _testing.core_inputs(fourth) is _testing.core_inputs(third)


def test_final_states_follow_the_latest_run(model):
    """Final states are laid out on the grid when read (not by each run) and a run without
    series reuses the last output: whatever the order of runs and reads, they are those of
    the latest run, and a copy keeps its own."""
    model.forward_run()
    first = model.get_rr_final_states("hp").copy()
    model.set_rr_initial_states("hp", 0.9)
    model.forward_run(return_options={"q_domain": True})
    model.set_rr_initial_states("hp", 0.001)   # below the default, 0.01
    model.forward_run()
    model.forward_run()
    low = model.get_rr_final_states("hp").copy()
    twin = smash.forward_run(model)
    model.set_rr_initial_states("hp", 0.9)
    model.forward_run()
    high = model.get_rr_final_states("hp")
    assert np.all(low < first) and np.all(high > first)
    assert np.array_equal(twin.get_rr_final_states("hp"), low)


def test_forward_run_function_leaves_input_model_untouched(model):
    before = model.response.q.copy()
    new = smash.forward_run(model)
    assert np.array_equal(model.response.q, before)
    assert new.response.q.sum() > 0
    new2, ret = smash.forward_run(model, return_options={"q_domain": True})
    assert np.allclose(new2.response.q, new.response.q)
    assert ret.q_domain.shape == (1, 4, 30)


def test_return_options_shapes_and_consistency(model):
    ret = model.forward_run(
        return_options={"rr_states": True, "q_domain": True, "internal_fluxes": True,
                        "time_step": ["2020-01-05", "2020-01-31"]}
    )
    assert ret.time_step.tolist()[0].isoformat() == "2020-01-05T00:00:00"
    assert len(ret.rr_states) == 2 and ret.rr_states[1].values.shape == (1, 4, 4)
    # q_domain at the gauge is the gauge discharge; last step = the 30th.
    assert ret.q_domain[0, 3, 1] == pytest.approx(model.response.q[0, 29], rel=1e-6)
    # Final states equal the states of the last returned step.
    assert np.allclose(ret.rr_states[1].values, model.rr_final_states.values)
    assert set(ret.internal_fluxes) == {"pn", "en", "pr", "perc", "ps", "es", "lexc", "prr", "prd",
                                        "qr", "qd", "qt", "qup"}
    # Upstream inflow of the gauge cell is the discharge of the cell above it; lr reports it as smash
    # 1.3 does, a depth (mm) over the 3 upstream cells of 1 km2 during the daily step.
    inflow_mm = ret.q_domain[0, 2, 1] * 86400.0 / (1e-3 * 3 * 1e6)
    assert ret.internal_fluxes["qup"][0, 3, 1] == pytest.approx(inflow_mm, rel=1e-6)
    with pytest.raises(ValueError, match="not the end of a simulated step"):
        model.forward_run(return_options={"time_step": ["2019-01-01"]})
    with pytest.raises(ValueError, match="Unknown return option"):
        model.forward_run(return_options={"qdomain": True})


def test_cost_skips_missing_observations(model):
    model.forward_run()
    qsim = model.response.q[0].astype(float)
    qobs = (qsim * 1.1 + 0.01).astype(np.float32)
    qobs[[3, 17]] = -99.0
    model.response_data.q = qobs[None, :]
    ret = model.forward_run(return_options={"cost": True})
    keep = qobs >= 0
    o, s = qobs[keep].astype(float), qsim[keep]
    expected = np.sum((s - o) ** 2) / np.sum((o - o.mean()) ** 2)
    assert np.isfinite(ret.cost)
    assert ret.cost == pytest.approx(expected, rel=1e-5)


def test_cost_option_errors(model):
    with pytest.raises(ValueError, match="Unknown jobs_cmpt"):
        model.forward_run(cost_options={"jobs_cmpt": "nash"}, return_options={"cost": True})
    with pytest.raises(ValueError, match="Unknown gauge code"):
        model.forward_run(cost_options={"gauge": "X123"}, return_options={"cost": True})
    with pytest.raises(ValueError, match="outside the simulation period"):
        model.forward_run(cost_options={"end_warmup": "2021-01-01"}, return_options={"cost": True})
    with pytest.raises(ValueError, match="ncpu"):
        model.forward_run(common_options={"ncpu": 0})
    with pytest.raises(ValueError, match=r"ncpu'\] = 5000 is above the 1024 threads"):
        model.forward_run(common_options={"ncpu": 5000})


def test_in_place_edits_of_the_maps_reach_the_next_run(model):
    # The core keeps the maps of the last run and skips copying equal ones: an edit
    # made in place in the user's array must still be seen, and still be checked.
    model.forward_run()
    q_default = model.response.q.copy()
    model.rr_parameters.values[0, :, model.rr_parameters.index("cp")] = 50.0
    model.forward_run()
    fresh = smash.Model(daily_setup(30), line_mesh(4))
    fresh.atmos_data.prcp, fresh.atmos_data.pet = model.atmos_data.prcp, model.atmos_data.pet
    fresh.set_rr_parameters("cp", 50.0)
    fresh.forward_run()
    assert not np.allclose(model.response.q, q_default)
    np.testing.assert_array_equal(model.response.q, fresh.response.q)
    model.rr_initial_states.values[0, 1, model.rr_initial_states.index("hp")] = 2.0
    with pytest.raises(ValueError, match=r"hp must be in \[0, 1\] \(got 2\)"):
        model.forward_run()
