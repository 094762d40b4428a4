"""Shared fixtures: data locations, reference folders and cached models."""

import inspect
import os
import re
import sys
import types
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _folder(env: str, what: str) -> Path | None:
    value = os.environ.get(env)
    path = Path(value) if value else None
    if path is not None and path.is_dir():
        return path
    if IN_CI:
        # CI always has the shared folders beside the clone: never skip there.
        raise RuntimeError(f"{env} must point to the {what} folder in CI (got {value!r})")
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _folder("SMASH_DATA_DIR", "datasets")
    if path is None:
        pytest.skip("SMASH_DATA_DIR is not set to the datasets folder (Lez, Cance, France)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = _folder("SMASH_REFERENCE_DIR", "smash 1.3 reference outputs")
    if path is None:
        pytest.skip("SMASH_REFERENCE_DIR is not set to the smash 1.3 reference folder (shared/reference)")
    return path


@pytest.fixture(scope="session")
def tutorials_dir() -> Path:
    path = _folder("SMASH_TUTORIALS_DIR", "tutorial scripts (shared/seeds)")
    if path is None:
        pytest.skip("SMASH_TUTORIALS_DIR is not set to the folder of the tutorial scripts (shared/seeds)")
    return path


# ------------------------------------------------------------------ markers
# `pytest -m "not slow and not data"` runs the fast layer alone (docs/development.md). The markers are
# derived here from what a test uses, so test files need no decorations:
# - data: needs the shared folders (fixtures data_dir, reference_dir, tutorials_dir);
# - parity: compares with smash 1.3 numbers (the reference_dir outputs, tests/anchor_refs/, or numbers
#   in the test named for it);
# - slow: took more than 5 s in one of two runs on the shared 2-core machine (`--durations=30`), listed
#   below as `file::test` (every parametrization) or `file::test[id]`.
DATA_FIXTURES = ("data_dir", "reference_dir", "tutorials_dir")
SLOW_TESTS = {
    "test_cpu_variant.py::test_both_variants_give_the_same_discharge_cost_and_gradient",
    "test_batch_cli.py::test_lez_cance_study_through_batch_equals_the_python_api_study",
    "test_tutorials.py::test_hybrid_process_parameterization_tutorial",
    "test_tutorials.py::test_advanced_learnable_regionalization_tutorial",
    "test_parallel.py::test_two_threads_reproduce_the_gradient_exactly",
    "test_reference.py::test_france_forcings_ci_and_discharge_close_to_smash_13",
    "test_reference.py::test_france_sample_matches_smash_13",
    "test_control_conventions.py::test_sbs_transform_of_every_parameter_and_state",
    "test_control_conventions.py::test_calibration_from_defaults_equals_smash[gr4_mlp_multi-linear]",
    "test_control_conventions.py::test_calibration_from_defaults_equals_smash[gr4_mlp_uniform_lbfgsb]",
    "test_sparse_storage.py::test_sparse_and_dense_are_identical_on_cance_with_gradients",
    "test_parallel.py::test_two_threads_reproduce_one_thread_exactly",
    "test_reliability_files.py::test_ctrl_c_during_save_model_leaves_the_old_file_intact_and_no_temporary_file",
    "test_reliability_files.py::test_sigkill_during_save_model_leaves_the_old_file_intact",
    "test_reliability_memory.py::test_model_estimate_matches_the_peak_memory_measured_on_france",
    "test_batch_study.py::test_dask_local_cluster_gives_identical_parameters_and_scores",
    "test_batch_cli.py::test_ctrl_c_stops_cleanly_with_the_summary_and_a_rerun_skips_the_finished",
    "test_batch_cli.py::test_batch_through_python_m_smash_then_status",
    "test_batch_cli.py::test_lez_example_calibrates",
    "test_batch_cli.py::test_cance_example_calibrates",
    "test_batch_cli.py::test_lez_study_example_with_a_gauge_off_the_raster_failing_alone",
    "test_posterior_sampling.py::test_posterior_contains_the_true_parameters",
    "test_posterior_sampling.py::test_coverage_and_truth_hold_for_other_noise_and_chains",
    "test_bayesian_parity.py::test_bayesian_optimize_equals_smash",
    "test_bayesian_lbfgsb.py::test_converged_optimum_equals_smash",
    "test_bayesian_lbfgsb.py::test_where_smash_stops_elsewhere_ours_agrees_there_and_descends",
    "test_bayesian_parity.py::test_defaults_and_bounds_equal_smash",
    "test_forcing_stream.py::test_default_windows_follow_the_adjoint_chunks",
    "test_stream_concurrency.py::test_two_streamed_models_interleaved",
    "test_stream_concurrency.py::test_two_streamed_models_at_once_from_two_threads",
}


def _is_slow(item) -> bool:
    file = Path(str(item.fspath)).name
    return f"{file}::{item.name}" in SLOW_TESTS or f"{file}::{item.originalname}" in SLOW_TESTS


def _reads_anchor_refs(func, module, seen: set) -> bool:
    """Whether `func` (or a function of its module it calls, or a nested function) names tests/anchor_refs:
    a string constant, or a module-level path, holding 'anchor_refs'."""
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None or code in seen:
        return False
    seen.add(code)
    stack = [code]
    while stack:
        current = stack.pop()
        for const in current.co_consts:
            if isinstance(const, str) and "anchor_refs" in const:
                return True
            if isinstance(const, types.CodeType):
                stack.append(const)
        for name in current.co_names:
            value = vars(module).get(name)
            if isinstance(value, (str, os.PathLike)) and "anchor_refs" in str(value):
                return True
            if (callable(value) and getattr(inspect.unwrap(value), "__module__", None) == module.__name__
                    and _reads_anchor_refs(value, module, seen)):
                return True
    return False


# The suite's names for a comparison with smash 1.3 (test_..._smash_13, test_..._equals_smash, ...): they
# catch the tests whose smash 1.3 numbers sit in the test itself or in parameters read at collection.
PARITY_NAME = re.compile(r"smash_13|_(as|equals?|matches?|follows?)_smash")


def _is_parity(item) -> bool:
    if "reference_dir" in item.fixturenames or PARITY_NAME.search(item.originalname):
        return True
    funcs = [item.function]
    fixture_info = getattr(item, "_fixtureinfo", None)
    for defs in (fixture_info.name2fixturedefs.values() if fixture_info else ()):
        funcs += [d.func for d in defs]
    seen = set()
    for func in funcs:
        module = sys.modules.get(getattr(inspect.unwrap(func), "__module__", ""), item.module)
        if _reads_anchor_refs(func, module, seen):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        if set(DATA_FIXTURES) & set(item.fixturenames):
            item.add_marker(pytest.mark.data)
        if _is_parity(item):
            item.add_marker(pytest.mark.parity)
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
