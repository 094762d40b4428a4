!> One time step of each GR-family structure on one cell.
!>
!> Common argument list: prcp, pet (mm over the step, negative = missing),
!> dt (s), p (parameters), h (states) in registry order, qt (runoff depth,
!> mm), fx (internal fluxes in registry order).
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
    implicit none
    private
    public :: gr4_step, gr4_ri_step, gr5_step, gr5_ri_step, gr6_step, grc_step, grd_step, &
              loieau_step, percolation_beta

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

    !> gr4 / gr5 share everything but the exchange law (lexc given).
    subroutine gr_two_branch_transfer(pr, perc, lexc, ct, ht, prr, prd, qr, qd, qt)
        real(rk), intent(in) :: pr, perc, lexc, ct
        real(rk), intent(inout) :: ht
        real(rk), intent(out) :: prr, prd, qr, qd, qt

        prr = 0.9_rk*(pr + perc) + lexc
        prd = 0.1_rk*(pr + perc)
        !$AD NOCHECKPOINT
        call gr_transfer(5, prr, ct, ht, qr)
        qd = max(0._rk, prd + lexc)
        qt = qr + qd
    end subroutine gr_two_branch_transfer

    !> Rainfall-intensity variants: the fast/slow split depends on the
    !> neutralised rainfall of the step.
    subroutine gr_ri_transfer(pn, alpha2, pr, perc, lexc, ct, ht, prr, prd, qr, qd, qt)
        real(rk), intent(in) :: pn, alpha2, pr, perc, lexc, ct
        real(rk), intent(inout) :: ht
        real(rk), intent(out) :: prr, prd, qr, qd, qt

        real(rk) :: split

        split = 0.9_rk*tanh(alpha2*pn)**2 + 0.1_rk
        prr = (1._rk - split)*(pr + perc) + lexc
        prd = split*(pr + perc)
        !$AD NOCHECKPOINT
        call gr_transfer(5, prr, ct, ht, qr)
        qd = max(0._rk, prd + lexc)
        qt = qr + qd
    end subroutine gr_ri_transfer

    subroutine gr4_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)    ! pn en pr perc ps es lexc prr prd qr qd qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(2), percolation_beta(dt), h(2), pr, perc, ps, es)
                lexc = p(4)*h(3)**3.5_rk
            end if
            !$AD NOCHECKPOINT
            call gr_two_branch_transfer(pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
            fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
        end if
    end subroutine gr4_step

    subroutine gr5_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct kexc aexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)    ! as gr4

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(2), percolation_beta(dt), h(2), pr, perc, ps, es)
                lexc = p(4)*(h(3) - p(5))
            end if
            !$AD NOCHECKPOINT
            call gr_two_branch_transfer(pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
            fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
        end if
    end subroutine gr5_step

    subroutine gr4_ri_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct alpha1 alpha2 kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)    ! as gr4

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                !$AD NOCHECKPOINT
                call gr_ri_production(pn, en, p(2), percolation_beta(dt), p(4), dt, h(2), pr, perc, ps, es)
                lexc = p(6)*h(3)**3.5_rk
            end if
            !$AD NOCHECKPOINT
            call gr_ri_transfer(pn, p(5), pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
            fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
        end if
    end subroutine gr4_ri_step

    subroutine gr5_ri_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct alpha1 alpha2 kexc aexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)    ! as gr4

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                !$AD NOCHECKPOINT
                call gr_ri_production(pn, en, p(2), percolation_beta(dt), p(4), dt, h(2), pr, perc, ps, es)
                lexc = p(6)*(h(3) - p(7))
            end if
            !$AD NOCHECKPOINT
            call gr_ri_transfer(pn, p(5), pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
            fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
        end if
    end subroutine gr5_ri_step

    subroutine gr6_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct be kexc aexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht he
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(14)    ! pn en pr perc ps es lexc prr prd pre qr qd qe qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, qe

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
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(2), percolation_beta(dt), h(2), pr, perc, ps, es)
                lexc = p(5)*(h(3) - p(6))
            end if
            prr = 0.6_rk*0.9_rk*(pr + perc) + lexc
            pre = 0.4_rk*0.9_rk*(pr + perc) + lexc
            prd = 0.1_rk*(pr + perc)
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(3), h(3), qr)
            !$AD NOCHECKPOINT
            call gr_exponential_store(pre, p(4), h(4), qe)
            qd = max(0._rk, prd + lexc)
            qt = qr + qd + qe
            fx(1:14) = [pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, qe, qt]
        end if
    end subroutine gr6_step

    subroutine grc_step(prcp, pet, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)        ! ci cp ct cl kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht hl
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(14)    ! pn en pr perc ps es lexc prr prd prl qr qd ql qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 11, 13, 14, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call gr_interception(prcp, pet, p(1), h(1), pn, en)
                ! smash 1.3's grc production store does not percolate.
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(2), 0._rk, h(2), pr, perc, ps, es)
                lexc = p(5)*h(3)**3.5_rk
            end if
            prr = 0.6_rk*0.9_rk*(pr + perc) + lexc
            prl = 0.4_rk*0.9_rk*(pr + perc)
            prd = 0.1_rk*(pr + perc)
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(3), h(3), qr)
            !$AD NOCHECKPOINT
            call gr_transfer(5, prl, p(4), h(4), ql)
            qd = max(0._rk, prd + lexc)
            qt = qr + ql + qd
            fx(1:14) = [pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql, qt]
        end if
    end subroutine grc_step

    subroutine grd_step(prcp, pet, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)        ! cp ct
        real(rk), intent(inout) :: h(:)     ! hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(10)    ! ei pn en pr perc ps es prr qr qt

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, qr, lexc

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 9, 0, 10, 1._rk, qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            ei = 0._rk
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call grd_interception(prcp, pet, pn, en)
                ei = pet - en
                ! smash 1.3's grd production store does not percolate.
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(1), 0._rk, h(1), pr, perc, ps, es)
            end if
            prr = pr + perc
            !$AD NOCHECKPOINT
            call gr_transfer(5, prr, p(2), h(2), qr)
            qt = qr
            fx(1:10) = [ei, pn, en, pr, perc, ps, es, prr, qr, qt]
        end if
    end subroutine grd_step

    subroutine loieau_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ca cc kb
        real(rk), intent(inout) :: h(:)     ! ha hc
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(12)    ! ei pn en pr perc ps es prr prd qr qd qt

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd, lexc

        if (prcp < 0._rk) then
            !$AD NOCHECKPOINT
            call repeat_routing_outflow(fx, 10, 0, 12, p(3), qt)
        else
            !$AD NOCHECKPOINT
            call no_production(pn, en, pr, perc, ps, es, lexc)
            ei = 0._rk
            if (pet >= 0._rk) then
                !$AD NOCHECKPOINT
                call grd_interception(prcp, pet, pn, en)
                ei = pet - en
                !$AD NOCHECKPOINT
                call gr_production(pn, en, p(1), percolation_beta(dt), h(1), pr, perc, ps, es)
            end if
            prr = 0.9_rk*(pr + perc)
            prd = 0.1_rk*(pr + perc)
            !$AD NOCHECKPOINT
            call gr_transfer(4, prr, p(2), h(2), qr)
            qd = max(0._rk, prd)
            qt = p(3)*(qr + qd)
            fx(1:12) = [ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd, qt]
        end if
    end subroutine loieau_step

end module md_gr_structures
