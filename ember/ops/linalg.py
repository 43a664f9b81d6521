"""Linear algebra: matmul in all its 1-D/2-D/batched/broadcast forms, mm, bmm,
dot, outer, einsum, trace, diag."""
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap
from ..autograd.function import Op
from . import _bw
from ._util import promote


def _shape_str(s):
    return "x".join(str(k) for k in s)


class MatMul(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        ad, bd = a.ndim, b.ndim
        if ad == 1 and bd == 1:            # dot product
            return (g * b if need[0] else None), (g * a if need[1] else None)
        if ad == 1:                         # (k) @ (..., k, n) -> (..., n)
            gk = _bw.expand_dims(g, (g.ndim - 1,))          # (..., 1, n)
            if need[0]:
                ga = _bw.sum(b * gk, axis=-1)               # (..., k); engine sums batch dims
            if need[1]:
                gb = _bw.expand_dims(a, (1,)) * gk          # (..., k, n)
            return ga, gb
        if bd == 1:                         # (..., m, k) @ (k) -> (..., m)
            gm = _bw.expand_dims(g, (g.ndim,))              # (..., m, 1)
            if need[0]:
                ga = gm * b                                 # (..., m, k)
            if need[1]:
                gb = gm * a                                 # engine sums down to (k,)
            return ga, gb
        if need[0]:
            ga = _bw.matmul(g, _bw.swap_last(b))
        if need[1]:
            gb = _bw.matmul(_bw.swap_last(a), g)
        return ga, gb


def matmul(input, other, *, out=None):
    """Matrix product with NumPy/torch semantics for 1-D, 2-D and batched inputs."""
    a, b = promote(input, other)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul(): argument 'other' must be Tensor")
    ad, bd = a._data.ndim, b._data.ndim
    if ad == 0 or bd == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{ad}D and {bd}D")
    ka = a._data.shape[-1]
    kb = b._data.shape[-2] if bd > 1 else b._data.shape[0]
    if ka != kb:
        if ad == 1 and bd == 1:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{ka}] and src [{kb}] "
                               f"to have the same number of elements, but got {ka} and {kb} "
                               f"elements respectively")
        sa = a._data.shape if ad > 1 else (1, ka)
        sb = b._data.shape if bd > 1 else (kb, 1)
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(sa[-2:] if ad <= 2 else (int(np.prod(sa[:-1])), ka))} "
                           f"and {_shape_str(sb[-2:])})")
    try:
        return MatMul.apply(a, b)
    except ValueError:
        raise RuntimeError(f"The size of tensor a must match the size of tensor b at batch "
                           f"dimensions: got {list(a._data.shape[:-2])} and "
                           f"{list(b._data.shape[:-2])}") from None


def mm(input, mat2, *, out=None):
    if input._data.ndim != 2:
        raise RuntimeError(f"self must be a matrix")
    if mat2._data.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix")
    return matmul(input, mat2)


def bmm(input, mat2, *, out=None):
    if input._data.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor")
    if mat2._data.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor")
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{input._data.shape[0]}, {input._data.shape[2]}] but got: "
                           f"[{mat2._data.shape[0]}, {mat2._data.shape[1]}].")
    return matmul(input, mat2)


def dot(input, other, *, out=None):
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and "
                           f"{other._data.ndim}D tensors")
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{input.dtype.name.capitalize()} and {other.dtype.name.capitalize()}")
    return matmul(input, other)


METHODS = ["matmul", "mm", "bmm", "dot"]
