!> How the observation cost J is assembled from per-gauge metrics.
!> Python resolves names ("nse", "mean", gauge codes, dates) to the numbers here.
module md_cost_options
    use md_kinds, only: rk
    implicit none

    type CostOptionsDT
        integer :: njobs = 1
        !> Metric ids (METRIC_* of md_registry) and their weights.
        integer, allocatable :: jobs_metric(:)
        real(rk), allocatable :: wjobs(:)
        !> Weight of each gauge in J (0 = gauge not in the cost).
        real(rk), allocatable :: wgauge(:)
        !> Steps 1 .. end_warmup are simulated but not scored.
        integer :: end_warmup = 0
        !> 0: J_obs = sum_g wgauge(g) J_g. In (0, 1): J_obs is that quantile of the
        !> J_g of the gauges with wgauge > 0 (linear interpolation between order statistics).
        real(rk) :: gauge_quantile = 0._rk
    end type CostOptionsDT

contains

    subroutine cost_options_alloc(this, njobs, ng)
        type(CostOptionsDT), intent(inout) :: this
        integer, intent(in) :: njobs, ng

        if (allocated(this%jobs_metric)) deallocate (this%jobs_metric)
        if (allocated(this%wjobs)) deallocate (this%wjobs)
        if (allocated(this%wgauge)) deallocate (this%wgauge)
        this%njobs = njobs
        allocate (this%jobs_metric(njobs), this%wjobs(njobs), this%wgauge(max(ng, 1)))
        this%jobs_metric = 1
        this%wjobs = 1._rk
        this%wgauge = 0._rk
    end subroutine cost_options_alloc

end module md_cost_options
