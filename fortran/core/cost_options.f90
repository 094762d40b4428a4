!> How the observation cost J is assembled from per-gauge metrics.
!> Python resolves names ("nse", "mean", gauge codes, dates) to the numbers here.
module md_cost_options
    use md_kinds, only: rk, sp
    implicit none

    type CostOptionsDT
        integer :: njobs = 1
        !> Metric ids (METRIC_* of md_registry) and their weights.
        integer, allocatable :: jobs_metric(:)
        real(rk), allocatable :: wjobs(:)
        !> Discharge transform of each term (md_metrics TFM_*).
        integer, allocatable :: jobs_tfm(:)
        !> 0: J_g = sum_c wjobs(c) j_c. In (0, 1): J_g is that quantile of the j_c.
        real(rk) :: jobs_quantile = 0._rk
        !> Weight of each gauge in J (0 = gauge not in the cost).
        real(rk), allocatable :: wgauge(:)
        !> Steps 1 .. end_warmup are simulated but not scored.
        integer :: end_warmup = 0
        !> 0: J_obs = sum_g wgauge(g) J_g. In (0, 1): J_obs is that quantile of the
        !> J_g of the gauges with wgauge > 0 (linear interpolation between order statistics).
        real(rk) :: gauge_quantile = 0._rk
        !> Regularization: J = J_obs + wjreg * J_reg, J_reg = wprior*j_prior
        !> + wsmoothing*j_smoothing + whard_smoothing*j_hard_smoothing (md_regularization).
        real(rk) :: wjreg = 0._rk
        real(rk) :: wprior = 0._rk
        real(rk) :: wsmoothing = 0._rk
        real(rk) :: whard_smoothing = 0._rk
        !> One entry per map (rr parameters, then rr initial states): 0 when the map is
        !> not controlled, else the weight of one cell in j_prior (1 for a distributed
        !> control, 1/nac for a uniform one, whose control entry is the whole map).
        real(rk), allocatable :: reg_weight(:)
        !> (nac, nmaps) maps at the start of the calibration.
        real(rk), allocatable :: prior(:, :)
        !> (4, nac) neighbours of each ordered active cell: previous row, next row,
        !> previous column, next column; the cell itself where the neighbour is missing.
        integer, allocatable :: neighbour(:, :)
        !> Flood events of each gauge for the event signatures (md_signatures), found
        !> by the segmentation of the observed discharge: steps event_start(e, g) ..
        !> event_end(e, g), and the step of the rainfall peak, for e = 1 .. nevent(g).
        integer, allocatable :: nevent(:)
        integer, allocatable :: event_start(:, :)
        integer, allocatable :: event_end(:, :)
        integer, allocatable :: event_rain_peak(:, :)
        !> 1: J_obs = sum over gauges g and steps t of q_cotangent(g, t) * q(g, t) instead of the
        !> metrics (backward_run(diff_target="q"), with a gauge at every active cell).
        integer :: q_target = 0
        real(rk), allocatable :: q_cotangent(:, :)
        !> 1: J_obs = -log_lkh / nobs, the Gaussian log-likelihood of the structural error model
        !> (md_bayesian_cost) over the nobs scored observations of the gauges with wgauge > 0.
        integer :: bayesian = 0
        integer :: serr_mu_mapping = 0
        integer :: serr_sigma_mapping = 2
        !> (ng, max(nmu, 1)) and (ng, max(nsigma, 1)) structural error parameters of each gauge.
        real(rk), allocatable :: serr_mu(:, :)
        real(rk), allocatable :: serr_sigma(:, :)
        !> (ng, ntime_step) standard deviation of the observation errors (u_response_data.q_stdev).
        real(sp), allocatable :: q_stdev(:, :)
    end type CostOptionsDT

contains

    subroutine cost_options_alloc(this, njobs, ng)
        type(CostOptionsDT), intent(inout) :: this
        integer, intent(in) :: njobs, ng

        if (allocated(this%jobs_metric)) deallocate (this%jobs_metric)
        if (allocated(this%wjobs)) deallocate (this%wjobs)
        if (allocated(this%jobs_tfm)) deallocate (this%jobs_tfm)
        if (allocated(this%wgauge)) deallocate (this%wgauge)
        this%njobs = njobs
        allocate (this%jobs_metric(njobs), this%wjobs(njobs), this%wgauge(max(ng, 1)), this%jobs_tfm(njobs))
        this%jobs_tfm = 0
        this%jobs_quantile = 0._rk
        this%jobs_metric = 1
        this%wjobs = 1._rk
        this%wgauge = 0._rk
        ! Regularization off until cost_options_alloc_reg is called.
        if (allocated(this%reg_weight)) deallocate (this%reg_weight)
        if (allocated(this%prior)) deallocate (this%prior)
        if (allocated(this%neighbour)) deallocate (this%neighbour)
        allocate (this%reg_weight(0), this%prior(0, 0), this%neighbour(4, 0))
        if (allocated(this%q_cotangent)) deallocate (this%q_cotangent)
        allocate (this%q_cotangent(0, 0))
        this%q_target = 0
        this%wjreg = 0._rk
        call cost_options_alloc_bayesian(this, 0, 2, 0, 1, ng, 1)
        this%bayesian = 0
        call cost_options_alloc_events(this, 1, ng)
    end subroutine cost_options_alloc

    subroutine cost_options_alloc_events(this, max_events, ng)
        type(CostOptionsDT), intent(inout) :: this
        integer, intent(in) :: max_events, ng

        if (allocated(this%nevent)) deallocate (this%nevent)
        if (allocated(this%event_start)) deallocate (this%event_start)
        if (allocated(this%event_end)) deallocate (this%event_end)
        if (allocated(this%event_rain_peak)) deallocate (this%event_rain_peak)
        allocate (this%nevent(max(ng, 1)), this%event_start(max(max_events, 1), max(ng, 1)))
        allocate (this%event_end(max(max_events, 1), max(ng, 1)), this%event_rain_peak(max(max_events, 1), max(ng, 1)))
        this%nevent = 0
        this%event_start = 0
        this%event_end = 0
        this%event_rain_peak = 0
    end subroutine cost_options_alloc_events

    !> Turn the observation cost into the cotangent-weighted discharge of ng gauges over nt steps.
    subroutine cost_options_alloc_q_target(this, ng, nt)
        type(CostOptionsDT), intent(inout) :: this
        integer, intent(in) :: ng, nt

        if (allocated(this%q_cotangent)) deallocate (this%q_cotangent)
        allocate (this%q_cotangent(ng, nt))
        this%q_cotangent = 0._rk
        this%q_target = 1
    end subroutine cost_options_alloc_q_target

    !> Turn the observation cost into the structural error model's -log_lkh / nobs (md_bayesian_cost).
    subroutine cost_options_alloc_bayesian(this, mu_mapping, sigma_mapping, nmu, nsigma, ng, nt)
        type(CostOptionsDT), intent(inout) :: this
        integer, intent(in) :: mu_mapping, sigma_mapping, nmu, nsigma, ng, nt

        if (allocated(this%serr_mu)) deallocate (this%serr_mu)
        if (allocated(this%serr_sigma)) deallocate (this%serr_sigma)
        if (allocated(this%q_stdev)) deallocate (this%q_stdev)
        allocate (this%serr_mu(max(ng, 1), max(nmu, 1)), this%serr_sigma(max(ng, 1), max(nsigma, 1)))
        allocate (this%q_stdev(max(ng, 1), nt))
        this%serr_mu = 0._rk
        this%serr_sigma = 1._rk
        this%q_stdev = 0._sp
        this%serr_mu_mapping = mu_mapping
        this%serr_sigma_mapping = sigma_mapping
        this%bayesian = 1
    end subroutine cost_options_alloc_bayesian

    subroutine cost_options_alloc_reg(this, nac, nmaps)
        type(CostOptionsDT), intent(inout) :: this
        integer, intent(in) :: nac, nmaps

        deallocate (this%reg_weight, this%prior, this%neighbour)
        allocate (this%reg_weight(nmaps), this%prior(nac, nmaps), this%neighbour(4, nac))
        this%reg_weight = 0._rk
        this%prior = 0._rk
        this%neighbour = 1
    end subroutine cost_options_alloc_reg

end module md_cost_options
