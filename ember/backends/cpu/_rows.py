"""Reductions along a short axis, formulated the fast way for NumPy.

NumPy reduces ``x.sum(axis=-1)`` / ``x.max(axis=-1)`` row by row with a
per-row setup cost, which dominates when rows are short (attention scores,
class logits, hidden features: 32-512 wide).  Other formulations of the
same reductions run 2-4x faster there:

- a sum over the last axis is a BLAS matrix-vector product with ones, any
  other sum an ``einsum`` contraction (one pass, no temporary);
- a max is ``argmax`` (a vectorised kernel) plus a gather of one value
  per row.  NaN rows give NaN either way: argmax picks the first NaN.

Both keep the reduced axis (``keepdims``).  Plain arrays only.  These are
the CPU table's versions of the generic kernels of the same names.
"""
import numpy as np

from .._table import CPU as KERNELS
from . import _pool as _parallel

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_SUBS = {}
_ONES = {}


def _sub(ndim, axis, n_in):
    key = (ndim, axis, n_in)
    s = _SUBS.get(key)
    if s is None:
        full = _LETTERS[:ndim]
        kept = full[:axis] + full[axis + 1:]
        s = _SUBS[key] = ",".join([full] * n_in) + "->" + kept
    return s


def _ones(n, dtype):
    key = (n, dtype)
    one = _ONES.get(key)
    if one is None:
        one = np.ones(n, dtype)
        if len(_ONES) < 64:
            _ONES[key] = one
    return one


@KERNELS.register
def sum_along(x, axis, y=None):
    """``x.sum(axis, keepdims=True)``; with ``y``, ``(x * y).sum(...)`` without
    the product's temporary."""
    if y is None and axis == x.ndim - 1 and x.dtype.itemsize >= 4 and x.dtype.kind == "f" \
            and x.flags.c_contiguous:
        n = x.shape[-1]
        rows = x if x.ndim == 2 else x.reshape(-1, n)     # (a 2-D x as it is: no view to make)
        return (rows @ _ones(n, x.dtype)).reshape(x.shape[:-1] + (1,))
    if x.dtype.kind != "f" or x.dtype.itemsize < 4 or x.ndim > 26:   # (float16: NumPy sums in float32)
        return (x if y is None else x * y).sum(axis=axis, keepdims=True)
    ops = (x,) if y is None else (x, y)
    return np.expand_dims(np.einsum(_sub(x.ndim, axis, len(ops)), *ops), axis)


@KERNELS.register
def max_along(x, axis):
    """``x.max(axis, keepdims=True)`` for a non-empty axis."""
    if x.shape[axis] > 256 or x.size < 4096:   # (NumPy's own reduction is as fast there)
        return x.max(axis=axis, keepdims=True)
    return np.take_along_axis(x, x.argmax(axis=axis, keepdims=True), axis=axis)


@KERNELS.register
def sum_rows(x2):
    """``x2.sum(axis=0)`` of a 2-D float array as a vector-matrix product
    (BLAS gemv: 3-4x faster than NumPy's column reduction; used for bias
    gradients)."""
    n = x2.shape[0]
    if x2.dtype.kind != "f" or x2.dtype.itemsize < 4 or n < 64:
        return np.add.reduce(x2, 0)     # (x2.sum(axis=0) without its Python-level wrapper)
    one = _ones(n, x2.dtype)
    m = x2.shape[1]
    if n * m < 2 * _parallel.ELEMENT_GRAIN:
        return one @ x2
    out = np.empty(m, x2.dtype)     # (column ranges over the intra-op threads)
    _parallel.parallel_rows(lambda lo, hi: np.matmul(one, x2[:, lo:hi], out=out[lo:hi]), m, n)
    return out


# softmax(x) = exp(x - c) / sum(exp(x - c)) for any per-row c; c = row max keeps
# exp() in range.  When the largest value is far from overflow and every row
# sum of exp(x) stays well inside the normal range, c = 0 gives the same
# result to rounding and saves the row max and the broadcast subtract.
# EXP_SAFE: exp() below this neither overflows nor (above -it) leaves the
# normal range; the second limit is the smallest acceptable row sum.
EXP_SAFE = {np.dtype(np.float32): 80.0, np.dtype(np.float64): 700.0}
_EXP_LIMITS = {np.dtype(np.float32): (EXP_SAFE[np.dtype(np.float32)], 1e-25),
               np.dtype(np.float64): (EXP_SAFE[np.dtype(np.float64)], 1e-290)}


@KERNELS.register
def exp_unshifted(x, axis):
    """``(exp(x), row sums)`` when softmax along ``axis`` needs no shift, else None."""
    lim = _EXP_LIMITS.get(x.dtype)
    if lim is None or x.size < 4096 or not x.max() < lim[0]:   # (NaN: not <)
        return None
    e = np.exp(x)
    d = sum_along(e, axis)
    if not d.min() > lim[1]:     # a row (nearly) all -inf or far below zero
        return None
    return e, d


@KERNELS.register
def exp_safe(dtype):
    """The largest |x| whose exp() neither overflows nor leaves the normal
    range for ``dtype`` (0.0 for other dtypes: always shift)."""
    return EXP_SAFE.get(dtype, 0.0)
