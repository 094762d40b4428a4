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
    public :: adjust_interception, interception_window, interception_choice, ncandidate

    integer, parameter :: ncandidate = 29   !< ci = 0.1, 0.2, ..., 2.9 mm

contains

    subroutine adjust_interception(prcp, pet, day_of_step, ci)
        real(sp), intent(in) :: prcp(:, :), pet(:, :)   !< (ncell, ntime), mm per step, negative = missing
        integer, intent(in) :: day_of_step(:)           !< (ntime) day index of each step's end time
        real(rk), intent(out) :: ci(:)                  !< (ncell) estimated capacity, mm

        real(sp), allocatable :: h(:, :), intercepted(:, :), pday(:), eday(:), target(:)
        integer, allocatable :: day(:)
        integer :: ncell

        ncell = size(prcp, 1)
        allocate (h(ncandidate, ncell), intercepted(ncandidate, ncell), pday(ncell), eday(ncell), target(ncell))
        allocate (day(ncell))
        h = 0._sp
        intercepted = 0._sp
        pday = 0._sp
        eday = 0._sp
        target = 0._sp
        day = 0
        call interception_window(prcp, pet, day_of_step, h, intercepted, pday, eday, target, day)
        call interception_choice(intercepted, pday, eday, target, day, ci)
    end subroutine adjust_interception

    !> The steps of one window of the period (streamed forcings: the windows in order, the
    !> running sums carried from one to the next; all zero before the first): per cell and
    !> candidate the store level h (fraction of the capacity) and the intercepted total, and the
    !> daily bound summed over the days complete so far (target) with the sums of the current day.
    subroutine interception_window(prcp, pet, day_of_step, h, intercepted, pday, eday, target, day)
        real(sp), intent(in) :: prcp(:, :), pet(:, :)   !< (ncell, nstep) of this window
        integer, intent(in) :: day_of_step(:)           !< (nstep) day index of each step's end time
        real(sp), intent(inout) :: h(:, :), intercepted(:, :)   !< (ncandidate, ncell)
        real(sp), intent(inout) :: pday(:), eday(:), target(:)  !< (ncell)
        integer, intent(inout) :: day(:)                !< (ncell) day of pday, eday (0: none yet)

        integer :: k, t, c, d
        real(sp) :: p, e
        real(sp) :: cap(ncandidate), ei(ncandidate), pn(ncandidate)

        do c = 1, ncandidate
            cap(c) = 0.1_sp*c
        end do
        do k = 1, size(prcp, 1)
            do t = 1, size(prcp, 2)
                d = day_of_step(t)
                if (d /= day(k)) then
                    ! A day is complete: its bound joins the sum in the order of the days (days
                    ! without a step add min(0, 0), which changes no sum).
                    if (day(k) > 0) target(k) = target(k) + min(pday(k), eday(k))
                    day(k) = d
                    pday(k) = 0._sp
                    eday(k) = 0._sp
                end if
                p = max(0._sp, prcp(k, t))
                e = max(0._sp, pet(k, t))
                pday(k) = pday(k) + p
                eday(k) = eday(k) + e
                ei = min(e, p + h(:, k)*cap)
                pn = max(0._sp, p - (1._sp - h(:, k))*cap - ei)
                h(:, k) = h(:, k) + (p - ei - pn)/cap
                intercepted(:, k) = intercepted(:, k) + (e - (e - ei))
            end do
        end do
    end subroutine interception_window

    !> ci of each cell once every window went through interception_window: the first candidate
    !> minimising |intercepted - target|.
    subroutine interception_choice(intercepted, pday, eday, target, day, ci)
        real(sp), intent(in) :: intercepted(:, :), pday(:), eday(:), target(:)
        integer, intent(in) :: day(:)
        real(rk), intent(out) :: ci(:)

        integer :: k, c
        real(sp) :: total, best

        do k = 1, size(target)
            total = target(k)
            if (day(k) > 0) total = total + min(pday(k), eday(k))
            best = huge(1._sp)
            do c = 1, ncandidate
                if (abs(intercepted(c, k) - total) < best) then
                    best = abs(intercepted(c, k) - total)
                    ci(k) = real(0.1_sp*c, rk)
                end if
            end do
        end do
    end subroutine interception_choice

end module md_interception_adjust
