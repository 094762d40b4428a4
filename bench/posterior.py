"""Posterior sampling benchmark: log-posterior evaluations (samples) per second of smash.sample_posterior,
and the forward runs per second on the same model for comparison.

    python bench/posterior.py [--data DIR] [--steps N]

Cases: a synthetic twin catchment (4 cells, one year daily; no data needed) and, with --data, Cance
gr4-lr (uniform cp, ct, kexc, llr, sg0, sg1 at smash's defaults; 1440 hourly steps). smash 1.3 has no
sampler: there is no ratio column.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def twin_model():
    sys.path.insert(0, os.path.join(HERE, "..", "tests"))
    import smash

    from helpers import line_mesh

    setup = {"start_time": "2020-01-01", "end_time": "2020-12-31", "dt": 86400, "hydrological_module": "gr4",
             "routing_module": "lr", "serr_sigma_mapping": "Constant"}
    model = smash.Model(setup, line_mesh(4))
    rng = np.random.default_rng(0)
    nt = model.setup.ntime_step
    model.atmos_data.prcp = rng.gamma(0.5, 12.0, size=(1, 4, nt)).astype(np.float32)
    model.atmos_data.pet = np.full((1, 4, nt), 2.0, dtype=np.float32)
    model.forward_run()
    q = model.response.q.astype(float)
    model.response_data.q = (q + 0.02 * rng.standard_normal(q.shape)).astype(np.float32)
    return model, {"parameters": ["cp", "ct", "sg0"]}


def cance_model(data_dir):
    import smash

    setup, mesh = smash.factory.load_dataset("Cance", data_dir)
    return smash.Model(setup, mesh), None


def run(name, model, options, steps):
    import smash

    t0 = time.perf_counter()
    for _ in range(20):
        model.forward_run(common_options={"verbose": False})
    forward_rate = 20 / (time.perf_counter() - t0)
    post = smash.sample_posterior(model, optimize_options=options, n_steps=steps, n_predictive=20, random_state=0)
    print(f"{name:8s} controls {post.chain.shape[-1]:2d}  walkers {post.n_walkers:3d}  steps {steps:5d}  "
          f"samples/s {post.samples_per_second:8.1f}  forward runs/s {forward_rate:8.1f}  "
          f"acceptance {post.acceptance.mean():.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"))
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    run("twin", *twin_model(), args.steps)
    if args.data:
        run("Cance", *cance_model(args.data), max(args.steps // 10, 10))


if __name__ == "__main__":
    main()
