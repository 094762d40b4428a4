!> What a run hands back. Discharge at gauges and final states always; the
!> per-cell time series only for the steps the user asked for, since over a
!> whole country they would not fit in memory for every step.
module md_output
    use md_kinds, only: rk
    implicit none

    type OutputDT
        real(rk), allocatable :: q(:, :)                 !< (ng, ntime_step) m3/s at gauges
        real(rk), allocatable :: rr_final_states(:, :)   !< (nac, nstates)
        real(rk) :: cost = 0._rk   !< jobs + wjreg * jreg
        real(rk) :: jobs = 0._rk   !< observation term
        real(rk) :: jreg = 0._rk   !< regularization term, before its weight wjreg
        !> save_slot(t) > 0: step t is stored in slot save_slot(t) of the series below.
        integer, allocatable :: save_slot(:)
        logical :: save_q_domain = .false.
        logical :: save_rr_states = .false.
        logical :: save_fluxes = .false.
        real(rk), allocatable :: q_domain(:, :)          !< (nac, nsave) m3/s
        real(rk), allocatable :: rr_states(:, :, :)      !< (nac, nstates, nsave)
        real(rk), allocatable :: fluxes(:, :, :)         !< (nac, nfluxes, nsave)
    end type OutputDT

contains

    subroutine output_alloc(this, ng, nac, ntime_step, nstates, nfluxes, nsave, &
                            save_q_domain, save_rr_states, save_fluxes)
        type(OutputDT), intent(inout) :: this
        integer, intent(in) :: ng, nac, ntime_step, nstates, nfluxes, nsave
        logical, intent(in) :: save_q_domain, save_rr_states, save_fluxes

        call output_dealloc(this)
        allocate (this%q(max(ng, 1), ntime_step), this%rr_final_states(nac, max(nstates, 1)))
        allocate (this%save_slot(ntime_step))
        this%q = 0._rk
        this%rr_final_states = 0._rk
        this%save_slot = 0
        this%save_q_domain = save_q_domain
        this%save_rr_states = save_rr_states
        this%save_fluxes = save_fluxes
        if (save_q_domain) allocate (this%q_domain(nac, nsave))
        if (save_rr_states) allocate (this%rr_states(nac, max(nstates, 1), nsave))
        if (save_fluxes) allocate (this%fluxes(nac, max(nfluxes, 1), nsave))
    end subroutine output_alloc

    subroutine output_dealloc(this)
        type(OutputDT), intent(inout) :: this

        if (allocated(this%q)) deallocate (this%q)
        if (allocated(this%rr_final_states)) deallocate (this%rr_final_states)
        if (allocated(this%save_slot)) deallocate (this%save_slot)
        if (allocated(this%q_domain)) deallocate (this%q_domain)
        if (allocated(this%rr_states)) deallocate (this%rr_states)
        if (allocated(this%fluxes)) deallocate (this%fluxes)
    end subroutine output_dealloc

end module md_output
