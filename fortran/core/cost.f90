!> Observation cost J_obs = sum_g wgauge(g) * sum_c wjobs(c) * j_c(g).
module md_cost
    use md_kinds, only: rk, sp
    use md_cost_options, only: CostOptionsDT
    use md_metrics
    implicit none
    private
    public :: observation_cost

contains

    subroutine observation_cost(options, qsim, qobs, jobs)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: qsim(:, :)   !< (ng, ntime_step)
        real(sp), intent(in) :: qobs(:, :)   !< (ng, ntime_step)
        real(rk), intent(out) :: jobs

        integer :: g, c
        real(rk) :: jc

        jobs = 0._rk
        do g = 1, size(qsim, 1)
            if (options%wgauge(g) == 0._rk) cycle
            do c = 1, options%njobs
                call metric_cost(options%jobs_metric(c), qsim(g, :), qobs(g, :), &
                                 options%end_warmup + 1, jc)
                jobs = jobs + options%wgauge(g)*options%wjobs(c)*jc
            end do
        end do
    end subroutine observation_cost

end module md_cost
