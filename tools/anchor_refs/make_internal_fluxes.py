"""Internal fluxes of smash 1.3 (hydro-smash 1.3.0, run as a black box) on Lez, for every structure.

Run with the interpreter of the separate environment where hydro-smash 1.3.0 is installed:

    /opt/anchor/bin/python tools/anchor_refs/make_internal_fluxes.py --data /work/shared/datasets
    # add --full DIR to also dump every flux on every active cell and step (exploration only)

Writes ``tests/anchor_refs/Lez/internal_fluxes.npz`` and ``tests/anchor_refs/Cance/internal_fluxes.npz``
(hourly: the structures of ``CANCE``, the same recipe without snow). For each structure ``<snow>-<hydro>-<routing>``
(every hydrological module with routing lr, kw and lag0; snow ssn with every hydrological module
and routing lr) the model is built from ``setup_Lez.yaml`` (``read_descriptor=False``), every
parameter and initial state is drawn cell by cell (ranges of ``make_refs.DRAW_RANGES``, seeded;
parameters without a range keep their default), hybrid nets get seeded weights and biases, ssn
structures get the snow / temperature series of ``Lez/ssn-gr4-lr.npz``; then
``forward_run(return_options={"internal_fluxes": True})`` and the fluxes are recorded.

Keys, per structure ``S`` (all float32 as smash returned them unless said):

- ``S:keys``: the flux names in smash's order (``internal_fluxes`` dict order);
- ``S:sample`` (ncell, nstep, nflux): values at the cells ``cell_rowcol`` and steps ``step_index``;
- ``S:sum`` (nflux,) float64: sum over every active cell and every step;
  routing fluxes (``qup``, ``qim1j``) of cells without upstream cells are uninitialised memory in smash
  1.3: NaN in ``sample``, left out of ``sum``;
- ``rr_parameters:<key>`` / ``rr_initial_states:<key>`` (nrow, ncol): the map of every parameter and
  initial state as used, shared by all structures (drawn once, seed 18; defaults where no range);
- ``S:nn_weight_<i>`` / ``S:nn_bias_<i>``: the hybrid net's layers (smash's layout), if any.

Shared keys: ``structures``, ``cell_rowcol`` int32 (ncell, 2), ``step_index`` int64 (0-based steps),
``setup_n_fluxes_json`` (smash's ``n_internal_fluxes / n_snow_fluxes / n_hydro_fluxes /
n_routing_fluxes`` per structure), ``smash_version``. Inactive cells of smash's flux arrays hold
uninitialised memory: only active cells are recorded.
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np

import smash

# The generators live in tools/anchor_refs/; the numbers they make are read by the tests from tests/anchor_refs/.
ANCHOR_REFS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "anchor_refs"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_refs import DRAW_RANGES, draw_map, load_case  # noqa: E402

warnings.filterwarnings("ignore")

HYDRO = ["gr4", "gr4_mlp", "gr4_ri", "gr4_ri_mlp_exc", "gr4_ode", "gr4_ude", "gr5", "gr5_mlp", "gr5_ri",
         "gr5_ri_mlp_exc", "gr6", "gr6_mlp", "grc", "grc_mlp", "grd", "grd_mlp", "loieau", "loieau_mlp", "vic3l"]
ROUTING = ["lr", "kw", "lag0"]
# Hourly Cance: the units that depend on dt (qt, lr's qup) on a few structures.
CANCE = ["zero-gr4-lr", "zero-gr4-kw", "zero-gr4-lag0", "zero-gr6-lr", "zero-grd-lr", "zero-loieau-lr"]


def structures():
    names = [f"zero-{hy}-{rt}" for rt in ROUTING for hy in HYDRO]
    return names + [f"ssn-{hy}-lr" for hy in HYDRO]


def sample_points(mesh, prcp_mean, seed=18):
    """Five active cells (the outlet among them) and 12 steps (the 6 wettest, 6 spread over the year)."""
    rng = np.random.default_rng(seed)
    active = np.argwhere(np.asarray(mesh["active_cell"]) == 1)
    outlet = np.asarray(mesh["gauge_pos"])[0]
    pick = active[rng.choice(len(active), size=4, replace=False)]
    cells = np.vstack([outlet[None, :], pick]).astype(np.int32)
    wet = np.argsort(prcp_mean)[::-1][:6]
    spread = np.linspace(3, prcp_mean.size - 1, 6).astype(np.int64)
    steps = np.unique(np.concatenate([wet, spread]))
    return cells, steps


def draw_maps(shape, dt, seed=18):
    """One map per key of DRAW_RANGES (sorted), shared by every structure."""
    rng = np.random.default_rng(seed)
    return {key: draw_map(rng, key, shape, dt, None) for key in sorted(DRAW_RANGES)}


def set_maps(model, maps):
    for kind in ("rr_parameters", "rr_initial_states"):
        setter = model.set_rr_parameters if kind == "rr_parameters" else model.set_rr_initial_states
        for key in map(str, getattr(model, kind).keys):
            if key in maps:
                setter(key, maps[key])


def set_random_net(model, rng):
    weights = [rng.uniform(-0.6, 0.6, size=w.shape).astype(np.float32) for w in model.get_nn_parameters_weight()]
    biases = [rng.uniform(-0.2, 0.2, size=b.shape).astype(np.float32) for b in model.get_nn_parameters_bias()]
    model.set_nn_parameters_weight(weights)
    model.set_nn_parameters_bias(biases)
    return weights, biases


def flux_families(model, keys):
    """Family of each flux: smash lists snow, then hydrological, then routing fluxes."""
    n_snow, n_hydro = int(model.setup.n_snow_fluxes), int(model.setup.n_hydro_fluxes)
    return ["snow" if i < n_snow else "hydrological" if i < n_snow + n_hydro else "routing"
            for i in range(len(keys))]


def make(args, dataset, all_names):
    setup, mesh, _ = load_case(args.data, dataset)
    snow_ref = np.load(os.path.join(args.out, "Lez", "ssn-gr4-lr.npz"))
    active = np.asarray(mesh["active_cell"]) == 1
    names = [n for n in args.only.split(",") if n in all_names] if args.only else all_names
    rec, counts = {}, {}
    cells = steps = maps = None
    for index, name in enumerate(all_names):
        if name not in names:
            continue
        snow, hydro, routing = name.split("-")
        model = smash.Model(dict(setup, snow_module=snow, hydrological_module=hydro, routing_module=routing),
                            mesh)
        if cells is None:
            prcp = np.asarray(model.atmos_data.prcp)
            cells, steps = sample_points(mesh, np.where(prcp >= 0, prcp, 0)[active].mean(axis=0))
        if maps is None:
            maps = draw_maps(model.mesh.flwdir.shape, model.setup.dt)
        set_maps(model, maps)
        rng = np.random.default_rng(2000 + index)
        if hydro.endswith(("_mlp", "_mlp_exc", "_ude")):
            weights, biases = set_random_net(model, rng)
            for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                rec[f"{name}:nn_weight_{i}"], rec[f"{name}:nn_bias_{i}"] = w, b
        if snow == "ssn":
            model.atmos_data.snow = snow_ref["snow"]
            model.atmos_data.temp = snow_ref["temp"]
        for kind in ("rr_parameters", "rr_initial_states"):
            used = getattr(model, kind)
            # the maps as used: drawn ones (shared, stored once) and the defaults of the others
            for i, key in enumerate(map(str, used.keys)):
                stored = rec.setdefault(f"{kind}:{key}", np.array(used.values[..., i], dtype=np.float32))
                assert np.array_equal(stored, used.values[..., i]), (name, key)
        ret = model.forward_run(return_options={"internal_fluxes": True})
        keys = list(ret.internal_fluxes)
        fluxes = np.stack([np.array(ret.internal_fluxes[k], dtype=np.float32) for k in keys], axis=-1)
        # Routing fluxes of cells without upstream cells are uninitialised memory in smash 1.3.
        headwater = np.asarray(mesh["flwacc"]) <= np.asarray(mesh["dx"]) * np.asarray(mesh["dy"]) * 1.5
        for i, family in enumerate(flux_families(model, keys)):
            if family == "routing":
                fluxes[headwater, :, i] = np.nan
        on_active = fluxes[active]  # (nac, nt, nflux)
        rec[f"{name}:keys"] = np.array(keys)
        rec[f"{name}:sample"] = fluxes[cells[:, 0], cells[:, 1]][:, steps]
        rec[f"{name}:sum"] = np.nansum(on_active, axis=(0, 1), dtype=np.float64)
        counts[name] = {k: int(getattr(model.setup, k)) for k in
                        ("n_internal_fluxes", "n_snow_fluxes", "n_hydro_fluxes", "n_routing_fluxes")}
        if args.full:
            os.makedirs(args.full, exist_ok=True)
            np.savez(os.path.join(args.full, f"{dataset}-{name}.npz"), keys=np.array(keys), fluxes=on_active,
                     q=np.array(model.response.q))
        print(f"{dataset} {name}: {keys}", flush=True)
    rec.update(structures=np.array(names), cell_rowcol=cells, step_index=steps,
               setup_n_fluxes_json=json.dumps(counts), smash_version=smash.__version__)
    path = os.path.join(args.out, dataset, "internal_fluxes.npz")
    if not args.only:
        np.savez_compressed(path, **rec)
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.1f} KiB)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default=ANCHOR_REFS)
    parser.add_argument("--full", default=None, help="folder for full dumps (exploration)")
    parser.add_argument("--only", default=None, help="comma-separated structures")
    args = parser.parse_args()
    make(args, "Lez", structures())
    make(args, "Cance", CANCE)


if __name__ == "__main__":
    main()
