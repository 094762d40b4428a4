"""The drainage network of a mesh, checked and laid out for the Fortran core.

Active cells are ordered so that every cell comes after all cells draining
into it, in the layout of the routing tree (smash.drainage.routing_tree): groups of
whole sub-catchments that threads route side by side, then the trunks below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smash.drainage import d8, routing_tree


@dataclass
class Network:
    nrow: int
    ncol: int
    rows: np.ndarray          # (nac,) 0-based row of each ordered active cell
    cols: np.ndarray          # (nac,) 0-based column
    flat: np.ndarray          # (nac,) row-major flat index into the grid
    downstream: np.ndarray    # (nac,) ordered index of the downstream cell, -1 at outlets
    up_start: np.ndarray      # (nac + 1,) CSR offsets of direct upstream cells
    up_cell: np.ndarray       # (nup,) ordered indices of direct upstream cells
    gauge_cell: np.ndarray    # (ng,) ordered index of each gauge
    levels: np.ndarray        # (nac,) level of each ordered cell: 1 + the largest level upstream
    # Routing tree (smash.drainage.routing_tree): node n (1-based) holds cells [node_first[n-1], node_end[n-1]),
    # its own trunk the tail [trunk_first[n-1], node_end[n-1]).
    node_first: np.ndarray
    trunk_first: np.ndarray
    node_end: np.ndarray

    @property
    def nac(self) -> int:
        return self.rows.size

    def upstream_mask(self, cell: int) -> np.ndarray:
        """Boolean (nac,) mask of the cells draining through `cell`, itself included."""
        mask = np.zeros(self.nac, dtype=bool)
        # Breadth-first up the CSR upstream lists, one vectorized step per ring of cells
        # (a Python loop over the cells took seconds on a 1e5-cell grid).
        frontier = np.array([int(cell)])
        while frontier.size:
            mask[frontier] = True
            starts = self.up_start[frontier]
            counts = self.up_start[frontier + 1] - starts
            total = int(counts.sum())
            if total == 0:
                break
            first = np.repeat(starts - (np.cumsum(counts) - counts), counts)
            frontier = self.up_cell[first + np.arange(total)]
        return mask

    def gauge_upstream(self) -> list[np.ndarray]:
        """For each gauge, the ordered indices of the cells draining through it (built once)."""
        cells = self.__dict__.get("_gauge_upstream")
        if cells is None:
            cells = [np.flatnonzero(self.upstream_mask(int(g))) for g in self.gauge_cell]
            self._gauge_upstream = cells
        return cells

    def column_major_rank(self) -> np.ndarray:
        """(nac,) 0-based rank of each ordered cell among the active cells taken column by column
        (smash 1.x's order of active cells in its sparse forcings), built once."""
        rank = self.__dict__.get("_column_major_rank")
        if rank is None:
            order = np.lexsort((self.rows, self.cols))
            rank = np.empty(self.nac, dtype=np.int64)
            rank[order] = np.arange(self.nac)
            self._column_major_rank = rank
        return rank

    def upstream_sum(self, values: np.ndarray) -> np.ndarray:
        """(nac,) sum of `values` over the cells draining into each cell, the cell itself excluded."""
        acc = np.array(values, dtype=np.float64)
        # Down the levels: a cell's total is complete once every cell of lower level has passed it on.
        by_level = np.argsort(self.levels, kind="stable")
        starts = np.searchsorted(self.levels[by_level], np.arange(1, self.levels.max() + 2))
        for first, last in zip(starts[:-1], starts[1:], strict=True):
            cells = by_level[first:last]
            cells = cells[self.downstream[cells] >= 0]
            np.add.at(acc, self.downstream[cells], acc[cells])
        return acc - np.asarray(values, dtype=np.float64)

    def to_grid(self, values: np.ndarray, fill=np.nan, dtype=None) -> np.ndarray:
        """Scatter (nac, ...) values onto a (nrow, ncol, ...) grid."""
        values = np.asarray(values)
        grid = np.full((self.nrow, self.ncol) + values.shape[1:], fill,
                       dtype=dtype or np.result_type(values.dtype, np.asarray(fill).dtype))
        grid[self.rows, self.cols] = values
        return grid

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        """Gather (nrow, ncol, ...) values of the active cells in network order."""
        return np.asarray(grid)[self.rows, self.cols]


def _grid_array(mesh: dict, key: str, nrow: int, ncol: int) -> np.ndarray:
    if key not in mesh:
        raise ValueError(f"mesh is missing the key {key!r}")
    arr = np.asarray(mesh[key])
    if arr.shape != (nrow, ncol):
        raise ValueError(f"mesh[{key!r}] has shape {arr.shape}, expected (nrow, ncol) = {(nrow, ncol)}")
    return arr


def _grid_size(mesh: dict) -> tuple[int, int]:
    """(nrow, ncol) of a mesh dictionary, checked."""
    for key in ("nrow", "ncol"):
        if key not in mesh:
            raise ValueError(f"mesh is missing the key {key!r}")
    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    if nrow <= 0 or ncol <= 0:
        raise ValueError(f"mesh grid size (nrow, ncol) = {(nrow, ncol)} must be positive")
    return nrow, ncol


def build_network(mesh: dict) -> Network:
    """Check a mesh dictionary and derive the ordered network. Errors name the bad cell."""
    nrow, ncol = _grid_size(mesh)
    flwdir = _grid_array(mesh, "flwdir", nrow, ncol)
    active = _grid_array(mesh, "active_cell", nrow, ncol).astype(bool)
    if not active.any():
        raise ValueError("mesh['active_cell'] has no active cell")
    if "nac" in mesh and int(mesh["nac"]) != int(active.sum()):
        raise ValueError(f"mesh['nac'] = {int(mesh['nac'])} but active_cell counts {int(active.sum())} cells")
    gauge_pos = _gauge_positions(mesh, active)
    is_gauge = np.zeros((nrow, ncol), dtype=bool)
    is_gauge[gauge_pos[:, 0], gauge_pos[:, 1]] = True
    act_rows, act_cols = np.nonzero(active)
    dn, inside = _active_downstream(flwdir, active, is_gauge)
    # Where flow leaves the active domain, a gauged mesh must have a gauge:
    # otherwise water would vanish from the catchment unseen.
    if gauge_pos.shape[0] > 0:
        orphan = (dn < 0) & ~is_gauge[act_rows, act_cols]
        if orphan.any():
            i = int(np.flatnonzero(orphan)[0])
            where = "the grid" if not inside[i] else "the active domain"
            raise ValueError(
                f"mesh['flwdir'] = {int(flwdir[act_rows[i], act_cols[i]])}: flow leaves {where} at active cell "
                f"(row, col) = ({act_rows[i]}, {act_cols[i]}) which is not a gauge"
            )
    levels = _levels(dn, act_rows, act_cols)
    order, node_first, trunk_first, node_end = _tree_layout(dn, levels)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    rows, cols = act_rows[order], act_cols[order]
    downstream, up_start, up_cell = _ordered_links(dn, order)
    index_of = np.full((nrow, ncol), -1, dtype=np.int64)
    index_of[act_rows, act_cols] = np.arange(act_rows.size)
    gauge_cell = rank[index_of[gauge_pos[:, 0], gauge_pos[:, 1]]] if gauge_pos.size else np.zeros(0, np.int64)
    return Network(nrow, ncol, rows, cols, rows * ncol + cols, downstream, up_start, up_cell,
                   gauge_cell.astype(np.int64), levels[order], node_first, trunk_first, node_end)


def _gauge_positions(mesh: dict, active: np.ndarray) -> np.ndarray:
    """(ng, 2) 0-based (row, col) of the gauges, each checked to be an active cell of the grid."""
    nrow, ncol = active.shape
    gauge_pos = np.asarray(mesh.get("gauge_pos", np.zeros((0, 2), dtype=int))).reshape(-1, 2).astype(int)
    ng = gauge_pos.shape[0]
    if "ng" in mesh and int(mesh["ng"]) != ng:
        raise ValueError(f"mesh['ng'] = {int(mesh['ng'])} but mesh['gauge_pos'] holds {ng} gauges")
    for g, (r, c) in enumerate(gauge_pos):
        if not (0 <= r < nrow and 0 <= c < ncol):
            raise ValueError(f"mesh['gauge_pos'] of gauge {g}, (row, col) = ({r}, {c}), is outside the "
                             f"{nrow} x {ncol} grid")
        if not active[r, c]:
            raise ValueError(f"mesh['gauge_pos'] of gauge {g}, (row, col) = ({r}, {c}), is not an active cell")
    return gauge_pos


def _active_downstream(flwdir: np.ndarray, active: np.ndarray, is_gauge: np.ndarray):
    """(dn, inside) per active cell (row-major): index of its downstream active cell (-1 if none), and
    whether its direction points inside the grid. Only a gauge may lack a D8 direction (an outlet)."""
    act_rows, act_cols = np.nonzero(active)
    d = flwdir[act_rows, act_cols]
    valid = np.isin(d, np.arange(1, 9))
    bad = ~valid & ~is_gauge[act_rows, act_cols]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"mesh['flwdir'] = {d[i]!r} at active cell (row, col) = ({act_rows[i]}, {act_cols[i]}) "
            "is not a D8 direction 1..8"
        )
    down = d8.downstream_index(np.where(np.isin(flwdir, np.arange(1, 9)), flwdir, 0))
    down_of_active = down[act_rows * active.shape[1] + act_cols]
    index_of = np.full(active.size, -1, dtype=np.int64)
    index_of[act_rows * active.shape[1] + act_cols] = np.arange(act_rows.size)
    inside = down_of_active >= 0
    dn = np.where(inside, index_of[np.maximum(down_of_active, 0)], -1)
    return dn, inside


def _tree_layout(dn: np.ndarray, levels: np.ndarray):
    """(order, node_first, trunk_first, node_end): the cells in the routing tree's layout."""
    # Level order (upstream first) to find the sub-catchments, then the tree's layout.
    by_level = np.lexsort((np.arange(levels.size), levels))
    sorted_levels = levels[by_level]
    level_start = np.searchsorted(sorted_levels, np.arange(1, int(sorted_levels.max()) + 2))
    dn_level, up_start, up_cell = _ordered_links(dn, by_level)
    node = routing_tree.tree_nodes(dn_level, level_start, up_start, up_cell)
    within = np.lexsort((np.arange(node.size), routing_tree.post_order()[node]))
    node_first, trunk_first, node_end = routing_tree.node_ranges(node[within])
    return by_level[within], node_first, trunk_first, node_end


def _ordered_links(dn: np.ndarray, order: np.ndarray):
    """Downstream cell and CSR upstream lists of the cells laid out in `order` (indices in that layout)."""
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    downstream = np.where(dn[order] >= 0, rank[np.maximum(dn[order], 0)], -1)
    has_dn = downstream >= 0
    counts = np.bincount(downstream[has_dn], minlength=order.size)
    up_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    up_cell = np.argsort(np.where(has_dn, downstream, order.size), kind="stable")[: int(has_dn.sum())]
    return downstream, up_start, up_cell.astype(np.int64)


def _levels(dn: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Level of each cell (1 + max level upstream), from the D8 peeling; detects cycles."""
    fronts, indegree = d8.peel_fronts(dn)
    level = np.zeros(dn.size, dtype=np.int64)
    for number, front in enumerate(fronts, start=1):
        level[front] = number
    if np.any(indegree > 0):
        stuck = np.flatnonzero(level == 0)
        # Cells left over either form a cycle or drain into one.
        cyc = [(int(rows[i]), int(cols[i])) for i in stuck[:6]]
        raise ValueError(
            f"mesh['flwdir'] forms a cycle: {stuck.size} active cells never reach an outlet, "
            f"e.g. (row, col) {cyc}"
        )
    return level


def bare_grid_network(mesh: dict) -> Network:
    """Every cell of a grid without flow directions, row-major, each its own outlet: the cells a
    bare-grid model reads inputs onto (it has no drainage to run)."""
    nrow, ncol = _grid_size(mesh)
    n = nrow * ncol
    rows, cols = np.divmod(np.arange(n, dtype=np.int64), ncol)
    none = np.zeros(0, dtype=np.int64)
    return Network(nrow, ncol, rows, cols, np.arange(n, dtype=np.int64), np.full(n, -1, dtype=np.int64),
                   np.zeros(n + 1, dtype=np.int64), none, none, np.ones(n, dtype=np.int64), none, none, none)


def model_cell_order(mesh: dict) -> np.ndarray:
    """The flat row-major cells of `mesh`'s grid in the order a model of this mesh holds them (its drainage
    network's order, which its gauges shape): the order of a store of cells read without a gather
    (smash.io.convert_forcings(..., mesh=), smash.factory.generate_forcing_store(..., layout="cells"))."""
    return build_network(mesh).flat
