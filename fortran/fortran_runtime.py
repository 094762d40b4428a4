"""Find and copy the GNU Fortran runtime libraries the extension module needs, to ship them in the wheel.

Called by meson at build time. Debian's static archives of these libraries are not
position-independent (their thread-local storage cannot go into a shared object), so
the wheel carries the shared ones instead, beside the extension module, which finds
them through its RPATH ($ORIGIN): a machine without gfortran can then import smash.

Usage:
    python fortran_runtime.py list <name> [<name> ...] -- <fortran compiler command>
        prints "<soname> <path>" for each runtime library lib<name>.so the compiler links
        (a name ending in "?" is skipped when the compiler has no such library);
    python fortran_runtime.py copy <path> [<path> ...] --to <output> [<output> ...]
        copies each library file to its output (named by its soname).
"""

import os
import shutil
import subprocess
import sys


def soname(path: str) -> str:
    """DT_SONAME of a shared library (the name the dynamic loader looks for)."""
    dynamic = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    for line in dynamic.splitlines():
        if "(SONAME)" in line:
            return line.split("[", 1)[1].rstrip().rstrip("]")
    raise SystemExit(f"{path} has no SONAME: not a shared library to bundle")


def library_path(compiler: list[str], name: str) -> str:
    """Real file of lib<name>.so as the compiler's driver would link it."""
    found = subprocess.run([*compiler, f"-print-file-name=lib{name}.so"], capture_output=True, text=True,
                           check=True).stdout.strip()
    if not os.path.isabs(found):
        raise SystemExit(f"the Fortran compiler {' '.join(compiler)} links no lib{name}.so: cannot bundle it "
                         "(configure with -Dbundle_fortran_runtime=false to rely on the system's)")
    return os.path.realpath(found)


def main(argv: list[str]) -> None:
    command, rest = argv[0], argv[1:]
    if command == "list":
        split = rest.index("--")
        names, compiler = rest[:split], rest[split + 1:]
        for name in names:
            # "name?" is bundled when the compiler has it (x86 has libquadmath, aarch64 has none).
            optional = name.endswith("?")
            name = name.rstrip("?")
            if optional and not os.path.isabs(subprocess.run([*compiler, f"-print-file-name=lib{name}.so"],
                                                             capture_output=True, text=True).stdout.strip()):
                continue
            path = library_path(compiler, name)
            print(soname(path), path)
    elif command == "copy":
        split = rest.index("--to")
        sources, outputs = rest[:split], rest[split + 1:]
        for source, output in zip(sources, outputs, strict=True):
            shutil.copyfile(source, output)
            os.chmod(output, 0o755)
    else:
        raise SystemExit(f"unknown command {command!r}: expected list or copy")


if __name__ == "__main__":
    main(sys.argv[1:])
