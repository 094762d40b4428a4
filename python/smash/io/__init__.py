"""Reading and writing setup (YAML) and mesh (HDF5) files."""

from smash.io.mesh import read_mesh, save_mesh
from smash.io.setup import read_setup, save_setup

__all__ = ["read_mesh", "save_mesh", "read_setup", "save_setup"]
