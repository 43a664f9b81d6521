"""CPU linear-layer kernels: the fast paths; anything else goes to the generic formula."""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import linear as _generic
from . import _jit, _pool

_nd = np.ndarray


@KERNELS.register
def linear_matmul(x, w):
    """``x @ w.T`` for x (..., in) and w (out, in); a handful of rows as the
    transposed product (see ``_few_rows``)."""
    out = _transposed(x, w, None)
    if out is None:
        out = _blocked(x, w, None)
    if out is None:
        out = _few_rows(x, w)
    if out is None:
        out = KERNELS.matmul_nd(x, w.T)
    return out


def _transposed(x, w, b):
    """x @ w.T (+ b) for 1-128 rows as the transposed product (one compiled
    call, split over the intra-op threads; see ``_numba.linear_t_run``), or
    None.  A 64-row GPT layer at 1 thread: 335 -> 277 us for its four
    Linears, torch 278; 4 rows (decoding at batch 4), (384, 128): 11.7 ->
    7.8 us against ``_few_rows``.  Not with more rows than outputs, where W
    is the small operand (64 rows, (10, 512): 7.4 -> 12.4 us), nor from ~200
    rows on: there the direct product is the faster."""
    if type(x) is not _nd or type(w) is not _nd or (b is not None and type(b) is not _nd):
        return None     # (another device's array: the generic path raises torch's error)
    n_out, n_in = w.shape
    shape = x.shape
    rows = x.size // n_in if n_in else 0
    # (past 64 rows only into more outputs than rows: 128 rows into 128
    # outputs from 784 inputs, an MLP's first layer, came out even.  Plain
    # comparisons, not min(): this runs for every Linear of a decoder.)
    if rows < _T_ROWS_MIN or rows > _T_ROWS_MAX or rows > (n_out if rows <= 64 else n_out - 1):
        return None
    dtype = x.dtype
    if dtype != w.dtype or dtype.char not in "fd" or not x.flags.c_contiguous \
            or (b is not None and (b.dtype != dtype or not b.flags.c_contiguous)) \
            or _jit.kernels_for(dtype) is None:
        return None
    work = rows * n_in * n_out      # (split as _pool.matmul splits a product)
    parts = 1
    if work >= 2 * _pool._GEMM_GRAIN:
        parts = _pool._num_threads
        if work // _pool._GEMM_GRAIN < parts:
            parts = work // _pool._GEMM_GRAIN
    if len(shape) == 2:
        return _pool.linear_t(x, w, b, parts)
    out = _pool.linear_t(x.reshape(rows, n_in), w, b, parts)
    return None if out is None else out.reshape(shape[:-1] + (n_out,))


# Rows of the products _transposed takes (more: the direct product).
_T_ROWS_MIN, _T_ROWS_MAX = 1, 128


def _blocked(x, w, b):
    """x @ w.T (+ b) for float32 products of many rows (a training step's
    tokens) by Ember's 8 x 32 register blocks (``_pool.linear_blocks``;
    where, and why, in the table below), or None."""
    if type(x) is not _nd or type(w) is not _nd or (b is not None and type(b) is not _nd):
        return None
    n_out, n_in = w.shape
    rows = x.size // n_in if n_in else 0
    if rows <= _BLOCKS_ROWS_MIN or n_out < _BLOCKS_OUT_MIN or x.dtype != _F32 \
            or w.dtype != _F32 or not x.flags.c_contiguous or not w.flags.c_contiguous \
            or (b is not None and (b.dtype != _F32 or not b.flags.c_contiguous)) \
            or _jit.kernels_for(x.dtype) is None or not _jit.wide_vectors():
        return None
    work = rows * n_in * n_out      # (split as _pool.matmul splits a product)
    parts = min(_pool._num_threads, work // _pool._GEMM_GRAIN) \
        if work >= 2 * _pool._GEMM_GRAIN else 1
    out = _pool.linear_blocks(x.reshape(rows, n_in), w, b, parts)
    return out.reshape(x.shape[:-1] + (n_out,))


# Where _blocked runs a Linear's forward on the 8 x 32 blocks (AVX-512 only,
# float32): more rows than _transposed takes, at least 128 outputs.  The
# measurements (bench/linear_products.py, one EPYC (Zen 4) core under load,
# GFLOP/s of CPU time, OpenBLAS's bias-prefilled ?gemm -> the blocks with W's
# packing, and the median ratio of their times):
#   gpt 1024 rows      (384, 128)  97 -> 101 0.97   (128, 128)  98 -> 106 0.93
#                      (512, 128)  92 ->  98 0.94   (128, 512)  96 -> 104 0.90
#   nanogpt 2048 rows (1152, 384) 101 -> 102 1.00   (384, 384)  96 ->  99 0.98
#                     (1536, 384) 102 -> 101 1.00   (384, 1536) 97 -> 105 0.93
#   65 outputs (the LM heads): 87 -> 69 1.25, 78 -> 66 1.19 (a third of the
#   last 32-column block wasted): not taken.
# The backward products stay on OpenBLAS: on the same kernel dX = g W ran
# 0.95-1.30 of its time and dW = g^T x 0.92-1.14 at 1024 rows and 1.3-1.9
# at 2048 (its 2048-long sums stream both operands from L2; steps of 256 kk
# brought that to ~1.0, not below).
_BLOCKS_ROWS_MIN, _BLOCKS_OUT_MIN = _T_ROWS_MAX, 128
_F32 = np.dtype(np.float32)


def _few_rows(x, w):
    """x @ W.T for a handful of rows (token-by-token decoding) as (W @ x.T).T,
    or None; used where ``_transposed`` can't run (Ember not running NumPy's
    BLAS).  NumPy's OpenBLAS runs x @ W.T with 2-16 rows and a large W
    2-3x slower than the transposed product ((4, 128) @ (128, 512): 37 us
    against 16 us here; it spends the time starting its threads), while
    from ~64 rows on x @ W.T is the faster one."""
    if x.ndim < 1 or x.dtype.kind != "f" or not x.flags.c_contiguous:
        return None
    n_out, n_in = w.shape
    rows = x.size // n_in if n_in else 0
    if not 2 <= rows <= 16 or n_out * n_in < 32768:
        return None
    xt = x.reshape(rows, n_in).T
    step = _FEW_ROWS_OUT // rows
    if rows > 8 or n_out <= step or w.dtype != x.dtype:
        out = np.ascontiguousarray((w @ xt).T)
    else:
        # Past rows * n_out ~ 1200 this OpenBLAS leaves its fast small-matrix
        # path, whatever n_in: (256, 128) @ (128, 4) takes 3.9 us, (384, 128)
        # @ (128, 4) 12.0 and (512, 128) @ (128, 4) 16.0.  So a few rows (GPT
        # decoding at batch 4: the qkv and MLP projections) go through in
        # slabs of at most _FEW_ROWS_OUT // rows outputs: 384 outputs 12.0 ->
        # 7.5 us, 512 16.0 -> 8.5 us.  (At 16 rows the slabs would be too thin.)
        out_t = np.empty((n_out, rows), x.dtype)
        for lo in range(0, n_out, step):
            np.matmul(w[lo:lo + step], xt, out=out_t[lo:lo + step])
        out = np.ascontiguousarray(out_t.T)
    return out.reshape(x.shape[:-1] + (n_out,))


# rows * outputs of one slab in _few_rows (see there)
_FEW_ROWS_OUT = 1024


@KERNELS.register
def linear_bias_add(out, b):
    """``out += b`` in place (out (..., n), b (n,)): one compiled pass per
    row, split over the intra-op threads, for non-empty C-contiguous
    float32/64 outputs; returns out."""
    kern = _jit.kernels_for(out.dtype) if out.flags.c_contiguous and out.ndim else None
    if kern is None or not out.size:
        return _generic.linear_bias_add(out, b)
    o2 = out.reshape(-1, out.shape[-1])
    _pool.parallel_rows(lambda lo, hi: kern.rows_add(o2[lo:hi], b), o2.shape[0], o2.shape[1])
    return out


@KERNELS.register
def linear_addmm(x, w, b):
    """``x @ w.T + b`` for x (..., in), w (out, in) and b (out,): on one
    thread, with many rows, as one BLAS call that adds the product onto
    bias-filled rows (see ``_numba.linear_bias_gemm``; saves the bias pass,
    2-4% of a 64-row GPT layer, measured); else the product, then the bias."""
    if b.shape == w.shape[:1]:
        out = _transposed(x, w, b)
        if out is None:
            out = _blocked(x, w, b)
        if out is not None:
            return out
    n_out, n_in = w.shape
    rows = x.size // n_in if n_in else 0
    if rows > 16 and b.shape == (n_out,) and _pool.get_num_threads() == 1 \
            and x.dtype == w.dtype == b.dtype \
            and x.flags.c_contiguous and w.flags.c_contiguous and b.flags.c_contiguous:
        # (few rows go to _few_rows' tuned paths; several threads split the
        # product over the pool in linear_matmul)
        kern = _jit.kernels_for(x.dtype)
        fn = _pool.gemm_address(x.dtype) if kern is not None else None
        if fn is not None:
            out = np.empty(x.shape[:-1] + (n_out,), x.dtype)
            kern.linear_bias_gemm(x.reshape(rows, n_in), w, b, out.reshape(rows, n_out), fn,
                                  x.dtype.type(1))
            return out
    return linear_bias_add(linear_matmul(x, w), b)
