"""Main job: build the built-in synthetic catchment, run it, summarise and plot.

    python -m smash [--out hydrograph.png] [--dataset synthetic|Lez|Cance] [--ncpu N]

With a subcommand (run, calibrate, batch, status) it is the `smash` command (smash.batch.cli).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("run", "calibrate", "batch", "status"):
        from smash.batch.cli import main as command

        return command(argv)
    parser = argparse.ArgumentParser(prog="python -m smash", description=__doc__.splitlines()[0],
                                     epilog="Subcommands run, calibrate, batch, status: see `smash --help`.")
    parser.add_argument("--dataset", default="synthetic", help="synthetic (default, no files), Lez, Cance")
    parser.add_argument("--out", default="hydrograph.png", help="PNG file for the hydrograph plot")
    parser.add_argument("--ncpu", type=int, default=1)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import smash

    t0 = time.perf_counter()
    setup, mesh = smash.factory.load_dataset(args.dataset)
    model = smash.Model(setup, mesh)
    t1 = time.perf_counter()
    model.forward_run(common_options={"ncpu": args.ncpu})
    t2 = time.perf_counter()

    s, m = model.setup, model.mesh
    print(f"smash {smash.__version__} - {args.dataset} catchment, structure {s.structure}")
    print(f"  grid {m.nrow} x {m.ncol}, {m.nac} active cells, {s.ntime_step} steps of {s.dt} s")
    print(f"  model built in {t1 - t0:.3f} s, forward run in {t2 - t1:.3f} s "
          f"({m.nac * s.ntime_step / max(t2 - t1, 1e-9):.3g} cell-steps/s)")
    qobs, qsim = model.response_data.q, model.response.q
    # The package's own metric (missing observations left out), not a second definition of it.
    scores = smash.evaluation(model, "nse")[:, 0] if m.ng else []
    for code, score in zip(m.code, scores, strict=True):
        print(f"  gauge {code}: NSE = {score:.3f}")

    from smash.time_axis import TimeAxis

    steps = TimeAxis.of(s).end_times()
    fig, ax = plt.subplots(figsize=(10, 4))
    obs = np.where(qobs[0] >= 0, qobs[0], np.nan)
    ax.plot(steps, obs, color="k", lw=1, label="observed")
    ax.plot(steps, qsim[0], color="tab:blue", lw=1, label="simulated")
    ax.set_xlabel("end of time step")
    ax.set_ylabel("discharge (m$^3$/s)")
    ax.set_title(f"{args.dataset}: gauge {m.code[0]} ({s.structure})")
    ax.legend()
    fig.tight_layout()
    from smash.io.atomic import atomic_write

    with atomic_write(args.out, "figure") as partial:
        # The format from the target's name: the temporary file's own ends in ".partial".
        fig.savefig(partial, dpi=120, format=os.path.splitext(args.out)[1][1:] or "png")
    print(f"  hydrograph written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
