"""What this installation of smash was built with and runs on (`show_config`)."""

from __future__ import annotations

import os

from smash import _cpu_variant

__all__ = ["show_config"]


def show_config(display: bool = True) -> dict:
    """Show the variant of the compiled core this process runs and the variants installed.

    The core is built for the portable x86-64 baseline and, on x86_64, for the x86-64-v3 level
    (AVX2, FMA ...); the variant is chosen at import from what the CPU has, or forced with the
    ``SMASH_CPU_VARIANT`` environment variable (``baseline``, ``x86-64-v3`` or ``auto``): see the
    installation page of the documentation.

    Parameters
    ----------
    display : bool, default True
        Print the configuration, one ``name: value`` line per entry.

    Returns
    -------
    dict
        ``version``; ``cpu_variant``, the variant loaded; ``cpu_variant_reason``, why it was chosen;
        ``cpu_variants_built``, the variants installed; ``cpu_missing_for_x86_64_v3``, the CPU features
        x86-64-v3 needs that this CPU lacks (empty when it has them all); ``omp_wait_policy``, how the
        core's waiting threads wait (``passive`` unless ``OMP_WAIT_POLICY`` was set before smash loaded).
    """
    from smash import __version__

    config = {
        "version": __version__,
        "cpu_variant": _cpu_variant.chosen,
        "cpu_variant_reason": _cpu_variant.reason,
        "cpu_variants_built": _cpu_variant.built_variants(),
        "cpu_missing_for_x86_64_v3": _cpu_variant.missing_for_v3(),
        "omp_wait_policy": os.environ.get(_cpu_variant.WAIT_POLICY),
    }
    if display:
        for name, value in config.items():
            print(f"{name}: {', '.join(value) if isinstance(value, list) else value}")
    return config
