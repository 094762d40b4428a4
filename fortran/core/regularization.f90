!> Regularization term J_reg of the cost, on the controlled maps:
!>   prior           sum over controlled maps of w_f * sum_cells (v - v0)^2
!>   smoothing       sum over controlled maps of the squared 5-point Laplacian of v - v0
!>   hard-smoothing  the same on v itself (the prior is ignored)
!> where v0 is the map at the start of the calibration. Values of cells outside
!> the active domain are never read: a missing neighbour (outside the grid or
!> inactive) takes the value of the centre cell, so the second difference becomes
!> a one-sided first difference there. These definitions reproduce smash 1.3's
!> J_reg as a black box on Lez (see tests/test_regularization.py).
module md_regularization
    use md_kinds, only: rk
    use md_cost_options, only: CostOptionsDT
    implicit none
    private
    public :: regularization_cost

contains

    subroutine regularization_cost(options, rr_parameters, rr_initial_states, jreg)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: rr_parameters(:, :)       !< (nac, nparameters)
        real(rk), intent(in) :: rr_initial_states(:, :)   !< (nac, nstates)
        real(rk), intent(out) :: jreg                     !< sum_c wjreg_cmpt(c) * j_c

        integer :: f, np

        ! J_reg is computed whenever maps are attached, even with wjreg = 0: the
        ! automatic weights need it from a calibration that ignores it.
        jreg = 0._rk
        if (.not. allocated(options%reg_weight)) return
        np = size(rr_parameters, 2)
        do f = 1, size(options%reg_weight)
            if (options%reg_weight(f) == 0._rk) cycle
            if (f <= np) then
                call map_terms(options, rr_parameters(:, f), options%prior(:, f), options%reg_weight(f), jreg)
            else
                call map_terms(options, rr_initial_states(:, f - np), options%prior(:, f), &
                               options%reg_weight(f), jreg)
            end if
        end do
    end subroutine regularization_cost

    !> Adds the weighted terms of one controlled map v (prior map v0) to jreg.
    subroutine map_terms(options, v, v0, weight, jreg)
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: v(:), v0(:)
        real(rk), intent(in) :: weight   !< weight of a cell in j_prior (1/nac for a uniform control)
        real(rk), intent(inout) :: jreg

        integer :: k
        real(rk) :: jprior, jsmooth, jhard

        jprior = 0._rk
        jsmooth = 0._rk
        jhard = 0._rk
        if (options%wprior > 0._rk) then
            do k = 1, size(v)
                jprior = jprior + (v(k) - v0(k))**2
            end do
        end if
        if (options%wsmoothing > 0._rk) then
            do k = 1, size(v)
                jsmooth = jsmooth + laplacian2(options%neighbour(:, k), k, v, v0, 1._rk)
            end do
        end if
        if (options%whard_smoothing > 0._rk) then
            do k = 1, size(v)
                jhard = jhard + laplacian2(options%neighbour(:, k), k, v, v0, 0._rk)
            end do
        end if
        jreg = jreg + options%wprior*weight*jprior + options%wsmoothing*jsmooth + options%whard_smoothing*jhard
    end subroutine map_terms

    !> Squared second differences at cell k along rows and columns of m = v - c*v0.
    !> nb = (previous row, next row, previous column, next column), each the
    !> neighbour's index or k itself when that neighbour is missing.
    pure function laplacian2(nb, k, v, v0, c) result(s)
        integer, intent(in) :: nb(4), k
        real(rk), intent(in) :: v(:), v0(:), c
        real(rk) :: s
        real(rk) :: mk, dr, dc

        mk = v(k) - c*v0(k)
        dr = (v(nb(1)) - c*v0(nb(1))) - 2._rk*mk + (v(nb(2)) - c*v0(nb(2)))
        dc = (v(nb(3)) - c*v0(nb(3))) - 2._rk*mk + (v(nb(4)) - c*v0(nb(4)))
        s = dr**2 + dc**2
    end function laplacian2

end module md_regularization
