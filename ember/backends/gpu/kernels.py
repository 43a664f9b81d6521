"""The CUDA backend's fused kernels (CuPy ``RawModule``/``ElementwiseKernel``s).

Each kernel registers itself in ``KERNELS`` (``@KERNELS.register``) under the
name the ops ask for (``K.softmax``, ``K.normalize`` ...); a name not
registered here falls through to the generic formulas over ``xp`` (CuPy), so
every op runs on "cuda" before any kernel is written.  This module is
imported once, when the CUDA backend is registered (never at ``import
ember``), so it may import CuPy at the top.

As on the CPU, each kernel decides per call whether its fast path applies
(float32/float64, the layout it was written for) and otherwise calls the
generic formula.  The CUDA C is in ``_cuda_src`` (compiled by CuPy on first
use, cached on disk by CuPy); each kernel is one launch where torch's eager
CUDA kernel is one:

=========================  ==============================================
softmax / log_softmax      ``softmax_rows``: one block per row (last dim)
their backwards            ``softmax_backward_rows``, ``log_softmax_backward_rows``
cross-entropy's rows       ``log_softmax_probs_rows`` (log-softmax and softmax)
layer / RMS norm           ``norm_rows_forward``, ``norm_rows_backward`` (+ one
                           column reduction each for the weight and bias grads)
GELU (erf, tanh)           ElementwiseKernels giving y and dy/dx in one pass
Adam / AdamW / SGD         ElementwiseKernels updating d, m, v in place
attention                  cuBLAS batched GEMMs + the row softmax in place
matmul                     CuPy's (cuBLAS), TF32 as ``allow_tf32`` says
long sums, sum of squares  one reduction each, accumulated in float64
cummax, logcumsumexp       scans, one thread per row
scatter prod               an atomic multiply per value
=========================  ==============================================

The last two, and ``max_kept``, are what CuPy's ufunc methods lack
(``reduce``/``accumulate``/``at`` exist only for add and a few others), so
the generic formulas for them cannot run on CuPy at all.

The ops' remaining GPU/CPU differences are listed in docs/DESIGN.md ("CuPy").
"""
import functools

import numpy as np
import cupy

from .._table import CUDA as KERNELS
from .. import cuda as _flags           # torch.backends.cuda: matmul.allow_tf32
from .._registry import backend_of
from ..generic import (activation as _act, norm as _norm, optim as _optim, loss as _loss,
                       attention as _att, reduction as _red, gemm as _gemm)
from ._cuda_src import ROWS, ROWS_KERNELS, ROW_THREADS, ELEMENTWISE

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
          np.dtype(np.int32): "int", np.dtype(np.int64): "long long",
          np.dtype(np.uint64): "unsigned long long"}
_NULL = np.uint64(0)        # a null pointer argument (8 bytes, as a pointer)


# ---- building and launching --------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _module():
    """The row kernels' module, every template instantiated (compiled once)."""
    names = [f"{n}<{t}>" for n, types in ROWS_KERNELS.items() for t in types]
    return cupy.RawModule(code=ROWS, options=("-std=c++17",), name_expressions=names)


@functools.lru_cache(maxsize=None)
def _row_kernel(name, dtype):
    return _module().get_function(f"{name}<{_CTYPE[dtype]}>")


@functools.lru_cache(maxsize=None)
def _elementwise(name):
    ins, outs, body = ELEMENTWISE[name]
    return cupy.ElementwiseKernel(ins, outs, body, name)


@functools.lru_cache(maxsize=None)
def _col_dot():
    """sum over axis 0 of g * h (a norm's weight gradient) in one reduction."""
    return cupy.ReductionKernel("T g, T h", "T y", "g * h", "a + b", "y = a", "0", "ek_col_dot")


def _threads(D):
    """Threads per row block: D rounded up to a warp, at most ROW_THREADS."""
    return max(32, min(ROW_THREADS, (D + 31) // 32 * 32))


def _per_row(name, dtype, R, D, *args):
    """Launch row kernel ``name`` with one block per row of an (R, D) array."""
    _row_kernel(name, dtype)((R,), (_threads(D),), args)


def _per_line(name, dtype, R, *args):
    """Launch scan kernel ``name`` with one thread per row."""
    _row_kernel(name, dtype)(((R + 127) // 128,), (128,), args)


def _rows_of(x, dim):
    """``x`` as a C-contiguous (R, D) array when a row kernel applies (float32/64,
    non-empty, along the last axis), else None."""
    if x.dtype not in _FLOATS or not x.size or not x.ndim or dim not in (-1, x.ndim - 1):
        return None
    return cupy.ascontiguousarray(x).reshape(-1, x.shape[-1])


def _same(a, *others):
    """Whether ``others`` have a's shape and dtype."""
    return all(o.shape == a.shape and o.dtype == a.dtype for o in others)


# ---- softmax, log_softmax and their backwards ---------------------------------------------

@KERNELS.register
def softmax(x, dim, log=False):
    """softmax (log_softmax with ``log``) along ``dim``: one block per row."""
    x2 = _rows_of(x, dim)
    if x2 is None:
        return _act.softmax(x, dim, log)
    y = cupy.empty_like(x2)
    R, D = x2.shape
    _per_row("softmax_rows", x2.dtype, R, D, x2, y, np.int64(D), np.int32(log), np.int32(0))
    return y.reshape(x.shape)


def _row_backward(kernel, generic, g, y, dim):
    """A backward of softmax's kind from the output ``y`` and its gradient
    ``g``: ``kernel`` over the rows along ``dim``, one block per row (the
    ``generic`` formula where the rows are not contiguous)."""
    y2 = _rows_of(y, dim)
    if y2 is None or not _same(y, g):
        return generic(g, y, dim)
    g2 = cupy.ascontiguousarray(g).reshape(y2.shape)
    gx = cupy.empty_like(y2)
    R, D = y2.shape
    _per_row(kernel, y2.dtype, R, D, g2, y2, gx, np.int64(D))
    return gx.reshape(y.shape)


@KERNELS.register
def softmax_backward(g, y, dim):
    """y * (g - sum(g * y)) along ``dim``."""
    return _row_backward("softmax_backward_rows", _act.softmax_backward, g, y, dim)


@KERNELS.register
def log_softmax_backward(g, y, dim):
    """g - exp(y) * sum(g) along ``dim``."""
    return _row_backward("log_softmax_backward_rows", _act.log_softmax_backward, g, y, dim)


@KERNELS.register
def log_softmax_rows(x2, with_probs):
    """Cross-entropy's rows: ``(logp, p or None)`` of the (M, C) logits in one launch."""
    r = _rows_of(x2, 1) if x2.ndim == 2 else None
    if r is None:
        return _loss.log_softmax_rows(x2, with_probs)
    logp = cupy.empty_like(r)
    p = cupy.empty_like(r) if with_probs else None
    M, C = r.shape
    _per_row("log_softmax_probs_rows", r.dtype, M, C, r, logp, _NULL if p is None else p,
             np.int64(C))
    return logp, p


# ---- layer / RMS norm --------------------------------------------------------------------

def _rowwise(spec, dtype):
    """Whether the row kernels apply: statistics over the last axis of a 2-D
    view, elementwise affine (layer / RMS norm), float32/64, non-empty."""
    return (len(spec.view) == 2 and spec.axes == (1,) and not spec.fold and spec.M > 0
            and dtype in _FLOATS)


def _vec(a, dt):
    """A weight/bias/rstd as a contiguous 1-D array of dtype ``dt`` (or the null pointer)."""
    if a is None:
        return _NULL
    return cupy.ascontiguousarray(a.reshape(-1), dtype=dt)


@KERNELS.register
def normalize(xv, w, b, spec, stats):
    """Layer/RMS norm forward in one launch (xhat saved, rstd (R, 1), no mean
    and var); anything else by the generic formula."""
    if stats or not _rowwise(spec, xv.dtype):
        return _norm.normalize(xv, w, b, spec, stats)
    dt = xv.dtype
    x2 = cupy.ascontiguousarray(xv)
    R, D = x2.shape
    y, xhat = cupy.empty_like(x2), cupy.empty_like(x2)
    rstd = cupy.empty((R, 1), dt)
    _per_row("norm_rows_forward", dt, R, D, x2, _vec(w, dt), _vec(b, dt), y, xhat, rstd,
             np.int64(D), dt.type(spec.eps), dt.type(1.0 / spec.M), np.int32(spec.center))
    return y, xhat, rstd, None, None


@KERNELS.register
def normalize_backward(g, saved, rstd, w, spec, need):
    """Layer/RMS norm backward: gx in one launch, the weight and bias gradients
    one column reduction each; anything else by the generic formula."""
    dt = g.dtype
    if (not _rowwise(spec, dt) or type(saved) is tuple or not _same(g, saved)
            or rstd.size != g.shape[0]):
        return _norm.normalize_backward(g, saved, rstd, w, spec, need)
    g2 = cupy.ascontiguousarray(g)
    xh = cupy.ascontiguousarray(saved)
    R, D = g2.shape
    gx = gw = gb = None
    if need[0]:
        gx = cupy.empty_like(g2)
        _per_row("norm_rows_backward", dt, R, D, g2, xh, _vec(rstd, dt), _vec(w, dt), gx,
                 np.int64(D), dt.type(1.0 / spec.M), np.int32(spec.center))
    if need[1]:
        gw = _col_dot()(g2, xh, axis=0)
    if need[2]:
        gb = g2.sum(axis=0)
    return gx, gw, gb


# ---- GELU and the special functions --------------------------------------------------------

@KERNELS.register
def gelu_erf_fused(x):
    """Exact GELU with its derivative in one pass: ``(y, dy/dx)`` (float32/64)."""
    if x.dtype not in _FLOATS or not x.ndim:
        return None
    return _elementwise("ek_gelu_erf")(x)


@KERNELS.register
def gelu_tanh_fused(x):
    """Tanh-approximate GELU with its derivative in one pass: ``(y, dy/dx)``."""
    if x.dtype not in _FLOATS or not x.ndim:
        return None
    return _elementwise("ek_gelu_tanh")(x)


@KERNELS.register
def gelu_erf_fused_backward(g, dydx):
    """g * dy/dx in one launch."""
    if not _same(g, dydx) or g.dtype not in _FLOATS:
        return _act.gelu_erf_fused_backward(g, dydx)
    return _elementwise("ek_mul")(g, dydx)


_cupyx_special = None


def _special():
    """cupyx.scipy.special, imported on first use."""
    global _cupyx_special
    if _cupyx_special is None:
        import cupyx.scipy.special
        _cupyx_special = cupyx.scipy.special
    return _cupyx_special


@KERNELS.register
def expit(x):
    """The logistic sigmoid on the device (the generic one goes through SciPy on the host)."""
    return _special().expit(x).astype(x.dtype, copy=False)


@KERNELS.register
def erf(x):
    """erf on the device."""
    return _special().erf(x).astype(x.dtype, copy=False)


@KERNELS.register
def erfc(x):
    """1 - erf on the device."""
    return _special().erfc(x).astype(x.dtype, copy=False)


@KERNELS.register
def erfinv(x):
    """The inverse erf on the device."""
    return _special().erfinv(x).astype(x.dtype, copy=False)


# ---- optimizer updates -------------------------------------------------------------------

@KERNELS.register
def adam_step(d, g, m, v, step, lr, beta1, beta2, eps, vmax=None):
    """One Adam update of d, m, v (and vmax with amsgrad) in one launch,
    formula for formula the generic one."""
    dt = d.dtype
    if dt not in _FLOATS or not _same(d, g, m, v) or (vmax is not None and not _same(d, vmax)):
        return _optim.adam_step(d, g, m, v, step, lr, beta1, beta2, eps, vmax)
    step_size, bc2_sqrt = _optim.adam_corrections(lr, beta1, beta2, step)
    w1 = 1 - beta1
    f = dt.type
    args = (g, f(w1), f(1.0 - w1), abs(w1) < 0.5, f(beta2), f(1 - beta2), f(bc2_sqrt), f(eps),
            f(-step_size), d, m, v)
    if vmax is None:
        _elementwise("ek_adam")(*args)
    else:
        _elementwise("ek_adam_amsgrad")(*args, vmax)


@KERNELS.register
def sgd_step(d, g, neg_lr):
    """d += g * neg_lr in place, one launch, no temporary."""
    if d.dtype not in _FLOATS or not _same(d, g):
        return _optim.sgd_step(d, g, neg_lr)
    _elementwise("ek_sgd")(g, d.dtype.type(neg_lr), d)


# ---- matrix products: cuBLAS, TF32 as torch.backends.cuda.matmul.allow_tf32 says ----------
# CuPy picks the cuBLAS compute type per dtype from a process-wide setting
# (cupy._core.set_compute_type; the CUPY_TF32 environment variable sets its
# default).  torch's flag is read at each product and the setting is put back
# afterwards, so that a user's own CuPy code sees what it set.  (Not
# thread-safe: two threads multiplying float32 at once with different wishes
# could see each other's; torch's flag is process-wide too.)

def _tf32_scoped(fn, a, *args, **kw):
    if a.dtype != np.float32:
        return fn(a, *args, **kw)
    from cupy._core import _routines_linalg as la
    want = la.COMPUTE_TYPE_TF32 if _flags.matmul.allow_tf32 else la.COMPUTE_TYPE_FP32
    old = la.get_compute_type(np.float32)
    if old == want:
        return fn(a, *args, **kw)
    la.set_compute_type(np.float32, want)
    try:
        return fn(a, *args, **kw)
    finally:
        la.set_compute_type(np.float32, old)


@KERNELS.register
def matmul(a, b, out=None):
    """``a @ b`` by cuBLAS (``out=`` as NumPy's)."""
    return _tf32_scoped(_gemm.matmul, a, b, out=out)


def _matmul_nd(a, b):
    if a.ndim > 2 and b.ndim == 2 and a.shape[-1] and a.flags.c_contiguous:
        # (..., k) @ (k, n) as one (rows, k) @ (k, n) GEMM instead of a batch
        k = a.shape[-1]
        return cupy.matmul(a.reshape(-1, k), b).reshape(a.shape[:-1] + b.shape[-1:])
    return cupy.matmul(a, b)


@KERNELS.register
def matmul_nd(a, b):
    """``a @ b`` for operands of any rank, by cuBLAS."""
    return _tf32_scoped(_matmul_nd, a, b)


# ---- attention: the masked softmax rows in place -------------------------------------------

@KERNELS.register
def attention_softmax_(s, add, bias):
    """The masks added (one launch each), then softmax of each row in place
    in one launch: writes the normalised weights and returns None (the
    contract's other form: no 1/row-sum to fold in later).  A fully masked
    row gets weights 0."""
    if s.dtype not in _FLOATS or not s.flags.c_contiguous or not s.size:
        return _att.attention_softmax_(s, add, bias)
    if add is not None:
        s += add
    if bias is not None:
        s += bias
    D = s.shape[-1]
    s2 = s.reshape(-1, D)
    _per_row("softmax_rows", s.dtype, s2.shape[0], D, s2, s2, np.int64(D), np.int32(0),
             np.int32(add is not None or bias is not None))
    return None


@KERNELS.register
def attention_softmax_backward_(dP, E, rd):
    """dS = E * (dP - rowdot(dP, E)) in place in dP (E normalised), one launch."""
    if (rd is not None or E.dtype not in _FLOATS or not _same(E, dP) or not E.size
            or not (E.flags.c_contiguous and dP.flags.c_contiguous)):
        return _att.attention_softmax_backward_(dP, E, rd)
    D = E.shape[-1]
    d2, e2 = dP.reshape(-1, D), E.reshape(-1, D)
    _per_row("softmax_backward_rows", E.dtype, e2.shape[0], D, d2, e2, d2, np.int64(D))


# ---- reductions, scans and the scattered product (what CuPy's ufunc methods lack) -----------

@KERNELS.register
def cascade_sum(x, axes, dtype, keepdim):
    """A long float sum in one reduction launch, accumulated in float64 (the
    generic cascade takes a launch per level and tail; a double accumulator
    is at least as accurate as torch's cascaded float32 sum)."""
    out = np.dtype(dtype or x.dtype)
    if x.dtype.kind != "f" or out.kind != "f":
        return _red.cascade_sum(x, axes, dtype, keepdim)
    r = x.sum(axis=axes, dtype=np.float64, keepdims=keepdim)
    return r if out == np.float64 else r.astype(out)


@functools.lru_cache(maxsize=None)
def _sum_squares():
    return cupy.ReductionKernel("T x", "T y", "(double)x * (double)x", "a + b", "y = (T)a",
                                "0", "ek_sum_squares", reduce_type="double")


@KERNELS.register
def sum_squares(x):
    """The sum of x * x over all elements, 0-d, in one launch (double accumulator)."""
    if x.dtype not in _FLOATS:
        return _red.sum_squares(x)
    return _sum_squares()(x)


@KERNELS.register
def max_kept(x, axes):
    """The max over ``axes``, kept; -inf for an empty reduction (CuPy's max has
    no ``initial=``)."""
    if x.size:
        return x.max(axis=axes, keepdims=True)
    red = range(x.ndim) if axes is None else [a % x.ndim for a in axes]
    return cupy.full(tuple(1 if i in red else n for i, n in enumerate(x.shape)), -np.inf,
                     dtype=x.dtype)


def _as_lines(x, axis, wide):
    """(x moved to (R, D) C-contiguous in the dtype ``wide``)."""
    return cupy.ascontiguousarray(cupy.moveaxis(x, axis, -1), dtype=wide)


def _scan(name, x, axis, wide, *flags):
    """Run scan kernel ``name`` along ``axis`` computing in ``wide``; the result in x's dtype."""
    if not x.size:
        return x.copy()
    lines = _as_lines(x, axis, wide)
    shape = lines.shape
    l2 = lines.reshape(-1, shape[-1])
    y = cupy.empty_like(l2)
    R, D = l2.shape
    _per_line(name, np.dtype(wide), R, l2, y, np.int64(R), np.int64(D), *flags)
    y = cupy.moveaxis(y.reshape(shape), -1, axis)
    return cupy.ascontiguousarray(y, dtype=x.dtype)


# dtype -> the dtype the scan computes in, exactly (a max of ints is exact in
# int64; of half floats in float32)
_EXTREME_WIDE = {"f": {2: np.float32, 4: np.float32, 8: np.float64},
                 "i": {1: np.int64, 2: np.int64, 4: np.int64, 8: np.int64},
                 "u": {1: np.int64, 2: np.int64, 4: np.int64, 8: np.uint64},
                 "b": {1: np.int64}}


@KERNELS.register
def cum_extreme(x, axis, largest):
    """The running max/min along ``axis``, one thread per line, NaN sticking."""
    wide = _EXTREME_WIDE.get(x.dtype.kind, {}).get(x.dtype.itemsize)
    if wide is None:
        return _red.cum_extreme(x, axis, largest)
    return _scan("cum_extreme_rows", x, axis, wide, np.int32(largest))


@KERNELS.register
def log_cum_sum_exp(x, axis):
    """log(cumsum(exp(x))) along ``axis``, one thread per line (float16 in float32)."""
    if x.dtype.kind != "f":
        return _red.log_cum_sum_exp(x, axis)
    return _scan("log_cum_sum_exp_rows", x, axis, np.float64 if x.dtype.itemsize == 8
                 else np.float32)


# dtype -> the dtype the product is taken in: the atomic kernels exist for
# float32/64 and int32/64; narrower ints wrap alike in int64, bool is an and,
# float16 rounds once instead of per factor.
_PRODUCT_WIDE = {"f": {2: np.float32, 4: np.float32, 8: np.float64},
                 "i": {1: np.int64, 2: np.int64, 4: np.int32, 8: np.int64},
                 "u": {1: np.int64, 2: np.int64, 4: np.int64, 8: np.int64},
                 "b": {1: np.int64}}


@KERNELS.register
def scatter_multiply(target, where, values):
    """``target[where] *= values`` with repeats multiplying in: one atomic
    multiply per value (CuPy's ``multiply.at`` does not exist)."""
    wide = _PRODUCT_WIDE.get(target.dtype.kind, {}).get(target.dtype.itemsize)
    if wide is None:        # (complex: on the host, where multiply.at exists)
        b = backend_of(target)
        host = b.to_host(target)
        w = tuple(b.to_host(i) for i in where) if type(where) is tuple else b.to_host(where)
        v = b.to_host(values) if isinstance(values, cupy.ndarray) else values
        np.multiply.at(host, w, v)
        target[...] = b.from_host(host)
        return
    shape = target.shape
    work = cupy.ascontiguousarray(target, dtype=wide)
    parts = where if type(where) is tuple else (where,)
    parts = cupy.broadcast_arrays(*(cupy.asarray(p, dtype=np.int64) for p in parts))
    # the flat index of each element into work (C order), negative indices wrapped
    lin = cupy.zeros(parts[0].shape, np.int64)
    for p, n in zip(parts, shape):
        lin *= n
        lin += cupy.where(p < 0, p + n, p)
    lin = lin.reshape(-1)
    vals = cupy.ascontiguousarray(cupy.broadcast_to(cupy.asarray(values, dtype=wide),
                                                    parts[0].shape)).reshape(-1)
    n = lin.size
    if n:
        _row_kernel("scatter_multiply_flat", np.dtype(wide))(
            ((n + 255) // 256,), (256,), (work.reshape(-1), lin, vals, np.int64(n)))
    if work is not target:
        target[...] = work.astype(target.dtype, copy=False)
