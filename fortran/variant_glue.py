"""Derive the C glue of a CPU variant of the extension from f90wrap's `_fcore.c`.

Called by meson at build time; the output is a build product, never committed.

Usage: python variant_glue.py <_fcore.c> <out.c> <module name, e.g. _fcore_v3>

Python finds an extension module `smash._fcore_v3` through its init function
`PyInit__fcore_v3`: the glue is the baseline's with that one function renamed (the
wrapped Fortran symbols are the same, each variant being a shared object of its own).
"""

import re
import sys

BASELINE_INIT = "PyInit__fcore"


def rename_init(glue: str, module: str) -> str:
    """`glue` with its module init function named for `module`; an error unless it is defined exactly once."""
    if not re.fullmatch(r"_fcore_\w+", module):
        raise ValueError(f"variant_glue: module name {module!r} should read _fcore_<variant>")
    pattern = re.compile(rf"\b{BASELINE_INIT}\b(?=\s*\(void\))")
    renamed, count = pattern.subn(f"PyInit_{module}", glue)
    if count != 1:
        raise RuntimeError(f"variant_glue: expected one definition of {BASELINE_INIT}(void) in the glue, found {count}")
    return renamed


def main():
    source, target, module = sys.argv[1:4]
    with open(source) as f:
        glue = f.read()
    with open(target, "w") as f:
        f.write(rename_init(glue, module))


if __name__ == "__main__":
    main()
