!> Routing operators of one cell and step, called upstream-first with `qup`,
!> the summed discharge (m3/s) of the cell's direct upstream cells at this
!> step, and `qlat`, the cell's own runoff (m3/s).
module md_routing
    use md_kinds, only: rk
    implicit none
    private
    public :: lag0_step, lr_step, kw_step

contains

    !> Instantaneous routing.
    subroutine lag0_step(qup, qlat, q)
        real(rk), intent(in) :: qup, qlat
        real(rk), intent(out) :: q

        q = qup + qlat
    end subroutine lag0_step

    !> Linear reservoir on the upstream inflow, expressed as a depth over the
    !> upstream drained area `up_area` (m2); lag llr in minutes.
    subroutine lr_step(qup, qlat, up_area, dt, p, h, q)
        real(rk), intent(in) :: qup, qlat, up_area, dt
        real(rk), intent(in) :: p(:)       ! llr
        real(rk), intent(inout) :: h(:)    ! hlr (mm over up_area)
        real(rk), intent(out) :: q

        real(rk) :: qrt

        if (up_area > 0._rk) then
            h(1) = h(1) + qup*dt/up_area*1.e3_rk
            qrt = h(1)*(1._rk - exp(-dt/(60._rk*p(1))))
            h(1) = h(1) - qrt
            q = qrt*up_area*1.e-3_rk/dt + qlat
        else
            ! Head cell: nothing flows in, only its own runoff leaves.
            q = qlat
        end if
    end subroutine lr_step

    !> Kinematic wave, linearised implicit scheme (Chow et al., 1988) with
    !> A = akw Q^bkw. q_prev and qlat_prev are the cell's discharge and
    !> runoff at the previous step; dx the cell length.
    subroutine kw_step(qup, q_prev, qlat, qlat_prev, up_area, dx, dt, p, q)
        real(rk), intent(in) :: qup, q_prev, qlat, qlat_prev, up_area, dx, dt
        real(rk), intent(in) :: p(:)       ! akw bkw
        real(rk), intent(out) :: q

        real(rk) :: d1, d2, mean_q

        ! Head cells have no channel inflow to route: they pass on their runoff.
        if (up_area <= 0._rk) then
            q = qlat
            return
        end if
        d1 = dt/dx
        mean_q = 0.5_rk*(q_prev + qup)
        ! Q^(bkw - 1) is unbounded at Q = 0 (bkw < 1): no celerity term then.
        if (mean_q > 0._rk) then
            d2 = p(1)*p(2)*exp((p(2) - 1._rk)*log(mean_q))
        else
            d2 = 0._rk
        end if
        q = (d1*qup + d2*q_prev + d1*0.5_rk*(qlat_prev + qlat))/(d1 + d2)
    end subroutine kw_step

end module md_routing
