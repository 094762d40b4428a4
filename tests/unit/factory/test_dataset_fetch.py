"""load_dataset without SMASH_DATA_DIR: the datasets fetched once with pip from a package index into the cache.

A local PEP 503 index on 127.0.0.1 serves a small wheel built here with the layout of
hydro-smash 1.3.0 (datasets under smash/factory/dataset/), holding a tiny dataset made
from the synthetic catchment; its hash is pinned through SMASH_DATASETS_SHA256.
"""

import hashlib
import http.server
import io
import os
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from smash.factory import dataset_cache, load_dataset
from smash.factory.synthetic import synthetic_setup_mesh
from smash.io import save_mesh, save_setup

WHEEL_NAME = "hydro_smash-1.3.0-cp311-cp311-manylinux_2_28_x86_64.whl"
RASTER_BYTES = b"II*\x00 a stand-in for the flow-direction raster"


def _tiny_dataset_files(work: Path) -> dict[str, bytes]:
    """Wheel members of one tiny dataset per name: the synthetic mesh with a setup that reads no inputs."""
    setup, mesh = synthetic_setup_mesh()
    setup = {key: setup[key] for key in ("hydrological_module", "routing_module", "dt", "start_time", "end_time")}
    save_setup(setup, work / "setup.yaml")
    save_mesh(mesh, work / "mesh.hdf5")
    members = {}
    for name in ("Lez", "Cance", "France"):
        folder = f"smash/factory/dataset/{name}/"
        members[folder + f"setup_{name}.yaml"] = (work / "setup.yaml").read_bytes()
        members[folder + f"mesh_{name}.hdf5"] = (work / "mesh.hdf5").read_bytes()
        members[folder + "qobs/Y0000000.csv"] = b"20200101\n1.0\n"
        members[folder + f"mesh_{name}.py"] = b"# code of the package: never extracted\n"
    members["smash/factory/dataset/France_flwdir.tif"] = RASTER_BYTES
    members["smash/__init__.py"] = b""
    members["smash/factory/dataset/dataset.py"] = b""
    return members


def _build_wheel(path: Path, members: dict[str, bytes]) -> None:
    distinfo = "hydro_smash-1.3.0.dist-info/"
    members = {**members,
               distinfo + "METADATA": b"Metadata-Version: 2.1\nName: hydro-smash\nVersion: 1.3.0\n",
               distinfo + "WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                                   b"Tag: cp311-cp311-manylinux_2_28_x86_64\n"}
    record = "".join(f"{name},,\n" for name in members) + distinfo + "RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in {**members, distinfo + "RECORD": record.encode()}.items():
            archive.writestr(name, content)


class _Index:
    """A PEP 503 simple index on 127.0.0.1 serving one wheel, counting the wheel's downloads."""

    def __init__(self, root: Path, wheel: Path):
        (root / "simple" / "hydro-smash").mkdir(parents=True)
        (root / "files").mkdir()
        (root / "files" / wheel.name).write_bytes(wheel.read_bytes())
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        (root / "simple" / "hydro-smash" / "index.html").write_text(
            f'<html><body><a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>')
        self.wheel_requests = 0
        index = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path.endswith(".whl"):
                    index.wheel_requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def fake_release(tmp_path, monkeypatch):
    """The fake wheel, its sha256 and a served index; pip isolated from this machine's configuration."""
    members = _tiny_dataset_files(tmp_path)
    wheel = tmp_path / WHEEL_NAME
    _build_wheel(wheel, members)
    index = _Index(tmp_path / "index", wheel)
    for key in [key for key in os.environ if key.startswith("PIP_")]:
        monkeypatch.delenv(key)
    # No user or site pip configuration (mirrors, find-links) and no pip cache: only our index answers.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "10")  # a stalled connection ends the test within seconds
    for proxy_bypass in ("NO_PROXY", "no_proxy"):  # a proxy of the machine must not see 127.0.0.1
        monkeypatch.setenv(proxy_bypass, ",".join(filter(None, [os.environ.get(proxy_bypass), "127.0.0.1"])))
    monkeypatch.delenv("SMASH_DATA_DIR", raising=False)
    monkeypatch.setenv("SMASH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SMASH_DATASETS_INDEX_URL", index.url)
    monkeypatch.setenv("SMASH_DATASETS_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    yield members, index
    index.stop()


def test_first_call_downloads_and_caches_then_the_cache_serves_offline(fake_release, tmp_path):
    members, index = fake_release
    setup, mesh = load_dataset("Cance")
    assert index.wheel_requests == 1
    cached = tmp_path / "cache" / "datasets" / "hydro-smash-1.3.0"
    assert cached.is_dir()
    expected_setup, expected_mesh = synthetic_setup_mesh()
    assert setup["dt"] == expected_setup["dt"] and setup["start_time"] == expected_setup["start_time"]
    assert all(np.array_equal(mesh[key], expected_mesh[key]) for key in expected_mesh)
    # Exactly the dataset files: no package code, no .py of the dataset folders.
    extracted = sorted(str(p.relative_to(cached)) for p in cached.rglob("*") if p.is_file())
    wanted = sorted(name.removeprefix("smash/factory/dataset/") for name in members
                    if name.startswith("smash/factory/dataset/") and not name.endswith(".py"))
    assert extracted == wanted
    assert (cached / "Lez" / "qobs" / "Y0000000.csv").read_bytes() == b"20200101\n1.0\n"

    index.stop()  # from now on nothing answers: every call must be served by the cache
    setup, mesh = load_dataset("lez")
    assert mesh["nac"] == expected_mesh["nac"]
    flwdir = load_dataset("flwdir")
    assert isinstance(flwdir, str) and flwdir == str(cached / "France_flwdir.tif")
    assert Path(flwdir).read_bytes() == RASTER_BYTES
    assert index.wheel_requests == 1


def test_explicit_folders_come_before_the_cache(fake_release, tmp_path, monkeypatch):
    _, index = fake_release
    folder = tmp_path / "mine" / "Lez"
    folder.mkdir(parents=True)
    save_setup({"hydrological_module": "gr4", "routing_module": "lr", "dt": 3600, "start_time": "2020-01-01 00:00",
                "end_time": "2020-01-02 00:00"}, folder / "setup_Lez.yaml")
    save_mesh(synthetic_setup_mesh()[1], folder / "mesh_Lez.hdf5")
    assert load_dataset("Lez", path=folder.parent)[0]["dt"] == 3600
    monkeypatch.setenv("SMASH_DATA_DIR", str(folder.parent))
    assert load_dataset("Lez")[0]["dt"] == 3600
    (folder.parent / "France_flwdir.tif").write_bytes(b"mine")
    assert load_dataset("flwdir") == str(folder.parent / "France_flwdir.tif")
    assert index.wheel_requests == 0 and not (tmp_path / "cache").exists()


def test_a_wrong_hash_is_refused_and_nothing_is_cached(fake_release, tmp_path, monkeypatch):
    _, index = fake_release
    monkeypatch.setenv("SMASH_DATASETS_SHA256", "0" * 64)
    with pytest.raises(dataset_cache.DatasetFetchError, match=f"Refused {WHEEL_NAME}: its sha256 is [0-9a-f]{{64}}, "
                                                              f"the pinned one is 0{{64}}.*SMASH_DATASETS_SHA256"):
        load_dataset("Cance")
    assert index.wheel_requests == 1
    assert not (tmp_path / "cache" / "datasets" / "hydro-smash-1.3.0").exists()


def test_no_server_says_what_to_set(fake_release, tmp_path):
    _, index = fake_release
    index.stop()
    expected = r"(?s)Could not download.*hydro-smash==1.3.0.*set SMASH_DATA_DIR.*SMASH_DATASETS_INDEX_URL"
    with pytest.raises(dataset_cache.DatasetFetchError, match=expected):
        load_dataset("flwdir")
    assert not (tmp_path / "cache" / "datasets" / "hydro-smash-1.3.0").exists()


def test_dataset_members_stay_inside_the_dataset_folder(tmp_path):
    wheel = tmp_path / WHEEL_NAME
    _build_wheel(wheel, {"smash/factory/dataset/Lez/../../../../escape.txt": b"x"})
    with zipfile.ZipFile(io.BytesIO(wheel.read_bytes())) as archive:
        with pytest.raises(dataset_cache.DatasetFetchError, match="points outside the dataset folder"):
            dataset_cache._dataset_members(archive)
