!> Entry points called from Python (wrapped by f90wrap at build time).
module md_api
    use md_kinds, only: rk, sp
    use md_setup, only: SetupDT
    use md_mesh, only: MeshDT
    use md_input_data, only: InputDataDT
    use md_output, only: OutputDT
    use md_cost_options, only: CostOptionsDT
    use md_parameters, only: ParametersDT
    use md_forward, only: forward_cost, carried_columns, rr_piece_cells, chunk_steps
    use md_interception_adjust, only: adjust_interception, interception_window, interception_choice
    use md_metrics, only: metric_cost, TFM_KEEP
    use md_bayesian_cost, only: serr_moments
    use md_forcing_stream, only: register_fetch => set_forcing_fetch
    implicit none

contains

    !> Run the model and fill `output` (discharge, final states, cost, and the
    !> per-cell series selected by output%save_slot).
    subroutine forward_run(setup, mesh, input, options, parameters, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        type(CostOptionsDT), intent(in) :: options
        type(ParametersDT), intent(in) :: parameters
        type(OutputDT), intent(inout) :: output

        real(rk) :: cost

        call forward_cost(setup, mesh, input, options, parameters%rr_parameters, &
                          parameters%rr_initial_states, parameters%nn_parameters, output, cost)
    end subroutine forward_run

    !> Columns per cell a time step of the structure with these module ids reads of the steps
    !> before it besides the states (md_forward::carried_columns): what an adjoint snapshot keeps.
    function carried_column_count(hydrological_module, routing_module) result(ncarry)
        integer, intent(in) :: hydrological_module, routing_module
        integer :: ncarry

        type(SetupDT) :: setup
        integer :: cols(2), nfc

        setup%hydrological_module = hydrological_module
        setup%routing_module = routing_module
        call carried_columns(setup, cols, nfc, ncarry)
    end function carried_column_count

    !> Time steps per checkpointed chunk of a gradient over `ntime_step` steps of `nac` cells
    !> (md_forward::chunk_steps): `checkpoint_steps` when positive, else the default, shorter for a
    !> `hybrid` structure; what the memory estimate plans with.
    function checkpoint_chunk(nac, ntime_step, checkpoint_steps, hybrid) result(chunk)
        integer, intent(in) :: nac, ntime_step, checkpoint_steps
        logical, intent(in) :: hybrid
        integer :: chunk

        type(SetupDT) :: setup

        setup%ntime_step = ntime_step
        setup%checkpoint_steps = checkpoint_steps
        if (hybrid) setup%nn_nout = 1
        chunk = chunk_steps(setup, nac)
    end function checkpoint_chunk

    !> Cells per piece that a forward run of this setup on `ncpu` threads takes in turn over `nac`
    !> cells, 0 when each thread takes a fixed share (md_forward::rr_piece_cells), split by work.
    function forward_piece_cells(setup, ncpu, nac) result(piece)
        type(SetupDT), intent(in) :: setup
        integer, intent(in) :: ncpu, nac
        integer :: piece

        type(SetupDT) :: threaded

        threaded = setup
        threaded%ncpu = ncpu
        piece = 0
        !$ piece = rr_piece_cells(threaded, nac)
        if (ncpu <= 1) piece = 0
    end function forward_piece_cells

    !> Sub-daily runs: per-cell interception capacity matching the daily
    !> interception implied by the forcings (smash 1.3 `adjust_interception`).
    subroutine estimate_interception(input, day_of_step, ci)
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: day_of_step(:)
        real(rk), intent(inout) :: ci(:)

        call adjust_interception(input%prcp, input%pet, day_of_step, ci)
    end subroutine estimate_interception

    !> estimate_interception of some cells from their (ncell, ntime) forcings (sparse storage
    !> hands them over a block of cells at a time).
    subroutine estimate_interception_cells(prcp, pet, day_of_step, ci)
        real(sp), intent(in) :: prcp(:, :), pet(:, :)
        integer, intent(in) :: day_of_step(:)
        real(rk), intent(inout) :: ci(:)

        call adjust_interception(prcp, pet, day_of_step, ci)
    end subroutine estimate_interception_cells

    !> estimate_interception over a window of steps of streamed forcings (md_interception_adjust's
    !> running sums h, intercepted (ncandidate, ncell), pday, eday, target, day (ncell), zero before
    !> the first window); estimate_interception_choice then gives ci.
    subroutine estimate_interception_window(prcp, pet, day_of_step, h, intercepted, pday, eday, target, day)
        real(sp), intent(in) :: prcp(:, :), pet(:, :)
        integer, intent(in) :: day_of_step(:)
        real(sp), intent(inout) :: h(:, :), intercepted(:, :), pday(:), eday(:), target(:)
        integer, intent(inout) :: day(:)

        call interception_window(prcp, pet, day_of_step, h, intercepted, pday, eday, target, day)
    end subroutine estimate_interception_window

    subroutine estimate_interception_choice(intercepted, pday, eday, target, day, ci)
        real(sp), intent(in) :: intercepted(:, :), pday(:), eday(:), target(:)
        integer, intent(in) :: day(:)
        real(rk), intent(inout) :: ci(:)

        call interception_choice(intercepted, pday, eday, target, day, ci)
    end subroutine estimate_interception_choice

    !> One efficiency metric of a simulated series against observations (negative = missing),
    !> in the "to minimise" form of the cost (1 - NSE, ...): smash.evaluation reads the metric
    !> the calibration uses instead of keeping a second definition of it.
    subroutine metric_value(metric, qsim, qobs, j)
        integer, intent(in) :: metric
        real(rk), intent(in) :: qsim(:)
        real(sp), intent(in) :: qobs(:)
        real(rk), intent(out) :: j

        call metric_cost(metric, TFM_KEEP, qsim, qobs, 1, j)
    end subroutine metric_value

    !> Mean and standard deviation of the structural errors at simulated discharge `qsim`
    !> (smash's Model.get_serr_mu / get_serr_sigma), with the parameters and mappings of `options`.
    subroutine serr_moments_of(options, qsim, mu, sigma)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: qsim(:, :)
        real(rk), intent(inout) :: mu(:, :), sigma(:, :)

        call serr_moments(options%serr_mu_mapping, options%serr_sigma_mapping, qsim, options%serr_mu, &
                          options%serr_sigma, mu, sigma)
    end subroutine serr_moments_of

    !> Register the C function that fills a streamed model's forcing window (0 clears it).
    subroutine set_forcing_fetch(address)
        integer(8), intent(in) :: address

        call register_fetch(address)
    end subroutine set_forcing_fetch

end module md_api
