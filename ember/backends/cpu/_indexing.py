"""CPU indexing kernels: the fast paths; anything else goes to the generic formula."""
import numpy as np

from .._table import CPU as KERNELS
from ..generic.indexing import masked_fill as _generic_masked_fill
from . import _jit, _pool


@KERNELS.register
def masked_fill(x, mask, value):
    """``where(mask, value, x)``; one compiled, threaded pass when the mask
    repeats over x's rows (a (T, T) causal mask against (B, H, T, T) scores)."""
    rows = _mask_rows(x, mask)
    if rows:
        k = _jit.kernels_for(x.dtype)
        if k is not None:
            out = np.empty_like(x)
            x2, m1, o2, v = x.reshape(-1, rows), mask.reshape(rows), out.reshape(-1, rows), \
                x.dtype.type(value)
            _pool.parallel_rows(lambda lo, hi: k.fill_masked_rows(x2[lo:hi], m1, v, o2[lo:hi]),
                                x2.shape[0], rows)
            return out
    return _generic_masked_fill(x, mask, value)


def _mask_rows(x, mask):
    """The row length M when ``mask`` is one contiguous block of M flags that
    repeats over C-contiguous ``x``, else 0."""
    if mask.dtype != np.bool_ or not x.flags.c_contiguous or not mask.flags.c_contiguous \
            or not x.size:
        return 0
    shape = mask.shape
    while shape and shape[0] == 1:
        shape = shape[1:]
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        return 0
    return mask.size
