!> Run configuration that the Fortran core needs: time axis, structure ids and
!> the layout of the parameter/state columns. Python fills it from the user's
!> setup dict and the structure registry, so every size here is derived, never
!> typed by hand.
module md_setup
    use md_kinds, only: rk
    implicit none

    !> Most threads a run can be split between (size of SetupDT%rr_split).
    integer, parameter :: max_threads = 1024

    type SetupDT
        real(rk) :: dt = 3600._rk
        integer :: ntime_step = 0
        !> Structure ids, numbered as in the registry (see registry_ids.f90).
        integer :: snow_module = 1
        integer :: hydrological_module = 1
        integer :: routing_module = 1
        !> Columns of rr_parameters / rr_states: [snow | hydrological | routing].
        integer :: nsnow_parameters = 0
        integer :: nhy_parameters = 0
        integer :: nrt_parameters = 0
        integer :: nsnow_states = 0
        integer :: nhy_states = 0
        integer :: nrt_states = 0
        !> Columns of the flux series: [snow | hydrological | routing].
        integer :: nsnow_fluxes = 0
        integer :: nhy_fluxes = 0
        integer :: nrt_fluxes = 0
        !> Net of the hybrid structures (see md_mlp): input, hidden and output
        !> sizes (nn_nh2 = 0: one hidden layer) and its number of weights;
        !> nn_nout = 0 for the conceptual structures.
        integer :: nn_nin = 0
        integer :: nn_nh1 = 0
        integer :: nn_nh2 = 0
        integer :: nn_nout = 0
        integer :: nn_nweights = 0
        !> Number of OpenMP threads used over cells (1 = serial).
        integer :: ncpu = 1
        !> Rainfall-runoff cells of thread i (0-based): rr_split(i) + 1 .. rr_split(i + 1), split by
        !> expected work, which missing and dry forcings make uneven (md_parallel%split_block).
        integer :: rr_split(0:max_threads) = 0
        !> Time steps per checkpointed chunk of the adjoint's time loop (0: about
        !> sqrt(ntime_step)). The reverse sweep keeps one snapshot of the states per
        !> chunk and the tape of one chunk, instead of the tape of every step.
        integer :: checkpoint_steps = 0
        !> Time steps per checkpointed segment of chunks (0: one segment, no nesting). Nested
        !> checkpointing: the reverse sweep re-runs a segment from its snapshot, keeping one snapshot
        !> per chunk of it, so the snapshots held at once are one per segment plus one per chunk of a
        !> segment. Rounded down to whole chunks.
        integer :: checkpoint_segment_steps = 0
        !> Time steps per block of a chunk that rainfall-runoff, then routing, run
        !> through at once (0: just above 2**14 cell-steps).
        integer :: block_steps = 0
        !> Cells per piece of a forward run's rainfall-runoff that threads take in turn (0: pieces of
        !> md_forward's size on grids large enough, else each thread's fixed share; < 0: the fixed
        !> share). The adjoint always runs the fixed share.
        integer :: piece_cells = 0
    end type SetupDT

end module md_setup
