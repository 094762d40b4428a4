!> Forcings and observations on active cells, time as the last (slowest)
!> index so one step's values over all cells are contiguous.
module md_input_data
    use md_kinds, only: sp
    implicit none
    private :: swap_steps, swap_days, swap_shares

    type InputDataDT
        !> Atmospheric forcings (nac, ntime_step) in mm per step (temp in degC).
        !> Negative prcp/pet/snow mean "missing".
        real(sp), allocatable :: prcp(:, :)
        real(sp), allocatable :: pet(:, :)
        real(sp), allocatable :: snow(:, :)
        real(sp), allocatable :: temp(:, :)
        !> Impervious share of each active cell (nac), in [0, 1]: 0 unless read (setup read_imperviousness).
        real(sp), allocatable :: imperviousness(:)
        !> Observed discharge (ng, ntime_step) in m3/s; negative = missing.
        real(sp), allocatable :: qobs(:, :)
        !> Sparse storage (setup sparse_storage; then prcp .. temp are (1, 1)). Forcing j
        !> (1 prcp, 2 pet, 3 snow, 4 temp) at step t is sp_values(sp_start(t, j) : sp_start(t + 1, j) - 1):
        !> every active cell in order when sp_coo(t, j) == 0; else only the cells differing from
        !> sp_zvalue(t, j), whose increasing numbers are sp_index(sp_istart(t, j) : ...), as many as
        !> the values. A step is stored so when at most half its cells differ (smash 1.x's rule: an
        !> index and a value then take no more room than the dense step).
        logical :: sparse = .false.
        integer, allocatable :: sp_start(:, :), sp_istart(:, :), sp_coo(:, :)
        real(sp), allocatable :: sp_zvalue(:, :)
        real(sp), allocatable :: sp_values(:)
        integer, allocatable :: sp_index(:)
        !> Streamed forcings (smash.stream): 0 when prcp .. temp hold every step; w > 0 when they
        !> hold w steps only, those of the current window (steps (c - 1) w + 1 .. c w, column
        !> t - (c - 1) w), which md_forward asks for at the start of each chunk (forcing_window).
        integer :: window_steps = 0
        !> Streamed: the window read ahead while the current one is computed, the size of prcp .. temp;
        !> input_data_swap_window makes it the current one (no copy).
        real(sp), allocatable :: prcp_next(:, :)
        real(sp), allocatable :: pet_next(:, :)
        real(sp), allocatable :: snow_next(:, :)
        real(sp), allocatable :: temp_next(:, :)
        !> Streamed daily interannual PET (smash.stream): when set, pet holds in its first columns the
        !> maps of the window's days, and step t of the window takes pet(:, pet_day(t)) * pet_share(t):
        !> the float32 product smash.inputs.atmos spreads a day's map over its steps with, so the values
        !> are those of the whole period's hourly array, for 1/24 of the reading (hourly steps).
        logical :: pet_by_day = .false.
        integer, allocatable :: pet_day(:), pet_day_next(:)
        real(sp), allocatable :: pet_share(:), pet_share_next(:)
    end type InputDataDT

contains

    subroutine input_data_alloc(this, nac, ng, ntime_step, with_snow)
        type(InputDataDT), intent(inout) :: this
        integer, intent(in) :: nac, ng, ntime_step
        logical, intent(in) :: with_snow

        call input_data_dealloc(this)
        allocate (this%prcp(nac, ntime_step), this%pet(nac, ntime_step))
        allocate (this%qobs(max(ng, 1), ntime_step))
        allocate (this%imperviousness(nac))
        ! Snow forcings cost as much as prcp: only hold them for a snow module.
        if (with_snow) then
            allocate (this%snow(nac, ntime_step), this%temp(nac, ntime_step))
        else
            ! One row, every step: rainfall_runoff_step passes a step's column either way.
            allocate (this%snow(1, ntime_step), this%temp(1, ntime_step))
        end if
        this%prcp = -99._sp
        this%pet = -99._sp
        this%qobs = -99._sp
        this%snow = -99._sp
        this%temp = 0._sp
        this%imperviousness = 0._sp
    end subroutine input_data_alloc

    !> The imperviousness of nac cells (sparse storage allocates the forcings with one row).
    subroutine input_data_alloc_imperviousness(this, nac)
        type(InputDataDT), intent(inout) :: this
        integer, intent(in) :: nac

        if (allocated(this%imperviousness)) deallocate (this%imperviousness)
        allocate (this%imperviousness(nac))
        this%imperviousness = 0._sp
    end subroutine input_data_alloc_imperviousness

    !> Dense forcings of `window` steps (streamed: md_input_data header) and (ng, ntime_step) discharge.
    subroutine input_data_alloc_window(this, nac, ng, ntime_step, window, with_snow)
        type(InputDataDT), intent(inout) :: this
        integer, intent(in) :: nac, ng, ntime_step, window
        logical, intent(in) :: with_snow

        call input_data_alloc(this, nac, ng, window, with_snow)
        deallocate (this%qobs)
        allocate (this%qobs(max(ng, 1), ntime_step))
        this%qobs = -99._sp
        this%window_steps = window
        allocate (this%prcp_next, mold=this%prcp)
        allocate (this%pet_next, mold=this%pet)
        allocate (this%snow_next, mold=this%snow)
        allocate (this%temp_next, mold=this%temp)
        this%prcp_next = -99._sp
        this%pet_next = -99._sp
        this%snow_next = -99._sp
        this%temp_next = 0._sp
        allocate (this%pet_day(window), this%pet_day_next(window), this%pet_share(window), this%pet_share_next(window))
        this%pet_day = 1
        this%pet_day_next = 1
        this%pet_share = 1._sp
        this%pet_share_next = 1._sp
    end subroutine input_data_alloc_window

    !> Streamed: the window read ahead (prcp_next .. temp_next) becomes the current one, and the
    !> current one the room for the next (the arrays swapped, not copied: the reader fills one while
    !> the core computes on the other).
    subroutine input_data_swap_window(this)
        type(InputDataDT), intent(inout) :: this

        call swap_steps(this%prcp, this%prcp_next)
        call swap_steps(this%pet, this%pet_next)
        call swap_steps(this%snow, this%snow_next)
        call swap_steps(this%temp, this%temp_next)
        call swap_days(this%pet_day, this%pet_day_next)
        call swap_shares(this%pet_share, this%pet_share_next)
    end subroutine input_data_swap_window

    subroutine swap_steps(current, next)
        real(sp), allocatable, intent(inout) :: current(:, :), next(:, :)

        real(sp), allocatable :: held(:, :)

        call move_alloc(current, held)
        call move_alloc(next, current)
        call move_alloc(held, next)
    end subroutine swap_steps

    subroutine swap_days(current, next)
        integer, allocatable, intent(inout) :: current(:), next(:)

        integer, allocatable :: held(:)

        call move_alloc(current, held)
        call move_alloc(next, current)
        call move_alloc(held, next)
    end subroutine swap_days

    subroutine swap_shares(current, next)
        real(sp), allocatable, intent(inout) :: current(:), next(:)

        real(sp), allocatable :: held(:)

        call move_alloc(current, held)
        call move_alloc(next, current)
        call move_alloc(held, next)
    end subroutine swap_shares

    !> Room for sparse forcings: nvalue values, nindex indices (md_input_data header).
    subroutine input_data_alloc_sparse(this, ntime_step, nvalue, nindex)
        type(InputDataDT), intent(inout) :: this
        integer, intent(in) :: ntime_step, nvalue, nindex

        if (allocated(this%sp_start)) deallocate (this%sp_start, this%sp_istart, this%sp_coo, this%sp_zvalue)
        if (allocated(this%sp_values)) deallocate (this%sp_values, this%sp_index)
        allocate (this%sp_start(ntime_step + 1, 4), this%sp_istart(ntime_step + 1, 4), this%sp_coo(ntime_step, 4))
        allocate (this%sp_zvalue(ntime_step, 4))
        allocate (this%sp_values(max(nvalue, 1)), this%sp_index(max(nindex, 1)))
        this%sp_start = 1
        this%sp_istart = 1
        this%sp_coo = 1
        this%sp_zvalue = -99._sp
        this%sp_values = 0._sp
        this%sp_index = 0
        this%sparse = .true.
    end subroutine input_data_alloc_sparse

    !> Forcing j of the cells c0 .. c1 at step t from the sparse storage into out(1 : c1 - c0 + 1).
    subroutine sparse_cells(this, j, t, c0, c1, out)
        type(InputDataDT), intent(in) :: this
        integer, intent(in) :: j, t, c0, c1
        real(sp), intent(inout) :: out(:)

        integer :: first, n, i0, lo, hi, mid, i, c

        first = this%sp_start(t, j)
        n = this%sp_start(t + 1, j) - first
        if (this%sp_coo(t, j) == 0) then
            out(1:c1 - c0 + 1) = this%sp_values(first + c0 - 1:first + c1 - 1)
        else
            out(1:c1 - c0 + 1) = this%sp_zvalue(t, j)
            i0 = this%sp_istart(t, j)
            ! First stored cell >= c0 (the indices of a step increase).
            lo = 0
            hi = n
            do while (lo < hi)
                mid = (lo + hi)/2
                if (this%sp_index(i0 + mid) < c0) then
                    lo = mid + 1
                else
                    hi = mid
                end if
            end do
            do i = lo, n - 1
                c = this%sp_index(i0 + i)
                if (c > c1) exit
                out(c - c0 + 1) = this%sp_values(first + i)
            end do
        end if
    end subroutine sparse_cells

    subroutine input_data_dealloc(this)
        type(InputDataDT), intent(inout) :: this

        if (allocated(this%prcp)) deallocate (this%prcp)
        if (allocated(this%pet)) deallocate (this%pet)
        if (allocated(this%snow)) deallocate (this%snow)
        if (allocated(this%temp)) deallocate (this%temp)
        if (allocated(this%prcp_next)) deallocate (this%prcp_next, this%pet_next, this%snow_next, this%temp_next)
        if (allocated(this%pet_day)) deallocate (this%pet_day, this%pet_day_next, this%pet_share, this%pet_share_next)
        this%pet_by_day = .false.
        if (allocated(this%qobs)) deallocate (this%qobs)
        if (allocated(this%imperviousness)) deallocate (this%imperviousness)
        if (allocated(this%sp_start)) deallocate (this%sp_start, this%sp_istart, this%sp_coo, this%sp_zvalue)
        if (allocated(this%sp_values)) deallocate (this%sp_values, this%sp_index)
        this%sparse = .false.
        this%window_steps = 0
    end subroutine input_data_dealloc

end module md_input_data
