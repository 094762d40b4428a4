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
    implicit none
    private
    public :: sp, rk

    ! selected_real_kind rather than iso_fortran_env: Tapenade's parser
    ! resolves these, and they give IEEE binary32 / binary64 with gfortran.
    integer, parameter :: sp = selected_real_kind(6, 37)
    integer, parameter :: rk = selected_real_kind(15, 307)
end module md_kinds
