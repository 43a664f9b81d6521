"""Scaled dot-product attention kernels: the generic formulas.

Shapes (torch's): q (*, Hq, L, E), k (*, Hk, S, E), v (*, Hv, S, Ev), the
scores and weights (*, Hq, L, S).  Grouped-query attention never copies key
or value: query head h uses key head h // gk (gk = Hq / Hk), so the query
is viewed as (*, Hk, gk * L, E) (``group``) and one product per key head
serves its whole group; the same merge sums the group's gradients into dK
and dV inside the product.

The weights are kept unnormalised, E = exp(scores - shift) with row sums d,
and 1/d (``rd``) is folded into the (L, Ev)-sized output and gradient
instead of the (L, S) matrix:
    out = (E @ v) / d,   dV = E^T (g / d),   dS = E * (g' v^T - rowdot(g' v^T, E) / d)
with g' = g / d -- the usual softmax backward with P = E / d substituted.
Where a backend's softmax kernel writes the normalised weights P instead,
``rd`` is None.

``add`` is a float mask (added to the scores), ``bias`` a constant array of
0 / -inf (causal or boolean masks).  Rows with every key masked give zero
weights.  ``plan`` is what a backend's ``attention_weights`` returns for
its own fused path (the generic formulas have none: always None).
"""
import numpy as np

from .._registry import namespace, kernels
from .._table import GENERIC


def swap(x):
    """x with its last two axes swapped (a view)."""
    return x.swapaxes(-1, -2)


def group(x, g):
    """(*, H, L, X) -> (*, H / g, g * L, X): consecutive heads share one matrix."""
    if g == 1:
        return x
    s = x.shape
    return x.reshape(s[:-3] + (s[-3] // g, g * s[-2], s[-1]))


def ungroup(x, g, L):
    """Inverse of ``group``: (*, H, g * L, X) -> (*, H * g, L, X)."""
    if g == 1:
        return x
    s = x.shape
    return x.reshape(s[:-3] + (s[-3] * g, L, s[-1]))


def _grows(shape, mask_shape):
    """Whether broadcasting against ``mask_shape`` enlarges ``shape``."""
    if len(mask_shape) > len(shape):
        return True
    return any(m != 1 and a == 1 for a, m in zip(shape[::-1], mask_shape[::-1]))


@GENERIC.register
def attention_weights(q, k, v, add, bias, scale, gk, gv, weights, weighted, causal):
    """The attention weights of q and k: ``(E, rd, out, plan)``: the scores
    turned, in place, into softmax numerators E with ``rd`` = 1 / (row sums)
    of shape (*, Hq, L, 1) (rd None: E holds the normalised weights, as it
    always does with ``weights``).  ``out`` is E @ v where the backend's
    fused path computed it on the way (``weighted``: there is no dropout in
    between), else None; ``causal``: ``bias`` is the causal mask."""
    xp = namespace(q)
    L = q.shape[-2]
    s = kernels(q).matmul_nd(group(q, gk) * xp.asarray(scale, dtype=q.dtype), swap(k))
    s = ungroup(s, gk, L)                       # (*, Hq, L, S)
    for m in (add, bias):
        if m is not None and m.ndim > 2 and _grows(s.shape, m.shape):
            s = xp.array(xp.broadcast_to(s, np.broadcast_shapes(s.shape, m.shape)))
    rd = None
    if s.size:
        rd = kernels(s).attention_softmax_(s, add, bias)
        if weights and rd is not None:
            s *= rd
            rd = None
    return s, rd, None, None


@GENERIC.register
def attention_softmax_(s, add, bias):
    """Masked softmax numerators over the last axis of the scores ``s``, in
    place; returns 1 / (row sums), shaped (..., L, 1) (None where a backend
    writes the normalised weights instead).

    softmax is unchanged by a shift of each row; the usual shift is the row's
    max, to keep exp() in range.  When every raw score already lies well
    inside exp()'s range (the backend's ``exp_safe``) no shift is needed,
    which saves two passes over the scores (a slow short-axis max and a
    broadcast subtract); 0/-inf masks only remove entries.  Float masks and
    large scores take the row-max path.  Fully masked rows get 1/d = 1
    (weights 0).
    """
    xp, K = namespace(s), kernels(s)
    lim = K.exp_safe(s.dtype)   # (scores inside +-lim need no shift)
    safe = add is None and -lim < s.min() and s.max() < lim  # (False for NaN)
    if add is not None:
        s += add
    if bias is not None:
        s += bias
    if not safe:
        m = s.max(axis=-1, keepdims=True)
        m[xp.isneginf(m)] = 0  # a fully masked row: exp(-inf) = 0 everywhere
        s -= m
    xp.exp(s, out=s)
    d = K.sum_along(s, s.ndim - 1)
    if add is not None or bias is not None:
        d[d == 0] = 1
    return xp.reciprocal(d, out=d)


@GENERIC.register
def attention_output(ed, v, rd, gv, plan):
    """(ed @ v) * rd: the output from the weights ``ed`` (after dropout) of
    ``attention_weights`` (rd None: ed is normalised)."""
    L = ed.shape[-2]
    out = ungroup(kernels(ed).matmul(group(ed, gv), v), gv, L)
    if rd is not None:
        out *= rd
    return out


@GENERIC.register
def attention_backward(q, k, v, E, ed, keep, c, g, gw, rd, scale, gk, gv, plan, need):
    """The gradients ``(dq, dk, dv, dS)`` (None where ``need`` says not) of
    attention_weights + attention_output, from E and rd as they returned,
    ``ed`` = E after dropout (``keep`` the kept entries, ``c`` their scale;
    keep None: no dropout), the output gradient ``g`` already times rd and
    ``gw`` the gradient of the weights output (or None).  dS, the gradient
    of the float mask, is the scores' gradient."""
    xp, K = namespace(E), kernels(E)
    L = E.shape[-2]
    dtype = E.dtype
    gr = group(g, gv)
    dv = dq = dk = None
    if need[2]:
        dv = K.matmul(swap(group(ed, gv)), gr)
    if not (need[0] or need[1] or need[3]):
        return None, None, dv, None
    dP = ungroup(K.matmul_nd(gr, swap(v)), gv, L)  # d(loss)/d(weights after dropout), / d
    if gw is not None:
        dP = dP + gw
    if keep is not None:
        dP *= keep
        dP *= xp.asarray(c, dtype=dtype)
    K.attention_softmax_backward_(dP, E, rd)
    dS = dP
    sc = xp.asarray(scale, dtype=dtype)
    dSr = group(dS, gk)
    if need[0]:
        dq = ungroup(K.matmul(dSr, k), gk, L)
        dq *= sc
    if need[1]:
        dk = K.matmul(swap(dSr), group(q, gk))
        dk *= sc
    return dq, dk, dv, (dS if need[3] else None)


@GENERIC.register
def attention_softmax_backward_(dP, E, rd):
    """The softmax backward, in place in dP: dS = E * (dP - rowdot(dP, E) * rd)
    over the last axis (rd None: 1, E being the normalised weights)."""
    r = namespace(E).einsum("...j,...j->...", dP, E)[..., None]
    if rd is not None:
        r *= rd
    dP -= r
    dP *= E
