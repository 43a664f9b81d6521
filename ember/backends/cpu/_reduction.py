"""Accurate float sums on NumPy: its own pairwise sum where it has one.

NumPy sums the innermost loop of a reduction pairwise (error ~log n), but
adds the results of the outer loops one after another: ``x.sum(0)`` of a
(10^6, 4) array is a plain running sum down each column.  So a C-contiguous
reduction whose reduced axes all sit at the end (a row sum, a full sum) is
already accurate; any other one is rearranged for the generic cascade.
"""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import reduction as _generic

# Up to this many terms added one after another are accurate enough
# (error about 1e-5 of the sum in float32, within a test's tolerance).
RUN_OK = 256


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
    if run <= RUN_OK:
        return np.add.reduce(x, axes, dtype, None, keepdim)
    r = x.reshape(merged)
    if last is not None:
        r = np.add.reduce(r, last, dtype, None, True)
        dtype = None
    for i, k in enumerate(kinds):
        if k and i != last:
            r = _generic.cascade_axis(r, i, dtype) if merged[i] > _generic.BLOCK else \
                np.add.reduce(r, i, dtype, None, True)
            dtype = None
    if keepdim:
        return r.reshape(tuple(1 if i in red else s for i, s in enumerate(shape)))
    return r.reshape(tuple(s for i, s in enumerate(shape) if i not in red))


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
