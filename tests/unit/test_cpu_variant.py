"""The CPU variants of the compiled core (smash._cpu_variant): which one is chosen, the errors of
SMASH_CPU_VARIANT, and that the x86-64-v3 variant computes what the baseline computes.

The variant is built without fused multiply-adds (-ffp-contract=off, meson.build): its wider
vectors do the same operations in the same order (gfortran does not reorder sums without
-ffast-math), so its results should be the baseline's bit for bit but where libmvec's 4-wide exp
(another implementation than its 2-wide one) rounds an entry differently. Measured on Lez and Cance
for the structures below (nets with non-zero weights): discharge and cost identical, gradients
identical but one entry of one case, 1 ulp apart (4e-17 of the largest entry). The bounds allow a
few ulps of such differences and no more: with fused multiply-adds (contracted, x86-64-v3's
default) the gradients moved by up to 5e-14 of their largest entry and the cost by 7e-16, which
these bounds reject.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from smash import _cpu_variant

V3_FLAGS = frozenset(_cpu_variant.V3_CPUINFO_FLAGS)
# A Sandy Bridge (2011) lists AVX but none of what x86-64-v3 adds to it.
V3_OVER_AVX = {"avx2", "bmi1", "bmi2", "fma", "f16c", "abm", "movbe"}
SANDY_BRIDGE = (V3_FLAGS - V3_OVER_AVX) | {"fpu", "sse", "sse2"}
BUILT = _cpu_variant.built_variants()
V3_RUNS_HERE = "x86-64-v3" in BUILT and not _cpu_variant.missing_for_v3()

# One float32 ulp: a double that changes in its last bits may round to the neighbouring float32.
DISCHARGE_RTOL = 2.0**-23
COST_RTOL = 5e-16  # 2 ulps
GRADIENT_RTOL = 1e-15  # of the largest entry
# gr6: its exponential store runs libmvec's vector exp and log (md_gr_structures::gr6_exponential_cells).
CASES = (("gr4", "lr"), ("vic3l", "kw"), ("gr4_mlp", "lr"), ("gr6", "lr"), ("gr6_mlp", "lr"), ("gr4_ri_mlp_exc", "lr"))


def test_the_cpuinfo_flags_of_the_first_processor_are_read(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu " + " ".join(sorted(V3_FLAGS))
                       + " avx512f\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert _cpu_variant.linux_cpu_flags(str(cpuinfo)) == V3_FLAGS | {"fpu", "avx512f"}
    assert _cpu_variant.linux_cpu_flags(str(tmp_path / "absent")) is None


def test_every_v3_feature_is_needed():
    assert _cpu_variant.missing_from_cpuinfo(V3_FLAGS | {"avx512f"}) == []
    assert _cpu_variant.missing_from_cpuinfo(SANDY_BRIDGE) == sorted(V3_OVER_AVX)
    for flag in V3_FLAGS:
        assert _cpu_variant.missing_from_cpuinfo(V3_FLAGS - {flag}) == [flag]
    every = dict.fromkeys(_cpu_variant.V3_NUMPY_FEATURES, True)
    assert _cpu_variant.missing_from_numpy(every) == []
    assert _cpu_variant.missing_from_numpy(dict(every, FMA3=False)) == ["FMA3"]
    # an older numpy that does not detect BMI2 or MOVBE: counted missing, the baseline then
    older = {name: True for name in every if name not in ("BMI2", "MOVBE")}
    assert _cpu_variant.missing_from_numpy(older) == ["BMI2", "MOVBE"]


def test_this_machine_is_judged_by_its_cpuinfo_where_linux_has_one(monkeypatch):
    monkeypatch.setattr(_cpu_variant.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(_cpu_variant, "linux_cpu_flags", lambda: SANDY_BRIDGE)
    monkeypatch.setattr(_cpu_variant, "numpy_cpu_features", lambda: dict.fromkeys(_cpu_variant.V3_NUMPY_FEATURES, True))
    assert _cpu_variant.missing_for_v3() == sorted(V3_OVER_AVX)
    monkeypatch.setattr(_cpu_variant, "linux_cpu_flags", lambda: None)  # macOS, Windows: numpy's detection
    assert _cpu_variant.missing_for_v3() == []
    monkeypatch.setattr(_cpu_variant.platform, "machine", lambda: "aarch64")
    assert _cpu_variant.missing_for_v3() == ["an x86_64 processor (this one: aarch64)"]


def test_the_choice():
    both, baseline_only = ["baseline", "x86-64-v3"], ["baseline"]
    assert _cpu_variant.choose(None, both, [])[0] == "x86-64-v3"
    assert _cpu_variant.choose(" Auto ", both, [])[0] == "x86-64-v3"
    assert _cpu_variant.choose("", both, ["avx2"]) == ("baseline", "the CPU lacks avx2 for x86-64-v3")
    assert _cpu_variant.choose(None, baseline_only, []) == ("baseline", "no x86-64-v3 variant built")
    assert _cpu_variant.choose("baseline", both, []) == ("baseline", "forced by SMASH_CPU_VARIANT")
    assert _cpu_variant.choose("x86-64-v3", both, []) == ("x86-64-v3", "forced by SMASH_CPU_VARIANT")


def test_a_forced_variant_that_cannot_run_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"SMASH_CPU_VARIANT='avx9' is not a CPU variant.*baseline, x86-64-v3"):
        _cpu_variant.choose("avx9", ["baseline", "x86-64-v3"], [])
    with pytest.raises(RuntimeError, match="SMASH_CPU_VARIANT=x86-64-v3: this installation of smash has no"):
        _cpu_variant.choose("x86-64-v3", ["baseline"], [])
    with pytest.raises(RuntimeError, match="SMASH_CPU_VARIANT=x86-64-v3: this CPU lacks avx2, fma"):
        _cpu_variant.choose("x86-64-v3", ["baseline", "x86-64-v3"], ["avx2", "fma"])


def _python(code: str, variant: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != _cpu_variant.ENVIRONMENT}
    if variant is not None:
        env[_cpu_variant.ENVIRONMENT] = variant
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(__file__))


def test_the_environment_variable_at_import():
    shown = ("import smash; c = smash.show_config(display=False); "
             "print(c['cpu_variant'], smash.fcore._fcore.__spec__.name)")
    assert _python(shown, "baseline").stdout.split() == ["baseline", "smash._fcore"]
    unknown = _python("import smash", "avx9")
    assert unknown.returncode != 0
    assert "SMASH_CPU_VARIANT='avx9' is not a CPU variant of smash" in unknown.stderr.strip().splitlines()[-1]
    automatic = _python(shown, None).stdout.split()
    assert automatic == (["x86-64-v3", "smash._fcore_v3"] if V3_RUNS_HERE else ["baseline", "smash._fcore"])
    if not V3_RUNS_HERE:
        forced = _python("import smash", "x86-64-v3")
        assert forced.returncode != 0 and "SMASH_CPU_VARIANT=x86-64-v3: this" in forced.stderr


RUN_CASES = """
import sys
import numpy as np
import smash
data_dir, out, cases = sys.argv[1], sys.argv[2], [case.split("-") for case in sys.argv[3].split(",")]
options = {"ncpu": 1, "verbose": False}
arrays = {}
for dataset in ("Lez", "Cance"):
    setup, mesh = smash.factory.load_dataset(dataset, path=data_dir)
    for hydro, routing in cases:
        model = smash.Model(dict(setup, hydrological_module=hydro, routing_module=routing), mesh)
        if "mlp" in hydro:  # a net that matters: non-zero weights and biases
            model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
            model.set_nn_parameters_bias(initializer="uniform", random_state=4)
            model.set_nn_parameters_bias([0.1 * b for b in model.get_nn_parameters_bias()])
        model.forward_run(common_options=options)
        _, result = smash.backward_run(model, mapping="distributed", return_options={"cost": True, "grad": True},
                                       common_options=options)
        key = f"{dataset}-{hydro}-{routing}"
        arrays[key + ":q"], arrays[key + ":cost"], arrays[key + ":grad"] = model.response.q, result.cost, result.grad
np.savez(out, variant=smash.show_config(display=False)["cpu_variant"], **arrays)
"""


@pytest.mark.skipif(not V3_RUNS_HERE, reason="the x86-64-v3 variant is not built or this CPU cannot run it")
def test_both_variants_give_the_same_discharge_cost_and_gradient(data_dir, tmp_path):
    runs = {}
    for variant in ("baseline", "x86-64-v3"):
        out = tmp_path / f"{variant}.npz"
        done = _python(RUN_CASES, variant, str(data_dir), str(out), ",".join("-".join(c) for c in CASES))
        assert done.returncode == 0, done.stderr
        runs[variant] = np.load(out)
        assert str(runs[variant]["variant"]) == variant
    base, v3 = runs["baseline"], runs["x86-64-v3"]
    assert len(base.files) == 1 + 3 * 2 * len(CASES)
    for key in base.files:
        if key == "variant":
            continue
        expected, got = base[key].astype(np.float64), v3[key].astype(np.float64)
        assert got.shape == expected.shape, key
        if key.endswith(":q"):
            np.testing.assert_allclose(got, expected, rtol=DISCHARGE_RTOL, atol=1e-30, err_msg=key)
        elif key.endswith(":cost"):
            assert abs(got - expected) <= COST_RTOL * abs(expected), key
        else:
            assert np.abs(expected).max() > 0, key
            assert np.abs(got - expected).max() <= GRADIENT_RTOL * np.abs(expected).max(), key


def test_waiting_threads_sleep_unless_the_user_chose():
    """The core's OpenMP runtime reads OMP_WAIT_POLICY when it loads: passive as smash sets it (a spinning
    thread would hold a core the streamed forcings' reader needs), or what the user set before; checked in
    libgomp's own report of its settings (OMP_DISPLAY_ENV)."""
    code = "import smash; print(smash.show_config(display=False)['omp_wait_policy'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, expected in ((None, "PASSIVE"), ("active", "ACTIVE")):
        run_env = dict(env, OMP_DISPLAY_ENV="true", **({"OMP_WAIT_POLICY": given} if given else {}))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=run_env,
                              cwd=os.path.dirname(__file__))
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [given or "passive"]
        assert f"OMP_WAIT_POLICY = '{expected}'" in done.stderr
