!> The drainage network as the core walks it. Active cells are stored in a
!> 1-D order where every cell comes after all cells draining into it, laid
!> out as the routing tree of python/smash/routing_tree.py: node n (children
!> 2n, 2n+1) holds cells node_first(n) .. node_last(n), its two halves first
!> (sub-catchments that never drain into each other) then its own trunk
!> trunk_first(n) .. node_last(n). Threads route nodes side by side.
module md_mesh
    use md_kinds, only: rk
    implicit none

    type MeshDT
        integer :: nrow = 0
        integer :: ncol = 0
        integer :: nac = 0
        integer :: ng = 0
        integer :: tree_depth = 0
        !> 1-based grid position of each ordered active cell.
        integer, allocatable :: cell_row(:)
        integer, allocatable :: cell_col(:)
        !> Direct upstream cells of cell k: up_cell(up_start(k) .. up_start(k+1)-1).
        integer, allocatable :: up_start(:)
        integer, allocatable :: up_cell(:)
        real(rk), allocatable :: dx(:)
        real(rk), allocatable :: dy(:)
        !> Drained area upstream of the cell, cell excluded (m2).
        real(rk), allocatable :: up_area(:)
        !> Ordered cell index of each gauge.
        integer, allocatable :: gauge_cell(:)
        !> Routing tree nodes 1 .. 2**(tree_depth+1) - 1 (an empty node has first > last).
        integer, allocatable :: node_first(:)
        integer, allocatable :: trunk_first(:)
        integer, allocatable :: node_last(:)
    end type MeshDT

contains

    subroutine mesh_alloc(this, nrow, ncol, nac, ng, nup, tree_depth)
        type(MeshDT), intent(inout) :: this
        integer, intent(in) :: nrow, ncol, nac, ng, nup, tree_depth

        call mesh_dealloc(this)
        this%nrow = nrow
        this%ncol = ncol
        this%nac = nac
        this%ng = ng
        this%tree_depth = tree_depth
        allocate (this%cell_row(nac), this%cell_col(nac))
        allocate (this%up_start(nac + 1), this%up_cell(max(nup, 1)))
        allocate (this%dx(nac), this%dy(nac), this%up_area(nac))
        allocate (this%gauge_cell(max(ng, 1)))
        allocate (this%node_first(2**(tree_depth + 1) - 1), this%trunk_first(2**(tree_depth + 1) - 1), &
                  this%node_last(2**(tree_depth + 1) - 1))
        this%up_cell = 0
        this%gauge_cell = 0
        ! Until set: one node holding every cell.
        this%node_first = 1
        this%trunk_first = 1
        this%node_last = 0
        this%node_last(1) = nac
    end subroutine mesh_alloc

    subroutine mesh_dealloc(this)
        type(MeshDT), intent(inout) :: this

        if (allocated(this%cell_row)) deallocate (this%cell_row)
        if (allocated(this%cell_col)) deallocate (this%cell_col)
        if (allocated(this%up_start)) deallocate (this%up_start)
        if (allocated(this%up_cell)) deallocate (this%up_cell)
        if (allocated(this%dx)) deallocate (this%dx)
        if (allocated(this%dy)) deallocate (this%dy)
        if (allocated(this%up_area)) deallocate (this%up_area)
        if (allocated(this%gauge_cell)) deallocate (this%gauge_cell)
        if (allocated(this%node_first)) deallocate (this%node_first)
        if (allocated(this%trunk_first)) deallocate (this%trunk_first)
        if (allocated(this%node_last)) deallocate (this%node_last)
    end subroutine mesh_dealloc

end module md_mesh
