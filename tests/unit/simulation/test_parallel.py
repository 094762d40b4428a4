"""OpenMP over cells: results do not depend on the number of threads.

Cells are independent in rainfall-runoff, and routing threads take
sub-catchments that never drain into each other (the routing tree), with
every cell's upstream sum in a fixed order: ncpu=2 (and 4) must reproduce
ncpu=1 bit for bit.
"""

import numpy as np
import pytest

import smash
from smash import _testing
from smash.factory.synthetic import synthetic_setup_mesh


@pytest.mark.parametrize("structure", [{}, {"hydrological_module": "vic3l", "snow_module": "ssn"}])
def test_two_threads_reproduce_one_thread_exactly(structure):
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    model = smash.Model(dict(setup, **structure), mesh)
    # Both halves of the routing tree hold cells: two threads route side by side.
    assert np.all(model.network.node_end[1:3] > model.network.node_first[1:3])
    if not structure:
        model.set_rr_parameters("cp", np.linspace(100, 400, 3000).reshape(60, 50))
    options = {"q_domain": True, "rr_states": True, "internal_fluxes": True, "time_step": ["2020-06-30", "2020-12-31"]}
    # Threads on copies of their cells, and in place (see the gradient test): the same arithmetic,
    # and what is saved along the way lands on the right cells.
    runs = []
    for block_steps in (9, 1):
        _testing.core_setup(model).block_steps = block_steps
        for ncpu in (1, 2):
            out = model.forward_run(common_options={"ncpu": ncpu}, return_options=options)
            runs.append((model.response.q.copy(), model.rr_final_states.values.copy(), out))
    q_one, final_one, one = runs[0]
    assert np.any(one.internal_fluxes[next(iter(one.internal_fluxes))] != 0)
    for q, final, other in runs[1:]:
        assert np.array_equal(q, q_one)
        assert np.array_equal(final, final_one)
        assert np.array_equal(one.q_domain, other.q_domain)
        assert np.array_equal(one.rr_states[0].values, other.rr_states[0].values)
        for name, values in one.internal_fluxes.items():
            assert np.array_equal(values, other.internal_fluxes[name]), name


def _backward(model, ncpu, mapping="distributed"):
    return smash.backward_run(model, mapping=mapping, common_options={"ncpu": ncpu},
                              return_options={"cost": True, "grad": True})[1]


def test_two_threads_reproduce_the_gradient_exactly():
    """The adjoint's cell sweeps (rainfall-runoff, and routing of the tree's nodes) give every thread
    the same block of cells in both sweeps (its own tape), and each cell's adjoint accumulates
    in the same order: bit-identical gradients. Time blocks of 9 steps run on per-thread copies of
    the cells (md_forward::rainfall_runoff_copies), blocks of one step in place."""
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    for structure in ({"hydrological_module": "gr4", "routing_module": "lr"},
                      {"hydrological_module": "vic3l", "routing_module": "kw", "snow_module": "ssn"},
                      {"hydrological_module": "gr6", "routing_module": "lr"}):
        model = smash.Model(dict(setup, **structure), mesh)
        for block_steps in (9, 1):
            _testing.core_setup(model).block_steps = block_steps
            one = _backward(model, 1)
            for ncpu in (2, 4):   # 4: the tree's four nodes of depth 2, then the two trunks above
                other = _backward(model, ncpu)
                assert one.cost == other.cost
                assert np.array_equal(one.grad, other.grad)


def test_hybrid_gradient_with_two_threads():
    """Every cell of a hybrid adds to the one adjoint of the net's weights: each thread sums its
    cells into a buffer of its own, the buffers are added in a fixed order. Same cost; the weight
    adjoints differ from one thread's only by the order of that sum (a few ulps of the largest
    term, far below what the finite-difference checks resolve), and two runs on two threads agree
    bit for bit."""
    setup, mesh = synthetic_setup_mesh(nrow=12, ncol=10)
    for structure in ("gr4_mlp", "gr4_ode_mlp"):
        model = smash.Model(dict(setup, hydrological_module=structure, routing_module="lr"), mesh)
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
        one, two, again = (_backward(model, n, "uniform") for n in (1, 2, 2))
        assert one.cost == two.cost
        scale = np.max(np.abs(one.grad))
        assert np.max(np.abs(two.grad - one.grad)) <= 1e-12 * scale
        # The net's adjoint (after the 4 rr parameters) is there, not dropped by a thread.
        assert np.count_nonzero(two.grad[4:]) == np.count_nonzero(one.grad[4:]) > 0
        assert np.array_equal(two.grad, again.grad)


def test_cells_are_split_by_expected_work():
    """Missing and dry forcings make cells cheap: the split gives each thread an equal share of
    the work (checked against a direct count), not of the cells."""
    from smash.simulation.work_split import SAMPLED_STEPS, WORK_ACTIVE, WORK_DRY, WORK_MISSING, cell_work, split_points

    rng = np.random.default_rng(5)
    prcp = np.where(rng.random((1000, 40)) < 0.3, 2.0, 0.0).astype(np.float32)
    pet = np.zeros((1000, 40), dtype=np.float32)
    prcp[:600], pet[:600] = -99.0, -99.0          # the first 600 cells have no data
    work = cell_work(prcp, pet)
    expected = np.where(prcp < 0, WORK_MISSING, np.where(prcp > 0, WORK_ACTIVE, WORK_DRY)).sum(axis=1)
    assert np.allclose(work, expected)
    for nthreads in (2, 3, 7):
        split = split_points(work, nthreads)
        assert split[0] == 0 and split[-1] == 1000 and np.all(np.diff(split) >= 0)
        shares = np.array([work[a:b].sum() for a, b in zip(split[:-1], split[1:], strict=True)])
        assert np.all(np.abs(shares - work.sum() / nthreads) <= work.max())
    # Two threads: the cheap cells go to one thread with a few of the others.
    assert 600 < split_points(work, 2)[1] < 1000
    # Long runs are estimated on SAMPLED_STEPS evenly spaced steps: the shares of missing,
    # dry and active steps (here 1/2, 1/4, 1/4 of 5000) come out within a step's share.
    long_prcp = np.repeat(np.array([[-99.0, -99.0, 0.0, 3.0]], dtype=np.float32), 1250, axis=0).T.reshape(1, -1)
    long_prcp = np.repeat(np.sort(long_prcp, axis=1), 3, axis=0)
    long_pet = np.where(long_prcp < 0, -99.0, 0.0).astype(np.float32)
    mean = cell_work(long_prcp, long_pet) / SAMPLED_STEPS
    assert np.allclose(mean, 0.5 * WORK_MISSING + 0.25 * WORK_DRY + 0.25 * WORK_ACTIVE, atol=2.0 / SAMPLED_STEPS)


def test_uneven_split_reproduces_one_thread_exactly():
    """Half the catchment without forcings: the threads' blocks are far from equal in cells, and
    forward run and gradient still equal one thread's bit for bit."""
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    model = smash.Model(setup, mesh)
    prcp, pet = model.atmos_data.prcp.copy(), model.atmos_data.pet.copy()
    prcp[:30], pet[:30] = -99.0, -99.0
    model.atmos_data.prcp, model.atmos_data.pet = prcp, pet
    model.forward_run(common_options={"ncpu": 1})
    q_one = model.response.q.copy()
    model.forward_run(common_options={"ncpu": 2})
    split = _testing.core_setup(model).rr_split[:3]
    assert abs(split[1] - model.mesh.nac / 2) > 0.1 * model.mesh.nac
    assert np.array_equal(model.response.q, q_one)
    one, two = _backward(model, 1), _backward(model, 2)
    assert one.cost == two.cost and np.array_equal(one.grad, two.grad)


# gr6 and gr6_mlp: their exponential stores run as vector loops over blocks of cells
# (md_gr_structures::gr6_exponential_cells), whose bounds move with the pieces.
TURN_STRUCTURES = [{}, {"hydrological_module": "vic3l", "routing_module": "kw", "snow_module": "ssn"},
                   {"hydrological_module": "gr4_mlp"}, {"hydrological_module": "gr6"},
                   {"hydrological_module": "gr6_mlp"}]


@pytest.mark.parametrize("structure", TURN_STRUCTURES, ids=["gr4-lr", "vic3l-kw", "gr4_mlp", "gr6", "gr6_mlp"])
def test_cells_taken_in_turn_reproduce_one_thread_exactly(structure):
    """A forward run's threads may take pieces of cells, and routing-tree nodes two levels deeper
    than their number, in turn (md_forward::rr_piece_cells: France-sized grids by default,
    forced here by SetupDT%piece_cells): whatever thread computes a cell, each computes the same,
    on copies of the cells (blocks of 9 steps) or in place (1 step), with what is saved along
    the way on the right cells."""
    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    model = smash.Model(dict(setup, **structure), mesh)
    if structure.get("hydrological_module", "").endswith("_mlp"):
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=3)
    # The eight nodes of depth 3 (1-based 8..15) hold cells: two threads take them in turn.
    assert np.all(model.network.node_end[7:15] > model.network.node_first[7:15])
    options = {"q_domain": True, "rr_states": True, "internal_fluxes": True, "time_step": ["2020-06-30", "2020-12-31"]}
    core = _testing.core_setup(model)
    for block_steps in (9, 1):
        core.block_steps = block_steps
        core.piece_cells = -1
        one = model.forward_run(common_options={"ncpu": 1}, return_options=options)
        q_one, final_one = model.response.q.copy(), model.rr_final_states.values.copy()
        for ncpu, piece in ((2, 97), (3, 500), (2, 3000)):   # uneven pieces; one piece for all cells
            core.piece_cells = piece
            other = model.forward_run(common_options={"ncpu": ncpu}, return_options=options)
            assert np.array_equal(model.response.q, q_one)
            assert np.array_equal(model.rr_final_states.values, final_one)
            assert np.array_equal(one.q_domain, other.q_domain)
            assert np.array_equal(one.rr_states[0].values, other.rr_states[0].values)
            for name, values in one.internal_fluxes.items():
                assert np.array_equal(values, other.internal_fluxes[name]), name
    core.piece_cells = 0


def test_pieces_are_used_on_national_grids_and_skip_the_work_estimate():
    """md_forward::rr_piece_cells as Python sees it (smash._core.forward_piece_cells): none on a grid below
    eight pieces of 8192 cells a thread, the setup's size when forced, none on one thread or when the fixed
    share is forced. A forward run on pieces estimates no work split (a pass over a
    window of forcings); a gradient, whose threads keep fixed shares, does."""
    from smash import _core

    setup, mesh = synthetic_setup_mesh(nrow=60, ncol=50)
    model = smash.Model(setup, mesh)
    core = _testing.core_setup(model)
    assert _core.forward_piece_cells(model, 2) == 0 < model.network.nac
    core.piece_cells = 97
    assert _core.forward_piece_cells(model, 2) == 97 and _core.forward_piece_cells(model, 1) == 0
    core.piece_cells = -1
    assert _core.forward_piece_cells(model, 2) == 0
    core.piece_cells = 97
    model.forward_run(common_options={"ncpu": 2})
    assert getattr(_core.inputs_of(model), "cell_work", None) is None
    _backward(model, 2)
    assert getattr(_core.inputs_of(model), "cell_work", None) is not None


@pytest.mark.parametrize("structure", ["gr4_mlp", "gr4_ode_mlp", "gr6_mlp"])
@pytest.mark.parametrize("sparse", [False, True])
def test_threads_without_cells_leave_the_hybrid_gradient_unchanged(structure, sparse):
    """More threads than cells: some threads get no cell. Their reverse sweeps must run no block of
    cells either (Tapenade 3.16 reverses a loop of step > 1 over an empty range one iteration too
    many: the tape underflowed and the process aborted), and the gradient is one thread's."""
    setup, mesh = synthetic_setup_mesh(nrow=5, ncol=5)
    model = smash.Model(dict(setup, hydrological_module=structure, routing_module="lr", sparse_storage=sparse), mesh)
    model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=1)
    one = _backward(model, 1, "uniform")
    many = _backward(model, model.network.nac + 4, "uniform")
    assert one.cost == many.cost
    # The threads' weight adjoints are summed in another order: a few ulps of the largest entry.
    assert np.max(np.abs(many.grad - one.grad)) <= 1e-12 * np.max(np.abs(one.grad))
    assert np.count_nonzero(many.grad[4:]) == np.count_nonzero(one.grad[4:]) > 0
