"""CPU linear-layer kernels: the fast paths; anything else goes to the generic formula."""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import linear as _generic
from . import _jit, _pool


@KERNELS.register
def linear_matmul(x, w):
    """``x @ w.T`` for x (..., in) and w (out, in); a handful of rows as the
    transposed product (see ``_few_rows``)."""
    out = _few_rows(x, w)
    if out is None:
        out = KERNELS.matmul_nd(x, w.T)
    return out


def _few_rows(x, w):
    """x @ W.T for a handful of rows (token-by-token decoding) as (W @ x.T).T,
    or None.  NumPy's OpenBLAS runs x @ W.T with 2-16 rows and a large W
    2-3x slower than the transposed product ((4, 128) @ (128, 512): 37 us
    against 16 us here; it spends the time starting its threads), while
    from ~64 rows on x @ W.T is the faster one."""
    if x.ndim < 1 or x.dtype.kind != "f" or not x.flags.c_contiguous:
        return None
    n_out, n_in = w.shape
    rows = x.size // n_in if n_in else 0
    if not 2 <= rows <= 16 or n_out * n_in < 32768:
        return None
    out = np.ascontiguousarray((w @ x.reshape(rows, n_in).T).T)
    return out.reshape(x.shape[:-1] + (n_out,))


@KERNELS.register
def linear_bias_add(out, b):
    """``out += b`` in place (out (..., n), b (n,)): one compiled pass per
    row, split over the intra-op threads, for non-empty C-contiguous
    float32/64 outputs; returns out."""
    kern = _jit.kernels_for(out.dtype) if out.flags.c_contiguous and out.ndim else None
    if kern is None or not out.size:
        return _generic.linear_bias_add(out, b)
    o2 = out.reshape(-1, out.shape[-1])
    _pool.parallel_rows(lambda lo, hi: kern.rows_add(o2[lo:hi], b), o2.shape[0], o2.shape[1])
    return out
