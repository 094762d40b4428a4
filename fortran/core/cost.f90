!> Observation cost J_obs = sum_g wgauge(g) * J_g, J_g = sum_c wjobs(c) * j_c(g),
!> or a quantile of the J_g / of the j_c (smash's 'median', 'lquartile', 'uquartile').
module md_cost
    use md_kinds, only: rk, sp
    use md_cost_options, only: CostOptionsDT
    use md_metrics
    use md_signatures
    use md_bayesian_cost
    implicit none
    private
    public :: observation_cost

contains

    subroutine observation_cost(options, qsim, qobs, jobs)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: qsim(:, :)   !< (ng, ntime_step)
        real(sp), intent(in) :: qobs(:, :)   !< (ng, ntime_step)
        real(rk), intent(out) :: jobs

        integer :: g, c, n, t, nobs, ng_obs
        real(rk) :: jg(size(qsim, 1)), jc(options%njobs), log_lkh, lkh_g, mu_par(2), sigma_par(3)

        n = 0
        jobs = 0._rk
        if (options%bayesian == 1) then
            ! smash's Bayesian cost: the negative log-likelihood per scored observation.
            log_lkh = 0._rk
            nobs = 0
            do g = 1, size(qsim, 1)
                if (options%wgauge(g) == 0._rk) cycle
                call gauge_parameters(options%serr_mu, options%serr_sigma, g, mu_par, sigma_par)
                call gauge_log_likelihood(options%serr_mu_mapping, options%serr_sigma_mapping, options%end_warmup + 1, &
                                          qsim(g, :), qobs(g, :), options%q_stdev(g, :), mu_par, sigma_par, lkh_g, &
                                          ng_obs)
                log_lkh = log_lkh + lkh_g
                nobs = nobs + ng_obs
            end do
            jobs = -log_lkh/real(max(nobs, 1), rk)
            return
        end if
        if (options%q_target == 1) then
            ! The derivative of this J with respect to q(g, t) is the cotangent.
            do t = 1, size(qsim, 2)
                do g = 1, size(qsim, 1)
                    jobs = jobs + options%q_cotangent(g, t)*qsim(g, t)
                end do
            end do
            return
        end if
        do g = 1, size(qsim, 1)
            if (options%wgauge(g) == 0._rk) cycle
            n = n + 1
            do c = 1, options%njobs
                if (is_signature(options%jobs_metric(c))) then
                    call signature_cost(options, options%jobs_metric(c), g, qsim(g, :), qobs(g, :), jc(c))
                else
                    call metric_cost(options%jobs_metric(c), options%jobs_tfm(c), qsim(g, :), qobs(g, :), &
                                     options%end_warmup + 1, jc(c))
                end if
            end do
            if (options%jobs_quantile > 0._rk) then
                call quantile_of(jc, options%njobs, options%jobs_quantile, jg(n))
            else
                ! An explicit loop: with SUM over an array expression Tapenade
                ! makes the (constant) weights active.
                jg(n) = 0._rk
                do c = 1, options%njobs
                    jg(n) = jg(n) + options%wjobs(c)*jc(c)
                end do
            end if
            jobs = jobs + options%wgauge(g)*jg(n)
        end do
        if (options%gauge_quantile > 0._rk .and. n > 0) call quantile_of(jg, n, options%gauge_quantile, jobs)
    end subroutine observation_cost

    !> Quantile q of values(1:n), linear interpolation between order statistics.
    !> values is sorted in place (few items: gauges or cost terms).
    subroutine quantile_of(values, n, q, result)
        real(rk), intent(inout) :: values(:)
        integer, intent(in) :: n
        real(rk), intent(in) :: q
        real(rk), intent(out) :: result

        integer :: i, j
        real(rk) :: position, swap

        do i = 1, n - 1
            do j = 1, n - i
                if (values(j) > values(j + 1)) then
                    swap = values(j)
                    values(j) = values(j + 1)
                    values(j + 1) = swap
                end if
            end do
        end do
        if (n == 1) then
            result = values(1)
            return
        end if
        position = q*(n - 1) + 1._rk
        i = min(int(position), n - 1)
        result = values(i) + (position - i)*(values(i + 1) - values(i))
    end subroutine quantile_of

end module md_cost
