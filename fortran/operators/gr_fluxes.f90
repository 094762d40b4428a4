!> Building blocks shared by the GR-family structures (interception,
!> production, exchange, transfer), per cell and time step. States are
!> normalised by their capacity, as smash stores them.
!>
!> Checked against smash 1.3.0 (black box): percolation constant
!> 9/4 * (86400/dt)^(1/4); the _ri infiltration loses gamma*dt with dt in
!> SECONDS (so it dominates at daily steps, as in smash); the _ri level may go
!> negative, as in smash. Guards: an empty routing store releases 0 (the
!> power is undefined there); the exponential store uses its asymptotic
!> forms beyond |h/be| = 7.
module md_gr_fluxes
    use md_kinds, only: rk
    implicit none
    private
    public :: gr_interception, grd_interception, gr_production, gr_ri_production, &
              gr_transfer, gr_exponential_store, no_production

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
    !> runoff pr and percolation perc. `beta` sets the percolation curve;
    !> beta <= 0 means a store without percolation (grc, grd in smash 1.3).
    !> fp, fe are the hybrid structures' relative corrections of ps and es
    !> (0 otherwise), capped so that the store never takes more than pn nor
    !> evaporates more than en; with fp = fe = 0 the caps are never active.
    subroutine gr_production(pn, en, cp, beta, fp, fe, hp, pr, perc, ps, es)
        real(rk), intent(in) :: pn, en, cp, beta, fp, fe
        real(rk), intent(inout) :: hp
        real(rk), intent(out) :: pr, perc, ps, es

        real(rk) :: tpn, ten, hp_star, inv_cp

        ! One division for the capacity's inverse; rain and evaporation never both
        ! arrive after interception, so one tanh is usually 0 and is skipped.
        ! (This routine is a third of a forward run: latency chains of divisions
        ! and square roots.)
        inv_cp = 1._rk/cp
        tpn = 0._rk
        ten = 0._rk
        if (pn > 0._rk) tpn = tanh(pn*inv_cp)
        if (en > 0._rk) ten = tanh(en*inv_cp)
        ps = cp*(1._rk - hp*hp)*tpn/(1._rk + hp*tpn)
        es = hp*cp*(2._rk - hp)*ten/(1._rk + (1._rk - hp)*ten)
        ps = min(pn, (1._rk + fp)*ps)
        es = min(en, (1._rk + fe)*es)
        hp_star = hp + (ps - es)*inv_cp
        if (pn > 0._rk) then
            pr = pn - ps
        else
            pr = 0._rk
        end if
        if (beta > 0._rk) then
            perc = hp_star*cp*(1._rk - 1._rk/sqrt(sqrt(1._rk + (hp_star/beta)**4)))
        else
            perc = 0._rk
        end if
        hp = hp_star - perc*inv_cp
    end subroutine gr_production

    !> Production with rainfall-intensity dependent infiltration (gr4_ri, gr5_ri).
    subroutine gr_ri_production(pn, en, cp, beta, alpha1, dt, hp, pr, perc, ps, es)
        real(rk), intent(in) :: pn, en, cp, beta, alpha1, dt
        real(rk), intent(inout) :: hp
        real(rk), intent(out) :: pr, perc, ps, es

        real(rk) :: gam, lambda, tpn, ten, hp_star

        gam = 1._rk - exp(-pn*alpha1)
        lambda = sqrt(1._rk - gam)
        tpn = tanh(lambda*pn/cp)
        ten = tanh(en/cp)
        ps = cp/lambda*tpn*(1._rk - (lambda*hp)**2)/(1._rk + lambda*hp*tpn) - gam*dt
        es = hp*cp*(2._rk - hp)*ten/(1._rk + (1._rk - hp)*ten)
        hp_star = hp + (ps - es)/cp
        if (pn > 0._rk) then
            pr = pn - ps
        else
            pr = 0._rk
        end if
        perc = hp_star*cp*(1._rk - 1._rk/sqrt(sqrt(1._rk + (hp_star/beta)**4)))
        hp = hp_star - perc/cp
    end subroutine gr_ri_production

    !> Non-linear routing store of capacity c with outflow exponent n:
    !> q = h c - ((h c)^(1-n) + c^(1-n))^(1/(1-n)).
    !> Only n = 4 and n = 5 occur; each is written with literal integer
    !> powers, which Tapenade differentiates without run-time guards.
    subroutine gr_transfer(n, inflow, c, h, q)
        integer, intent(in) :: n
        real(rk), intent(in) :: inflow, c
        real(rk), intent(inout) :: h
        real(rk), intent(out) :: q

        real(rk) :: h_star, level

        h_star = max(0._rk, h + inflow/c)
        level = h_star*c
        if (level > 0._rk) then
            if (n == 4) then
                q = level - (level**(-3) + c**(-3))**(-1._rk/3._rk)
            else
                ! level - (level**-4 + c**-4)**(-1/4) written with one division fewer.
                q = level*(1._rk - 1._rk/sqrt(sqrt(1._rk + (level/c)**4)))
            end if
        else
            ! An empty store releases nothing (and the power above is undefined at 0).
            q = 0._rk
        end if
        h = h_star - q/c
    end subroutine gr_transfer

    !> Exponential store (gr6): outflow be*ln(1 + exp(h/be)), with the
    !> asymptotic forms outside |h/be| < 7 to avoid overflow.
    subroutine gr_exponential_store(inflow, be, he, qe)
        real(rk), intent(in) :: inflow, be
        real(rk), intent(inout) :: he
        real(rk), intent(out) :: qe

        real(rk) :: h_star, ratio

        h_star = he + inflow
        ratio = h_star/be
        if (ratio > 7._rk) then
            qe = h_star + be/exp(ratio)
        else if (ratio < -7._rk) then
            qe = be*exp(ratio)
        else
            qe = be*log(1._rk + exp(ratio))
        end if
        he = h_star - qe
    end subroutine gr_exponential_store

end module md_gr_fluxes
