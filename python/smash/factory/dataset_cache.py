"""The smash 1.3 datasets fetched once into a user cache, from the published hydro-smash 1.3.0 wheel.

smash 1.x ships its datasets (Lez, Cance, France and the national flow directions)
inside its wheel. We do not: on first use the same wheel is downloaded with pip (the
ordinary client, so the user's pip configuration, mirrors and proxies apply), its
sha256 checked against the pinned one, and only the dataset files extracted into
`<user cache>/datasets/hydro-smash-1.3.0/`. Later calls read the cache without any
network.

Environment variables:

- ``SMASH_CACHE_DIR``: cache folder (default: the platform's user cache folder for "smash");
- ``SMASH_DATASETS_INDEX_URL``: package index given to pip as ``--index-url`` (a mirror);
- ``SMASH_DATASETS_SHA256``: expected sha256 of the wheel, for a mirror serving a rebuilt file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

DISTRIBUTION = "hydro-smash"
VERSION = "1.3.0"
# One fixed file of that release, whatever the user's interpreter and platform: the
# datasets are data, and one file means one hash to pin. Measured with `pip download`.
WHEEL_TAGS = (("--python-version", "3.11"), ("--implementation", "cp"), ("--abi", "cp311"),
              ("--platform", "manylinux_2_28_x86_64"))
WHEEL_SHA256 = "bfcd1dadf60f8ebe0979a5adfb82e93464d576743710e5734370f267b05722fd"
# Where the datasets sit inside that wheel (read from its file list), and what is kept:
# the three dataset folders and the flow-direction raster, never the package's code.
WHEEL_DATASET_PREFIX = "smash/factory/dataset/"
DATASET_ENTRIES = ("Lez/", "Cance/", "France/", "France_flwdir.tif")
SKIPPED_SUFFIXES = (".py", ".pyc")

CACHE_ENV = "SMASH_CACHE_DIR"
INDEX_ENV = "SMASH_DATASETS_INDEX_URL"
SHA256_ENV = "SMASH_DATASETS_SHA256"
WHAT_TO_SET = (f"set SMASH_DATA_DIR to a folder holding Lez, Cance, France and France_flwdir.tif "
               f"(or pass path=), or set {INDEX_ENV} to a reachable package index")


class DatasetFetchError(OSError):
    """The datasets could not be fetched into the cache (offline, refused file, no pip)."""


def cache_root() -> str:
    """Folder of the smash cache: $SMASH_CACHE_DIR, else the platform's user cache folder."""
    if os.environ.get(CACHE_ENV):
        return os.path.abspath(os.environ[CACHE_ENV])
    import platformdirs

    return platformdirs.user_cache_dir("smash", appauthor=False)


def cached_datasets_folder() -> str:
    """Folder where the extracted datasets live (it exists only once they are complete)."""
    return os.path.join(cache_root(), "datasets", f"{DISTRIBUTION}-{VERSION}")


def datasets_folder() -> str:
    """Folder holding Lez, Cance, France and France_flwdir.tif, fetched on first use.

    Returns the cached folder when it is there; otherwise downloads the pinned
    hydro-smash wheel with pip, checks its sha256, extracts the dataset files and
    then returns it. Raises DatasetFetchError saying what to set when that fails.
    """
    folder = cached_datasets_folder()
    if os.path.isdir(folder):
        return folder
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="download-", dir=os.path.dirname(folder)) as work:
        wheel = _download_wheel(os.path.join(work, "wheel"))
        _check_sha256(wheel, os.environ.get(SHA256_ENV) or WHEEL_SHA256)
        extracted = os.path.join(work, "extracted")
        _extract_datasets(wheel, extracted)
        try:
            # Atomic: a reader sees no folder or a complete one; if another process
            # finished first, its copy is kept and ours is dropped with `work`.
            os.rename(extracted, folder)
        except OSError:
            if not os.path.isdir(folder):
                raise
    return folder


def _on_terminal() -> bool:
    return sys.stderr.isatty()


def _download_wheel(destination: str) -> str:
    """Path of the hydro-smash wheel downloaded by pip into `destination`."""
    if importlib.util.find_spec("pip") is None:
        raise DatasetFetchError(f"Fetching the smash 1.3 datasets needs pip in this environment: install pip, or "
                                f"{WHAT_TO_SET}")
    command = [sys.executable, "-m", "pip", "download", f"{DISTRIBUTION}=={VERSION}", "--no-deps",
               "--only-binary=:all:", *[part for tag in WHEEL_TAGS for part in tag], "--dest", destination,
               "--disable-pip-version-check", "--no-input", "--retries", "2"]
    if os.environ.get(INDEX_ENV):
        command += ["--index-url", os.environ[INDEX_ENV]]
    on_terminal = _on_terminal()
    command += ["--progress-bar", "on" if on_terminal else "off"]
    print(f"smash: fetching the smash 1.3 datasets ({DISTRIBUTION} {VERSION} wheel, about 17 MB) into "
          f"{cached_datasets_folder()}", file=sys.stderr)
    # On a terminal pip draws its own download progress bar; elsewhere its output is
    # kept for the error message.
    result = subprocess.run(command, stdout=None if on_terminal else subprocess.PIPE,
                            stderr=None if on_terminal else subprocess.STDOUT, text=True)
    wheels = [name for name in os.listdir(destination) if name.endswith(".whl")] if os.path.isdir(
        destination) else []
    if result.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((result.stdout or "").strip().splitlines()[-4:])
        raise DatasetFetchError(
            f"Could not download the smash 1.3 datasets ({DISTRIBUTION}=={VERSION} wheel) with pip"
            f"{' from ' + os.environ[INDEX_ENV] if os.environ.get(INDEX_ENV) else ''} "
            f"(exit code {result.returncode}){': ' + tail if tail else ''}.\nOffline or behind a mirror: {WHAT_TO_SET}"
        )
    return os.path.join(destination, wheels[0])


def _check_sha256(path: str, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise DatasetFetchError(
            f"Refused {os.path.basename(path)}: its sha256 is {digest.hexdigest()}, the pinned one is {expected} "
            f"(nothing was cached). A mirror serving another file needs {SHA256_ENV}; or {WHAT_TO_SET}"
        )


def _dataset_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Members of the wheel that are dataset files, checked to stay inside the dataset folder."""
    members = []
    for info in archive.infolist():
        name = info.filename
        if info.is_dir() or not name.startswith(WHEEL_DATASET_PREFIX):
            continue
        relative = name[len(WHEEL_DATASET_PREFIX):]
        if not relative.startswith(DATASET_ENTRIES) or relative.endswith(SKIPPED_SUFFIXES):
            continue
        if relative.startswith("/") or ".." in relative.split("/"):
            raise DatasetFetchError(f"Refused the wheel: member {name!r} points outside the dataset folder")
        members.append(info)
    return members


def _extract_datasets(wheel: str, destination: str) -> None:
    """Extract the dataset files of `wheel` into `destination` (Lez/, Cance/, France/, France_flwdir.tif)."""
    from tqdm.auto import tqdm

    with zipfile.ZipFile(wheel) as archive:
        members = _dataset_members(archive)
        found = {entry for entry in DATASET_ENTRIES for info in members
                 if info.filename[len(WHEEL_DATASET_PREFIX):].startswith(entry)}
        if found != set(DATASET_ENTRIES):
            missing = ", ".join(sorted(set(DATASET_ENTRIES) - found))
            raise DatasetFetchError(f"Refused {os.path.basename(wheel)}: no {missing} under {WHEEL_DATASET_PREFIX}")
        total = sum(info.file_size for info in members)
        with tqdm(total=total, unit="B", unit_scale=True, desc="smash: extracting datasets",
                  disable=not _on_terminal()) as progress:
            for info in members:
                target = os.path.join(destination, *info.filename[len(WHEEL_DATASET_PREFIX):].split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                progress.update(info.file_size)
