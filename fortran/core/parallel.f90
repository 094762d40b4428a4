!> Work sharing that the adjoint can rely on. The generated adjoint's forward
!> sweep pushes each cell's values on the tape of the thread that computed it
!> and the reverse sweep pops them: both sweeps must give every thread the
!> same cells, which `cell_block` does by a fixed contiguous split of 1..n
!> (an OpenMP `do` over a reversed loop would hand out the blocks the other way).
module md_parallel
    implicit none
    private
    public :: cell_block, split_block, thread_index

contains

    subroutine cell_block(n, first, last)
        !$ use omp_lib, only: omp_get_thread_num, omp_get_num_threads
        integer, intent(in) :: n
        integer, intent(out) :: first, last

        integer :: id, nthreads, base, extra

        id = 0
        nthreads = 1
        !$ id = omp_get_thread_num()
        !$ nthreads = omp_get_num_threads()
        base = n/nthreads
        extra = mod(n, nthreads)
        first = id*base + min(id, extra) + 1
        last = first + base - 1
        if (id < extra) last = last + 1
    end subroutine cell_block

    !> This thread's cells first..last of 1..n by the split points `split` (thread i takes
    !> split(i) + 1 .. split(i + 1)); an even cell_block when they do not split 1..n between
    !> the threads of the team (not set, or fewer threads than asked for).
    subroutine split_block(n, split, first, last)
        !$ use omp_lib, only: omp_get_thread_num, omp_get_num_threads
        integer, intent(in) :: n
        integer, intent(in) :: split(0:)
        integer, intent(out) :: first, last

        integer :: id, nthreads

        id = 0
        nthreads = 1
        !$ id = omp_get_thread_num()
        !$ nthreads = omp_get_num_threads()
        if (nthreads < size(split) .and. split(0) == 0 .and. split(min(nthreads, size(split) - 1)) == n) then
            first = split(id) + 1
            last = split(id + 1)
        else
            call cell_block(n, first, last)
        end if
    end subroutine split_block

    !> 0-based number of the calling thread in its team (0 without OpenMP).
    integer function thread_index() result(id)
        !$ use omp_lib, only: omp_get_thread_num
        id = 0
        !$ id = omp_get_thread_num()
    end function thread_index

end module md_parallel
