"""Activations that are ops as well as ``torch.nn.functional`` functions:
``torch.softmax``/``Tensor.softmax``, ``log_softmax``, ``hardshrink``, ``prelu``.

One Op each serves ``torch.*``, ``Tensor.*`` and ``F.*`` (which adds torch's
functional spellings: ``F.softmax(x, dim=None, _stacklevel=3, dtype=None)``);
the other activations live in ember/nn/functional/activation.py.
"""
import operator
import warnings

from .. import _dtype as D
from .._tensor_base import TensorBase, _dim
from ..autograd.function import Op
from ..backends import namespace, kernels
from . import _bw
from ._bw import mask as _mask
from ._util import cast
from .math import tie
from .._bfloat16 import is_float as _isf
from .._autocast import autocast_op

__all__ = ["softmax", "log_softmax", "hardshrink", "prelu"]


# ---- softmax ----------------------------------------------------------------------------

class _Softmax(Op):
    """exp(x - max) / sum along ``dim``; backward y * (g - sum(g * y))."""
    _ctx_fields = ("dim",)
    _node_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        e = kernels(x).softmax(x, dim, False)
        if ctx.needs_input_grad:
            ctx.save_for_backward(e)
            ctx.dim = dim
        return e

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        if isinstance(g, TensorBase) or isinstance(y, TensorBase):
            gy = g * y
            return gy - y * _bw.sum(gy, axis=ctx.dim, keepdims=True)
        return kernels(y).softmax_backward(g, y, ctx.dim)


class _LogSoftmax(Op):
    """x - max - log(sum(exp(x - max))) along ``dim``; backward g - exp(y) * sum(g)."""
    _ctx_fields = ("dim",)
    _node_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        s = kernels(x).softmax(x, dim, True)
        if ctx.needs_input_grad:
            ctx.save_for_backward(s)
            ctx.dim = dim
        return s

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        if isinstance(g, TensorBase) or isinstance(y, TensorBase):
            return g - _bw.exp(y) * _bw.sum(g, axis=ctx.dim, keepdims=True)
        return kernels(y).log_softmax_backward(g, y, ctx.dim)


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax_like(op, name, input, dim, stacklevel, dtype):
    """Run softmax-like ``op`` along ``dim`` with torch's checks and dim default."""
    if dtype is not None:
        input = cast(input, D.to_dtype(dtype))
    elif not _isf(input._data.dtype):
        raise NotImplementedError(f"\"{name}_lastdim_kernel_impl\" not implemented for "
                                  f"'{D.scalar_name_of(input._data.dtype)}'")
    nd = input._data.ndim
    if dim is None:
        dim = _get_softmax_dim(name, nd, stacklevel + 1)
    try:
        d = _dim(dim if type(dim) is int else operator.index(dim), nd)
    except TypeError:   # (a str, a float...: torch names the op and the argument)
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}") \
            from None
    if nd == 0:
        return op.apply(input.reshape(1), 0).reshape(())
    if input._data.shape[d] == 0:  # nothing to normalise over (NumPy's max would raise)
        return input.clone()
    return op.apply(input, d)

def softmax(input, dim, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (optionally computed in ``dtype``)."""
    return softmax_like(_Softmax, "softmax", input, dim, 3, dtype)


def log_softmax(input, dim, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably in one pass."""
    return softmax_like(_LogSoftmax, "log_softmax", input, dim, 3, dtype)


# ---- shrink, prelu ---------------------------------------------------------------------

class _Shrink(Op):
    """softshrink (shift=lambd) and hardshrink (shift=0): zero inside [-l, l]."""
    _ctx_fields = ("lambd",)

    @staticmethod
    def forward(ctx, x, lambd, shift):
        out = (x > lambd) | (x < -lambd)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.lambd = lambd
        xp = namespace(x)
        if shift:
            y = xp.where(x > lambd, x - lambd, xp.where(x < -lambd, x + lambd, 0))
        else:
            y = xp.where(out, x, 0)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        xd, lambd = _bw.data(x), ctx.lambd
        return tie(g * _mask((xd > lambd) | (xd < -lambd), g), x)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return _Shrink.apply(input, lambd, False)


class _PReLU(Op):
    """y = x if x > 0 else w * x, with w broadcast against x."""
    _node_name = "PreluKernelBackward0"

    @staticmethod
    def forward(ctx, x, w):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
        return namespace(x).where(x > 0, x, w * x)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        neg = _mask(_bw.data(x) <= 0, g)
        gx = g * (1 - neg + neg * w) if need[0] else None
        gw = g * x * neg if need[1] else None   # the engine sums it down to w's shape
        return gx, gw


@autocast_op("lower")
def prelu(input, weight):
    """x if x > 0 else weight * x; weight has 1 or C entries, C = input.size(1)
    (or 1 when the input has fewer than 2 dims)."""
    x = input._data
    nw = weight._data.size
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight._data.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {weight._data.ndim}")
    if nw != 1 and nw != channels:
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter "
                           f"numbers = {nw} and channel size = {channels}.")
    if nw != 1 and x.ndim > 2:
        weight = weight.reshape((nw,) + (1,) * (x.ndim - 2))
    elif nw == 1 and weight._data.ndim == 1 and x.ndim == 0:
        weight = weight.reshape(())
    return _PReLU.apply(input, weight)
