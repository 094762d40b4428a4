"""Building a dataset model the same way in smash and in the smash 1.3 anchor.

Only public API shared by both packages is used here (smash.Model,
smash.io.read_mesh, forward_run), so the bench worker runs unchanged under
either interpreter.
"""

import json
import os
import subprocess

import yaml


def dataset_setup_mesh(data_dir, name, structure):
    import smash

    folder = os.path.join(data_dir, name)
    with open(os.path.join(folder, f"setup_{name}.yaml")) as f:
        setup = yaml.safe_load(f)
    for key in ("qobs_directory", "prcp_directory", "pet_directory"):
        if key in setup:
            setup[key] = os.path.join(folder, setup[key])
    if setup.get("read_descriptor"):
        setup["descriptor_directory"] = os.path.join(folder, "descriptor")
    snow, hydro, routing = structure.split("-")
    setup.update(snow_module=snow, hydrological_module=hydro, routing_module=routing)
    mesh = smash.io.read_mesh(os.path.join(folder, f"mesh_{name}.hdf5"))
    return setup, mesh


def peak_mb():
    """Peak resident memory of this process in MB (VmHWM). Not ru_maxrss: Linux carries it over
    exec, so a worker would report its parent's peak when that was larger."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(script, python, data_dir, case, repeat, extra=(), ncpu=1):
    """Run `script --worker case` under `python` on `ncpu` threads; its last JSON line, or the error."""
    # Workers run in /tmp (away from the source tree's python/smash), so a relative
    # data folder must be resolved here, against the caller's directory.
    cmd = [python, script, "--worker", case, "--data", os.path.abspath(data_dir), "--repeat", str(repeat),
           *map(str, extra)]
    if ncpu != 1:
        cmd += ["--ncpu", str(ncpu)]
    env = dict(os.environ, OMP_NUM_THREADS=str(ncpu))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"case": case, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])
