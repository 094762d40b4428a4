!> vic3l: three-layer Variable Infiltration Capacity model (Liang et al.,
!> 1994) with a 1 mm canopy store, ARNO evaporation and baseflow.
!>
!> What smash 1.3.0 does where its documentation is silent or differs
!> (black-box experiments): i0 = im*(1 - (1 - h)^(1/(1+b))) (the doc writes
!> 1/(1-b)); the ARNO beta series has 5 terms; drainage uses the levels after
!> infiltration and baseflow the bottom level after drainage; the quadratic
!> baseflow term is ds*(1 - dsm/ws)*(...)^2 (ds and dsm swapped w.r.t. ARNO
!> and the doc); a missing rainfall or PET skips canopy, soil layers and
!> drainage, baseflow still runs (qr = 0, qt = qb).
module md_vic3l
    use md_kinds, only: rk, sp
    use md_registry
    implicit none
    private
    ! vic3l_step stays private so that the compiler inlines it into the loop
    ! of vic3l_cells (see md_gr_structures::gr_cells).
    public :: vic3l_cells

    !> Terms of the ARNO evaporation power series (Liang et al. 1994, eq. 15):
    !> smash 1.3 truncates it after 5 terms (found by experiment).
    integer, parameter :: arno_terms = 5

contains

    !> x**y for x >= 0 and a real (possibly active) exponent y, written with
    !> exp/log so that Tapenade needs no run-time guard on the base.
    pure function powr(x, y) result(r)
        real(rk), intent(in) :: x, y
        real(rk) :: r

        if (x > 0._rk) then
            r = exp(y*log(x))
        else
            r = 0._rk
        end if
    end function powr

    !> Fraction of potential evaporation the upper layer delivers when only part
    !> of the cell is saturated, from u = (1 - h)**(1/(1+b)) (so i0/im = 1 - u):
    !> the saturated fraction is 1 - (1 - i0/im)**b = 1 - u**b and dry**(1/b) = u,
    !> so the whole series needs the one power u already computed.
    pure function arno_beta(u, ub, b) result(beta)
        real(rk), intent(in) :: u    !< (1 - h)**(1/(1+b))
        real(rk), intent(in) :: ub   !< u**b, the dry fraction
        real(rk), intent(in) :: b
        real(rk) :: beta

        real(rk) :: series, term
        integer :: n

        term = 1._rk
        series = 1._rk
        do n = 1, arno_terms
            term = term*u
            series = series + b/(n + b)*term
        end do
        beta = (1._rk - ub) + (1._rk - u)*ub*series
    end function arno_beta

    !> Gravity drainage from an upper to a lower layer, limited by what the
    !> upper layer holds and what the lower one can still take. inv_c_up and
    !> inv_c_low are 1/c_up and 1/c_low (see vic3l_step).
    subroutine drain(ks, pbc, c_up, c_low, inv_c_up, inv_c_low, h_up, h_low)
        real(rk), intent(in) :: ks, pbc, c_up, c_low, inv_c_up, inv_c_low
        real(rk), intent(inout) :: h_up, h_low

        real(rk) :: d

        d = ks*powr(h_up, pbc)
        d = min(d, min(h_up*c_up, c_low - h_low*c_low))
        h_up = h_up - d*inv_c_up
        h_low = h_low + d*inv_c_low
    end subroutine drain

    !> Upper layer evaporation, infiltration into the two upper layers and
    !> gravity drainage down to the bottom layer; qr is the surface runoff.
    subroutine soil_layers(pn, en, b, cusl, cmsl, cbsl, inv_c, ks, pbc, h, qr)
        real(rk), intent(in) :: pn, en, b, cusl, cmsl, cbsl, ks, pbc
        real(rk), intent(in) :: inv_c(3)   !< 1/cusl, 1/cmsl, 1/cbsl
        real(rk), intent(inout) :: h(:)
        real(rk), intent(out) :: qr

        real(rk) :: im, i0, es, cumsl, wumsl, infil, iusl, imsl, lw, u

        ! Upper layer evaporation. Both powers of the ARNO curve share the base
        ! 1 - h: u = (1-h)^(1/(1+b)) from one log and one exp, and the dry
        ! fraction (1-h)^(b/(1+b)) = (1-h)/u (the exp/log pairs dominate the
        ! cost of vic3l).
        ! No evaporation demand (night, or the canopy took it all): es = 0 exactly,
        ! without the curve's log and exp. Same below for infiltration without
        ! rain. Over a country at hourly steps most cells take these shortcuts.
        if (en <= 0._rk) then
            es = 0._rk
        else if (h(VIC3L_S_HUSL) < 1._rk) then
            lw = log(1._rk - h(VIC3L_S_HUSL))
            u = exp(lw/(1._rk + b))
            es = arno_beta(u, (1._rk - h(VIC3L_S_HUSL))/u, b)*en
        else
            es = en
        end if
        es = min(es, h(VIC3L_S_HUSL)*cusl)
        h(VIC3L_S_HUSL) = h(VIC3L_S_HUSL) - es*inv_c(1)

        ! Infiltration into the upper two layers seen as one
        cumsl = cusl + cmsl
        wumsl = h(VIC3L_S_HUSL)*cusl + h(VIC3L_S_HMSL)*cmsl
        if (pn <= 0._rk) then
            infil = 0._rk
        else
            im = (1._rk + b)*cumsl
            i0 = im*(1._rk - powr(1._rk - wumsl/cumsl, 1._rk/(1._rk + b)))
            if (i0 + pn > im) then
                infil = cumsl - wumsl
            else
                infil = cumsl - wumsl - cumsl*powr(1._rk - (i0 + pn)/im, b + 1._rk)
            end if
            infil = max(0._rk, min(infil, pn))
        end if
        iusl = min((1._rk - h(VIC3L_S_HUSL))*cusl, infil)
        imsl = min((1._rk - h(VIC3L_S_HMSL))*cmsl, infil - iusl)
        h(VIC3L_S_HUSL) = h(VIC3L_S_HUSL) + iusl*inv_c(1)
        h(VIC3L_S_HMSL) = h(VIC3L_S_HMSL) + imsl*inv_c(2)
        qr = pn - (iusl + imsl)

        call drain(ks, pbc, cusl, cmsl, inv_c(1), inv_c(2), h(VIC3L_S_HUSL), h(VIC3L_S_HMSL))
        call drain(ks, pbc, cmsl, cbsl, inv_c(2), inv_c(3), h(VIC3L_S_HMSL), h(VIC3L_S_HBSL))
    end subroutine soil_layers

    subroutine vic3l_step(prcp, pet, p, h, qt, fx)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(in) :: p(:)        ! VIC3L_P_*
        real(rk), intent(inout) :: h(:)     ! VIC3L_S_* (a strided row: assumed shape, no copy)
        real(rk), intent(out) :: qt
        real(rk), intent(inout) :: fx(:)    ! VIC3L_FX_*

        real(rk) :: b, cusl, cmsl, cbsl, ks, pbc, ds, dsm, ws
        real(rk) :: ec, pn, en, qr, qb, inv_c(3)

        b = p(VIC3L_P_B); cusl = p(VIC3L_P_CUSL); cmsl = p(VIC3L_P_CMSL); cbsl = p(VIC3L_P_CBSL)
        ks = p(VIC3L_P_KS); pbc = p(VIC3L_P_PBC); ds = p(VIC3L_P_DS); dsm = p(VIC3L_P_DSM); ws = p(VIC3L_P_WS)
        ! The levels' updates multiply by these inverses, computed from the
        ! parameters alone, instead of dividing: the divisions then leave the
        ! chain from one layer to the next (log, exp, update), which is what a
        ! vic3l step waits on.
        inv_c = 1._rk/[cusl, cmsl, cbsl]

        ! A missing rainfall or PET skips the canopy, the soil layers and the
        ! drainage (smash 1.3); only the bottom layer's baseflow still runs.
        pn = 0._rk
        en = 0._rk
        qr = 0._rk
        if (prcp >= 0._rk .and. pet >= 0._rk) then
            if (pet > 0._rk) then
                ec = min(pet*powr(h(VIC3L_S_HCL), 2._rk/3._rk), prcp + h(VIC3L_S_HCL))
            else
                ec = 0._rk
            end if
            pn = max(0._rk, prcp - (1._rk - h(VIC3L_S_HCL)) - ec)
            en = pet - ec
            h(VIC3L_S_HCL) = h(VIC3L_S_HCL) + prcp - ec - pn
            call soil_layers(pn, en, b, cusl, cmsl, cbsl, inv_c, ks, pbc, h(1:VIC3L_NS), qr)
        end if

        ! ARNO baseflow: linear below the threshold moisture ws, quadratic above.
        ! smash 1.3 swaps ds and dsm in the quadratic term with respect to ARNO
        ! (and to its own documentation): ds*(1 - dsm/ws), found by experiment.
        if (h(VIC3L_S_HBSL) <= ws) then
            qb = dsm*ds/ws*h(VIC3L_S_HBSL)
        else
            qb = dsm*ds/ws*h(VIC3L_S_HBSL) + ds*(1._rk - dsm/ws)*((h(VIC3L_S_HBSL) - ws)/(1._rk - ws))**2
        end if
        qb = min(qb, h(VIC3L_S_HBSL)*cbsl)
        h(VIC3L_S_HBSL) = h(VIC3L_S_HBSL) - qb*inv_c(3)

        qt = qr + qb
        fx(VIC3L_FX_PN) = pn
        fx(VIC3L_FX_EN) = en
        fx(VIC3L_FX_QR) = qr
        fx(VIC3L_FX_QB) = qb
        fx(VIC3L_FX_QT) = qt
    end subroutine vic3l_step

    !> vic3l on cells k0..k1 for one step (arguments as md_gr_structures::gr_cells).
    subroutine vic3l_cells(k0, k1, prcp, pet, p, h, keep_all, qt, fx)
        integer, intent(in) :: k0, k1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: h(:, :)
        logical, intent(in) :: keep_all   !< store the fluxes: none outlives its step, so only when saved
        real(rk), intent(inout) :: qt(:), fx(:, :)

        integer :: k, np, nh, nfx
        real(rk) :: cell_pet   ! see md_gr_structures::gr_cells
        real(rk) :: cell_fx(VIC3L_NFX)

        ! Explicit section bounds: Tapenade needs them to size what it saves.
        np = size(p, 2)
        nh = size(h, 2)
        nfx = size(fx, 2)
        do k = k0, k1
            cell_pet = real(pet(k), rk)
            !$AD NOCHECKPOINT
            call vic3l_step(prcp(k), cell_pet, p(k, 1:np), h(k, 1:nh), qt(k), cell_fx)
            if (keep_all) fx(k, 1:nfx) = cell_fx(1:nfx)
        end do
    end subroutine vic3l_cells

end module md_vic3l
