!> The forward model: snow -> hydrological -> routing operators over every
!> active cell and time step, then the observation cost. `forward_cost` is
!> the routine Tapenade differentiates (independents: rr_parameters,
!> rr_initial_states, nn_parameters; dependent: cost), so it holds no I/O and writes the
!> optional diagnostics (per-cell series) only into `output`, which the cost
!> does not read back.
module md_forward
    use md_kinds, only: rk, sp
    use md_registry
    use md_setup, only: SetupDT
    use md_mesh, only: MeshDT
    use md_input_data, only: InputDataDT, sparse_cells
    use md_output, only: OutputDT
    use md_cost_options, only: CostOptionsDT
    ! Differentiated modules are used whole: with ONLY lists Tapenade 3.16
    ! forgets the adjoint names when it writes tangent and adjoint together.
    use md_cost
    use md_regularization
    use md_snow_ssn
    use md_gr_structures
    use md_gr_ode
    use md_mlp   ! NET_MAX
    use md_vic3l
    use md_routing
    !$ use md_parallel, only: cell_block, split_block
    implicit none
    private
    public :: forward_cost, carried_columns, rr_piece_cells, chunk_steps

    !> Largest run (active cells x time steps) whose adjoint tapes every step
    !> at once rather than checkpointing (about 400 bytes of tape per
    !> cell-step for gr4-lr: Lez is below, Cance above).
    real(rk), parameter :: small_run = 1.e5_rk
    !> Most cell-steps in a checkpointed chunk of a hybrid structure (chunk_steps): the net's
    !> activations make its tape 2-4 times a conceptual structure's per cell-step, and a chunk of
    !> ~sqrt(nt) steps taped more than the caches hold (Cance: 38 steps of 383 cells, 12 MB).
    real(rk), parameter :: hybrid_chunk_cell_steps = 4000._rk
    !> Work (cells x steps) of a time block that outweighs starting its parallel regions.
    real(rk), parameter :: block_cell_steps = 2._rk**14
    !> Shortest time block, and most values (8 bytes each) of all cells' copies, for which
    !> the rainfall-runoff works on copies of each thread's cells (rainfall_runoff_copies).
    integer, parameter :: own_block_steps = 8, own_max_values = 2**20
    !> Cells of a piece of the rainfall-runoff that the threads of a forward run take in turn
    !> (rr_piece_cells), and the fewest pieces a thread must have for them to be used.
    integer, parameter :: piece_cells = 8192, pieces_per_thread = 8
    !> Blocks of the parameter, state and flux columns, in their order: [snow | hydrological | routing].
    integer, parameter :: snow_block = 1, hy_block = 2, rt_block = 3
    !> Kinds of columns block_columns lays out.
    integer, parameter :: parameter_columns = 1, state_columns = 2, flux_columns = 3

contains

    subroutine forward_cost(setup, mesh, input, options, rr_parameters, rr_initial_states, &
                            nn_parameters, output, cost)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        type(CostOptionsDT), intent(in) :: options
        real(rk), intent(in) :: rr_parameters(:, :)      !< (nac, nparameters)
        real(rk), intent(in) :: rr_initial_states(:, :)  !< (nac, nstates)
        real(rk), intent(in) :: nn_parameters(:)         !< hybrid net weights (md_mlp layout)
        type(OutputDT), intent(inout) :: output
        real(rk), intent(out) :: cost

        ! Work arrays live on the heap (a country-sized grid would overflow
        ! the stack) and reach the time loop as explicit-shape arguments, so
        ! that the generated adjoint knows their sizes.
        real(rk), allocatable :: states(:, :), qsim(:, :), qlat(:), q(:)
        real(rk), allocatable :: fluxes(:, :), liquid_prcp(:), qlat_block(:, :), q_block(:, :)
        real(rk), allocatable :: hy_c(:, :), rt_c(:, :), carry(:, :)
        integer :: nac, ns, ng, nfx, nhc, chunk, nblock, p0, p1, ncarry, nfc, carried(2)

        nac = mesh%nac
        ns = size(rr_initial_states, 2)
        ng = max(mesh%ng, 1)
        chunk = chunk_steps(setup, nac)
        ! Streamed forcings: a chunk lies in one window of steps (md_input_data): the chunks asked
        ! (checkpoint_steps) when the window holds a whole number of them (a streamed gradient reads
        ! a window of several chunks once: smash.simulation.memory.gradient_window), else the window.
        if (input%window_steps > 0) then
            if (setup%checkpoint_steps <= 0 .or. mod(input%window_steps, chunk) /= 0) chunk = input%window_steps
            chunk = min(chunk, setup%ntime_step)
        end if
        ! The shortest time blocks worth their parallel regions (docs/performance-log.md).
        nblock = setup%block_steps
        if (nblock <= 0) nblock = 1 + int(block_cell_steps/real(nac, rk))
        nblock = max(1, min(chunk, nblock))
        allocate (states(nac, ns), qsim(ng, setup%ntime_step))
        allocate (qlat(nac), q(nac), liquid_prcp(nac))
        allocate (qlat_block(nac, nblock), q_block(nac, nblock))
        nfx = max(setup%nhy_fluxes, 1)
        allocate (fluxes(nac, nfx))
        call carried_columns(setup, carried, nfc, ncarry)
        allocate (carry(nac, ncarry))
        ! Values of the parameters alone that the operators would otherwise compute
        ! at every cell-step (the linear reservoirs' release shares, the kinematic
        ! wave's and vic3l's ratios and inverses): once per run, and the adjoint
        ! sums their adjoints over the run before it passes them to the parameters.
        allocate (rt_c(nac, RT_NC))
        call block_columns(setup, parameter_columns, rt_block, p0, p1)
        !$AD NOCHECKPOINT
        call routing_constants(setup%routing_module, 1, nac, setup%dt, mesh%dx, rr_parameters(:, p0:p1), rt_c)
        call block_columns(setup, parameter_columns, hy_block, p0, p1)
        ! One allocation for both cases: allocated in the two branches of an IF,
        ! the tangent zeroed a column of the constants' derivatives after it.
        nhc = 1
        if (setup%hydrological_module == HY_VIC3L) nhc = VIC3L_NC
        allocate (hy_c(nac, nhc))
        hy_c = 0._rk
        if (setup%hydrological_module == HY_VIC3L) then
            !$AD NOCHECKPOINT
            call vic3l_constants(1, nac, rr_parameters(:, p0:p1), hy_c)
        end if
        ! Taped, not checkpointed: a checkpoint here made the adjoint run the
        ! whole forward once more before its own forward sweep.
        !$AD NOCHECKPOINT
        call forward_loop(setup, mesh, input, options, nac, ns, ng, nfx, ncarry, chunk, nblock, rr_parameters, hy_c, &
                          rt_c, rr_initial_states, nn_parameters, states, carry, qsim, qlat, q, fluxes, liquid_prcp, &
                          qlat_block, q_block, output, cost)
    end subroutine forward_cost

    !> Time steps per chunk of the forward loop. The adjoint checkpoints each
    !> chunk: the reverse sweep re-runs one chunk at a time from its snapshot,
    !> so the tape never holds more than `chunk` steps (one extra forward run
    !> in total) besides the snapshots. A run whose whole tape is small (at
    !> most small_run cell-steps, a few tens of MB) is one chunk taped
    !> straight through, without that extra run. A hybrid's chunks hold at
    !> most hybrid_chunk_cell_steps when that is at least own_block_steps steps
    !> (grids of up to 500 active cells): its tape then stays in the caches
    !> while it is re-read (Cance's hybrid gradients 10-15 % faster with 8-10
    !> steps than with 38; the conceptual structures' gradients are as fast
    !> from 19 to 76 steps, and slower with 8). On larger grids a chunk's tape
    !> outgrows the caches anyway, and shorter chunks would only add snapshots.
    !> python/smash/simulation/memory.py::default_chunk asks it (md_api::checkpoint_chunk).
    integer function chunk_steps(setup, nac) result(chunk)
        type(SetupDT), intent(in) :: setup
        integer, intent(in) :: nac

        integer :: cached

        chunk = setup%checkpoint_steps
        if (chunk <= 0) then
            if (real(nac, rk)*real(setup%ntime_step, rk) <= small_run) then
                chunk = setup%ntime_step
            else
                ! Smallest chunk with chunk**2 >= ntime_step (Tapenade 3.16 lacks CEILING):
                ! chunks of sqrt(nt)/2 steps made France's tape larger (more snapshots).
                chunk = max(1, int(sqrt(real(setup%ntime_step))))
                if (chunk*chunk < setup%ntime_step) chunk = chunk + 1
                if (setup%nn_nout > 0) then
                    cached = int(hybrid_chunk_cell_steps/real(max(nac, 1), rk))
                    if (cached >= own_block_steps) chunk = min(chunk, cached)
                end if
            end if
        end if
        chunk = min(chunk, setup%ntime_step)
    end function chunk_steps

    !> What a time step reads of the steps before it besides the states (md_forward's `carry`):
    !> the `nfc` flux columns `cols` that a GR structure's step with missing rainfall releases
    !> again (md_gr_structures::gr_cells: the routing-store outflows qr, and ql for grc; the
    !> ODE gr4 and vic3l carry none), then, for the kinematic wave, each cell's lateral inflow
    !> and discharge of the last step; `ncarry` columns in all.
    subroutine carried_columns(setup, cols, nfc, ncarry)
        type(SetupDT), intent(in) :: setup
        integer, intent(out) :: cols(2), nfc, ncarry

        cols = 1
        nfc = 1
        select case (setup%hydrological_module)
        case (HY_GR4_ODE, HY_GR4_ODE_MLP, HY_VIC3L)
            nfc = 0
        case (HY_GR6, HY_GR6_MLP)
            cols(1) = GR6_FX_QR
        case (HY_GRC, HY_GRC_MLP)
            nfc = 2
            cols = [GRC_FX_QR, GRC_FX_QL]
        case (HY_GRD, HY_GRD_MLP)
            cols(1) = GRD_FX_QR
        case (HY_LOIEAU, HY_LOIEAU_MLP)
            cols(1) = LOIEAU_FX_QR
        case default
            cols(1) = GR4_FX_QR
        end select
        ncarry = nfc
        if (setup%routing_module == RT_KW) ncarry = nfc + 2
    end subroutine carried_columns

    !> First and last column of `block` (snow_block, hy_block, rt_block) among the
    !> parameter, state or flux columns (`kind`), laid out [snow | hydrological | routing]:
    !> the one place that knows that layout. An empty block has last = first - 1.
    subroutine block_columns(setup, kind, block, first, last)
        type(SetupDT), intent(in) :: setup
        integer, intent(in) :: kind, block
        integer, intent(out) :: first, last

        integer :: n(3)

        select case (kind)
        case (parameter_columns)
            n = [setup%nsnow_parameters, setup%nhy_parameters, setup%nrt_parameters]
        case (state_columns)
            n = [setup%nsnow_states, setup%nhy_states, setup%nrt_states]
        case default
            n = [setup%nsnow_fluxes, setup%nhy_fluxes, setup%nrt_fluxes]
        end select
        first = sum(n(1:block - 1)) + 1
        last = first + n(block) - 1
    end subroutine block_columns

    subroutine forward_loop(setup, mesh, input, options, nac, ns, ng, nfx, ncarry, chunk, nblock, rr_parameters, hy_c, &
                            rt_c, rr_initial_states, nn_parameters, states, carry, qsim, qlat, q, fluxes, liquid_prcp, &
                            qlat_block, q_block, output, cost)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        type(CostOptionsDT), intent(in) :: options
        integer, intent(in) :: nac, ns, ng, nfx, ncarry, chunk, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :)        !< per-cell constants of the hydrological module (vic3l_constants)
        real(rk), intent(in) :: rt_c(nac, RT_NC)  !< md_routing::routing_constants of each cell
        real(rk), intent(in) :: rr_initial_states(nac, ns)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(nac, ns), qsim(ng, setup%ntime_step)
        !> What a step reads of the steps before it besides the states (carried_columns): all a chunk
        !> needs on entry, with the states, so all that the adjoint's checkpoints save.
        real(rk), intent(inout) :: carry(nac, ncarry)
        !> Lateral inflow and discharge of each cell at the last step of the previous time block.
        real(rk), intent(inout) :: qlat(nac), q(nac)
        !> Hydrological fluxes (nac, nfx), cell fastest: at saved steps all of them, else
        !> only the routing outflows a cell whose rainfall is missing releases again.
        real(rk), intent(inout) :: fluxes(nac, nfx)
        real(rk), intent(inout) :: liquid_prcp(nac)   !< rain + snow melt of each cell at the current step
        !> Lateral inflow and discharge (m3/s) of each cell at each step of the current time block.
        real(rk), intent(inout) :: qlat_block(nac, nblock), q_block(nac, nblock)
        type(OutputDT), intent(inout) :: output
        real(rk), intent(out) :: cost

        integer :: s, nseg, seg
        real(rk) :: jobs, jreg

        states = rr_initial_states
        carry = 0._rk
        q = 0._rk
        qlat = 0._rk
        qsim = 0._rk
        liquid_prcp = 0._rk

        ! Segments of whole chunks, each checkpointed (nested checkpointing: SetupDT%checkpoint_segment_steps).
        seg = setup%ntime_step
        if (setup%checkpoint_segment_steps > chunk) seg = (setup%checkpoint_segment_steps/chunk)*chunk
        nseg = (setup%ntime_step + seg - 1)/seg
        if (nseg == 1) then
            !$AD NOCHECKPOINT
            call forward_segment(setup, mesh, input, 1, setup%ntime_step, nac, ns, ng, nfx, ncarry, chunk, nblock, &
                                 rr_parameters, hy_c, rt_c, nn_parameters, states, carry, qsim, qlat, q, fluxes, &
                                 liquid_prcp, qlat_block, q_block, output)
        else
            do s = 1, nseg
                call forward_segment(setup, mesh, input, (s - 1)*seg + 1, min(s*seg, setup%ntime_step), nac, ns, ng, &
                                     nfx, ncarry, chunk, nblock, rr_parameters, hy_c, rt_c, nn_parameters, states, &
                                     carry, qsim, qlat, q, fluxes, liquid_prcp, qlat_block, q_block, output)
            end do
        end if

        output%q = qsim
        output%rr_final_states = states
        call observation_cost(options, qsim, input%qobs, jobs)
        call regularization_cost(options, rr_parameters, rr_initial_states, jreg)
        cost = jobs + options%wjreg*jreg
        output%jobs = jobs
        output%jreg = jreg
        output%cost = cost
    end subroutine forward_loop

    !> Time steps t0 .. t1 of the forward loop (one segment of the adjoint's nested checkpointing),
    !> by chunks of `chunk` steps, each checkpointed when there are several.
    subroutine forward_segment(setup, mesh, input, t0, t1, nac, ns, ng, nfx, ncarry, chunk, nblock, rr_parameters, hy_c, &
                               rt_c, nn_parameters, states, carry, qsim, qlat, q, fluxes, liquid_prcp, qlat_block, q_block, &
                               output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t0, t1, nac, ns, ng, nfx, ncarry, chunk, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :), rt_c(nac, RT_NC)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(nac, ns), carry(nac, ncarry), qsim(ng, setup%ntime_step)
        real(rk), intent(inout) :: qlat(nac), q(nac)
        real(rk), intent(inout) :: fluxes(nac, nfx), liquid_prcp(nac)
        real(rk), intent(inout) :: qlat_block(nac, nblock), q_block(nac, nblock)
        type(OutputDT), intent(inout) :: output

        integer :: c, nchunk

        nchunk = (t1 - t0 + chunk)/chunk
        if (nchunk == 1) then
            !$AD NOCHECKPOINT
            call forward_chunk(setup, mesh, input, t0, t1, nac, ns, ng, nfx, ncarry, nblock, rr_parameters, &
                               hy_c, rt_c, nn_parameters, states, carry, qsim, qlat, q, fluxes, liquid_prcp, &
                               qlat_block, q_block, output)
        else
            do c = 1, nchunk
                call forward_chunk(setup, mesh, input, t0 + (c - 1)*chunk, min(t0 + c*chunk - 1, t1), &
                                   nac, ns, ng, nfx, ncarry, nblock, rr_parameters, hy_c, rt_c, nn_parameters, states, &
                                   carry, qsim, qlat, q, fluxes, liquid_prcp, qlat_block, q_block, output)
            end do
        end if
    end subroutine forward_segment

    !> Time steps t0 .. t1 of the forward loop (one chunk of the adjoint's
    !> checkpointing), by time blocks of nblock steps.
    subroutine forward_chunk(setup, mesh, input, t0, t1, nac, ns, ng, nfx, ncarry, nblock, rr_parameters, hy_c, rt_c, &
                             nn_parameters, states, carry, qsim, qlat, q, fluxes, liquid_prcp, qlat_block, q_block, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t0, t1, nac, ns, ng, nfx, ncarry, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :), rt_c(nac, RT_NC)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(nac, ns), carry(nac, ncarry), qsim(ng, setup%ntime_step)
        real(rk), intent(inout) :: qlat(nac), q(nac)
        real(rk), intent(inout) :: fluxes(nac, nfx), liquid_prcp(nac)
        real(rk), intent(inout) :: qlat_block(nac, nblock), q_block(nac, nblock)
        type(OutputDT), intent(inout) :: output

        integer :: b0, b1, i, nfc, carried(2), ncols
        !> Fills the forcing arrays with the window of steps t0 .. t1 (md_forcing_stream): outside
        !> the differentiated sources, it is an external to Tapenade, whose checkpointed chunks
        !> call it again when the reverse sweep re-runs them.
        external :: forcing_window

        if (input%window_steps > 0) call forcing_window(t0, t1)
        ! Whole-array assignments: they tell Tapenade the blocks hold nothing a
        ! chunk needs on entry, so its checkpoints do not save them. Every step
        ! writes a cell's entries before anything reads them, so the compiled code
        ! need not fill them: OpenMP builds skip the fills here (Tapenade reads
        ! `!$` lines as comments) and tapenade/generate.py drops them from the
        ! generated code (serial fills cost time: docs/performance-log.md).
        ! The same holds for the fluxes, the liquid rain and the routing's last step, whose few
        ! values a step reads of the step before (the outflows released again under missing
        ! rain, the kinematic wave's previous discharge) come in through `carry`: the snapshots
        ! hold those and the states only, not every flux of every cell.
        !$ if (.false.) then
        qlat_block = 0._rk
        q_block = 0._rk
        fluxes = 0._rk
        liquid_prcp = 0._rk
        qlat = 0._rk
        q = 0._rk
        !$ end if
        call carried_columns(setup, carried, nfc, ncols)
        do i = 1, nfc
            fluxes(1:nac, carried(i)) = carry(1:nac, i)
        end do
        if (ncarry > nfc) then
            qlat = carry(1:nac, nfc + 1)
            q = carry(1:nac, nfc + 2)
        end if
        do b0 = t0, t1, nblock
            b1 = min(b0 + nblock - 1, t1)
            !$AD NOCHECKPOINT
            call forward_block(setup, mesh, input, b0, b1, nac, ns, ng, nfx, nblock, rr_parameters, hy_c, rt_c, &
                               nn_parameters, states, qsim, qlat, q, fluxes, liquid_prcp, qlat_block, q_block, output)
        end do
        do i = 1, nfc
            carry(1:nac, i) = fluxes(1:nac, carried(i))
        end do
        if (ncarry > nfc) then
            carry(1:nac, nfc + 1) = qlat
            carry(1:nac, nfc + 2) = q
        end if
    end subroutine forward_chunk

    !> Time steps t0 .. t1 (at most nblock). Rainfall-runoff never reads the
    !> routing, so it runs first over all the steps, each thread on its block
    !> of cells; then each thread routes its sub-catchments over the steps,
    !> then the trunks below them (md_mesh). A few parallel regions per block,
    !> not one per step and routing level.
    subroutine forward_block(setup, mesh, input, t0, t1, nac, ns, ng, nfx, nblock, rr_parameters, hy_c, rt_c, &
                             nn_parameters, states, qsim, qlat, q, fluxes, liquid_prcp, qlat_block, q_block, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t0, t1, nac, ns, ng, nfx, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :), rt_c(nac, RT_NC)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(nac, ns), qsim(ng, setup%ntime_step)
        !> Lateral inflow and discharge of each cell at the step before t0 (the kinematic wave reads them).
        real(rk), intent(inout) :: qlat(nac), q(nac)
        real(rk), intent(inout) :: fluxes(nac, nfx), liquid_prcp(nac)
        real(rk), intent(inout) :: qlat_block(nac, nblock), q_block(nac, nblock)
        type(OutputDT), intent(inout) :: output

        integer :: t, g, k_first, k_last, g_first, g_last, depth, level, nsteps
        !$ integer :: piece

        k_first = 1
        k_last = nac
        ! One thread enters no parallel region at all: an inactive region still
        ! allocates and frees a team. tapenade/generate.py wraps the adjoint's
        ! calls the same way.
        ! A forward run's threads take pieces of cells in turn rather than a fixed share
        ! (rr_piece_cells): lines Tapenade reads as comments, so the adjoint, whose sweeps
        ! must give each thread the same cells, keeps the fixed split (tapenade/generate.py).
        !$ piece = rr_piece_cells(setup, nac)
        if (setup%ncpu > 1) then
            !$omp parallel num_threads(setup%ncpu) default(shared) private(k_first, k_last)
            !$ if (piece > 0) then
            !$     call rainfall_runoff_pieces(setup, mesh, input, t0, t1, piece, nac, nblock, rr_parameters, &
            !$                                 hy_c, nn_parameters, states, qlat_block, fluxes, liquid_prcp, output)
            !$ else
            !$ call split_block(nac, setup%rr_split, k_first, k_last)
            !$AD NOCHECKPOINT
            call rainfall_runoff_block(setup, mesh, input, t0, t1, k_first, k_last, nac, nblock, rr_parameters, &
                                       hy_c, nn_parameters, states, qlat_block, fluxes, liquid_prcp, output)
            !$ end if
            !$omp end parallel
        else
            !$AD NOCHECKPOINT
            call rainfall_runoff_block(setup, mesh, input, t0, t1, k_first, k_last, nac, nblock, rr_parameters, &
                                       hy_c, nn_parameters, states, qlat_block, fluxes, liquid_prcp, output)
        end if
        ! Routing: with 2**d threads, the 2**d tree nodes of depth d side by side,
        ! each over its whole range, then the trunks of the shallower nodes.
        depth = 0
        do while (2**(depth + 1) <= setup%ncpu .and. depth < mesh%tree_depth)
            depth = depth + 1
        end do
        do level = depth, 0, -1
            g_first = 1
            g_last = 2**level
            if (setup%ncpu > 1 .and. level > 0) then
                !$omp parallel num_threads(setup%ncpu) default(shared) private(g_first, g_last)
                !$ call cell_block(2**level, g_first, g_last)
                !$AD NOCHECKPOINT
                call routing_nodes(setup, mesh, level, depth, g_first, g_last, t0, t1, nac, nblock, rt_c, &
                                   states, qlat_block, q_block, qlat, q, output)
                !$omp end parallel
            else
                !$AD NOCHECKPOINT
                call routing_nodes(setup, mesh, level, depth, g_first, g_last, t0, t1, nac, nblock, rt_c, &
                                   states, qlat_block, q_block, qlat, q, output)
            end if
        end do
        do t = t0, t1
            do g = 1, mesh%ng
                qsim(g, t) = q_block(mesh%gauge_cell(g), t - t0 + 1)
            end do
        end do
        ! The kinematic wave reads the previous step of each cell, across blocks too.
        if (setup%routing_module == RT_KW) then
            nsteps = t1 - t0 + 1
            qlat = qlat_block(1:nac, nsteps)
            q = q_block(1:nac, nsteps)
        end if
    end subroutine forward_block

    !> Routing of the tree nodes 2**level + g0 - 1 .. 2**level + g1 - 1 (nodes of
    !> one depth never drain into one another: each thread takes its own), each
    !> over its whole range at the deepest level run (`depth`), else only its
    !> own trunk (its halves are done).
    subroutine routing_nodes(setup, mesh, level, depth, g0, g1, t0, t1, nac, nblock, rt_c, states, &
                             qlat_block, q_block, qlat_last, q_last, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        integer, intent(in) :: level, depth, g0, g1, t0, t1, nac, nblock
        real(rk), intent(in) :: rt_c(nac, RT_NC)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(in) :: qlat_block(nac, nblock), qlat_last(nac), q_last(nac)
        real(rk), intent(inout) :: q_block(nac, nblock)
        type(OutputDT), intent(inout) :: output

        integer :: g, n, k0, k1

        do g = g0, g1
            n = 2**level + g - 1
            if (level == depth) then
                k0 = mesh%node_first(n)
            else
                k0 = mesh%trunk_first(n)
            end if
            k1 = mesh%node_last(n)
            if (k0 <= k1) then
                !$AD NOCHECKPOINT
                call routing_span(setup, mesh, k0, k1, t0, t1, nac, nblock, rt_c, states, qlat_block, &
                                  q_block, qlat_last, q_last, output)
            end if
        end do
    end subroutine routing_nodes

    !> Routing of the cells k0 .. k1 over steps t0..t1, step after step; saves their routing states, inflow and discharge at the
    !> steps asked for (later steps of the block overwrite the states).
    subroutine routing_span(setup, mesh, k0, k1, t0, t1, nac, nblock, rt_c, states, qlat_block, &
                            q_block, qlat_last, q_last, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        integer, intent(in) :: k0, k1, t0, t1, nac, nblock
        real(rk), intent(in) :: rt_c(nac, RT_NC)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(in) :: qlat_block(nac, nblock), qlat_last(nac), q_last(nac)
        real(rk), intent(inout) :: q_block(nac, nblock)
        type(OutputDT), intent(inout) :: output

        integer :: t, j, s0, s1

        call block_columns(setup, state_columns, rt_block, s0, s1)
        do t = t0, t1
            j = t - t0 + 1
            !$AD NOCHECKPOINT
            call routing_cells(setup%routing_module, k0, k1, mesh%up_start, mesh%up_cell, mesh%up_area, &
                               setup%dt, rt_c, states(:, s0:s1), j, nac, nblock, &
                               qlat_block, q_block, qlat_last, q_last)
            if (output%save_slot(t) > 0) call save_routing(setup, mesh, output, t, k0, k1, states, q_block(1:nac, j))
        end do
    end subroutine routing_span

    !> Cells a piece of a forward run's rainfall-runoff holds when its threads take pieces in turn,
    !> 0 when each takes its fixed share (md_parallel::split_block). A fixed share leaves a thread
    !> idle whenever the other is slowed: by a forcing window read beside it (streamed runs: a
    !> Python thread that shares the cores), or by rain falling on its cells only. Pieces need a
    !> grid large enough for several per thread; setup%piece_cells forces a size (> 0) or the
    !> fixed share (< 0). A cell computes the same on any thread, so results do not change.
    integer function rr_piece_cells(setup, nac) result(piece)
        type(SetupDT), intent(in) :: setup
        integer, intent(in) :: nac

        piece = 0
        if (setup%piece_cells > 0) then
            piece = setup%piece_cells
        else if (setup%piece_cells == 0 .and. nac >= pieces_per_thread*piece_cells*setup%ncpu) then
            piece = piece_cells
        end if
    end function rr_piece_cells

    !> rainfall_runoff_block over pieces of `piece` cells that the calling team's threads take in
    !> turn (called by every thread of a parallel region; never differentiated).
    subroutine rainfall_runoff_pieces(setup, mesh, input, t0, t1, piece, nac, nblock, rr_parameters, hy_c, &
                                      nn_parameters, states, qlat_block, fluxes, liquid_prcp, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t0, t1, piece, nac, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(inout) :: qlat_block(nac, nblock)
        real(rk), intent(inout) :: fluxes(nac, max(setup%nhy_fluxes, 1))
        real(rk), intent(inout) :: liquid_prcp(nac)
        type(OutputDT), intent(inout) :: output

        integer :: p

        !$omp do schedule(dynamic, 1)
        do p = 1, (nac + piece - 1)/piece
            call rainfall_runoff_block(setup, mesh, input, t0, t1, (p - 1)*piece + 1, min(p*piece, nac), nac, nblock, &
                                       rr_parameters, hy_c, nn_parameters, states, qlat_block, fluxes, liquid_prcp, &
                                       output)
        end do
        !$omp end do nowait
    end subroutine rainfall_runoff_pieces

    !> Snow and hydrological operators of cells k0..k1 for steps t0..t1, the
    !> lateral inflow of step t into column t - t0 + 1 of qlat_block.
    subroutine rainfall_runoff_block(setup, mesh, input, t0, t1, k0, k1, nac, nblock, rr_parameters, hy_c, &
                                     nn_parameters, states, qlat_block, fluxes, liquid_prcp, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t0, t1, k0, k1, nac, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :)   !< per-cell constants of the hydrological module (forward_cost)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(inout) :: qlat_block(nac, nblock)
        real(rk), intent(inout) :: fluxes(nac, max(setup%nhy_fluxes, 1))
        real(rk), intent(inout) :: liquid_prcp(nac)
        type(OutputDT), intent(inout) :: output

        integer :: t, j, n, npr, nrr, nfx, nhc, nsteps, first

        n = k1 - k0 + 1
        nhc = size(hy_c, 2)
        nsteps = t1 - t0 + 1
        ! Rainfall-runoff reads the snow and hydrological columns, 1 .. the hydrological block's last.
        call block_columns(setup, parameter_columns, hy_block, first, npr)
        call block_columns(setup, state_columns, hy_block, first, nrr)
        nfx = max(setup%nhy_fluxes, 1)
        ! Decided from the grid, not from the thread count: the copies change the
        ! order in which the adjoint sums a cell's steps, and one thread must give
        ! the bits that several do.
        ! In real arithmetic: with blocks of thousands of steps, a country's cell count
        ! times the values per cell overflows a default integer.
        if (nblock >= own_block_steps .and. n > 0 .and. &
            real(nac, rk)*real(npr + nhc + nrr + nfx + nblock + 1, rk) <= real(own_max_values, rk)) then
            !$AD NOCHECKPOINT
            call rainfall_runoff_copies(setup, mesh, input, t0, t1, k0, k1, n, npr, nhc, nrr, nfx, nsteps, nac, &
                                        nblock, rr_parameters, hy_c, nn_parameters, states, qlat_block, fluxes, output)
        else
            ! Zeroed by each thread for its own cells (docs/performance-log.md).
            if (t0 == 1) fluxes(k0:k1, :) = 0._rk
            do t = t0, t1
                j = t - t0 + 1
                !$AD NOCHECKPOINT
                call rainfall_runoff_step(setup, mesh, input, t, k0, k1, 0, rr_parameters, hy_c, nn_parameters, &
                                          states, qlat_block(1:nac, j), fluxes, liquid_prcp, output)
            end do
        end if
    end subroutine rainfall_runoff_block

    !> rainfall_runoff_block on copies of the n cells k0..k1 (rows 1..n) in arrays
    !> of the calling thread's own, so threads never share cache lines of the
    !> shared arrays (docs/performance-log.md, bench/thread_boundary.c). In the adjoint, a cell's parameter,
    !> constant and state adjoints are summed over the block before they join the
    !> running totals.
    subroutine rainfall_runoff_copies(setup, mesh, input, t0, t1, k0, k1, n, npr, nhc, nrr, nfx, nsteps, nac, nblock, &
                                      rr_parameters, hy_c, nn_parameters, states, qlat_block, fluxes, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t0, t1, k0, k1, n, npr, nhc, nrr, nfx, nsteps, nac, nblock
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(inout) :: qlat_block(nac, nblock)
        real(rk), intent(inout) :: fluxes(nac, nfx)
        type(OutputDT), intent(inout) :: output

        real(rk) :: own_parameters(n, npr), own_states(n, nrr), own_fluxes(n, nfx), own_qlat(n, nsteps)
        real(rk) :: own_constants(n, nhc), own_prcp(n)
        integer :: t, j
        integer :: off   ! a variable, not k0 - 1 in the call: Tapenade ignores NOCHECKPOINT on expressions

        off = k0 - 1
        own_parameters = rr_parameters(k0:k1, 1:npr)
        own_constants = hy_c(k0:k1, 1:nhc)
        own_states = states(k0:k1, 1:nrr)
        if (t0 == 1) then
            own_fluxes = 0._rk
        else
            own_fluxes = fluxes(k0:k1, 1:nfx)
        end if
        own_prcp = 0._rk
        do t = t0, t1
            j = t - t0 + 1
            !$AD NOCHECKPOINT
            call rainfall_runoff_step(setup, mesh, input, t, 1, n, off, own_parameters, own_constants, nn_parameters, &
                                      own_states, own_qlat(1:n, j), own_fluxes, own_prcp, output)
        end do
        states(k0:k1, 1:nrr) = own_states
        fluxes(k0:k1, 1:nfx) = own_fluxes
        qlat_block(k0:k1, 1:nsteps) = own_qlat
    end subroutine rainfall_runoff_copies

    !> Snow and hydrological operators of cells k0..k1 for step t. Row k of the
    !> cell arrays holds cell k + off (rainfall_runoff_copies); input, mesh and
    !> output are indexed by cell.
    subroutine rainfall_runoff_step(setup, mesh, input, t, k0, k1, off, rr_parameters, hy_c, nn_parameters, states, &
                                    qlat, fluxes, liquid_prcp, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(InputDataDT), intent(in) :: input
        integer, intent(in) :: t, k0, k1, off
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(inout) :: qlat(:)   !< lateral inflow of each cell, m3/s
        real(rk), intent(inout) :: fluxes(:, :)
        real(rk), intent(inout) :: liquid_prcp(:)
        type(OutputDT), intent(inout) :: output

        !> Sparse storage or streamed daily PET: a step's forcings are made for this many cells at a time
        !> (a fixed local array: Tapenade cannot restore a local allocatable in the adjoint). A forward
        !> run's piece of cells (piece_cells) in one go: France's streamed run with pieces cut in four
        !> (2048) computed about 8 % more than held (docs/performance-log.md).
        integer, parameter :: sparse_chunk = piece_cells
        real(sp) :: chunk(sparse_chunk, 4)
        integer :: ia, a, b, n, j, nkind, coff, s1
        integer :: snow_row   ! first row of the snow forcings for these cells ((1, nt) without a snow module)
        integer :: tw   ! column of step t in the forcing arrays (streamed: within the current window)
        integer :: day_col   ! streamed daily PET: the column of step t's day map in input%pet
        real(sp) :: share    ! and step t's share of it

        s1 = size(states, 2)
        tw = t
        if (input%window_steps > 0) tw = t - ((t - 1)/input%window_steps)*input%window_steps
        if (input%sparse .or. input%pet_by_day) then
            ! A step's forcings made for sparse_chunk cells at a time in a fixed local array: decoded (sparse
            ! storage), or with streamed daily interannual PET copied beside the PET made from the step's day
            ! map and share, the float32 product smash.inputs.atmos spreads a map with (the held mode's
            ! values): the reader then writes a map a day, not one a step.
            ! Not filled first: the snow and temp columns are only read with a snow module, which fills
            ! them (a whole piece's array zeroed at every step and piece would cost a pass of its own).
            nkind = 2
            if (setup%snow_module == SNOW_SSN) nkind = 4
            day_col = 1
            share = 1._sp
            if (input%pet_by_day) then
                day_col = input%pet_day(tw)
                share = input%pet_share(tw)
            end if
            ! counted with a unit step: Tapenade 3.16 reverses a loop of step sparse_chunk from a
            ! start it computes, one iteration too many when k1 < k0 (a thread with no cells)
            do ia = 1, (k1 - k0 + sparse_chunk)/sparse_chunk
                a = k0 + (ia - 1)*sparse_chunk
                b = min(k1, a + sparse_chunk - 1)
                n = b - a + 1
                coff = off + a - 1
                if (input%sparse) then
                    do j = 1, nkind
                        call sparse_cells(input, j, t, a + off, b + off, chunk(1:n, j))
                    end do
                else
                    chunk(1:n, 1) = input%prcp(a + off:b + off, tw)
                    chunk(1:n, 2) = input%pet(a + off:b + off, day_col)*share
                    if (nkind == 4) then
                        chunk(1:n, 3) = input%snow(a + off:b + off, tw)
                        chunk(1:n, 4) = input%temp(a + off:b + off, tw)
                    end if
                end if
                !$AD NOCHECKPOINT
                call rainfall_runoff_cells(setup, mesh, chunk(1:n, 1), chunk(1:n, 2), chunk(1:n, 3), chunk(1:n, 4), &
                                           input%imperviousness(a + off:b + off), &
                                           t, 1, n, coff, rr_parameters(a:b, :), hy_c(a:b, :), nn_parameters, &
                                           states(a:b, 1:s1), &
                                           qlat(a:b), fluxes(a:b, :), liquid_prcp(a:b), output)
            end do
        else
            snow_row = min(1 + off, size(input%snow, 1))
            !$AD NOCHECKPOINT
            call rainfall_runoff_cells(setup, mesh, input%prcp(1 + off:mesh%nac, tw), input%pet(1 + off:mesh%nac, tw), &
                                       input%snow(snow_row:, tw), input%temp(snow_row:, tw), &
                                       input%imperviousness(1 + off:mesh%nac), t, k0, k1, off, &
                                       rr_parameters, hy_c, nn_parameters, states, qlat, fluxes, liquid_prcp, output)
        end if
    end subroutine rainfall_runoff_step

    !> rainfall_runoff_step once the step's forcings of the cells are at hand.
    subroutine rainfall_runoff_cells(setup, mesh, prcp_in, pet_in, snow_in, temp_in, imperv_in, t, k0, k1, off, &
                                     rr_parameters, hy_c, nn_parameters, states, qlat, fluxes, liquid_prcp, output)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        !> This step's forcings: entry k is cell k + off's (snow, temp: only with a snow module).
        real(sp), intent(in) :: prcp_in(:), pet_in(:), snow_in(:), temp_in(:)
        !> Impervious share of the cells (entry k is cell k + off's).
        real(sp), intent(in) :: imperv_in(:)
        integer, intent(in) :: t, k0, k1, off
        real(rk), intent(in) :: rr_parameters(:, :)
        real(rk), intent(in) :: hy_c(:, :)   !< per-cell constants of the hydrological module (forward_cost)
        real(rk), intent(in) :: nn_parameters(:)
        real(rk), intent(inout) :: states(:, :)
        real(rk), intent(inout) :: qlat(:)   !< lateral inflow of each cell, m3/s
        real(rk), intent(inout) :: fluxes(:, :)
        real(rk), intent(inout) :: liquid_prcp(:)
        type(OutputDT), intent(inout) :: output

        integer :: k, p0, p1, s0, s1, slot, nn(5), first, sp1, ss1, f0, f1, fsnow, fsnow1
        real(rk) :: prcp, mlt, inv_beta, cell_snow, cell_temp
        real(sp) :: rain
        !> The largest finite float32 (huge(1._sp), which Tapenade 3.16 does not know).
        real(sp), parameter :: largest_sp = 3.40282347e38_sp
        real(rk) :: no_net(NET_MAX, 1)   ! the corrections of a structure without a net (md_gr_structures::gr_cells)
        logical :: keep_all   ! store every flux of the step (a variable: Tapenade checkpoints calls with expressions)

        ! Column ranges of the snow and hydrological blocks.
        call block_columns(setup, parameter_columns, hy_block, p0, p1)
        call block_columns(setup, state_columns, hy_block, s0, s1)
        call block_columns(setup, flux_columns, hy_block, f0, f1)
        call block_columns(setup, parameter_columns, snow_block, first, sp1)
        call block_columns(setup, state_columns, snow_block, first, ss1)
        call block_columns(setup, flux_columns, snow_block, fsnow, fsnow1)
        slot = output%save_slot(t)
        keep_all = output%save_fluxes .and. slot > 0
        nn = [setup%nn_nin, setup%nn_nh1, setup%nn_nh2, setup%nn_nout, setup%nn_nweights]
        inv_beta = percolation_inv_beta(setup%dt)

        do k = k0, k1
            ! NaN or infinite rain is missing, as smash.inputs leaves it in a held array: a streamed window
            ! of a store comes unchecked (its check would cost the reader a pass over the window).
            ! (A merge, not a branch: Tapenade would tape the branch taken at every cell and step.)
            rain = merge(prcp_in(k), -99._sp, prcp_in(k) >= -largest_sp .and. prcp_in(k) <= largest_sp)
            prcp = real(rain, rk)
            if (setup%snow_module == SNOW_SSN) then
                cell_snow = real(snow_in(k), rk)
                cell_temp = real(temp_in(k), rk)
                !$AD NOCHECKPOINT
                call ssn_step(cell_snow, cell_temp, &
                              rr_parameters(k, 1:sp1), &
                              states(k, 1:ss1), mlt)
                ! Melt joins the liquid input only when the rain itself is known.
                if (prcp >= 0._rk) prcp = prcp + mlt
                if (output%save_fluxes .and. slot > 0) output%fluxes(k + off, fsnow + SSN_FX_MLT - 1, slot) = mlt
            end if
            liquid_prcp(k) = prcp
        end do

        ! Missing rainfall or PET (negative) is handled inside the operators;
        ! each returns the cell's runoff depth (mm) in qlat(k).
        select case (setup%hydrological_module)
        case (HY_VIC3L)
            !$AD NOCHECKPOINT
            call vic3l_cells(k0, k1, liquid_prcp, pet_in, rr_parameters(:, p0:p1), hy_c, states(:, s0:s1), &
                             keep_all, qlat, fluxes)
        case (HY_GR4_ODE, HY_GR4_ODE_MLP)
            !$AD NOCHECKPOINT
            call gr4_ode_cells(k0, k1, liquid_prcp, pet_in, imperv_in, rr_parameters(:, p0:p1), states(:, s0:s1), nn, &
                               nn_parameters, keep_all, qlat, fluxes)
        case default
            if (nn(4) > 0) then
                !$AD NOCHECKPOINT
                call gr_hybrid_cells(setup%hydrological_module, k0, k1, liquid_prcp, pet_in, imperv_in, setup%dt, &
                                     inv_beta, rr_parameters(:, p0:p1), states(:, s0:s1), nn, nn_parameters, keep_all, &
                                     qlat, fluxes)
            else
                no_net = 0._rk
                !$AD NOCHECKPOINT
                call gr_cells(setup%hydrological_module, k0, k1, liquid_prcp, pet_in, imperv_in, setup%dt, inv_beta, &
                              rr_parameters(:, p0:p1), states(:, s0:s1), nn, 1, no_net, keep_all, qlat, fluxes)
            end if
        end select

        do k = k0, k1
            ! mm over the cell during dt -> m3/s
            qlat(k) = qlat(k)*1.e-3_rk*mesh%dx(k + off)*mesh%dy(k + off)/setup%dt
            if (keep_all) output%fluxes(k + off, f0:f1, slot) = fluxes(k, 1:setup%nhy_fluxes)
            ! Saved here: later steps of the block overwrite them before its routing.
            if (output%save_rr_states .and. slot > 0) output%rr_states(k + off, 1:s1, slot) = states(k, 1:s1)
        end do
    end subroutine rainfall_runoff_cells

    !> Routing states, upstream inflow and discharge of the cells k0 .. k1 at step t.
    subroutine save_routing(setup, mesh, output, t, k0, k1, states, q)
        type(SetupDT), intent(in) :: setup
        type(MeshDT), intent(in) :: mesh
        type(OutputDT), intent(inout) :: output
        integer, intent(in) :: t, k0, k1
        real(rk), intent(in) :: states(:, :), q(:)

        integer :: k, slot, s0, ns, f0, f1, fup

        slot = output%save_slot(t)
        call block_columns(setup, state_columns, rt_block, s0, ns)
        call block_columns(setup, flux_columns, rt_block, f0, f1)
        ! Position of the upstream inflow among the routing module's fluxes.
        select case (setup%routing_module)
        case (RT_KW)
            fup = KW_FX_QIM1J
        case (RT_LR)
            fup = LR_FX_QUP
        case default
            fup = LAG0_FX_QUP
        end select
        do k = k0, k1
            if (output%save_q_domain) output%q_domain(k, slot) = q(k)
            ! Snow and hydrological states were saved by rainfall_runoff_step.
            if (output%save_rr_states .and. setup%nrt_states > 0) output%rr_states(k, s0:ns, slot) = states(k, s0:ns)
            ! The routing flux (upstream inflow) follows the snow and hydrological ones.
            if (output%save_fluxes .and. setup%nrt_fluxes > 0) &
                output%fluxes(k, f0 + fup - 1, slot) = sum(q(mesh%up_cell(mesh%up_start(k):mesh%up_start(k + 1) - 1)))
        end do
    end subroutine save_routing

end module md_forward
