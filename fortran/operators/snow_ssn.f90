!> Simple degree-day snow store (ssn).
!>
!> smash 1.3 (black-box experiments on 1.3.0): a missing snowfall (snow < 0)
!> skips the step, no melt and hs unchanged. Temperature has no missing
!> value (any temp <= 0 gives no melt).
module md_snow_ssn
    use md_kinds, only: rk
    use md_registry
    implicit none
    private
    public :: ssn_step

contains

    subroutine ssn_step(snow, temp, p, h, mlt)
        real(rk), intent(in) :: snow     !< solid precipitation, mm (negative = missing)
        real(rk), intent(in) :: temp     !< air temperature, degC
        real(rk), intent(in) :: p(:)     ! kmlt
        real(rk), intent(inout) :: h(:)  ! hs, mm
        real(rk), intent(out) :: mlt

        mlt = 0._rk
        if (snow >= 0._rk) then
            h(SSN_S_HS) = h(SSN_S_HS) + snow
            if (temp > 0._rk) mlt = min(h(SSN_S_HS), p(SSN_P_KMLT)*temp)
            h(SSN_S_HS) = h(SSN_S_HS) - mlt
        end if
    end subroutine ssn_step

end module md_snow_ssn
