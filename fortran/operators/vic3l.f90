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
    ! The operators of a cell stay private so that the compiler inlines them into
    ! the loops of vic3l_cells (see md_gr_structures::gr_cells).
    public :: vic3l_cells, vic3l_constants, VIC3L_NC

    !> Terms of the ARNO evaporation power series (Liang et al. 1994, eq. 15):
    !> smash 1.3 truncates it after 5 terms (found by experiment).
    integer, parameter :: arno_terms = 5

    !> Columns of the per-cell constants (vic3l_constants): values of the
    !> parameters alone that a step would otherwise compute again, most of
    !> them divisions. VIC3L_C_ARNO .. VIC3L_C_ARNO + arno_terms - 1 hold
    !> b/(n + b), the ARNO series' coefficients.
    integer, parameter :: VIC3L_C_INV_CUSL = 1, VIC3L_C_INV_CMSL = 2, VIC3L_C_INV_CBSL = 3
    integer, parameter :: VIC3L_C_CUMSL = 4      !< cusl + cmsl
    integer, parameter :: VIC3L_C_INV_CUMSL = 5  !< 1/(cusl + cmsl)
    integer, parameter :: VIC3L_C_B1 = 6         !< 1 + b
    integer, parameter :: VIC3L_C_INV_B1 = 7     !< 1/(1 + b)
    integer, parameter :: VIC3L_C_IM = 8         !< (1 + b)(cusl + cmsl), the largest infiltration capacity
    integer, parameter :: VIC3L_C_INV_IM = 9
    integer, parameter :: VIC3L_C_QB_LIN = 10    !< dsm ds/ws, the linear baseflow rate
    integer, parameter :: VIC3L_C_QB_QUAD = 11   !< ds (1 - dsm/ws)/(1 - ws)**2, the quadratic one
    integer, parameter :: VIC3L_C_ARNO = 12
    integer, parameter :: VIC3L_NC = VIC3L_C_ARNO + arno_terms - 1

contains

    !> The per-cell constants of cells k0..k1 (VIC3L_C_*) from their
    !> parameters p (VIC3L_P_* columns). md_forward computes them once per
    !> run, not at every step; the adjoint sums their adjoints over the run
    !> and passes them to the parameters once.
    subroutine vic3l_constants(k0, k1, p, c)
        integer, intent(in) :: k0, k1
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: c(:, :)

        integer :: k, n
        real(rk) :: b, ws

        do k = k0, k1
            b = p(k, VIC3L_P_B)
            ws = p(k, VIC3L_P_WS)
            c(k, VIC3L_C_INV_CUSL) = 1._rk/p(k, VIC3L_P_CUSL)
            c(k, VIC3L_C_INV_CMSL) = 1._rk/p(k, VIC3L_P_CMSL)
            c(k, VIC3L_C_INV_CBSL) = 1._rk/p(k, VIC3L_P_CBSL)
            c(k, VIC3L_C_CUMSL) = p(k, VIC3L_P_CUSL) + p(k, VIC3L_P_CMSL)
            c(k, VIC3L_C_INV_CUMSL) = 1._rk/c(k, VIC3L_C_CUMSL)
            c(k, VIC3L_C_B1) = 1._rk + b
            c(k, VIC3L_C_INV_B1) = 1._rk/(1._rk + b)
            c(k, VIC3L_C_IM) = (1._rk + b)*c(k, VIC3L_C_CUMSL)
            c(k, VIC3L_C_INV_IM) = 1._rk/c(k, VIC3L_C_IM)
            c(k, VIC3L_C_QB_LIN) = p(k, VIC3L_P_DSM)*p(k, VIC3L_P_DS)/ws
            c(k, VIC3L_C_QB_QUAD) = p(k, VIC3L_P_DS)*(1._rk - p(k, VIC3L_P_DSM)/ws)/((1._rk - ws)*(1._rk - ws))
            do n = 1, arno_terms
                c(k, VIC3L_C_ARNO + n - 1) = b/(n + b)
            end do
        end do
    end subroutine vic3l_constants

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
    !> so the whole series needs the one power u already computed. a holds the
    !> series' coefficients b/(n + b) (vic3l_constants).
    pure function arno_beta(u, ub, a) result(beta)
        real(rk), intent(in) :: u    !< (1 - h)**(1/(1+b))
        real(rk), intent(in) :: ub   !< u**b, the dry fraction
        real(rk), intent(in) :: a(arno_terms)
        real(rk) :: beta

        real(rk) :: series, term
        integer :: n

        term = 1._rk
        series = 1._rk
        do n = 1, arno_terms
            term = term*u
            series = series + a(n)*term
        end do
        beta = (1._rk - ub) + (1._rk - u)*ub*series
    end function arno_beta

    !> Gravity drainage from an upper to a lower layer, limited by what the
    !> upper layer holds and what the lower one can still take. inv_c_up and
    !> inv_c_low are 1/c_up and 1/c_low (vic3l_constants).
    subroutine drain(ks, pbc, c_up, c_low, inv_c_up, inv_c_low, h_up, h_low)
        real(rk), intent(in) :: ks, pbc, c_up, c_low, inv_c_up, inv_c_low
        real(rk), intent(inout) :: h_up, h_low

        real(rk) :: d

        d = ks*powr(h_up, pbc)
        d = min(d, min(h_up*c_up, c_low - h_low*c_low))
        h_up = h_up - d*inv_c_up
        h_low = h_low + d*inv_c_low
    end subroutine drain

    !> Canopy store (1 mm) of one cell: its evaporation ec, the net rainfall pn
    !> and the evaporation demand en left for the soil. A missing rainfall or PET
    !> (negative) skips the canopy, the soil layers and the drainage (smash 1.3):
    !> wet is false then, and pn = en = 0.
    subroutine canopy(prcp, pet, hcl, pn, en, wet)
        real(rk), intent(in) :: prcp, pet
        real(rk), intent(inout) :: hcl
        real(rk), intent(out) :: pn, en
        logical, intent(out) :: wet

        real(rk) :: ec

        pn = 0._rk
        en = 0._rk
        wet = prcp >= 0._rk .and. pet >= 0._rk
        if (wet) then
            if (pet > 0._rk) then
                ec = min(pet*powr(hcl, 2._rk/3._rk), prcp + hcl)
            else
                ec = 0._rk
            end if
            pn = max(0._rk, prcp - (1._rk - hcl) - ec)
            en = pet - ec
            hcl = hcl + prcp - ec - pn
        end if
    end subroutine canopy

    !> Upper layer evaporation of one cell (level husl) under the demand en.
    !> p: the cell's parameters (VIC3L_P_*), c: its constants (VIC3L_C_*).
    subroutine soil_evaporation(en, p, c, husl)
        real(rk), intent(in) :: en
        real(rk), intent(in) :: p(:), c(:)
        real(rk), intent(inout) :: husl

        real(rk) :: es, lw, u

        ! Both powers of the ARNO curve share the base 1 - h: u = (1-h)^(1/(1+b))
        ! from one log and one exp, and the dry fraction (1-h)^(b/(1+b)) = (1-h)/u
        ! (the exp/log pairs dominate the cost of vic3l).
        ! No evaporation demand (night, or the canopy took it all): es = 0 exactly,
        ! without the curve's log and exp. Same for infiltration without rain.
        ! Over a country at hourly steps most cells take these shortcuts.
        if (en <= 0._rk) then
            es = 0._rk
        else if (husl < 1._rk) then
            lw = log(1._rk - husl)
            u = exp(lw*c(VIC3L_C_INV_B1))
            es = arno_beta(u, (1._rk - husl)/u, c(VIC3L_C_ARNO:VIC3L_NC))*en
        else
            es = en
        end if
        es = min(es, husl*p(VIC3L_P_CUSL))
        husl = husl - es*c(VIC3L_C_INV_CUSL)
    end subroutine soil_evaporation

    !> Infiltration of the net rainfall pn into the upper two layers of one cell,
    !> seen as one (levels h(VIC3L_S_HUSL), h(VIC3L_S_HMSL)); qr is the surface runoff.
    subroutine soil_infiltration(pn, p, c, h, qr)
        real(rk), intent(in) :: pn
        real(rk), intent(in) :: p(:), c(:)
        real(rk), intent(inout) :: h(:)
        real(rk), intent(out) :: qr

        real(rk) :: i0, wumsl, infil, iusl, imsl

        wumsl = h(VIC3L_S_HUSL)*p(VIC3L_P_CUSL) + h(VIC3L_S_HMSL)*p(VIC3L_P_CMSL)
        if (pn <= 0._rk) then
            infil = 0._rk
        else
            i0 = c(VIC3L_C_IM)*(1._rk - powr(1._rk - wumsl*c(VIC3L_C_INV_CUMSL), c(VIC3L_C_INV_B1)))
            if (i0 + pn > c(VIC3L_C_IM)) then
                infil = c(VIC3L_C_CUMSL) - wumsl
            else
                infil = c(VIC3L_C_CUMSL) - wumsl &
                        - c(VIC3L_C_CUMSL)*powr(1._rk - (i0 + pn)*c(VIC3L_C_INV_IM), c(VIC3L_C_B1))
            end if
            infil = max(0._rk, min(infil, pn))
        end if
        iusl = min((1._rk - h(VIC3L_S_HUSL))*p(VIC3L_P_CUSL), infil)
        imsl = min((1._rk - h(VIC3L_S_HMSL))*p(VIC3L_P_CMSL), infil - iusl)
        h(VIC3L_S_HUSL) = h(VIC3L_S_HUSL) + iusl*c(VIC3L_C_INV_CUSL)
        h(VIC3L_S_HMSL) = h(VIC3L_S_HMSL) + imsl*c(VIC3L_C_INV_CMSL)
        qr = pn - (iusl + imsl)
    end subroutine soil_infiltration

    !> ARNO baseflow qb of one cell from its bottom layer (level hbsl): linear below
    !> the threshold moisture ws, quadratic above. smash 1.3 swaps ds and dsm in the
    !> quadratic term with respect to ARNO (and to its own documentation):
    !> ds*(1 - dsm/ws), found by experiment.
    subroutine baseflow(p, c, hbsl, qb)
        real(rk), intent(in) :: p(:), c(:)
        real(rk), intent(inout) :: hbsl
        real(rk), intent(out) :: qb

        if (hbsl <= p(VIC3L_P_WS)) then
            qb = c(VIC3L_C_QB_LIN)*hbsl
        else
            qb = c(VIC3L_C_QB_LIN)*hbsl + c(VIC3L_C_QB_QUAD)*(hbsl - p(VIC3L_P_WS))**2
        end if
        qb = min(qb, hbsl*p(VIC3L_P_CBSL))
        hbsl = hbsl - qb*c(VIC3L_C_INV_CBSL)
    end subroutine baseflow

    !> vic3l on cells k0..k1 for one step (arguments as md_gr_structures::gr_cells);
    !> c: the cells' vic3l_constants.
    !>
    !> Operator by operator over all the cells, not cell by cell: within a cell,
    !> each operator waits on the previous one's log and exp (canopy, evaporation,
    !> infiltration, two drainages: up to five in a chain); across cells the
    !> operators are independent, so one loop per operator lets the core overlap
    !> the chains of neighbouring cells. Each cell goes through the same
    !> operations in the same order as cell by cell (same results to the bit).
    !> The parameters and constants are read where they are used, not copied into
    !> locals: the adjoint's forward sweep would save every such local at every
    !> cell and step.
    subroutine vic3l_cells(k0, k1, prcp, pet, p, c, h, keep_all, qt, fx)
        integer, intent(in) :: k0, k1
        real(rk), intent(in) :: prcp(:)
        real(sp), intent(in) :: pet(:)
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(in) :: c(:, :)
        real(rk), intent(inout) :: h(:, :)
        logical, intent(in) :: keep_all   !< store the fluxes: none outlives its step, so only when saved
        real(rk), intent(inout) :: qt(:), fx(:, :)

        integer :: k, np, nh
        real(rk) :: cell_pet   ! see md_gr_structures::gr_cells
        ! The cells' net rainfall, evaporation demand, surface runoff and baseflow, between the loops.
        real(rk) :: pn(k0:k1), en(k0:k1), qr(k0:k1), qb(k0:k1)
        logical :: wet(k0:k1)   ! rainfall and PET known (see canopy)

        ! Explicit section bounds: Tapenade needs them to size what it saves.
        np = size(p, 2)
        nh = size(h, 2)
        do k = k0, k1
            cell_pet = real(pet(k), rk)
            !$AD NOCHECKPOINT
            call canopy(prcp(k), cell_pet, h(k, VIC3L_S_HCL), pn(k), en(k), wet(k))
        end do
        do k = k0, k1
            if (wet(k)) then
                !$AD NOCHECKPOINT
                call soil_evaporation(en(k), p(k, 1:np), c(k, 1:VIC3L_NC), h(k, VIC3L_S_HUSL))
            end if
        end do
        do k = k0, k1
            qr(k) = 0._rk
            if (wet(k)) then
                !$AD NOCHECKPOINT
                call soil_infiltration(pn(k), p(k, 1:np), c(k, 1:VIC3L_NC), h(k, 1:nh), qr(k))
            end if
        end do
        ! Gravity drainage: upper to middle layer, then middle to bottom.
        do k = k0, k1
            if (wet(k)) then
                !$AD NOCHECKPOINT
                call drain(p(k, VIC3L_P_KS), p(k, VIC3L_P_PBC), p(k, VIC3L_P_CUSL), p(k, VIC3L_P_CMSL), &
                           c(k, VIC3L_C_INV_CUSL), c(k, VIC3L_C_INV_CMSL), h(k, VIC3L_S_HUSL), h(k, VIC3L_S_HMSL))
            end if
        end do
        do k = k0, k1
            if (wet(k)) then
                !$AD NOCHECKPOINT
                call drain(p(k, VIC3L_P_KS), p(k, VIC3L_P_PBC), p(k, VIC3L_P_CMSL), p(k, VIC3L_P_CBSL), &
                           c(k, VIC3L_C_INV_CMSL), c(k, VIC3L_C_INV_CBSL), h(k, VIC3L_S_HMSL), h(k, VIC3L_S_HBSL))
            end if
        end do
        ! Only the bottom layer's baseflow runs when rainfall or PET is missing.
        do k = k0, k1
            !$AD NOCHECKPOINT
            call baseflow(p(k, 1:np), c(k, 1:VIC3L_NC), h(k, VIC3L_S_HBSL), qb(k))
            qt(k) = qr(k) + qb(k)
        end do
        if (keep_all) then
            fx(k0:k1, VIC3L_FX_PN) = pn
            fx(k0:k1, VIC3L_FX_EN) = en
            fx(k0:k1, VIC3L_FX_QR) = qr
            fx(k0:k1, VIC3L_FX_QB) = qb
            fx(k0:k1, VIC3L_FX_QT) = qt(k0:k1)
        end if
    end subroutine vic3l_cells

end module md_vic3l
