"""SLURM: a dask-jobqueue cluster from the study's `slurm` section, and job-array scripts."""

from __future__ import annotations

import shlex
import sys

from smash.batch._deps import require

# dask-jobqueue's SLURMCluster arguments the study file may set (`jobs` and `array_count` are ours).
CLUSTER_KEYS = ("queue", "account", "cores", "memory", "walltime", "job_extra_directives", "processes", "python")
DEFAULTS = {"cores": 1, "memory": "2GB", "walltime": "01:00:00"}


def cluster_options(slurm: dict) -> dict:
    """SLURMCluster keyword arguments from the study's slurm section (with small defaults)."""
    options = {**DEFAULTS, **{k: v for k, v in slurm.items() if k in CLUSTER_KEYS}}
    if "job_extra_directives" in options:
        extra = options["job_extra_directives"]
        options["job_extra_directives"] = [extra] if isinstance(extra, str) else list(extra)
    return options


def slurm_cluster(slurm: dict):
    """A dask_jobqueue.SLURMCluster (no job submitted until it is scaled)."""
    jobqueue = require("dask_jobqueue", "The slurm executor")
    return jobqueue.SLURMCluster(**cluster_options(slurm))


def dask_job_script(slurm: dict) -> str:
    """The job script SLURMCluster would submit for each of its jobs (for --dry-run)."""
    cluster = slurm_cluster(slurm)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def job_array_script(study_path: str, slurm: dict, array_count: int, workers: int = 1, extra_args=()) -> str:
    """A ready `sbatch` job-array script: task I runs `smash batch STUDY --array-index I --array-count K`.

    Each task has `cores` CPUs and runs `workers` catchments at once (the shard's catchments are
    picked from SLURM_ARRAY_TASK_ID by `smash batch`).
    """
    options = cluster_options(slurm)
    lines = ["#!/usr/bin/env bash", "#SBATCH --job-name=smash-batch", f"#SBATCH --array=0-{array_count - 1}",
             "#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={options['cores']}", f"#SBATCH --mem={options['memory']}",
             f"#SBATCH --time={options['walltime']}"]
    if options.get("queue"):
        lines.append(f"#SBATCH --partition={options['queue']}")
    if options.get("account"):
        lines.append(f"#SBATCH --account={options['account']}")
    for directive in options.get("job_extra_directives", []):
        lines.append(directive if directive.startswith("#SBATCH") else f"#SBATCH {directive}")
    python = options.get("python") or sys.executable
    command = [python, "-m", "smash", "batch", study_path, "--executor", "local", "--workers", str(workers),
               "--array-count", str(array_count), *extra_args]
    lines += ["", "# The shard of this task comes from SLURM_ARRAY_TASK_ID.", "set -euo pipefail",
              " ".join(shlex.quote(part) for part in command), ""]
    return "\n".join(lines)
