!> Spatial maps of the rainfall-runoff parameters and initial states, on
!> active cells in network order, columns in registry order
!> [snow | hydrological | routing], and the flat weight vector of the
!> hybrid structures' net (layout in md_mlp).
module md_parameters
    use md_kinds, only: rk
    implicit none

    type ParametersDT
        real(rk), allocatable :: rr_parameters(:, :)      !< (nac, nparameters)
        real(rk), allocatable :: rr_initial_states(:, :)  !< (nac, nstates)
        real(rk), allocatable :: nn_parameters(:)         !< (nweights)
    end type ParametersDT

contains

    subroutine parameters_alloc(this, nac, nparameters, nstates, nweights)
        type(ParametersDT), intent(inout) :: this
        integer, intent(in) :: nac, nparameters, nstates, nweights

        if (allocated(this%rr_parameters)) deallocate (this%rr_parameters)
        if (allocated(this%rr_initial_states)) deallocate (this%rr_initial_states)
        if (allocated(this%nn_parameters)) deallocate (this%nn_parameters)
        ! Zero-width columns would give numpy views Fortran cannot index: keep one.
        allocate (this%rr_parameters(nac, max(nparameters, 1)))
        allocate (this%rr_initial_states(nac, max(nstates, 1)))
        allocate (this%nn_parameters(max(nweights, 1)))
        this%rr_parameters = 0._rk
        this%rr_initial_states = 0._rk
        this%nn_parameters = 0._rk
    end subroutine parameters_alloc

end module md_parameters
