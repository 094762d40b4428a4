"""Calibrate and evaluate the six gauges of Lez and Cance with smash's Python API (split-sample test).

Each row of `catchments.csv` (code, x, y, area in km2, data_dir relative to SMASH_DATA_DIR) becomes one
single-gauge catchment: its mesh is generated from `France_flwdir.tif`, its forcings and observations
are those of its dataset. The model is calibrated over the calibration period (after a warm-up), then
run once over the whole period and scored over the calibration and the validation periods.

Run as

    SMASH_DATA_DIR=/path/to/datasets python docs/examples/lez_cance_study/run_python_api.py [--out DIR]

It writes `summary.csv`, `summary.md` and one `hydrograph_<code>.png` per gauge into `--out`
(default: this folder's `results/`).
"""

from __future__ import annotations

import argparse
import csv
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import smash  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Per dataset: the simulated period (start, end), the end of the warm-up (not scored), the end of the
# calibration period (= start of the validation period). Lez has one year of daily data, Cance four months
# of hourly precipitation (PET is interannual there).
PERIODS = {
    "Lez": {"start": "2012-08-01", "end": "2013-07-31", "end_warmup": "2012-09-01", "end_calibration": "2013-02-01"},
    "Cance": {"start": "2014-09-15 00:00", "end": "2015-01-15 00:00", "end_warmup": "2014-09-22 00:00",
              "end_calibration": "2014-11-15 00:00"},
}
# A uniform first guess (a few steps of sbs), then the distributed calibration by L-BFGS-B.
UNIFORM_OPTIONS = {"termination_crit": {"maxiter": 4}}
DISTRIBUTED_OPTIONS = {"termination_crit": {"maxiter": 30}}
METRICS = ("nse", "kge")


def read_catchments(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def catchment_setup_mesh(row: dict, data_root: str, start: str, end: str) -> tuple[dict, dict]:
    """The setup of the catchment's dataset over [start, end] and a mesh generated for its gauge alone."""
    setup, _ = smash.factory.load_dataset(row["data_dir"], path=data_root)
    setup = dict(setup, start_time=start, end_time=end)
    flwdir = smash.factory.load_dataset("flwdir", path=data_root)
    mesh = smash.factory.generate_mesh(flwdir, x=[float(row["x"])], y=[float(row["y"])],
                                       area=[float(row["area"]) * 1e6], code=[row["code"]])
    return setup, mesh


def calibrate(row: dict, data_root: str) -> tuple[dict, smash.Model]:
    """Calibrate one catchment and score it; returns a summary record and the series to plot."""
    period = PERIODS[row["data_dir"]]
    t0 = time.perf_counter()
    setup, mesh = catchment_setup_mesh(row, data_root, period["start"], period["end_calibration"])
    model = smash.Model(setup, mesh)
    cost_options = {"end_warmup": period["end_warmup"]}
    quiet = {"verbose": False}
    model.optimize(mapping="uniform", optimizer="sbs", optimize_options=UNIFORM_OPTIONS,
                   cost_options=cost_options, common_options=quiet)
    result = model.optimize(mapping="distributed", optimizer="lbfgsb", optimize_options=DISTRIBUTED_OPTIONS,
                            cost_options=cost_options, common_options=quiet,
                            return_options={"iter_cost": True})
    calibration_seconds = time.perf_counter() - t0

    # The whole period in one run from the calibrated maps: the validation starts from the states the
    # calibration period leaves.
    setup_all, _ = catchment_setup_mesh(row, data_root, period["start"], period["end"])
    full = smash.Model(setup_all, mesh)
    full.rr_parameters.values[...] = model.rr_parameters.values
    full.rr_initial_states.values[...] = model.rr_initial_states.values
    full.forward_run(common_options=quiet)
    cal = smash.evaluation(full, list(METRICS), period["end_warmup"], period["end_calibration"])[0]
    val = smash.evaluation(full, list(METRICS), period["end_calibration"], period["end"])[0]
    record = {"code": row["code"], "data_dir": row["data_dir"], "area_km2": float(row["area"]),
              "area_dln_km2": round(float(full.mesh.area_dln[0]) / 1e6, 1), "nac": int(full.mesh.nac),
              **{f"cal_{m}": round(float(v), 3) for m, v in zip(METRICS, cal, strict=True)},
              **{f"val_{m}": round(float(v), 3) for m, v in zip(METRICS, val, strict=True)},
              "iterations": len(result.iter_cost) - 1, "seconds": round(calibration_seconds, 1)}
    return record, full


def plot_hydrograph(model, record: dict, period: dict, path: str) -> None:
    from smash.time_axis import TimeAxis

    times = np.array(TimeAxis.of(model.setup).end_times(), dtype="datetime64[s]")
    qobs = np.where(model.response_data.q[0] >= 0, model.response_data.q[0], np.nan)
    qsim = model.response.q[0]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.axvspan(np.datetime64(period["start"]), np.datetime64(period["end_warmup"]), color="0.9", label="warm-up")
    ax.axvline(np.datetime64(period["end_calibration"]), color="0.4", ls="--", lw=1)
    ax.plot(times, qobs, color="k", lw=1.0, label="observed")
    ax.plot(times, qsim, color="tab:blue", lw=1.0, label="simulated")
    ax.set_ylabel("discharge (m$^3$/s)")
    ax.set_title(f"{record['code']} ({record['data_dir']}, {record['area_km2']} km$^2$): "
                 f"calibration NSE {record['cal_nse']:.2f} | validation NSE {record['val_nse']:.2f}")
    ax.legend(loc="upper right", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_summary(records: list[dict], out: str) -> None:
    keys = list(records[0])
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n")
        for rec in records:
            f.write("| " + " | ".join(str(rec[k]) for k in keys) + " |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catchments", default=os.path.join(HERE, "catchments.csv"))
    parser.add_argument("--data", default=os.environ.get("SMASH_DATA_DIR"),
                        help="folder holding Lez, Cance and France_flwdir.tif (default $SMASH_DATA_DIR)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    if not args.data:
        parser.error("set SMASH_DATA_DIR or pass --data")
    os.makedirs(args.out, exist_ok=True)
    records = []
    for row in read_catchments(args.catchments):
        record, model = calibrate(row, args.data)
        figure = os.path.join(args.out, f"hydrograph_{row['code']}.png")
        plot_hydrograph(model, record, PERIODS[row["data_dir"]], figure)
        print(", ".join(f"{k}={v}" for k, v in record.items()), flush=True)
        records.append(record)
    write_summary(records, args.out)


if __name__ == "__main__":
    main()
