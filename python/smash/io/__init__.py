"""Reading and writing setup (YAML), mesh and model (HDF5) files, parameter maps (GeoTIFF), a model's
discharge and maps as NetCDF (CF, through xarray), and forcing stores (NetCDF / Zarr)."""

from smash.io.forcing_store import convert_forcings
from smash.io.grid_parameters import read_grid_parameters, save_grid_parameters
from smash.io.mesh import read_mesh, save_mesh
from smash.io.model import read_model, read_model_ddt, save_model, save_model_ddt
from smash.io.netcdf import read_netcdf, save_netcdf
from smash.io.setup import read_setup, save_setup

__all__ = ["read_mesh", "save_mesh", "read_setup", "save_setup", "save_model", "read_model", "save_model_ddt",
           "read_model_ddt", "save_grid_parameters", "read_grid_parameters", "save_netcdf", "read_netcdf",
           "convert_forcings"]
