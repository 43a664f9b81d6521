"""CPU pooling kernels: max pooling's forward and backward as one compiled
pass each (``_numba.max_pool2d_forward`` / ``max_pool2d_backward``, and
for 2x2 windows at stride 2 ``max_pool2x2_forward`` / ``backward``, or,
on an even height, ``max_pool2x2_pairs_*`` over flat row pairs), split
by planes (row pairs) over the intra-op threads; anything else is the
generic formula.

The generic formula is 2 * (kh + kw) NumPy passes with temporaries (each
stage's maxima, masks, winners) and a padded copy of the input; the
compiled pass reads the input once and writes the output and the two
stages' winners, the same arrays the generic formula makes, so either
backward (and the double backward, ``return_indices``) follows either
forward.
"""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import pooling as _generic
from . import _jit, _pool


def _fits_2x2(geo, dtype):
    """The compiled 2x2 kernels, when they apply: 2x2 windows at stride 2, no
    padding or dilation, floor mode (every window inside the input), in
    float32/64.  LeNet's pool: one pass reading each window once, where the
    generic stages make two NumPy passes each and the general compiled
    pass keeps a scratch row per stage."""
    if (geo.kh != 2 or geo.kw != 2 or not geo.tiles or geo.Hb != geo.x4[2]
            or geo.Wb != geo.x4[3]):
        return None
    return _jit.kernels_for(dtype)


def _fits(geo, dtype):
    """The compiled kernels, when they apply and pay: float32/64, winners that
    fit int8, and not the 2x2 (or smaller) windows that never overlap, which
    the generic stages do in two NumPy passes each, faster than this pass
    (LeNet's 2x2 pool: 1.26 ms forward + backward against 1.69 compiled;
    3x3 stride 2: 29 ms against 7.4)."""
    if geo.kh > 127 or geo.kw > 127 or (geo.kh <= 2 and geo.kw <= 2 and geo.disjoint):
        return None
    return _jit.kernels_for(dtype)


def _planes(kernel, geo):
    N, C, H, W = geo.x4
    _pool.parallel_rows(kernel, N * C, H * W)


@KERNELS.register
def max_pool2d(x, geo, need_idx):
    """The generic ``max_pool2d``, compiled for float32/64."""
    k2 = _fits_2x2(geo, x.dtype)
    if k2 is not None:
        return _max_pool2x2(k2, x, geo, need_idx)
    k = _fits(geo, x.dtype)
    if k is None:
        return _generic.max_pool2d(x, geo, need_idx)
    N, C, H, W = geo.x4
    Ho, Wo = geo.y4[2], geo.y4[3]
    xf = np.ascontiguousarray(x).reshape(-1)
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    a1 = np.empty((N, C, geo.Hb, Wo), dtype=np.int8)
    a2 = np.empty((N, C, Ho, Wo), dtype=np.int8)
    yf, a1f, a2f = y.reshape(-1), a1.reshape(-1), a2.reshape(-1)
    low = np.array(-np.inf, dtype=x.dtype)[()]

    def planes(p0, p1):
        m1 = np.empty(geo.Hb * Wo, dtype=x.dtype)      # (one per thread)
        k.max_pool2d_forward(xf, yf, a1f, a2f, m1, low, H, W, geo.Hb, Ho, Wo, geo.kh, geo.kw,
                             geo.sh, geo.sw, geo.dh, geo.dw, geo.ph, geo.pw, p0, p1)
    _planes(planes, geo)
    return y, ((a1, a2) if need_idx else None)


@KERNELS.register
def max_pool2d_backward(g, idx, geo):
    """The generic ``max_pool2d_backward``, compiled for float32/64 (with the
    winners as ``max_pool2d`` makes them: int8)."""
    a1, a2 = idx
    if a1.dtype == np.int8 and a2.dtype == np.int8:
        k2 = _fits_2x2(geo, g.dtype)
        if k2 is not None:
            return _max_pool2x2_backward(k2, g, a1, a2, geo)
    k = _fits(geo, g.dtype)
    if k is None or a1.dtype != np.int8 or a2.dtype != np.int8:
        return _generic.max_pool2d_backward(g, idx, geo)
    N, C, H, W = geo.x4
    Ho, Wo = geo.y4[2], geo.y4[3]
    gf = np.ascontiguousarray(g).reshape(N * C, Ho, Wo)
    gx = np.zeros((N, C, H, W), dtype=g.dtype)
    a1f = np.ascontiguousarray(a1).reshape(N * C, geo.Hb, Wo)
    a2f = np.ascontiguousarray(a2).reshape(N * C, Ho, Wo)
    gxf = gx.reshape(N * C, H, W)
    _planes(lambda p0, p1: k.max_pool2d_backward(gf, a1f, a2f, gxf, geo.sh, geo.sw, geo.dh,
                                                 geo.dw, geo.ph, geo.pw, p0, p1), geo)
    return gx.reshape(geo.x_shape)


def _max_pool2x2(k, x, geo, need_idx):
    """max_pool2d by max_pool2x2_forward: (y, (a1, a2) or None)."""
    N, C, H, W = geo.x4
    Ho, Wo = geo.y4[2], geo.y4[3]
    x3 = np.ascontiguousarray(x).reshape(N * C, H, W)
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    a1 = np.empty((N, C, H, Wo), dtype=np.int8)
    a2 = np.empty((N, C, Ho, Wo), dtype=np.int8)
    if H % 2 == 0:
        # (row pairs over flat arrays: see _numba.max_pool2x2_pairs_forward)
        xf, yf, a1f, a2f = x3.reshape(-1), y.reshape(-1), a1.reshape(-1), a2.reshape(-1)
        _pool.parallel_rows(lambda r0, r1: k.max_pool2x2_pairs_forward(xf, yf, a1f, a2f, W, Wo,
                                                                       r0, r1),
                            N * C * Ho, 2 * W)
        return y, ((a1, a2) if need_idx else None)
    y3, a13, a23 = y.reshape(N * C, Ho, Wo), a1.reshape(N * C, H, Wo), a2.reshape(N * C, Ho, Wo)
    _planes(lambda p0, p1: k.max_pool2x2_forward(x3, y3, a13, a23, p0, p1), geo)
    return y, ((a1, a2) if need_idx else None)


def _max_pool2x2_backward(k, g, a1, a2, geo):
    """max_pool2d_backward by max_pool2x2_backward (every element of gx
    written), on the bits of g and gx (see there)."""
    N, C, H, W = geo.x4
    Ho, Wo = geo.y4[2], geo.y4[3]
    bits = np.uint32 if g.dtype.itemsize == 4 else np.uint64
    g3 = np.ascontiguousarray(g).reshape(N * C, Ho, Wo).view(bits)
    a13 = np.ascontiguousarray(a1).reshape(N * C, H, Wo)
    a23 = np.ascontiguousarray(a2).reshape(N * C, Ho, Wo)
    gx = np.empty((N, C, H, W), dtype=g.dtype)
    if H % 2 == 0:
        gf, a1f, a2f = g3.reshape(-1), a13.reshape(-1), a23.reshape(-1)
        gxf = gx.view(bits).reshape(-1)
        _pool.parallel_rows(lambda r0, r1: k.max_pool2x2_pairs_backward(gf, a1f, a2f, gxf, W, Wo,
                                                                        r0, r1),
                            N * C * Ho, 2 * W)
        return gx.reshape(geo.x_shape)
    gx3 = gx.view(bits).reshape(N * C, H, W)
    _planes(lambda p0, p1: k.max_pool2x2_backward(g3, a13, a23, gx3, p0, p1), geo)
    return gx.reshape(geo.x_shape)
