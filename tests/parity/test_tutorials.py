"""The two smash tutorials (shared/seeds/*.py) run unchanged, and show what the tutorials show.

Each script runs in a fresh interpreter with MPLBACKEND=Agg (plots are drawn,
not shown) and SMASH_DATA_DIR set; its printed output is checked against the
tutorials' figures: smash 1.3 reaches J 0.1367-0.1372 in the hybrid training
and losses 0.128-0.132 in the regionalization trainings; we require the
issue's thresholds (0.139, 0.133).
"""

import os
import re
import subprocess
import sys

import pytest


def _run(script, data_dir, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", SMASH_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def _logs(out):
    """J of every logged iterate, one list per optimization (split at '</> Optimize')."""
    runs = []
    for line in out.splitlines():
        if "Optimize" in line and line.strip().startswith("</>"):
            runs.append([])
        m = re.search(r"At iterate\s+\d+\s+nfg =\s+\d+\s+J =\s+(\S+)", line)
        if m:
            runs[-1].append(float(m.group(1)))
    return runs


def test_hybrid_process_parameterization_tutorial(tutorials_dir, data_dir, tmp_path):
    out, err = _run(tutorials_dir / "hybrid_process_parameterization.py", data_dir, tmp_path)
    assert "['cp', 'ct', 'kexc', 'llr', 'weight_1', 'bias_1', 'weight_2', 'bias_2']" in out
    assert "['cp', 'ct', 'kexc', 'llr']" in out
    sbs, lbfgsb = _logs(out)
    # Two sbs iterations as smash 1.3 prints them (6.85771e-01, 3.51670e-01, 1.80573e-01; ours in float64).
    assert sbs == pytest.approx([6.85771e-01, 3.51670e-01, 1.80573e-01], rel=1e-5)
    assert lbfgsb[-1] <= 0.139
    assert "NaN" not in out and "nan" not in out


def test_advanced_learnable_regionalization_tutorial(tutorials_dir, data_dir, tmp_path):
    out, err = _run(tutorials_dir / "advanced_learnable_regionalization.py", data_dir, tmp_path)
    text = " ".join(out.split())
    mlp_rows = ["Dense (6,)/(24,) 168", "Activation (ReLU) (24,)/(24,) 0", "Dense (24,)/(60,) 1500",
                "Activation (ReLU) (60,)/(60,) 0", "Dense (60,)/(6,) 366", "Activation (TanH) (6,)/(6,) 0",
                "Scale (MinMaxScale) (6,)/(6,) 0"]
    cnn_rows = ["Conv2D (27, 14, 6)/(27, 14, 24) 2328", "Activation (ReLU) (27, 14, 24)/(27, 14, 24) 0",
                "Flatten (27, 14, 24)/(378, 24) 0", "Dense (378, 24)/(378, 60) 1500",
                "Activation (ReLU) (378, 60)/(378, 60) 0", "Dense (378, 60)/(378, 6) 366",
                "Activation (TanH) (378, 6)/(378, 6) 0", "Scale (MinMaxScale) (378, 6)/(378, 6) 0"]
    for rows, total in ((mlp_rows, 2034), (cnn_rows, 4194)):
        table = " | | ".join(rows)
        assert f"| {table} |" in text
        assert f"Total parameters: {total} Trainable parameters: {total}" in text
    mlp, cnn = _logs(out)
    assert 50 < len(mlp) <= 251 and 50 < len(cnn) <= 251  # maxiter=250: iterates 0..250 at most
    assert min(mlp) <= 0.133 and min(cnn) <= 0.133
    assert "nan" not in out.lower()
