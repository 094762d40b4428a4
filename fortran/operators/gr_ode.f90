!> gr4_ode: the GR4 production and transfer stores as a continuous
!> state-space model, integrated over each step by implicit Euler solved with
!> Newton's method (explicit 2x2 Jacobian, lower triangular here since the
!> production store does not depend on the transfer store). Fluxes are
!> per step, so the step length does not enter.
module md_gr_ode
    use md_kinds, only: rk
    use md_gr_fluxes
    implicit none
    private
    public :: gr4_ode_step

    integer, parameter :: max_newton = 20
    real(rk), parameter :: newton_tol = 1.e-12_rk

contains

    subroutine gr4_ode_step(prcp, pet, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)        ! ci cp ct kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)      ! pn en lexc qt

        real(rk) :: pn, en, cp, ct, kexc, hp0, ht0, x, y, r1, r2, j11, j21, j22, dx, dy, lexc
        integer :: it

        if (prcp >= 0._rk .and. pet >= 0._rk) then
            call gr_interception(prcp, pet, p(1), h(1), pn, en)
        else
            pn = 0._rk
            en = 0._rk
        end if
        cp = p(2)
        ct = p(3)
        kexc = p(4)
        hp0 = h(2)
        ht0 = h(3)
        x = hp0
        y = ht0
        do it = 1, max_newton
            r1 = cp*(x - hp0) - ((1._rk - x*x)*pn - x*(2._rk - x)*en)
            r2 = ct*(y - ht0) - (0.9_rk*x*x*pn + kexc*y**3.5_rk - 0.25_rk*ct*y**5)
            j11 = cp + 2._rk*x*pn + (2._rk - 2._rk*x)*en
            j21 = -1.8_rk*x*pn
            j22 = ct - (3.5_rk*kexc*y**2.5_rk - 1.25_rk*ct*y**4)
            dx = -r1/j11
            dy = -(r2 + j21*dx)/j22
            ! Both levels are kept in [0, 1] (smash 1.3 clamps the transfer level too:
            ! a full transfer store then releases exactly kexc + ct/4).
            x = min(1._rk, max(0._rk, x + dx))
            y = min(1._rk, max(0._rk, y + dy))
            if (abs(dx) + abs(dy) < newton_tol) exit
        end do
        h(2) = x
        h(3) = y
        lexc = kexc*y**3.5_rk
        qt = 0.1_rk*x*x*pn + lexc + 0.25_rk*ct*y**5
        fx(1:4) = [pn, en, lexc, qt]
    end subroutine gr4_ode_step

end module md_gr_ode
