"""Models on a bare grid (no flow directions) and rasters that do not line up with the mesh, against
smash 1.3 (tests/anchor_refs/bare_grid/, made by make_bare_grid.py): the values read, the warnings
given, and the errors."""

import json

import numpy as np
import pytest
import rasterio
from affine import Affine

import smash

from helpers import ANCHOR_REFS

REFS = ANCHOR_REFS / "bare_grid"
# smash 1.3's warning lines -> the issue they report, and ours.
SMASH_ISSUES = {"Missing warning": "missing", "Resolution warning": "resolution", "Overlap warning": "overlap",
                "partially out of bound": "partly_out", "totally out of bound": "wholly_out"}
OUR_ISSUES = {"Missing files": "missing", "Resolution mismatch": "resolution", "Overlap mismatch": "overlap",
              "lies partly outside": "partly_out", "lies wholly outside": "wholly_out"}


def _issues(messages, table):
    return {issue for text in messages for key, issue in table.items() if key in text}


def _cases():
    return np.load(REFS / "raster_cases.npz")


def _write(path, values, geometry, epsg):
    xres, yres, x0, y0 = geometry
    profile = dict(driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype="float32",
                   crs=f"EPSG:{int(epsg)}", transform=Affine(xres, 0, x0, 0, -yres, y0), nodata=-99.0)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(np.float32), 1)


def _setup(**kw):
    setup = {"hydrological_module": "gr4", "routing_module": "lr", "dt": 86400,
             "start_time": "2020-01-01", "end_time": "2020-01-04", "adjust_interception": False}
    return dict(setup, **kw)


def _build(setup, mesh):
    with _Record() as record:
        model = smash.Model(setup, mesh)
    return model, [str(w.message) for w in record.caught if issubclass(w.category, UserWarning)]


class _Record:
    """Record every warning (pytest.warns would fail on none)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self.caught = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


@pytest.mark.parametrize("name", [str(n) for n in _cases()["case_names"]])
def test_rasters_are_placed_and_resampled_as_smash_13(tmp_path, name):
    """Descriptors and precipitation read from a crafted raster onto a 6 x 5 bare grid: the same values
    as smash 1.3 cell for cell (nearest-neighbour resampling, snapping to the nearest raster cell,
    -99 outside the raster) and the same kinds of warning."""
    ref = _cases()
    mesh = json.loads(str(ref["mesh_json"]))
    values, geometry = ref[f"{name}__raster"], ref[f"{name}__geometry"]
    _write(tmp_path / "desc.tif", values, geometry, ref["epsg"])
    (tmp_path / "prcp").mkdir()
    for day in ("20200103", "20200104"):
        _write(tmp_path / "prcp" / f"prcp_{day}.tif", values, geometry, ref["epsg"])

    setup = _setup(read_descriptor=True, descriptor_directory=str(tmp_path), descriptor_name=["desc"])
    error = str(ref[f"{name}__error"])
    if error:
        # smash 1.3: "Invalid descriptor 'desc'. It contains only missing values on the selected domain".
        assert "only missing values" in error
        with pytest.raises(ValueError, match="'desc' holds only missing values"), \
                pytest.warns(UserWarning, match="wholly outside"):
            smash.Model(setup, dict(mesh))
    else:
        model, messages = _build(setup, dict(mesh))
        np.testing.assert_array_equal(model.physio_data.descriptor[..., 0], ref[f"{name}__descriptor"])
        assert _issues(messages, OUR_ISSUES) == _issues(json.loads(str(ref[f"{name}__warnings"])), SMASH_ISSUES)

    model, messages = _build(_setup(read_prcp=True, prcp_directory=str(tmp_path / "prcp")), dict(mesh))
    np.testing.assert_array_equal(model.atmos_data.prcp, ref[f"{name}__prcp"])
    assert _issues(messages, OUR_ISSUES) == _issues(json.loads(str(ref[f"{name}__prcp_warnings"])), SMASH_ISSUES)


def test_missing_files_warn_and_read_as_missing(tmp_path):
    ref = _cases()
    mesh = json.loads(str(ref["mesh_json"]))
    _write(tmp_path / "desc.tif", ref["aligned__raster"], ref["aligned__geometry"], ref["epsg"])
    (tmp_path / "empty").mkdir()
    cases = {
        "missing_descriptor": _setup(read_descriptor=True, descriptor_directory=str(tmp_path),
                                     descriptor_name=["desc", "absent"]),
        "missing_prcp_all": _setup(read_prcp=True, prcp_directory=str(tmp_path / "empty")),
        "missing_pet_all": _setup(read_pet=True, pet_directory=str(tmp_path / "empty")),
        "missing_pet_interannual": _setup(read_pet=True, pet_directory=str(tmp_path / "empty"),
                                          daily_interannual_pet=True),
    }
    for label, setup in cases.items():
        model, messages = _build(setup, dict(mesh))
        theirs = json.loads(str(ref[f"{label}__warnings"]))
        assert _issues(messages, OUR_ISSUES) == _issues(theirs, SMASH_ISSUES) == {"missing"}, label
        # The same missing items named: descriptor names, step end times, interannual days.
        listed = theirs[0].split("file(s): ")[1].replace("np.str_(", "").replace(")", "")
        assert listed in messages[0], (label, messages[0])
        np.testing.assert_array_equal(model.physio_data.descriptor, ref[f"{label}__descriptor"])
        np.testing.assert_array_equal(model.atmos_data.prcp, ref[f"{label}__prcp"])
        np.testing.assert_array_equal(model.atmos_data.pet, ref[f"{label}__pet"])


def _cance_bare(data_dir):
    setup = json.loads(str(np.load(REFS / "bare_mesh_Cance.npz")["setup_json"]))
    anchor = setup["prcp_directory"].rsplit("/", 2)[0]
    for key, value in setup.items():
        if isinstance(value, str) and value.startswith(anchor):
            setup[key] = str(data_dir) + value[len(anchor):]
    full = smash.io.read_mesh(data_dir / "Cance" / "mesh_Cance.hdf5")
    return setup, {k: full[k] for k in ("xres", "yres", "xmin", "ymax", "nrow", "ncol")}, full


def test_cance_bare_grid_reads_every_cell_as_smash_13(data_dir):
    ref = json.loads((REFS / "bare_mesh.json").read_text())
    arrays = np.load(REFS / "bare_mesh_Cance.npz")
    setup, grid, _ = _cance_bare(data_dir)
    model, messages = _build(setup, grid)
    assert not messages and not ref["warnings"]
    mesh = ref["mesh"]
    for key in ("active_cell", "flwdir", "flwdst", "flwacc", "dx", "dy", "gauge_pos", "code", "area", "area_dln",
                "ncpar", "cscpar", "flwpar"):
        ours = getattr(model.mesh, key)
        assert str(ours.dtype) == mesh[key]["dtype"] and list(ours.shape) == mesh[key]["shape"], key
        assert np.unique(ours).tolist() == mesh[key]["unique"], key
    for key in ("ng", "npar", "epsg", "nrow", "ncol", "xmin", "ymax", "xres", "yres"):
        assert getattr(model.mesh, key) == mesh[key], key
    # smash 1.3 leaves nac undefined on a bare grid (0 in one run, garbage in another): ours is 0.
    assert model.mesh.nac == 0
    np.testing.assert_array_equal(model.atmos_data.prcp, arrays["prcp_bare"])
    np.testing.assert_array_equal(model.atmos_data.pet, arrays["pet_bare"])
    np.testing.assert_array_equal(model.physio_data.descriptor, arrays["descriptor_bare"])
    # ci re-estimated on every cell, as the other ci comparisons: within 1e-6 of smash's float32.
    np.testing.assert_allclose(model.get_rr_parameters("ci"), arrays["ci_bare"], rtol=0, atol=1e-6)
    assert list(model.atmos_data.mean_prcp.shape) == ref["mean_prcp_shape"]
    assert list(model.response.q.shape) == ref["response_q_shape"]
    np.testing.assert_allclose(model.physio_data.l_descriptor, ref["l_descriptor"], rtol=1e-7)
    np.testing.assert_allclose(model.physio_data.u_descriptor, ref["u_descriptor"], rtol=1e-7)
    with pytest.raises(ValueError, match="bare grid .* cannot run"):
        model.forward_run()
    with pytest.raises(ValueError, match="bare grid .* cannot run"):
        smash.optimize(model, optimize_options={"termination_crit": {"maxiter": 1}})
    # Copies and saved models keep what was read.
    np.testing.assert_array_equal(model.copy().atmos_data.prcp, arrays["prcp_bare"])


def test_bare_grid_model_file_round_trip(data_dir, tmp_path):
    setup, grid, _ = _cance_bare(data_dir)
    model = smash.Model(dict(setup, read_descriptor=False, end_time="2014-10-02 00:00"), grid)
    smash.io.save_model(model, tmp_path / "bare.hdf5")
    back = smash.io.read_model(tmp_path / "bare.hdf5")
    np.testing.assert_array_equal(back.atmos_data.prcp, model.atmos_data.prcp)
    np.testing.assert_array_equal(back.get_rr_parameters("ci"), model.get_rr_parameters("ci"))
    assert back.mesh.nac == 0 and np.all(back.mesh.flwdir == -99)
    with pytest.raises(ValueError, match="bare grid"):
        back.forward_run()


def test_bare_grid_needs_its_geometry():
    with pytest.raises(ValueError, match="missing the key 'xres'"):
        smash.Model(_setup(), {"nrow": 3, "ncol": 3, "yres": 1000.0, "xmin": 0.0, "ymax": 0.0})


def test_full_mesh_missing_and_invalid_inputs_as_smash_13(data_dir, tmp_path):
    cases = json.loads((REFS / "bare_mesh.json").read_text())["full_mesh_cases"]
    mesh = smash.io.read_mesh(data_dir / "Cance" / "mesh_Cance.hdf5")
    base = {"hydrological_module": "gr4", "routing_module": "lr", "dt": 3600,
            "start_time": "2014-10-01 00:00", "end_time": "2014-10-02 00:00"}
    # A descriptor file absent: a warning naming it, the descriptor all -99, the model built.
    assert cases["descriptor_file_absent"]["error"] == "" and cases["descriptor_file_absent"]["warnings"]
    descriptors = str(data_dir / "Cance" / "descriptor")
    model, messages = _build(dict(base, read_descriptor=True, descriptor_directory=descriptors,
                                  descriptor_name=["slope", "absent"]), dict(mesh))
    assert _issues(messages, OUR_ISSUES) == {"missing"} and "['absent']" in messages[0]
    assert np.unique(model.physio_data.descriptor[..., 1]).tolist() == cases["descriptor_file_absent"][
        "descriptor_unique_last"]
    # A descriptor file holding only missing values: refused.
    assert "only missing values" in cases["descriptor_only_missing"]["error"]
    with rasterio.open(data_dir / "Cance" / "descriptor" / "slope.tif") as src:
        profile, slope = src.profile, src.read(1)
    with rasterio.open(tmp_path / "slope_empty.tif", "w", **dict(profile, nodata=-99.0)) as dst:
        dst.write(np.full_like(slope, -99.0), 1)
    with pytest.raises(ValueError, match="'slope_empty' holds only missing values"):
        smash.Model(dict(base, read_descriptor=True, descriptor_directory=str(tmp_path),
                         descriptor_name=["slope_empty"]), dict(mesh))
    # Missing values on active cells: refused (on a bare grid, holes are allowed; see above).
    assert "missing values on the active cells" in cases["descriptor_holes_on_active"]["error"]
    holes = slope.copy()
    for row, col in np.argwhere(mesh["active_cell"] == 1)[:5]:
        holes[row + 7, col + 7] = -99.0  # the descriptor rasters start 7 cells north-west of the mesh
    with rasterio.open(tmp_path / "slope_holes.tif", "w", **dict(profile, nodata=-99.0)) as dst:
        dst.write(holes, 1)
    with pytest.raises(ValueError, match="'slope_holes' has missing values on active cells"):
        smash.Model(dict(base, read_descriptor=True, descriptor_directory=str(tmp_path),
                         descriptor_name=["slope_holes"]), dict(mesh))
    # A forcing folder that does not exist: FileNotFoundError naming the setting.
    assert cases["prcp_directory_absent"]["error"].startswith("FileNotFoundError")
    with pytest.raises(FileNotFoundError, match="prcp_directory"):
        smash.Model(dict(base, read_prcp=True, prcp_directory=str(tmp_path / "nowhere")), dict(mesh))
    # No observation file: one warning naming every gauge, observations all -99.
    theirs = cases["qobs_no_file"]
    model, messages = _build(dict(base, read_qobs=True, qobs_directory=str(tmp_path)), dict(mesh))
    assert len(messages) == len(theirs["warnings"]) == 1
    assert "['V3524010', 'V3515010', 'V3517010']" in messages[0]
    assert np.unique(model.response_data.q).tolist() == theirs["qobs_unique"]
