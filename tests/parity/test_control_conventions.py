"""Calibration control conventions against smash 1.3 on Cance (tests/anchor_refs/Cance/control.npz,
made by tools/anchor_refs/make_control.py): control information (names, sizes, x, bounds, transforms)
for every mapping, descriptor transforms, the maps of a given control vector, backward_run gradients,
and short calibrations from smash's defaults (control vector within 1e-3, discharge within 0.1 m3/s,
callback records)."""

import json

import numpy as np
import pytest

import smash

from helpers import ANCHOR_REFS

REFS = ANCHOR_REFS / "Cance"
INFO_INT_KEYS = ("n", "nbk", "nbd")
INFO_FLOAT_KEYS = ("x", "l", "u", "x_raw", "l_raw", "u_raw")
# smash stores the bound 0.999999 of (0, 1) states in float32 (0.99999899): its sbs upper bound
# ln(u / (1 - u)) is then 13.8023 where the exact value is 13.8155 (see docs/calibration.md).
F32_LOGIT_UPPER = float(np.log(np.float32(0.999999) / (1 - np.float32(0.999999))))
EXACT_LOGIT_UPPER = float(np.log(0.999999 / (1 - 0.999999)))


@pytest.fixture(scope="module")
def refs():
    return np.load(REFS / "control.npz"), json.loads((REFS / "control.json").read_text())


@pytest.fixture(scope="module")
def cance(data_dir):
    setup, mesh = smash.factory.load_dataset("Cance", data_dir)
    return setup, mesh


@pytest.fixture(scope="module")
def models(cance):
    setup, mesh = cance
    out = {s: smash.Model(dict(setup, hydrological_module=s), mesh) for s in ("gr4", "gr4_mlp")}
    out["gr4@normalize"] = smash.Model(dict(setup, descriptor_tfm="normalize"), mesh)
    return out


def _assert_info_equal(info, ref, prefix):
    assert sorted(info) == sorted(["n", "nbk", "name", "x", "l", "u", "nbd", "x_raw", "l_raw", "u_raw"])
    assert list(info["name"]) == list(ref[f"{prefix}__name"])
    for key in INFO_INT_KEYS:
        np.testing.assert_array_equal(np.asarray(info[key]), ref[f"{prefix}__{key}"], err_msg=f"{prefix} {key}")
    for key in INFO_FLOAT_KEYS:
        ours, theirs = np.asarray(info[key], dtype=float), ref[f"{prefix}__{key}"].astype(float)
        f32 = np.isclose(theirs, F32_LOGIT_UPPER, atol=1e-4)
        np.testing.assert_allclose(ours[f32], EXACT_LOGIT_UPPER, rtol=1e-12)
        # x: smash's default bkw is 0.6000021 (ours 0.6), 8.8e-6 apart once through the logit.
        tol = 1e-5 if key == "x" else 2e-6
        np.testing.assert_allclose(ours[~f32], theirs[~f32], rtol=tol, atol=tol, err_msg=f"{prefix} {key}")


def test_control_info_equals_smash_for_every_mapping(refs, models):
    ref, meta = refs
    order = models["gr4_mlp"].copy()
    weights, biases = order.get_nn_parameters_weight(), order.get_nn_parameters_bias()
    weights[0], biases[0] = ref["order_weight_1"], ref["order_bias_1"]
    order.set_nn_parameters_weight(weights)
    order.set_nn_parameters_bias(biases)
    for case, c in meta["info_cases"].items():
        model = order if case == "gr4_mlp_order" else models[c["structure"]]
        info = smash.optimize_control_info(model, mapping=c["mapping"], optimizer=c["optimizer"],
                                           optimize_options=c["optimize_options"])
        _assert_info_equal(info, ref, f"info__{case}")
    # Spot checks of the conventions the numbers above encode.
    hybrid = smash.optimize_control_info(models["gr4_mlp"], mapping="multi-linear")
    assert hybrid["n"] == 160 and list(hybrid["nbk"]) == [12, 0, 0, 0, 148, 0]
    assert list(hybrid["name"][12:15]) == ["weight_1-1-1", "weight_1-2-1", "weight_1-3-1"]
    dist = smash.optimize_control_info(models["gr4"], mapping="distributed")
    assert list(dist["name"][:3]) == ["cp-28-1", "cp-16-2", "cp-25-2"]    # column-major, 1-based


def test_sbs_transform_of_every_parameter_and_state(refs, cance):
    ref, _ = refs
    setup, mesh = cance
    for structure in ["gr4", "gr5", "gr6", "grc", "grd", "loieau", "vic3l", "gr4_ri", "gr5_ri", "gr4-kw"]:
        hydro, _, routing = structure.partition("-")
        model = smash.Model(dict(setup, hydrological_module=hydro, routing_module=routing or "lr",
                                 read_descriptor=False), mesh)
        names = [k for k in model.rr_parameters.keys if k != "ci"] + list(model.rr_initial_states.keys)
        info = smash.optimize_control_info(model, optimize_options={"parameters": names})
        _assert_info_equal(info, ref, f"sbs__{structure}")
    # The example: aexc = 0.1 is ln(0.1 / 0.9) in the sbs space.
    gr5 = smash.Model(dict(setup, hydrological_module="gr5", read_descriptor=False), mesh)
    info = smash.optimize_control_info(gr5, optimize_options={"parameters": ["aexc"]})
    assert info["x"][0] == pytest.approx(np.log(0.1 / 0.9), rel=1e-6)


def test_descriptor_transforms_and_mapped_parameters(refs, cance):
    ref, _ = refs
    setup, mesh = cance
    for tfm in ("standardize", "normalize", "keep"):
        model = smash.Model(dict(setup, descriptor_tfm=tfm), mesh)
        assert model.setup.descriptor_tfm == tfm
        for key in ("mean_descriptor", "std_descriptor", "l_descriptor", "u_descriptor"):
            np.testing.assert_allclose(getattr(model.physio_data, key), ref[f"desc__{tfm}__{key}"], rtol=1e-6)
        for mapping in ("multi-linear", "multi-power"):
            m = model.copy()
            x = ref[f"desc__{tfm}__{mapping}__x"].astype(float)
            # smash's float32 x holds exponents 1 as 1/3 in [0.5, 2]: 0.33333334 is 1.00000001 in float64,
            # a non-integer power of negative descriptors; give the exact 1/3.
            x[np.isclose(x, 1 / 3, rtol=0, atol=1e-7)] = 1 / 3
            m.set_control_optimize(x, mapping=mapping)
            for key in ("cp", "ct", "kexc", "llr"):
                np.testing.assert_allclose(m.get_rr_parameters(key), ref[f"desc__{tfm}__{mapping}__{key}"],
                                           rtol=2e-5, atol=2e-5, err_msg=f"{tfm} {mapping} {key}")
    with pytest.raises(ValueError, match="Unknown setup\\['descriptor_tfm'\\]"):
        smash.Model(dict(setup, descriptor_tfm="minmax"), mesh)


def test_backward_run_gradients_equal_smash(refs, models):
    ref, _ = refs
    cases = [("gr4_uniform", "gr4", "uniform", None, None),
             ("gr4_uniform_lbfgsb", "gr4", "uniform", "lbfgsb", None),
             ("gr4_uniform_keep", "gr4", "uniform", "lbfgsb", {"control_tfm": "keep"}),
             ("gr4_distributed", "gr4", "distributed", None, None),
             ("gr4_multi-linear", "gr4", "multi-linear", None, None),
             ("gr4_multi-power", "gr4", "multi-power", None, None),
             ("gr4_mlp_uniform_lbfgsb", "gr4_mlp", "uniform", "lbfgsb", None)]
    for case, structure, mapping, optimizer, options in cases:
        _, ret = smash.backward_run(models[structure], mapping=mapping, optimizer=optimizer,
                                    optimize_options=options, return_options={"grad": True, "cost": True},
                                    common_options={"verbose": False})
        expected = ref[f"bwd__{case}__grad"].astype(float)
        # smash's float32 gradient: 5e-5 of its largest component.
        np.testing.assert_allclose(ret.grad, expected, rtol=0, atol=5e-5 * np.abs(expected).max(), err_msg=case)
        assert ret.cost == pytest.approx(float(ref[f"bwd__{case}__cost"]), rel=1e-5)


CALIBRATIONS = ["gr4_uniform", "gr4_distributed", "gr4_multi-linear", "gr4_multi-power",
                "gr4_mlp_uniform_lbfgsb", "gr4_mlp_multi-linear", "gr4_multi-power_normalize",
                "gr4_distributed_adam", "gr4_distributed_sgd", "gr4_distributed_adagrad", "gr4_distributed_rmsprop",
                "gr4_multi-linear_adam", "gr4_uniform_adam", "gr4_uniform_nelder-mead"]


@pytest.mark.parametrize("case", CALIBRATIONS)
def test_calibration_from_defaults_equals_smash(refs, models, case):
    ref, meta = refs
    c = meta["calibrations"][case]
    records = []
    with pytest.warns(UserWarning, match="undefined maps") if case == "gr4_multi-power" else _no_warning():
        model, ret = smash.optimize(models[c["structure"]], mapping=c["mapping"], optimizer=c["optimizer"],
                                    optimize_options=c["optimize_options"],
                                    callback=lambda iopt: records.append(iopt),
                                    return_options={"control_vector": True, "cost": True, "n_iter": True},
                                    common_options={"verbose": False})
    np.testing.assert_allclose(ret.control_vector, ref[f"cal__{case}__control_vector"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(model.response.q, ref[f"cal__{case}__q"], rtol=0, atol=0.1)
    assert ret.cost == pytest.approx(float(ref[f"cal__{case}__cost"]), rel=1e-4)
    assert ret.n_iter == int(ref[f"cal__{case}__n_iter"])
    # The callback: once per iteration, smash's attributes and values.
    assert [r.n_iter for r in records] == [r["n_iter"] for r in c["callback"]]
    for ours, theirs, x in zip(records, c["callback"], ref[f"cal__{case}__callback_control_vector"], strict=True):
        assert sorted(vars(ours)) == c["callback_keys"]
        assert ours.cost == pytest.approx(theirs["cost"], rel=1e-4)
        np.testing.assert_allclose(ours.control_vector, x, rtol=0, atol=1e-3)
        if theirs.get("projg") is not None:
            assert ours.projg == pytest.approx(theirs["projg"], rel=1e-3)
        elif "projg" in theirs:
            assert ours.projg is None
    # set_control_optimize with the returned vector gives back the calibrated parameters.
    again = models[c["structure"]].copy()
    again.set_control_optimize(ret.control_vector, mapping=c["mapping"], optimizer=c["optimizer"],
                               optimize_options=c["optimize_options"])
    again.forward_run()
    np.testing.assert_allclose(again.response.q, model.response.q, rtol=1e-6, atol=1e-6)


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", UserWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def test_optimize_options_as_smash_reads_them(models):
    model = models["gr4"]
    default = smash.optimize_control_info(model)
    assert list(smash.optimize_control_info(model, optimize_options={"parameters": None})["name"]) == \
        list(default["name"])
    assert list(smash.optimize_control_info(model, optimize_options={"parameters": "cp"})["name"]) == ["cp-0"]
    # Controls follow the model's key order whatever order they are asked in.
    info = smash.optimize_control_info(model, optimize_options={"parameters": ["llr", "hp", "cp"]})
    assert list(info["name"]) == ["cp-0", "llr-0", "hp-0"]
    with pytest.raises(ValueError, match="'ci' .* is not optimizable"):
        smash.optimize_control_info(model, optimize_options={"parameters": ["ci", "cp"]})
    with pytest.raises(ValueError, match="control_tfm 'sbs' goes with the sbs optimizer only"):
        smash.optimize_control_info(model, optimizer="lbfgsb", optimize_options={"control_tfm": "sbs"})
    with pytest.raises(ValueError, match="do not include its current values"):
        smash.optimize_control_info(model, optimize_options={"parameters": ["cp"], "bounds": {"cp": (300, 900)}})
    outside = model.copy()
    outside.set_rr_parameters("cp", 1500.0)     # outside the default bounds: smash refuses too
    with pytest.raises(ValueError, match="do not include its current values"):
        smash.optimize_control_info(outside)
    # Descriptors keep setup['descriptor_name']'s order whatever order they are chosen in.
    info = smash.optimize_control_info(model, mapping="multi-linear",
                                       optimize_options={"parameters": ["cp"], "descriptor": {"cp": ["dd", "slope"]}})
    assert list(info["name"]) == ["cp-0", "cp-slope-a", "cp-dd-a"]
    with pytest.raises(ValueError, match="'iopt' argument"):
        smash.optimize(model, callback=lambda it: None, common_options={"verbose": False})


def test_backward_run_of_the_discharge_equals_smash(refs, models):
    """diff_target="q": the gradient of sum(cotangent * q) over active cells (column-major, as smash
    orders them) and steps, by the generated adjoint."""
    ref, _ = refs
    model = models["gr4"]
    cot = ref["bwd__q_cotangent"]
    for case, mapping, cotangent in (("gr4_uniform_q", "uniform", None), ("gr4_uniform_q_cot", "uniform", cot),
                                     ("gr4_distributed_q_cot", "distributed", cot)):
        _, ret = smash.backward_run(model, diff_target="q", cotangent=cotangent, mapping=mapping,
                                    return_options={"grad": True}, common_options={"verbose": False})
        expected = ref[f"bwd__{case}__grad"].astype(float)
        np.testing.assert_allclose(ret.grad, expected, rtol=0, atol=5e-5 * np.abs(expected).max(), err_msg=case)
    with pytest.raises(ValueError, match="must have shape"):
        smash.backward_run(model, diff_target="q", cotangent=np.ones(3), return_options={"grad": True})
