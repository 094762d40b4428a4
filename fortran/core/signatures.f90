!> Hydrological signatures as cost terms: j = (S_sim / S_obs - 1)^2 for a
!> continuous signature, its mean over the flood events for an event one.
!> Simulated and observed series are scored on the same steps: those after
!> the warm-up whose observation is present (>= 0), taken in order.
!>
!> Ratios of volumes make the rainfall of the runoff coefficients cancel
!> (Crc_sim / Crc_obs = sum Q_sim / sum Q_obs), so rainfall only enters
!> through the index of the rainfall peak of each event (lag time Elt),
!> which Python computes with the segmentation. Quick flow Qq = Q - Qb, the
!> baseflow Qb from the Lyne-Hollick filter as smash runs it (see baseflow).
module md_signatures
    use md_kinds, only: rk, sp
    use md_registry
    use md_cost_options, only: CostOptionsDT
    implicit none
    private
    public :: signature_cost, is_signature

    real(rk), parameter :: LH_ALPHA = 0.925_rk

contains

    pure logical function uses_baseflow(metric)
        integer, intent(in) :: metric

        uses_baseflow = any(metric == [METRIC_CRCHF, METRIC_CRCLF, METRIC_CRCH2R, METRIC_EFF, METRIC_EBF, &
                                       METRIC_ERCHF, METRIC_ERCLF, METRIC_ERCH2R])
    end function uses_baseflow

    pure logical function is_signature(metric)
        integer, intent(in) :: metric

        is_signature = metric >= METRIC_CRC
    end function is_signature

    subroutine signature_cost(options, metric, g, qsim, qobs, j)
        type(CostOptionsDT), intent(in) :: options
        integer, intent(in) :: metric, g
        real(rk), intent(in) :: qsim(:)
        real(sp), intent(in) :: qobs(:)
        real(rk), intent(out) :: j

        integer :: t, n, e, ne
        integer :: step(size(qsim))           ! scored steps, in time order
        real(rk) :: s(size(qsim)), o(size(qsim))
        real(rk) :: sb(size(qsim)), ob(size(qsim))   ! their base flows, filtered once
        real(rk) :: sq(size(qsim)), oq(size(qsim))   ! and quick flows
        real(rk) :: ssim, sobs

        n = 0
        do t = options%end_warmup + 1, size(qsim)
            if (qobs(t) < 0._sp) cycle
            n = n + 1
            step(n) = t
            s(n) = qsim(t)
            o(n) = real(qobs(t), rk)
        end do
        j = 0._rk
        if (n < 2) return
        sb = 0._rk
        ob = 0._rk
        sq = 0._rk
        oq = 0._rk
        if (metric <= METRIC_CFP90) then
            if (uses_baseflow(metric)) then
                call separate_flows(n, s(1:n), sb(1:n), sq(1:n))
                call separate_flows(n, o(1:n), ob(1:n), oq(1:n))
            end if
            call series_signature(metric, n, s, sb, sq, 1, n, ssim)
            call series_signature(metric, n, o, ob, oq, 1, n, sobs)
            if (sobs /= 0._rk) j = (ssim/sobs - 1._rk)**2
            return
        end if
        ne = 0
        do e = 1, options%nevent(g)
            call event_signature(options, metric, g, e, n, step, s, ssim)
            call event_signature(options, metric, g, e, n, step, o, sobs)
            ! Only events with a positive observed signature count: zero has no
            ! relative error, and smash 1.3 also leaves out events whose observed
            ! lag time Elt is negative (flow peak before the rain peak, e.g. when
            ! the warm-up ends after the flood; its Elt costs with end_warmup).
            if (sobs <= 0._rk) cycle
            ne = ne + 1
            j = j + (ssim/sobs - 1._rk)**2
        end do
        if (ne > 0) j = j/ne
    end subroutine signature_cost

    !> Event e of gauge g: its steps among the scored ones, then its signature.
    !> The event's base flow is separated on the event alone, as smash 1.3
    !> does (its event base flow volumes are those of the event's own filter
    !> run to 7 digits, not of the whole series').
    subroutine event_signature(options, metric, g, e, n, step, q, sig)
        type(CostOptionsDT), intent(in) :: options
        integer, intent(in) :: metric, g, e, n
        integer, intent(in) :: step(n)
        real(rk), intent(in) :: q(n)
        real(rk), intent(out) :: sig

        integer :: i, i0, i1, peak, m
        real(rk) :: qb(n), qq(n)

        i0 = n + 1
        i1 = 0
        do i = 1, n
            if (step(i) >= options%event_start(e, g) .and. step(i) <= options%event_end(e, g)) then
                i0 = min(i0, i)
                i1 = max(i1, i)
            end if
        end do
        sig = 0._rk
        if (i1 < i0) return
        if (metric == METRIC_ELT) then
            peak = i0
            do i = i0, i1
                if (q(i) > q(peak)) peak = i
            end do
            sig = real(step(peak) - options%event_rain_peak(e, g), rk)
        else
            m = i1 - i0 + 1
            qb = 0._rk
            qq = 0._rk
            if (uses_baseflow(metric)) call separate_flows(m, q(i0:i1), qb(1:m), qq(1:m))
            call series_signature(metric, m, q(i0:i1), qb(1:m), qq(1:m), 1, m, sig)
        end if
    end subroutine event_signature

    !> Signature of q(i0:i1), qb and qq being the base and quick flows of the
    !> series 1..n.
    subroutine series_signature(metric, n, q, qb, qq, i0, i1, sig)
        integer, intent(in) :: metric, n, i0, i1
        real(rk), intent(in) :: q(n), qb(n), qq(n)
        real(rk), intent(out) :: sig

        real(rk) :: total, quick, base
        integer :: i

        sig = 0._rk
        select case (metric)
        case (METRIC_CFP2)
            call quantile(q, 0.02_rk, sig)
        case (METRIC_CFP10)
            call quantile(q, 0.10_rk, sig)
        case (METRIC_CFP50)
            call quantile(q, 0.50_rk, sig)
        case (METRIC_CFP90)
            call quantile(q, 0.90_rk, sig)
        case (METRIC_EPF)
            sig = q(i0)
            do i = i0, i1
                sig = max(sig, q(i))
            end do
        case default
            ! Volumes: total, quick and base flow over i0..i1.
            total = 0._rk
            quick = 0._rk
            base = 0._rk
            do i = i0, i1
                total = total + q(i)
                quick = quick + qq(i)
                base = base + qb(i)
            end do
            select case (metric)
            case (METRIC_CRC, METRIC_ERC)
                sig = total
            case (METRIC_CRCHF, METRIC_ERCHF, METRIC_EFF)
                sig = quick
            case (METRIC_CRCLF, METRIC_ERCLF, METRIC_EBF)
                sig = base
            case (METRIC_CRCH2R, METRIC_ERCH2R)
                if (total > 0._rk) sig = quick/total
            end select
        end select
    end subroutine series_signature

    !> Base and quick flow as smash 1.3 separates them (found by black-box experiments on
    !> crafted series: the baseflow volume agrees to 5 digits): the Lyne-Hollick
    !> filter in its baseflow form, b(i) = min(x(i), a b(i-1) + (1-a)/2 (x(i) +
    !> x(i-1))), three passes (forward, backward, forward), x being the previous
    !> pass's baseflow (q for the first). The first pass starts from q(1) if it
    !> is below the first quartile of q, else from mean(q)/1.5; each later pass
    !> from its first value reset to q/1.2 there if q is below the mean of the
    !> previous baseflow, else to that mean. Quick flow qq = q - qb, except
    !> at the first step, where the last pass starts: q(1) minus the second
    !> pass's baseflow there (smash's event quick-flow volumes on Lez and Cance
    !> need that, to 1e-6).
    subroutine separate_flows(n, q, qb, qq)
        integer, intent(in) :: n
        real(rk), intent(in) :: q(n)
        real(rk), intent(out) :: qb(n), qq(n)

        real(rk) :: x(n), q25, mean_x
        integer :: pass, i, first, last, stride

        call quantile(q, 0.25_rk, q25)
        if (q(1) < q25) then
            qb(1) = q(1)
        else
            qb(1) = sum(q)/n/1.5_rk
        end if
        x = q
        do pass = 1, 3
            if (mod(pass, 2) == 1) then
                first = 1
                last = n
                stride = 1
            else
                first = n
                last = 1
                stride = -1
            end if
            if (pass == 3) qq(1) = q(1) - x(1)
            if (pass > 1) then
                mean_x = sum(x)/n
                if (q(first) < mean_x) then
                    qb(first) = q(first)/1.2_rk
                else
                    qb(first) = mean_x
                end if
            end if
            do i = first + stride, last, stride
                qb(i) = min(x(i), LH_ALPHA*qb(i - stride) + 0.5_rk*(1._rk - LH_ALPHA)*(x(i) + x(i - stride)))
            end do
            x = qb
        end do
        qq(2:n) = q(2:n) - qb(2:n)
    end subroutine separate_flows

    !> p-quantile with linear interpolation between order statistics (numpy's
    !> default). The order is found on indices only, so the derivative flows to
    !> the two values around the quantile.
    subroutine quantile(q, p, value)
        real(rk), intent(in) :: q(:)
        real(rk), intent(in) :: p
        real(rk), intent(out) :: value

        integer :: order(size(q)), n, lo
        real(rk) :: position, frac

        n = size(q)
        call argsort(q, order)
        position = p*(n - 1) + 1._rk
        lo = min(int(position), n - 1)
        frac = position - lo
        value = q(order(lo)) + frac*(q(order(lo + 1)) - q(order(lo)))
    end subroutine quantile

    !> Heap sort of indices by value (O(n log n), no recursion).
    subroutine argsort(q, order)
        real(rk), intent(in) :: q(:)
        integer, intent(out) :: order(:)

        integer :: n, i, last, swap

        n = size(q)
        do i = 1, n
            order(i) = i
        end do
        do i = n/2, 1, -1
            call sift_down(q, order, i, n)
        end do
        do last = n, 2, -1
            swap = order(1)
            order(1) = order(last)
            order(last) = swap
            call sift_down(q, order, 1, last - 1)
        end do
    end subroutine argsort

    subroutine sift_down(q, order, start, last)
        real(rk), intent(in) :: q(:)
        integer, intent(inout) :: order(:)
        integer, intent(in) :: start, last

        integer :: root, child, swap

        root = start
        do while (2*root <= last)
            child = 2*root
            if (child < last) then
                if (q(order(child + 1)) > q(order(child))) child = child + 1
            end if
            if (q(order(root)) >= q(order(child))) return
            swap = order(root)
            order(root) = order(child)
            order(child) = swap
            root = child
        end do
    end subroutine sift_down

end module md_signatures
