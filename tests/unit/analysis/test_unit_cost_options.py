"""Cost options on their own: defaults, validation errors naming the key, gauge selection and weights, the
end of the warm-up, event segmentation options. Costs are checked against numpy computations of the
metrics from the simulated and observed discharge of the synthetic catchment."""

import numpy as np
import pandas as pd
import pytest

import smash
from smash.analysis.cost_options import DEFAULT_COST_OPTIONS, build_cost_options

QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("synthetic")
    model = smash.Model(dict(setup, end_time="2020-06-01 00:00"), mesh)
    # Away from the parameters that made the observations, so every cost is clearly positive.
    model.set_rr_parameters("cp", 300.0)
    model.set_rr_parameters("ct", 120.0)
    model.forward_run(common_options=QUIET)
    return model


def _cost(model, **cost_options):
    return model.copy().forward_run(cost_options=cost_options, return_options={"cost": True},
                                    common_options=QUIET).cost


def _series(model, g, first=0):
    sim = np.asarray(model.response.q[g, first:], dtype=np.float64)
    obs = np.asarray(model.response_data.q[g, first:], dtype=np.float64)
    observed = obs >= 0
    return sim[observed], obs[observed]


def _one_minus_nse(model, g, first=0):
    sim, obs = _series(model, g, first)
    return np.sum((sim - obs) ** 2) / np.sum((obs - obs.mean()) ** 2)


def _one_minus_kge(model, g, first=0):
    sim, obs = _series(model, g, first)
    r = np.corrcoef(sim, obs)[0, 1]
    return np.sqrt((r - 1) ** 2 + (sim.std() / obs.std() - 1) ** 2 + (sim.mean() / obs.mean() - 1) ** 2)


def _most_downstream(model):
    rows, cols = np.asarray(model.mesh.gauge_pos).T
    distance = np.asarray(model.mesh.flwdst)[rows, cols]
    return np.flatnonzero(distance == distance.min())


def test_defaults_resolve_to_nse_on_the_most_downstream_gauge(model):
    opts, _ = build_cost_options(model, None)
    assert opts["jobs_cmpt"] == ["nse"] and opts["jobs_cmpt_tfm"] == ["keep"]
    np.testing.assert_array_equal(opts["wjobs_cmpt"], [1.0])
    assert opts["gauge"] == DEFAULT_COST_OPTIONS["gauge"] == "dws"
    assert opts["end_warmup"] == 0 and opts["event_seg"] is None
    downstream = _most_downstream(model)
    assert downstream.tolist() == [0]
    expected = np.mean([_one_minus_nse(model, g) for g in downstream])
    assert _cost(model) == pytest.approx(expected, rel=1e-5)


def test_gauge_selection_and_weights(model):
    nse = np.array([_one_minus_nse(model, g) for g in range(model.mesh.ng)])
    assert len(set(np.round(nse, 6))) == model.mesh.ng   # distinct per gauge, so a wrong pick shows
    codes = [str(c) for c in model.mesh.code]
    assert _cost(model, gauge="all") == pytest.approx(nse.mean(), rel=1e-5)
    weights = [0.5, 0.3, 0.2]
    assert _cost(model, gauge="all", wgauge=weights) == pytest.approx(nse @ weights, rel=1e-5)
    assert _cost(model, gauge=codes[2]) == pytest.approx(nse[2], rel=1e-5)
    assert _cost(model, gauge=[codes[2], codes[1]], wgauge=[0.25, 0.75]) == pytest.approx(
        0.25 * nse[2] + 0.75 * nse[1], rel=1e-5)
    assert _cost(model, gauge="all", wgauge="median") == pytest.approx(np.median(nse), rel=1e-5)


def test_weighted_metrics(model):
    expected = 0.3 * _one_minus_nse(model, 0) + 0.7 * _one_minus_kge(model, 0)
    assert _cost(model, jobs_cmpt=["nse", "kge"], wjobs_cmpt=[0.3, 0.7]) == pytest.approx(expected, rel=1e-5)
    opts, _ = build_cost_options(model, {"jobs_cmpt": ["nse", "kge"], "jobs_cmpt_tfm": "sqrt"})
    assert opts["jobs_cmpt_tfm"] == ["sqrt", "sqrt"]
    np.testing.assert_array_equal(opts["wjobs_cmpt"], [0.5, 0.5])


@pytest.mark.parametrize("when,step", [("2020-01-01 00:00", 0), ("2020-01-15 00:00", 14),
                                       ("2020-03-01 00:00", 60)])
def test_end_warmup_is_the_first_scored_step(model, when, step):
    opts, _ = build_cost_options(model, {"end_warmup": when})
    expected_step = int((pd.Timestamp(when) - pd.Timestamp(model.setup.start_time)) / pd.Timedelta(
        seconds=float(model.setup.dt)))
    assert opts["end_warmup"] == expected_step == step
    assert _cost(model, end_warmup=when) == pytest.approx(_one_minus_nse(model, 0, step), rel=1e-5)


@pytest.mark.parametrize("when", ["2019-12-31 00:00", "2020-06-02 00:00"])
def test_end_warmup_outside_the_period_is_an_error(model, when):
    with pytest.raises(ValueError, match="end_warmup"):
        build_cost_options(model, {"end_warmup": when})


def test_event_seg_options_choose_the_events_scored(model):
    """Epf scores each flood event's peak: the mean over the events smash.hydrograph_segmentation finds
    with the same options of (peak_sim / peak_obs - 1)^2, averaged over the gauges."""
    start, dt = pd.Timestamp(model.setup.start_time), pd.Timedelta(seconds=float(model.setup.dt))
    sim, obs = (np.asarray(q, dtype=np.float64) for q in (model.response.q, model.response_data.q))
    costs = []
    for peak_quant in (0.99, 0.9):
        events = smash.hydrograph_segmentation(model, peak_quant=peak_quant)
        per_gauge = []
        for g, code in enumerate(model.mesh.code):
            terms = []
            for _, event in events[events.code == code].iterrows():
                first, last = int((event.start - start) / dt), int((event.end - start) / dt)
                terms.append((sim[g, first:last + 1].max() / obs[g, first:last + 1].max() - 1) ** 2)
            per_gauge.append(np.mean(terms))
        cost = _cost(model, jobs_cmpt="Epf", gauge="all", event_seg={"peak_quant": peak_quant})
        assert cost == pytest.approx(np.mean(per_gauge), rel=1e-6)
        costs.append(cost)
    assert costs[0] != pytest.approx(costs[1], rel=1e-3)   # the option matters


@pytest.mark.parametrize("options,error,words", [
    ({"jobs": "nse"}, ValueError, ["'jobs'"]),
    ({"jreg_cmpt": "prior"}, ValueError, ["jreg_cmpt", "regularization"]),
    ({"jobs_cmpt": "nsee"}, ValueError, ["jobs_cmpt", "nsee"]),
    ({"jobs_cmpt": ["nse", "kge"], "wjobs_cmpt": [1.0]}, ValueError, ["wjobs_cmpt", "1 values", "2"]),
    ({"jobs_cmpt": ["nse", "kge"], "wjobs_cmpt": [1.0, -1.0]}, ValueError, ["wjobs_cmpt", "non-negative"]),
    ({"wjobs_cmpt": "max"}, ValueError, ["wjobs_cmpt", "'max'"]),
    ({"jobs_cmpt_tfm": "log"}, ValueError, ["jobs_cmpt_tfm", "log"]),
    ({"jobs_cmpt": ["nse", "kge"], "jobs_cmpt_tfm": ["keep", "sqrt", "inv"]}, ValueError, ["jobs_cmpt_tfm"]),
    ({"jobs_cmpt": "Crc", "jobs_cmpt_tfm": "sqrt"}, ValueError, ["jobs_cmpt_tfm", "Crc"]),
    ({"gauge": "NOPE"}, ValueError, ["NOPE"]),
    ({"gauge": "all", "wgauge": [1.0, 1.0]}, ValueError, ["wgauge", "3"]),
    ({"gauge": "all", "wgauge": [1.0, np.nan, 1.0]}, ValueError, ["wgauge", "finite"]),
    ({"end_warmup": "not a date"}, ValueError, ["end_warmup"]),
    ({"event_seg": 0.9}, ValueError, ["event_seg"]),
    ({"event_seg": {"peak_qant": 0.9}}, ValueError, ["event_seg", "'peak_qant'"]),
    ({"event_seg": {"peak_quant": 1.5}}, ValueError, ["peak_quant", "1.5"]),
    ({"event_seg": {"by": "sim"}}, ValueError, ["event_seg", "'by'"]),
])
def test_bad_cost_options_are_errors_naming_the_key(model, options, error, words):
    with pytest.raises(error) as raised:
        build_cost_options(model, options)
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))
