"""NetCDF and Zarr forcing stores (placeholder until the readers land)."""


def store_source(setup, mesh, cells, kinds):
    return None
