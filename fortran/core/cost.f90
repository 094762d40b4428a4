!> Observation cost J_obs = sum_g wgauge(g) * J_g, J_g = sum_c wjobs(c) * j_c(g),
!> or a quantile of the J_g (smash's 'median', 'lquartile', 'uquartile').
module md_cost
    use md_kinds, only: rk, sp
    use md_cost_options, only: CostOptionsDT
    use md_metrics
    use md_signatures
    implicit none
    private
    public :: observation_cost

contains

    subroutine observation_cost(options, qsim, qobs, jobs)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: qsim(:, :)   !< (ng, ntime_step)
        real(sp), intent(in) :: qobs(:, :)   !< (ng, ntime_step)
        real(rk), intent(out) :: jobs

        integer :: g, c, n, i, j
        real(rk) :: jc, position, swap
        real(rk) :: jg(size(qsim, 1))

        n = 0
        jobs = 0._rk
        do g = 1, size(qsim, 1)
            if (options%wgauge(g) == 0._rk) cycle
            n = n + 1
            jg(n) = 0._rk
            do c = 1, options%njobs
                if (is_signature(options%jobs_metric(c))) then
                    call signature_cost(options, options%jobs_metric(c), g, qsim(g, :), qobs(g, :), jc)
                else
                    call metric_cost(options%jobs_metric(c), qsim(g, :), qobs(g, :), &
                                     options%end_warmup + 1, jc)
                end if
                jg(n) = jg(n) + options%wjobs(c)*jc
            end do
            jobs = jobs + options%wgauge(g)*jg(n)
        end do
        if (options%gauge_quantile <= 0._rk .or. n == 0) return

        ! Quantile of the per-gauge costs: sort (few gauges), then interpolate.
        do i = 1, n - 1
            do j = 1, n - i
                if (jg(j) > jg(j + 1)) then
                    swap = jg(j)
                    jg(j) = jg(j + 1)
                    jg(j + 1) = swap
                end if
            end do
        end do
        position = options%gauge_quantile*(n - 1) + 1._rk
        i = min(int(position), n - 1)
        if (n == 1) then
            jobs = jg(1)
        else
            jobs = jg(i) + (position - i)*(jg(i + 1) - jg(i))
        end if
    end subroutine observation_cost

end module md_cost
