!> One time step of each GR-family structure on one cell.
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
module md_gr_structures
    use md_kinds, only: rk
    use md_gr_fluxes
    use md_mlp
    implicit none
    private
    public :: gr_step, gr6_step, grc_step, grd_step, loieau_step, percolation_beta

contains

    !> Percolation curve constant: 9/4 at a daily step, scaled as in GR4H so
    !> that the percolated fraction per step follows the step length.
    function percolation_beta(dt) result(beta)
        real(rk), intent(in) :: dt
        real(rk) :: beta

        beta = 2.25_rk*sqrt(sqrt(86400._rk/dt))
    end function percolation_beta

    !> Missing rainfall: keep the routing-store outflows of the last computed
    !> step (fx(iq1), and fx(iq2) if iq2 > 0), zero every other flux up to
    !> iqt and rebuild qt = factor * (kept outflows), stored in fx(iqt).
    subroutine repeat_routing_outflow(fx, iq1, iq2, iqt, factor, qt)
        integer, intent(in) :: iq1, iq2, iqt
        real(rk), intent(inout) :: fx(iqt)
        real(rk), intent(in) :: factor
        real(rk), intent(out) :: qt

        real(rk) :: q1, q2

        q1 = fx(iq1)
        q2 = 0._rk
        if (iq2 > 0) q2 = fx(iq2)
        fx(1:iqt) = 0._rk
        fx(iq1) = q1
        if (iq2 > 0) fx(iq2) = q2
        qt = factor*(q1 + q2)
        fx(iqt) = qt
    end subroutine repeat_routing_outflow

    !> Corrections of a hybrid step: the net maps x (states, pn, en) to
    !> f(1:nout); f is zero everywhere else (and entirely without a net).
    subroutine flux_corrections(nn, w, x, f)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:), x(:)
        real(rk), intent(out) :: f(5)

        f = 0._rk
        if (nn(4) > 0) then
            !$AD NOCHECKPOINT
            call mlp_forward(nn, w, x, f)
        end if
    end subroutine flux_corrections

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
    !> pn en pr perc ps es lexc prr prd qr qd qt.
    subroutine gr_step(ri, law5, prcp, pet, dt, beta, p, h, nn, w, qt, fx)
        logical, intent(in) :: ri, law5
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: beta   !< beta, computed once per run by the caller
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, split
        real(rk) :: f(5), nn_x(5), fp, fe, fc, fl
        integer :: ik

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, 1._rk, qt)
        else
            ik = 4
            if (ri) ik = 6
            fp = 0._rk
            fe = 0._rk
            fc = 0._rk
            fl = 0._rk
            split = 0.1_rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                ! Only hybrids evaluate their net: the plain structures then neither
                ! compute nor tape its inputs in every cell and step.
                if (nn(4) > 0) then
                    nn_x(1:4) = [h(2), h(3), pn, en]
                    !$AD NOCHECKPOINT
                    call flux_corrections(nn, w, nn_x(1:4), f)
                    if (ri) then
                        fl = f(1)
                    else
                        fp = f(1)
                        fe = f(2)
                        fc = f(3)
                        fl = f(4)
                    end if
                end if
                if (ri) then
                    !$AD NOCHECKPOINT
                    call gr_ri_production(pn, en, p(2), beta, p(4), dt, h(2), pr, perc, ps, es)
                    split = 0.9_rk*tanh(p(5)*pn)**2 + 0.1_rk
                else
                    !$AD NOCHECKPOINT
                    call gr_production(pn, en, p(2), beta, fp, fe, h(2), pr, perc, ps, es)
                end if
                if (law5) then
                    lexc = (1._rk + fl)*p(ik)*(h(3) - p(ik + 1))
                else
                    ! h**3.5 as h**3 * sqrt(h): same value to rounding, without a pow call
                    ! (a pow per cell and step was 5 % of a forward run).
                    lexc = (1._rk + fl)*p(ik)*h(3)**3*sqrt(h(3))
                end if
            end if
            !$AD NOCHECKPOINT
            call gr_two_branch_transfer(pr, perc, lexc, split, fc, p(3), h(3), prr, prd, qr, qd, qt)
            fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
        end if
    end subroutine gr_step

    !> gr6 and gr6_mlp: parameters ci cp ct be kexc aexc, states hi hp ht he;
    !> net outputs [fp, fe, fc1, fc2, fl] (fc2 shifts the routed share between
    !> the routing and exponential stores).
    subroutine gr6_step(prcp, pet, beta, p, h, nn, w, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: beta   !< percolation_beta(dt)
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(14)    ! pn en pr perc ps es lexc prr prd pre qr qd qe qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, qe, routed
        real(rk) :: f(5), nn_x(5)

        if (prcp < 0._rk) then
            ! Only the exponential store runs; qr and qd of the last computed step are released again.
            !$AD NOCHECKPOINT
            call gr_exponential_store(0._rk, p(4), h(4), qe)
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 11, 0, 14, 1._rk, qt)
            qt = qt + qe
            fx(13) = qe
            fx(14) = qt
        else
            f = 0._rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                if (nn(4) > 0) then
                    nn_x(1:5) = [h(2), h(3), h(4), pn, en]
                    !$AD NOCHECKPOINT
                    call flux_corrections(nn, w, nn_x(1:5), f)
                end if
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(2), beta, f(1), f(2), h(2), pr, perc, ps, es)
                lexc = (1._rk + f(5))*p(5)*(h(3) - p(6))
            end if
            routed = 0.9_rk*(1._rk - f(3)*f(3))*(pr + perc)
            prr = (0.6_rk - 0.4_rk*f(4))*routed + lexc
            pre = (0.4_rk + 0.4_rk*f(4))*routed + lexc
            prd = (pr + perc) - routed
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(3), h(3), qr)
            !$AD NOCHECKPOINT
            call gr_exponential_store(pre, p(4), h(4), qe)
            qd = max(0._rk, prd + lexc)
            qt = qr + qd + qe
            fx(1:14) = [pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, qe, qt]
        end if
    end subroutine gr6_step

    !> grc and grc_mlp: parameters ci cp ct cl kexc, states hi hp ht hl;
    !> net outputs [fp, fe, fc1, fc2, fl].
    subroutine grc_step(prcp, pet, p, h, nn, w, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(14)    ! pn en pr perc ps es lexc prr prd prl qr qd ql qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql, routed
        real(rk) :: f(5), nn_x(5)

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 11, 13, 14, 1._rk, qt)
        else
            f = 0._rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                if (nn(4) > 0) then
                    nn_x(1:5) = [h(2), h(3), h(4), pn, en]
                    !$AD NOCHECKPOINT
                    call flux_corrections(nn, w, nn_x(1:5), f)
                end if
                ! smash 1.3's grc production store does not percolate.
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(2), 0._rk, f(1), f(2), h(2), pr, perc, ps, es)
                lexc = (1._rk + f(5))*p(5)*h(3)**3*sqrt(h(3))
            end if
            routed = 0.9_rk*(1._rk - f(3)*f(3))*(pr + perc)
            prr = (0.6_rk - 0.4_rk*f(4))*routed + lexc
            prl = (0.4_rk + 0.4_rk*f(4))*routed
            prd = (pr + perc) - routed
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(3), h(3), qr)
            !$AD NOCHECKPOINT
            call gr_transfer(5, prl, p(4), h(4), ql)
            qd = max(0._rk, prd + lexc)
            qt = qr + ql + qd
            fx(1:14) = [pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql, qt]
        end if
    end subroutine grc_step

    !> grd and grd_mlp: parameters cp ct, states hp ht; net outputs [fp, fe].
    subroutine grd_step(prcp, pet, p, h, nn, w, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(10)    ! ei pn en pr perc ps es prr qr qt

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, qr, lexc
        real(rk) :: f(5), nn_x(5)

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 9, 0, 10, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            ei = 0._rk
            f = 0._rk
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call grd_interception(prcp, pet, pn, en)
                ei = pet - en
                if (nn(4) > 0) then
                    nn_x(1:4) = [h(1), h(2), pn, en]
                    !$AD NOCHECKPOINT
                    call flux_corrections(nn, w, nn_x(1:4), f)
                end if
                ! smash 1.3's grd production store does not percolate.
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(1), 0._rk, f(1), f(2), h(1), pr, perc, ps, es)
            end if
            prr = pr + perc
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(2), h(2), qr)
            qt = qr
            fx(1:10) = [ei, pn, en, pr, perc, ps, es, prr, qr, qt]
        end if
    end subroutine grd_step

    !> loieau and loieau_mlp: parameters ca cc kb, states ha hc; net outputs
    !> [fp, fe, fc].
    subroutine loieau_step(prcp, pet, beta, p, h, nn, w, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: beta   !< percolation_beta(dt)
        real(rk), intent(in) :: p(:)
        real(rk), intent(inout) :: h(:)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)    ! ei pn en pr perc ps es prr prd qr qd qt

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd, lexc
        real(rk) :: f(5), nn_x(5)

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, p(3), qt)
        else
            f = 0._rk
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            ei = 0._rk
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call grd_interception(prcp, pet, pn, en)
                ei = pet - en
                if (nn(4) > 0) then
                    nn_x(1:4) = [h(1), h(2), pn, en]
                    !$AD NOCHECKPOINT
                    call flux_corrections(nn, w, nn_x(1:4), f)
                end if
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(1), beta, f(1), f(2), h(1), pr, perc, ps, es)
            end if
            prr = 0.9_rk*(1._rk - f(3)*f(3))*(pr + perc)
            prd = (pr + perc) - prr
            !$AD NOCHECKPOINT
            call gr_transfer(4, prr, p(2), h(2), qr)
            qd = max(0._rk, prd)
            qt = p(3)*(qr + qd)
            fx(1:12) = [ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd, qt]
        end if
    end subroutine loieau_step

end module md_gr_structures
