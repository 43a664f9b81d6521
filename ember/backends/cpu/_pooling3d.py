"""CPU 3-D max pooling over 2x2x2 windows at stride 2: one compiled pass
forward and one backward (``_numba3d.max_pool2x2x2_*``), split by volumes
over the intra-op threads, for float32/64; anything else is the generic
formula (``ember/backends/generic/pooling3d.py``), which writes the same
winners, so either backward follows either forward.  The two 2-D stages
this replaces (a 2x2 pool of every depth slice, then a depth pool of that)
took ~1.1 ms forward + backward on cnn3d's 8x16x16^3 activation, one core.
"""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import pooling3d as _generic
from . import _jit, _pool
from ._conv3d import _kernels


def _volumes(kernel, shape):
    N, C, D, H, W = shape
    _pool.parallel_rows(kernel, N * C, D * H * W)


@KERNELS.register
def max_pool3d_2x2x2(x):
    """The generic ``max_pool3d_2x2x2``, compiled for float32/64."""
    if _jit.kernels_for(x.dtype) is None or 0 in x.shape:
        return _generic.max_pool3d_2x2x2(x)
    k3 = _kernels()
    N, C, D, H, W = x.shape
    out = (N * C, D // 2, H // 2, W // 2)
    x4 = np.ascontiguousarray(x).reshape(N * C, D, H, W)
    y = np.empty(out, dtype=x.dtype)
    win = np.empty(out, dtype=np.int8)
    _volumes(lambda p0, p1: k3.max_pool2x2x2_forward(x4, y, win, p0, p1), x.shape)
    return y.reshape((N, C) + out[1:]), win.reshape((N, C) + out[1:])


@KERNELS.register
def max_pool3d_2x2x2_backward(g, win, x_shape):
    """The generic ``max_pool3d_2x2x2_backward``, compiled for float32/64."""
    if _jit.kernels_for(g.dtype) is None or 0 in x_shape or win.dtype != np.int8:
        return _generic.max_pool3d_2x2x2_backward(g, win, x_shape)
    k3 = _kernels()
    N, C, D, H, W = x_shape
    Do, Ho, Wo = g.shape[2:]
    bits = np.uint32 if g.dtype.itemsize == 4 else np.uint64     # (the kernel's view: see there)
    g4 = np.ascontiguousarray(g).reshape(N * C, Do, Ho, Wo).view(bits)
    w4 = np.ascontiguousarray(win).reshape(N * C, Do, Ho, Wo)
    gx = np.empty(x_shape, dtype=g.dtype)
    gx4 = gx.reshape(N * C, D, H, W).view(bits)
    _volumes(lambda p0, p1: k3.max_pool2x2x2_backward(g4, w4, gx4, p0, p1), x_shape)
    return gx
