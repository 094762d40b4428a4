"""Build the wheel with `pip wheel .`, install it in a fresh venv and run it with gfortran's libraries hidden.

Proves that the wheel runs on a machine without gfortran, in three steps:

1. every shared object in the wheel needs only libraries shipped in the wheel or
   provided by a package of a minimal Debian system (Essential or priority "required"
   packages and everything they depend on), read from DT_NEEDED with readelf and
   matched to packages with dpkg;
2. in a fresh virtual environment, a forward run of the synthetic catchment in a
   private mount namespace where every libgfortran/libquadmath/libgomp file of the
   system is replaced by an empty file (checked: loading the system's libgfortran
   fails there) gives the same cost as outside it, in each CPU variant of the core
   the wheel holds and this CPU runs (SMASH_CPU_VARIANT);
3. control: hiding also the wheel's own copies makes the import fail, so step 2 did
   run on the shipped libraries.

Needs root (unshare, mount), readelf, dpkg; takes 1-3 minutes. Run from the repository root:

    python tests/wheel_check.py [--keep WORKDIR]
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME_PREFIXES = ("libgfortran.", "libquadmath.", "libgomp.")
SYSTEM_LIBRARY_GLOBS = ("/usr/lib/*-linux-gnu/lib*.so*", "/lib/*-linux-gnu/lib*.so*", "/usr/lib/gcc/*/*/lib*.so*",
                        "/usr/local/lib/lib*.so*", "/usr/lib/lib*.so*", "/usr/lib64/lib*.so*")
FORWARD_RUN = (
    "import smash\n"
    "setup, mesh = smash.factory.load_dataset('synthetic')\n"
    "model = smash.Model(setup, mesh)\n"
    "print(repr(model.forward_run(return_options={'cost': True}).cost))\n"
)
# The CPU variants of the core in the wheel that this CPU runs (smash/_cpu_variant.py).
VARIANTS_HERE = (
    "from smash import _cpu_variant as c\n"
    "print(*[v for v in c.built_variants() if v == 'baseline' or not c.missing_for_v3()])\n"
)


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs).stdout


def needed(path):
    lines = run(["readelf", "-d", path]).splitlines()
    return [line.split("[", 1)[1].rstrip().rstrip("]") for line in lines if "(NEEDED)" in line]


def base_packages():
    """Installed packages of a minimal Debian system: the Essential and "required" ones and all they depend on."""
    fields = "${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\n"
    depends, roots = {}, []
    for line in run(["dpkg-query", "-W", f"-f={fields}"]).splitlines():
        package, essential, priority, relations = line.split("\t")
        # "a (>= 1) | b, c:any" -> every alternative counts (the one installed is in `depends`).
        depends[package] = {alternative.strip().split(" ")[0].split(":")[0]
                            for relation in relations.split(",") for alternative in relation.split("|")
                            if alternative.strip()}
        if essential == "yes" or priority == "required":
            roots.append(package)
    base, pending = set(), roots
    while pending:
        package = pending.pop()
        if package in depends and package not in base:
            base.add(package)
            pending.extend(depends[package])
    return base


def system_library_package(soname):
    """(path, package) of the system library the loader would take for `soname`."""
    for line in run(["ldconfig", "-p"]).splitlines()[1:]:
        name, _, target = line.strip().partition(" => ")
        if name.split(" ")[0] == soname and "x86-64" in name:
            owner = subprocess.run(["dpkg", "-S", os.path.realpath(target)], text=True, capture_output=True)
            if owner.returncode != 0:  # merged /usr: dpkg may know the other spelling of the path
                owner = subprocess.run(["dpkg", "-S", target], text=True, capture_output=True)
            return target, owner.stdout.split(":")[0] if owner.returncode == 0 else "?"
    return None, None


def check_dependencies(wheel):
    """Step 1: DT_NEEDED of every shared object of the wheel against the wheel and Debian's required packages."""
    with tempfile.TemporaryDirectory() as unpacked:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        objects = [path for path in glob.glob(os.path.join(unpacked, "**", "*.so*"), recursive=True)
                   if open(path, "rb").read(4) == b"\x7fELF"]
        shipped = {os.path.basename(path) for path in objects}
        base = base_packages()
        problems = []
        for path in sorted(objects):
            for soname in needed(path):
                if soname in shipped:
                    print(f"  {os.path.basename(path)} -> {soname}: shipped in the wheel")
                    continue
                target, package = system_library_package(soname)
                in_base = package in base
                print(f"  {os.path.basename(path)} -> {soname}: {target} from {package}"
                      f"{' (base system)' if in_base else ' NOT IN THE BASE SYSTEM'}")
                if not in_base:
                    problems.append(f"{os.path.basename(path)} needs {soname} ({package})")
        return sorted(shipped), problems


def hidden_runtime_files():
    """System files of the GNU Fortran runtime (real files, symlinks resolved): those the loader's cache
    lists and those in the compiler's and the usual library folders."""
    candidates = [line.strip().partition(" => ")[2] for line in run(["ldconfig", "-p"]).splitlines()[1:]]
    for pattern in SYSTEM_LIBRARY_GLOBS:
        candidates += glob.glob(pattern)
    return sorted({os.path.realpath(path) for path in candidates
                   if os.path.basename(path).startswith(RUNTIME_PREFIXES) and os.path.isfile(path)})


def variant_env(variant):
    """The environment of a run forced onto one CPU variant of the core (None: the automatic choice)."""
    return dict(os.environ, SMASH_CPU_VARIANT=variant) if variant else dict(os.environ)


def run_hidden(python, hide, code, variant=None):
    """Run `code` with `python` in a mount namespace where each file of `hide` is an empty file (with
    SMASH_CPU_VARIANT=`variant` when given)."""
    empty = tempfile.NamedTemporaryFile(delete=False)
    empty.close()
    mounts = "".join(f"mount --bind {empty.name} '{path}' && " for path in hide)
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               f"{mounts}exec '{python}' -c \"$0\"", code], text=True, capture_output=True,
                              cwd=tempfile.gettempdir(), env=variant_env(variant))
    finally:
        os.unlink(empty.name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="smash-wheel-check-")
    os.makedirs(work, exist_ok=True)
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w",
                        os.path.join(work, "dist")], check=True)
        build_seconds = time.perf_counter() - start
        wheel = glob.glob(os.path.join(work, "dist", "*.whl"))[0]
        print(f"built {os.path.basename(wheel)}: {os.path.getsize(wheel) / 1e6:.2f} MB in {build_seconds:.0f} s")

        print("1. libraries needed by the wheel's shared objects:")
        shipped, problems = check_dependencies(wheel)
        print(f"   shipped: {', '.join(shipped)}")
        if problems:
            raise SystemExit("FAIL: needs libraries a base Debian system lacks: " + "; ".join(problems))

        venv = os.path.join(work, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        python = os.path.join(venv, "bin", "python")
        start = time.perf_counter()
        subprocess.run([python, "-m", "pip", "install", "-q", wheel], check=True)
        print(f"installed in a fresh venv in {time.perf_counter() - start:.0f} s")
        variants = run([python, "-c", VARIANTS_HERE], cwd=tempfile.gettempdir()).split()

        hide = hidden_runtime_files()
        print(f"2. hiding {len(hide)} system files: {', '.join(hide)}")
        probe = run_hidden(python, hide, "import ctypes; ctypes.CDLL('libgfortran.so.5')")
        if probe.returncode == 0:
            raise SystemExit("FAIL: the system's libgfortran still loads in the namespace: the check proves nothing")
        for variant in variants:
            cost = run([python, "-c", FORWARD_RUN], cwd=tempfile.gettempdir(), env=variant_env(variant)).strip()
            hidden = run_hidden(python, hide, FORWARD_RUN, variant)
            if hidden.returncode != 0 or hidden.stdout.strip() != cost:
                raise SystemExit(f"FAIL: forward run ({variant} core) without the system's runtime: "
                                 f"{hidden.stdout}{hidden.stderr}")
            print(f"   forward run (synthetic, {variant} core) cost {hidden.stdout.strip()} == {cost} "
                  "with the system's runtime")

        package = run([python, "-c", "import os, smash; print(os.path.dirname(smash.__file__))"],
                      cwd=tempfile.gettempdir()).strip()
        own = [os.path.join(package, name) for name in shipped if name.startswith(RUNTIME_PREFIXES)]
        control = run_hidden(python, hide + own, FORWARD_RUN)
        if control.returncode == 0:
            raise SystemExit("FAIL: the run also works with the shipped runtime hidden: it was not the one used")
        print(f"3. control, shipped copies hidden too: fails as it must ({control.stderr.strip().splitlines()[-1]})")
        print("PASS")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
