!> One time step of each GR-family structure on one cell.
!>
!> Common argument list: prcp, pet (mm over the step, negative = missing),
!> dt (s), p (parameters), h (states) in registry order, qt (runoff depth,
!> mm), fx (internal fluxes in registry order).
!> A missing rainfall or PET value skips interception for that step (no
!> input reaches the stores) while the stores keep draining.
module md_gr_structures
    use md_kinds, only: rk
    use md_gr_fluxes
    implicit none
    private
    public :: gr4_step, gr4_ri_step, gr5_step, gr5_ri_step, gr6_step, grc_step, grd_step, &
              loieau_step, percolation_beta

contains

    !> Percolation curve constant: 9/4 at a daily step, scaled as in GR4H so
    !> that the percolated fraction per step follows the step length. With a
    !> missing PET smash 1.3 freezes the production store for the step: no
    !> percolation either (0 switches it off).
    pure function percolation_beta(dt, pet) result(beta)
        real(rk), intent(in) :: dt, pet
        real(rk) :: beta

        if (pet >= 0._rk) then
            beta = 2.25_rk*sqrt(sqrt(86400._rk/dt))
        else
            beta = 0._rk
        end if
    end function percolation_beta

    subroutine neutralised_inputs(prcp, pet, ci, hi, pn, en)
        real(rk), intent(in) :: prcp, pet, ci
        real(rk), intent(inout) :: hi
        real(rk), intent(out) :: pn, en

        if (prcp >= 0._rk .and. pet >= 0._rk) then
            call gr_interception(prcp, pet, ci, hi, pn, en)
        else
            pn = 0._rk
            en = 0._rk
        end if
    end subroutine neutralised_inputs

    !> gr4 / gr5 share everything but the exchange law (lexc given).
    subroutine gr_two_branch_transfer(pr, perc, lexc, ct, ht, prr, prd, qr, qd, qt)
        real(rk), intent(in) :: pr, perc, lexc, ct
        real(rk), intent(inout) :: ht
        real(rk), intent(out) :: prr, prd, qr, qd, qt

        prr = 0.9_rk*(pr + perc) + lexc
        prd = 0.1_rk*(pr + perc)
        call gr_transfer(5, prr, ct, ht, qr)
        qd = max(0._rk, prd + lexc)
        qt = qr + qd
    end subroutine gr_two_branch_transfer

    subroutine gr4_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)      ! pn en pr perc ps es lexc prr prd qr qd qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        call neutralised_inputs(prcp, pet, p(1), h(1), pn, en)
        call gr_production(pn, en, p(2), percolation_beta(dt, pet), h(2), pr, perc, ps, es)
        lexc = p(4)*h(3)**3.5_rk
        call gr_two_branch_transfer(pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
        fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
    end subroutine gr4_step

    subroutine gr5_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct kexc aexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        call neutralised_inputs(prcp, pet, p(1), h(1), pn, en)
        call gr_production(pn, en, p(2), percolation_beta(dt, pet), h(2), pr, perc, ps, es)
        lexc = p(4)*(h(3) - p(5))
        call gr_two_branch_transfer(pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
        fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
    end subroutine gr5_step

    !> Rainfall-intensity variants: infiltration and the fast/slow split both
    !> depend on the neutralised rainfall of the step.
    subroutine gr_ri_transfer(pn, alpha2, pr, perc, lexc, ct, ht, prr, prd, qr, qd, qt)
        real(rk), intent(in) :: pn, alpha2, pr, perc, lexc, ct
        real(rk), intent(inout) :: ht
        real(rk), intent(out) :: prr, prd, qr, qd, qt

        real(rk) :: split

        split = 0.9_rk*tanh(alpha2*pn)**2 + 0.1_rk
        prr = (1._rk - split)*(pr + perc) + lexc
        prd = split*(pr + perc)
        call gr_transfer(5, prr, ct, ht, qr)
        qd = max(0._rk, prd + lexc)
        qt = qr + qd
    end subroutine gr_ri_transfer

    subroutine gr4_ri_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct alpha1 alpha2 kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        call neutralised_inputs(prcp, pet, p(1), h(1), pn, en)
        call gr_ri_production(pn, en, p(2), percolation_beta(dt, pet), p(4), dt, h(2), pr, perc, ps, es)
        lexc = p(6)*h(3)**3.5_rk
        call gr_ri_transfer(pn, p(5), pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
        fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
    end subroutine gr4_ri_step

    subroutine gr5_ri_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct alpha1 alpha2 kexc aexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd

        call neutralised_inputs(prcp, pet, p(1), h(1), pn, en)
        call gr_ri_production(pn, en, p(2), percolation_beta(dt, pet), p(4), dt, h(2), pr, perc, ps, es)
        lexc = p(6)*(h(3) - p(7))
        call gr_ri_transfer(pn, p(5), pr, perc, lexc, p(3), h(3), prr, prd, qr, qd, qt)
        fx(1:12) = [pn, en, pr, perc, ps, es, lexc, prr, prd, qr, qd, qt]
    end subroutine gr5_ri_step

    subroutine gr6_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ci cp ct be kexc aexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht he
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)      ! pn en pr perc ps es lexc prr prd pre qr qd qe qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, qe

        call neutralised_inputs(prcp, pet, p(1), h(1), pn, en)
        call gr_production(pn, en, p(2), percolation_beta(dt, pet), h(2), pr, perc, ps, es)
        lexc = p(5)*(h(3) - p(6))
        prr = 0.6_rk*0.9_rk*(pr + perc) + lexc
        pre = 0.4_rk*0.9_rk*(pr + perc) + lexc
        prd = 0.1_rk*(pr + perc)
        call gr_transfer(5, prr, p(3), h(3), qr)
        call gr_exponential_store(pre, p(4), h(4), qe)
        qd = max(0._rk, prd + lexc)
        qt = qr + qd + qe
        fx(1:14) = [pn, en, pr, perc, ps, es, lexc, prr, prd, pre, qr, qd, qe, qt]
    end subroutine gr6_step

    subroutine grc_step(prcp, pet, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)        ! ci cp ct cl kexc
        real(rk), intent(inout) :: h(:)     ! hi hp ht hl
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)      ! pn en pr perc ps es lexc prr prd prl qr qd ql qt

        real(rk) :: pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql

        call neutralised_inputs(prcp, pet, p(1), h(1), pn, en)
        ! smash 1.3's grc production store does not percolate.
        call gr_production(pn, en, p(2), 0._rk, h(2), pr, perc, ps, es)
        lexc = p(5)*h(3)**3.5_rk
        prr = 0.6_rk*0.9_rk*(pr + perc) + lexc
        prl = 0.4_rk*0.9_rk*(pr + perc)
        prd = 0.1_rk*(pr + perc)
        call gr_transfer(5, prr, p(3), h(3), qr)
        call gr_transfer(5, prl, p(4), h(4), ql)
        qd = max(0._rk, prd + lexc)
        qt = qr + ql + qd
        fx(1:14) = [pn, en, pr, perc, ps, es, lexc, prr, prd, prl, qr, qd, ql, qt]
    end subroutine grc_step

    subroutine grd_step(prcp, pet, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)        ! cp ct
        real(rk), intent(inout) :: h(:)     ! hp ht
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)      ! ei pn en pr perc ps es prr qr qt

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, qr

        if (prcp >= 0._rk .and. pet >= 0._rk) then
            call grd_interception(prcp, pet, pn, en)
        else
            pn = 0._rk
            en = 0._rk
        end if
        ei = max(0._rk, pet) - en
        ! smash 1.3's grd production store does not percolate.
        call gr_production(pn, en, p(1), 0._rk, h(1), pr, perc, ps, es)
        prr = pr + perc
        call gr_transfer(5, prr, p(2), h(2), qr)
        qt = qr
        fx(1:10) = [ei, pn, en, pr, perc, ps, es, prr, qr, qt]
    end subroutine grd_step

    subroutine loieau_step(prcp, pet, dt, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet, dt
        real(rk), intent(in) :: p(:)        ! ca cc kb
        real(rk), intent(inout) :: h(:)     ! ha hc
        real(rk), intent(out) :: qt
        real(rk), intent(out) :: fx(:)      ! ei pn en pr perc ps es prr prd qr qd qt

        real(rk) :: ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd

        if (prcp >= 0._rk .and. pet >= 0._rk) then
            call grd_interception(prcp, pet, pn, en)
        else
            pn = 0._rk
            en = 0._rk
        end if
        ei = max(0._rk, pet) - en
        call gr_production(pn, en, p(1), percolation_beta(dt, pet), h(1), pr, perc, ps, es)
        prr = 0.9_rk*(pr + perc)
        prd = 0.1_rk*(pr + perc)
        call gr_transfer(4, prr, p(2), h(2), qr)
        qd = max(0._rk, prd)
        qt = p(3)*(qr + qd)
        fx(1:12) = [ei, pn, en, pr, perc, ps, es, prr, prd, qr, qd, qt]
    end subroutine loieau_step

end module md_gr_structures
