"""The Tapenade-generated adjoint: up to date with its sources, and correct.

Correctness is checked two independent ways on every structure:
- dot-product test: <J'(x) d> from the generated tangent must equal
  <grad J, d> from the generated adjoint to round-off (both are exact
  derivatives of the same double-precision program);
- central finite differences of the forward model along d, whose truncation
  error is O(eps^2) and round-off error O(1e-16 * J / eps): at eps = 1e-4
  (relative to a unit-scale direction) both are far below the 1e-5 relative
  tolerance used, unless a branch (min/max) is crossed within +-eps.
"""

import sys

import numpy as np
import pytest

import smash
from smash import _testing
from smash.registry import module_names

from helpers import REPO_ROOT, core_gradient, line_mesh

ROOT = REPO_ROOT
sys.path.insert(0, str(ROOT / "tapenade"))
from sources_hash import STAMP_PREFIX, sources_hash  # noqa: E402


def test_generated_files_match_their_sources():
    expected = sources_hash()
    generated = sorted((ROOT / "fortran" / "generated").glob("*_db.f90"))
    assert generated, "fortran/generated holds no generated adjoint"
    for path in generated:
        stamp = next(ln for ln in path.read_text().splitlines() if ln.startswith(STAMP_PREFIX))
        assert stamp[len(STAMP_PREFIX):] == expected, (
            f"{path.name} was generated from other sources: run `python tapenade/generate.py` "
            "(Tapenade 3.16) after changing anything listed in tapenade/sources.txt"
        )


def _model(hydrological, routing="lr", snow="zero", ncell=5, ndays=60, seed=0):
    setup = {"start_time": "2020-01-01", "end_time": "2020-03-01", "dt": 86400,
             "hydrological_module": hydrological, "routing_module": routing, "snow_module": snow}
    model = smash.Model(setup, line_mesh(ncell))
    rng = np.random.default_rng(seed)
    nt = model.setup.ntime_step
    model.atmos_data.prcp = rng.gamma(0.6, 10.0, size=(1, ncell, nt)).astype(np.float32)
    model.atmos_data.pet = (2.0 + rng.random((1, ncell, nt))).astype(np.float32)
    if snow != "zero":
        model.atmos_data.snow = rng.gamma(0.3, 5.0, size=(1, ncell, nt)).astype(np.float32)
        model.atmos_data.temp = rng.normal(1.0, 4.0, size=(1, ncell, nt)).astype(np.float32)
    # Spatially varying parameters and states strictly inside their bounds.
    for maps, bounds in ((model.rr_parameters, model.get_rr_parameters_bounds()),
                         (model.rr_initial_states, model.get_rr_initial_states_bounds())):
        for i, key in enumerate(maps.keys):
            low, high = bounds[key]
            if key == "llr":
                low, high = 30.0, 200.0
            frac = rng.uniform(0.3, 0.7, size=(1, ncell))
            maps.values[..., i] = low + frac * (high - low)
    model.forward_run()
    q = model.response.q.astype(float)
    model.response_data.q = (q * (1 + 0.3 * rng.standard_normal(q.shape)) + 0.05).clip(0).astype(np.float32)
    return model


def _gradient_and_tangent(model, direction_p, direction_s, direction_n, cost_options=None):
    from smash.analysis.cost_options import build_cost_options

    _, fc = build_cost_options(model, cost_options or {"gauge": "all"})
    _testing.sync_parameters(model)
    cost, grad, fo = core_gradient(model, fc)
    direction = _testing.new_core_parameters(model)
    direction.rr_parameters[...] = direction_p
    direction.rr_initial_states[...] = direction_s
    direction.nn_parameters[...] = direction_n
    cost_t, dcost = _testing.run_tangent(model, fc, direction, fo)
    return (cost, np.array(grad.rr_parameters), np.array(grad.rr_initial_states), np.array(grad.nn_parameters),
            cost_t, dcost, fc, fo)


STRUCTURES = [("zero", hy, "lr") for hy in module_names("hydrological")] + [
    ("zero", "gr4", "lag0"), ("zero", "gr4", "kw"), ("zero", "gr4", "zero"), ("ssn", "gr4", "lr")]


@pytest.mark.parametrize("snow, hydrological, routing", STRUCTURES)
def test_adjoint_dot_product_and_finite_differences(snow, hydrological, routing):
    model = _model(hydrological, routing, snow)
    net = model.network
    rng = np.random.default_rng(1)
    if model.structure.is_hybrid:
        # A net that matters (zero weights would leave the hybrid equal to its parent).
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
        model.set_nn_parameters_bias(initializer="uniform", random_state=4)
        model.set_nn_parameters_bias([0.1 * b for b in model.get_nn_parameters_bias()])
    p0 = model.rr_parameters.values[net.rows, net.cols]
    s0 = model.rr_initial_states.values[net.rows, net.cols]
    # Relative perturbations keep every parameter inside its domain.
    dp = p0 * rng.uniform(-1, 1, size=p0.shape) * 1e-1
    ds = s0 * rng.uniform(-1, 1, size=s0.shape) * 1e-1
    _testing.sync_parameters(model)
    n0 = np.array(_testing.core_parameters(model).nn_parameters)
    dn = rng.uniform(-1, 1, size=n0.shape) * 1e-1 if model.structure.is_hybrid else np.zeros_like(n0)
    cost, gp, gs, gn, cost_t, dcost, fc, fo = _gradient_and_tangent(model, dp, ds, dn)

    model.forward_run(cost_options={"gauge": "all"})
    ret = model.forward_run(cost_options={"gauge": "all"}, return_options={"cost": True})
    assert cost == pytest.approx(ret.cost, rel=1e-12) and cost_t == pytest.approx(ret.cost, rel=1e-12)

    adjoint = float(np.sum(gp * dp) + np.sum(gs * ds) + np.sum(gn * dn))
    assert dcost == pytest.approx(adjoint, rel=1e-10, abs=1e-14)

    def cost_at(eps):
        _testing.core_parameters(model).rr_parameters[...] = p0 + eps * dp
        _testing.core_parameters(model).rr_initial_states[...] = s0 + eps * ds
        _testing.core_parameters(model).nn_parameters[...] = n0 + eps * dn
        _testing.run_forward(model, fc, fo)
        return fo.cost

    eps = 1e-4
    fd = (cost_at(eps) - cost_at(-eps)) / (2 * eps)
    assert fd == pytest.approx(adjoint, rel=1e-5, abs=1e-9)


COST_VARIANTS = [
    {"jobs_cmpt": ["nse", "kge"], "jobs_cmpt_tfm": ["sqrt", "inv"]},
    {"jobs_cmpt": ["mae", "mape", "rmse", "lgrm", "nnse"], "wjobs_cmpt": "median", "end_warmup": "2020-01-20"},
    {"jobs_cmpt": ["mse", "kge"], "jobs_cmpt_tfm": "inv", "wjobs_cmpt": [0.3, 0.7]},
]


@pytest.mark.parametrize("cost_options", COST_VARIANTS, ids=[str(c) for c in COST_VARIANTS])
def test_adjoint_of_cost_variants(cost_options):
    """Transforms, quantile aggregation and warm-up go through the same generated adjoint."""
    model = _model("gr4", "lr")
    net = model.network
    rng = np.random.default_rng(2)
    p0 = model.rr_parameters.values[net.rows, net.cols]
    s0 = model.rr_initial_states.values[net.rows, net.cols]
    dp = p0 * rng.uniform(-1, 1, size=p0.shape) * 1e-1
    ds = s0 * rng.uniform(-1, 1, size=s0.shape) * 1e-1
    _testing.sync_parameters(model)
    n0 = np.array(_testing.core_parameters(model).nn_parameters)
    dn = np.zeros_like(n0)
    cost, gp, gs, _, _, dcost, fc, fo = _gradient_and_tangent(model, dp, ds, dn, cost_options)
    adjoint = float(np.sum(gp * dp) + np.sum(gs * ds))
    assert dcost == pytest.approx(adjoint, rel=1e-10, abs=1e-14)

    def cost_at(eps):
        _testing.core_parameters(model).rr_parameters[...] = p0 + eps * dp
        _testing.core_parameters(model).rr_initial_states[...] = s0 + eps * ds
        _testing.run_forward(model, fc, fo)
        return fo.cost

    fd = (cost_at(1e-4) - cost_at(-1e-4)) / 2e-4
    assert fd == pytest.approx(adjoint, rel=1e-5, abs=1e-9)
