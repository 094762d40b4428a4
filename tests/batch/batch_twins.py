"""Study files of synthetic twin catchments for the batch tests (small grids, few iterations).

Each twin is the built-in synthetic catchment with its own seed: its grid, forcings and
observations differ, the observations being the discharge of a "true" model whose parameters
are known maps of the descriptors (`smash.inputs.synthetic.synthetic_observations`), plus 5 % noise.
"""

from __future__ import annotations

from pathlib import Path

import yaml

TEMPLATE = {
    "setup": {"hydrological_module": "gr4", "routing_module": "lr"},
    "mesh": {"synthetic": {"nrow": 6, "ncol": 6, "seed": 0, "year": 2020}},
    "periods": {"calibration": {"start": "2020-01-01", "end": "2020-06-30", "warmup_end": "2020-01-31"},
                "validation": {"start": "2020-07-01", "end": "2020-10-31", "warmup_end": "2020-07-15"}},
    "calibration": {"mapping": "distributed", "optimizer": "lbfgsb",
                    "optimize_options": {"termination_crit": {"maxiter": 3}}},
    "metrics": ["nse", "kge"],
}
SLURM = {"queue": "short", "cores": 4, "memory": "6GB", "walltime": "00:20:00",
         "job_extra_directives": ["--qos=batchtest", "--constraint=skylake"]}


def twin_codes(n: int) -> list[str]:
    return [f"TWIN{i}" for i in range(n)]


def write_twin_study(folder: Path, n: int = 8, maxiter: int = 3, rows_extra: dict | None = None,
                     name: str = "study") -> Path:
    """Write `<name>.yaml`, its template and its table of `n` twins into `folder`; return the study file.

    `rows_extra` maps a code to {dotted config key: cell text} overrides for that catchment.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = yaml.safe_load(yaml.safe_dump(TEMPLATE))
    template["calibration"]["optimize_options"]["termination_crit"]["maxiter"] = maxiter
    (folder / "template.yaml").write_text(yaml.safe_dump(template))
    extra_columns = sorted({k for row in (rows_extra or {}).values() for k in row})
    lines = [",".join(["code", "mesh.synthetic.seed", "mesh.synthetic.nrow", *extra_columns])]
    for i, code in enumerate(twin_codes(n)):
        extra = (rows_extra or {}).get(code, {})
        lines.append(",".join([code, str(100 + i), str(6 + i % 2), *(extra.get(c, "") for c in extra_columns)]))
    (folder / "catchments.csv").write_text("\n".join(lines) + "\n")
    study = {"config": "template.yaml", "catchments": "catchments.csv", "output": f"{name}_output", "slurm": SLURM}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path
