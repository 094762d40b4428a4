"""The drainage network derived from a mesh: order, levels, routing tree and mesh errors."""

import numpy as np
import pytest

from smash.drainage.network import build_network

from helpers import line_mesh


def test_line_order_and_upstream_lists():
    net = build_network(line_mesh(4))
    # Every cell comes after the cells draining into it: west to east here.
    assert net.cols.tolist() == [0, 1, 2, 3]
    assert net.levels.tolist() == [1, 2, 3, 4]
    assert net.downstream.tolist() == [1, 2, 3, -1]
    assert [net.up_cell[net.up_start[k]:net.up_start[k + 1]].tolist() for k in range(4)] == [[], [0], [1], [2]]
    assert net.gauge_cell.tolist() == [3]


def test_levels_match_stored_flow_partitions(data_dir):
    from smash.io import read_mesh

    for name in ("Lez", "Cance"):
        mesh = read_mesh(data_dir / name / f"mesh_{name}.hdf5")
        net = build_network(mesh)
        # flwpar of the file is "1 + max over upstream cells": an independent computation.
        assert np.array_equal(net.levels, mesh["flwpar"][net.rows, net.cols])
        assert net.nac == int(mesh["nac"])
        for k in range(net.nac):
            for u in net.up_cell[net.up_start[k]:net.up_start[k + 1]]:
                assert u < k and net.downstream[u] == k


def test_upstream_mask_counts_drained_area(data_dir):
    from smash.io import read_mesh

    mesh = read_mesh(data_dir / "Lez" / "mesh_Lez.hdf5")
    net = build_network(mesh)
    for g, cell in enumerate(net.gauge_cell):
        ncell = net.upstream_mask(int(cell)).sum()
        assert ncell * 1e6 == pytest.approx(float(mesh["area_dln"][g]))


def _node_of_cells(net, depth):
    """Node of depth `depth` whose range holds each cell, -1 for cells of shallower trunks."""
    node = np.full(net.nac, -1)
    for n in range(2 ** depth, 2 ** (depth + 1)):
        node[net.node_first[n - 1]:net.node_end[n - 1]] = n
    return node


@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_routing_tree_nodes_of_one_depth_never_drain_into_each_other(data_dir, name):
    from smash.drainage.routing_tree import DEPTH
    from smash.io import read_mesh

    net = build_network(read_mesh(data_dir / name / f"mesh_{name}.hdf5"))
    has_dn = net.downstream >= 0
    # The layout stays upstream first (routing reads only finished cells) ...
    assert np.all(net.downstream[has_dn] > np.flatnonzero(has_dn))
    assert net.node_first[0] == 0 and net.node_end[0] == net.nac
    for depth in range(1, DEPTH + 1):
        node = _node_of_cells(net, depth)
        # ... and water leaving a node's range goes to a trunk above it, never to a sibling.
        dn_node = node[net.downstream[has_dn]]
        assert np.all((dn_node == node[has_dn]) | (dn_node == -1))
    # The two halves of the root are close in size and its trunk is short: two threads
    # route a half each, then one the trunk.
    halves = net.node_end[1:3] - net.node_first[1:3]
    trunk = net.node_end[0] - net.trunk_first[0]
    assert abs(halves[0] - halves[1]) <= 0.1 * net.nac and trunk <= 0.15 * net.nac
    assert halves.sum() + trunk == net.nac


def test_cycle_is_reported():
    mesh = line_mesh(4)
    mesh["flwdir"][0, 2] = 7  # cells 1 and 2 now point at each other
    with pytest.raises(ValueError, match="cycle"):
        build_network(mesh)


def test_flow_leaving_grid_without_gauge():
    mesh = line_mesh(4)
    mesh["flwdir"][0, 1] = 1  # drains north, off the grid
    with pytest.raises(ValueError, match=r"leaves the grid at active cell \(row, col\) = \(0, 1\)"):
        build_network(mesh)


def test_gauge_outside_grid_or_inactive():
    mesh = line_mesh(4)
    mesh["gauge_pos"] = np.array([[0, 7]])
    with pytest.raises(ValueError, match="outside the 1 x 4 grid"):
        build_network(mesh)
    mesh = line_mesh(4)
    mesh["active_cell"][0, 3] = 0
    with pytest.raises(ValueError, match="not an active cell"):
        build_network(mesh)


def test_bad_direction_and_shape():
    mesh = line_mesh(4)
    mesh["flwdir"][0, 0] = 9
    with pytest.raises(ValueError, match="not a D8 direction"):
        build_network(mesh)
    mesh = line_mesh(4)
    mesh["flwdir"] = mesh["flwdir"][:, :3]
    with pytest.raises(ValueError, match=r"mesh\['flwdir'\] has shape \(1, 3\)"):
        build_network(mesh)
