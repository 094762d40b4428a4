"""Steps with missing rainfall: a cell releases again the routing-store outflows of its last
computed step, every other flux is zero (smash 1.3's rule; gr6's exponential store keeps
draining). The carried outflows live in the
core between steps whether or not fluxes are saved, so the checks save fluxes at one step only."""

import numpy as np
import pytest

import smash

from helpers import daily_setup, line_mesh

# structure -> (carried outflows, factor parameter of qt or None)
CARRIED = {
    "gr4": (["qr"], None),
    "gr5": (["qr"], None),
    "gr6": (["qr"], None),
    "grc": (["qr", "ql"], None),
    "grd": (["qr"], None),
    "loieau": (["qr"], "kb"),
}
MISSING = (12, 13)   # two consecutive steps without rainfall (0-based)


def _model(module):
    model = smash.Model(daily_setup(30, hydrological_module=module), line_mesh(4))
    rng = np.random.default_rng(5)
    prcp = rng.gamma(0.6, 10.0, size=(1, 4, 30)).astype(np.float32)
    prcp[..., list(MISSING)] = -99.0
    model.atmos_data.prcp = prcp
    model.atmos_data.pet = np.full((1, 4, 30), 1.5, dtype=np.float32)
    return model


def _fluxes_at(model, step):
    when = str(np.datetime64("2020-01-02") + np.timedelta64(step, "D")) + " 00:00"
    ret = model.forward_run(return_options={"internal_fluxes": True, "time_step": [when]})
    return {name: values[..., 0] for name, values in ret.internal_fluxes.items()}, model.response.q.copy()


@pytest.mark.parametrize("module", sorted(CARRIED))
def test_missing_rainfall_releases_the_last_outflows(module):
    carried, factor = CARRIED[module]
    model = _model(module)
    model.forward_run()
    q_plain = model.response.q.copy()
    before, q_before = _fluxes_at(model, MISSING[0] - 1)
    for step in MISSING:
        during, q_during = _fluxes_at(model, step)
        # saving fluxes at one step or another never changes the discharge
        assert np.array_equal(q_during, q_plain) and np.array_equal(q_before, q_plain)
        scale = model.get_rr_parameters(factor) if factor else 1.0
        for name, values in during.items():
            if name == "qup":   # the routing's upstream inflow, not a flux of the cell
                continue
            if name in carried:
                assert np.array_equal(values, before[name]), name
            elif name == "qt":
                # fluxes come back in float32: the sum agrees to its rounding; qt is the cell's
                # discharge (m3/s), the others depths (mm over the 1 km2 cell per daily step)
                drained = during["qe"] if module == "gr6" else 0.0
                mm = scale * sum(before[c] for c in carried) + drained
                np.testing.assert_allclose(values, mm * 1e-3 * 1e6 / 86400.0, rtol=1e-6)
            elif name == "qe":
                assert np.all(values > 0)
            else:
                assert np.all(values == 0.0), name
        assert np.all(before["qt"] > 0)
