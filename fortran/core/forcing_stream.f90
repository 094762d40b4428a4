!> Streamed forcings (smash.stream): the routine md_forward calls at the start of each chunk
!> to have the forcing arrays filled with that chunk's window of steps. Python registers it
!> (a C function pointer) before a run with streamed forcings and clears it after.
module md_forcing_stream
    use, intrinsic :: iso_c_binding, only: c_funptr, c_null_funptr, c_int, c_int64_t
    implicit none
    private
    public :: set_forcing_fetch, fetch_window

    abstract interface
        !> Fill the forcing arrays of the model being run with steps t0 .. t1 (1-based).
        subroutine fetch_proc(t0, t1) bind(c)
            import :: c_int
            integer(c_int), value :: t0, t1
        end subroutine fetch_proc
    end interface

    type(c_funptr), save :: fetch_address = c_null_funptr

contains

    !> Register the fetching function at C address `address` (0 clears it).
    subroutine set_forcing_fetch(address)
        integer(c_int64_t), intent(in) :: address

        fetch_address = transfer(address, fetch_address)
    end subroutine set_forcing_fetch

    subroutine fetch_window(t0, t1)
        use, intrinsic :: iso_c_binding, only: c_associated, c_f_procpointer
        integer, intent(in) :: t0, t1

        procedure(fetch_proc), pointer :: fetch

        ! A run of a model with streamed forcings outside smash.stream would read stale values.
        if (.not. c_associated(fetch_address)) error stop "smash: streamed forcings but no window reader registered"
        call c_f_procpointer(fetch_address, fetch)
        call fetch(int(t0, c_int), int(t1, c_int))
    end subroutine fetch_window

end module md_forcing_stream

!> md_forward's call for the window t0 .. t1: an external procedure (no module), which Tapenade
!> copies into the generated code as it is (its arguments are integers, nothing to differentiate).
subroutine forcing_window(t0, t1)
    use md_forcing_stream, only: fetch_window
    implicit none
    integer, intent(in) :: t0, t1

    call fetch_window(t0, t1)
end subroutine forcing_window
