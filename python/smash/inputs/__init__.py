"""Readers of forcings, observations and descriptors onto the mesh grid."""

from smash.inputs.atmos import read_atmos
from smash.inputs.descriptor import read_descriptor, read_descriptor_files
from smash.inputs.qobs import read_qobs

__all__ = ["read_atmos", "read_descriptor", "read_descriptor_files", "read_qobs"]
