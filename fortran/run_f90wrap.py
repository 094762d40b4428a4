"""Generate the Python bindings of the Fortran core with f90wrap (direct-C mode).

Called by meson at build time; the outputs are build products, never committed.

Usage: python run_f90wrap.py <outdir> <file.f90> [<file.f90> ...]

Writes into <outdir>: _fcore.c (the CPython extension glue), fcore.py (the
Python classes of the Fortran derived types) and f90wrap_<stem>.f90 for each
input (an empty one when f90wrap has nothing to wrap in it, so the build can
name its outputs in advance).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# Kinds of the core (md_kinds): f90wrap sees them as real(8)/real(4) once
# resolved, so map both spellings.
KIND_MAP = {
    "real": {"rk": "double", "sp": "float", "8": "double", "4": "float"},
    "integer": {"": "int", "4": "int", "8": "long_long"},
    "logical": {"": "int"},
}


# Runs that may read streamed forcings (smash.stream) while they compute: they release the GIL so
# that the thread reading the next window runs alongside, and the window callback takes it back.
NOGIL_CALLS = ("f90wrap_md_api__forward_run", "f90wrap_md_gradient__cost_gradient",
               "f90wrap_md_gradient__cost_tangent", "f90wrap_md_api__estimate_interception_window")


def release_gil(glue: str) -> str:
    """The C glue with each call statement of NOGIL_CALLS wrapped in Py_BEGIN/END_ALLOW_THREADS."""
    for name in NOGIL_CALLS:
        call = re.compile(rf"^( +)(F90WRAP_F_SYMBOL\({name}\)\(.*?\);)$", re.M | re.S)
        glue, count = call.subn(r"\1Py_BEGIN_ALLOW_THREADS\n\1\2\n\1Py_END_ALLOW_THREADS", glue)
        if count != 1:
            raise RuntimeError(f"run_f90wrap: expected one call of {name} in the C glue, found {count}")
    return glue


def main():
    outdir, sources = sys.argv[1], [os.path.abspath(s) for s in sys.argv[2:]]
    with tempfile.TemporaryDirectory() as work:
        kind_map = os.path.join(work, "kind_map")
        with open(kind_map, "w") as f:
            f.write(repr(KIND_MAP))
        subprocess.run(
            [sys.executable, "-m", "f90wrap.scripts.main", "-m", "fcore", "-k", kind_map,
             "--direct-c", *sources],
            cwd=work, check=True, stdout=subprocess.DEVNULL,
        )
        for src in sources:
            name = "f90wrap_" + os.path.splitext(os.path.basename(src))[0] + ".f90"
            produced = os.path.join(work, name)
            if os.path.exists(produced):
                shutil.copy(produced, os.path.join(outdir, name))
            else:
                open(os.path.join(outdir, name), "w").close()
        with open(os.path.join(work, "_fcore.c")) as f:
            glue = release_gil(f.read())
        with open(os.path.join(outdir, "_fcore.c"), "w") as f:
            f.write(glue)
        with open(os.path.join(work, "fcore.py")) as f:
            text = f.read()
        # The extension lives inside the package, next to this module, in one variant per CPU level:
        # smash._cpu_variant imports the one this CPU runs.
        text, count = re.subn(r"^import _fcore$", "from smash._cpu_variant import extension as _fcore", text,
                              count=1, flags=re.M)
        if count != 1:
            raise RuntimeError("run_f90wrap: expected `import _fcore` in f90wrap's fcore.py")
        with open(os.path.join(outdir, "fcore.py"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
