!> Forcings and observations on active cells, time as the last (slowest)
!> index so one step's values over all cells are contiguous.
module md_input_data
    use md_kinds, only: sp
    implicit none

    type InputDataDT
        !> Atmospheric forcings (nac, ntime_step) in mm per step (temp in degC).
        !> Negative prcp/pet/snow mean "missing".
        real(sp), allocatable :: prcp(:, :)
        real(sp), allocatable :: pet(:, :)
        real(sp), allocatable :: snow(:, :)
        real(sp), allocatable :: temp(:, :)
        !> Observed discharge (ng, ntime_step) in m3/s; negative = missing.
        real(sp), allocatable :: qobs(:, :)
    end type InputDataDT

contains

    subroutine input_data_alloc(this, nac, ng, ntime_step, with_snow)
        type(InputDataDT), intent(inout) :: this
        integer, intent(in) :: nac, ng, ntime_step
        logical, intent(in) :: with_snow

        call input_data_dealloc(this)
        allocate (this%prcp(nac, ntime_step), this%pet(nac, ntime_step))
        allocate (this%qobs(max(ng, 1), ntime_step))
        ! Snow forcings cost as much as prcp: only hold them for a snow module.
        if (with_snow) then
            allocate (this%snow(nac, ntime_step), this%temp(nac, ntime_step))
        else
            allocate (this%snow(1, 1), this%temp(1, 1))
        end if
        this%prcp = -99._sp
        this%pet = -99._sp
        this%qobs = -99._sp
        this%snow = -99._sp
        this%temp = 0._sp
    end subroutine input_data_alloc

    subroutine input_data_dealloc(this)
        type(InputDataDT), intent(inout) :: this

        if (allocated(this%prcp)) deallocate (this%prcp)
        if (allocated(this%pet)) deallocate (this%pet)
        if (allocated(this%snow)) deallocate (this%snow)
        if (allocated(this%temp)) deallocate (this%temp)
        if (allocated(this%qobs)) deallocate (this%qobs)
    end subroutine input_data_dealloc

end module md_input_data
