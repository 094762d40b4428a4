"""Main job: build the built-in synthetic catchment, run it, summarise and plot.

    python -m smash [--out hydrograph.png] [--dataset synthetic|Lez|Cance] [--ncpu N]

With a subcommand (run, calibrate, batch, status) it is the `smash` command (smash.batch.cli).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


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
    # The package's own metric (missing observations left out), not a second definition of it.
    scores = smash.evaluation(model, "nse")[:, 0] if m.ng else []
    for code, score in zip(m.code, scores, strict=True):
        print(f"  gauge {code}: NSE = {score:.3f}")

    fig, _ = smash.plot.hydrograph(model, title=f"{args.dataset}: gauge {m.code[0]} ({s.structure})")
    fig.tight_layout()
    from smash.atomic import atomic_write

    with atomic_write(args.out, "figure") as partial:
        # The format from the target's name: the temporary file's own ends in ".partial".
        fig.savefig(partial, dpi=120, format=os.path.splitext(args.out)[1][1:] or "png")
    print(f"  hydrograph written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
