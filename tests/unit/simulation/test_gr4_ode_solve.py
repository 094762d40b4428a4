"""gr4_ode's implicit Euler step against an independent solve.

The core solves the production level in closed form (a quadratic) and the transfer level by
Newton's method whose last step alone is differentiated (fortran/operators/gr_ode.f90). Here
each step of each cell is solved again with a bracketing root finder (scipy's brentq) on the
equations as smash documents them: the stores must agree to rounding (1e-12), the runoff to
the single precision it is reported in. The cells
include a transfer store driven to its bound (the level is clamped to 1) and stores near empty.
"""

import numpy as np
from scipy.optimize import brentq

import smash

from helpers import daily_setup, line_mesh

NCELL = 4
NDAYS = 40


def _model():
    model = smash.Model(daily_setup(NDAYS, hydrological_module="gr4_ode", routing_module="zero"), line_mesh(NCELL))
    nt = model.setup.ntime_step
    rng = np.random.default_rng(7)
    prcp = rng.gamma(0.5, 12.0, size=(1, NCELL, nt))
    prcp[0, 3, 5:15] = 120.0  # floods the small transfer store of cell 3 up to its bound
    model.atmos_data.prcp = prcp.astype(np.float32)
    model.atmos_data.pet = (1.0 + 3.0 * rng.random((1, NCELL, nt))).astype(np.float32)
    values = {"ci": [1.0, 2.0, 0.5, 1.5], "cp": [200.0, 50.0, 800.0, 150.0], "ct": [100.0, 30.0, 400.0, 5.0],
              "kexc": [-2.0, 1.5, 0.0, 3.0]}
    for i, key in enumerate(model.rr_parameters.keys):
        model.rr_parameters.values[0, :, i] = values[str(key)]
    states = {"hi": [0.2, 0.9, 0.01, 0.5], "hp": [0.3, 0.95, 0.001, 0.6], "ht": [0.4, 0.02, 0.9, 0.99]}
    for i, key in enumerate(model.rr_initial_states.keys):
        model.rr_initial_states.values[0, :, i] = states[str(key)]
    return model


def _production(x, hp0, pn, en, cp):
    return cp * (x - hp0) - ((1 - x * x) * pn - x * (2 - x) * en)


def _transfer(y, ht0, x, pn, ct, kexc):
    return ct * (y - ht0) - (0.9 * x * x * pn + kexc * y**3.5 - 0.25 * ct * y**5)


def _reference(prcp, pet, ci, cp, ct, kexc, hi, hp, ht):
    """Per step: hp, ht and qt of one cell, each implicit equation solved by bracketing on [0, 1]."""
    out = np.zeros((len(prcp), 3))
    for t, (p, e) in enumerate(zip(prcp, pet, strict=True)):
        ei = min(e, p + hi * ci)
        pn = max(0.0, p - ci * (1.0 - hi) - ei)
        en = e - ei
        hi += (p - ei - pn) / ci
        hp = brentq(_production, 0.0, 1.0, args=(hp, pn, en, cp), xtol=1e-15, rtol=1e-15)
        # Past the bound the level is clamped, as in smash 1.3.
        args = (ht, hp, pn, ct, kexc)
        ht = 1.0 if _transfer(1.0, *args) < 0 else brentq(_transfer, 0.0, 1.0, args=args, xtol=1e-15, rtol=1e-15)
        out[t] = hp, ht, 0.1 * hp * hp * pn + kexc * ht**3.5 + 0.25 * ct * ht**5
    return out


def test_gr4_ode_step_is_the_implicit_euler_solution():
    model = _model()
    ret = model.forward_run(return_options={"rr_states": True, "internal_fluxes": True, "time_step": "all"})
    keys = [str(k) for k in model.rr_initial_states.keys]
    got_states = np.array([s.values[0] for s in ret.rr_states])  # (nt, ncell, nstates)
    # The runoff is reported in m3/s (mm over the cell during dt) and single precision.
    to_discharge = 1e-3 * model.mesh.dx[0] * model.mesh.dy[0] / model.setup.dt
    got_qt = np.asarray(ret.internal_fluxes["qt"], dtype=float)[0] / to_discharge[:, None]  # (ncell, nt)
    params = {str(k): model.rr_parameters.values[0, :, i] for i, k in enumerate(model.rr_parameters.keys)}
    init = {k: model.rr_initial_states.values[0, :, i] for i, k in enumerate(keys)}
    prcp = np.asarray(model.atmos_data.prcp, dtype=float)[0]
    pet = np.asarray(model.atmos_data.pet, dtype=float)[0]
    clamped = 0
    for c in range(NCELL):
        ref = _reference(prcp[c], pet[c], *(params[k][c] for k in ("ci", "cp", "ct", "kexc")),
                         *(init[k][c] for k in ("hi", "hp", "ht")))
        clamped += int(np.sum(ref[:, 1] == 1.0))
        np.testing.assert_allclose(got_states[:, c, keys.index("hp")], ref[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got_states[:, c, keys.index("ht")], ref[:, 1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got_qt[c], ref[:, 2], rtol=2e-7, atol=1e-9)
    assert clamped > 0, "no step reached the transfer store's bound: the case lost its purpose"

