"""Accurate float reductions: the generic formulas.

Adding n float32 numbers one after another loses up to about n/2 units in
the last place: 10^7 copies of 0.1 sum to 1,087,937 instead of 1,000,000.
torch's CPU sums are cascaded (partial sums of short runs added up level by
level), its cumulative sums/products and variances accumulate in double.
These kernels give the same accuracy with array operations only.
"""
from .._registry import namespace
from .._table import GENERIC

# Terms added one after another before a partial sum moves up a level: the
# rounding error of a cascaded sum grows like BLOCK * levels, not like n.
BLOCK = 32


def _cut(ndim, axis, lo, hi):
    """An index selecting ``lo:hi`` along ``axis`` of an ``ndim``-D array."""
    return (slice(None),) * axis + (slice(lo, hi),)


def cascade_axis(x, axis, dtype=None):
    """``x.sum(axis, keepdims=True, dtype=dtype)`` summed in blocks of BLOCK,
    then the block sums in blocks of BLOCK, and so on."""
    n = x.shape[axis]
    tails = []                      # the leftover (< BLOCK) terms of each level, summed
    while n > BLOCK:
        k = n // BLOCK
        cut = k * BLOCK
        if cut < n:
            tails.append(x[_cut(x.ndim, axis, cut, None)].sum(axis=axis, keepdims=True,
                                                            dtype=dtype))
        # (splitting one axis in two is a view for any strides)
        blocks = x[_cut(x.ndim, axis, 0, cut)].reshape(
            x.shape[:axis] + (k, BLOCK) + x.shape[axis + 1:])
        x = blocks.sum(axis=axis + 1, dtype=dtype)
        dtype = None                # (the block sums already have the accumulation dtype)
        n = k
    r = x.sum(axis=axis, keepdims=True, dtype=dtype)
    for t in tails:
        r = r + t
    return r


@GENERIC.register
def cascade_sum(x, axes, dtype, keepdim):
    """Sum of a float array over ``axes`` (None: all) as ``add.reduce`` gives
    it, but cascaded along every long axis; ``dtype``: the accumulation and
    result dtype (None: x's)."""
    nd = x.ndim
    red = tuple(range(nd)) if axes is None else axes
    r = x
    for a in sorted(red, reverse=True):     # (the last axis first: usually contiguous)
        r = cascade_axis(r, a, dtype) if r.shape[a] > BLOCK else \
            r.sum(axis=a, keepdims=True, dtype=dtype)
        dtype = None
    if keepdim:
        return r
    return r.reshape(tuple(s for i, s in enumerate(x.shape) if i not in red))


@GENERIC.register
def channel_sums(g, axes):
    """A bias's gradient: ``g`` summed over ``axes``, every axis but the
    channels' (NumPy's reduction; the CPU backend compiles the usual case)."""
    return g.sum(axis=axes)


@GENERIC.register
def sum_squares(x):
    """The sum of ``x * x`` over all elements (a 2-norm's square), 0-d."""
    return cascade_sum(x * x, None, None, False)


_NEG_INF = float("-inf")


@GENERIC.register
def max_kept(x, axes):
    """The max of the float array ``x`` over ``axes`` (a tuple; None: all),
    kept as size-1 axes; -inf where there is nothing to reduce, NaN
    propagating.  (``initial=`` also makes NumPy's reduction ~25% faster on
    small rows than ``x.max``; CuPy has neither, so its table has its own.)"""
    return namespace(x).maximum.reduce(x, axis=axes, keepdims=True, initial=_NEG_INF)


# ---- running (cumulative) extremes and log-sum-exp -------------------------------------------
# (kernels, not xp calls in the ops: CuPy's ufuncs have ``accumulate`` for add
# and multiply only, so a GPU backend brings its own scan; tools/cupy_names.py)

@GENERIC.register
def cum_extreme(x, axis, largest):
    """The running maximum (``largest``) or minimum of ``x`` along ``axis``,
    NaN sticking once met (``maximum.accumulate``); x's shape and dtype."""
    xp = namespace(x)
    if largest:
        return xp.maximum.accumulate(x, axis=axis)
    return xp.minimum.accumulate(x, axis=axis)


@GENERIC.register
def log_cum_sum_exp(x, axis):
    """log(cumsum(exp(x))) of a float array along ``axis`` without overflow
    (``logaddexp.accumulate``); x's shape and dtype."""
    return namespace(x).logaddexp.accumulate(x, axis=axis)
