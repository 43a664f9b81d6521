"""Scaled dot-product attention: softmax(q @ k^T * scale + mask) @ v as ONE Op.

Shapes (torch's): query (*, Hq, L, E), key (*, Hk, S, E), value (*, Hv, S, Ev)
-> (*, Hq, L, Ev); any leading batch dims broadcast, 2-d inputs (L, E) work
too.  The forward builds the (*, Hq, L, S) score matrix once and turns it
into the attention weights in place (mask, max-shift, exp, normalise); the
backward is derived by hand, with the softmax backward inline, so no chain
of small ops and no second score-sized buffer beyond the one the gradient
itself needs.

Grouped-query attention (``enable_gqa``) never copies key/value: query head
h uses key head h // (Hq / Hk), so the query is viewed as
(*, Hk, G * L, E) and one matmul per key head serves its whole group; the
same merge sums the group's gradients into dK / dV inside the matmul.
"""
import math
import warnings

import numpy as np

from ..._tensor import Tensor, _wrap
from ...autograd.function import Op
from ...backends.cpu import _jit, _pool as _parallel
from ...ops import _bw
from ...backends.cpu import _rows
from ...random import _rng

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_NEG_INF = float("-inf")


def _swap(x):
    return np.swapaxes(x, -1, -2)


def _grows(shape, mask_shape):
    """Whether broadcasting against ``mask_shape`` enlarges ``shape``."""
    if len(mask_shape) > len(shape):
        return True
    return any(m != 1 and a == 1 for a, m in zip(shape[::-1], mask_shape[::-1]))


def _group(x, g):
    """(*, H, L, X) -> (*, H / g, g * L, X): consecutive heads share one matrix."""
    if g == 1:
        return x
    s = x.shape
    return x.reshape(s[:-3] + (s[-3] // g, g * s[-2], s[-1]))


def _ungroup(x, g, L):
    """Inverse of ``_group``: (*, H, g * L, X) -> (*, H * g, L, X)."""
    if g == 1:
        return x
    s = x.shape
    return x.reshape(s[:-3] + (s[-3] * g, L, s[-1]))


class _SDPA(Op):
    """out = dropout(softmax(q @ k^T * scale + add + bias)) @ v.

    ``add`` is a float mask (an input: it gets a gradient when it requires
    one), ``bias`` a constant array of 0 / -inf (causal or boolean masks).
    Rows with every key masked by -inf give zero output (torch's safe
    softmax), and zero gradient.  With ``weights`` the attention weights
    (after dropout) are a second, differentiable output.

    Two paths compute the same thing:
    - the fused one (float32, no float mask, one (L, S) bias or none, the
      compiled kernels): the softmax is one compiled pass per row, and
      ``_Blocks`` lets every product skip the key columns a row block can't
      see -- with a causal mask, a quarter of the work for L = 64, more for
      longer sequences, as flash attention does;
    - the NumPy one (anything else), which keeps the weights unnormalised,
      E = exp(scores - shift) with row sums d, and folds 1/d into the
      (L, Ev)-sized output and gradient instead of the (L, S) matrix:
        out = (E @ v) / d,   dV = E^T (g / d),   dS = E * (g' v^T - rowdot(g' v^T, E) / d)
      with g' = g / d -- the usual softmax backward with P = E / d substituted.
    """
    _node_name = "ScaledDotProductAttentionBackward0"

    @staticmethod
    def forward(ctx, q, k, v, add, bias, scale, p, gk, gv, weights):
        L = q.shape[-2]
        blocks = _fused_plan(q, k, v, add, bias, scale, gk, gv)
        out = None
        if blocks is not None:
            s, out = blocks.forward(q, k, v, np.asarray(scale, q.dtype), bias, p == 0)
            rd = None
        else:
            qr = _group(q, gk)
            s = _bw.matmul(qr * np.asarray(scale, q.dtype), _swap(k))
            s = _ungroup(s, gk, L)                       # (*, Hq, L, S)
            for m in (add, bias):
                if m is not None and m.ndim > 2 and _grows(s.shape, m.shape):
                    s = np.array(np.broadcast_to(s, np.broadcast_shapes(s.shape, m.shape)))
            rd = None
            if s.size:
                rd = _exp_rows_(s, add, bias)            # s = E, rd = 1 / d (None: s = P)
                if weights and rd is not None:
                    s *= rd
                    rd = None
        E = s
        keep, c = None, 1.0
        if p > 0:
            keep = _rng(None).random(E.shape, dtype=np.float32) >= p
            c = 1.0 / (1.0 - p) if p < 1 else 0.0
            ed = E * keep
            ed *= np.asarray(c, ed.dtype)
        else:
            ed = E
        if out is None:     # (the fused forward computed it already unless there is dropout)
            if blocks is not None:
                out = blocks.weighted(ed, v)
            else:
                out = _ungroup(_parallel.matmul(_group(ed, gv), v), gv, L)
                if rd is not None:
                    out *= rd
        ctx.save_for_backward(q, k, v, add, E, keep, rd)
        ctx.c = (scale, c, gk, gv, bias, blocks)
        if weights:
            ctx.set_materialize_grads(False)
            return out, ed
        return out

    @staticmethod
    def backward(ctx, g, gw=None):
        q, k, v, add, E, keep, rd = ctx.saved_tensors
        scale, c, gk, gv, bias, blocks = ctx.c
        need = ctx.needs_input_grad
        if isinstance(q, Tensor) or isinstance(g, Tensor) or isinstance(gw, Tensor):
            P = E if rd is None else E * rd
            return _graph_backward(q, k, v, add, P, keep, g, gw, scale, c, gk, gv, bias, need)
        L = E.shape[-2]
        dtype = E.dtype
        if g is None:
            g = np.zeros(E.shape[:-1] + (v.shape[-1],), dtype)
        elif rd is not None:
            g = g * rd                               # g' = g / d
        ed = E
        if keep is not None:
            ed = E * keep
            ed *= np.asarray(c, dtype)
        if blocks is not None:
            return blocks.backward(q, k, v, E, ed, keep, c, g, gw, np.asarray(scale, dtype), need)
        gr = _group(g, gv)
        dv = dq = dk = None
        if need[2]:
            dv = _parallel.matmul(_swap(_group(ed, gv)), gr)
        if not (need[0] or need[1] or need[3]):
            return None, None, dv, None
        dP = _ungroup(_bw.matmul(gr, _swap(v)), gv, L)  # d(loss)/d(weights after dropout), / d
        if gw is not None:
            dP = dP + gw
        if keep is not None:
            dP *= keep
            dP *= np.asarray(c, dtype)
        # softmax backward, in place: dS = E * (dP' - rowdot(dP', E) / d)
        kern = _row_kernels(E, None) if rd is None else None
        if kern is not None and dP.dtype == E.dtype and dP.flags.c_contiguous:
            S = E.shape[-1]
            kern.attention_softmax_backward(dP.reshape(-1, S), E.reshape(-1, S),
                                            np.full(1, S, np.int64), np.asarray(1, dtype))
        else:
            r = np.einsum("...j,...j->...", dP, E)[..., None]
            if rd is not None:
                r *= rd
            dP -= r
            dP *= E
        dS = dP
        sc = np.asarray(scale, dtype)
        dSr = _group(dS, gk)
        if need[0]:
            dq = _ungroup(_parallel.matmul(dSr, k), gk, L)
            dq *= sc
        if need[1]:
            dk = _parallel.matmul(_swap(dSr), _group(q, gk))
            dk *= sc
        return dq, dk, dv, (dS if need[3] else None)


def _row_kernels(s, bias):
    """The compiled kernels, when the masked softmax kernel can take the
    scores ``s``: float32, C-contiguous, no mask or one (L, S) mask shared by
    every (batch, head) (what GQA and broadcast batch dims leave here)."""
    if s.dtype != np.float32 or not s.flags.c_contiguous or s.ndim < 2 \
            or not _shared_mask(bias, *s.shape[-2:]):
        return None
    return _jit.kernels_for(s.dtype)


def _shared_mask(bias, L, S):
    """Whether ``bias`` is absent or one (L, S) mask for every (batch, head)."""
    return bias is None or (bias.ndim >= 2 and bias.shape[-2:] == (L, S)
                            and all(n == 1 for n in bias.shape[:-2]))


def _exp_rows_(s, add, bias):
    """Masked softmax numerators over the last axis of the scores ``s``, in
    place; returns 1 / (row sums), shaped (..., L, 1).  Where the compiled
    kernel applies (no float mask, see ``_row_kernels``) it writes the
    normalised weights instead and returns None.

    softmax is unchanged by a shift of each row; the usual shift is the row's
    max, to keep exp() in range.  When every raw score already lies well
    inside exp()'s range (the common case) no shift is needed, which saves
    two passes over the scores (a slow short-axis max and a broadcast
    subtract); 0/-inf masks only remove entries.  Float masks and large
    scores take the row-max path.  Fully masked rows get 1/d = 1 (weights 0).
    """
    kern = _row_kernels(s, bias) if add is None else None
    if kern is not None:
        S = s.shape[-1]
        kern.softmax_rows_masked(s.reshape(-1, S), None if bias is None else bias.reshape(s.shape[-2:]),
                                 np.full(s.shape[-2], S, np.int64))
        return None
    lim = _rows.EXP_SAFE.get(s.dtype, 0.0)   # (scores inside +-lim need no shift)
    safe = add is None and -lim < s.min() and s.max() < lim  # (False for NaN)
    if add is not None:
        s += add
    if bias is not None:
        s += bias
    if not safe:
        m = s.max(axis=-1, keepdims=True)
        m[np.isneginf(m)] = 0  # a fully masked row: exp(-inf) = 0 everywhere
        s -= m
    np.exp(s, out=s)
    d = _rows.sum_along(s, s.ndim - 1)
    if add is not None or bias is not None:
        d[d == 0] = 1
    return np.reciprocal(d, out=d)


# ---- the fused path: compiled softmax, products restricted to the visible keys ---------------

def _fused_plan(q, k, v, add, bias, scale, gk, gv):
    """The ``_Blocks`` of a call the fused path takes, else None: float32 q, k
    and v with the same batch dims (no broadcasting, no grouped heads), a
    finite scale and a non-empty head dim, no float mask, no mask or one
    (L, S) mask shared by every (batch, head), and the compiled kernels."""
    if add is not None or q.dtype != np.float32 or gk != 1 or gv != 1 \
            or not math.isfinite(scale) or q.shape[-1] == 0 \
            or not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        return None
    L, S = q.shape[-2], k.shape[-2]
    if L == 0 or S == 0 or not _shared_mask(bias, L, S) or _jit.kernels_for(q.dtype) is None:
        return None
    return _Blocks.of(bias, L, S)


class _Blocks:
    """Which keys each block of query rows can see.

    Query rows r0..r1-1 attend to keys 0..w-1 only (every key past w is
    masked for all of them), for each (r0, r1, w) in ``rows``; ``width``
    holds that w for each row, for the softmax kernels.  With a causal
    mask (any mask whose visible keys grow with the row), rows are cut into
    blocks of 32 or more so that every product -- q k^T, P v and the four of
    the backward -- runs on the lower-left staircase only.  Without a mask
    there is one block that sees all keys.
    """
    _cache = {}

    def __init__(self, rows, width):
        self.rows, self.width = rows, width
        # (the same, as arrays for the compiled kernels)
        self.row_table = np.array(rows, np.int64).reshape(-1, 3)
        self.key_table = np.array(list(self._segments()), np.int64).reshape(-1, 3)

    @classmethod
    def of(cls, bias, L, S):
        key = None
        if bias is None or bias is _CAUSAL.get((L, S, bias.dtype)):
            key = (L, S, bias is None)      # (masks built here are cached: plan once)
            plan = cls._cache.get(key)
            if plan is not None:
                return plan
        if bias is None:
            width = np.full(L, S, np.int64)
        else:   # 1 + the last key each row may see (0: none)
            ok = ~np.isneginf(bias.reshape(L, S))
            width = np.where(ok.any(axis=1), S - np.argmax(ok[:, ::-1], axis=1), 0).astype(np.int64)
        rows = [(0, L, int(width.max()))]
        if L >= 64 and np.all(np.diff(width) >= 0):
            nb = min(8, L // 32)
            edges = [L * i // nb for i in range(nb + 1)]
            rows = [(a, b, int(width[b - 1])) for a, b in zip(edges, edges[1:])]
        # each row takes its block's width: the mask hides the rest, and loops
        # of one length per block vectorise (a length per row runs ~1.6x slower)
        width = np.concatenate([np.full(b - a, w, np.int64) for a, b, w in rows])
        plan = cls(rows, width)
        if key is not None:
            if len(cls._cache) > 64:
                cls._cache.clear()
            cls._cache[key] = plan
        return plan

    def _segments(self):
        """Key ranges (c0, c1) with the first query row that sees them: keys
        c0..c1-1 are seen by rows r0.. to the end (widths grow with the row)."""
        c0 = 0
        for r0, _, w in self.rows:
            if w > c0:
                yield c0, w, r0
                c0 = w

    def forward(self, q, k, v, scale, bias, weighted):
        """The softmax weights P and, with ``weighted``, P @ v (else None), in
        parts of the batch over the intra-op threads."""
        L, S = q.shape[-2], k.shape[-2]
        s = np.empty(q.shape[:-2] + (L, S), q.dtype)
        out = self._out(s, v) if weighted else None
        b = None if bias is None else bias.reshape(bias.shape[-2:])
        kern = _jit.kernels_for(q.dtype)
        fn = _parallel.gemm_address(q.dtype)
        if fn and q.ndim in (3, 4) and v.shape[-1]:
            q4, k4, v4, s4, o4 = _as4(q, k, v, s, out)
            _pairs_parallel(lambda lo, hi: kern.attention_forward(
                q4, k4, v4, s4, o4, self.row_table, self.width, b, q.dtype.type(scale),
                lo, hi, fn), s4, 2 * q.shape[-1] + v.shape[-1])
            return s, out

        def part(i):
            # (q is scaled before the product, as torch does: with huge scores
            # that decides which ones tie)
            self.scores(q[i] * scale, k[i], out=s[i])
            kern.softmax_rows_masked(s[i].reshape(-1, S), b, self.width)
            if weighted:
                self.weighted(s[i], v[i], out=out[i])
        _batch_parallel(part, s, 2 * q.shape[-1] + v.shape[-1])
        return s, out

    def scores(self, qs, k, fill=False, out=None):
        """q k^T on the visible blocks; the rest unset (0 with ``fill``)."""
        L, S = qs.shape[-2], k.shape[-2]
        kt = _swap(k)
        if S * k.shape[-1] <= 4096:
            kt = np.ascontiguousarray(kt)   # (small stacked k^T: a copy + BLAS beats NumPy's loop)
        if len(self.rows) == 1:
            return np.matmul(qs, kt, out=out)
        if out is None:
            out = np.empty(qs.shape[:-2] + (L, S), qs.dtype)
        if fill:
            out.fill(0)
        for r0, r1, w in self.rows:
            if w:
                np.matmul(qs[..., r0:r1, :], kt[..., :w], out=out[..., r0:r1, :w])
        return out

    @staticmethod
    def _out(p, v):
        """An empty p @ v, laid out (*, L, H, Ev) in memory for 4-d inputs, so
        that the usual transpose(1, 2).contiguous() after attention costs
        nothing (torch's SDPA output has that layout too)."""
        shape = p.shape[:-1] + v.shape[-1:]
        if p.ndim == 4:
            return np.empty((shape[0], shape[2], shape[1], shape[3]), p.dtype).transpose(0, 2, 1, 3)
        return np.empty(shape, p.dtype)

    def weighted(self, p, v, out=None):
        """p @ v over the visible keys (see ``_out`` for its layout)."""
        if out is None:
            out = self._out(p, v)
        for r0, r1, w in self.rows:
            if w:
                np.matmul(p[..., r0:r1, :w], v[..., :w, :], out=out[..., r0:r1, :])
            else:
                out[..., r0:r1, :] = 0
        return out

    def backward(self, q, k, v, P, ed, keep, c, g, gw, sc, need):
        dq, dk, dv = _grads_like((q, k, v), need)
        kern = _jit.kernels_for(P.dtype)
        S = P.shape[-1]
        fill = gw is not None or keep is not None
        fn = _parallel.gemm_address(P.dtype)
        if fn and q.ndim in (3, 4) and v.shape[-1] and all(map(_blas_rows, (dq, dk, dv))):
            # (the gradients are written in place: they must be as BLAS takes them)
            a = _as4(q, k, v, P, ed, keep, g, gw) + _as4(dq, dk, dv)
            _pairs_parallel(lambda lo, hi: kern.attention_backward(
                *a, P.dtype.type(c), self.row_table, self.key_table, self.width,
                P.dtype.type(sc), lo, hi, fn), a[3], 2 * (q.shape[-1] + v.shape[-1]))
            return dq, dk, dv, None
        c = np.asarray(c, P.dtype)

        def part(i):
            if dv is not None:
                self._to_keys(ed[i], g[i], dv[i])
            if dq is None and dk is None:
                return
            # d(loss)/d(weights after dropout), on the visible part
            dP = self.scores(g[i], v[i], fill=fill)
            if gw is not None:
                dP += gw[i]
            if keep is not None:
                dP *= keep[i]
                dP *= c
            kern.attention_softmax_backward(dP.reshape(-1, S), P[i].reshape(-1, S), self.width, sc)
            dS = dP                           # (times the scale: the gradient of q k^T)
            if dq is not None:
                dqi, ki = dq[i], k[i]
                for r0, r1, w in self.rows:
                    if w:
                        np.matmul(dS[..., r0:r1, :w], ki[..., :w, :], out=dqi[..., r0:r1, :])
                    else:
                        dqi[..., r0:r1, :] = 0
            if dk is not None:
                self._to_keys(dS, q[i], dk[i])
        _batch_parallel(part, P, 2 * (q.shape[-1] + v.shape[-1]))
        return dq, dk, dv, None

    def _to_keys(self, a, b, out):
        """out = a^T @ b, (S, X) from a (L, S) and b (L, X), over the visible
        blocks: keys c0..c1-1 only collect rows r0.. onwards."""
        c1 = 0
        for c0, c1, r0 in self._segments():
            np.matmul(_swap(a[..., r0:, c0:c1]), b[..., r0:, :], out=out[..., c0:c1, :])
        if c1 < out.shape[-2]:
            out[..., c1:, :] = 0


def _blas_rows(x):
    """Whether BLAS can take the matrices of ``x`` (*, R, C) as they lie:
    unit stride along a row, rows apart by at least a row, no negative
    strides.  None passes."""
    if x is None or not x.size:
        return True
    st = x.strides
    return st[-1] == x.itemsize and min(st) >= 0 \
        and (x.shape[-2] == 1 or st[-2] >= x.shape[-1] * x.itemsize)


def _as4(*arrays):
    """The arrays as 4-D views (a 3-D one gets a leading axis of 1), inputs
    that BLAS can't take as they lie copied first (see ``_blas_rows``);
    None stays None."""
    res = []
    for x in arrays:
        if x is not None:
            if x.ndim == 3:
                x = x[None]
            if not _blas_rows(x):
                x = np.ascontiguousarray(x)
        res.append(x)
    return res


def _pairs_parallel(kernel, s4, per_score):
    """``kernel(lo, hi)`` over the (batch, head) pairs of the 4-D scores
    ``s4``, on the intra-op threads, each given ~2^18 multiply-adds or more
    (``per_score`` per score)."""
    n = s4.shape[0] * s4.shape[1]
    per_pair = max(s4.shape[2] * s4.shape[3] * per_score, 1)
    _parallel.parallel_for(kernel, n, grain=max(1, -(-(1 << 18) // per_pair)))


def _batch_parallel(part, s, per_score):
    """``part(index)`` over parts of the batch of the scores ``s`` (*, L, S),
    on the intra-op threads; ``index`` selects the same part of any array
    with s's leading dims.  Parts are cut along the first leading axis longer
    than 1 (batch, else heads), each worth at least ~2^20 multiply-adds
    (``per_score`` of them per score)."""
    axis = next((a for a, n in enumerate(s.shape[:-2]) if n > 1), None)
    if axis is None:
        part(Ellipsis)
        return
    n = s.shape[axis]
    per_index = s.size // n * per_score
    lead = (slice(None),) * axis
    _parallel.parallel_for(lambda lo, hi: part(lead + (slice(lo, hi),)), n,
                           grain=max(1, -(-(1 << 20) // max(per_index, 1))))


def _grads_like(arrays, need):
    """Empty gradients for ``arrays`` (None where not needed).  When they are
    views of one C-contiguous array that together cover it without overlap
    -- q, k and v split from one (B, T, 3C) projection -- the gradients are
    the same views of one new buffer laid out like it, so the split's
    backward finds them already joined and copies nothing."""
    base = arrays[0].base
    if (all(need[:3]) and isinstance(base, np.ndarray) and base.flags.c_contiguous
            and all(a.base is base and a.dtype == base.dtype for a in arrays)
            and sum(a.size for a in arrays) == base.size     # (they tile it: no buffer larger than needed)
            and not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])):
        buf = np.empty_like(base)
        start = base.__array_interface__["data"][0]
        return [np.ndarray(a.shape, a.dtype, buf, a.__array_interface__["data"][0] - start, a.strides)
                for a in arrays]
    return [np.empty(a.shape, a.dtype) if n else None for a, n in zip(arrays, need)]


def _graph_backward(q, k, v, add, P, keep, g, gw, scale, c, gk, gv, bias, need):
    """The same gradient built from Ember ops on Tensors (``create_graph=True``),
    recomputing the weights from q and k so that they too are differentiated."""
    t = [x if isinstance(x, Tensor) else (None if x is None else _wrap(x)) for x in (q, k, v, add)]
    q, k, v, add = t
    L = q.shape[-2]
    s = (_tgroup(q, gk) * scale) @ k.transpose(-1, -2)
    s = _tungroup(s, gk, L)
    if add is not None:
        s = s + add
    Pa = P._data if isinstance(P, Tensor) else P
    if bias is not None:
        s = s.masked_fill(_wrap(np.broadcast_to(np.isneginf(bias), s.shape)), _NEG_INF)
    # rows where nothing may be attended: weights are exactly zero there
    dead = _wrap(np.broadcast_to(Pa.sum(axis=-1, keepdims=True) == 0, s.shape))
    w = s.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)
    km = None if keep is None else _wrap((keep * c).astype(Pa.dtype))
    wd = w if km is None else w * km
    if g is None:
        g = _wrap(np.zeros(Pa.shape[:-1] + (v.shape[-1],), Pa.dtype))
    elif not isinstance(g, Tensor):
        g = _wrap(g)
    gr = _tgroup(g, gv)
    dv = _tgroup(wd, gv).transpose(-1, -2) @ gr if need[2] else None
    dP = _tungroup(gr @ v.transpose(-1, -2), gv, L)
    if gw is not None:
        dP = dP + (gw if isinstance(gw, Tensor) else _wrap(gw))
    if km is not None:
        dP = dP * km
    dS = w * (dP - (dP * w).sum(-1, keepdim=True))
    dSr = _tgroup(dS, gk)
    dq = _tungroup(dSr @ k, gk, L) * scale if need[0] else None
    dk = (dSr.transpose(-1, -2) @ _tgroup(q, gk)) * scale if need[1] else None
    return dq, dk, dv, (dS if need[3] else None)


def _tgroup(x, g):
    if g == 1:
        return x
    s = tuple(x.shape)
    return x.reshape(s[:-3] + (s[-3] // g, g * s[-2], s[-1]))


def _tungroup(x, g, L):
    if g == 1:
        return x
    s = tuple(x.shape)
    return x.reshape(s[:-3] + (s[-3] * g, L, s[-1]))


# ---- masks ---------------------------------------------------------------------------------

_CAUSAL = {}


def _causal_bias(L, S, dtype):
    """(L, S) additive mask, -inf above the diagonal and 0 elsewhere: torch's
    top-left aligned causal mask (query i may see keys 0..i), built once per
    size and dtype and kept read-only."""
    key = (L, S, dtype)
    m = _CAUSAL.get(key)
    if m is None:
        m = np.where(np.triu(np.ones((L, S), dtype=bool), 1), _NEG_INF, 0.0).astype(dtype)
        m.flags.writeable = False
        if len(_CAUSAL) > 64:
            _CAUSAL.clear()
        _CAUSAL[key] = m
    return m


# ---- argument checks ------------------------------------------------------------------------

def _dtype_name(a):
    return {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
            "int64": "long int", "int32": "int", "bool": "bool"}.get(a.dtype.name, a.dtype.name)


def _check(query, key, value, attn_mask, is_causal, enable_gqa):
    if not (isinstance(query, Tensor) and isinstance(key, Tensor) and isinstance(value, Tensor)):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be Tensor, "
                                f"not {type(t).__name__}")
    q, k, v = query._data, key._data, value._data
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(f"Expected query, key, and value to all be  at least 2 dimensional, but got "
                           f"query.dim: {q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead.")
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{_dtype_name(q)} key.dtype: {_dtype_name(k)} and value.dtype: "
                           f"{_dtype_name(v)} instead.")
    if q.dtype.kind != "f":
        raise RuntimeError(f"scaled_dot_product_attention: expected a floating point query, key and "
                           f"value, but got {_dtype_name(q)}")
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query and key must have the same embedding "
                           f"size (last dim), but got query {list(q.shape)} and key {list(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key and value must have the same sequence "
                           f"length (dim -2), but got key {list(k.shape)} and value {list(v.shape)}")
    gk = gv = 1
    if enable_gqa:
        if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
            raise IndexError("Dimension out of range (expected to be in range of [-2, 1], but got -3)")
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(f"Number of heads in key and value must divide the number of heads in "
                               f"query, but got query heads {hq}, key heads {hk}, value heads {hv}")
        gk, gv = hq // hk, hq // hv
    # batch (and head) dims must broadcast, as the matmuls will
    qb = q.shape[:-2]
    kb = k.shape[:-2] if gk == 1 else k.shape[:-3] + (k.shape[-3] * gk,)
    vb = v.shape[:-2] if gv == 1 else v.shape[:-3] + (v.shape[-3] * gv,)
    try:
        sb = qb if qb == kb == vb else np.broadcast_shapes(qb, kb, vb)
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: the batch dims of query {list(q.shape)}, "
                           f"key {list(k.shape)} and value {list(v.shape)} do not broadcast"
                           + ("" if enable_gqa or q.ndim < 3 else
                              " (set enable_gqa=True for grouped-query attention)")) from None
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                               "when is_causal=True")
        if not isinstance(attn_mask, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument 'attn_mask' must be Tensor, "
                            f"not {type(attn_mask).__name__}")
        m = attn_mask._data
        if m.dtype != np.bool_ and m.dtype != q.dtype and m.dtype != np.float32:
            raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query dtype, "
                               f"but got attn_mask.dtype: {_dtype_name(m)} and  query.dtype: "
                               f"{_dtype_name(q)} instead.")
        scores = sb + (q.shape[-2], k.shape[-2])
        try:
            if m.shape != scores[-m.ndim:] or m.ndim > len(scores):
                np.broadcast_shapes(scores, m.shape)
        except ValueError:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {list(m.shape)} does "
                               f"not broadcast to the attention weights' shape {list(scores)}") from None
    return gk, gv


def _prepare(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    gk, gv = _check(query, key, value, attn_mask, is_causal, enable_gqa)
    if scale is None:
        E = query._data.shape[-1]
        scale = 1.0 / math.sqrt(E) if E else float("inf")
    add = bias = None
    dt = query._data.dtype
    if is_causal:
        bias = _causal_bias(query._data.shape[-2], key._data.shape[-2], dt)
    elif attn_mask is not None:
        if attn_mask._data.dtype == np.bool_:
            bias = np.where(attn_mask._data, np.asarray(0, dt), np.asarray(_NEG_INF, dt))
        else:
            add = attn_mask
            if add._data.dtype != query._data.dtype:  # a float32 mask serves any query dtype
                add = add.to(query.dtype)
    return add, bias, float(scale), float(dropout_p), gk, gv


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, with dropout on the weights.

    query (*, Hq, L, E), key (*, Hk, S, E), value (*, Hv, S, Ev) -> (*, Hq, L, Ev).
    ``attn_mask``: bool (True = may attend) or float (added to the scores),
    broadcastable to (*, Hq, L, S).  ``is_causal``: query i sees keys 0..i
    (top-left aligned when L != S).  ``scale`` defaults to 1 / sqrt(E).
    ``enable_gqa``: Hk and Hv may divide Hq; query head h uses key/value
    head h // (Hq / Hk).  Rows that may attend to nothing are zero.
    """
    add, bias, scale, p, gk, gv = _prepare(query, key, value, attn_mask, dropout_p, is_causal,
                                              scale, enable_gqa)
    return _SDPA.apply(query, key, value, add, bias, scale, p, gk, gv, False)


def _attention_with_weights(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                            scale=None, enable_gqa=False):
    """Like ``scaled_dot_product_attention`` but also returns the attention
    weights (*, Hq, L, S), after dropout, as a differentiable second output
    (what nn.MultiheadAttention returns with need_weights=True)."""
    add, bias, scale, p, gk, gv = _prepare(query, key, value, attn_mask, dropout_p, is_causal,
                                              scale, enable_gqa)
    return _SDPA.apply(query, key, value, add, bias, scale, p, gk, gv, True)


# ---- multi-head attention (what nn.MultiheadAttention runs) -----------------------------------

def _canonical_mask(mask, name, other, other_name, dtype, check_other=True):
    """A bool mask (True = blocked) as a float mask (-inf where blocked, 0
    elsewhere) in ``dtype``; float masks pass through unchanged."""
    if mask is None:
        return None
    m = mask._data
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if check_other and other is not None and other._data.dtype != m.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type "
                      "for both instead.", stacklevel=3)
    if m.dtype == np.bool_:
        return _wrap(np.where(m, np.asarray(_NEG_INF, dtype), np.asarray(0, dtype)))
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True for batched (3-d) input, False for unbatched (2-d); torch's checks."""
    qd, kd, vd = query.dim(), key.dim(), value.dim()
    if qd == 3:
        if kd != 3 or vd != 3:
            raise AssertionError(f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but "
                                 f"found {kd}-D and {vd}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` "
                                 f"or 2-D but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                                 f"3-D but found {attn_mask.dim()}-D tensor instead")
        return True
    if qd == 2:
        if kd != 2 or vd != 2:
            raise AssertionError(f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but "
                                 f"found {kd}-D and {vd}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` "
                                 f"or 1-D but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, "
                                     f"2-D or 3-D but found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                         f"{tuple(attn_mask.shape)}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {qd}-D query "
                         "tensor")


def _linear(x, w, b):
    from .linear import linear
    return linear(x, w, b)


def _pad_last(m, n=1):
    """Append ``n`` zero columns (attend freely to an appended key)."""
    from ...ops.shape import cat
    z = _wrap(np.zeros(tuple(m.shape[:-1]) + (n,), m._data.dtype))
    return cat([m, z], -1)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                                 out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, use_separate_proj_weight=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                                 static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention, sequence-first as torch: query (L, N, E), key (S, N, kdim),
    value (S, N, vdim) (or unbatched (L, E)...) -> (output (L, N, E), weights).

    Weights are (N, L, S) averaged over heads (``average_attn_weights``) or
    (N, num_heads, L, S), or None when ``need_weights`` is False.  Masks:
    ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N * num_heads, L, S);
    a bool mask is True where attention is NOT allowed, a float mask is added.
    """
    from ...ops.shape import cat
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    # work batch-first: (N, L, E), so heads split with one reshape
    if batched:
        q_in, k_in, v_in = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    else:
        q_in, k_in, v_in = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    N, L, E = q_in.shape
    S = k_in.shape[1]
    dtype = query._data.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", attn_mask, "attn_mask",
                                       dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint stands for the mask: SDPA's causal path
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if E != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {E}")
    hd = E // num_heads
    if hd * num_heads != E:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match "
                                 f"value's {tuple(value.shape[:2])}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape "
                             f"{tuple(value.shape)}")

    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        w, b = in_proj_weight, in_proj_bias
        if query is key and key is value:  # self-attention: one matmul for q, k and v
            qkv = _linear(q_in, w, b).reshape(N, L, 3, num_heads, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
        else:
            bq = bk = bv = None
            if b is not None:
                bq, bk, bv = b[:E], b[E:2 * E], b[2 * E:]
            q = _linear(q_in, w[:E], bq)
            k = _linear(k_in, w[E:2 * E], bk)
            v = _linear(v_in, w[2 * E:], bv)
    else:
        for name, t in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if t is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight is None")
        bq = bk = bv = None
        if in_proj_bias is not None:
            bq, bk, bv = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
        q = _linear(q_in, q_proj_weight, bq)
        k = _linear(k_in, k_proj_weight, bk)
        v = _linear(v_in, v_proj_weight, bv)

    # masks to (N or 1, heads or 1, L, S)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(L, S)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (N * num_heads, L, S):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(N * num_heads, L, S)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        if q.dim() == 4:  # packed self-attention: back to (N, S, E) for the extra key
            k = k.transpose(1, 2).reshape(N, S, E)
            v = v.transpose(1, 2).reshape(N, S, E)
        k = cat([k, bias_k.reshape(1, 1, E).expand(N, 1, E)], 1)
        v = cat([v, bias_v.reshape(1, 1, E).expand(N, 1, E)], 1)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # heads: (N, H, L, hd)
    if q.dim() == 3:
        q = q.reshape(N, L, num_heads, hd).transpose(1, 2)
    if static_k is not None:
        if static_k.shape[0] != N * num_heads:
            raise AssertionError(f"expecting static_k.size(0) of {N * num_heads}, but got "
                                 f"{static_k.shape[0]}")
        if static_k.shape[2] != hd:
            raise AssertionError(f"expecting static_k.size(2) of {hd}, but got {static_k.shape[2]}")
        k = static_k.reshape(N, num_heads, -1, hd)
    elif k.dim() == 3:
        k = k.reshape(N, k.shape[1], num_heads, hd).transpose(1, 2)
    if static_v is not None:
        if static_v.shape[0] != N * num_heads:
            raise AssertionError(f"expecting static_v.size(0) of {N * num_heads}, but got "
                                 f"{static_v.shape[0]}")
        if static_v.shape[2] != hd:
            raise AssertionError(f"expecting static_v.size(2) of {hd}, but got {static_v.shape[2]}")
        v = static_v.reshape(N, num_heads, -1, hd)
    elif v.dim() == 3:
        v = v.reshape(N, v.shape[1], num_heads, hd).transpose(1, 2)
    if add_zero_attn:
        z = _wrap(np.zeros((N, num_heads, 1, hd), k._data.dtype))
        k = cat([k, z], 2)
        v = cat([v, z], 2)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    S = k.shape[2]
    if attn_mask is not None:
        attn_mask = attn_mask.reshape(N, num_heads, L, S) if attn_mask.shape[0] != 1 \
            else attn_mask.reshape(1, 1, L, S)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise AssertionError(f"Expected key_padded_mask.shape to be {(N, S)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(N, 1, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        out, w = _attention_with_weights(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    else:
        out, w = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal), None
    out = _linear(out.transpose(1, 2).reshape(N, L, E), out_proj_weight, out_proj_bias)
    out = out.transpose(0, 1) if batched else out.squeeze(0)
    if w is not None:
        if average_attn_weights:
            w = w.mean(dim=1)
        if not batched:
            w = w.squeeze(0)
    return out, w
