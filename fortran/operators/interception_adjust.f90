!> Sub-daily re-estimation of the interception capacity ci (smash 1.3's
!> `adjust_interception`): per cell, the capacity whose simulated
!> interception evaporation best matches the daily bound sum_d min(P_d, E_d).
!> Matches the anchor's ci map on Cance exactly (candidates 0.1..2.9 mm,
!> first minimum of |intercepted - target| wins, store starts empty,
!> missing values count as 0).
module md_interception_adjust
    use md_kinds, only: rk, sp
    implicit none
    private
    public :: adjust_interception

    integer, parameter :: ncandidate = 29   !< ci = 0.1, 0.2, ..., 2.9 mm
    !> Gaps closer than this (mm over the period) are ties, won by the smaller
    !> capacity: smash 1.3 sums in single precision, where such gaps are equal.
    real(rk), parameter :: tie_tolerance = 1.e-6_rk

contains

    subroutine adjust_interception(prcp, pet, day_of_step, ci)
        real(sp), intent(in) :: prcp(:, :), pet(:, :)   !< (ncell, ntime), mm per step, negative = missing
        integer, intent(in) :: day_of_step(:)           !< (ntime) day index of each step's end time
        real(rk), intent(out) :: ci(:)                  !< (ncell) estimated capacity, mm

        integer :: k, t, c, nday
        real(rk) :: target, best, gap, cap, store, p, e, ei, pn, intercepted
        real(rk), allocatable :: pday(:), eday(:)
        logical :: filled

        nday = maxval(day_of_step)
        !$omp parallel do schedule(dynamic, 256) private(k, t, c, target, best, gap, cap, store, p, e, ei, pn, &
        !$omp& intercepted, pday, eday, filled)
        do k = 1, size(prcp, 1)
            allocate (pday(nday), eday(nday))
            pday = 0._rk
            eday = 0._rk
            do t = 1, size(prcp, 2)
                pday(day_of_step(t)) = pday(day_of_step(t)) + max(0._rk, real(prcp(k, t), rk))
                eday(day_of_step(t)) = eday(day_of_step(t)) + max(0._rk, real(pet(k, t), rk))
            end do
            target = sum(min(pday, eday))
            best = huge(1._rk)
            do c = 1, ncandidate
                cap = 0.1_rk*c
                store = 0._rk
                intercepted = 0._rk
                filled = .false.
                do t = 1, size(prcp, 2)
                    p = max(0._rk, real(prcp(k, t), rk))
                    e = max(0._rk, real(pet(k, t), rk))
                    ei = min(e, p + store)
                    pn = max(0._rk, p - (cap - store) - ei)
                    filled = filled .or. pn > 0._rk
                    store = store + p - ei - pn
                    intercepted = intercepted + ei
                end do
                gap = abs(intercepted - target)
                if (gap < best - tie_tolerance) then
                    best = gap
                    ci(k) = cap
                end if
                ! The intercepted sum never decreases with the capacity, so past the
                ! target every larger capacity is farther; and a store that never
                ! filled runs identically (same operations, pn = 0) with any larger
                ! capacity. Either way no later candidate can win: stop.
                if (.not. filled) exit
                if (intercepted > target .and. gap > best + tie_tolerance) exit
            end do
            deallocate (pday, eday)
        end do
        !$omp end parallel do
    end subroutine adjust_interception

end module md_interception_adjust
