"""Reductions along a short axis, formulated the fast way for NumPy.

NumPy reduces ``x.sum(axis=-1)`` / ``x.max(axis=-1)`` row by row with a
per-row setup cost, which dominates when rows are short (attention scores,
class logits, hidden features: 32-512 wide).  Other formulations of the
same reductions run 2-4x faster there:

- a sum is an ``einsum`` contraction (one pass, no temporary);
- a max is ``argmax`` (a vectorised kernel) plus a gather of one value
  per row.  NaN rows give NaN either way: argmax picks the first NaN.

Both keep the reduced axis (``keepdims``).  Plain arrays only.
"""
import numpy as np

__all__ = ["sum_along", "max_along"]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_SUBS = {}


def _sub(ndim, axis, n_in):
    key = (ndim, axis, n_in)
    s = _SUBS.get(key)
    if s is None:
        full = _LETTERS[:ndim]
        kept = full[:axis] + full[axis + 1:]
        s = _SUBS[key] = ",".join([full] * n_in) + "->" + kept
    return s


def sum_along(x, axis, y=None):
    """``x.sum(axis, keepdims=True)``; with ``y``, ``(x * y).sum(...)`` without
    the product's temporary."""
    if x.dtype.kind != "f" or x.ndim > 26:
        return (x if y is None else x * y).sum(axis=axis, keepdims=True)
    ops = (x,) if y is None else (x, y)
    return np.expand_dims(np.einsum(_sub(x.ndim, axis, len(ops)), *ops), axis)


def max_along(x, axis):
    """``x.max(axis, keepdims=True)`` for a non-empty axis."""
    if x.shape[axis] > 256 or x.size < 4096:   # (NumPy's own reduction is as fast there)
        return x.max(axis=axis, keepdims=True)
    return np.take_along_axis(x, x.argmax(axis=axis, keepdims=True), axis=axis)
