"""Recursive split of the drainage network into sub-catchments that threads route side by side.

Routing a cell needs the discharge of its upstream cells at the same step, but
two sub-catchments that do not drain into each other can be routed at the same
time, over every step of a chunk. The network is cut in two groups of whole
sub-catchments of similar size plus a *trunk* (the cells below the cuts, on the
main stems), and each group again, down to DEPTH levels: a binary tree whose
node n has children 2n and 2n+1 (node 1 = the whole network).

Cells are laid out in post-order of that tree (left group, right group, then
the node's own trunk), each part upstream first. With 2^d threads, the nodes
of depth d are routed in parallel, each over its whole contiguous range, then
the trunks of depth d-1, ..., up to the root's trunk on one thread. Every cell
is computed as in a serial sweep, so results do not depend on the threads.
"""

from __future__ import annotations

import heapq

import numpy as np

DEPTH = 4   # up to 16 routing threads; deeper splits grow the serial trunks


def subtree_sizes(downstream: np.ndarray, level_start: np.ndarray) -> np.ndarray:
    """Number of cells draining through each cell, itself included (cells in level order)."""
    size = np.ones(downstream.size, dtype=np.int64)
    for first, last in zip(level_start[:-1], level_start[1:], strict=True):
        cells = np.arange(first, last)
        cells = cells[downstream[cells] >= 0]
        np.add.at(size, downstream[cells], size[cells])
    return size


def _split(roots, size, up_start, up_cell):
    """Cut the largest sub-catchment at its outlet (which joins the trunk; its tributaries
    become sub-catchments) until none exceeds half of the rest, then pack them largest
    first into two groups. Returns (trunk cells, roots of group 0, roots of group 1)."""
    heap = [(-int(size[r]), int(r)) for r in roots]
    heapq.heapify(heap)
    total = sum(int(size[r]) for r in roots)
    trunk = []
    while heap and -heap[0][0] > (total - len(trunk)) / 2:
        _, root = heapq.heappop(heap)
        trunk.append(root)
        for up in up_cell[up_start[root]:up_start[root + 1]]:
            heapq.heappush(heap, (-int(size[up]), int(up)))
    groups, loads = ([], []), [0, 0]
    for neg_size, root in sorted(heap):
        g = int(loads[1] < loads[0])
        groups[g].append(root)
        loads[g] -= neg_size
    return trunk, groups[0], groups[1]


def tree_nodes(downstream: np.ndarray, level_start: np.ndarray, up_start: np.ndarray, up_cell: np.ndarray,
               depth: int = DEPTH) -> np.ndarray:
    """Tree node (1 .. 2^(depth+1) - 1) of each cell of a network in level order."""
    size = subtree_sizes(downstream, level_start)
    node = np.zeros(downstream.size, dtype=np.int64)
    forests = {1: np.flatnonzero(downstream < 0).tolist()}
    for n in range(1, 2 ** depth):
        trunk, left, right = _split(forests.pop(n), size, up_start, up_cell)
        node[trunk] = n
        node[left] = 2 * n
        node[right] = 2 * n + 1
        forests[2 * n], forests[2 * n + 1] = left, right
    # Every other cell belongs to the node of the cell it drains into: fill from the outlets up.
    for first, last in zip(level_start[-2::-1], level_start[:0:-1], strict=True):
        cells = np.arange(first, last)
        unset = cells[node[cells] == 0]
        node[unset] = node[downstream[unset]]
    return node


def post_order(depth: int = DEPTH) -> np.ndarray:
    """Rank of each node (index 1 ..) in the layout: left subtree, right subtree, then the node."""
    rank = np.zeros(2 ** (depth + 1), dtype=np.int64)
    counter = 0

    def visit(n):
        nonlocal counter
        if n < rank.size:
            visit(2 * n)
            visit(2 * n + 1)
            rank[n] = counter
            counter += 1

    visit(1)
    return rank


def node_ranges(node_sorted: np.ndarray, depth: int = DEPTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0-based (first, trunk_first, end) of each node in a layout whose cells have nodes `node_sorted`:
    the node's whole range is [first, end), its own trunk [trunk_first, end)."""
    nnode = 2 ** (depth + 1)
    count = np.bincount(node_sorted, minlength=nnode)
    first, trunk_first, end = (np.zeros(nnode, dtype=np.int64) for _ in range(3))
    position = 0

    def visit(n):
        nonlocal position
        if n >= nnode:
            return
        first[n] = position
        visit(2 * n)
        visit(2 * n + 1)
        trunk_first[n] = position
        position += count[n]
        end[n] = position

    visit(1)
    return first[1:], trunk_first[1:], end[1:]
