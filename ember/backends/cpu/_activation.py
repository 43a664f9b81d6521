"""CPU activation kernels: the fast paths; anything else goes to the generic formula.

ReLU (forward and backward), GELU and softmax run compiled (``_numba``, one pass per element or row)
where the kernels are enabled and apply (float32/64, last axis, contiguous),
split over the intra-op threads when large; the GELU formula of the NumPy
path is split over the threads too.
"""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import activation as _generic
from . import _jit, _pool
from ._rows import EXP_SAFE


@KERNELS.register
def expit(x):
    """The logistic sigmoid of a float array, in x's dtype (SciPy's ufunc)."""
    return _generic.scipy_special().expit(x).astype(x.dtype, copy=False)


@KERNELS.register
def erf(x):
    """The error function of a float array, in x's dtype (SciPy's ufunc)."""
    return _generic.scipy_special().erf(x).astype(x.dtype, copy=False)


# ---- ReLU ----------------------------------------------------------------------------------

@KERNELS.register
def relu(x):
    """The generic ``relu``, compiled for non-empty C-contiguous float32/64
    arrays (split over the intra-op threads when large).  LeNet's first ReLU
    at batch 1 (16x24x24): 6.6 us a call through F.relu, 3.6 compiled."""
    k = _jit.kernels_for(x.dtype) if x.size and x.flags.c_contiguous else None
    if k is None:
        return _generic.relu(x)
    flat = x.reshape(-1)
    y = np.empty(flat.size, x.dtype)
    # (large: split over the threads as native jobs; else one thread, without the pool's layers)
    if flat.size < 2 * _pool.ELEMENT_GRAIN or not _pool.flat_pass(k._PASS_RELU, flat, y):
        k.relu_forward(flat, y)
    return y.reshape(x.shape)


@KERNELS.register
def relu_backward(g, out):
    """The generic ``relu_backward`` as one compiled pass (float32/64, g and out
    of one dtype and shape), split over the intra-op threads when large; the
    NumPy formula makes three passes and two temporaries."""
    k = _jit.kernels_for(g.dtype)
    if k is None or out.dtype != g.dtype or out.shape != g.shape or not g.size:
        return _generic.relu_backward(g, out)
    gf, of = np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(out).reshape(-1)
    gx = np.empty(g.shape, g.dtype)
    xf = gx.reshape(-1)
    if gf.size < 2 * _pool.ELEMENT_GRAIN or not _pool.flat_pass(k._PASS_RELU_BACKWARD, gf, xf, of):
        k.relu_backward(gf, of, xf, g.dtype.type(0))
    return gx


# ---- GELU ----------------------------------------------------------------------------------

@KERNELS.register
def gelu_erf(x):
    """Exact GELU: ``(y, cdf, pdf)``; float32 split over the intra-op threads."""
    if x.dtype == np.float32 and x.ndim:
        # (cache-sized blocks were tried: the extra calls and GIL hand-offs
        # cost more than the cache saves)
        return _generic.gelu_erf32(x, lambda kernel, n: _pool.parallel_for(kernel, n, grain=1 << 16))
    return _generic.gelu_erf(x)


@KERNELS.register
def gelu_erf_fused(x):
    """Exact GELU of a float32 array by the compiled kernel: ``(y, dy/dx)``,
    or None (other dtypes, 0-d, kernels off)."""
    return _gelu_compiled(x, True)


@KERNELS.register
def gelu_erf_value(x):
    """Exact GELU of a float32 array without its derivative (no_grad: the
    same y as ``gelu_erf_fused``'s, bit for bit, without dy/dx's work and
    memory), or None (other dtypes, 0-d, kernels off)."""
    return _gelu_compiled(x, False)


# The empty dy/dx that asks the kernel for y only.
_NO_DY = np.empty(0, np.float32)


def _gelu_compiled(x, derivative):
    """(y, dy/dx) with ``derivative``, else y, by the compiled kernel; None
    where it does not apply."""
    if x.dtype != np.float32 or not x.ndim:
        return None
    k = _jit.kernels()
    if k is None:
        return None
    flat = np.ascontiguousarray(x).reshape(-1)
    # (np.empty, not empty_like: that one is a Python-level wrapper, slow on small arrays)
    y = np.empty(flat.size, flat.dtype)
    dy = np.empty(flat.size, flat.dtype) if derivative else _NO_DY
    parts = min(_pool.get_num_threads(), flat.size // _GELU_GRAIN)
    if parts < 2 or not _pool.gelu_forward(flat, y, dy, parts):
        k.gelu_forward(flat, y, dy)     # (one thread: skip the pool's call layers)
    if not derivative:
        return y.reshape(x.shape)
    return y.reshape(x.shape), dy.reshape(x.shape)


# Elements per thread below which the fused GELU stays on one thread: ~0.65 ns
# an element (exp and a division in each), so 16K are ~10 us, several times a
# hand-off; a GPT MLP at batch 1 (64 x 512) splits in two (the plain passes'
# ELEMENT_GRAIN, 64K, kept it on one thread: 25 us a call where torch's took 15).
_GELU_GRAIN = 1 << 14


@KERNELS.register
def gelu_erf_fused_backward(g, dydx):
    """``g * dydx``, split over the intra-op threads when large."""
    return _pool.multiply(g, dydx)


# ---- softmax -------------------------------------------------------------------------------

def _last_axis_kernels(a, dim):
    """The compiled kernels for a row-wise op on ``a`` along ``dim``, when
    that is the last axis of a contiguous non-empty float32/64 array."""
    if dim != a.ndim - 1 or not a.size or not a.flags.c_contiguous:
        return None
    return _jit.kernels_for(a.dtype)


def _softmax_compiled(x, dim, log):
    """softmax (or log_softmax with ``log``) of ``x`` along ``dim`` by the
    compiled kernel -- max, exp, sum and scale in one pass per row -- or None
    when it doesn't apply: float32 only (its exp is a float32 polynomial)."""
    k = _last_axis_kernels(x, dim) if x.dtype == np.float32 else None
    if k is None:
        return None
    y = np.empty_like(x)
    D = x.shape[-1]
    x2, y2 = x.reshape(-1, D), y.reshape(-1, D)
    shift = not x.max() < EXP_SAFE[x.dtype]
    _pool.parallel_rows(lambda lo, hi: k.softmax_rows(x2[lo:hi], y2[lo:hi], log, shift),
                        x2.shape[0], D)
    return y


@KERNELS.register
def softmax(x, dim, log=False):
    """softmax (log_softmax with ``log``) along ``dim``: compiled for float32
    rows; else the generic passes, the per-row scale compiled where it can be."""
    y = _softmax_compiled(x, dim, log)
    if y is not None:
        return y
    if log:
        return _generic.softmax(x, dim, True)
    e, s = _generic.softmax_exp(x, dim)
    k = _last_axis_kernels(e, dim)
    if k is not None:     # (a per-row scale: one compiled pass)
        k.rows_scale(e.reshape(-1, e.shape[-1]), (1 / s).reshape(-1))
    else:
        e *= 1 / s
    return e


@KERNELS.register
def softmax_backward(g, y, dim):
    """y * (g - sum(g * y)) along ``dim``: one compiled pass per row (split
    over the threads) where it applies."""
    k = _last_axis_kernels(y, dim)
    if k is None or g.dtype != y.dtype:
        return _generic.softmax_backward(g, y, dim)
    D = y.shape[-1]
    gx = np.empty(y.shape, y.dtype)
    g2, y2, gx2 = np.ascontiguousarray(g).reshape(-1, D), y.reshape(-1, D), gx.reshape(-1, D)
    _pool.parallel_rows(lambda lo, hi: k.softmax_rows_backward(g2[lo:hi], y2[lo:hi], gx2[lo:hi]),
                        g2.shape[0], D)
    return gx
