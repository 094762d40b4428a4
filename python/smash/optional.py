"""Optional dependencies, imported when a feature first needs them, with an error naming the extra
of smash that installs them (`pip install 'smash-hydrology[<extra>]'`)."""

from __future__ import annotations

import sys

# Import name -> the pip distribution that provides it, where they differ.
_DISTRIBUTIONS = {"distributed": "dask[distributed]", "dask_jobqueue": "dask-jobqueue"}


def require(module: str, feature: str, extra: str):
    """`module` imported, or an ImportError naming the `feature` that needs it and the `extra` that installs it."""
    try:
        __import__(module)  # the import statement's own machinery (which import hooks see)
    except ImportError as err:
        dist = _DISTRIBUTIONS.get(module.split(".")[0], module.split(".")[0])
        raise ImportError(f"{feature} needs {dist}, part of the optional '{extra}' extra: "
                          f"pip install 'smash-hydrology[{extra}]' (or pip install {dist})") from err
    return sys.modules[module]
