!> Efficiency and error metrics between simulated and observed discharge,
!> returned in "to minimise" form (1 - NSE, 1 - KGE, ...) so that every cost
!> term decreases towards a better fit. Steps whose observation is negative
!> (missing) are skipped, never turned into NaN.
module md_metrics
    use md_kinds, only: rk, sp
    use md_registry
    implicit none
    private
    public :: metric_cost
    !> Discharge transforms (jobs_cmpt_tfm).
    integer, parameter, public :: TFM_KEEP = 0, TFM_SQRT = 1, TFM_INV = 2

contains

    subroutine metric_cost(metric, tfm, qsim, qobs, t0, j)
        integer, intent(in) :: metric
        !> Transform of both series first: 0 keep, 1 sqrt(q + eps), 2 1/(q + eps), with
        !> eps = 1 % of the mean observed flow (smash 1.3's jobs_cmpt_tfm, black-box checked).
        integer, intent(in) :: tfm
        real(rk), intent(in) :: qsim(:)
        real(sp), intent(in) :: qobs(:)
        integer, intent(in) :: t0          !< first scored step
        real(rk), intent(out) :: j

        integer :: t, n
        real(rk) :: o, s, mo, ms, sse, var_o, var_s, cov, sabs, srel, slog, r, a, b, eps

        eps = 0._rk
        if (tfm /= TFM_KEEP) then
            n = 0
            do t = t0, size(qsim)
                if (qobs(t) < 0._sp) cycle
                n = n + 1
                eps = eps + real(qobs(t), rk)
            end do
            if (n > 0) eps = 0.01_rk*eps/n
        end if
        ! Two passes (means, then centred sums) keep 1 - NSE accurate when the
        ! fit is good and the errors are small next to the flows.
        n = 0
        mo = 0._rk
        ms = 0._rk
        do t = t0, size(qsim)
            if (qobs(t) < 0._sp) cycle
            n = n + 1
            mo = mo + transformed(tfm, real(qobs(t), rk), eps)
            ms = ms + transformed(tfm, qsim(t), eps)
        end do
        j = 0._rk
        if (n == 0) return
        mo = mo/n
        ms = ms/n

        sse = 0._rk; var_o = 0._rk; var_s = 0._rk; cov = 0._rk
        sabs = 0._rk; srel = 0._rk; slog = 0._rk
        do t = t0, size(qsim)
            if (qobs(t) < 0._sp) cycle
            o = transformed(tfm, real(qobs(t), rk), eps)
            s = transformed(tfm, qsim(t), eps)
            sse = sse + (s - o)**2
            var_o = var_o + (o - mo)**2
            var_s = var_s + (s - ms)**2
            cov = cov + (s - ms)*(o - mo)
            sabs = sabs + abs(s - o)
            if (o > 0._rk) srel = srel + abs((s - o)/o)
            ! ln(s/o)^2 weighted by o is only defined for positive flows.
            if (o > 0._rk .and. s > 0._rk) slog = slog + o*log(s/o)**2
        end do

        select case (metric)
        case (METRIC_NSE)
            j = sse/var_o
        case (METRIC_NNSE)
            ! 1 - NNSE with NNSE = 1/(2 - NSE) and NSE = 1 - sse/var_o
            j = 1._rk - 1._rk/(1._rk + sse/var_o)
        case (METRIC_KGE)
            r = cov/sqrt(var_s*var_o)
            a = sqrt(var_s/var_o)
            b = ms/mo
            j = sqrt((r - 1._rk)**2 + (a - 1._rk)**2 + (b - 1._rk)**2)
        case (METRIC_MAE)
            j = sabs/n
        case (METRIC_MAPE)
            j = srel/n
        case (METRIC_MSE)
            j = sse/n
        case (METRIC_RMSE)
            j = sqrt(sse/n)
        case (METRIC_LGRM)
            j = slog
        end select
    end subroutine metric_cost

    pure function transformed(tfm, q, eps) result(v)
        integer, intent(in) :: tfm
        real(rk), intent(in) :: q, eps
        real(rk) :: v

        select case (tfm)
        case (TFM_SQRT)
            v = sqrt(q + eps)
        case (TFM_INV)
            v = 1._rk/(q + eps)
        case default
            v = q
        end select
    end function transformed

end module md_metrics
