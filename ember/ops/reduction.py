"""Reductions: sum, mean, var/std, prod, max/min, logsumexp, cumsum, norms, sort...

A reduction's backward re-inserts the reduced axes (``keepdim=False``) and
lets broadcasting spread the gradient back over the input.
"""
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap
from ..autograd.function import Op
from . import _bw
from ._util import norm_dims, cast


def _sum_dtype(t, dtype):
    """torch sums bool/int tensors as int64, floats in their own dtype."""
    if dtype is not None:
        return cast(t, D.to_dtype(dtype))
    if t._data.dtype.kind in "iub" and t._data.dtype != np.int64:
        return cast(t, D.int64)
    return t


def _grad_keepdim(g, axes, keepdim):
    """Give a reduction's output gradient back its reduced axes (size 1)."""
    if keepdim or axes is None and g.ndim == 0:
        return g
    if axes is None:
        return g
    return _bw.expand_dims(g, axes)


class Sum(Op):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        r = x.sum(axis=axes, keepdims=keepdim)
        return r if type(r) is np.ndarray else np.asarray(r, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        g = _grad_keepdim(g, axes, keepdim)
        return _bw.broadcast_to(g, shape)


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Sum over ``dim`` (int, tuple, or all); ints/bools sum as int64."""
    x = _sum_dtype(input, dtype)
    axes = norm_dims(dim, x._data.ndim) if dim is not None and dim != () else None
    if x._data.ndim == 0:
        axes = None
    return Sum.apply(x, axes, keepdim)


class Mean(Op):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        n = x.size if axes is None else int(np.prod([x.shape[a] for a in axes]))
        ctx.n = n
        r = x.mean(axis=axes, keepdims=keepdim)
        return r if type(r) is np.ndarray else np.asarray(r, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        g = _grad_keepdim(g, axes, keepdim)
        return _bw.broadcast_to(g / ctx.n if ctx.n else g * np.nan, shape)


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean over ``dim``; requires a floating dtype, as torch."""
    x = cast(input, D.to_dtype(dtype)) if dtype is not None else input
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x.dtype.name.capitalize()}")
    axes = norm_dims(dim, x._data.ndim) if dim is not None and dim != () else None
    if x._data.ndim == 0:
        axes = None
    return Mean.apply(x, axes, keepdim)


METHODS = ["sum", "mean"]
