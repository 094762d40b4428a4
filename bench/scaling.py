"""How time and memory grow with the problem size (active cells x time steps, 1e5 to 1e8).

    python bench/scaling.py [--anchor-python /path/to/python] [--sizes 1e5,1e6,1e7,1e8]
                            [--out bench/results] [--ncpu 1,2]

Synthetic catchments (no files) of growing size, hourly gr4-lr: this interpreter
writes each one (mesh, forcings, observations) to an .npz once; a fresh worker
per (size, package, ncpu) loads it, runs a forward run and a distributed
cost + gradient, and reports times and its peak memory. With --anchor-python the
same worker runs under smash 1.3. Writes scaling.md (table) and scaling.png
(time and memory against cells x steps, log-log) into --out.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# (nrow = ncol, hourly steps) giving about the target number of active cells x steps.
GRIDS = {1e5: (18, 500), 1e6: (48, 700), 1e7: (130, 1000), 1e8: (410, 1000)}


def make_case(size, folder):
    """Write the synthetic case of this size; return its path."""
    import smash
    from smash.factory.synthetic import synthetic_setup_mesh

    n, steps = GRIDS[size]
    path = os.path.join(folder, f"synthetic-{size:.0e}.npz")
    if os.path.exists(path):
        return path
    setup, mesh = synthetic_setup_mesh(nrow=n, ncol=n)
    end = np.datetime64("2020-01-01T00:00") + np.timedelta64(steps, "h")
    setup.update(dt=3600, start_time="2020-01-01 00:00", end_time=str(end).replace("T", " "),
                 read_descriptor=False, descriptor_name=[])
    model = smash.Model(setup, mesh)
    fields = {f"mesh_{k}": np.asarray(v) for k, v in mesh.items()}
    np.savez(path, prcp=model.atmos_data.prcp, pet=model.atmos_data.pet, qobs=model.response_data.q,
             start=setup["start_time"], end=setup["end_time"], **fields)
    return path


def worker(path, ncpu):
    """Runs under the measured interpreter (ours or smash 1.3): one JSON line."""
    sys.path.insert(0, HERE)
    from _cases import peak_mb

    import smash

    data = np.load(path)
    mesh = {k[5:]: (data[k].item() if data[k].ndim == 0 else data[k]) for k in data.files if k.startswith("mesh_")}
    for key in ("nrow", "ncol", "nac", "ng", "npar", "epsg"):
        mesh[key] = int(mesh[key])
    for key in ("xmin", "ymax", "xres", "yres"):
        mesh[key] = float(mesh[key])
    mesh["code"] = mesh["code"].astype(str)
    setup = {"hydrological_module": "gr4", "routing_module": "lr", "dt": 3600,
             "start_time": str(data["start"]), "end_time": str(data["end"]),
             "read_prcp": False, "read_pet": False, "read_qobs": False}
    t0 = time.perf_counter()
    model = smash.Model(setup, mesh)
    model.atmos_data.prcp = data["prcp"]
    model.atmos_data.pet = data["pet"]
    model.response_data.q = data["qobs"]
    build = time.perf_counter() - t0
    common = {"ncpu": ncpu, "verbose": False}
    forward = []
    for _ in range(2):
        t0 = time.perf_counter()
        model.forward_run(common_options=common)
        forward.append(time.perf_counter() - t0)
    after_forward = peak_mb()
    t0 = time.perf_counter()
    smash.backward_run(model, mapping="distributed", common_options=common,
                       return_options={"cost": True, "grad": True})
    gradient = time.perf_counter() - t0
    nac = int(np.sum(mesh["active_cell"]))
    print(json.dumps({"nac": nac, "ntime": int(model.setup.ntime_step), "build_s": build,
                      "forward_s": min(forward), "gradient_s": gradient, "forward_mb": after_forward,
                      "gradient_mb": peak_mb()}))


def run(python, path, ncpu):
    env = dict(os.environ, OMP_NUM_THREADS=str(ncpu))
    proc = subprocess.run([python, os.path.abspath(__file__), "--worker", path, "--ncpu", str(ncpu)],
                          capture_output=True, text=True, env=env, cwd="/tmp")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def read_table(path):
    """Rows of a scaling.md written by this script."""
    rows = []
    for line in open(path).read().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 10:
            continue
        rows.append({"package": cells[0], "ncpu": int(cells[1]), "cells_steps": float(cells[3]),
                     "forward_s": float(cells[5]), "gradient_s": float(cells[6]), "gradient_mb": float(cells[9])})
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.5))
    for (package, ncpu), marker in zip(sorted({(r["package"], r["ncpu"]) for r in rows}), "osd^v<>", strict=False):
        sel = sorted((r for r in rows if r["package"] == package and r["ncpu"] == ncpu and "error" not in r),
                     key=lambda r: r["cells_steps"])
        if not sel:
            continue
        x = [r["cells_steps"] for r in sel]
        label = f"{package}, ncpu={ncpu}"
        ax_t.loglog(x, [r["forward_s"] for r in sel], marker=marker, label=f"forward, {label}")
        ax_t.loglog(x, [r["gradient_s"] for r in sel], marker=marker, ls="--", label=f"gradient, {label}")
        ax_m.loglog(x, [r["gradient_mb"] for r in sel], marker=marker, label=f"peak (gradient), {label}")
    # Linear references through our single-thread points: time = a x, memory = m0 + b x.
    ours = sorted((r for r in rows if r["package"] == "ours" and r["ncpu"] == 1 and "error" not in r),
                  key=lambda r: r["cells_steps"])
    if len(ours) >= 2:
        xs = np.geomspace(ours[0]["cells_steps"], ours[-1]["cells_steps"], 50)
        rate = ours[-1]["gradient_s"] / ours[-1]["cells_steps"]
        ax_t.loglog(xs, rate * xs, color="grey", lw=0.8, label="proportional to size")
        m0 = ours[0]["gradient_mb"]
        slope = (ours[-1]["gradient_mb"] - m0) / (ours[-1]["cells_steps"] - ours[0]["cells_steps"])
        ax_m.loglog(xs, m0 + slope * (xs - xs[0]), color="grey", lw=0.8,
                    label=f"constant + linear ({slope * 1e6:.0f} B per cell-step)")
    ax_t.set(xlabel="active cells x time steps", ylabel="time (s)", title="Time")
    ax_m.set(xlabel="active cells x time steps", ylabel="peak resident memory (MB)", title="Memory")
    for ax in (ax_t, ax_m):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-python", default=None)
    parser.add_argument("--sizes", default="1e5,1e6,1e7,1e8")
    parser.add_argument("--ncpu", default="1,2")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", default=None)
    parser.add_argument("--replot", action="store_true", help="redraw scaling.png from scaling.md")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, int(args.ncpu))
        return
    if args.replot:
        plot(read_table(os.path.join(args.out, "scaling.md")), os.path.join(args.out, "scaling.png"))
        return
    args.out = os.path.abspath(args.out)  # workers run elsewhere
    os.makedirs(args.out, exist_ok=True)
    cases = os.path.join(args.out, "cases")
    os.makedirs(cases, exist_ok=True)
    packages = [("ours", sys.executable)] + ([("smash 1.3", args.anchor_python)] if args.anchor_python else [])
    rows = []
    header = ("| package | ncpu | nac x steps | cells x steps | build (s) | forward (s) | gradient (s) | "
              "gradient/forward | peak MB forward | peak MB gradient |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    print("\n".join(lines), flush=True)
    for size in [float(s) for s in args.sizes.split(",")]:
        path = make_case(size, cases)
        for package, python in packages:
            for ncpu in [int(n) for n in args.ncpu.split(",")]:
                r = run(python, path, ncpu)
                r.update(package=package, ncpu=ncpu)
                if "error" in r:
                    line = f"| {package} | {ncpu} | size {size:.0e} | error: {r['error']} |"
                else:
                    r["cells_steps"] = r["nac"] * r["ntime"]
                    line = (f"| {package} | {ncpu} | {r['nac']} x {r['ntime']} | {r['cells_steps']:.2e} | "
                            f"{r['build_s']:.2f} | {r['forward_s']:.3f} | {r['gradient_s']:.3f} | "
                            f"{r['gradient_s'] / r['forward_s']:.1f} | {r['forward_mb']:.0f} | "
                            f"{r['gradient_mb']:.0f} |")
                rows.append(r)
                lines.append(line)
                print(line, flush=True)
    with open(os.path.join(args.out, "scaling.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(rows, os.path.join(args.out, "scaling.png"))
    print(f"wrote {os.path.join(args.out, 'scaling.md')} and scaling.png")


if __name__ == "__main__":
    main()
