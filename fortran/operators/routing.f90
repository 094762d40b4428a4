!> Routing operators of one cell and step, called upstream-first with `qup`,
!> the summed discharge (m3/s) of the cell's direct upstream cells at this
!> step, and `qlat`, the cell's own runoff converted to m3/s
!> (qt * 1e-3 * dx * dy / dt).
!>
!> Behaviour of smash 1.3 found by black-box experiments on 1.3.0:
!> - lr: the upstream inflow is stored as a depth over `up_area` = drained
!>   area of the cell (flwacc) minus its own area (dx*dy); head cells
!>   (up_area = 0) pass their own runoff and keep hlr unchanged.
!> - kw: the doc's linearised implicit scheme (Chow et al. 1988) with
!>   d1 = dt/dx, d2 = akw*bkw*((Q_i^{j-1} + Q_{i-1}^j)/2)^(bkw-1), where all
!>   four inputs Q_{i-1}^j (qup), Q_i^{j-1} (q_prev), q_i^j and q_i^{j-1}
!>   (qlat, qlat_prev) are floored at 1e-6 m3/s. The floor also keeps the
!>   celerity term finite at Q = 0 (bkw < 1). q_prev and qlat_prev are the
!>   cell's discharge and lateral inflow at the previous step (0 before the
!>   first step, which the floor turns into 1e-6). Head cells (no upstream
!>   cell) pass their own runoff unfloored. Q_{i-1}^{j-1} is not used.
module md_routing
    use md_kinds, only: rk
    use md_registry
    implicit none
    private
    ! The per-cell steps stay private so that the compiler inlines them into
    ! the loops of routing_cells (see md_gr_structures::gr_cells).
    public :: routing_cells, routing_constants, RT_NC

    real(rk), parameter :: kw_min_discharge = 1.e-6_rk

    !> Columns of the per-cell routing constants (routing_constants): lr the share
    !> LR_C_SHARE, kw dt/dx, akw*bkw and bkw - 1.
    integer, parameter :: RT_NC = 3
    integer, parameter :: LR_C_SHARE = 1, KW_C_D1 = 1, KW_C_AB = 2, KW_C_E = 3

contains

    !> Instantaneous routing.
    subroutine lag0_step(qup, qlat, q)
        real(rk), intent(in) :: qup, qlat
        real(rk), intent(out) :: q

        q = qup + qlat
    end subroutine lag0_step

    !> Values of routing module `rt_module` that depend on the parameters (p:
    !> the cells' routing columns) and the mesh alone, for the cells k0 .. k1
    !> (RT_NC columns; unused ones are 0). md_forward computes them once per run,
    !> not at every step, and the adjoint sums their adjoints over the run.
    !> - lr: the share of its content a linear reservoir of lag llr (minutes)
    !>   releases in a step dt, 1 - exp(-dt / (60 llr)) (the exponential was
    !>   most of the routing);
    !> - kw: dt/dx (dx the cell length, m), akw*bkw and bkw - 1 (a division and
    !>   two operations less per cell and step, with the same values).
    subroutine routing_constants(rt_module, k0, k1, dt, dx, p, c)
        integer, intent(in) :: rt_module, k0, k1
        real(rk), intent(in) :: dt
        real(rk), intent(in) :: dx(:)
        real(rk), intent(in) :: p(:, :)
        real(rk), intent(inout) :: c(:, :)

        integer :: k

        c(k0:k1, 1:RT_NC) = 0._rk
        select case (rt_module)
        case (RT_LR)
            do k = k0, k1
                c(k, LR_C_SHARE) = 1._rk - exp(-dt/(60._rk*p(k, LR_P_LLR)))
            end do
        case (RT_KW)
            do k = k0, k1
                c(k, KW_C_D1) = dt/dx(k)
                c(k, KW_C_AB) = p(k, KW_P_AKW)*p(k, KW_P_BKW)
                c(k, KW_C_E) = p(k, KW_P_BKW) - 1._rk
            end do
        end select
    end subroutine routing_constants

    !> Linear reservoir on the upstream inflow, expressed as a depth over the
    !> upstream drained area `up_area` (m2); c from routing_constants.
    subroutine lr_step(qup, qlat, up_area, dt, c, h, q)
        real(rk), intent(in) :: qup, qlat, up_area, dt, c
        real(rk), intent(inout) :: h(:)    ! hlr (mm over up_area)
        real(rk), intent(out) :: q

        real(rk) :: qrt

        if (up_area > 0._rk) then
            h(LR_S_HLR) = h(LR_S_HLR) + qup*dt/up_area*1.e3_rk
            qrt = h(LR_S_HLR)*c
            h(LR_S_HLR) = h(LR_S_HLR) - qrt
            q = qrt*up_area*1.e-3_rk/dt + qlat
        else
            q = qlat
        end if
    end subroutine lr_step

    !> Kinematic wave for one cell; d1 = dt/dx (dx the cell length, m), ab = akw*bkw
    !> and e = bkw - 1 (routing_constants).
    subroutine kw_step(qup, q_prev, qlat, qlat_prev, up_area, d1, ab, e, q)
        real(rk), intent(in) :: qup, q_prev, qlat, qlat_prev, up_area, d1, ab, e
        real(rk), intent(out) :: q

        real(rk) :: qim1j, qijm1, qlij, qlijm1, d2, lq

        if (up_area > 0._rk) then
            qim1j = max(kw_min_discharge, qup)
            qijm1 = max(kw_min_discharge, q_prev)
            qlij = max(kw_min_discharge, qlat)
            qlijm1 = max(kw_min_discharge, qlat_prev)
            ! exp/log form: the exponent is a parameter, and Tapenade cannot write
            ! the derivative of x**y with an active y without run-time guards. The
            ! log in a variable of its own: the adjoint's forward sweep saves it, and
            ! its reverse sweep does not compute it again.
            lq = log(0.5_rk*(qijm1 + qim1j))
            d2 = ab*exp(e*lq)
            q = (d1*qim1j + d2*qijm1 + d1*0.5_rk*(qlijm1 + qlij))/(d1 + d2)
        else
            q = qlat
        end if
    end subroutine kw_step

    !> Summed discharge at step j of the direct upstream cells of cell k.
    subroutine upstream_inflow(k, j, up_start, up_cell, nac, nblock, q_block, qup)
        integer, intent(in) :: k, j, nac, nblock
        integer, intent(in) :: up_start(:), up_cell(:)
        real(rk), intent(in) :: q_block(nac, nblock)
        real(rk), intent(out) :: qup

        integer :: u

        qup = 0._rk
        do u = up_start(k), up_start(k + 1) - 1
            qup = qup + q_block(up_cell(u), j)
        end do
    end subroutine upstream_inflow

    !> Routing module `rt_module` (registry id) at step j of a time block, on the
    !> cells k0 .. k1, which come after every cell draining into them (see
    !> md_mesh): sums the discharge of each cell's direct upstream cells
    !> (up_start, up_cell, the mesh's upstream lists) at that step, then routes
    !> it with the cell's own runoff. qlat_block and q_block hold the lateral
    !> inflow and discharge (m3/s) of every cell at each step of the block;
    !> qlat_last and q_last those of the step before the block (kw only).
    !> Cells are laid out as in the mesh (m2, s); h holds the cells' routing state
    !> columns, c their routing_constants (every value of the parameters a step needs).
    subroutine routing_cells(rt_module, k0, k1, up_start, up_cell, up_area, dt, c, h, j, nac, nblock, &
                             qlat_block, q_block, qlat_last, q_last)
        integer, intent(in) :: rt_module, k0, k1, j, nac, nblock
        integer, intent(in) :: up_start(:), up_cell(:)
        real(rk), intent(in) :: up_area(:), dt
        real(rk), intent(in) :: c(nac, RT_NC)
        real(rk), intent(inout) :: h(:, :)
        real(rk), intent(in) :: qlat_block(nac, nblock), qlat_last(nac), q_last(nac)
        real(rk), intent(inout) :: q_block(nac, nblock)

        integer :: k, nh
        real(rk) :: qup, q_prev, qlat_prev

        ! Explicit section bounds: Tapenade needs them to size what it saves.
        nh = size(h, 2)
        select case (rt_module)
        case (RT_LAG0)
            do k = k0, k1
                !$AD NOCHECKPOINT
                call upstream_inflow(k, j, up_start, up_cell, nac, nblock, q_block, qup)
                !$AD NOCHECKPOINT
                call lag0_step(qup, qlat_block(k, j), q_block(k, j))
            end do
        case (RT_LR)
            do k = k0, k1
                !$AD NOCHECKPOINT
                call upstream_inflow(k, j, up_start, up_cell, nac, nblock, q_block, qup)
                !$AD NOCHECKPOINT
                call lr_step(qup, qlat_block(k, j), up_area(k), dt, c(k, LR_C_SHARE), h(k, 1:nh), q_block(k, j))
            end do
        case (RT_KW)
            do k = k0, k1
                !$AD NOCHECKPOINT
                call upstream_inflow(k, j, up_start, up_cell, nac, nblock, q_block, qup)
                if (j > 1) then
                    q_prev = q_block(k, j - 1)
                    qlat_prev = qlat_block(k, j - 1)
                else
                    q_prev = q_last(k)
                    qlat_prev = qlat_last(k)
                end if
                !$AD NOCHECKPOINT
                call kw_step(qup, q_prev, qlat_block(k, j), qlat_prev, up_area(k), c(k, KW_C_D1), c(k, KW_C_AB), &
                             c(k, KW_C_E), q_block(k, j))
            end do
        case default
            ! No routing: each cell only passes on its own runoff.
            do k = k0, k1
                q_block(k, j) = qlat_block(k, j)
            end do
        end select
    end subroutine routing_cells

end module md_routing
