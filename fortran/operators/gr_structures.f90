!> The GR family: its building blocks (interception, production, exchange,
!> transfer stores) and the step of each structure, per cell and time step,
!> plus `gr_cells`, the loop over cells the forward model calls. States are
!> normalised by their capacity, as smash stores them. The blocks and the
!> structures share this one module so that the compiler inlines them all
!> into the cell loop (see gr_cells).
!>
!> Building blocks, checked against smash 1.3.0 (black box): percolation
!> constant 9/4 * (86400/dt)^(1/4) (passed as its inverse); the _ri
!> infiltration loses gamma*dt with dt in SECONDS (so it dominates at daily
!> steps, as in smash); the _ri level may go negative, as in smash. Guards:
!> an empty routing store releases 0; the exponential store uses its
!> asymptotic forms beyond |h/be| = 7.
!>
!> Common argument list: prcp, pet (mm over the step, negative = missing),
!> dt (s), p (parameters), h (states) in registry order, nn and w (shape
!> and weights of the hybrid structures' net, see md_mlp; nn(4) = 0 for the
!> conceptual structures), qt (runoff depth, mm), fx (internal fluxes in
!> registry order).
!>
!> Hybrid structures (*_mlp): the net reads the states at the start of the
!> step then the neutralised pn, en, and returns relative corrections of
!> internal fluxes in (-1, 1); with zero weights every correction is 0 and
!> the hybrid equals its parent.
!>
!> Missing inputs, as smash 1.3 does them (black-box experiments on 1.3.0):
!> - pet < 0 with prcp >= 0: no interception, production nor exchange (all
!>   their fluxes 0, hi and hp frozen); the routing stores still drain with
!>   zero inflow (qd = 0).
!> - prcp < 0: the cell is not updated (states frozen, except the gr6
!>   exponential store, which keeps draining) and the outflow of its routing
!>   stores (qr, and ql for grc) of the last computed step is released again,
!>   without the direct branch: qt = qr_last (+ ql_last, + qe now; x kb for
!>   loieau). That is why fx is intent(inout): on entry it must hold the
!>   cell's fluxes of its previous step (zeros before the first step).
!>
!> Imperviousness (imperv, the impervious share of a cell, 0 unless read):
!> as smash documents and 1.3 does, the net rainfall after interception is
!> scaled by 1 - imperv (the reported pn too; the impervious part leaves the
!> model) and so is the production store's evaporation es. A hybrid's net
!> reads the whole cell's pn; the _ri intensity term takes it too.
module md_gr_structures
    use md_kinds, only: rk, sp
    use md_registry
    use md_mlp
    implicit none
    private
    ! The per-cell routines stay private: called from one loop each in
    ! gr_cells, the compiler inlines them there (md_gr_ode has its own copy
    ! of gr_interception for the same reason). gr6_cells is public so that it is
    ! not inlined into gr_cells: its block loops made gr_cells' taped forward of
    ! gr4 4 % longer (callgrind), with the same source for gr4.
    public :: gr_cells, gr_hybrid_cells, gr6_cells, percolation_inv_beta, net_corrections, net_block

    !> Cells of a hybrid's block: the net's inputs, hidden layers and outputs
    !> of a block (5 + 2 x 16 + 5 values a cell for the default nets, 21 KB)
    !> stay in the first-level cache. 64 rather than 32: fewer calls and loop
    !> set-ups per cell (Cance gr4_mlp forward 3-5 % faster, gradient equal).
    integer, parameter :: net_block = 64
    !> Cells of gr6's exponential store run together (gr6_exponential_cells).
    integer, parameter :: exp_block = 64

contains

    !> Interception store of capacity ci: evaporates first, overflows the rest.
    subroutine gr_interception(prcp, pet, ci, hi, pn, en)
        real(rk), intent(in) :: prcp, pet, ci
        real(rk), intent(inout) :: hi
        real(rk), intent(out) :: pn, en

        real(rk) :: ei

        ei = min(pet, prcp + hi*ci)
        pn = max(0._rk, prcp - ci*(1._rk - hi) - ei)
        en = pet - ei
        hi = hi + (prcp - ei - pn)/ci
    end subroutine gr_interception

    !> No interception store: evaporation is taken from rainfall only.
    subroutine grd_interception(prcp, pet, pn, en)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(out) :: pn, en

        real(rk) :: ei

        ei = min(pet, prcp)
        pn = max(0._rk, prcp - ei)
        en = pet - ei
    end subroutine grd_interception

    !> Fluxes of a step whose PET is missing: nothing enters nor leaves the
    !> interception and production stores, and there is no exchange.
    subroutine no_production(pn, en, pr, perc, ps, es, lexc)
        real(rk), intent(out) :: pn, en, pr, perc, ps, es, lexc

        pn = 0._rk
        en = 0._rk
        pr = 0._rk
        perc = 0._rk
        ps = 0._rk
        es = 0._rk
        lexc = 0._rk
    end subroutine no_production

    !> GR production store (capacity cp): infiltration ps, evaporation es,
    !> runoff pr and percolation perc. `inv_beta` is the inverse of the
    !> percolation constant; 0 means a store without percolation (grc, grd in
    !> smash 1.3). fp, fe are the hybrid structures' relative corrections of
    !> ps and es (0 otherwise), capped so that the store never takes more than
    !> pn nor evaporates more than en; with fp = fe = 0 the caps never bind.
    !>
    !> This routine was a third of a forward run, all latency chains of
    !> divisions and square roots, hence the forms below: one division for
    !> 1/cp; rain and evaporation never both remain after interception, so
    !> one of the two branches is skipped; after percolation the level is
    !> hp* / (1 + (hp*/beta)^4)^(1/4), the same value as hp* - perc/cp
    !> without two divisions.
    subroutine gr_production(pn, en, cp, inv_beta, fp, fe, pervious, hp, pr, perc, ps, es)
        real(rk), intent(in) :: pn, en, cp, inv_beta, fp, fe
        real(rk), intent(in) :: pervious   !< 1 - imperviousness: the share of the cell that evaporates
        real(rk), intent(inout) :: hp
        real(rk), intent(out) :: pr, perc, ps, es

        real(rk) :: tpn, ten, hp_star, inv_cp

        inv_cp = 1._rk/cp
        ps = 0._rk
        pr = 0._rk
        if (pn > 0._rk) then
            tpn = tanh(pn*inv_cp)
            ps = min(pn, (1._rk + fp)*cp*(1._rk - hp*hp)*tpn/(1._rk + hp*tpn))
            pr = pn - ps
        end if
        es = 0._rk
        if (en > 0._rk) then
            ten = tanh(en*inv_cp)
            es = pervious*min(en, (1._rk + fe)*hp*cp*(2._rk - hp)*ten/(1._rk + (1._rk - hp)*ten))
        end if
        hp_star = hp + (ps - es)*inv_cp
        if (inv_beta > 0._rk) then
            hp = hp_star/sqrt(sqrt(1._rk + (hp_star*inv_beta)**4))
            perc = (hp_star - hp)*cp
        else
            hp = hp_star
            perc = 0._rk
        end if
    end subroutine gr_production

    !> Production with rainfall-intensity dependent infiltration (gr4_ri, gr5_ri).
    subroutine gr_ri_production(pn, pn_cell, en, cp, inv_beta, alpha1, dt, pervious, hp, pr, perc, ps, es)
        real(rk), intent(in) :: pn, en, cp, inv_beta, alpha1, dt, pervious
        real(rk), intent(in) :: pn_cell   !< net rainfall of the whole cell (pn is its pervious share)
        real(rk), intent(inout) :: hp
        real(rk), intent(out) :: pr, perc, ps, es

        real(rk) :: gam, lambda, tpn, ten, hp_star

        ! Without rain (most steps) or evaporation the exp and tanh terms are 0 and
        ! are not evaluated: the same values, and neither pn nor en carries a
        ! derivative then (both come out of a max/min branch that is constant).
        gam = 0._rk
        lambda = 1._rk
        if (pn_cell > 0._rk) then
            gam = 1._rk - exp(-pn_cell*alpha1)
            lambda = sqrt(1._rk - gam)
        end if
        ps = -gam*dt
        if (pn > 0._rk) then
            tpn = tanh(lambda*pn/cp)
            ps = cp/lambda*tpn*(1._rk - (lambda*hp)**2)/(1._rk + lambda*hp*tpn) - gam*dt
        end if
        es = 0._rk
        if (en > 0._rk) then
            ten = tanh(en/cp)
            es = pervious*hp*cp*(2._rk - hp)*ten/(1._rk + (1._rk - hp)*ten)
        end if
        hp_star = hp + (ps - es)/cp
        if (pn_cell > 0._rk) then
            pr = pn - ps
        else
            pr = 0._rk
        end if
        hp = hp_star/sqrt(sqrt(1._rk + (hp_star*inv_beta)**4))
        perc = (hp_star - hp)*cp
    end subroutine gr_ri_production

    !> Non-linear routing store of capacity c with outflow exponent n:
    !> q = h c - ((h c)^(1-n) + c^(1-n))^(1/(1-n)), h = h* + inflow/c.
    !> Only n = 4 and n = 5 occur. Written for the level left in the store,
    !> h = h* / (1 + h*^(n-1))^(1/(n-1)), then q = (h* - h) c: the same
    !> values without the divisions by the level (the old form was a quarter
    !> of a forward run), smooth at an empty store, and with literal integer
    !> powers that Tapenade differentiates without run-time guards.
    subroutine gr_transfer(n, inflow, c, h, q)
        integer, intent(in) :: n
        real(rk), intent(in) :: inflow, c
        real(rk), intent(inout) :: h
        real(rk), intent(out) :: q

        real(rk) :: h_star

        h_star = max(0._rk, h + inflow/c)
        if (n == 4) then
            ! In a routine of its own: gr_transfer stays small enough to be inlined.
            !$AD NOCHECKPOINT
            call cube_root_level(h_star, h)
        else
            h = h_star/sqrt(sqrt(1._rk + h_star**4))
        end if
        q = (h_star - h)*c
    end subroutine gr_transfer

    !> Level h_star / (1 + h_star^3)^(1/3) left in loieau's routing store.
    subroutine cube_root_level(h_star, h)
        real(rk), intent(in) :: h_star
        real(rk), intent(out) :: h

        real(rk) :: a, root

        ! A variable, not an expression, in the call: Tapenade honours NOCHECKPOINT only then.
        ! Checkpointed, the adjoint's reverse sweep found the root a second time.
        a = 1._rk + h_star**3
        !$AD NOCHECKPOINT
        call cube_root(a, root)
        h = h_star/root
    end subroutine cube_root_level

    !> c = a**(1/3) for a >= 1 (loieau's routing store), without the pow call
    !> that was a third of a loieau run: a Halley step (cubic convergence) from
    !> a start within 3e-7 of the root gives the root to rounding (2 ulp
    !> measured over [1, 8]). Only that last step is differentiated (its
    !> derivative at the root is 1 / (3 c^2), that of the cube root); the start
    !> is found under $AD DO-NOT-DIFF.
    subroutine cube_root(a, c)
        real(rk), intent(in) :: a
        real(rk), intent(out) :: c

        real(rk) :: c0, c3

        ! The region is identity for derivatives: the start carries a's, which
        ! the last step cancels (its derivative in its start vanishes at the root).
        c0 = a
        !$AD DO-NOT-DIFF
        call cube_root_start(c0)
        !$AD END-DO-NOT-DIFF
        c3 = c0*c0*c0
        c = c0*(c3 + 2._rk*a)/(2._rk*c3 + a)
    end subroutine cube_root

    !> Start of cube_root within 3e-7: on entry a, on exit the start (one
    !> argument: the DO-NOT-DIFF region of cube_root then passes a's derivative
    !> through, not an unset one). a is scaled into [1, 8] by powers of 8
    !> (exact), where a cubic fitted to the cube root (relative error 7e-3) and
    !> one Halley step give the start.
    subroutine cube_root_start(c)
        real(rk), intent(inout) :: c

        real(rk) :: b, scale, c3

        b = c
        scale = 1._rk
        do while (b > 8._rk)
            b = 0.125_rk*b
            scale = 2._rk*scale
        end do
        c = ((2.0454453069268168e-3_rk*b - 3.9835476315680435e-2_rk)*b + 0.3520066305447525_rk)*b &
            + 0.6929092490707051_rk
        c3 = c*c*c
        c = scale*c*(c3 + 2._rk*b)/(2._rk*c3 + b)
    end subroutine cube_root_start

    !> gr6's exponential store on cells kb..kb1 (at most exp_block) after their
    !> steps (gr6_step): inflow pre(j) to cell kb + j - 1, outflow
    !> qe = be ln(1 + exp(r)), r = h*/be, h* = he + pre, with the asymptotic
    !> forms beyond |r| = 7: h* + be exp(-r) above, be exp(r) below (no overflow;
    !> the same three forms as smash 1.3's). qe is added to qt (qr + qd from the
    !> step, so qt = (qr + qd) + qe as before) and to the fluxes at a saved step.
    !>
    !> Its exp and log per cell-step were a third of a gr6 forward run, one
    !> dependent chain per cell. Here the cells form the inner loop, without
    !> branch (the form is chosen by weights 0 or 1 from sign(), so every
    !> product and sum with them is exact and the values are those of the
    !> chosen form; the exponential's argument is r or -r, never above 7),
    !> which gfortran vectorises with libmvec's exp and log. Its values differ
    !> from the scalar exp and log in the last bit: the loop runs over a whole
    !> number of NET_LANES groups (padding cells h* = 0, be = 1), so every cell
    !> takes the vector part and its value does not depend on its place in the
    !> block nor on the thread count (as in md_mlp::silu_block). The work values
    !> are arrays local to the call, so the adjoint's forward sweep saves them as
    !> whole arrays after the loop and both of its sweeps stay vector loops.
    subroutine gr6_exponential_cells(kb, kb1, keep_all, pre, p, h, qt, fx)
        integer, intent(in) :: kb, kb1
        logical, intent(in) :: keep_all
        real(rk), intent(in) :: pre(exp_block)
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: h(:, :)
        real(rk), intent(inout) :: qt(:), fx(:, :)

        ! h*, be, r, the exponential (of r, or of -r above the upper bound), the factor of be, qe
        real(rk) :: hs(exp_block), be(exp_block), r(exp_block), e(exp_block), sp(exp_block), qe(exp_block)
        integer :: nb, nbl, j

        nb = kb1 - kb + 1
        nbl = (nb + NET_LANES - 1)/NET_LANES*NET_LANES
        do j = 1, nb
            hs(j) = h(kb + j - 1, GR6_S_HE) + pre(j)
            be(j) = p(kb + j - 1, GR6_P_BE)
        end do
        do j = nb + 1, nbl
            hs(j) = 0._rk
            be(j) = 1._rk
        end do
        ! sign(0.5, 7 - r) is -0.5 above the upper bound, sign(0.5, r + 7) below the lower
        ! one, else both are 0.5: 1 - both is the weight (0 or 1) of the asymptotic forms,
        ! their sum that of the logarithm. Written inline, not saved in arrays: the adjoint
        ! recomputes them from r instead of saving them.
        do j = 1, nbl
            r(j) = hs(j)/be(j)
            e(j) = exp(r(j)*sign(1._rk, 7._rk - r(j)))
            sp(j) = (1._rk - sign(0.5_rk, 7._rk - r(j)) - sign(0.5_rk, r(j) + 7._rk))*e(j) &
                    + (sign(0.5_rk, 7._rk - r(j)) + sign(0.5_rk, r(j) + 7._rk))*log(1._rk + e(j))
            qe(j) = be(j)*sp(j) + (0.5_rk - sign(0.5_rk, 7._rk - r(j)))*hs(j)
        end do
        do j = 1, nb
            h(kb + j - 1, GR6_S_HE) = hs(j) - qe(j)
            qt(kb + j - 1) = qt(kb + j - 1) + qe(j)
        end do
        if (keep_all) then
            do j = 1, nb
                fx(kb + j - 1, GR6_FX_QE) = qe(j)
                fx(kb + j - 1, GR6_FX_QT) = qt(kb + j - 1)
            end do
        end if
    end subroutine gr6_exponential_cells


    !> Inverse of the percolation curve constant beta: 9/4 at a daily step,
    !> scaled as in GR4H so that the percolated fraction per step follows the
    !> step length. The operators take 1/beta to multiply instead of divide.
    function percolation_inv_beta(dt) result(inv_beta)
        real(rk), intent(in) :: dt
        real(rk) :: inv_beta

        inv_beta = 1._rk/(2.25_rk*sqrt(sqrt(86400._rk/dt)))
    end function percolation_inv_beta

    !> Missing rainfall: keep the routing-store outflows of the last computed
    !> step (fx(iq1), and fx(iq2) if iq2 > 0), zero every other one of the nfx
    !> fluxes and rebuild qt = factor * (kept outflows), stored in fx(iqt).
    subroutine repeat_routing_outflow(fx, nfx, iq1, iq2, iqt, factor, qt)
        integer, intent(in) :: nfx, iq1, iq2, iqt
        real(rk), intent(inout) :: fx(nfx)
        real(rk), intent(in) :: factor
        real(rk), intent(out) :: qt

        real(rk) :: q1, q2

        q1 = fx(iq1)
        q2 = 0._rk
        if (iq2 > 0) q2 = fx(iq2)
        fx(1:nfx) = 0._rk
        fx(iq1) = q1
        if (iq2 > 0) fx(iq2) = q2
        qt = factor*(q1 + q2)
        fx(iqt) = qt
    end subroutine repeat_routing_outflow

    !> Two-branch transfer of gr4/gr5 and their variants: a share `split` of
    !> pr + perc goes straight to qd. The hybrid correction fc moves water
    !> from the routing store to the direct branch: 0.9 (1 - fc^2) / 0.1 + 0.9 fc^2.
    subroutine gr_two_branch_transfer(pr, perc, lexc, split, fc, ct, ht, prr, prd, qr, qd, qt)
        real(rk), intent(in) :: pr, perc, lexc, split, fc, ct
        real(rk), intent(inout) :: ht
        real(rk), intent(out) :: prr, prd, qr, qd, qt

        real(rk) :: to_store

        to_store = (1._rk - split)*(1._rk - fc*fc)
        prr = to_store*(pr + perc) + lexc
        prd = (1._rk - to_store)*(pr + perc)
        !$AD NOCHECKPOINT
        call gr_transfer(5, prr, ct, ht, qr)
        qd = max(0._rk, prd + lexc)
        qt = qr + qd
    end subroutine gr_two_branch_transfer

    !> gr4, gr5, gr4_ri, gr5_ri and their hybrids. `ri`: rainfall-intensity
    !> production and split (parameters ci cp ct alpha1 alpha2 kexc [aexc]);
    !> otherwise ci cp ct kexc [aexc]. `law5`: exchange kexc (ht - aexc)
    !> instead of kexc ht^3.5. Net outputs: [fp, fe, fc, fl], or [fl] for
    !> the _ri_mlp_exc hybrids. States hi hp ht; fluxes
    !> pn en pr perc ps es lexc prr prd qr qd qt, all four structures (and their
    !> hybrids) in gr4's order (tests/test_registry_positions.py checks each).
    !> ikexc, iaexc: positions of kexc and aexc (aexc: law5 only, else 0) among
    !> p, set once per loop by gr_cells: set here, at every cell, the adjoint's
    !> forward sweep saved both and the branch that chose them at every cell-step.
    subroutine gr_step(ri, law5, ikexc, iaexc, prcp, pet, imperv, dt, inv_beta, p, h, nn, fnet, qt, fx)
        logical, intent(in) :: ri, law5
        integer, intent(in) :: ikexc, iaexc
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: imperv   !< impervious share of the cell: scales pn and es by 1 - imperv
        real(rk), intent(in) :: inv_beta   !< percolation_inv_beta(dt), once per step by the caller
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: fnet(NET_MAX)   !< the net's corrections of this cell and step (hybrids)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(GR4_NFX)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, split, pn_cell, pervious
        real(rk) :: fp, fe, fc, fl

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, GR4_NFX, GR4_FX_QR, 0, GR4_FX_QT, 1._rk, qt)
        else
            fp = 0._rk
            fe = 0._rk
            fc = 0._rk
            fl = 0._rk
            split = 0.1_rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(GR4_P_CI), h(GR4_S_HI), pn, en)
                ! Only hybrids read the corrections (gr_hybrid_cells evaluates their net over
                ! blocks of cells before their steps).
                if (nn(4) > 0) then
                    if (ri) then
                        fl = fnet(GR4_RI_MLP_EXC_OUT_FL)
                    else
                        fp = fnet(GR4_MLP_OUT_FP)
                        fe = fnet(GR4_MLP_OUT_FE)
                        fc = fnet(GR4_MLP_OUT_FC)
                        fl = fnet(GR4_MLP_OUT_FL)
                    end if
                end if
                ! The net reads the net rainfall of the whole cell, the production store gets its
                ! pervious share (the intensity term of the _ri structures takes the whole).
                pn_cell = pn
                ! A variable, not an expression, in the production's call: Tapenade
                ! checkpoints a call with an argument to evaluate (NOCHECKPOINT ignored).
                pervious = 1._rk - imperv
                pn = pervious*pn
                if (ri) then
                    !$AD NOCHECKPOINT
                    call gr_ri_production(pn, pn_cell, en, p(GR4_RI_P_CP), inv_beta, p(GR4_RI_P_ALPHA1), dt, &
                                          pervious, h(GR4_S_HP), &
                                          pr, perc, ps, es)
                    if (pn > 0._rk) split = 0.9_rk*tanh(p(GR4_RI_P_ALPHA2)*pn)**2 + 0.1_rk
                else
                    !$AD NOCHECKPOINT
                    call gr_production(pn, en, p(GR4_P_CP), inv_beta, fp, fe, pervious, h(GR4_S_HP), pr, perc, &
                                       ps, es)
                end if
                if (law5) then
                    lexc = (1._rk + fl)*p(ikexc)*(h(GR4_S_HT) - p(iaexc))
                else
                    ! h**3.5 as h**3 * sqrt(h): same value to rounding, no pow call (docs/performance-log.md).
                    lexc = (1._rk + fl)*p(ikexc)*h(GR4_S_HT)**3*sqrt(h(GR4_S_HT))
                end if
            end if
            !$AD NOCHECKPOINT
            call gr_two_branch_transfer(pr, perc, lexc, split, fc, p(GR4_P_CT), h(GR4_S_HT), prr, prd, qr, qd, qt)
            fx(GR4_FX_PN) = pn
            fx(GR4_FX_EN) = en
            fx(GR4_FX_PR) = pr
            fx(GR4_FX_PERC) = perc
            fx(GR4_FX_PS) = ps
            fx(GR4_FX_ES) = es
            fx(GR4_FX_LEXC) = lexc
            fx(GR4_FX_PRR) = prr
            fx(GR4_FX_PRD) = prd
            fx(GR4_FX_QR) = qr
            fx(GR4_FX_QD) = qd
            fx(GR4_FX_QT) = qt
        end if
    end subroutine gr_step

    !> gr6 and gr6_mlp: parameters ci cp ct be kexc aexc, states hi hp ht he;
    !> net outputs [fp, fe, fc1, fc2, fl] (fc2 shifts the routed share between
    !> the routing and exponential stores). All but the exponential store: the
    !> step leaves its inflow in fx(GR6_FX_PRE) (0 at a step with missing
    !> rainfall) and qr + qd in qt, and gr6_exponential_cells then runs the
    !> store of the step's cells together (see there).
    subroutine gr6_step(prcp, pet, imperv, inv_beta, p, h, nn, fnet, qt, fx)
        real(rk), intent(in) :: prcp, pet, imperv
        real(rk), intent(in) :: inv_beta   !< percolation_inv_beta(dt)
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: fnet(NET_MAX)   !< the net's corrections of this cell and step (hybrids)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(GR6_NFX)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, routed, pervious
        real(rk) :: f(NET_MAX)

        if (prcp < 0._rk) then
            ! qr of the last computed step is released again (pre = 0: the exponential store
            ! still drains, in gr6_exponential_cells).
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, GR6_NFX, GR6_FX_QR, 0, GR6_FX_QT, 1._rk, qt)
        else
            f = 0._rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(GR6_P_CI), h(GR6_S_HI), pn, en)
                if (nn(4) > 0) f = fnet
                ! A variable, not an expression, in the production's call: Tapenade
                ! checkpoints a call with an argument to evaluate (NOCHECKPOINT ignored).
                pervious = 1._rk - imperv
                pn = pervious*pn
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(GR6_P_CP), inv_beta, f(GR6_MLP_OUT_FP), f(GR6_MLP_OUT_FE), &
                                   pervious, h(GR6_S_HP), pr, perc, ps, es)
                lexc = (1._rk + f(GR6_MLP_OUT_FL))*p(GR6_P_KEXC)*(h(GR6_S_HT) - p(GR6_P_AEXC))
            end if
            routed = 0.9_rk*(1._rk - f(GR6_MLP_OUT_FC1)*f(GR6_MLP_OUT_FC1))*(pr + perc)
            prr = (0.6_rk - 0.4_rk*f(GR6_MLP_OUT_FC2))*routed + lexc
            pre = (0.4_rk + 0.4_rk*f(GR6_MLP_OUT_FC2))*routed + lexc
            prd = (pr + perc) - routed
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(GR6_P_CT), h(GR6_S_HT), qr)
            qd = max(0._rk, prd + lexc)
            ! qr + qd; gr6_exponential_cells adds qe
            qt = qr + qd
            fx(GR6_FX_PN) = pn
            fx(GR6_FX_EN) = en
            fx(GR6_FX_PR) = pr
            fx(GR6_FX_PERC) = perc
            fx(GR6_FX_PS) = ps
            fx(GR6_FX_ES) = es
            fx(GR6_FX_LEXC) = lexc
            fx(GR6_FX_PRR) = prr
            fx(GR6_FX_PRD) = prd
            fx(GR6_FX_PRE) = pre
            fx(GR6_FX_QR) = qr
            fx(GR6_FX_QD) = qd
            fx(GR6_FX_QE) = 0._rk
            fx(GR6_FX_QT) = qt
        end if
    end subroutine gr6_step

    !> grc and grc_mlp: parameters ci cp ct cl kexc, states hi hp ht hl;
    !> net outputs [fp, fe, fc1, fc2, fl].
    subroutine grc_step(prcp, pet, imperv, p, h, nn, fnet, qt, fx)
        real(rk), intent(in) :: prcp, pet, imperv
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: fnet(NET_MAX)   !< the net's corrections of this cell and step (hybrids)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(GRC_NFX)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql, routed, pervious
        real(rk) :: f(NET_MAX)

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, GRC_NFX, GRC_FX_QR, GRC_FX_QL, GRC_FX_QT, 1._rk, qt)
        else
            f = 0._rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(GRC_P_CI), h(GRC_S_HI), pn, en)
                if (nn(4) > 0) f = fnet
                ! A variable, not an expression, in the production's call: Tapenade
                ! checkpoints a call with an argument to evaluate (NOCHECKPOINT ignored).
                pervious = 1._rk - imperv
                pn = pervious*pn
                ! smash 1.3's grc production store does not percolate.
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(GRC_P_CP), 0._rk, f(GRC_MLP_OUT_FP), f(GRC_MLP_OUT_FE), &
                                   pervious, h(GRC_S_HP), pr, perc, ps, es)
                lexc = (1._rk + f(GRC_MLP_OUT_FL))*p(GRC_P_KEXC)*h(GRC_S_HT)**3*sqrt(h(GRC_S_HT))
            end if
            routed = 0.9_rk*(1._rk - f(GRC_MLP_OUT_FC1)*f(GRC_MLP_OUT_FC1))*(pr + perc)
            prr = (0.6_rk - 0.4_rk*f(GRC_MLP_OUT_FC2))*routed + lexc
            prl = (0.4_rk + 0.4_rk*f(GRC_MLP_OUT_FC2))*routed
            prd = (pr + perc) - routed
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(GRC_P_CT), h(GRC_S_HT), qr)
            !$AD NOCHECKPOINT
            call gr_transfer(5, prl, p(GRC_P_CL), h(GRC_S_HL), ql)
            qd = max(0._rk, prd + lexc)
            qt = qr + ql + qd
            fx(GRC_FX_PN) = pn
            fx(GRC_FX_EN) = en
            fx(GRC_FX_PR) = pr
            fx(GRC_FX_PERC) = perc
            fx(GRC_FX_PS) = ps
            fx(GRC_FX_ES) = es
            fx(GRC_FX_LEXC) = lexc
            fx(GRC_FX_PRR) = prr
            fx(GRC_FX_PRD) = prd
            fx(GRC_FX_PRL) = prl
            fx(GRC_FX_QR) = qr
            fx(GRC_FX_QD) = qd
            fx(GRC_FX_QL) = ql
            fx(GRC_FX_QT) = qt
        end if
    end subroutine grc_step

    !> grd and grd_mlp: parameters cp ct, states hp ht; net outputs [fp, fe].
    subroutine grd_step(prcp, pet, imperv, p, h, nn, fnet, qt, fx)
        real(rk), intent(in) :: prcp, pet, imperv
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: fnet(NET_MAX)   !< the net's corrections of this cell and step (hybrids)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(GRD_NFX)

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, qr, lexc, pervious
        real(rk) :: f(NET_MAX)

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, GRD_NFX, GRD_FX_QR, 0, GRD_FX_QT, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            ei = 0._rk
            f = 0._rk
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call grd_interception(prcp, pet, pn, en)
                ei = pet - en
                if (nn(4) > 0) f = fnet
                ! A variable, not an expression, in the production's call: Tapenade
                ! checkpoints a call with an argument to evaluate (NOCHECKPOINT ignored).
                pervious = 1._rk - imperv
                pn = pervious*pn
                ! smash 1.3's grd production store does not percolate.
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(GRD_P_CP), 0._rk, f(GRD_MLP_OUT_FP), f(GRD_MLP_OUT_FE), &
                                   pervious, h(GRD_S_HP), pr, perc, ps, es)
            end if
            prr = pr + perc
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(GRD_P_CT), h(GRD_S_HT), qr)
            qt = qr
            fx(GRD_FX_EI) = ei
            fx(GRD_FX_PN) = pn
            fx(GRD_FX_EN) = en
            fx(GRD_FX_PR) = pr
            fx(GRD_FX_PERC) = perc
            fx(GRD_FX_PS) = ps
            fx(GRD_FX_ES) = es
            fx(GRD_FX_PRR) = prr
            fx(GRD_FX_QR) = qr
            fx(GRD_FX_QT) = qt
        end if
    end subroutine grd_step

    !> loieau and loieau_mlp: parameters ca cc kb, states ha hc; net outputs
    !> [fp, fe, fc].
    subroutine loieau_step(prcp, pet, imperv, inv_beta, p, h, nn, fnet, qt, fx)
        real(rk), intent(in) :: prcp, pet, imperv
        real(rk), intent(in) :: inv_beta   !< percolation_inv_beta(dt)
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: fnet(NET_MAX)   !< the net's corrections of this cell and step (hybrids)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(LOIEAU_NFX)

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd, lexc, pervious
        real(rk) :: f(NET_MAX)

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, LOIEAU_NFX, LOIEAU_FX_QR, 0, LOIEAU_FX_QT, p(LOIEAU_P_KB), qt)
        else
            f = 0._rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            ei = 0._rk
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call grd_interception(prcp, pet, pn, en)
                ei = pet - en
                if (nn(4) > 0) f = fnet
                ! A variable, not an expression, in the production's call: Tapenade
                ! checkpoints a call with an argument to evaluate (NOCHECKPOINT ignored).
                pervious = 1._rk - imperv
                pn = pervious*pn
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(LOIEAU_P_CA), inv_beta, f(LOIEAU_MLP_OUT_FP), f(LOIEAU_MLP_OUT_FE), &
                                   pervious, h(LOIEAU_S_HA), pr, perc, ps, es)
            end if
            prr = 0.9_rk*(1._rk - f(LOIEAU_MLP_OUT_FC)*f(LOIEAU_MLP_OUT_FC))*(pr + perc)
            prd = (pr + perc) - prr
            !$AD NOCHECKPOINT
            call gr_transfer(4, prr, p(LOIEAU_P_CC), h(LOIEAU_S_HC), qr)
            qd = max(0._rk, prd)
            qt = p(LOIEAU_P_KB)*(qr + qd)
            fx(LOIEAU_FX_EI) = ei
            fx(LOIEAU_FX_PN) = pn
            fx(LOIEAU_FX_EN) = en
            fx(LOIEAU_FX_PR) = pr
            fx(LOIEAU_FX_PERC) = perc
            fx(LOIEAU_FX_PS) = ps
            fx(LOIEAU_FX_ES) = es
            fx(LOIEAU_FX_PRR) = prr
            fx(LOIEAU_FX_PRD) = prd
            fx(LOIEAU_FX_QR) = qr
            fx(LOIEAU_FX_QD) = qd
            fx(LOIEAU_FX_QT) = qt
        end if
    end subroutine loieau_step

    !> One step of a GR-family structure (`hy_module`, registry id) on cells
    !> k0..k1: prcp (liquid input) and pet (as read, single precision) in mm,
    !> p and h the cells' parameter and state columns, qt(k) the runoff depth
    !> (mm) and fx(k, :) the fluxes of cell k.
    !>
    !> One loop per structure with a single call in it: the private per-cell
    !> routines are then inlined, and the latency-bound chains of divisions
    !> and square roots of consecutive cells overlap (docs/performance-log.md). Tapenade keeps the same layout in
    !> the adjoint.
    !>
    !> Of a cell's fluxes only its routing-store outflows (fx(k, c1), fx(k, c2))
    !> outlive the step: a later step with missing rainfall releases them
    !> again. The others go to fx only at steps whose fluxes are saved
    !> (keep_all); with fx cell-fastest, the carried outflows are a compact
    !> stream. Writing all fluxes of every cell at every step was a quarter of
    !> a France forward run.
    subroutine gr_cells(hy_module, k0, k1, prcp, pet, imperv, dt, inv_beta, p, h, nn, ncol, fnet, keep_all, qt, fx)
        integer, intent(in) :: hy_module, k0, k1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(sp), intent(in) :: imperv(:)   !< impervious share of each cell
        real(rk), intent(in) :: dt, inv_beta
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: h(:, :)
        integer, intent(in) :: nn(5)
        !> The net's corrections: column k - k0 + 1 is cell k's (hybrids, from gr_hybrid_cells), or a
        !> single column of zeros for all cells (structures without a net, ncol = 1). Explicit
        !> shape: a column of an assumed-shape array may be strided, and gfortran packed it
        !> into a copy at every cell.
        integer, intent(in) :: ncol
        real(rk), intent(in) :: fnet(NET_MAX, ncol)
        logical, intent(in) :: keep_all
        real(rk), intent(inout) :: qt(:), fx(:, :)

        integer :: k, np, nh, nfx, c1, c2
        integer :: ikexc, iaexc   ! positions of kexc and aexc among p (gr_step)
        integer :: cstride   ! 1: a column of fnet per cell, 0: one for all (an index, not a variable set per
                             ! cell, which Tapenade would save at every cell)
        logical :: ri, law5
        real(rk) :: cell_imperv
        real(rk) :: cell_pet   ! a plain variable, not an expression, in the call: Tapenade
                               ! only honours NOCHECKPOINT on a call with no argument to evaluate
        real(rk) :: cell_fx(MAX_FLUXES)

        ! Explicit section bounds: Tapenade needs them to size what it saves.
        np = size(p, 2)
        nh = size(h, 2)
        nfx = size(fx, 2)
        cell_fx = 0._rk
        cstride = 1
        if (ncol == 1) cstride = 0
        select case (hy_module)
        case (HY_GR6, HY_GR6_MLP)
            ! a routine of its own, not inlined here (see the public list)
            !$AD NOCHECKPOINT
            call gr6_cells(k0, k1, prcp, pet, imperv, inv_beta, p, h, nn, ncol, fnet, keep_all, qt, fx)
        case (HY_GRC, HY_GRC_MLP)
            c1 = GRC_FX_QR
            c2 = GRC_FX_QL
            do k = k0, k1
                cell_pet = real(pet(k), rk)
                cell_imperv = real(imperv(k), rk)
                cell_fx(c1) = fx(k, c1)
                cell_fx(c2) = fx(k, c2)
                !$AD NOCHECKPOINT
                call grc_step(prcp(k), cell_pet, cell_imperv, p(k, 1:np), h(k, 1:nh), &
                              nn, fnet(1:NET_MAX, 1 + (k - k0)*cstride), qt(k), cell_fx(1:nfx))
                !$AD NOCHECKPOINT
                call store_fluxes(keep_all, k, c1, c2, nfx, cell_fx, fx)
            end do
        case (HY_GRD, HY_GRD_MLP)
            c1 = GRD_FX_QR
            c2 = GRD_FX_QR
            do k = k0, k1
                cell_pet = real(pet(k), rk)
                cell_imperv = real(imperv(k), rk)
                cell_fx(c1) = fx(k, c1)
                !$AD NOCHECKPOINT
                call grd_step(prcp(k), cell_pet, cell_imperv, p(k, 1:np), h(k, 1:nh), &
                              nn, fnet(1:NET_MAX, 1 + (k - k0)*cstride), qt(k), cell_fx(1:nfx))
                !$AD NOCHECKPOINT
                call store_fluxes(keep_all, k, c1, c2, nfx, cell_fx, fx)
            end do
        case (HY_LOIEAU, HY_LOIEAU_MLP)
            c1 = LOIEAU_FX_QR
            c2 = LOIEAU_FX_QR
            do k = k0, k1
                cell_pet = real(pet(k), rk)
                cell_imperv = real(imperv(k), rk)
                cell_fx(c1) = fx(k, c1)
                !$AD NOCHECKPOINT
                call loieau_step(prcp(k), cell_pet, cell_imperv, inv_beta, p(k, 1:np), h(k, 1:nh), &
                                 nn, fnet(1:NET_MAX, 1 + (k - k0)*cstride), qt(k), &
                                 cell_fx(1:nfx))
                !$AD NOCHECKPOINT
                call store_fluxes(keep_all, k, c1, c2, nfx, cell_fx, fx)
            end do
        case default
            ! gr4, gr5, their rainfall-intensity variants and their hybrids
            ri = hy_module == HY_GR4_RI .or. hy_module == HY_GR5_RI .or. hy_module == HY_GR4_RI_MLP_EXC &
                 .or. hy_module == HY_GR5_RI_MLP_EXC
            law5 = hy_module == HY_GR5 .or. hy_module == HY_GR5_RI .or. hy_module == HY_GR5_MLP &
                   .or. hy_module == HY_GR5_RI_MLP_EXC
            iaexc = 0
            if (ri .and. law5) then
                ikexc = GR5_RI_P_KEXC
                iaexc = GR5_RI_P_AEXC
            else if (ri) then
                ikexc = GR4_RI_P_KEXC
            else if (law5) then
                ikexc = GR5_P_KEXC
                iaexc = GR5_P_AEXC
            else
                ikexc = GR4_P_KEXC
            end if
            c1 = GR4_FX_QR
            c2 = GR4_FX_QR
            do k = k0, k1
                cell_pet = real(pet(k), rk)
                cell_imperv = real(imperv(k), rk)
                cell_fx(c1) = fx(k, c1)
                !$AD NOCHECKPOINT
                call gr_step(ri, law5, ikexc, iaexc, prcp(k), cell_pet, cell_imperv, dt, inv_beta, p(k, 1:np), &
                             h(k, 1:nh), nn, fnet(1:NET_MAX, 1 + (k - k0)*cstride), qt(k), &
                             cell_fx(1:nfx))
                !$AD NOCHECKPOINT
                call store_fluxes(keep_all, k, c1, c2, nfx, cell_fx, fx)
            end do
        end select
    end subroutine gr_cells

    !> gr_cells of gr6 and gr6_mlp: the steps of a block of exp_block cells, then
    !> the exponential stores of the block together (gr6_exponential_cells).
    subroutine gr6_cells(k0, k1, prcp, pet, imperv, inv_beta, p, h, nn, ncol, fnet, keep_all, qt, fx)
        integer, intent(in) :: k0, k1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(sp), intent(in) :: imperv(:)
        real(rk), intent(in) :: inv_beta
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: h(:, :)
        integer, intent(in) :: nn(5)
        integer, intent(in) :: ncol   !< as in gr_cells
        real(rk), intent(in) :: fnet(NET_MAX, ncol)
        logical, intent(in) :: keep_all
        real(rk), intent(inout) :: qt(:), fx(:, :)

        integer :: k, np, nh, nfx, c1, c2, cstride
        integer :: ib, kb, kb1   ! a block of cells whose exponential stores run together
        real(rk) :: cell_imperv, cell_pet, cell_fx(MAX_FLUXES)
        real(rk) :: exp_inflow(exp_block)   ! inflow of each cell's exponential store

        np = size(p, 2)
        nh = size(h, 2)
        nfx = size(fx, 2)
        cell_fx = 0._rk
        cstride = 1
        if (ncol == 1) cstride = 0
        c1 = GR6_FX_QR
        c2 = GR6_FX_QR
        ! blocks counted with a unit step: Tapenade 3.16 reverses a loop of step exp_block
        ! from a start it computes, one iteration too many when k1 < k0 (md_mlp::dense_block)
        do ib = 1, (k1 - k0 + exp_block)/exp_block
            kb = k0 + (ib - 1)*exp_block
            kb1 = min(k1, kb + exp_block - 1)
            do k = kb, kb1
                cell_pet = real(pet(k), rk)
                cell_imperv = real(imperv(k), rk)
                cell_fx(c1) = fx(k, c1)
                !$AD NOCHECKPOINT
                call gr6_step(prcp(k), cell_pet, cell_imperv, inv_beta, p(k, 1:np), h(k, 1:nh), &
                              nn, fnet(1:NET_MAX, 1 + (k - k0)*cstride), qt(k), cell_fx(1:nfx))
                exp_inflow(k - kb + 1) = cell_fx(GR6_FX_PRE)
                !$AD NOCHECKPOINT
                call store_fluxes(keep_all, k, c1, c2, nfx, cell_fx, fx)
            end do
            !$AD NOCHECKPOINT
            call gr6_exponential_cells(kb, kb1, keep_all, exp_inflow, p, h, qt, fx)
        end do
    end subroutine gr6_cells

    !> gr_cells for the hybrid structures (nn(4) > 0): the cells run in blocks
    !> of net_block, the net of every cell of a block first (net_corrections:
    !> net_inputs, then md_mlp::mlp_block, one matrix product per layer over
    !> the block), then gr_cells on the block with a column of corrections per
    !> cell. The steps keep a single call each (in gr_cells), so that the
    !> compiler still inlines them there, in the adjoint too (called from a
    !> second loop, they were not, and the conceptual structures' gradients
    !> lost 13 %).
    subroutine gr_hybrid_cells(hy_module, k0, k1, prcp, pet, imperv, dt, inv_beta, p, h, nn, w, keep_all, qt, fx)
        integer, intent(in) :: hy_module, k0, k1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(sp), intent(in) :: imperv(:)   !< impervious share of each cell
        real(rk), intent(in) :: dt, inv_beta
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: h(:, :)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        logical, intent(in) :: keep_all
        real(rk), intent(inout) :: qt(:), fx(:, :)

        integer :: ib, kb, kb1
        real(rk) :: fnet(NET_MAX, net_block)

        fnet = 0._rk
        ! blocks counted with a unit step: Tapenade 3.16 reverses a loop of step net_block from
        ! a start it computes, one iteration too many when k1 < k0 (a thread with no cells)
        do ib = 1, (k1 - k0 + net_block)/net_block
            kb = k0 + (ib - 1)*net_block
            kb1 = min(k1, kb + net_block - 1)
            !$AD NOCHECKPOINT
            call net_corrections(hy_module, kb, kb1, prcp, pet, p, h, nn, w, fnet)
            !$AD NOCHECKPOINT
            call gr_cells(hy_module, kb, kb1, prcp, pet, imperv, dt, inv_beta, p, h, nn, net_block, fnet, keep_all, &
                          qt, fx)
        end do
    end subroutine gr_hybrid_cells

    !> The hybrid net's corrections of cells kb..kb1 (at most net_block) into
    !> columns 1..kb1 - kb + 1 of fnet (rows 1..nn(4)). The inputs are local
    !> here, so that only hybrids save them for the adjoint; the sizes are set
    !> here, at every call, so that the adjoint has them (see md_mlp::mlp_block).
    !> The net takes a row per cell (md_mlp::dense_block); its outputs are
    !> turned to a column per cell here, so that each step reads its own
    !> contiguous column.
    subroutine net_corrections(hy_module, kb, kb1, prcp, pet, p, h, nn, w, fnet)
        integer, intent(in) :: hy_module, kb, kb1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(rk), intent(in) :: p(:, :), h(:, :)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(inout) :: fnet(NET_MAX, net_block)

        real(rk) :: xnet(net_block, NET_MAX), ynet(net_block, NET_MAX)
        integer :: nb, nbl, nin, nh1, nh2, nout, j, o

        nb = kb1 - kb + 1
        ! the net runs on whole groups of NET_LANES rows: the rows past the
        ! block's cells hold zeros (net_inputs), their outputs are not read
        nbl = (nb + NET_LANES - 1)/NET_LANES*NET_LANES
        nin = nn(1)
        nh1 = nn(2)
        nh2 = nn(3)
        nout = nn(4)
        !$AD NOCHECKPOINT
        call net_inputs(hy_module, kb, kb1, nbl, prcp, pet, p, h, xnet)
        !$AD NOCHECKPOINT
        call mlp_block(nin, nh1, nh2, nout, net_block, nbl, w, xnet, ynet)
        do j = 1, nb
            do o = 1, nout
                fnet(o, j) = ynet(j, o)
            end do
        end do
    end subroutine net_corrections

    !> Inputs of the hybrid net of cells kb..kb1 (row k - kb + 1 of x): the
    !> states it reads at the start of the step, then pn and en after
    !> interception, computed here on a copy of the interception level (the
    !> step then updates the level itself, by the same operations). Cells
    !> whose step ignores the net (missing rainfall or PET) get zero inputs,
    !> and so do the rows past the cells up to row nbl.
    subroutine net_inputs(hy_module, kb, kb1, nbl, prcp, pet, p, h, x)
        integer, intent(in) :: hy_module, kb, kb1, nbl
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(rk), intent(in) :: p(:, :), h(:, :)
        real(rk), intent(out) :: x(net_block, NET_MAX)

        integer :: k, j
        real(rk) :: cell_pet, hi, pn, en

        do j = kb1 - kb + 2, nbl
            x(j, 1:NET_MAX) = 0._rk
        end do
        do k = kb, kb1
            j = k - kb + 1
            cell_pet = real(pet(k), rk)
            x(j, 1:NET_MAX) = 0._rk
            if (prcp(k) >= 0._rk .and. cell_pet >= 0._rk) then
                select case (hy_module)
                case (HY_GRD_MLP)
                    !$AD NOCHECKPOINT
                    call net_interception(prcp(k), cell_pet, 0._rk, 0._rk, pn, en)
                    x(j, GRD_MLP_IN_HP) = h(k, GRD_MLP_S_HP)
                    x(j, GRD_MLP_IN_HT) = h(k, GRD_MLP_S_HT)
                    x(j, GRD_MLP_IN_PN) = pn
                    x(j, GRD_MLP_IN_EN) = en
                case (HY_LOIEAU_MLP)
                    !$AD NOCHECKPOINT
                    call net_interception(prcp(k), cell_pet, 0._rk, 0._rk, pn, en)
                    x(j, LOIEAU_MLP_IN_HA) = h(k, LOIEAU_MLP_S_HA)
                    x(j, LOIEAU_MLP_IN_HC) = h(k, LOIEAU_MLP_S_HC)
                    x(j, LOIEAU_MLP_IN_PN) = pn
                    x(j, LOIEAU_MLP_IN_EN) = en
                case (HY_GR6_MLP)
                    hi = h(k, GR6_MLP_S_HI)
                    !$AD NOCHECKPOINT
                    call net_interception(prcp(k), cell_pet, p(k, GR6_MLP_P_CI), hi, pn, en)
                    x(j, GR6_MLP_IN_HP) = h(k, GR6_MLP_S_HP)
                    x(j, GR6_MLP_IN_HT) = h(k, GR6_MLP_S_HT)
                    x(j, GR6_MLP_IN_HE) = h(k, GR6_MLP_S_HE)
                    x(j, GR6_MLP_IN_PN) = pn
                    x(j, GR6_MLP_IN_EN) = en
                case (HY_GRC_MLP)
                    hi = h(k, GRC_MLP_S_HI)
                    !$AD NOCHECKPOINT
                    call net_interception(prcp(k), cell_pet, p(k, GRC_MLP_P_CI), hi, pn, en)
                    x(j, GRC_MLP_IN_HP) = h(k, GRC_MLP_S_HP)
                    x(j, GRC_MLP_IN_HT) = h(k, GRC_MLP_S_HT)
                    x(j, GRC_MLP_IN_HL) = h(k, GRC_MLP_S_HL)
                    x(j, GRC_MLP_IN_PN) = pn
                    x(j, GRC_MLP_IN_EN) = en
                case default
                    ! gr4_mlp, and gr5_mlp, gr4_ri_mlp_exc, gr5_ri_mlp_exc and gr4_ode_mlp, whose
                    ! ci, hi, hp, ht and net inputs sit at gr4_mlp's positions
                    hi = h(k, GR4_MLP_S_HI)
                    !$AD NOCHECKPOINT
                    call net_interception(prcp(k), cell_pet, p(k, GR4_MLP_P_CI), hi, pn, en)
                    x(j, GR4_MLP_IN_HP) = h(k, GR4_MLP_S_HP)
                    x(j, GR4_MLP_IN_HT) = h(k, GR4_MLP_S_HT)
                    x(j, GR4_MLP_IN_PN) = pn
                    x(j, GR4_MLP_IN_EN) = en
                end select
            end if
        end do
    end subroutine net_inputs

    !> pn and en of gr_interception (capacity ci, level hi, left as it is), by
    !> the same operations; with ci = hi = 0 those of grd_interception. A
    !> routine of the net's own: one more caller of gr_interception and the
    !> compiler stopped inlining its adjoint into the steps' (conceptual
    !> gradients 2-3 % slower).
    subroutine net_interception(prcp, pet, ci, hi, pn, en)
        real(rk), intent(in) :: prcp, pet, ci, hi
        real(rk), intent(out) :: pn, en

        real(rk) :: ei

        ei = min(pet, prcp + hi*ci)
        pn = max(0._rk, prcp - ci*(1._rk - hi) - ei)
        en = pet - ei
    end subroutine net_interception

    !> A cell's fluxes after its step: all of them at a saved step, else only
    !> the outflows a later step may release again (see gr_cells).
    subroutine store_fluxes(keep_all, k, c1, c2, nfx, cell_fx, fx)
        logical, intent(in) :: keep_all
        integer, intent(in) :: k, c1, c2, nfx
        real(rk), intent(in) :: cell_fx(MAX_FLUXES)
        real(rk), intent(inout) :: fx(:, :)

        if (keep_all) then
            fx(k, 1:nfx) = cell_fx(1:nfx)
        else
            fx(k, c1) = cell_fx(c1)
            fx(k, c2) = cell_fx(c2)
        end if
    end subroutine store_fluxes

end module md_gr_structures
