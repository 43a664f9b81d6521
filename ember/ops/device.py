"""Moving a tensor between devices (``Tensor.to(device)``, ``.cpu()``, ``.cuda()``).

A move is the differentiable op ``ToDevice``: a copy on the destination whose
gradient is copied back to where the input lives (torch's ``ToCopyBackward0``).
Copies go through the host (``to_host`` then ``from_host``); a backend with
numbered devices (CUDA) places the copy on the device number asked for, the
current device when none is.
"""
from .. import backends
from ..autograd import function as _function
from ..autograd.function import Op
from ..backends import backend_of


def to_device(t, backend, index=None):
    """``t`` on ``backend`` (None: the CPU), device number ``index`` where the
    backend numbers its devices (None: the current one, or wherever ``t``
    already is on that backend): itself when already there, else a copy that
    gradients flow back through."""
    src = backend_of(t._data)
    dst = backend or backends.get("cpu")
    if src is dst and (index is None or dst.runtime is None
                       or dst.runtime.index_of(t._data) == index):
        return t
    return ToDevice.apply(t, src, dst, index)


def _move(x, src, dst, index):
    host = src.to_host(x)
    with backends.placed(dst, index):
        return dst.from_host(host)


class ToDevice(Op):
    """A copy of ``x`` on backend ``dst`` (device ``index``); the gradient goes
    back to ``src`` (the device ``x`` was on)."""
    _ctx_fields = ("src", "src_index")
    _node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, src, dst, index=None):
        ctx.src = src
        ctx.src_index = src.runtime.index_of(x) if src.runtime is not None else None
        return _move(x, src, dst, index)

    @staticmethod
    def backward(ctx, g):
        if not hasattr(g, "_data"):          # (an array; a Tensor under create_graph)
            return _move(g, backend_of(g), ctx.src, ctx.src_index), None, None, None
        return to_device(g, ctx.src, ctx.src_index), None, None, None


_function._mover[0] = to_device     # (the 0-d CPU operand retry in Op.apply moves with it)
