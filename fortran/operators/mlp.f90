!> The small multilayer perceptron of the hybrid structures: one or two
!> hidden layers with SiLU activations and a TanH output, evaluated at every
!> time step over blocks of cells (mlp_block) to correct internal fluxes.
!>
!> Shape of a net: nn = [nin, nh1, nh2, nout, nweights], nh2 = 0 for a
!> single hidden layer. Its weights are one flat vector, layer after layer;
!> each layer holds its matrix W(nout_layer, nin_layer) in column-major order
!> followed by its bias b(nout_layer). nout = 0 means "no net": callers then
!> apply no correction.
module md_mlp
    use md_kinds, only: rk
    implicit none
    private

    !> Most inputs, and most outputs, of the net of any hybrid structure (the
    !> leading dimension of the blocks of inputs and outputs).
    integer, parameter :: NET_MAX = 5
    !> Cells per group in a block (dense_block): the block's cell count passed to
    !> mlp_block is a multiple of it.
    integer, parameter :: NET_LANES = 4
    !> Groups of NET_LANES cells whose sums dense_block keeps in registers at once.
    integer, parameter :: NET_GROUPS = 4
    public :: mlp_block, mlp_nweights, NET_MAX, NET_LANES

contains

    !> Number of weights and biases of a net of the given sizes.
    pure function mlp_nweights(nin, nh1, nh2, nout) result(n)
        integer, intent(in) :: nin, nh1, nh2, nout
        integer :: n

        if (nh2 > 0) then
            n = nh1*(nin + 1) + nh2*(nh1 + 1) + nout*(nh2 + 1)
        else
            n = nh1*(nin + 1) + nout*(nh1 + 1)
        end if
    end function mlp_nweights

    !> Z = X W^T + b for one layer whose weights start at w(1), over the nb
    !> cells of a block, one a row: row c of x (columns 1..nin, ldx rows
    !> declared) holds the layer's inputs of the block's c-th cell, row c of z
    !> its values. Each entry sums its terms in the order of a single cell's
    !> evaluation, bias first. Cells fastest: the innermost loop runs over the
    !> block's cells with one weight, a long vector loop; with the neurons
    !> fastest it ran over a layer's 4 to 16 neurons (Cance's default net:
    !> 53 against 20 ns a cell for both layers).
    !>
    !> The cells go by groups of NET_LANES (nb a multiple of it), and the
    !> weights are read from NET_LANES copies, one a cell of the group
    !> (wl(l, :) for its l-th cell). The values are those of w itself; the copies
    !> are for the generated adjoint, which adds each weight's adjoint over the
    !> cells: read from a single w(m) it summed the block's nb terms one after
    !> the other into w_b(m), a chain of dependent additions (most of a hybrid's
    !> net adjoint); into wl_b(1:NET_LANES, m) it runs NET_LANES independent sums,
    !> a vector addition per group, added into w_b once per block.
    !>
    !> NET_GROUPS groups of cells at a time, each group's sums held in a local
    !> (registers) along the layer's inputs: with the cells innermost the sums
    !> went through memory, a load and a store of z per weight and group (the
    !> loop was bound by them; gfortran interchanges a plain loop over groups
    !> back inside the loop over inputs, not one with the sums in a local). The
    !> same operations in the same order for every cell, whether its group is
    !> taken NET_GROUPS at a time or in the loop of the groups left: the values
    !> do not change, nor does the order in which the adjoint adds into each
    !> weight's lane sums (the groups from last to first).
    subroutine dense_block(nin, nout, ldx, nb, w, x, z)
        integer, intent(in) :: nin, nout, ldx, nb
        real(rk), intent(in) :: w(nout*(nin + 1)), x(ldx, nin)
        real(rk), intent(out) :: z(nb, nout)

        real(rk) :: wl(NET_LANES, nout*(nin + 1))
        real(rk) :: acc(NET_LANES, 0:NET_GROUPS - 1)   ! sums of NET_GROUPS groups along the inputs
        integer :: g, gb, l, i, j, m, q, ng

        do m = 1, nout*(nin + 1)
            do l = 1, NET_LANES
                wl(l, m) = w(m)
            end do
        end do
        ng = nb/NET_LANES
        do j = 1, nout
            ! NET_GROUPS groups at a time (groups gb*NET_GROUPS + q), their sums in registers
            ! along the inputs. A loop of unit step: Tapenade 3.16 reverses a loop of step
            ! NET_GROUPS from a start it computes, which is wrong when the loop runs no
            ! iteration (ng < NET_GROUPS: the reverse sweep ran one, out of the block).
            do gb = 0, ng/NET_GROUPS - 1
                do q = 0, NET_GROUPS - 1
                    do l = 1, NET_LANES
                        acc(l, q) = wl(l, nout*nin + j)
                    end do
                end do
                do i = 1, nin
                    do q = 0, NET_GROUPS - 1
                        do l = 1, NET_LANES
                            acc(l, q) = acc(l, q) + wl(l, (i - 1)*nout + j)*x((gb*NET_GROUPS + q)*NET_LANES + l, i)
                        end do
                    end do
                end do
                do q = 0, NET_GROUPS - 1
                    do l = 1, NET_LANES
                        z((gb*NET_GROUPS + q)*NET_LANES + l, j) = acc(l, q)
                    end do
                end do
            end do
            ! the groups left, one at a time
            do g = ng/NET_GROUPS*NET_GROUPS, ng - 1
                do l = 1, NET_LANES
                    z(g*NET_LANES + l, j) = wl(l, nout*nin + j)
                end do
                do i = 1, nin
                    do l = 1, NET_LANES
                        z(g*NET_LANES + l, j) = z(g*NET_LANES + l, j) + wl(l, (i - 1)*nout + j)*x(g*NET_LANES + l, i)
                    end do
                end do
            end do
        end do
    end subroutine dense_block

    !> SiLU of every entry, a = z*sigmoid(z), written so that exp never
    !> overflows (its adjoint would otherwise meet inf/inf for very negative z):
    !> z/(1 + e) for z >= 0 and z*e/(1 + e) for z < 0, with e = exp(-|z|).
    !> Without a branch: the signs of a layer's entries follow no pattern and
    !> a branch on them was mispredicted half the time. With s = sign(1, z),
    !> |z| = z*s and the factor (1 + s)/2 + (1 - s)/2*e is exactly 1 or e, so
    !> the values are those of the two branches. One statement without
    !> temporaries, z left as it is: the adjoint recomputes e from z instead
    !> of saving values entry by entry (that tape traffic was most of a
    !> hybrid's gradient), and |z| has no branch for it to record.
    !> Rows are cells (see dense_block), and the loop over the cells is the
    !> inner one, a contiguous vector loop in both sweeps. gfortran calls
    !> libmvec's vector exp in the vector part of a loop and the scalar exp in
    !> its remainder, which differ in the last bit: nr is a multiple of
    !> NET_LANES (mlp_block), so the vector part (2 or 4 doubles) takes every
    !> cell, and a cell's values do not depend on its place in the block, nor
    !> on the thread count.
    subroutine silu_block(nr, nc, z, a)
        integer, intent(in) :: nr, nc
        real(rk), intent(in) :: z(nr, nc)
        real(rk), intent(out) :: a(nr, nc)

        integer :: i, c

        do c = 1, nc
            do i = 1, nr
                a(i, c) = z(i, c)*(0.5_rk + sign(0.5_rk, z(i, c)) &
                                   + (0.5_rk - sign(0.5_rk, z(i, c)))*exp(-z(i, c)*sign(1._rk, z(i, c)))) &
                          /(1._rk + exp(-z(i, c)*sign(1._rk, z(i, c))))
            end do
        end do
    end subroutine silu_block

    !> The net over a block of nb cells at once: row c of x (columns 1..nin)
    !> holds the inputs of the block's c-th cell, row c of y (columns 1..nout)
    !> receives its outputs; ldx rows are declared in both. nb is a multiple
    !> of NET_LANES (see dense_block): callers round their cell count up and
    !> give the rows past their cells finite inputs (zeros), whose outputs
    !> they ignore. The sizes are those
    !> of md_mlp's nn (nin, nh1, nh2, nout), passed one by one: the callers set
    !> them for every block, so that Tapenade saves them for the adjoint, which
    !> sizes its work arrays with them. Each layer is one
    !> matrix product over the block's cells, so the calls, loop set-up and,
    !> in the adjoint, the tape traffic of the tiny per-cell products are shared
    !> by the block. Every output is computed by the same operations in the same
    !> order as for a single cell (no fused multiply-add in the default build):
    !> a cell's result does not depend on the block it falls in, nor on the
    !> number of threads.
    subroutine mlp_block(nin, nh1, nh2, nout, ldx, nb, w, x, y)
        integer, intent(in) :: nin, nh1, nh2, nout, ldx, nb
        real(rk), intent(in) :: w(:)
        real(rk), intent(in) :: x(ldx, nin)
        real(rk), intent(inout) :: y(ldx, nout)

        ! z: a layer's values before its activation, a: after (a row per cell).
        real(rk) :: z1(nb, nh1), a1(nb, nh1), z2(nb, max(nh2, 1)), a2(nb, max(nh2, 1)), z(nb, nout)
        integer :: off

        !$AD NOCHECKPOINT
        call dense_block(nin, nh1, ldx, nb, w(1:nh1*(nin + 1)), x, z1)
        !$AD NOCHECKPOINT
        call silu_block(nb, nh1, z1, a1)
        off = nh1*(nin + 1)
        if (nh2 > 0) then
            !$AD NOCHECKPOINT
            call dense_block(nh1, nh2, nb, nb, w(off + 1:off + nh2*(nh1 + 1)), a1, z2)
            !$AD NOCHECKPOINT
            call silu_block(nb, nh2, z2, a2)
            off = off + nh2*(nh1 + 1)
            !$AD NOCHECKPOINT
            call dense_block(nh2, nout, nb, nb, w(off + 1:off + nout*(nh2 + 1)), a2, z)
        else
            !$AD NOCHECKPOINT
            call dense_block(nh1, nout, nb, nb, w(off + 1:off + nout*(nh1 + 1)), a1, z)
        end if
        !$AD NOCHECKPOINT
        call tanh_block(nb, nout, z, ldx, y)
    end subroutine mlp_block

    !> TanH of every entry of z into rows 1..nr of y, from one exp of -2|z|:
    !> tanh(z) = s (1 - e)/(1 + e), s = sign(1, z), e = exp(-2 z s), written
    !> like silu_block (no branch, |z| = z s, e never overflows). The vector
    !> exp of libmvec that gfortran calls here costs about 60 % of its vector
    !> tanh (2.5 against 4.1 ns an entry, measured on this machine); the
    !> values differ from tanh's by at most 2.2e-16 (absolute: near 0 the
    !> relative error grows as 1 - e cancels, but the outputs only enter as
    !> 1 + f). Loop order as in silu_block.
    subroutine tanh_block(nr, nc, z, ldy, y)
        integer, intent(in) :: nr, nc, ldy
        real(rk), intent(in) :: z(nr, nc)
        real(rk), intent(inout) :: y(ldy, nc)

        integer :: i, c

        do c = 1, nc
            do i = 1, nr
                y(i, c) = sign(1._rk, z(i, c))*(1._rk - exp(-2._rk*z(i, c)*sign(1._rk, z(i, c)))) &
                          /(1._rk + exp(-2._rk*z(i, c)*sign(1._rk, z(i, c))))
            end do
        end do
    end subroutine tanh_block

end module md_mlp
