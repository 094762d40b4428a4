"""Coordinates and CRS of a model's grid and gauges, as CF describes them."""

from __future__ import annotations

import numpy as np

# CF grid_mapping attributes from PROJ parameters, for the projections of the field (others keep crs_wkt only).
_PROJ_TO_CF = {
    "lcc": ("lambert_conformal_conic", {"lat_0": "latitude_of_projection_origin",
                                        "lon_0": "longitude_of_central_meridian", "x_0": "false_easting",
                                        "y_0": "false_northing"}),
    "tmerc": ("transverse_mercator", {"lat_0": "latitude_of_projection_origin",
                                      "lon_0": "longitude_of_central_meridian",
                                      "k_0": "scale_factor_at_central_meridian",
                                      "k": "scale_factor_at_central_meridian", "x_0": "false_easting",
                                      "y_0": "false_northing"}),
    "longlat": ("latitude_longitude", {}),
}


def cell_centres(mesh) -> tuple[np.ndarray, np.ndarray]:
    """(x of each column, y of each row) at the cell centres, in the CRS's units (north-up grid)."""
    ncol, nrow = int(mesh.ncol), int(mesh.nrow)
    x = float(mesh.xmin) + (np.arange(ncol) + 0.5) * float(mesh.xres)
    y = float(mesh.ymax) - (np.arange(nrow) + 0.5) * float(mesh.yres)
    return x, y


def epsg_of(mesh) -> int | None:
    """The mesh's EPSG code, None when it has none (missing or -99)."""
    epsg = getattr(mesh, "epsg", None)
    if epsg is None:
        return None
    epsg = int(np.asarray(epsg))
    return epsg if epsg > 0 else None


def grid_mapping_attributes(epsg: int) -> dict:
    """The attributes of a CF grid-mapping variable for EPSG:`epsg`: `grid_mapping_name` and its
    parameters where the projection is one CF names, and always `crs_wkt` and `spatial_ref` (the WKT
    GDAL reads) and `epsg_code`."""
    from rasterio.crs import CRS

    crs = CRS.from_epsg(int(epsg))
    wkt = crs.to_wkt()
    attrs = {"crs_wkt": wkt, "spatial_ref": wkt, "epsg_code": f"EPSG:{int(epsg)}"}
    params = crs.to_dict()
    name, keys = _PROJ_TO_CF.get(params.get("proj"), (None, {}))
    if name is not None:
        attrs["grid_mapping_name"] = name
        for proj_key, cf_key in keys.items():
            if proj_key in params:
                attrs[cf_key] = float(params[proj_key])
        if params.get("proj") == "lcc":
            attrs["standard_parallel"] = [float(params[k]) for k in ("lat_1", "lat_2") if k in params]
    return attrs
