"""Files: atomic, interrupt-safe writes (issue 19) and clear errors on truncated, damaged, foreign or
incomplete files.

The fault tests write a large model in a child process (a synthetic 100 x 100 grid, hourly random
forcings: a ~50 MB file, about 2 s of writing) over a good file and kill it with SIGKILL at several
points of the write, or interrupt it with SIGINT (Ctrl-C); the good file must stay byte-identical
and readable."""

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import smash
import smash.atomic

from helpers import daily_setup, line_mesh

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------- builders
def _large_model(seed: int):
    """A model whose file takes a couple of seconds to write: random forcings do not compress."""
    from smash.factory.synthetic import synthetic_setup_mesh

    _, mesh = synthetic_setup_mesh(nrow=100, ncol=100, seed=1)
    setup = {"start_time": "2020-01-01", "end_time": "2020-02-12", "dt": 3600, "adjust_interception": False}
    model = smash.Model(setup, mesh)
    rng = np.random.default_rng(seed)
    shape = (model.mesh.nrow, model.mesh.ncol, model.setup.ntime_step)
    model.atmos_data.prcp = rng.random(shape, dtype=np.float32)
    model.atmos_data.pet = rng.random(shape, dtype=np.float32)
    return model


def _small_model(seed: int = 0):
    model = smash.Model(daily_setup(20), line_mesh(5))
    rng = np.random.default_rng(seed)
    model.atmos_data.prcp = rng.random((1, 5, 20), dtype=np.float32) * 10
    model.atmos_data.pet = rng.random((1, 5, 20), dtype=np.float32)
    model.forward_run()
    return model


# The child: build the large model with another seed, say so, then write it over the target.
CHILD = f"""
import sys
sys.path[:0] = [{HERE!r}, {os.path.dirname(HERE)!r}]
from test_reliability_files import _large_model
import smash
model = _large_model(1)
print("writing", flush=True)
smash.io.save_model(model, sys.argv[1])
print("done", flush=True)
"""


def _digest(path) -> str:
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def _partials(path) -> list[str]:
    folder, base = os.path.split(str(path))
    return glob.glob(os.path.join(folder, f".{base}.*{smash.atomic.PARTIAL_SUFFIX}"))


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    """A large model file written by this process: (path, sha256, size)."""
    path = tmp_path_factory.mktemp("atomic") / "model.hdf5"
    smash.io.save_model(_large_model(0), path)
    return path, _digest(path), os.path.getsize(path)


def _start_writer(path):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing", child.stderr.read()
    return child


def _wait_for_partial(child, path, nbytes: int, timeout: float = 60.0) -> int:
    """Poll the child's temporary file until it holds `nbytes`; its size then."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert child.poll() is None, f"the writer ended before the kill point: {child.stderr.read()}"
        for partial in _partials(path):
            try:
                size = os.path.getsize(partial)
            except FileNotFoundError:
                continue
            if size >= nbytes:
                return size
        time.sleep(0.002)
    raise AssertionError(f"the temporary file never reached {nbytes} bytes")


# ------------------------------------------------------------------ fault tests
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.95])
def test_sigkill_during_save_model_leaves_the_old_file_intact(good_file, fraction):
    path, digest, size = good_file
    child = _start_writer(path)
    try:
        reached = _wait_for_partial(child, path, int(fraction * size))
        child.kill()
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert reached < size  # killed mid-write, not after
    assert _digest(path) == digest
    with h5py.File(path, "r") as f:  # readable, as before
        assert f.attrs["_save_func"] == "save_model"
    # The killed write's temporary file stays: hidden, recognisable, ignored by readers.
    stale = _partials(path)
    assert stale and all(os.path.basename(p).startswith(".model.hdf5.") for p in stale)
    for partial in stale:
        os.remove(partial)


def test_ctrl_c_during_save_model_leaves_the_old_file_intact_and_no_temporary_file(good_file):
    path, digest, size = good_file
    child = _start_writer(path)
    try:
        _wait_for_partial(child, path, int(0.3 * size))
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert "KeyboardInterrupt" in stderr
    assert _digest(path) == digest
    assert _partials(path) == []
    model = smash.io.read_model(path)  # the old model, whole
    assert model.setup.ntime_step == 1008
    np.testing.assert_array_equal(model.atmos_data.prcp[0, 0, :3],
                                  _large_model(0).atmos_data.prcp[0, 0, :3])


def test_a_completed_write_replaces_the_file(tmp_path):
    path = tmp_path / "m.hdf5"
    smash.io.save_model(_small_model(0), path)
    smash.io.save_model(_small_model(1), path)
    expected = _small_model(1).atmos_data.prcp
    np.testing.assert_array_equal(smash.io.read_model(path).atmos_data.prcp, expected)
    assert _partials(path) == []


def _writers(model, tmp_path):
    """(target, write) of every writer of the package."""
    mesh = {k: v for k, v in model.mesh.__dict__.items() if k[0] != "_"}
    return {
        "save_model": (tmp_path / "m.hdf5", lambda p: smash.io.save_model(model, p)),
        "save_model_ddt": (tmp_path / "d.hdf5", lambda p: smash.io.save_model_ddt(model, p)),
        "save_mesh": (tmp_path / "mesh.hdf5", lambda p: smash.io.save_mesh(mesh, p)),
        "save_setup": (tmp_path / "s.yaml", lambda p: smash.io.save_setup(daily_setup(20), p)),
        "save_grid_parameters": (tmp_path / "maps" / "cp.tif",
                                 lambda p: smash.io.save_grid_parameters(model, os.path.dirname(p), "cp")),
    }


@pytest.mark.parametrize("writer", ["save_model", "save_model_ddt", "save_mesh", "save_setup",
                                    "save_grid_parameters"])
@pytest.mark.parametrize("fault", [KeyboardInterrupt, OSError])
def test_every_writer_interrupted_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch, writer, fault):
    model = _small_model()
    target, write = _writers(model, tmp_path)[writer]
    os.makedirs(target.parent, exist_ok=True)
    target.write_bytes(b"the previous file")

    def interrupted(path, directory=False):
        # The whole new file is written in the temporary file: fail just before it is renamed.
        assert not directory and os.path.getsize(path) > 0
        raise fault("injected")

    monkeypatch.setattr(smash.atomic, "_fsync_path", interrupted)
    with pytest.raises(fault, match="injected"):
        write(target)
    assert target.read_bytes() == b"the previous file"
    assert _partials(target) == []
    monkeypatch.undo()
    write(target)  # and the write, let through, replaces it
    assert target.read_bytes() != b"the previous file"


def test_interrupt_between_groups_of_save_model(tmp_path, monkeypatch):
    # Ctrl-C while h5py writes the groups: a KeyboardInterrupt out of the middle of the file.
    path = tmp_path / "m.hdf5"
    smash.io.save_model(_small_model(0), path)
    digest = _digest(path)
    from smash.io import model as model_io

    calls = []

    def write_group(group, values):
        calls.append(group.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(group, values)

    original = model_io.write_group
    monkeypatch.setattr(model_io, "write_group", write_group)
    with pytest.raises(KeyboardInterrupt):
        smash.io.save_model(_small_model(1), path)
    assert _digest(path) == digest and _partials(path) == []
    smash.io.read_model(path)


def _holder(path, mode: str):
    """A child process holding `path` open with HDF5 ("r": a reader) or an exclusive flock (a writer)."""
    if mode == "r":
        code = "import h5py, sys, time; f = h5py.File(sys.argv[1], 'r'); print('held', flush=True); time.sleep(60)"
    else:
        code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
                "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_file_held_by_another_process_is_refused_naming_it_and_left_intact(tmp_path, monkeypatch):
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)
    path = tmp_path / "held.hdf5"
    smash.io.save_model(_small_model(0), path)
    digest = _digest(path)
    child = _holder(path, "r")
    try:
        with pytest.raises(BlockingIOError, match=r"held\.hdf5: another process holds it open"):
            smash.io.save_model(_small_model(1), path)
    finally:
        child.kill()
        child.wait()
    assert _digest(path) == digest and _partials(path) == []
    smash.io.save_model(_small_model(1), path)  # once released, the write goes through


def test_reading_a_file_another_process_is_writing_names_it(tmp_path):
    path = tmp_path / "busy.hdf5"
    smash.io.save_model(_small_model(0), path)
    child = _holder(path, "w")
    try:
        with pytest.raises(BlockingIOError, match=r"busy\.hdf5: another process is writing it"):
            smash.io.read_model(path)
    finally:
        child.kill()
        child.wait()


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "s.yaml"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = smash.atomic._host()
    stale = tmp_path / f".s.yaml.{host}-{dead.pid}-0000abcd{smash.atomic.PARTIAL_SUFFIX}"
    stale.write_text("half a file")
    alive = tmp_path / f".s.yaml.{host}-{os.getppid()}-0000abcd{smash.atomic.PARTIAL_SUFFIX}"
    alive.write_text("another process still writing")
    smash.io.save_setup(daily_setup(20), target)
    assert not stale.exists() and alive.exists()
    assert smash.io.read_setup(target)["dt"] == 86400


def test_a_write_through_a_symbolic_link_replaces_the_linked_file(tmp_path):
    real = tmp_path / "real.yaml"
    smash.io.save_setup(daily_setup(10), real)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    smash.io.save_setup(daily_setup(20), link)
    assert link.is_symlink() and smash.io.read_setup(real)["end_time"] == "2020-01-21"


def test_writing_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model file .*nowhere.*does not exist"):
        smash.io.save_model(_small_model(), tmp_path / "nowhere" / "m.hdf5")
    with pytest.raises(IsADirectoryError, match=r"is a folder"):
        smash.io.save_setup(daily_setup(), tmp_path)


# ---------------------------------------------------------------------- reading
@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.hdf5"
    smash.io.save_model(_small_model(), path)
    return path


def test_truncated_model_file_is_named(model_file):
    data = model_file.read_bytes()
    model_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.hdf5 is a truncated HDF5 file"):
        smash.io.read_model(model_file)


def test_corrupted_chunk_names_the_file_and_the_dataset(model_file):
    with h5py.File(model_file, "r") as f:
        info = f["atmos_data/prcp"].id.get_chunk_info(0)
    with open(model_file, "r+b") as stream:
        stream.seek(info.byte_offset + 2)
        stream.write(b"\xff" * max(1, info.size - 4))
    with pytest.raises(ValueError, match=r"model\.hdf5: dataset '/atmos_data/prcp' cannot be read, the file is "
                                         r"damaged"):
        smash.io.read_model(model_file)


def test_foreign_hdf5_file_is_named(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["temperature"] = np.arange(4.0)
    with pytest.raises(ValueError, match=r"other\.h5 is not a file written by smash\.io\.save_model \(no "
                                         r"'_save_func' attribute\)"):
        smash.io.read_model(path)
    with pytest.raises(ValueError, match=r"other\.h5 has no 'mesh' group"):
        smash.io.read_mesh(path)


@pytest.mark.parametrize("removed, named", [
    ("physio_data", r"incomplete model file.*the file's root has no 'physio_data'"),
    ("rr_parameters/values", r"incomplete model file: its group '/rr_parameters' has no 'values'"),
    ("response/q", r"its group '/response' has no 'q'"),
    ("atmos_data/pet", r"group 'atmos_data' has no \['pet'\]"),
    ("mesh/flwdir", r"its group '/mesh' has no 'flwdir'"),
])
def test_incomplete_model_file_names_the_missing_part(model_file, removed, named):
    with h5py.File(model_file, "a") as f:
        del f[removed]
    with pytest.raises(ValueError, match=r"model\.hdf5.*" + named):
        smash.io.read_model(model_file)


def test_model_file_with_wrong_map_shape_is_named(model_file):
    with h5py.File(model_file, "a") as f:
        del f["rr_initial_states/values"]
        f["rr_initial_states"].create_dataset("values", data=np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"model\.hdf5: group 'rr_initial_states': values have shape \(2, 2, 4\), "
                                         r"expected \(1, 5, 4\)"):
        smash.io.read_model(model_file)


def test_damaged_saved_setup_is_named(model_file):
    with h5py.File(model_file, "a") as f:
        f["setup"].attrs["yaml"] = "structure: [unclosed"
    with pytest.raises(ValueError, match=r"model\.hdf5: the saved setup .* cannot be read"):
        smash.io.read_model(model_file)


def test_binary_file_given_as_setup_is_named(tmp_path, model_file):
    with pytest.raises(ValueError, match=r"model\.hdf5 is a binary file, not a YAML text file"):
        smash.io.read_setup(model_file)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("dt: 3600 # pas de temps d\xe9fini\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.yaml is not a UTF-8 text file \(byte 25\)"):
        smash.io.read_setup(latin)


def test_truncated_mesh_file_is_named(tmp_path):
    path = tmp_path / "mesh.hdf5"
    smash.io.save_mesh(line_mesh(5), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"mesh\.hdf5 is a truncated HDF5 file.*expected a mesh file"):
        smash.io.read_mesh(path)


def test_incomplete_mesh_file_names_the_missing_key(tmp_path):
    path = tmp_path / "mesh.hdf5"
    smash.io.save_mesh(line_mesh(5), path)
    with h5py.File(path, "a") as f:
        del f["mesh"].attrs["xres"]
    with pytest.raises(ValueError, match=r"mesh\.hdf5 is an incomplete mesh file: its group '/mesh' has no 'xres'"):
        smash.io.read_mesh(path)
