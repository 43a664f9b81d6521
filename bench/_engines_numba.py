"""Ember's compiled row kernels split by Numba's own threads (``prange``), for
``bench/engines.py``'s ``numba`` variant.

Each driver cuts the rows (or (batch, head) pairs) into ``parts`` ranges and
runs Ember's serial kernel on each inside a ``prange`` loop, so Numba's
threading layer (TBB, OpenMP or its workqueue, whichever it finds) runs the
ranges at once.  ``ParallelKernels`` stands in for the kernel module the
CPU backend asks for (``_jit.kernels()``): the row kernels become these
drivers, called with the same arguments; everything else is Ember's own.
The split thresholds are the pool's (``ELEMENT_GRAIN`` elements per thread,
~2^18 multiply-adds per attention range), so both engines split the same calls.
"""
import numba
import numpy as np
from numba import njit, prange

from ember.backends.cpu import _numba as K
from ember.backends.cpu._pool import ELEMENT_GRAIN


def _bounds(n, p, parts):
    return n * p // parts, n * (p + 1) // parts


_bounds = njit(cache=True)(_bounds)


@njit(parallel=True, cache=True)
def _softmax_rows(x, y, log, shift, parts):
    for p in prange(parts):
        lo, hi = _bounds(x.shape[0], p, parts)
        K.softmax_rows(x[lo:hi], y[lo:hi], log, shift)


@njit(parallel=True, cache=True)
def _softmax_rows_backward(g, y, gx, parts):
    for p in prange(parts):
        lo, hi = _bounds(g.shape[0], p, parts)
        K.softmax_rows_backward(g[lo:hi], y[lo:hi], gx[lo:hi])


@njit(parallel=True, cache=True)
def _norm_rows_forward(x, w, b, eps, one, inv_d, center, y, xhat, rstd, parts):
    for p in prange(parts):
        lo, hi = _bounds(x.shape[0], p, parts)
        K.norm_rows_forward(x[lo:hi], w, b, eps, one, inv_d, center, y[lo:hi], xhat[lo:hi],
                            rstd[lo:hi])


@njit(parallel=True, cache=True)
def _norm_rows_backward(g, xhat, rstd, w, one, inv_d, center, gx, pw, pb, parts):
    for p in prange(parts):
        lo, hi = _bounds(g.shape[0], p, parts)
        K.norm_rows_backward(g[lo:hi], xhat[lo:hi], rstd[lo:hi], w, one, inv_d, center,
                             gx[lo:hi], pw[p], pb[p])


@njit(parallel=True, cache=True)
def _gelu_forward(x, y, dy, parts):
    for p in prange(parts):
        lo, hi = _bounds(x.shape[0], p, parts)
        K.gelu_forward(x[lo:hi], y[lo:hi], dy[lo:hi])


@njit(parallel=True, cache=True)
def _rows_add(x, b, parts):
    for p in prange(parts):
        lo, hi = _bounds(x.shape[0], p, parts)
        K.rows_add(x[lo:hi], b)


@njit(parallel=True, cache=True)
def _fill_masked_rows(x, mask, value, out, parts):
    for p in prange(parts):
        lo, hi = _bounds(x.shape[0], p, parts)
        K.fill_masked_rows(x[lo:hi], mask, value, out[lo:hi])


@njit(parallel=True, cache=True)
def _multiply(a, b, out, parts):
    for p in prange(parts):
        lo, hi = _bounds(a.shape[0], p, parts)
        for i in range(lo, hi):
            out[i] = a[i] * b[i]


@njit(parallel=True, cache=True)
def _attention_forward(q, k, v, s, out, rows, width, bias, scale, lo, hi, fn, entry, parts):
    for p in prange(parts):
        a, b = _bounds(hi - lo, p, parts)
        K.attention_forward(q, k, v, s, out, rows, width, bias, scale, lo + a, lo + b, fn, entry)


@njit(parallel=True, cache=True)
def _attention_backward(q, k, v, P, ed, keep, g, gw, dq, dk, dv, c, rows, segs, width, scale,
                        lo, hi, fn, parts):
    for p in prange(parts):
        a, b = _bounds(hi - lo, p, parts)
        K.attention_backward(q, k, v, P, ed, keep, g, gw, dq, dk, dv, c, rows, segs, width,
                             scale, lo + a, lo + b, fn)


def _parts(elements, units, grain=ELEMENT_GRAIN):
    """How many ranges to cut ``units`` rows of ``elements`` in all into: one
    per thread, each with at least ``grain`` elements (the pool's rule)."""
    if elements < 2 * grain:
        return 1
    return max(1, min(numba.get_num_threads(), units, elements // grain))


def multiply(a, b):
    """The pool's ``multiply`` (``a * b``, split when large) on Numba's threads."""
    if a.shape != b.shape or a.dtype != b.dtype or a.size < 2 * ELEMENT_GRAIN \
            or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return a * b
    out = np.empty_like(a)
    _multiply(a.reshape(-1), b.reshape(-1), out.reshape(-1), _parts(a.size, a.size))
    return out


class ParallelKernels:
    """Ember's kernel module with its row kernels split over Numba's threads."""

    def __init__(self, serial):
        self._serial = serial

    def __getattr__(self, name):         # (every other kernel: Ember's own)
        return getattr(self._serial, name)

    def softmax_rows(self, x, y, log, shift):
        n = _parts(x.size, x.shape[0])
        if n < 2:
            return K.softmax_rows(x, y, log, shift)
        _softmax_rows(x, y, log, shift, n)

    def softmax_rows_backward(self, g, y, gx):
        n = _parts(g.size, g.shape[0])
        if n < 2:
            return K.softmax_rows_backward(g, y, gx)
        _softmax_rows_backward(g, y, gx, n)

    def norm_rows_forward(self, x, w, b, eps, one, inv_d, center, y, xhat, rstd):
        n = _parts(x.size, x.shape[0])
        if n < 2:
            return K.norm_rows_forward(x, w, b, eps, one, inv_d, center, y, xhat, rstd)
        _norm_rows_forward(x, w, b, eps, one, inv_d, center, y, xhat, rstd, n)

    def norm_rows_backward(self, g, xhat, rstd, w, one, inv_d, center, gx, gw, gb):
        n = _parts(g.size, g.shape[0])
        if n < 2 or gw is None or gb is None:
            return K.norm_rows_backward(g, xhat, rstd, w, one, inv_d, center, gx, gw, gb)
        pw = np.empty((n,) + gw.shape, gw.dtype)   # each range's share of gw, gb
        pb = np.empty((n,) + gb.shape, gb.dtype)
        _norm_rows_backward(g, xhat, rstd, w, one, inv_d, center, gx, pw, pb, n)
        np.sum(pw, axis=0, out=gw)
        np.sum(pb, axis=0, out=gb)

    def gelu_forward(self, x, y, dy):
        n = _parts(x.size, x.size)
        if n < 2:
            return K.gelu_forward(x, y, dy)
        _gelu_forward(x, y, dy, n)

    def rows_add(self, x, b):
        n = _parts(x.size, x.shape[0])
        if n < 2:
            return K.rows_add(x, b)
        _rows_add(x, b, n)

    def fill_masked_rows(self, x, mask, value, out):
        n = _parts(x.size, x.shape[0])
        if n < 2:
            return K.fill_masked_rows(x, mask, value, out)
        _fill_masked_rows(x, mask, value, out, n)

    def attention_forward(self, q, k, v, s, out, rows, width, bias, scale, lo, hi, fn, entry):
        work = s.shape[2] * s.shape[3] * (2 * q.shape[3] + v.shape[3])   # per (batch, head)
        n = _parts(work * (hi - lo), hi - lo, grain=1 << 18)
        if n < 2:
            return K.attention_forward(q, k, v, s, out, rows, width, bias, scale, lo, hi, fn,
                                       entry)
        _attention_forward(q, k, v, s, out, rows, width, bias, scale, lo, hi, fn, entry, n)

    def attention_backward(self, q, k, v, P, ed, keep, g, gw, dq, dk, dv, c, rows, segs, width,
                           scale, lo, hi, fn):
        work = P.shape[2] * P.shape[3] * 2 * (q.shape[3] + v.shape[3])
        n = _parts(work * (hi - lo), hi - lo, grain=1 << 18)
        if n < 2:
            return K.attention_backward(q, k, v, P, ed, keep, g, gw, dq, dk, dv, c, rows, segs,
                                        width, scale, lo, hi, fn)
        _attention_backward(q, k, v, P, ed, keep, g, gw, dq, dk, dv, c, rows, segs, width,
                            scale, lo, hi, fn, n)
