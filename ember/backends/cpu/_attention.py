"""CPU attention kernels: compiled and threaded where they apply, else the generic formulas.

Two compiled paths (``_numba``, float32):

* the fused one (float32 q, k and v with the same batch dims, no float
  mask, one (L, S) bias or none): the softmax is one compiled pass per row,
  and ``_Blocks`` lets every product skip the key columns a row block can't
  see -- with a causal mask, a quarter of the work for L = 64, more for
  longer sequences, as flash attention does.  With 3-d/4-d inputs the whole
  forward and backward of a range of (batch, head) pairs is one compiled
  call (cblas by address), the ranges split over the intra-op threads (the
  forward's as native pool jobs, bit for bit the result of one thread: see
  ``_numba.attention_entry``);
* on the generic path (grouped heads, broadcast batch dims), the masked
  softmax and its backward, one compiled pass per row.
"""
import math

import numpy as np

from .._table import CPU as KERNELS
from ..generic import attention as _generic
from ..generic.attention import swap as _swap
from . import _jit, _pool


@KERNELS.register
def attention_weights(q, k, v, add, bias, scale, gk, gv, weights, weighted, causal):
    """The generic ``attention_weights``; by the fused path (see the module
    docstring) where it applies: then the plan is a ``_Blocks``, E holds the
    normalised weights and, with ``weighted``, out = E @ v."""
    blocks = _fused_plan(q, k, v, add, bias, scale, gk, gv, causal)
    if blocks is None:
        return _generic.attention_weights(q, k, v, add, bias, scale, gk, gv, weights, weighted,
                                          causal)
    s, out = blocks.forward(q, k, v, q.dtype.type(scale), bias, weighted)
    return s, None, out, blocks


@KERNELS.register
def attention_output(ed, v, rd, gv, plan):
    """The generic ``attention_output``; over the visible keys only on the fused path."""
    if plan is None:
        return _generic.attention_output(ed, v, rd, gv, plan)
    return plan.weighted(ed, v)


@KERNELS.register
def attention_backward(q, k, v, E, ed, keep, c, g, gw, rd, scale, gk, gv, plan, need):
    """The generic ``attention_backward``; by the fused path where the forward took it."""
    if plan is None:
        return _generic.attention_backward(q, k, v, E, ed, keep, c, g, gw, rd, scale, gk, gv,
                                           plan, need)
    return plan.backward(q, k, v, E, ed, keep, c, g, gw, np.asarray(scale, E.dtype), need)


@KERNELS.register
def attention_softmax_(s, add, bias):
    """The generic ``attention_softmax_``; where the compiled masked softmax
    takes the scores (no float mask, see ``_row_kernels``) it writes the
    normalised weights instead and returns None."""
    kern = _row_kernels(s, bias) if add is None else None
    if kern is None:
        return _generic.attention_softmax_(s, add, bias)
    S = s.shape[-1]
    kern.softmax_rows_masked(s.reshape(-1, S), None if bias is None else bias.reshape(s.shape[-2:]),
                             np.full(s.shape[-2], S, np.int64))
    return None


@KERNELS.register
def attention_softmax_backward_(dP, E, rd):
    """The generic ``attention_softmax_backward_``, one compiled pass per row
    for normalised float32 weights (rd None)."""
    kern = _row_kernels(E, None) if rd is None else None
    if kern is None or dP.dtype != E.dtype or not dP.flags.c_contiguous:
        _generic.attention_softmax_backward_(dP, E, rd)
        return
    S = E.shape[-1]
    kern.attention_softmax_backward(dP.reshape(-1, S), E.reshape(-1, S),
                                    np.full(1, S, np.int64), np.asarray(1, E.dtype))


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


# ---- the fused path: compiled softmax, products restricted to the visible keys ---------------

def _fused_plan(q, k, v, add, bias, scale, gk, gv, causal):
    """The ``_Blocks`` of a call the fused path takes, else None: float32 q, k
    and v with the same batch dims (no broadcasting, no grouped heads), a
    finite scale and a non-empty head dim, no float mask, no mask or one
    (L, S) mask shared by every (batch, head), and the compiled kernels.
    ``causal``: ``bias`` is the causal mask (its plan is cached)."""
    if add is not None or gk != 1 or gv != 1 or q.dtype != _F32 or not math.isfinite(scale):
        return None
    qs, ks = q.shape, k.shape
    L, S = qs[-2], ks[-2]
    if causal:      # (the usual call: one dict look-up for the mask's checks and plan)
        plan = _Blocks._cache.get((L, S, False))
        if plan is not None and qs[-1] and qs[:-2] == ks[:-2] == v.shape[:-2] \
                and _jit.kernels_for(_F32) is not None:
            return plan
    if qs[-1] == 0 or not qs[:-2] == ks[:-2] == v.shape[:-2]:
        return None
    if L == 0 or S == 0 or not _shared_mask(bias, L, S) or _jit.kernels_for(q.dtype) is None:
        return None
    return _Blocks.of(bias, L, S, causal)


_F32 = np.dtype(np.float32)


class _Blocks:
    """Which keys each block of query rows can see.

    Query rows r0..r1-1 attend to keys 0..w-1 only (every key past w is
    masked for all of them), for each (r0, r1, w) in ``rows``; ``width``
    holds that w for each row, for the softmax kernels.  With a causal
    mask (any mask whose visible keys grow with the row), rows are cut into
    up to 8 blocks of 16 or more so that every product -- q k^T, P v and the
    four of the backward -- runs on the lower-left staircase only (at L = 64,
    4 blocks of 16 computed the forward ~10% faster than 2 of 32: less of
    the masked triangle is multiplied and exponentiated).  Without a mask
    there is one block that sees all keys.
    """
    _cache = {}

    def __init__(self, rows, width):
        self.rows, self.width = rows, width
        # (the same, as arrays for the compiled kernels)
        self.row_table = np.array(rows, np.int64).reshape(-1, 3)
        self.key_table = np.array(list(self._segments()), np.int64).reshape(-1, 3)

    @classmethod
    def of(cls, bias, L, S, causal):
        key = None
        if bias is None or causal:
            key = (L, S, bias is None)      # (the causal mask is one per size: plan once)
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
            nb = min(8, L // 16)
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
        parts of the batch over the intra-op threads.  ``scale``: a scalar of
        q's dtype."""
        L, S = q.shape[-2], k.shape[-2]
        s = np.empty(q.shape[:-2] + (L, S), q.dtype)
        out = self._out(s, v) if weighted else None
        b = None if bias is None else bias.reshape(bias.shape[-2:])
        kern = _jit.kernels_for(q.dtype)
        fn = _pool.gemm_address(q.dtype)
        if fn and (q.ndim == 4 or q.ndim == 3) and v.shape[-1]:
            # (s and out are new arrays that BLAS takes as they lie: only the
            # inputs need _as4's check, a few us a call when decoding token by token)
            if q.ndim == 4:
                q4, k4, v4 = _in4(q), _in4(k), _in4(v)
                s4, o4 = s, out
            else:
                q4, k4, v4 = _as4(q, k, v)
                s4, o4 = s[None], None if out is None else out[None]
            if b is not None and not b.flags.c_contiguous:
                b = np.ascontiguousarray(b)
            n = s4.shape[0] * s4.shape[1]
            # pairs per thread: ~2^17 multiply-adds or more each (a hand-off to
            # a spinning worker costs 1-3 us; 2^17 are ~3-5 us here)
            work = n * L * S * (2 * q.shape[-1] + v.shape[-1])
            parts = min(_pool.get_num_threads(), n, work >> 17)
            entry = kern.attention_entry()
            args = (q4, k4, v4, s4, o4, self.row_table, self.width, b, scale)
            if parts < 2 or not _pool.attention_forward(args + (fn, entry), parts):
                kern.attention_forward(*args, 0, n, fn, entry)
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
        if p.ndim == 4 and shape[2] > 1:    # (one query row: both layouts are one)
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
        fn = _pool.gemm_address(P.dtype)
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
    if x is None:
        return True
    st, n = x.strides, x.itemsize
    # (a single row's stride must still pass as a leading dimension: BLAS refuses
    # one smaller than the row, as a stride-0 key of one position would give)
    if st[-1] == n and min(st) >= 0 and st[-2] >= x.shape[-1] * n:
        return True
    return not x.size


def _in4(x):
    """A 4-D input as BLAS can take it (see ``_blas_rows``): x, or a copy."""
    st = x.strides
    if st[3] == x.itemsize and st[2] >= x.shape[3] * st[3] and min(st) >= 0:
        return x
    return x if not x.size else x.copy()


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
                x = x.copy()    # (not ascontiguousarray: that keeps a size-1 dim's odd stride)
        res.append(x)
    return res


def _pairs_parallel(kernel, s4, per_score):
    """``kernel(lo, hi)`` over the (batch, head) pairs of the 4-D scores
    ``s4``, on the intra-op threads, each given ~2^18 multiply-adds or more
    (``per_score`` per score)."""
    n = s4.shape[0] * s4.shape[1]
    per_pair = max(s4.shape[2] * s4.shape[3] * per_score, 1)
    if n * per_pair < 1 << 19:      # (under two grains: one call here, as parallel_for would)
        kernel(0, n)
        return
    _pool.parallel_for(kernel, n, grain=max(1, -(-(1 << 18) // per_pair)))


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
    _pool.parallel_for(lambda lo, hi: part(lead + (slice(lo, hi),)), n,
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
