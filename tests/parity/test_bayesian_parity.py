"""bayesian_optimize against smash 1.3 on Cance gr4-lr (tests/anchor_refs/Cance/bayesian.npz, made by
tools/anchor_refs/make_bayesian.py): control information; short calibrations with the default options
(sbs) and every serr_sigma_mapping, and with L-BFGS-B, distributed and multi-linear mappings (control
vector within 1e-3; log_lkh, log_prior, log_h and cost within 1e-4 relative); the log-posterior terms
at smash's result of every case (structural error mean, several gauges, observation uncertainty and
every prior distribution); the defaults and bounds of the structural error parameters, and mu / sigma
of every mapping pair at given parameters.

Six L-BFGS-B cases follow another path than smash's after their first step: their results are compared
through the terms at smash's point here; why they differ, and their common optimum, in
test_bayesian_lbfgsb.py (docs/differences.md)."""

import json

import numpy as np
import pytest

import smash

from helpers import ANCHOR_REFS

REFS = ANCHOR_REFS / "Cance"
INFO_INT_KEYS = ("n", "nbk", "nbd")
INFO_FLOAT_KEYS = ("x", "l", "u", "x_raw", "l_raw", "u_raw")
META = json.loads((REFS / "bayesian.json").read_text()) if (REFS / "bayesian.json").exists() else {"cases": {}}
# L-BFGS-B runs whose path leaves smash's after the first step (see the module docstring).
OTHER_PATH = {"sigma_Constant_lbfgsb", "sigma_Exponential_lbfgsb", "sigma_Gaussian_lbfgsb", "sigma_Power_lbfgsb",
              "mu_Linear_lbfgsb", "mu_Constant_all_prior_u"}
RETURN = {"control_vector": True, "cost": True, "n_iter": True, "log_lkh": True, "log_prior": True, "log_h": True,
          "serr_sigma": True}


@pytest.fixture(scope="module")
def ref():
    return np.load(REFS / "bayesian.npz")


@pytest.fixture(scope="module")
def cance(data_dir):
    return smash.factory.load_dataset("Cance", data_dir)


@pytest.fixture(scope="module")
def base_model(cance):
    setup, mesh = cance
    return smash.Model(setup, mesh)


def _model(cance, base_model, changes, u_share):
    if changes:
        setup, mesh = cance
        model = smash.Model(dict(setup, **changes), mesh)
    else:
        model = base_model.copy()
    if u_share is not None:
        qobs = model.response_data.q
        model.u_response_data.q_stdev = np.where(qobs > 0, u_share * qobs, 0).astype(np.float32)
    return model


def _kwargs(c):
    return {"mapping": c["mapping"], "optimizer": c["optimizer"], "optimize_options": c["optimize_options"],
            "cost_options": c["cost_options"]}


@pytest.mark.parametrize("case", sorted(META["cases"]))
def test_bayesian_control_info_equals_smash(cance, base_model, ref, case):
    """Names, sizes, x, bounds and raw values of the control, in every case (those whose paths differ too)."""
    c = META["cases"][case]
    model = _model(cance, base_model, c["setup"], c["u_share"])
    info = smash.bayesian_optimize_control_info(model, **_kwargs(c))
    assert list(info["name"]) == list(ref[f"{case}__info__name"])
    for key in INFO_INT_KEYS:
        np.testing.assert_array_equal(np.asarray(info[key]), ref[f"{case}__info__{key}"], err_msg=key)
    for key in INFO_FLOAT_KEYS:
        np.testing.assert_allclose(info[key], ref[f"{case}__info__{key}"].astype(float), rtol=1e-5, atol=1e-5,
                                   err_msg=key)


@pytest.mark.parametrize("case", sorted(set(META["cases"]) - OTHER_PATH))
def test_bayesian_optimize_equals_smash(ref, cance, base_model, case):
    c = META["cases"][case]
    model = _model(cance, base_model, c["setup"], c["u_share"])
    kwargs = _kwargs(c)
    new, ret = smash.bayesian_optimize(model, **kwargs, common_options={"verbose": False}, return_options=RETURN)
    np.testing.assert_allclose(ret.control_vector, ref[f"{case}__control_vector"], rtol=0, atol=1e-3)
    for key in ("log_lkh", "log_prior", "cost"):
        assert getattr(ret, key) == pytest.approx(float(ref[f"{case}__{key}"]), rel=1e-4), key
    assert ret.log_h == float(ref[f"{case}__log_h"]) == 0.0
    assert ret.n_iter == int(ref[f"{case}__n_iter"])
    np.testing.assert_allclose(new.serr_sigma_parameters.values, ref[f"{case}__serr_sigma_parameters"],
                               rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(new.response.q, ref[f"{case}__q"], rtol=0, atol=0.05)
    np.testing.assert_allclose(ret.serr_sigma, new.get_serr_sigma(), rtol=1e-12)
    # set_control_bayesian_optimize with the returned vector gives back the estimate.
    again = model.copy()
    again.set_control_bayesian_optimize(ret.control_vector, **kwargs)
    np.testing.assert_allclose(again.serr_sigma_parameters.values, new.serr_sigma_parameters.values, rtol=1e-12)
    np.testing.assert_allclose(again.rr_parameters.values, new.rr_parameters.values, rtol=1e-12)


@pytest.mark.parametrize("case", sorted(META["cases"]))
def test_log_posterior_terms_at_smash_result(ref, cance, base_model, case):
    """log_lkh and log_prior at smash's result: its control vector, and its structural error parameters
    as it holds them (computed in float32 from the vector: 0.5000010 normalized on mg0's (-1e6, 1e6) is
    mg0 = 2.08 to within 0.06 in float32). maxiter=0 evaluates the start point; with multi-linear the
    start is taken from the maps (mapping 'distributed', the same maps)."""
    c = META["cases"][case]
    model = _model(cance, base_model, c["setup"], c["u_share"])
    kwargs = _kwargs(c)
    model.set_control_bayesian_optimize(ref[f"{case}__control_vector"], **kwargs)
    np.testing.assert_allclose(model.serr_sigma_parameters.values, ref[f"{case}__serr_sigma_parameters"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.serr_mu_parameters.values, ref[f"{case}__serr_mu_parameters"], rtol=1e-5,
                               atol=0.1)
    model.serr_mu_parameters.values[...] = ref[f"{case}__serr_mu_parameters"]
    model.serr_sigma_parameters.values[...] = ref[f"{case}__serr_sigma_parameters"]
    if kwargs["mapping"] in ("multi-linear", "multi-power"):
        kwargs["mapping"] = "distributed"
    options = dict(kwargs["optimize_options"], termination_crit={"maxiter": 0})
    _, ret = smash.bayesian_optimize(model, **dict(kwargs, optimize_options=options),
                                     common_options={"verbose": False}, return_options=RETURN)
    assert ret.log_lkh == pytest.approx(float(ref[f"{case}__log_lkh"]), rel=1e-4)
    priors = (c["cost_options"] or {}).get("control_prior")
    if not priors:
        assert ret.log_prior == float(ref[f"{case}__log_prior"]) == 0.0
        assert ret.cost == pytest.approx(float(ref[f"{case}__cost"]), rel=1e-4)
        return
    # smash 1.3 ignores the control names of control_prior: its k-th prior goes to the k-th control
    # (measured: here the LogNormal given for llr-0 is applied to ct-0), for the rr parameters only.
    # Ours applies each prior to the control it names, as smash documents; both checked independently.
    from scipy import stats

    names = list(ref[f"{case}__info__name"])
    raw = ref[f"{case}__info__l_raw"] + ref[f"{case}__control_vector"] * (
        ref[f"{case}__info__u_raw"] - ref[f"{case}__info__l_raw"])
    density = {"Gaussian": lambda v, p: stats.norm.logpdf(v, p[0], p[1]),
               "LogNormal": lambda v, p: stats.lognorm.logpdf(v, p[1], scale=np.exp(p[0])),
               "Exponential": lambda v, p: stats.expon.logpdf(v, p[0], p[1]),
               "Uniform": lambda v, p: stats.uniform.logpdf(v, p[0], p[1] - p[0]),
               "Triangle": lambda v, p: stats.triang.logpdf(v, (p[0] - p[1]) / (p[2] - p[1]), p[1], p[2] - p[1])}
    by_name = sum(density[d](raw[names.index(k)], p) for k, (d, p) in priors.items())
    assert ret.log_prior == pytest.approx(by_name, rel=1e-6)
    n_rr = int(ref[f"{case}__info__nbk"][0])
    by_position = sum(density[d](raw[i], p) for i, (d, p) in enumerate(priors.values()) if i < n_rr)
    assert float(ref[f"{case}__log_prior"]) == pytest.approx(by_position, rel=1e-4)
    assert abs(by_name - by_position) > 1


def test_defaults_and_bounds_equal_smash(cance, base_model):
    setup, mesh = cance
    for pair, d in META.get("defaults", {}).items():
        mu, sigma = pair.split("-")
        model = smash.Model(dict(setup, serr_mu_mapping=mu, serr_sigma_mapping=sigma), mesh)
        options = smash.default_bayesian_optimize_options(model, mapping="distributed")
        assert options["parameters"] == d["options"]["parameters"]
        assert {k: list(v) for k, v in options["bounds"].items()} == {k: list(v) for k, v in
                                                                      d["options"]["bounds"].items()}
        assert {k: list(v) for k, v in model.get_serr_mu_parameters_bounds().items()} == \
            {k: list(v) for k, v in d["mu_bounds"].items()}
        assert {k: list(v) for k, v in model.get_serr_sigma_parameters_bounds().items()} == \
            {k: list(v) for k, v in d["sigma_bounds"].items()}
        np.testing.assert_allclose(model.serr_sigma_parameters.values, np.array(d["sigma_values"]), rtol=1e-6)
        np.testing.assert_allclose(model.serr_mu_parameters.values.reshape(-1),
                                   np.array(d["mu_values"], dtype=float).reshape(-1))


def test_serr_moments_equal_smash(ref, base_model):
    pairs = sorted({k.split("__")[1] for k in ref.files if k.startswith("moments__")})
    assert len(pairs) == 15
    for pair in pairs:
        mu, sigma = pair.split("-")
        model = base_model.copy()
        model.setup.serr_mu_mapping, model.setup.serr_sigma_mapping = mu, sigma
        smash.bayesian.serr.init_serr(model)
        model.serr_mu_parameters.values[...] = ref[f"moments__{pair}__mu_parameters"]
        model.serr_sigma_parameters.values[...] = ref[f"moments__{pair}__sigma_parameters"]
        model.response.q = ref[f"moments__{pair}__q"]
        # smash computes them in float32: agreement to its precision.
        np.testing.assert_allclose(model.get_serr_mu(), ref[f"moments__{pair}__mu"], rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(model.get_serr_sigma(), ref[f"moments__{pair}__sigma"], rtol=2e-6, atol=1e-6)
