!> Simple degree-day snow store (ssn).
module md_snow_ssn
    use md_kinds, only: rk
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

        if (snow >= 0._rk) h(1) = h(1) + snow
        if (temp > 0._rk) then
            mlt = min(h(1), p(1)*temp)
        else
            mlt = 0._rk
        end if
        h(1) = h(1) - mlt
    end subroutine ssn_step

end module md_snow_ssn
