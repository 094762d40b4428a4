"""Which compiled variant of the Fortran core this process loads (runtime CPU dispatch).

The build compiles the core twice from the same sources (meson.build): `smash._fcore`, the portable
baseline (x86-64 with SSE2 only), and on x86_64 `smash._fcore_v3`, for the x86-64-v3 level (AVX2, FMA,
BMI1/2, F16C, LZCNT, MOVBE: a fixed level, never the build machine's own). The f90wrap module
`smash.fcore` takes its extension from `extension` here, chosen once at import:

- ``SMASH_CPU_VARIANT`` set to ``baseline`` or ``x86-64-v3`` forces that variant (an error when it is
  not built or this CPU lacks what it needs); unset, empty or ``auto``: the next rule;
- the x86-64-v3 variant when it is built and the CPU has every feature of that level, else the baseline.

The two variants give the same results: the x86-64-v3 one is built without fused multiply-adds and does
the same operations in the same order, only in wider vectors; the vector exponentials of libmvec may
round an entry differently (tests/unit/test_cpu_variant.py bounds the differences to a few ulps).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import platform

ENVIRONMENT = "SMASH_CPU_VARIANT"
VARIANTS = {"baseline": "_fcore", "x86-64-v3": "_fcore_v3"}
AUTO = ("", "auto")

# x86-64-v3 as GCC's -march=x86-64-v3 defines it, the x86-64-v2 level under it included, in the
# names Linux shows in /proc/cpuinfo (pni is SSE3, abm is LZCNT; the kernel hides avx when the
# operating system does not save the vector registers) ...
V3_CPUINFO_FLAGS = frozenset({"cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2", "avx", "avx2",
                              "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})
# ... and in those of numpy's own runtime detection (its __cpu_features__), read where there is
# no /proc/cpuinfo. A name an older numpy does not detect counts as missing: the baseline then.
V3_NUMPY_FEATURES = frozenset({"CX16", "LAHF", "POPCNT", "SSE3", "SSSE3", "SSE41", "SSE42", "AVX", "AVX2",
                               "BMI", "BMI2", "F16C", "FMA3", "LZCNT", "MOVBE"})

logger = logging.getLogger("smash.cpu")


def linux_cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The feature flags of the first processor in `path` (Linux), None when it cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def numpy_cpu_features() -> dict[str, bool]:
    """numpy's runtime detection of the CPU's features ({} when this numpy does not expose it)."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            return dict(importlib.import_module(module).__cpu_features__)
        except (ImportError, AttributeError):
            continue
    return {}


def missing_from_cpuinfo(flags: frozenset[str]) -> list[str]:
    """The x86-64-v3 features (/proc/cpuinfo names) absent from `flags`, sorted."""
    return sorted(V3_CPUINFO_FLAGS - flags)


def missing_from_numpy(features: dict[str, bool]) -> list[str]:
    """The x86-64-v3 features (numpy's names) that numpy's `features` do not report present, sorted."""
    return sorted(name for name in V3_NUMPY_FEATURES if not features.get(name, False))


def missing_for_v3() -> list[str]:
    """The features x86-64-v3 needs that this CPU lacks (empty: it has them all): from /proc/cpuinfo
    where it can be read (Linux), else from numpy's detection."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return [f"an x86_64 processor (this one: {machine or 'unknown'})"]
    flags = linux_cpu_flags()
    return missing_from_cpuinfo(flags) if flags is not None else missing_from_numpy(numpy_cpu_features())


def built_variants() -> list[str]:
    """The variants whose extension module is installed, baseline first."""
    return [name for name, module in VARIANTS.items() if importlib.util.find_spec(f"smash.{module}") is not None]


def choose(requested: str | None, built: list[str], missing: list[str]) -> tuple[str, str]:
    """(variant, why) for the value of SMASH_CPU_VARIANT `requested` (None: unset), the variants `built`
    and the x86-64-v3 features this CPU lacks (`missing`). A forced variant that cannot run is an error."""
    value = (requested or "").strip().lower()
    if value not in AUTO:
        if value not in VARIANTS:
            raise ValueError(f"{ENVIRONMENT}={requested!r} is not a CPU variant of smash: give one of "
                             f"{', '.join(VARIANTS)} or auto")
        if value not in built:
            raise RuntimeError(f"{ENVIRONMENT}={value}: this installation of smash has no {value} variant "
                               f"(built: {', '.join(built)}; see the cpu_variant_x86_64_v3 build option)")
        if value == "x86-64-v3" and missing:
            raise RuntimeError(f"{ENVIRONMENT}=x86-64-v3: this CPU lacks {', '.join(missing)}")
        return value, f"forced by {ENVIRONMENT}"
    if "x86-64-v3" not in built:
        return "baseline", "no x86-64-v3 variant built"
    if missing:
        return "baseline", f"the CPU lacks {', '.join(missing)} for x86-64-v3"
    return "x86-64-v3", "the CPU has every x86-64-v3 feature"


def _load():
    """Import the chosen variant's extension module: (variant, module)."""
    built = built_variants()
    requested = os.environ.get(ENVIRONMENT)
    automatic = (requested or "").strip().lower() in AUTO
    missing = missing_for_v3() if "x86-64-v3" in built else []
    variant, why = choose(requested, built, missing)
    try:
        module = importlib.import_module(f"smash.{VARIANTS[variant]}")
    except ImportError as error:
        if not automatic or variant == "baseline":
            raise
        # A variant that is installed but does not load is a broken install of an optional speed-up:
        # the baseline still gives the same results.
        logger.warning("smash: the x86-64-v3 core did not load (%s); using the baseline", error)
        variant, why = "baseline", f"the x86-64-v3 core did not load: {error}"
        module = importlib.import_module(f"smash.{VARIANTS[variant]}")
    logger.debug("Fortran core variant %s (%s)", variant, why)
    return variant, why, module


# OpenMP threads waiting at the end of a parallel region sleep rather than spin (libgomp reads this once, when
# the core loads; a value the user set is kept). A spinning thread holds a core that a streamed run's forcing
# reader (a Python thread) could use: France over 720 steps on 2 cores, streamed / in-memory 1.13 (median of 3
# pairs) sleeping against 1.21 (4 pairs) spinning, the in-memory runs as fast; our parallel regions last
# milliseconds, so waking a sleeping thread costs nothing measurable (docs/performance-log.md).
WAIT_POLICY = "OMP_WAIT_POLICY"
os.environ.setdefault(WAIT_POLICY, "passive")

chosen, reason, extension = _load()
