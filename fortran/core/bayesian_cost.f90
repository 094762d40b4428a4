!> Structural error model and Gaussian log-likelihood of smash's Bayesian estimation
!> (smash 1.x math documentation, "Bayesian Estimation"):
!>   y*(g, t) = y(g, t) + delta(g, t) + eps(g, t),
!>   delta ~ N(mu(y), sigma(y)**2), eps ~ N(0, u(g, t)**2),
!> so that log p(y* | parameters) = sum over scored (g, t) of log f_N(y*; y + mu, sigma**2 + u**2).
!> mu and sigma are functions of the simulated discharge y with per-gauge parameters
!> (serr_mu(g, :), serr_sigma(g, :)); md_cost calls the likelihood for the observation term and
!> Tapenade differentiates it with respect to the discharge (through md_forward) and, as a head
!> of its own, with respect to the structural error parameters.
module md_bayesian_cost
    use md_kinds, only: rk, sp
    implicit none
    private
    public :: serr_mu_of, serr_sigma_of, serr_log_likelihood, serr_moments, gauge_parameters, &
              gauge_log_likelihood
    public :: MU_ZERO, MU_CONSTANT, MU_LINEAR
    public :: SIGMA_CONSTANT, SIGMA_LINEAR, SIGMA_POWER, SIGMA_EXPONENTIAL, SIGMA_GAUSSIAN
    public :: control_log_prior

    !> serr_mu_mapping ids (smash's 'Zero', 'Constant', 'Linear').
    integer, parameter :: MU_ZERO = 0, MU_CONSTANT = 1, MU_LINEAR = 2
    !> serr_sigma_mapping ids (smash's 'Constant', 'Linear', 'Power', 'Exponential', 'Gaussian').
    integer, parameter :: SIGMA_CONSTANT = 1, SIGMA_LINEAR = 2, SIGMA_POWER = 3, SIGMA_EXPONENTIAL = 4, &
                          SIGMA_GAUSSIAN = 5
    !> Most parameters of a mu / sigma mapping.
    integer, parameter :: max_mu = 2, max_sigma = 3
    !> Prior distribution ids (smash's control_prior names): FlatPrior, Uniform, Gaussian, Exponential,
    !> LogNormal, Triangle.
    integer, parameter :: PRIOR_FLAT = 0, PRIOR_UNIFORM = 1, PRIOR_GAUSSIAN = 2, PRIOR_EXPONENTIAL = 3, &
                          PRIOR_LOGNORMAL = 4, PRIOR_TRIANGLE = 5
    !> The log-density outside a prior's support (the density is 0 there): Python reads it as -inf.
    real(rk), parameter :: outside_support = -1.e300_rk
    real(rk), parameter :: two_pi = 6.283185307179586476925286766559_rk

contains

    !> Mean of the structural error at simulated discharge q: 0, mg0, or mg0 + mg1 q.
    function serr_mu_of(mapping, q, mu_par) result(mu)
        integer, intent(in) :: mapping
        real(rk), intent(in) :: q
        real(rk), intent(in) :: mu_par(max_mu)
        real(rk) :: mu

        select case (mapping)
        case (MU_CONSTANT)
            mu = mu_par(1)
        case (MU_LINEAR)
            mu = mu_par(1) + mu_par(2)*q
        case default
            mu = 0._rk
        end select
    end function serr_mu_of

    !> Standard deviation of the structural error at simulated discharge q:
    !> sg0; sg0 + sg1 q; sg0 + sg1 q**sg2; sg0 + (sg2 - sg0)(1 - exp(-q/sg1));
    !> sg0 + (sg2 - sg0)(1 - exp(-(q/sg1)**2)).
    function serr_sigma_of(mapping, q, sigma_par) result(sigma)
        integer, intent(in) :: mapping
        real(rk), intent(in) :: q
        real(rk), intent(in) :: sigma_par(max_sigma)
        real(rk) :: sigma

        select case (mapping)
        case (SIGMA_LINEAR)
            sigma = sigma_par(1) + sigma_par(2)*q
        case (SIGMA_POWER)
            ! q**sg2 for q > 0 only: its derivative in sg2 (q**sg2 log q) has no value at 0. Written
            ! exp(sg2 log q): Tapenade 3.16 writes a broken tangent of a power with both sides active.
            if (q > 0._rk) then
                sigma = sigma_par(1) + sigma_par(2)*exp(sigma_par(3)*log(q))
            else
                sigma = sigma_par(1)
            end if
        case (SIGMA_EXPONENTIAL)
            sigma = sigma_par(1) + (sigma_par(3) - sigma_par(1))*(1._rk - exp(-q/sigma_par(2)))
        case (SIGMA_GAUSSIAN)
            sigma = sigma_par(1) + (sigma_par(3) - sigma_par(1))*(1._rk - exp(-(q/sigma_par(2))**2))
        case default
            sigma = sigma_par(1)
        end select
    end function serr_sigma_of

    !> log_lkh = sum over gauges with scored(g) /= 0 and steps first_step .. nt where the
    !> observation is not missing (qobs >= 0) of log f_N(qobs; qsim + mu, sigma**2 + u**2);
    !> nobs counts those terms. The head Tapenade differentiates in serr_mu and serr_sigma.
    subroutine serr_log_likelihood(mu_mapping, sigma_mapping, first_step, scored, qsim, qobs, u, &
                                   serr_mu, serr_sigma, log_lkh, nobs)
        integer, intent(in) :: mu_mapping, sigma_mapping, first_step
        integer, intent(in) :: scored(:)         !< (ng) 1: the gauge is in the likelihood
        real(rk), intent(in) :: qsim(:, :)       !< (ng, ntime_step)
        real(sp), intent(in) :: qobs(:, :)       !< (ng, ntime_step), negative = missing
        real(sp), intent(in) :: u(:, :)          !< (ng, ntime_step) observation standard deviation
        real(rk), intent(in) :: serr_mu(:, :)    !< (ng, nmu)
        real(rk), intent(in) :: serr_sigma(:, :) !< (ng, nsigma)
        real(rk), intent(out) :: log_lkh
        integer, intent(out) :: nobs

        integer :: g, ng_obs
        real(rk) :: mu_par(max_mu), sigma_par(max_sigma), lkh_g

        log_lkh = 0._rk
        nobs = 0
        do g = 1, size(qsim, 1)
            if (scored(g) == 0) cycle
            call gauge_parameters(serr_mu, serr_sigma, g, mu_par, sigma_par)
            call gauge_log_likelihood(mu_mapping, sigma_mapping, first_step, qsim(g, :), qobs(g, :), u(g, :), &
                                      mu_par, sigma_par, lkh_g, ng_obs)
            log_lkh = log_lkh + lkh_g
            nobs = nobs + ng_obs
        end do
    end subroutine serr_log_likelihood

    !> The parameters of gauge g in fixed-size arrays (unused entries 0). md_cost reads the
    !> constant ones of its options through here too: the arrays Tapenade sees then are local
    !> copies of known size, not the options' (whose derivatives the forward adjoint never needs).
    subroutine gauge_parameters(serr_mu, serr_sigma, g, mu_par, sigma_par)
        real(rk), intent(in) :: serr_mu(:, :), serr_sigma(:, :)
        integer, intent(in) :: g
        real(rk), intent(out) :: mu_par(max_mu), sigma_par(max_sigma)

        integer :: i

        mu_par = 0._rk
        sigma_par = 0._rk
        do i = 1, min(size(serr_mu, 2), max_mu)
            mu_par(i) = serr_mu(g, i)
        end do
        do i = 1, min(size(serr_sigma, 2), max_sigma)
            sigma_par(i) = serr_sigma(g, i)
        end do
    end subroutine gauge_parameters

    !> The log-likelihood of one gauge's series and the number of its scored observations.
    subroutine gauge_log_likelihood(mu_mapping, sigma_mapping, first_step, qsim, qobs, u, mu_par, sigma_par, &
                                    log_lkh, nobs)
        integer, intent(in) :: mu_mapping, sigma_mapping, first_step
        real(rk), intent(in) :: qsim(:)
        real(sp), intent(in) :: qobs(:), u(:)
        real(rk), intent(in) :: mu_par(max_mu), sigma_par(max_sigma)
        real(rk), intent(out) :: log_lkh
        integer, intent(out) :: nobs

        integer :: t
        real(rk) :: mu, sigma, variance, residual

        log_lkh = 0._rk
        nobs = 0
        do t = first_step, size(qsim)
            if (qobs(t) < 0._sp) cycle
            mu = serr_mu_of(mu_mapping, qsim(t), mu_par)
            sigma = serr_sigma_of(sigma_mapping, qsim(t), sigma_par)
            variance = sigma*sigma + real(u(t), rk)**2
            residual = real(qobs(t), rk) - qsim(t) - mu
            log_lkh = log_lkh - 0.5_rk*log(two_pi*variance) - 0.5_rk*residual*residual/variance
            nobs = nobs + 1
        end do
    end subroutine gauge_log_likelihood

    !> mu and sigma of every gauge and step (smash's Model.get_serr_mu / get_serr_sigma).
    subroutine serr_moments(mu_mapping, sigma_mapping, qsim, serr_mu, serr_sigma, mu, sigma)
        integer, intent(in) :: mu_mapping, sigma_mapping
        real(rk), intent(in) :: qsim(:, :)
        real(rk), intent(in) :: serr_mu(:, :), serr_sigma(:, :)
        real(rk), intent(inout) :: mu(:, :), sigma(:, :)

        integer :: g, t
        real(rk) :: mu_par(max_mu), sigma_par(max_sigma)

        do g = 1, size(qsim, 1)
            call gauge_parameters(serr_mu, serr_sigma, g, mu_par, sigma_par)
            do t = 1, size(qsim, 2)
                mu(g, t) = serr_mu_of(mu_mapping, qsim(g, t), mu_par)
                sigma(g, t) = serr_sigma_of(sigma_mapping, qsim(g, t), sigma_par)
            end do
        end do
    end subroutine serr_moments

    !> Sum of the log-densities of the priors of the controls (raw values x): prior(i) is the
    !> distribution id of control i, par(:, i) its parameters (Uniform [a, b], Gaussian [m, s],
    !> Exponential [x0, s], LogNormal [m, s], Triangle [peak, a, b]). A value outside a support
    !> gives outside_support (and no gradient). The third head Tapenade differentiates (in x).
    subroutine control_log_prior(prior, par, x, log_prior)
        integer, intent(in) :: prior(:)
        real(rk), intent(in) :: par(:, :)
        real(rk), intent(in) :: x(:)
        real(rk), intent(out) :: log_prior

        integer :: i
        real(rk) :: z

        log_prior = 0._rk
        do i = 1, size(x)
            select case (prior(i))
            case (PRIOR_UNIFORM)
                if (x(i) < par(1, i) .or. x(i) > par(2, i)) then
                    log_prior = outside_support
                    return
                end if
                log_prior = log_prior - log(par(2, i) - par(1, i))
            case (PRIOR_GAUSSIAN)
                z = (x(i) - par(1, i))/par(2, i)
                log_prior = log_prior - 0.5_rk*log(two_pi) - log(par(2, i)) - 0.5_rk*z*z
            case (PRIOR_EXPONENTIAL)
                if (x(i) < par(1, i)) then
                    log_prior = outside_support
                    return
                end if
                log_prior = log_prior - log(par(2, i)) - (x(i) - par(1, i))/par(2, i)
            case (PRIOR_LOGNORMAL)
                if (x(i) <= 0._rk) then
                    log_prior = outside_support
                    return
                end if
                z = (log(x(i)) - par(1, i))/par(2, i)
                log_prior = log_prior - 0.5_rk*log(two_pi) - log(par(2, i)) - 0.5_rk*z*z - log(x(i))
            case (PRIOR_TRIANGLE)
                if (x(i) <= par(2, i) .or. x(i) >= par(3, i)) then
                    log_prior = outside_support
                    return
                end if
                if (x(i) < par(1, i)) then
                    log_prior = log_prior + log(2._rk*(x(i) - par(2, i))/((par(3, i) - par(2, i))*(par(1, i) - par(2, i))))
                else
                    log_prior = log_prior + log(2._rk*(par(3, i) - x(i))/((par(3, i) - par(2, i))*(par(3, i) - par(1, i))))
                end if
            end select
        end do
    end subroutine control_log_prior

end module md_bayesian_cost
