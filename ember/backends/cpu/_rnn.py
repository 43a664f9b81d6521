"""Recurrent layers' kernels on the CPU.

The LSTM time loops (``lstm_steps`` and its backward, see
ember/backends/generic/rnn.py) run as one compiled call per sequence
(``_numba.lstm_forward`` / ``lstm_backward``) when the compiled kernels and
NumPy's BLAS (for the per-step products, called without the GIL) are
there, in float32 and float64; otherwise as the generic NumPy loops.  Both
fill the same saved arrays, so either backward can follow either forward.
"""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import rnn as _generic
from . import _jit, _pool
from ._rows import _ones


@KERNELS.register
def col_sums(a2):
    """Column sums of a 2-D (steps * batch, gates) array as a vector-matrix
    product (much faster than NumPy's reduction over the long axis for the
    shapes of recurrent layers' bias gradients)."""
    return _ones(a2.shape[0], a2.dtype) @ a2


def _compiled(dt, *arrays):
    """(kernel module, ?gemm address) for a sequence of dtype ``dt`` whose
    arrays are all non-empty, or (None, None)."""
    kern = _jit.kernels_for(dt)
    if kern is None or not all(a.size for a in arrays):
        return None, None
    fn = _pool.gemm_address(dt)
    if not fn:
        return None, None
    if _pool.get_num_threads() > 1:
        _pool._own_blas()   # (OpenBLAS at one thread, as for the pool's own products)
    return kern, fn


def _c(a, dt):
    return np.ascontiguousarray(a, dtype=dt)


def _batch_sizes(bsz, T, B):
    """Active rows per step as the int64 array the kernels take."""
    return np.full(T, B, np.int64) if bsz is None else np.asarray(bsz, np.int64)


# Multiply-adds (of the per-step products, over the sequence) below which a
# thread is not given its own range of rows.
_ROW_GRAIN = 1 << 18


def _by_rows(kernel, T, B, H, P):
    """``kernel(lo, hi)`` over ranges of the batch rows on the intra-op
    threads: a row's recurrence never reads another row, so each thread runs
    the whole sequence for its rows, without waiting for the others between
    steps."""
    _pool.parallel_for(kernel, B, grain=max(1, -(-_ROW_GRAIN // (T * 4 * H * P))))


@KERNELS.register
def lstm_steps(proj, bf, whs, h0, c0, w_hr, bsz, reverse, ACT, CS, TC, OUT, RS):
    """The generic ``lstm_steps``, as one compiled call where it can."""
    dt = ACT.dtype
    kern, fn = _compiled(dt, ACT, OUT)
    if kern is None:
        return _generic.lstm_steps(proj, bf, whs, h0, c0, w_hr, bsz, reverse, ACT, CS, TC,
                                   OUT, RS)
    T, _, B, H = ACT.shape
    P = OUT.shape[2]
    none = np.empty((0, 0), dt)
    # W_hh^T, (P, 4H): the per-step product h @ W_hh^T reads it as BLAS's
    # faster untransposed operand
    wt = _c(whs.reshape(4 * H, P).T, dt)
    args = (_c(proj, dt), bool(bf), wt, _c(h0, dt), _c(c0, dt),
            none if w_hr is None else _c(w_hr, dt), _batch_sizes(bsz, T, B), bool(reverse),
            ACT, CS, TC, OUT, np.empty((0, B, H), dt) if RS is None else RS,
            np.empty((B, 4 * H), dt), dt.type(1), fn)
    _by_rows(lambda lo, hi: kern.lstm_forward(*args, lo, hi), T, B, H, P)


@KERNELS.register
def lstm_steps_backward(gout, bf, ghT, gcT, ACT, CS, c0, TC, w_hh, w_hr, bsz, reverse, DXs,
                        DH):
    """The generic ``lstm_steps_backward``, as one compiled call where it can."""
    dt = ACT.dtype
    kern, fn = _compiled(dt, ACT, w_hh)
    if kern is None:
        return _generic.lstm_steps_backward(gout, bf, ghT, gcT, ACT, CS, c0, TC, w_hh, w_hr,
                                            bsz, reverse, DXs, DH)
    T, _, B, H = ACT.shape
    P = w_hh.shape[1]
    dhc, dcc = np.empty((B, P), dt), np.empty((B, H), dt)
    args = (_c(gout, dt), bool(bf), _c(ghT, dt), _c(gcT, dt), ACT, CS, _c(c0, dt), TC,
            _c(w_hh, dt), np.empty((0, 0), dt) if w_hr is None else _c(w_hr, dt),
            _batch_sizes(bsz, T, B), bool(reverse), DXs,
            np.empty((0, B, P), dt) if DH is None else DH,
            np.empty((B, P), dt), np.empty((B, H), dt), dhc, dcc, dt.type(1), fn)
    _by_rows(lambda lo, hi: kern.lstm_backward(*args, lo, hi), T, B, H, P)
    return dhc, dcc


@KERNELS.register
def gru_steps(proj, bf, whs, bn, h0, bsz, reverse, ACT, HN, OUT):
    """The generic ``gru_steps``, as one compiled call where it can."""
    dt = ACT.dtype
    kern, fn = _compiled(dt, ACT)
    if kern is None:
        return _generic.gru_steps(proj, bf, whs, bn, h0, bsz, reverse, ACT, HN, OUT)
    T, _, B, H = ACT.shape
    wt = _c(whs.reshape(3 * H, H).T, dt)    # (see lstm_steps)
    args = (_c(proj, dt), bool(bf), wt, np.zeros(H, dt) if bn is None else _c(bn, dt),
            _c(h0, dt), _batch_sizes(bsz, T, B), bool(reverse), ACT, HN, OUT,
            np.empty((B, 3 * H), dt), dt.type(1), fn)
    _pool.parallel_for(lambda lo, hi: kern.gru_forward(*args, lo, hi), B,
                       grain=max(1, -(-_ROW_GRAIN // (T * 3 * H * H))))


@KERNELS.register
def gru_steps_backward(gout, bf, ghT, ACT, HN, HP, w_hh, bsz, reverse, Q, DXn):
    """The generic ``gru_steps_backward``, as one compiled call where it can."""
    dt = ACT.dtype
    kern, fn = _compiled(dt, ACT)
    if kern is None:
        return _generic.gru_steps_backward(gout, bf, ghT, ACT, HN, HP, w_hh, bsz, reverse, Q,
                                           DXn)
    T, _, B, H = ACT.shape
    dhc = np.empty((B, H), dt)
    args = (_c(gout, dt), bool(bf), _c(ghT, dt), ACT, HN, _c(HP, dt), _c(w_hh, dt),
            _batch_sizes(bsz, T, B), bool(reverse), Q, DXn, np.empty((B, H), dt), dhc,
            dt.type(1), fn)
    _pool.parallel_for(lambda lo, hi: kern.gru_backward(*args, lo, hi), B,
                       grain=max(1, -(-_ROW_GRAIN // (T * 3 * H * H))))
    return dhc


@KERNELS.register
def rnn_steps(proj, bf, w_hh, relu, h0, bsz, reverse, OUT):
    """The generic ``rnn_steps``, as one compiled call where it can."""
    dt = OUT.dtype
    kern, fn = _compiled(dt, OUT)
    if kern is None:
        return _generic.rnn_steps(proj, bf, w_hh, relu, h0, bsz, reverse, OUT)
    T, B, H = OUT.shape
    args = (_c(proj, dt), bool(bf), _c(w_hh.T, dt), bool(relu), _c(h0, dt),
            _batch_sizes(bsz, T, B), bool(reverse), OUT, dt.type(1), fn)
    _pool.parallel_for(lambda lo, hi: kern.rnn_forward(*args, lo, hi), B,
                       grain=max(1, -(-_ROW_GRAIN // (T * H * H))))


@KERNELS.register
def rnn_steps_backward(gout, bf, ghT, OUT, w_hh, relu, bsz, reverse, DXs):
    """The generic ``rnn_steps_backward``, as one compiled call where it can."""
    dt = OUT.dtype
    kern, fn = _compiled(dt, OUT)
    if kern is None:
        return _generic.rnn_steps_backward(gout, bf, ghT, OUT, w_hh, relu, bsz, reverse, DXs)
    T, B, H = OUT.shape
    dhc = np.empty((B, H), dt)
    args = (_c(gout, dt), bool(bf), _c(ghT, dt), OUT, _c(w_hh, dt), bool(relu),
            _batch_sizes(bsz, T, B), bool(reverse), DXs, np.empty((B, H), dt), dhc,
            dt.type(1), fn)
    _pool.parallel_for(lambda lo, hi: kern.rnn_backward(*args, lo, hi), B,
                       grain=max(1, -(-_ROW_GRAIN // (T * H * H))))
    return dhc
