!> gr4_ode: the GR4 production and transfer stores as a continuous
!> state-space model, integrated over each step by implicit Euler solved with
!> Newton's method (explicit 2x2 Jacobian, lower triangular here since the
!> production store does not depend on the transfer store). Fluxes are
!> per step, so the step length does not enter.
!>
!> Checked against smash 1.3.0 (black box, ~1e-6): one implicit Euler step
!> per time step, Newton to |dx|+|dy| < 1e-12 (at most 20 iterations), both
!> levels clamped to [0, 1]; the closure qt uses the new levels. A missing
!> rainfall or PET skips the cell (states frozen, qt = 0, fluxes 0).
!>
!> gr4_ode_mlp (smash 1.3's gr4_ude): a net reads [hp, ht, pn, en] with the
!> levels at the start of the step and scales the four terms of the
!> right-hand side by (1 + [fp, fe, fl, ft]) (production inflow, evaporation,
!> exchange, transfer outflow), closure included. The corrections are fixed
!> during the step, so the Jacobian needs no derivative of the net (matches
!> smash 1.3 to ~5e-7; evaluating the net at each Newton iterate gives 2e-3).
module md_gr_ode
    use md_kinds, only: rk, sp
    use md_registry
    use md_gr_structures   ! whole: Tapenade drops adjoint names from ONLY lists
    use md_mlp
    implicit none
    private
    public :: gr4_ode_cells

    integer, parameter :: max_newton = 20
    real(rk), parameter :: newton_tol = 1.e-12_rk

contains

    !> One implicit Euler step of the production (x) and transfer (y) levels
    !> over a whole time step, the fluxes being expressed per step.
    subroutine implicit_euler(pn, en, cp, ct, kexc, f, x, y)
        real(rk), intent(in) :: pn, en, cp, ct, kexc
        real(rk), intent(in) :: f(NET_MAX)   !< the net's corrections (zeros without a net)
        real(rk), intent(inout) :: x, y

        real(rk) :: hp0, ht0, r1, r2, j11, j21, j22, dx, dy, gp, ge, gl, gt
        integer :: it

        hp0 = x
        ht0 = y
        gp = 1._rk + f(GR4_ODE_MLP_OUT_FP)
        ge = 1._rk + f(GR4_ODE_MLP_OUT_FE)
        gl = 1._rk + f(GR4_ODE_MLP_OUT_FL)
        gt = 1._rk + f(GR4_ODE_MLP_OUT_FT)
        do it = 1, max_newton
            r1 = cp*(x - hp0) - ((1._rk - x*x)*pn*gp - x*(2._rk - x)*en*ge)
            r2 = ct*(y - ht0) - (0.9_rk*x*x*pn*gp + kexc*y**3.5_rk*gl - 0.25_rk*ct*y**5*gt)
            j11 = cp + 2._rk*x*pn*gp + (2._rk - 2._rk*x)*en*ge
            j21 = -1.8_rk*x*pn*gp
            j22 = ct - (3.5_rk*kexc*y**2.5_rk*gl - 1.25_rk*ct*y**4*gt)
            dx = -r1/j11
            dy = -(r2 + j21*dx)/j22
            ! Both levels are kept in [0, 1] (smash 1.3 clamps the transfer level too:
            ! a full transfer store then releases exactly kexc + ct/4).
            x = min(1._rk, max(0._rk, x + dx))
            y = min(1._rk, max(0._rk, y + dy))
            if (abs(dx) + abs(dy) < newton_tol) exit
        end do
    end subroutine implicit_euler

    subroutine gr4_ode_step(prcp, pet, imperv, p, h, f, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: imperv   !< impervious share of the cell
        real(rk), intent(in) :: p(:)        ! GR4_ODE_P_*
        real(rk), intent(inout) :: h(:)     ! GR4_ODE_S_*
        real(rk), intent(in) :: f(NET_MAX)  !< the net's corrections (zeros without a net)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(GR4_ODE_NFX)

        real(rk) :: pn, en, lexc

        ! smash 1.3 skips the whole step of a cell with missing rainfall or
        ! PET: stores frozen, no runoff.
        if (prcp < 0._rk .or. pet < 0._rk) then
            qt = 0._rk
            fx(1:GR4_ODE_NFX) = 0._rk
        else
            call gr_interception(prcp, pet, p(GR4_ODE_P_CI), h(GR4_ODE_S_HI), pn, en)
            ! Only the rainfall of the pervious share enters (smash 1.3 leaves evaporation whole here);
            ! the net read the whole cell's pn (net_inputs).
            pn = (1._rk - imperv)*pn
            call implicit_euler(pn, en, p(GR4_ODE_P_CP), p(GR4_ODE_P_CT), p(GR4_ODE_P_KEXC), f, &
                                h(GR4_ODE_S_HP), h(GR4_ODE_S_HT))
            lexc = p(GR4_ODE_P_KEXC)*h(GR4_ODE_S_HT)**3.5_rk*(1._rk + f(GR4_ODE_MLP_OUT_FL))
            qt = 0.1_rk*h(GR4_ODE_S_HP)*h(GR4_ODE_S_HP)*pn*(1._rk + f(GR4_ODE_MLP_OUT_FP)) + lexc &
                 + 0.25_rk*p(GR4_ODE_P_CT)*h(GR4_ODE_S_HT)**5*(1._rk + f(GR4_ODE_MLP_OUT_FT))
            fx(GR4_ODE_FX_PN) = pn
            fx(GR4_ODE_FX_EN) = en
            fx(GR4_ODE_FX_LEXC) = lexc
            fx(GR4_ODE_FX_QT) = qt
        end if
    end subroutine gr4_ode_step

    !> gr4_ode and gr4_ode_mlp on cells k0..k1 for one step (arguments as
    !> md_gr_structures::gr_cells; fx(k, :) receives a cell's fluxes at saved
    !> steps only). The hybrid's net runs over blocks of cells before their
    !> steps, as in gr_cells.
    subroutine gr4_ode_cells(k0, k1, prcp, pet, imperv, p, h, nn, w, keep_all, qt, fx)
        integer, intent(in) :: k0, k1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(sp), intent(in) :: imperv(:)   !< impervious share of each cell
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: h(:, :)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        logical, intent(in) :: keep_all
        real(rk), intent(inout) :: qt(:), fx(:, :)

        integer :: k, kb, kb1, span, j, np, nh
        real(rk) :: cell_pet, cell_imperv, ode_fx(GR4_ODE_NFX)
        real(rk) :: fnet(NET_MAX, net_block)

        np = size(p, 2)
        nh = size(h, 2)
        fnet = 0._rk
        span = net_block
        ! Without a net, k0..k1 is one block and every cell reads the zeros of
        ! the last column of fnet (the column index is capped at net_block).
        if (nn(4) == 0) span = max(1, k1 - k0 + 1)
        do kb = k0, k1, span
            kb1 = min(k1, kb + span - 1)
            if (nn(4) > 0) then
                !$AD NOCHECKPOINT
                call net_corrections(HY_GR4_ODE_MLP, kb, kb1, prcp, pet, p, h, nn, w, fnet)
            end if
            ! Newton iterations dominate here, not the call.
            do k = kb, kb1
                j = min(k - kb + 1, net_block)
                cell_pet = real(pet(k), rk)
                cell_imperv = real(imperv(k), rk)
                !$AD NOCHECKPOINT
                call gr4_ode_step(prcp(k), cell_pet, cell_imperv, p(k, 1:np), h(k, 1:nh), fnet(1:NET_MAX, j), &
                                  qt(k), ode_fx)
                if (keep_all) fx(k, 1:GR4_ODE_NFX) = ode_fx
            end do
        end do
    end subroutine gr4_ode_cells

end module md_gr_ode
