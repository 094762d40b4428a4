!> Sub-daily re-estimation of the interception capacity ci (smash 1.3's
!> `adjust_interception`): per cell, the capacity whose simulated
!> interception evaporation best matches the daily bound sum_d min(P_d, E_d).
!>
!> Candidates 0.1..2.9 mm, store starting empty with its level kept as a
!> fraction of the capacity, missing values counting as 0, the first minimum
!> of |intercepted - target| winning. Many cells have exact ties in exact
!> arithmetic (a store that never fills intercepts the same with any larger
!> capacity); smash 1.3 breaks them by single-precision rounding, so this
!> runs in single precision with the store's fractional level, as smash 1.3
!> evidently does: that reproduces its maps on Cance exactly and on 4999 of
!> a 5000-cell France sample (tests/test_reference.py), against 94 % in
!> double precision.
module md_interception_adjust
    use md_kinds, only: rk, sp
    implicit none
    private
    public :: adjust_interception

    integer, parameter :: ncandidate = 29   !< ci = 0.1, 0.2, ..., 2.9 mm

contains

    subroutine adjust_interception(prcp, pet, day_of_step, ci)
        real(sp), intent(in) :: prcp(:, :), pet(:, :)   !< (ncell, ntime), mm per step, negative = missing
        integer, intent(in) :: day_of_step(:)           !< (ntime) day index of each step's end time
        real(rk), intent(out) :: ci(:)                  !< (ncell) estimated capacity, mm

        integer :: k, t, c, d, nday
        real(sp) :: target, best, p, e
        ! All candidates advance together (a short vector loop per step).
        real(sp) :: cap(ncandidate), h(ncandidate), ei(ncandidate), pn(ncandidate), intercepted(ncandidate)
        real(sp), allocatable :: pday(:), eday(:)

        nday = maxval(day_of_step)
        do c = 1, ncandidate
            cap(c) = 0.1_sp*c
        end do
        !$omp parallel do schedule(static) private(k, t, c, d, target, best, p, e, h, ei, pn, intercepted, &
        !$omp& pday, eday)
        do k = 1, size(prcp, 1)
            allocate (pday(nday), eday(nday))
            pday = 0._sp
            eday = 0._sp
            h = 0._sp
            intercepted = 0._sp
            do t = 1, size(prcp, 2)
                p = max(0._sp, prcp(k, t))
                e = max(0._sp, pet(k, t))
                pday(day_of_step(t)) = pday(day_of_step(t)) + p
                eday(day_of_step(t)) = eday(day_of_step(t)) + e
                ei = min(e, p + h*cap)
                pn = max(0._sp, p - (1._sp - h)*cap - ei)
                h = h + (p - ei - pn)/cap
                ! What the store took from the evaporation demand, as E - E_net:
                ! in single precision e - (e - ei) is not always ei, and smash 1.3's
                ! choices follow this form (5000 sampled France cells: 4999 equal,
                ! against 4985 when summing ei).
                intercepted = intercepted + (e - (e - ei))
            end do
            target = 0._sp
            do d = 1, nday
                target = target + min(pday(d), eday(d))
            end do
            best = huge(1._sp)
            do c = 1, ncandidate
                if (abs(intercepted(c) - target) < best) then
                    best = abs(intercepted(c) - target)
                    ci(k) = real(cap(c), rk)
                end if
            end do
            deallocate (pday, eday)
        end do
        !$omp end parallel do
    end subroutine adjust_interception

end module md_interception_adjust
