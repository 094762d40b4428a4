"""A model's data in the structures of the scientific Python ecosystem: xarray Datasets (CF
conventions, `Model.to_xarray`), pandas DataFrames (`Model.to_dataframe`) and NetCDF files
(`smash.io.save_netcdf` / `smash.io.read_netcdf`). xarray is optional: the extra ``netcdf``."""
