!> gr4_ode: the GR4 production and transfer stores as a continuous
!> state-space model, integrated over each step by implicit Euler. Fluxes are
!> per step, so the step length does not enter.
!>
!> Checked against smash 1.3.0 (black box, ~1e-6): one implicit Euler step
!> per time step solved to convergence (smash: Newton to |dx|+|dy| < 1e-12),
!> both levels clamped to [0, 1]; the closure qt uses the new levels. A
!> missing rainfall or PET skips the cell (states frozen, qt = 0, fluxes 0).
!>
!> How it is solved (docs/performance-log.md): the production level does not
!> depend on the transfer level and its implicit Euler equation is a quadratic,
!> solved in closed form; the transfer level then solves one scalar equation
!> by Newton's method. Only the last Newton step is differentiated: the
!> iterations before it find the start ($AD DO-NOT-DIFF) and one step from a
!> converged start carries the derivatives of the solution (the implicit
!> function theorem, up to the size of the residual), so the adjoint tapes
!> one step per cell instead of every iteration.
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
    !> The start of the last Newton step is converged once an iteration moves the level by
    !> less than this: the error left is then about (newton_start_tol)**2 and, after the
    !> last step, its square (below 1e-20, where smash stops at steps below 1e-12).
    real(rk), parameter :: newton_start_tol = 1.e-6_rk

contains

    !> One implicit Euler step of the production (x) and transfer (y) levels
    !> over a whole time step, the fluxes being expressed per step, under the
    !> net's corrections f (zeros without a net).
    !>
    !> Production: cp (x - hp0) = (1 - x^2) pn gp - x (2 - x) en ge, that is
    !> (pn gp - en ge) x^2 + (cp + 2 en ge) x - (cp hp0 + pn gp) = 0, whose root
    !> in [0, 1] (for hp0 in [0, 1]) is 2 m / (b + sqrt(b^2 + 4 a m)) with
    !> a = pn gp - en ge, b = cp + 2 en ge, m = cp hp0 + pn gp (no cancellation:
    !> b > 0, and b^2 + 4 a m > 0 since pn and en are never both positive).
    subroutine implicit_euler(pn, en, cp, ct, kexc, f, x, y)
        real(rk), intent(in) :: pn, en, cp, ct, kexc
        real(rk), intent(in) :: f(NET_MAX)   !< the net's corrections (zeros without a net)
        real(rk), intent(inout) :: x, y

        real(rk) :: ht0, inflow, a, b, m, gp, ge, gl, gt, r, j, y_start

        ht0 = y
        gp = 1._rk + f(GR4_ODE_MLP_OUT_FP)
        ge = 1._rk + f(GR4_ODE_MLP_OUT_FE)
        gl = 1._rk + f(GR4_ODE_MLP_OUT_FL)
        gt = 1._rk + f(GR4_ODE_MLP_OUT_FT)
        a = pn*gp - en*ge
        b = cp + 2._rk*en*ge
        m = cp*x + pn*gp
        x = min(1._rk, max(0._rk, 2._rk*m/(b + sqrt(b*b + 4._rk*a*m))))
        inflow = 0.9_rk*x*x*pn*gp
        ! The start is y's value here: the region is identity for the derivatives.
        y_start = y
        !$AD DO-NOT-DIFF
        call transfer_newton_start(ht0, inflow, ct, kexc, gl, gt, y_start)
        !$AD END-DO-NOT-DIFF
        y = y_start
        !$AD NOCHECKPOINT
        call transfer_residual(y, ht0, inflow, ct, kexc, gl, gt, r, j)
        y = min(1._rk, max(0._rk, y - r/j))
    end subroutine implicit_euler

    !> Residual r and its derivative j of the transfer level's implicit Euler
    !> equation at level y: ct (y - ht0) - (inflow + kexc y^3.5 gl - ct/4 y^5 gt).
    !> y^3.5 and y^2.5 as y^3 sqrt(y), y^2 sqrt(y): no pow call.
    subroutine transfer_residual(y, ht0, inflow, ct, kexc, gl, gt, r, j)
        real(rk), intent(in) :: y, ht0, inflow, ct, kexc, gl, gt
        real(rk), intent(out) :: r, j

        real(rk) :: y2, y_sqrt

        y2 = y*y
        y_sqrt = sqrt(y)
        r = ct*(y - ht0) - (inflow + kexc*y2*y*y_sqrt*gl - 0.25_rk*ct*y2*y2*y*gt)
        j = ct - (3.5_rk*kexc*y2*y_sqrt*gl - 1.25_rk*ct*y2*y2*gt)
    end subroutine transfer_residual

    !> Newton iterations on the transfer level from y (the level at the start
    !> of the step), kept in [0, 1], until a step moves it by less than
    !> newton_start_tol (or stays at a bound): the start of implicit_euler's
    !> last, differentiated step.
    subroutine transfer_newton_start(ht0, inflow, ct, kexc, gl, gt, y)
        real(rk), intent(in) :: ht0, inflow, ct, kexc, gl, gt
        real(rk), intent(inout) :: y

        real(rk) :: r, j, y_next
        integer :: it

        do it = 1, max_newton
            call transfer_residual(y, ht0, inflow, ct, kexc, gl, gt, r, j)
            y_next = min(1._rk, max(0._rk, y - r/j))
            if (abs(y_next - y) < newton_start_tol) then
                y = y_next
                exit
            end if
            y = y_next
        end do
    end subroutine transfer_newton_start

    !> md_gr_structures::gr_interception by the same operations, in this module so that the
    !> compiler inlines it into the cell loop (the primal is compiled module by module: called
    !> across modules, each cell-step made a call, about 3 % of a gr4_ode forward run).
    subroutine ode_interception(prcp, pet, ci, hi, pn, en)
        real(rk), intent(in) :: prcp, pet, ci
        real(rk), intent(inout) :: hi
        real(rk), intent(out) :: pn, en

        real(rk) :: ei

        ei = min(pet, prcp + hi*ci)
        pn = max(0._rk, prcp - ci*(1._rk - hi) - ei)
        en = pet - ei
        hi = hi + (prcp - ei - pn)/ci
    end subroutine ode_interception

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
            !$AD NOCHECKPOINT
            call ode_interception(prcp, pet, p(GR4_ODE_P_CI), h(GR4_ODE_S_HI), pn, en)
            ! Only the rainfall of the pervious share enters (smash 1.3 leaves evaporation whole here);
            ! the net read the whole cell's pn (net_inputs).
            pn = (1._rk - imperv)*pn
            !$AD NOCHECKPOINT
            call implicit_euler(pn, en, p(GR4_ODE_P_CP), p(GR4_ODE_P_CT), p(GR4_ODE_P_KEXC), f, &
                                h(GR4_ODE_S_HP), h(GR4_ODE_S_HT))
            ! ht**3.5 as ht**3 * sqrt(ht): no pow call.
            lexc = p(GR4_ODE_P_KEXC)*h(GR4_ODE_S_HT)**3*sqrt(h(GR4_ODE_S_HT))*(1._rk + f(GR4_ODE_MLP_OUT_FL))
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

        integer :: k, ib, kb, kb1, span, j, np, nh
        real(rk) :: cell_pet, cell_imperv, ode_fx(GR4_ODE_NFX)
        real(rk) :: fnet(NET_MAX, net_block)

        np = size(p, 2)
        nh = size(h, 2)
        fnet = 0._rk
        span = net_block
        ! Without a net, k0..k1 is one block and every cell reads the zeros of
        ! the last column of fnet (the column index is capped at net_block).
        if (nn(4) == 0) span = max(1, k1 - k0 + 1)
        ! blocks counted with a unit step: Tapenade 3.16 reverses a loop of step span from a
        ! start it computes, one iteration too many when k1 < k0 (a thread with no cells)
        do ib = 1, (k1 - k0 + span)/span
            kb = k0 + (ib - 1)*span
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
