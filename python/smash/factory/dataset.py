"""load_dataset: the (setup, mesh) pair of a dataset folder or of the synthetic catchment."""

from __future__ import annotations

import os

from smash.io import read_mesh, read_setup

NAMED = ("Lez", "Cance", "France")
DIRECTORY_KEYS = ("qobs_directory", "prcp_directory", "pet_directory", "snow_directory", "temp_directory",
                  "descriptor_directory")


def _dataset_folder(name: str, path) -> str:
    if path is not None:
        base = os.fspath(path)
        candidates = [os.path.join(base, name), base]
    elif os.environ.get("SMASH_DATA_DIR"):
        base = os.environ["SMASH_DATA_DIR"]
        candidates = [os.path.join(base, name)]
    else:
        raise FileNotFoundError(
            f"Dataset {name!r} needs its data folder: set the environment variable SMASH_DATA_DIR to the "
            f"folder holding {', '.join(NAMED)} (or pass path=...)"
        )
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, f"setup_{name}.yaml")):
            return folder
    raise FileNotFoundError(
        f"Dataset {name!r} not found: looked for setup_{name}.yaml in {candidates} "
        "(SMASH_DATA_DIR or path= must point to the folder holding the datasets)"
    )


def load_dataset(name: str, path=None) -> tuple[dict, dict]:
    """Setup and mesh dictionaries of a dataset.

    `name` is "Lez", "Cance" or "France" (case-insensitive), read from
    `path` or from the folder named by $SMASH_DATA_DIR, or "synthetic" for
    the built-in catchment that needs no files.
    """
    lowered = str(name).lower()
    if lowered == "synthetic":
        from smash.factory.synthetic import synthetic_setup_mesh

        return synthetic_setup_mesh()
    matches = [n for n in NAMED if n.lower() == lowered]
    if not matches:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {list(NAMED) + ['synthetic']}")
    name = matches[0]
    folder = _dataset_folder(name, path)
    setup = read_setup(os.path.join(folder, f"setup_{name}.yaml"))
    for key in DIRECTORY_KEYS:
        if setup.get(key):
            setup[key] = os.path.join(folder, setup[key])
    if setup.get("read_descriptor") and not setup.get("descriptor_directory"):
        setup["descriptor_directory"] = os.path.join(folder, "descriptor")
    mesh = read_mesh(os.path.join(folder, f"mesh_{name}.hdf5"))
    return setup, mesh
