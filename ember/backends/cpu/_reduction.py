"""Accurate float sums on NumPy: its own pairwise sum where it has one.

NumPy sums the innermost loop of a reduction pairwise (error ~log n), but
adds the results of the outer loops one after another: ``x.sum(0)`` of a
(10^6, 4) array is a plain running sum down each column.  So a C-contiguous
reduction whose reduced axes all sit at the end (a row sum, a full sum) is
already accurate; any other one is rearranged for the generic cascade.
"""
import math

import numpy as np

from .._table import CPU as KERNELS
from ..generic import reduction as _generic
from . import _jit
from ._rows import _ones

# Up to this many terms added one after another are accurate enough
# (error about 1e-5 of the sum in float32, 1e-11 in float64).
RUN_OK = 256
RUN_OK_64 = 1 << 16


def _cascade_axis(r, axis, dtype):
    """The generic ``cascade_axis`` of a C-contiguous array along a kept-shape
    axis (not the last), its first level (runs of BLOCK) as BLAS products
    with a ones vector: faster than NumPy's own column sum (2-7x)."""
    n = r.shape[axis]
    if dtype not in (None, r.dtype.type) or r.dtype.itemsize < 4 or n < 2 * _generic.BLOCK:
        return _generic.cascade_axis(r, axis, dtype)
    B = _generic.BLOCK
    k = n // B
    pre, post = r.shape[:axis], r.shape[axis + 1:]
    width = 1
    for s in post:
        width *= s
    head = r[_generic._cut(r.ndim, axis, 0, k * B)].reshape(pre + (k, B, width))
    blocks = np.matmul(_ones(B, r.dtype), head).reshape(pre + (k,) + post)
    out = _generic.cascade_axis(blocks, axis)
    if k * B < n:
        out += r[_generic._cut(r.ndim, axis, k * B, None)].sum(axis=axis, keepdims=True)
    return out


@KERNELS.register
def cascade_sum(x, axes, dtype, keepdim):
    """The generic ``cascade_sum``, leaving NumPy's pairwise inner loop to it."""
    if not x.flags.c_contiguous:
        return _generic.cascade_sum(x, axes, dtype, keepdim)
    shape = x.shape
    nd = len(shape)
    red = range(nd) if axes is None else axes
    # Merge neighbouring axes that are both reduced or both kept (a view for a
    # contiguous array); size-1 axes join either kind.
    merged, kinds = [], []
    for i, s in enumerate(shape):
        kind = i in red
        if s == 1 and merged:
            continue
        if kinds and kinds[-1] == kind:
            merged[-1] *= s
        else:
            merged.append(s)
            kinds.append(kind)
    # The trailing reduced run is NumPy's pairwise inner loop; the others are
    # running sums, accurate only when short.
    last = len(merged) - 1 if kinds and kinds[-1] else None
    run = 1
    for i, k in enumerate(kinds):
        if k and i != last:
            run *= merged[i]
    wide = (dtype or x.dtype.type) is np.float64
    if run <= (RUN_OK_64 if wide else RUN_OK):
        return np.add.reduce(x, axes, dtype, None, keepdim)
    r = x.reshape(merged)
    if last is not None:
        r = np.add.reduce(r, last, dtype, None, True)
        dtype = None
    for i, k in enumerate(kinds):
        if k and i != last:
            r = _cascade_axis(r, i, dtype) if merged[i] > _generic.BLOCK else \
                np.add.reduce(r, i, dtype, None, True)
            dtype = None
    if keepdim:
        return r.reshape(tuple(1 if i in red else s for i, s in enumerate(shape)))
    return r.reshape(tuple(s for i, s in enumerate(shape) if i not in red))


@KERNELS.register
def channel_sums(g, axes):
    """The generic ``channel_sums`` as one compiled pass for a C-contiguous
    float32/64 (N, C, ...) summed over all axes but 1 (a convolution's bias
    gradient): NumPy's sum over axes (0, 2, 3) costs 3-8x that (LeNet's
    (64, 16, 24, 24) 158 -> 46 us, (64, 32, 8, 8) 78 -> 10).  The pass adds
    a row's S terms in the vector lanes (8 float32 on AVX2, 16 on AVX-512),
    then the N row sums in order: within RUN_OK terms a run (RUN_OK_64 in
    float64), else NumPy's pairwise sum, which stays accurate."""
    k = _jit.kernels_for(g.dtype) if g.ndim >= 3 and g.flags.c_contiguous else None
    if k is None or tuple(axes) != (0,) + tuple(range(2, g.ndim)):
        return _generic.channel_sums(g, axes)
    N, C = g.shape[:2]
    run = RUN_OK if g.dtype.itemsize == 4 else RUN_OK_64
    if N > run or g.size // max(N * C, 1) > 8 * run:
        return _generic.channel_sums(g, axes)
    out = np.empty(C, g.dtype)
    k.channel_sums(g.reshape(N, C, math.prod(g.shape[2:])), out)
    return out


# A BLAS dot of up to this many float32 terms stays within ~1e-5 of the
# exact sum; longer vectors are cut into such chunks and the chunks' dots
# summed pairwise (as fast as one long dot: each chunk is in cache).
DOT_CHUNK = 1 << 16


@KERNELS.register
def sum_squares(x):
    """The generic ``sum_squares`` as BLAS dots, without the squares' temporary."""
    if not x.flags.c_contiguous or x.dtype.kind != "f" or x.dtype.itemsize < 4:
        return _generic.sum_squares(x)
    f = x.reshape(-1)
    n = f.shape[0]
    if n <= DOT_CHUNK:
        return np.asarray(np.dot(f, f))
    parts = np.empty((n + DOT_CHUNK - 1) // DOT_CHUNK, x.dtype)
    for i, lo in enumerate(range(0, n, DOT_CHUNK)):
        c = f[lo:lo + DOT_CHUNK]
        parts[i] = np.dot(c, c)
    return np.add.reduce(parts)
