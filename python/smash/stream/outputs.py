"""Per-cell series of a forward run (q_domain, states, internal fluxes) written to a NetCDF / Zarr store
as the run goes, instead of being returned (return_options ``output_store``).

On streamed forcings the core's output arrays hold one window of returned steps: its slots are
reused window after window, and each window is written when the core asks for the next one (all
its steps are done by then), so memory holds one window whatever the period. With the forcings held
whole the core holds every returned step and the store is written after the run, a window at a time.
"""

from __future__ import annotations

import numpy as np

from smash.simulation.internal_fluxes import fluxes_to_grids
from smash.stream.store_writer import StoreWriter
from smash.time_axis import TimeAxis

# Returned steps written per append when the forcings are held whole.
WRITE_STEPS = 24


def _crs_wkt(mesh) -> str | None:
    epsg = getattr(mesh, "epsg", None)
    if epsg is None or int(epsg) <= 0:
        return None
    try:
        from rasterio.crs import CRS

        return CRS.from_epsg(int(epsg)).to_wkt()
    except Exception:  # noqa: BLE001 - an unknown code leaves the store without a CRS, as the mesh has none usable
        return None


class OutputStore:
    """The store of one forward run's returned series.

    Parameters
    ----------
    model : Model
        The model run.
    path : str
        ``*.nc`` or ``*.zarr`` (replaced when it exists).
    steps : array of int
        The returned steps (1-based, increasing).
    q_domain, rr_states, internal_fluxes : bool
        The series written.
    window : int or None
        Steps per window of streamed forcings (slots reused window by window), None when held whole.
    """

    def __init__(self, model, path, steps, q_domain: bool, rr_states: bool, internal_fluxes: bool, window=None):
        self.model, self.path = model, str(path)
        self.steps = np.asarray(steps, dtype=np.int64)
        self.want = {"q_domain": q_domain, "rr_states": rr_states, "internal_fluxes": internal_fluxes}
        net, mesh = model.network, model.mesh
        if window:
            group = (self.steps - 1) // int(window)
            first_of_group = np.searchsorted(group, group)  # index of each window's first returned step
            self.slots = (np.arange(self.steps.size) - first_of_group + 1).astype(np.int32)
        else:
            self.slots = np.arange(1, self.steps.size + 1, dtype=np.int32)
        self.nslot = int(self.slots.max()) if self.steps.size else 0
        self.written = 0  # returned steps written so far
        variables = {}
        if q_domain:
            variables["q_domain"] = {"units": "m3 s-1", "long_name": "discharge of each cell"}
        if rr_states:
            for name in model.structure.rr_states:
                variables[f"state_{name}"] = {"long_name": f"state {name} at the end of the step"}
        if internal_fluxes:
            for family, name, unit in model.structure.flux_records:
                variables[f"flux_{name}"] = {"units": str(unit), "long_name": f"{family} flux {name}"}
        for attrs in variables.values():
            attrs["comment"] = "-99 off the mesh, as the returned grids"
        x = float(mesh.xmin) + (np.arange(net.ncol) + 0.5) * float(mesh.xres)
        y = float(mesh.ymax) - (np.arange(net.nrow) + 0.5) * float(mesh.yres)
        self.axis = TimeAxis.of(model.setup)
        self.writer = StoreWriter(self.path, x, y, variables, _crs_wkt(mesh), chunk_steps=max(1, min(self.nslot, 24)),
                                  nstep=int(self.steps.size))

    def flush(self, output, until: int) -> None:
        """Write the returned steps up to step `until` (1-based) from the core's OutputDT `output`."""
        upto = int(np.searchsorted(self.steps, until, side="right"))
        while self.written < upto:
            stop = min(upto, self.written + WRITE_STEPS) if self.nslot == self.steps.size else upto
            slots = self.slots[self.written:stop] - 1
            self._write(output, self.steps[self.written:stop], slots)
            self.written = stop

    def _write(self, output, steps, slots) -> None:
        net, values = self.model.network, {}
        if self.want["q_domain"]:
            q = np.asarray(output.q_domain)[:, slots]
            values["q_domain"] = net.to_grid(q, fill=-99.0, dtype=np.float32)
        if self.want["rr_states"]:
            states = np.asarray(output.rr_states)[:, :, slots]
            for i, name in enumerate(self.model.structure.rr_states):
                values[f"state_{name}"] = net.to_grid(states[:, i, :], fill=-99.0, dtype=np.float32)
        if self.want["internal_fluxes"]:
            for name, grid in fluxes_to_grids(self.model, np.asarray(output.fluxes)[:, :, slots]).items():
                values[f"flux_{name}"] = grid
        # (nrow, ncol, n) -> (n, nrow, ncol)
        self.writer.append([self.axis.time(int(t)) for t in steps],
                           {name: np.moveaxis(grid, -1, 0) for name, grid in values.items()})

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()
