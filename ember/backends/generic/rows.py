"""Reductions along one axis, kept (``keepdims``): the generic formulas."""
from .._table import GENERIC


@GENERIC.register
def sum_along(x, axis, y=None):
    """``x.sum(axis, keepdims=True)``; with ``y``, ``(x * y).sum(...)``."""
    return (x if y is None else x * y).sum(axis=axis, keepdims=True)


@GENERIC.register
def max_along(x, axis):
    """``x.max(axis, keepdims=True)`` for a non-empty axis."""
    return x.max(axis=axis, keepdims=True)


@GENERIC.register
def sum_rows(x2):
    """``x2.sum(axis=0)`` of a 2-D array (a bias gradient)."""
    return x2.sum(axis=0)


@GENERIC.register
def exp_unshifted(x, axis):
    """``(exp(x), row sums)`` when a softmax along ``axis`` may skip the max
    shift, else None.  Generically: always shift."""
    return None


@GENERIC.register
def exp_safe(dtype):
    """The largest |x| whose exp() neither overflows nor leaves the normal
    range for ``dtype`` (0.0: no such guarantee, always shift)."""
    return 0.0

