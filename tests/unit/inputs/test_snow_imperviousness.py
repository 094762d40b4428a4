"""Snow inputs (temperature, snow, rain / snow split) and imperviousness against smash 1.3.

Reference: tests/anchor_refs/Lez/snow_imperviousness.npz, made by
tools/anchor_refs/make_snow_imperviousness.py with hydro-smash 1.3 as a black box, on synthetic
rasters that tools/anchor_refs/snow_imperviousness_inputs.py writes; this test writes the same
files with the same code into a temporary folder.
"""

import json

import numpy as np
import pytest

import smash
from smash.inputs.partitioning import liquid_ratio, partition

from helpers import ANCHOR_REFS, snow_inputs_writer

REF = ANCHOR_REFS / "Lez" / "snow_imperviousness.npz"
HYBRIDS = ("imperv_gr4_mlp", "imperv_gr6_mlp", "imperv_gr4_ude")


@pytest.fixture(scope="module")
def ref():
    return np.load(REF)


@pytest.fixture(scope="module")
def lez(data_dir, tmp_path_factory):
    """(setup, mesh) of Lez on the synthetic period, with the synthetic folders filled in."""
    syn = snow_inputs_writer()
    paths = syn.write_inputs(str(tmp_path_factory.mktemp("snow_imperviousness")))
    setup, mesh = smash.factory.load_dataset("Lez", data_dir)
    setup.update(read_descriptor=False, **syn.period(), **paths)
    return setup, mesh


def _run(lez, ref, case):
    setup, mesh = lez
    changes = json.loads(str(ref["cases_json"]))[case]
    model = smash.Model(dict(setup, **changes), mesh)
    for name, value in json.loads(str(ref["parameters_json"])).get(case, {}).items():
        model.set_rr_parameters(name, value)
    if case in HYBRIDS:
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
        model.set_nn_parameters_bias(initializer="glorot_uniform", random_state=2)
    model.forward_run()
    return model


def _close(got, expected, rtol=1e-4):
    """Within rtol of the value or of the largest value (small discharges of a dry winter)."""
    return np.allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("case", ["temp_only", "partition", "snow_read", "snow_read_partition", "imperv_partition"])
def test_snow_inputs_forward_equals_smash(lez, ref, case):
    model = _run(lez, ref, case)
    assert _close(model.response.q, ref[f"{case}_q"]), np.abs(model.response.q - ref[f"{case}_q"]).max()
    if f"{case}_prcp" in ref:
        active = lez[1]["active_cell"] == 1
        for kind in ("prcp", "snow"):
            got, expected = getattr(model.atmos_data, kind)[active], ref[f"{case}_{kind}"][active]
            assert np.allclose(got, expected, rtol=1e-5, atol=1e-5), kind


@pytest.mark.parametrize("case", ["imperv_gr4", "imperv_gr4_ri", "imperv_gr4_ode", "imperv_gr5", "imperv_gr6",
                                  "imperv_grc", "imperv_grd", "imperv_loieau", "imperv_vic3l", *HYBRIDS])
def test_imperviousness_forward_equals_smash(lez, ref, case):
    model = _run(lez, ref, case)
    assert np.array_equal(model.physio_data.imperviousness, ref["imperviousness"])
    assert _close(model.response.q, ref[f"{case}_q"]), np.abs(model.response.q - ref[f"{case}_q"]).max()


def test_split_follows_the_documented_curve():
    temp = np.array([[-99.0, -5.0, 0.0, 0.4, 2.0, 10.0]])
    prcp = np.array([[4.0, 4.0, 4.0, -99.0, 4.0, 4.0]], dtype=np.float32)
    snow = np.array([[1.0, -99.0, 1.0, 1.0, 0.0, 2.0]], dtype=np.float32)
    rain, solid = partition(prcp, snow, temp)
    ratio = 1 - 1 / (1 + np.exp(2.5 * temp - 1))
    total = np.array([5.0, 4.0, 5.0, 0.0, 4.0, 6.0])
    # Missing temperature: all rain; missing prcp stays missing (the snow read is kept).
    expected_rain = [5.0, *(ratio[0, 1:3] * total[1:3]), -99.0, *(ratio[0, 4:] * total[4:])]
    expected_snow = [0.0, *((1 - ratio[0, 1:3]) * total[1:3]), 1.0, *((1 - ratio[0, 4:]) * total[4:])]
    assert np.allclose(rain[0], expected_rain, rtol=1e-6) and np.allclose(solid[0], expected_snow, rtol=1e-6)
    assert liquid_ratio(np.array([0.4]))[0] == pytest.approx(0.5)   # the curve's midpoint: 2.5 T = 1


def test_assigned_imperviousness_takes_effect_and_is_checked(lez, ref):
    setup, mesh = lez
    model = smash.Model(dict(setup), mesh)
    plain = smash.forward_run(model)
    model.physio_data.imperviousness = ref["imperviousness"].copy()
    model.forward_run()
    assert _close(model.response.q, ref["imperv_gr4_q"])
    # forward_run's copy shares the inputs: the model it came from keeps its own imperviousness.
    assert not np.allclose(plain.response.q, model.response.q)
    model.physio_data.imperviousness[mesh["active_cell"] == 1] = 1.5
    with pytest.raises(ValueError, match=r"imperviousness must be in \[0, 1\]"):
        model.forward_run()


def test_bad_snow_and_imperviousness_settings_are_refused(lez, tmp_path):
    setup, mesh = lez
    with pytest.raises(ValueError, match="read_temp.*needs a snow module"):
        smash.Model(dict(setup, read_temp=True), mesh)
    with pytest.raises(ValueError, match="prcp_partitioning.*read_temp"):
        smash.Model(dict(setup, snow_module="ssn", prcp_partitioning=True), mesh)
    with pytest.raises(ValueError, match="imperviousness_file"):
        smash.Model(dict(setup, read_imperviousness=True, imperviousness_file=None), mesh)
    syn = snow_inputs_writer()
    values = syn.imperviousness()
    row, col = np.argwhere(mesh["active_cell"] == 1)[0]
    values[row, col] = -99.0
    syn._write(str(tmp_path / "bad.tif"), values)
    with pytest.raises(ValueError, match=f"bad.tif has 1 active cell.*row {row}, col {col}"):
        smash.Model(dict(setup, read_imperviousness=True, imperviousness_file=str(tmp_path / "bad.tif")), mesh)
    # smash's spelling of the older key is taken too.
    alias = dict(setup, read_imperviousness=True, imperviousness_directory=setup["imperviousness_file"])
    del alias["imperviousness_file"]
    assert smash.Model(alias, mesh).setup.imperviousness_file == setup["imperviousness_file"]


def test_split_and_imperviousness_survive_sparse_storage_and_model_files(lez, ref, tmp_path):
    setup, mesh = lez
    changes = json.loads(str(ref["cases_json"]))["imperv_partition"]
    sparse = smash.Model(dict(setup, sparse_storage=True, **changes), mesh)
    sparse.forward_run()
    assert _close(sparse.response.q, ref["imperv_partition_q"])
    smash.io.save_model(sparse, tmp_path / "model.hdf5")
    back = smash.io.read_model(tmp_path / "model.hdf5")
    assert back.setup.prcp_partitioning == 1 and back.setup.read_imperviousness == 1
    assert np.array_equal(back.physio_data.imperviousness, sparse.physio_data.imperviousness)
    back.forward_run()
    assert np.array_equal(back.response.q, sparse.response.q)
