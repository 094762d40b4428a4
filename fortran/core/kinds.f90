!> Numeric kinds shared by every Fortran unit of smash.
!>
!> Model computations (parameters, states, fluxes, discharge, cost) run in
!> `rk` = IEEE double precision: the adjoint is checked against finite
!> differences, which need more than the ~7 digits of single precision, and
!> calibration runs thousands of forward passes whose round-off would
!> otherwise accumulate. Atmospheric forcings are stored in single
!> precision (`sp`): they are measured to a few digits and are by far the
!> largest arrays (cells x time steps), so halving them matters at country scale.
module md_kinds
    use, intrinsic :: iso_fortran_env, only: real32, real64
    implicit none
    private
    public :: sp, rk

    integer, parameter :: sp = real32
    integer, parameter :: rk = real64
end module md_kinds
