"""Imports of the optional `batch` extra, done only when a batch feature needs them."""

from __future__ import annotations

from smash import optional


def require(module: str, feature: str):
    """`optional.require` for a package of the `batch` extra."""
    return optional.require(module, feature, "batch")
