"""smash.plot: each figure draws what it says on the axes it is given, masks inactive cells, labels units,
and names an unknown gauge, parameter or descriptor in its error."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import smash  # noqa: E402


@pytest.fixture(scope="module")
def model():
    model = smash.Model(*smash.factory.load_dataset("synthetic"))
    model.forward_run()
    return model


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_every_public_function_draws_on_the_given_axes(model):
    calls = {
        "hydrograph": lambda ax: smash.plot.hydrograph(model, ax=ax),
        "parameter_map": lambda ax: smash.plot.parameter_map(model, "cp", ax=ax),
        "descriptor_map": lambda ax: smash.plot.descriptor_map(model, "slope", ax=ax),
        "cost_history": lambda ax: smash.plot.cost_history([0.5, 0.3, 0.2], ax=ax),
        "simulated_vs_observed": lambda ax: smash.plot.simulated_vs_observed(model, ax=ax),
        "flow_duration_curve": lambda ax: smash.plot.flow_duration_curve(model, ax=ax),
    }
    assert sorted(calls) == sorted(smash.plot.__all__)
    for name, call in calls.items():
        fig, axs = plt.subplots(1, 2)
        got_fig, got_ax = call(axs[1])
        assert got_fig is fig and got_ax is axs[1], name
        assert not axs[0].has_data(), name
        assert axs[1].has_data(), name


def test_hydrograph_draws_both_discharges_and_inverted_rainfall_of_the_gauge(model):
    code = str(model.mesh.code[1])
    fig, ax = smash.plot.hydrograph(model, code)
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    qobs = np.asarray(model.response_data.q[1], dtype=float)
    np.testing.assert_array_equal(lines["simulated"], model.response.q[1])
    np.testing.assert_array_equal(lines["observed"], np.where(qobs >= 0, qobs, np.nan))
    assert "m$^3$/s" in ax.get_ylabel()
    (rain_ax,) = [a for a in fig.axes if a is not ax]
    heights = [bar.get_height() for bar in rain_ax.patches]
    np.testing.assert_allclose(heights, model.atmos_data.mean_prcp[1])
    low, high = rain_ax.get_ylim()
    assert low > high == 0.0  # bars hang from the top
    assert rain_ax.get_ylabel() == "rainfall (mm/d)"  # a daily model: mm per step is mm/d


def test_missing_observations_are_gaps_not_values():
    model = smash.Model(*smash.factory.load_dataset("synthetic"))
    model.forward_run()
    model.response_data.q[0, :10] = -99.0
    _, ax = smash.plot.hydrograph(model, precipitation=False)
    observed = [line for line in ax.get_lines() if line.get_label() == "observed"][0].get_ydata()
    assert np.isnan(observed[:10]).all() and np.isfinite(observed[10:]).all()
    _, ax = smash.plot.simulated_vs_observed(model)
    points = ax.collections[0].get_offsets()
    assert len(points) == model.setup.ntime_step - 10


@pytest.mark.parametrize("name, label", [("cp", "cp (mm)"), ("kexc", "kexc (mm/d)"), ("llr", "llr (min)"),
                                         ("hp", "hp")])
def test_maps_mask_inactive_cells_and_label_units_from_the_registry(model, name, label):
    fig, ax = smash.plot.parameter_map(model, name)
    image = ax.get_images()[0]
    data = image.get_array()
    inactive = model.mesh.active_cell == 0
    assert inactive.any()
    np.testing.assert_array_equal(np.ma.getmaskarray(data), inactive)
    expected = model.get_rr_parameters(name) if name in model.rr_parameters.keys else \
        model.get_rr_initial_states(name)
    np.testing.assert_array_equal(data[~inactive], expected[~inactive])
    colorbar_ax = [a for a in fig.axes if a is not ax][0]
    assert colorbar_ax.get_ylabel() == label
    # The image covers the mesh in its projected coordinates, in km.
    mesh = model.mesh
    assert image.get_extent() == pytest.approx([mesh.xmin / 1e3, (mesh.xmin + mesh.ncol * mesh.xres) / 1e3,
                                                (mesh.ymax - mesh.nrow * mesh.yres) / 1e3, mesh.ymax / 1e3])


def test_maps_mark_the_gauges_at_their_cell_centres(model):
    _, ax = smash.plot.descriptor_map(model, "slope")
    (marks,) = [line for line in ax.get_lines() if line.get_label() == "gauges"]
    mesh = model.mesh
    for (row, col), x, y in zip(mesh.gauge_pos, marks.get_xdata(), marks.get_ydata(), strict=True):
        # The centre of cell (row, col) lies inside the image pixel the map shows for it.
        assert mesh.xmin + col * mesh.xres < 1e3 * x < mesh.xmin + (col + 1) * mesh.xres
        assert mesh.ymax - (row + 1) * mesh.yres < 1e3 * y < mesh.ymax - row * mesh.yres
    _, ax = smash.plot.parameter_map(model, "cp", gauges=False)
    assert not ax.get_lines()


def test_descriptor_map_masks_inactive_cells(model):
    _, ax = smash.plot.descriptor_map(model, "drainage_density")
    data = ax.get_images()[0].get_array()
    active = model.mesh.active_cell == 1
    np.testing.assert_array_equal(~np.ma.getmaskarray(data), active)
    np.testing.assert_array_equal(data[active], model.physio_data.descriptor[..., 1][active])


def test_final_state_map_is_the_last_runs(model):
    _, ax = smash.plot.parameter_map(model, "ht", state="final")
    active = model.mesh.active_cell == 1
    np.testing.assert_array_equal(ax.get_images()[0].get_array()[active], model.get_rr_final_states("ht")[active])


def test_cost_history_of_an_optimize_result_and_of_a_net(model):
    _, opt = smash.optimize(model, optimize_options={"termination_crit": {"maxiter": 2}},
                            return_options={"iter_cost": True}, common_options={"verbose": False})
    net = smash.factory.Net()
    net.history["loss_train"] = [0.9, 0.4, 0.35]
    _, ax = smash.plot.cost_history(opt, net, labels=["sbs", "ann"])
    sbs, ann = ax.get_lines()
    np.testing.assert_array_equal(sbs.get_ydata(), opt.iter_cost)
    np.testing.assert_array_equal(sbs.get_xdata(), np.arange(len(opt.iter_cost)))
    np.testing.assert_array_equal(ann.get_ydata(), [0.9, 0.4, 0.35])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sbs", "ann"]


def test_flow_duration_curve_is_the_sorted_discharge_against_its_exceedance(model):
    _, ax = smash.plot.flow_duration_curve(model, str(model.mesh.code[2]))
    observed, simulated = ax.get_lines()
    n = model.setup.ntime_step
    expected_obs = sorted(model.response_data.q[2], reverse=True)
    np.testing.assert_allclose(observed.get_ydata(), expected_obs)
    np.testing.assert_allclose(simulated.get_ydata(), sorted(model.response.q[2], reverse=True))
    # Weibull positions: the largest value is exceeded or equalled 1 / (n + 1) of the time.
    np.testing.assert_allclose(observed.get_xdata()[[0, -1]], [100 / (n + 1), 100 * n / (n + 1)])
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize("call, message", [
    (lambda m: smash.plot.hydrograph(m, "SYN0001"), "Unknown gauge 'SYN0001'; did you mean 'SYN00001'?"),
    (lambda m: smash.plot.flow_duration_curve(m, "nowhere"), "Unknown gauge 'nowhere'"),
    (lambda m: smash.plot.simulated_vs_observed(m, "SYN00009"), "Unknown gauge 'SYN00009'"),
    (lambda m: smash.plot.parameter_map(m, "cpp"), "'cpp'; did you mean 'cp'?"),
    (lambda m: smash.plot.parameter_map(m, "kmlt"), "Unknown parameter or state of structure zero-gr4-lr 'kmlt'"),
    (lambda m: smash.plot.parameter_map(m, "hp", state="middle"), "state must be one of"),
    (lambda m: smash.plot.descriptor_map(m, "slop"), "Unknown descriptor 'slop'; did you mean 'slope'?"),
    (lambda m: smash.plot.cost_history(), "at least one history"),
    (lambda m: smash.plot.cost_history([]), "empty"),
])
def test_unknown_names_raise_errors_that_name_them(model, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        call(model)


def test_optimize_result_without_iter_cost_is_refused_with_the_option_to_use(model):
    _, opt = smash.optimize(model, optimize_options={"termination_crit": {"maxiter": 1}},
                            return_options={"cost": True}, common_options={"verbose": False})
    with pytest.raises(ValueError, match="return_options=\\{'iter_cost': True\\}"):
        smash.plot.cost_history(opt)
