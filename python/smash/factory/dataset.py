"""load_dataset: the (setup, mesh) pair of a dataset folder or of the synthetic catchment, or the
path of the national flow-direction raster."""

from __future__ import annotations

import os

from smash.factory.dataset_cache import datasets_folder
from smash.factory.synthetic import synthetic_setup_mesh
from smash.io import read_mesh, read_setup

NAMED = ("Lez", "Cance", "France")
FLWDIR = "flwdir"
FLWDIR_FILE = "France_flwdir.tif"
VALID_NAMES = (*NAMED, "synthetic", FLWDIR)
DIRECTORY_KEYS = ("qobs_directory", "prcp_directory", "pet_directory", "snow_directory", "temp_directory",
                  "descriptor_directory")


def _datasets_root(entry: str, path) -> tuple[list[str], str]:
    """Candidate locations of `entry` (a dataset folder or the raster file) and where they come from.

    Order: `path` (`<path>/<entry>` or `path` itself), else $SMASH_DATA_DIR/<entry>,
    else the user cache, filled on first use from the smash 1.3 wheel.
    """
    if path is not None:
        base = os.path.abspath(os.fspath(path))
        return [os.path.join(base, entry), base], f"path={os.fspath(path)!r}"
    if os.environ.get("SMASH_DATA_DIR"):
        base = os.path.abspath(os.environ["SMASH_DATA_DIR"])
        return [os.path.join(base, entry)], f"SMASH_DATA_DIR={os.environ['SMASH_DATA_DIR']!r}"
    return [os.path.join(datasets_folder(), entry)], "the smash 1.3 datasets cache"


def _dataset_folder(name: str, path) -> str:
    """Folder holding setup_<name>.yaml (see _datasets_root for the search order)."""
    candidates, origin = _datasets_root(name, path)
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, f"setup_{name}.yaml")):
            return folder
    looked = " and ".join(os.path.join(folder, f"setup_{name}.yaml") for folder in candidates)
    raise FileNotFoundError(
        f"Dataset {name!r} not found from {origin}: no {looked}. Set SMASH_DATA_DIR or pass path= "
        f"pointing to the folder holding {', '.join(NAMED)}"
    )


def _flwdir_file(path) -> str:
    """Absolute path of France_flwdir.tif (see _datasets_root for the search order)."""
    candidates, origin = _datasets_root(FLWDIR_FILE, path)
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"Dataset 'flwdir' not found from {origin}: no {candidates[0]}. Set SMASH_DATA_DIR or pass path= "
        f"pointing to the folder holding {FLWDIR_FILE}"
    )


def load_dataset(name: str, path=None) -> tuple[dict, dict] | str:
    """Setup and mesh dictionaries of a dataset, or the path of the national flow directions.

    Parameters
    ----------
    name : str
        Case-insensitive. "Lez" (daily), "Cance" (hourly) or "France" (hourly): the
        datasets distributed with smash 1.3; "flwdir": the 1 km national D8 flow
        directions raster `France_flwdir.tif` (input of `generate_mesh`);
        "synthetic": the built-in catchment, needing no files.
    path : str or os.PathLike, optional
        Folder holding the datasets (or the dataset folder, or the raster, itself).
        Without it, $SMASH_DATA_DIR is read; without that, the datasets are fetched
        once into the user cache (`smash.factory.dataset_cache`).

    Returns
    -------
    tuple[dict, dict] or str
        `(setup, mesh)`, the setup's directories made absolute (`descriptor_directory`
        is `<dataset>/descriptor` when descriptors are read); for "flwdir", the
        absolute path of the raster as a str (as smash 1.3 returns it).
    """
    lowered = str(name).lower()
    if lowered == "synthetic":
        return synthetic_setup_mesh()
    if lowered == FLWDIR:
        return _flwdir_file(path)
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
