"""The optional packages of the conversions, imported when first needed with an error naming the extra."""

from __future__ import annotations

import importlib

EXTRA = "netcdf"


def require(module: str, feature: str):
    """`module` imported, or an ImportError saying which extra of smash brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{feature} needs the package {module!r}, which is not installed: install smash's "
                          f"'{EXTRA}' extra (pip install 'smash-hydrology[{EXTRA}]') or {module} itself") from err
