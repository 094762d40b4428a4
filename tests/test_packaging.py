"""The built extension module loads without the system's GNU Fortran runtime.

The build ships libgfortran, libquadmath (and libgomp with OpenMP) beside the extension
module, which finds them first through its DT_RPATH ($ORIGIN); every other library it
or they need is one that a base Debian system has (glibc, libgcc_s). The whole wheel,
installed in a fresh virtual environment and run with gfortran's libraries hidden, is
checked by tests/wheel_check.py (see docs/development.md).
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from smash import _cpu_variant

# Every CPU variant of the extension built here (smash._fcore and, on x86_64, smash._fcore_v3).
EXTENSIONS = [f"smash.{_cpu_variant.VARIANTS[name]}" for name in _cpu_variant.built_variants()]

# Libraries of glibc and libgcc-s1, both in every base Debian system ("required" packages).
BASE_SYSTEM = {"libc.so.6", "libm.so.6", "libmvec.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1",
               "ld-linux-x86-64.so.2", "libgcc_s.so.1"}
FORTRAN_RUNTIME_PREFIXES = ("libgfortran.", "libquadmath.", "libgomp.")


def _dynamic_section(path: str) -> tuple[list[str], list[str], list[str]]:
    """(DT_NEEDED, DT_RPATH, DT_RUNPATH) entries of a shared object, read with readelf."""
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    output = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    entries = {"NEEDED": [], "RPATH": [], "RUNPATH": []}
    for line in output.splitlines():
        for tag, values in entries.items():
            if f"({tag})" in line:
                values.extend(line.split("[", 1)[1].rstrip().rstrip("]").split(":"))
    return entries["NEEDED"], entries["RPATH"], entries["RUNPATH"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF shared objects: Linux only")
@pytest.mark.parametrize("extension", EXTENSIONS)
def test_extension_needs_only_base_system_libraries_and_the_bundled_runtime(extension):
    module = importlib.util.find_spec(extension).origin
    folder = os.path.dirname(module)
    needed, rpath, runpath = _dynamic_section(module)
    assert "libgfortran.so.5" in needed or any(name.startswith("libgfortran.") for name in needed)
    # DT_RPATH, not RUNPATH: it also applies to libgfortran's own lookup of libquadmath.
    assert rpath == ["$ORIGIN"] and runpath == []
    bundled = [name for name in needed if name.startswith(FORTRAN_RUNTIME_PREFIXES)]
    assert set(needed) - set(bundled) <= BASE_SYSTEM, f"{module} needs {sorted(set(needed) - BASE_SYSTEM)}"
    to_check = list(bundled)
    seen = set()
    while to_check:  # the bundled libraries' own dependencies, transitively
        name = to_check.pop()
        if name in seen:
            continue
        seen.add(name)
        path = os.path.join(folder, name)
        assert os.path.isfile(path), f"{name} is needed by the extension but not shipped beside it in {folder}"
        library_needed, _, _ = _dynamic_section(path)
        outside = set(library_needed) - BASE_SYSTEM
        assert all(dep.startswith(FORTRAN_RUNTIME_PREFIXES) for dep in outside), f"{name} needs {sorted(outside)}"
        to_check.extend(outside)
    assert "libgfortran.so.5" in seen  # and, through it, libquadmath where the platform has one


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("extension", EXTENSIONS)
def test_the_bundled_runtime_is_the_one_loaded(extension):
    # Even where gfortran's libraries are installed, importing the extension maps the
    # shipped copies, never the system's: what a machine without them will load.
    script = (
        f"import os, {extension} as f\n"
        "folder = os.path.dirname(os.path.realpath(f.__file__))\n"
        "paths = {line.split()[-1] for line in open('/proc/self/maps') if len(line.split()) == 6}\n"
        "runtime = sorted(p for p in paths if os.path.basename(p).startswith(('libgfortran.', 'libquadmath.', "
        "'libgomp.')))\n"
        "print(folder); print('\\n'.join(runtime))\n"
    )
    lines = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=os.path.dirname(__file__)).stdout.splitlines()
    folder, mapped = lines[0], lines[1:]
    assert any(os.path.basename(path) == "libgfortran.so.5" for path in mapped)
    assert all(os.path.dirname(path) == folder for path in mapped), mapped
