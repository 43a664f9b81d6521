"""CPU shape kernels: the fast paths; anything else goes to the generic formula."""
import math

import numpy as np

from .._table import CPU as KERNELS
from ..generic.shape import broadcast_to as _generic_broadcast_to


@KERNELS.register
def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``, for reading only (a backward's operand)."""
    if type(x) is np.ndarray and math.prod(shape) <= 16384:
        # a small real copy is cheaper than np.broadcast_to's Python-level setup
        out = np.empty(shape, dtype=x.dtype)
        out[...] = x
        return out
    return _generic_broadcast_to(x, shape)


def _address(a):
    return a.__array_interface__["data"][0]


@KERNELS.register
def joined_view(pieces, axis):
    """The pieces as one array along ``axis`` without a copy, when they already
    lie side by side in one C-contiguous buffer with the same strides
    (attention's q, k, v gradients, written into one buffer laid out like the
    projection they were split from), else None."""
    g0 = pieces[0]
    if type(g0) is not np.ndarray or not isinstance(g0.base, np.ndarray):
        return None
    step = g0.strides[axis]
    addr = _address(g0)
    for g in pieces:
        if (type(g) is not np.ndarray or g.base is not g0.base or g.strides != g0.strides
                or g.dtype != g0.dtype or _address(g) != addr
                or g.shape[:axis] != g0.shape[:axis] or g.shape[axis + 1:] != g0.shape[axis + 1:]):
            return None
        addr += g.shape[axis] * step
    shape = list(g0.shape)
    shape[axis] = sum(g.shape[axis] for g in pieces)
    base = g0.base
    if not base.flags.c_contiguous:
        return None
    return np.ndarray(tuple(shape), g0.dtype, base, _address(g0) - _address(base), g0.strides)
