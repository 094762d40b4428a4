"""load_dataset: the (setup, mesh) pair of a dataset folder or of the synthetic catchment."""

from __future__ import annotations

import os

from smash.io import read_mesh, read_setup

NAMED = ("Lez", "Cance", "France")
VALID_NAMES = (*NAMED, "synthetic")
DIRECTORY_KEYS = ("qobs_directory", "prcp_directory", "pet_directory", "snow_directory", "temp_directory",
                  "descriptor_directory")


def _dataset_folder(name: str, path) -> str:
    """Folder holding setup_<name>.yaml: `<path>/<name>` or `path` itself, else `$SMASH_DATA_DIR/<name>`."""
    if path is not None:
        base = os.path.abspath(os.fspath(path))
        candidates = [os.path.join(base, name), base]
        origin = f"path={os.fspath(path)!r}"
    elif os.environ.get("SMASH_DATA_DIR"):
        base = os.path.abspath(os.environ["SMASH_DATA_DIR"])
        candidates = [os.path.join(base, name)]
        origin = f"SMASH_DATA_DIR={os.environ['SMASH_DATA_DIR']!r}"
    else:
        raise FileNotFoundError(
            f"Dataset {name!r} is read from files: set the environment variable SMASH_DATA_DIR to the folder "
            f"holding {', '.join(NAMED)} (looked for $SMASH_DATA_DIR/{name}/setup_{name}.yaml), "
            f"or pass path=<that folder>"
        )
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, f"setup_{name}.yaml")):
            return folder
    looked = " and ".join(os.path.join(folder, f"setup_{name}.yaml") for folder in candidates)
    raise FileNotFoundError(
        f"Dataset {name!r} not found from {origin}: no {looked}. Set SMASH_DATA_DIR or pass path= "
        f"pointing to the folder holding {', '.join(NAMED)}"
    )


def load_dataset(name: str, path=None) -> tuple[dict, dict]:
    """Setup and mesh dictionaries of a dataset.

    `name` is "Lez", "Cance" or "France" (case-insensitive), read from `path`
    (the folder holding the datasets, or the dataset folder itself) or else from
    $SMASH_DATA_DIR; or "synthetic" for the built-in catchment needing no files.
    The setup's directories are made absolute, and `descriptor_directory` is
    `<dataset>/descriptor` when descriptors are read.
    """
    lowered = str(name).lower()
    if lowered == "synthetic":
        from smash.factory.synthetic import synthetic_setup_mesh

        return synthetic_setup_mesh()
    matches = [n for n in NAMED if n.lower() == lowered]
    if not matches:
        raise ValueError(f"Unknown dataset {name!r}; valid names are {', '.join(VALID_NAMES)} (case-insensitive)")
    name = matches[0]
    folder = _dataset_folder(name, path)
    setup = read_setup(os.path.join(folder, f"setup_{name}.yaml"))
    for key in DIRECTORY_KEYS:
        if setup.get(key):
            setup[key] = os.path.normpath(os.path.join(folder, str(setup[key])))
    if setup.get("read_descriptor") and not setup.get("descriptor_directory"):
        setup["descriptor_directory"] = os.path.join(folder, "descriptor")
    mesh = read_mesh(os.path.join(folder, f"mesh_{name}.hdf5"))
    return setup, mesh
