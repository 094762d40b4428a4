!> The drainage network as the core walks it. Active cells are stored in a
!> 1-D order where every cell comes after all cells draining into it, grouped
!> in levels of mutually independent cells (upstream-most first). Each level
!> can then be processed in parallel, and routing reads only finished cells.
module md_mesh
    use md_kinds, only: rk
    implicit none

    type MeshDT
        integer :: nrow = 0
        integer :: ncol = 0
        integer :: nac = 0
        integer :: ng = 0
        integer :: nlevel = 0
        !> 1-based grid position of each ordered active cell.
        integer, allocatable :: cell_row(:)
        integer, allocatable :: cell_col(:)
        !> Cells of level l are level_start(l) .. level_start(l+1)-1.
        integer, allocatable :: level_start(:)
        !> Direct upstream cells of cell k: up_cell(up_start(k) .. up_start(k+1)-1).
        integer, allocatable :: up_start(:)
        integer, allocatable :: up_cell(:)
        real(rk), allocatable :: dx(:)
        real(rk), allocatable :: dy(:)
        !> Drained area upstream of the cell, cell excluded (m2).
        real(rk), allocatable :: up_area(:)
        !> Ordered cell index of each gauge.
        integer, allocatable :: gauge_cell(:)
    end type MeshDT

contains

    subroutine mesh_alloc(this, nrow, ncol, nac, ng, nlevel, nup)
        type(MeshDT), intent(inout) :: this
        integer, intent(in) :: nrow, ncol, nac, ng, nlevel, nup

        call mesh_dealloc(this)
        this%nrow = nrow
        this%ncol = ncol
        this%nac = nac
        this%ng = ng
        this%nlevel = nlevel
        allocate (this%cell_row(nac), this%cell_col(nac))
        allocate (this%level_start(nlevel + 1))
        allocate (this%up_start(nac + 1), this%up_cell(max(nup, 1)))
        allocate (this%dx(nac), this%dy(nac), this%up_area(nac))
        allocate (this%gauge_cell(max(ng, 1)))
        this%up_cell = 0
        this%gauge_cell = 0
    end subroutine mesh_alloc

    subroutine mesh_dealloc(this)
        type(MeshDT), intent(inout) :: this

        if (allocated(this%cell_row)) deallocate (this%cell_row)
        if (allocated(this%cell_col)) deallocate (this%cell_col)
        if (allocated(this%level_start)) deallocate (this%level_start)
        if (allocated(this%up_start)) deallocate (this%up_start)
        if (allocated(this%up_cell)) deallocate (this%up_cell)
        if (allocated(this%dx)) deallocate (this%dx)
        if (allocated(this%dy)) deallocate (this%dy)
        if (allocated(this%up_area)) deallocate (this%up_area)
        if (allocated(this%gauge_cell)) deallocate (this%gauge_cell)
    end subroutine mesh_dealloc

end module md_mesh
