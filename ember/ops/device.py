"""Moving a tensor between devices (``Tensor.to(device)``, ``.cpu()``, ``.cuda()``)."""
from .. import backends
from ..autograd.function import Op
from ..backends import backend_of


def to_device(t, backend):
    """``t`` on ``backend`` (None: the CPU): itself when already there, else a
    copy that gradients flow back through."""
    src = backend_of(t._data)
    dst = backend or backends.get("cpu")
    if src is dst:
        return t
    return ToDevice.apply(t, src, dst)


class ToDevice(Op):
    """A copy of ``x`` on backend ``dst``; the gradient goes back to ``src``."""
    _ctx_fields = ("src",)
    _node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, src, dst):
        ctx.src = src
        return dst.from_host(src.to_host(x))

    @staticmethod
    def backward(ctx, g):
        if not hasattr(g, "_data"):          # (an array; a Tensor under create_graph)
            return ctx.src.from_host(backend_of(g).to_host(g)), None, None
        return to_device(g, ctx.src), None, None
