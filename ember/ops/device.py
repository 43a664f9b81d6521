"""Moving a tensor between devices (``Tensor.to(device)``, ``.cpu()``, ``.cuda()``)."""
from ..autograd.function import Op
from ..backends import backend_of


class ToDevice(Op):
    """A copy of ``x`` on backend ``dst``; the gradient goes back to ``src``."""
    _node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, src, dst):
        ctx.src = src
        return dst.from_host(src.to_host(x))

    @staticmethod
    def backward(ctx, g):
        if not hasattr(g, "_data"):          # (an array; a Tensor under create_graph)
            return ctx.src.from_host(backend_of(g).to_host(g)), None, None
        from .._tensor import _to_device
        return _to_device(g, ctx.src), None, None
