!> The small multilayer perceptron of the hybrid structures: one or two
!> hidden layers with SiLU activations and a TanH output, evaluated per cell
!> and time step to correct internal fluxes.
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
    public :: mlp_forward, mlp_nweights

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

    !> z = W x + b for one layer whose weights start at w(1).
    subroutine dense(nin, nout, w, x, z)
        integer, intent(in) :: nin, nout
        real(rk), intent(in) :: w(nout*(nin + 1)), x(nin)
        real(rk), intent(out) :: z(nout)

        integer :: i, j

        do j = 1, nout
            z(j) = w(nout*nin + j)
        end do
        do i = 1, nin
            do j = 1, nout
                z(j) = z(j) + w((i - 1)*nout + j)*x(i)
            end do
        end do
    end subroutine dense

    !> SiLU z*sigmoid(z), written so that exp never overflows (its adjoint
    !> would otherwise meet inf/inf for very negative z).
    subroutine silu(n, z)
        integer, intent(in) :: n
        real(rk), intent(inout) :: z(n)

        integer :: j
        real(rk) :: e

        do j = 1, n
            if (z(j) >= 0._rk) then
                z(j) = z(j)/(1._rk + exp(-z(j)))
            else
                e = exp(z(j))
                z(j) = z(j)*e/(1._rk + e)
            end if
        end do
    end subroutine silu

    subroutine mlp_forward(nn, w, x, y)
        integer, intent(in) :: nn(5)
        real(rk), intent(in) :: w(:)
        real(rk), intent(in) :: x(:)
        real(rk), intent(out) :: y(:)

        real(rk) :: a1(nn(2)), a2(max(nn(3), 1))
        integer :: nin, nh1, nh2, nout, off, j

        nin = nn(1)
        nh1 = nn(2)
        nh2 = nn(3)
        nout = nn(4)
        !$AD NOCHECKPOINT
        call dense(nin, nh1, w(1:nh1*(nin + 1)), x(1:nin), a1)
        !$AD NOCHECKPOINT
        call silu(nh1, a1)
        off = nh1*(nin + 1)
        if (nh2 > 0) then
            !$AD NOCHECKPOINT
            call dense(nh1, nh2, w(off + 1:off + nh2*(nh1 + 1)), a1, a2)
            !$AD NOCHECKPOINT
            call silu(nh2, a2)
            off = off + nh2*(nh1 + 1)
            !$AD NOCHECKPOINT
            call dense(nh2, nout, w(off + 1:off + nout*(nh2 + 1)), a2, y(1:nout))
        else
            !$AD NOCHECKPOINT
            call dense(nh1, nout, w(off + 1:off + nout*(nh1 + 1)), a1, y(1:nout))
        end if
        do j = 1, nout
            y(j) = tanh(y(j))
        end do
    end subroutine mlp_forward

end module md_mlp
