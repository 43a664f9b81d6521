"""CPU normalization kernels: compiled loops where they apply, else the generic formulas.

Two shapes of norm run compiled (``_numba``) in float32/64: layer/RMS norm
(statistics over the last axis of a 2-D view, elementwise affine), one pass
per row split over the intra-op threads, and batch norm (statistics per
channel of an (N, C, S) view, per-channel affine), one loop per channel,
the channels split in ranges over the threads.
Each saves a form of ``saved`` the generic backward takes (xhat; for batch
norm the pair (x, mean) instead of the centred x), so that either backward
can follow either forward.
"""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import norm as _generic
from . import _jit, _pool


def _channelwise(spec, dtype):
    """The compiled kernels, if they apply: batch norm (statistics per channel
    of an (N, C, S) view, per-channel affine) in float32/64."""
    if len(spec.view) != 3 or spec.axes != (0, 2) or not spec.fold:
        return None
    return _jit.kernels_for(dtype)


def _rowwise(spec, dtype):
    """The compiled kernels, if they apply: a layer/RMS norm (statistics over
    the last axis of a 2-D view, elementwise affine) in float32/64."""
    if len(spec.view) != 2 or spec.axes != (1,) or spec.fold:
        return None
    return _jit.kernels_for(dtype)


def _vec(a, dt):
    """A weight/bias (or rstd) as the contiguous 1-D array of dtype ``dt`` a kernel takes."""
    if a is None or a.ndim == 1 and a.dtype == dt and a.flags.c_contiguous:
        return a        # (the usual case, without a NumPy call: decoding runs tiny norms)
    return np.ascontiguousarray(a.reshape(-1), dtype=dt)


# (eps, 1, 1 / M) as scalars of the kernel's dtype, per (spec, dtype): making the
# three NumPy scalars costs more than a norm of a few rows.  Specs are made once
# per shape and never change (ember/nn/functional/normalization._spec).
_CONSTS = {}


def _consts(spec, dt):
    c = _CONSTS.get((spec, dt))
    if c is None:
        if len(_CONSTS) > 256:
            _CONSTS.clear()
        c = _CONSTS[(spec, dt)] = (dt.type(spec.eps), dt.type(1), dt.type(1.0 / spec.M))
    return c


def _param_grads(n, need, dt):
    """Output buffers for the weight and bias gradients (None when not wanted)."""
    return (np.empty(n, dt) if need[1] else None,
            np.empty(n, dt) if need[2] else None)


@KERNELS.register
def normalize(xv, w, b, spec, stats):
    """The generic ``normalize``, compiled for layer/RMS norm rows (without
    ``stats``) and batch norm channels."""
    y = _rows_forward(spec, xv, w, b) if not stats else None
    if y is None:
        y = _channels_forward(spec, xv, w, b)
    return y if y is not None else _generic.normalize(xv, w, b, spec, stats)


@KERNELS.register
def normalize_value(xv, w, b, spec):
    """normalize's y alone (no_grad: nothing saved), compiled for layer/RMS
    norm rows: the same bits, without writing xhat; else the generic answer."""
    out = _rows_forward(spec, xv, w, b, save=False)
    return out if out is not None else _generic.normalize_value(xv, w, b, spec)


@KERNELS.register
def normalize_backward(g, saved, rstd, w, spec, need):
    """The generic ``normalize_backward``, compiled where the forward was."""
    grads = _rows_backward(spec, g, saved, rstd, w, need)
    if grads is None:
        grads = _channels_backward(spec, g, saved, rstd, w, need)
    return grads if grads is not None else _generic.normalize_backward(g, saved, rstd, w, spec, need)


@KERNELS.register
def update_running_stats(rm, rv, mean, var, momentum, unbias):
    """The generic running-statistics update as one compiled pass (a batch
    norm's step otherwise pays ~10 NumPy calls on its C-long vectors),
    rounding as the NumPy operations do; same dtype and contiguous only."""
    dt = rm.dtype
    k = _jit.kernels_for(dt)
    if (k is None or rv.dtype != dt or mean.dtype != dt or var.dtype != dt
            or not (rm.flags.c_contiguous and rv.flags.c_contiguous)):
        return _generic.update_running_stats(rm, rv, mean, var, momentum, unbias)
    f = dt.type     # (scalars rounded from Python's double as NumPy would)
    k.running_stats_update(rm, rv, mean, var, f(1 - momentum), f(momentum), f(unbias))


@KERNELS.register
def channel_affine(x, scale, shift):
    """The generic ``channel_affine`` as one compiled pass over rows of the
    (N * C, S) view (NumPy's two broadcast passes against (1, C, 1, 1) cost
    2-2.5x), split over the threads by rows when large; float32/64,
    C-contiguous x, scale and shift of x's dtype."""
    k = _jit.kernels_for(x.dtype) if x.ndim >= 2 and x.size and x.flags.c_contiguous else None
    C = x.shape[1] if x.ndim >= 2 else 0
    if (k is None or scale.dtype != x.dtype or shift.dtype != x.dtype
            or scale.shape != shift.shape or scale.size != C
            or scale.shape != (1, C) + (1,) * (x.ndim - 2)):
        return _generic.channel_affine(x, scale, shift)
    R = x.shape[0] * C
    S = x.size // R
    x2 = x.reshape(R, S)
    y = np.empty(x.shape, x.dtype)
    y2 = y.reshape(R, S)
    sv, hv = scale.reshape(-1), shift.reshape(-1)
    if x.size < 2 * _pool.ELEMENT_GRAIN:     # (parallel_rows's own test, without its call)
        k.channel_affine(x2, sv, hv, y2, 0)
    else:
        _pool.parallel_rows(lambda lo, hi: k.channel_affine(x2[lo:hi], sv, hv, y2[lo:hi], lo),
                            R, S)
    return y


def _channel_parts(shape):
    """How many threads an (N, C, S) batch norm is split over, by channel
    ranges: each gets at least ``ELEMENT_GRAIN`` elements (a channel's
    statistics stay one thread's, so the result does not depend on the split)."""
    N, C, S = shape
    if C < 2 or N * C * S < 2 * _pool.ELEMENT_GRAIN:    # (the small case, without the pool)
        return 1
    return min(C, _pool.flat_parts(N * C * S))


def _run_channels(run, shape, *args):
    """``run(fn, *args, parts, jobs, flags)`` (``_numba.norm_channels_*_run``):
    split over the threads as native jobs (no GIL hand-off) when large, else
    its one job here.  Always through the job's one compiled copy
    (``_numba.pass_address``): a direct call's copy may sum in another
    order, and the result must not depend on the number of threads."""
    parts = _channel_parts(shape)
    fn = _jit.module().pass_address()
    if parts < 2 or not _pool.run_native(run, parts, fn, *args):
        jobs = np.empty((1, _pool.JOB_FIELDS), np.int64)
        run(fn, *args, 1, jobs, _NO_WORKERS)


# The pool flags of no worker (a run of one job posts nothing).
_NO_WORKERS = np.zeros(2, np.int64)


def _channels_forward(spec, xv, w, b):
    """Batch norm forward in one compiled loop per channel: normalize's
    result, with ``(x, mean)`` saved (the generic formula's other form of
    ``saved``: the backward centres x itself, so no centred copy is written),
    rstd of spec.sshape, mean and var per channel; None when the kernels
    don't apply."""
    k = _channelwise(spec, xv.dtype)
    if k is None or not spec.M:
        return None
    dt = xv.dtype
    x3 = np.ascontiguousarray(xv)
    C = x3.shape[1]
    y = np.empty(x3.shape, dt)
    mean, var, rstd = np.empty(C, dt), np.empty(C, dt), np.empty(C, dt)
    wv, bv = _vec(w, dt), _vec(b, dt)
    # (without affine: scale 1 and shift 0, which round as the kernel's None cases)
    _run_channels(k.norm_channels_forward_run, x3.shape, x3,
                  np.ones(C, dt) if wv is None else wv, np.zeros(C, dt) if bv is None else bv,
                  float(spec.eps), 1.0 / spec.M, y, mean, var, rstd)
    return y, (x3, mean), rstd.reshape(spec.sshape), mean, var


def _channels_backward(spec, g, saved, rstd, w, need):
    """The compiled backward for batch norm, from either form of ``saved``:
    ``(x, mean)`` (_channels_forward) or the centred x (the generic
    formula); None when the kernels don't apply."""
    dt = g.dtype
    k = _channelwise(spec, dt)
    if k is None or not spec.M:
        return None
    if type(saved) is tuple:
        x, mean = saved
    else:
        x, mean = saved, np.zeros(g.shape[1], dt)
    if x.dtype != dt or x.shape != g.shape or mean.dtype != dt:
        return None
    gx = np.empty(g.shape, dt)
    gw, gb = _param_grads(g.shape[1], need, dt)
    g, x, rv, wv = np.ascontiguousarray(g), np.ascontiguousarray(x), _vec(rstd, dt), _vec(w, dt)
    C = g.shape[1]
    _run_channels(k.norm_channels_backward_run, g.shape, g, x, mean, rv,
                  np.ones(C, dt) if wv is None else wv, 1.0 / spec.M, gx,
                  np.empty(C, dt) if gw is None else gw, np.empty(C, dt) if gb is None else gb)
    return gx if need[0] else None, gw, gb


def _rows_forward(spec, xv, w, b, save=True):
    """Layer/RMS norm forward in one compiled pass per row: normalize's
    result (xhat saved, rstd of shape (R, 1), no mean and var), or y alone
    without ``save`` (xhat not written); None when the kernels don't apply."""
    k = _rowwise(spec, xv.dtype)
    if k is None or not spec.M:
        return None
    dt = xv.dtype
    x2 = np.ascontiguousarray(xv)
    shape = x2.shape
    # (np.empty, not empty_like: that one is a Python-level wrapper, slow on small arrays)
    y = np.empty(shape, dt)
    xhat = np.empty(shape, dt) if save else None
    rstd = np.empty((shape[0], 1), dt)
    r1, wv, bv = rstd.reshape(-1), _vec(w, dt), _vec(b, dt)
    eps, one, inv = _consts(spec, dt)
    if x2.size < 2 * _pool.ELEMENT_GRAIN:    # (parallel_rows's own test, without its call)
        k.norm_rows_forward(x2, wv, bv, eps, one, inv, spec.center, y, xhat, r1)
    else:
        _pool.parallel_rows(lambda lo, hi: k.norm_rows_forward(
            x2[lo:hi], wv, bv, eps, one, inv, spec.center, y[lo:hi],
            None if xhat is None else xhat[lo:hi], r1[lo:hi]),
            shape[0], shape[1])
    return (y, xhat, rstd, None, None) if save else y


def _rows_backward(spec, g, xhat, rstd, w, need):
    """The compiled backward for what _rows_forward computed; None otherwise."""
    dt = g.dtype
    k = _rowwise(spec, dt)
    if k is None or not spec.M or xhat.dtype != dt or xhat.shape != g.shape:
        return None
    g2 = np.ascontiguousarray(g)
    gx = np.empty_like(g2)
    R, D = g2.shape
    gw, gb = _param_grads(D, need, dt)
    xh, r1, wv = np.ascontiguousarray(xhat), _vec(rstd, dt), _vec(w, dt)
    _, one, inv = _consts(spec, dt)
    # each range of rows sums its own share of gw and gb (rows 0.. in gw, gb)
    part_w, part_b = {}, {}

    def rows(lo, hi):
        pw = gw if lo == 0 or gw is None else np.empty_like(gw)
        pb = gb if lo == 0 or gb is None else np.empty_like(gb)
        k.norm_rows_backward(g2[lo:hi], xh[lo:hi], r1[lo:hi], wv, one, inv, spec.center,
                             gx[lo:hi], pw, pb)
        part_w[lo], part_b[lo] = pw, pb
    _pool.parallel_rows(rows, R, D)
    for lo in sorted(part_w)[1:]:
        if gw is not None:
            gw += part_w[lo]
        if gb is not None:
            gb += part_b[lo]
    return gx if need[0] else None, gw, gb
