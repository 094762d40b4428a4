!> Cost gradient and directional derivative through the Tapenade-generated
!> adjoint and tangent of md_forward::forward_cost (fortran/generated).
module md_gradient
    use, intrinsic :: iso_c_binding, only: c_double, c_char, c_int
    use md_kinds, only: rk, sp
    use md_setup, only: SetupDT
    use md_mesh, only: MeshDT
    use md_input_data, only: InputDataDT
    use md_output, only: OutputDT
    use md_cost_options, only: CostOptionsDT
    use md_parameters, only: ParametersDT
    use md_forward_diff, only: forward_cost_b, forward_cost_d
    use md_bayesian_cost_diff, only: serr_log_likelihood_b, control_log_prior_b
    implicit none

    interface
        subroutine smash_tape_release() bind(c, name="smash_tape_release_")
        end subroutine smash_tape_release
        function smash_tape_peak_bytes() bind(c, name="smash_tape_peak_bytes_") result(bytes)
            import :: c_double
            real(c_double) :: bytes
        end function smash_tape_peak_bytes
        function smash_tape_spilled_bytes() bind(c, name="smash_tape_spilled_bytes_") result(bytes)
            import :: c_double
            real(c_double) :: bytes
        end function smash_tape_spilled_bytes
        function smash_tape_spill_failure(bytes) bind(c, name="smash_tape_spill_failure_") result(code)
            import :: c_double, c_int
            real(c_double), intent(out) :: bytes
            integer(c_int) :: code
        end function smash_tape_spill_failure
        subroutine smash_tape_spill_configure(limit, folder, n) bind(c, name="smash_tape_spill_configure_")
            import :: c_double, c_char, c_int
            real(c_double), intent(in) :: limit
            character(kind=c_char), intent(in) :: folder(*)
            integer(c_int), intent(in) :: n
        end subroutine smash_tape_spill_configure
    end interface

    !> Peak tape size (bytes) of the last cost_gradient: the adjoint's memory beyond the forward's.
    real(rk), save :: last_tape_peak = 0._rk
    !> Bytes the tapes of the last cost_gradient wrote to their spill files (fortran/runtime/ad_stack.c).
    real(rk), save :: last_tape_spilled = 0._rk
    !> The last cost_gradient's first failed spill (ad_stack.c): its errno (0: none) and the size
    !> its spill file would have reached; that tape went on in memory.
    integer, save :: last_spill_errno = 0
    real(rk), save :: last_spill_failed_bytes = 0._rk

contains

    !> cost and dcost/d(rr_parameters, rr_initial_states, nn_parameters) into `gradient`.
    subroutine cost_gradient(setup, mesh, input, options, parameters, output, gradient, cost)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        type(CostOptionsDT), intent(in) :: options
        type(ParametersDT), intent(in) :: parameters
        type(OutputDT), intent(inout) :: output
        type(ParametersDT), intent(inout) :: gradient
        real(rk), intent(out) :: cost

        real(rk) :: costb, peak, spilled
        real(c_double) :: failed_bytes

        costb = 1._rk
        gradient%rr_parameters = 0._rk
        gradient%rr_initial_states = 0._rk
        gradient%nn_parameters = 0._rk
        call forward_cost_b(setup, mesh, input, options, parameters%rr_parameters, gradient%rr_parameters, &
                            parameters%rr_initial_states, gradient%rr_initial_states, &
                            parameters%nn_parameters, gradient%nn_parameters, output, cost, costb)
        ! Every thread of the cell sweeps kept a tape: add up their peaks, empty them all.
        peak = 0._rk
        spilled = 0._rk
        !$omp parallel num_threads(max(setup%ncpu, 1)) if (setup%ncpu > 1) reduction(+:peak, spilled)
        peak = peak + smash_tape_peak_bytes()
        spilled = spilled + smash_tape_spilled_bytes()
        call smash_tape_release()
        !$omp end parallel
        last_tape_peak = peak
        last_tape_spilled = spilled
        last_spill_errno = int(smash_tape_spill_failure(failed_bytes))
        last_spill_failed_bytes = real(failed_bytes, rk)
    end subroutine cost_gradient

    !> The last gradient's first failed spill: `code` its errno (0: none), `bytes` the size its spill
    !> file would have reached (the gradient went on with that tape in memory).
    subroutine tape_spill_failure(code, bytes)
        integer, intent(out) :: code
        real(rk), intent(out) :: bytes

        code = last_spill_errno
        bytes = last_spill_failed_bytes
    end subroutine tape_spill_failure

    !> Bytes written to the tapes' spill files by the last gradient.
    function tape_spilled_bytes() result(bytes)
        real(rk) :: bytes

        bytes = last_tape_spilled
    end function tape_spilled_bytes

    !> Let each thread's adjoint tape hold at most `limit` bytes in memory (0: no limit), the
    !> oldest bytes beyond it waiting in a temporary file of `folder` (deleted when the gradient ends).
    subroutine set_tape_spill(limit, folder)
        real(rk), intent(in) :: limit
        character(len=*), intent(in) :: folder

        call smash_tape_spill_configure(real(limit, c_double), folder, int(len_trim(folder), c_int))
    end subroutine set_tape_spill

    !> Peak tape size in bytes of the last gradient (f90wrap exposes functions, not module variables).
    function tape_peak_bytes() result(bytes)
        real(rk) :: bytes

        bytes = last_tape_peak
    end function tape_peak_bytes

    !> cost and its derivative along `direction` (same layout as the parameters).
    subroutine cost_tangent(setup, mesh, input, options, parameters, direction, output, cost, dcost)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        type(CostOptionsDT), intent(in) :: options
        type(ParametersDT), intent(in) :: parameters
        type(ParametersDT), intent(in) :: direction
        type(OutputDT), intent(inout) :: output
        real(rk), intent(out) :: cost
        real(rk), intent(out) :: dcost

        call forward_cost_d(setup, mesh, input, options, parameters%rr_parameters, direction%rr_parameters, &
                            parameters%rr_initial_states, direction%rr_initial_states, &
                            parameters%nn_parameters, direction%nn_parameters, output, cost, dcost)
    end subroutine cost_tangent

    !> The Bayesian log-likelihood of simulated discharge `qsim` under `options` (md_bayesian_cost;
    !> gauges with wgauge > 0, steps after end_warmup) and its gradient in the structural error
    !> parameters (grad_mu, grad_sigma: the layout of options%serr_mu, options%serr_sigma) and in qsim.
    !> nobs (the number of scored observations) is handed back as a real: f90wrap 0.3 mistakes an integer
    !> result next to assumed-shape arrays for one of their sizes.
    subroutine serr_gradient(options, qsim, qobs, grad_q, grad_mu, grad_sigma, log_lkh, nobs)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: qsim(:, :)
        real(sp), intent(in) :: qobs(:, :)
        real(rk), intent(inout) :: grad_q(:, :), grad_mu(:, :), grad_sigma(:, :)
        real(rk), intent(out) :: log_lkh
        real(rk), intent(out) :: nobs

        integer :: g, count
        integer :: scored(size(qsim, 1))
        real(rk) :: log_lkh_b

        do g = 1, size(qsim, 1)
            scored(g) = merge(1, 0, options%wgauge(g) > 0._rk)
        end do
        grad_q = 0._rk
        grad_mu = 0._rk
        grad_sigma = 0._rk
        log_lkh_b = 1._rk
        call serr_log_likelihood_b(options%serr_mu_mapping, options%serr_sigma_mapping, options%end_warmup + 1, &
                                   scored, qsim, grad_q, qobs, options%q_stdev, options%serr_mu, grad_mu, &
                                   options%serr_sigma, grad_sigma, log_lkh, log_lkh_b, count)
        nobs = real(count, rk)
    end subroutine serr_gradient

    !> The log-prior of raw control values x (md_bayesian_cost::control_log_prior) and its gradient.
    subroutine prior_gradient(prior, par, x, grad_x, log_prior)
        integer, intent(in) :: prior(:)
        real(rk), intent(in) :: par(:, :)
        real(rk), intent(in) :: x(:)
        real(rk), intent(inout) :: grad_x(:)
        real(rk), intent(out) :: log_prior

        real(rk) :: log_prior_b

        grad_x = 0._rk
        log_prior_b = 1._rk
        call control_log_prior_b(prior, par, x, grad_x, log_prior, log_prior_b)
    end subroutine prior_gradient

end module md_gradient
