"""Fingerprint of what the generated adjoint was made from.

Shared by tapenade/generate.py (which stamps it into every generated file)
and by the test that fails when sources changed without regeneration.
"""

import hashlib
import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = "python/smash/registry/structures.yaml"
# The forward model's cost, the Bayesian log-likelihood in the structural error parameters and the
# log-prior of the controls
# (md_bayesian_cost; the discharge is an independent there too, so that its calls need no zero
# derivative of unknown size).
HEAD = ("md_forward.forward_cost(rr_parameters rr_initial_states nn_parameters)\\(cost) "
        "md_bayesian_cost.serr_log_likelihood(qsim serr_mu serr_sigma)\\(log_lkh) "
        "md_bayesian_cost.control_log_prior(x)\\(log_prior)")
# Derivative names get "_d"/"_b" suffixes: the default "d"/"b" would collide
# with model names such as prd, qd or kb.
# diffliveness stays off so the tangent and adjoint also compute the cost.
OPTIONS = ("-d", "-b", "-fixinterface", "-nooptim", "diffliveness",
           "-tgtvarname", "%_d", "-adjvarname", "%_b", "-head", HEAD)
STAMP_PREFIX = "! smash-sources-sha256: "


def source_list():
    """Source paths in Tapenade order; '@registry' stands for the generated registry module."""
    lines = (ROOT / "tapenade" / "sources.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def registry_module_text() -> bytes:
    """The Fortran registry module Tapenade reads (module ids, metric ids).

    Hashed instead of structures.yaml itself: units, descriptions, defaults and bounds
    there never reach the differentiated code, and editing them must not call for a
    new adjoint."""
    spec = importlib.util.spec_from_file_location("gen_registry", ROOT / "fortran" / "gen_registry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(ROOT / REGISTRY) as f:
        return module.render(yaml.safe_load(f)).encode()


def sources_hash() -> str:
    digest = hashlib.sha256()
    digest.update(" ".join(OPTIONS).encode())
    # The script's own rewriting of Tapenade's output (OpenMP of the cell sweeps) is part of the recipe.
    digest.update((ROOT / "tapenade" / "generate.py").read_bytes())
    for rel in source_list():
        text = registry_module_text() if rel == "@registry" else (ROOT / rel).read_bytes()
        digest.update(rel.encode() + b"\0" + text + b"\0")
    return digest.hexdigest()
