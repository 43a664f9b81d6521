"""Pooling: max / average / adaptive / power-average pooling and max-unpooling.

Everything is lowered to 2-D (a 1-D signal is an image of height 1, an
unbatched input gets a batch of one).  A pooling window is visited one
kernel offset at a time: for offset (i, j) the strided slice

    xpad[:, :, i*dh : ... : sh, j*dw : ... : sw]        # shape (N, C, Ho, Wo)

holds that element of every window, so a pool is a few vectorised NumPy
operations per kernel offset, never a loop over pixels.  Max pooling goes
further and runs as two 1-D passes (rows, then columns: kh + kw steps);
average pooling over windows that tile the input (global pooling, stride
== kernel) is a reshape and one reduction.

Max pooling records the winning offsets (the first maximum in row-major
window order, as torch), which is all the backward needs; the flat
per-plane indices of ``return_indices`` are derived from them.  Each op and
its backward are a pair of Ops that differentiate into each other
(scatter <-> gather, average <-> its adjoint), so double backward works.
Adaptive average pooling with uneven windows is a separable linear map
(two small matrix products); adaptive max pooling with uneven windows and
max-unpooling gather / scatter by flat index.

Arrays are computed through their backend's namespace (``xp``); the window
bounds and averaging weights, which depend on shapes only, are built on the
host with NumPy and moved to the input's namespace where they meet its data.
"""
import math

import numpy as np

from ..._tensor import Tensor
from ..._errors import not_a_tensor
from ...autograd.function import Op
from ...backends import namespace, kernels
from ...backends.generic.pooling import padded as _padded, w_views as _w_views, \
    h_views as _h_views, lowest as _lowest, crop as _crop
from ...ops import _bw
from ...ops.reduction import Mean as _Mean
from ..._bfloat16 import is_float as _isf
from ..._autocast import autocast_op

__all__ = ["max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool1d_with_indices",
           "adaptive_max_pool2d_with_indices", "lp_pool1d", "lp_pool2d", "max_unpool1d",
           "max_unpool2d"]

# ---- geometry ---------------------------------------------------------------------------

class _Geo:
    """One pooling's shapes: input ``x4`` (N, C, H, W) and output ``y4``
    (N, C, Ho, Wo) in 2-D form, the user-visible shapes, kernel, stride,
    padding, dilation, and the padded buffer (Hb, Wb) every window fits in."""

    __slots__ = ("x4", "y4", "x_shape", "y_shape", "kh", "kw", "sh", "sw", "ph", "pw",
                 "dh", "dw", "Hb", "Wb", "disjoint", "div")

    def __init__(self, x4, x_shape, y_shape, k, s, p, d, out_hw):
        N, C, H, W = x4
        self.x4, self.x_shape, self.y_shape = x4, x_shape, y_shape
        (self.kh, self.kw), (self.sh, self.sw) = k, s
        (self.ph, self.pw), (self.dh, self.dw) = p, d
        Ho, Wo = out_hw
        self.y4 = (N, C, Ho, Wo)
        self.Hb = max(H + self.ph, (Ho - 1) * self.sh + self.dh * (self.kh - 1) + 1)
        self.Wb = max(W + self.pw, (Wo - 1) * self.sw + self.dw * (self.kw - 1) + 1)
        # windows that never share an element: the backward may assign, not add
        self.disjoint = (self.sh >= self.dh * (self.kh - 1) + 1
                         and self.sw >= self.dw * (self.kw - 1) + 1)
        self.div = None

    @property
    def tiles(self):
        """Windows tile the (unpadded) input exactly: reshape-based fast path."""
        return (self.ph == 0 and self.pw == 0 and self.dh == 1 and self.dw == 1
                and self.sh == self.kh and self.sw == self.kw)


def _offset_view(buf, geo, i, j):
    """Element (i, j) of every window: a strided (n, C, Ho, Wo) view of ``buf``."""
    Ho, Wo = geo.y4[2], geo.y4[3]
    a, b = i * geo.dh, j * geo.dw
    return buf[:, :, a:a + (Ho - 1) * geo.sh + 1:geo.sh, b:b + (Wo - 1) * geo.sw + 1:geo.sw]


def _tiled6(a, geo):
    """Input (N, C, H, W) cropped to whole tiles, as (N, C, Ho, kh, Wo, kw)."""
    N, C, Ho, Wo = geo.y4
    return a[:, :, :Ho * geo.kh, :Wo * geo.kw].reshape(N, C, Ho, geo.kh, Wo, geo.kw)


# ---- max pooling kernels ------------------------------------------------------------------
#
# The forward and its backward are the backend's kernels ``max_pool2d`` and
# ``max_pool2d_backward`` (the generic ones in ember/backends/generic/pooling.py:
# two 1-D stages, along W then along H, each recording its winning offset;
# the CPU's one compiled pass each).  The winning offsets are all the
# backward, the double backward (``_max_gather``) and ``return_indices`` need.

def _stage_gather(views, arg):
    """The adjoint of ``_stage_scatter``: pick each position's winning view."""
    k = len(views)
    if k == 1:
        return namespace(views[0]).array(views[0])
    if k == 2:
        out = views[1] * arg
        out += views[0] * (1 - arg)
        return out
    out = views[0] * (arg == 0)
    for o in range(1, k):
        out += views[o] * (arg == o)
    return out


def _max_forward(x, geo, need_idx):
    """(y, idx): the window maxima and the winning offsets (the backend's kernel)."""
    return kernels(x).max_pool2d(x, geo, need_idx)


def _max_scatter(g, idx, geo):
    """The max-pool backward: each output gradient goes to its window's winner."""
    return kernels(g).max_pool2d_backward(g, idx, geo)


def _max_gather(x, idx, geo):
    """Each window's element at the recorded winner (the adjoint of ``_max_scatter``)."""
    a1, a2 = idx
    buf = _padded(x.reshape(geo.x4), geo, 0)
    m1 = _stage_gather(_w_views(buf, geo), a1)
    return _stage_gather(_h_views(m1, geo), a2).reshape(geo.y_shape)


def _flat_indices(idx, geo):
    """Winning offsets -> torch's flat per-plane input indices h * W + w."""
    a1, a2 = idx
    N, C, Ho, Wo = geo.y4
    W = geo.x4[3]
    xp = namespace(a2)
    rows_b = (xp.arange(Ho, dtype=np.int64) * geo.sh)[:, None] + a2.astype(np.int64) * geo.dh
    j = xp.take_along_axis(a1, rows_b, axis=2).astype(np.int64)
    h = rows_b - geo.ph
    w = (xp.arange(Wo, dtype=np.int64) * geo.sw - geo.pw) + j * geo.dw
    return (h * W + w).reshape(geo.y_shape)


class _MaxPool(Op):
    _ctx_fields = ("idx", "geo")
    _node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, geo, return_indices):
        need = bool(ctx.needs_input_grad)
        y, idx = _max_forward(x.reshape(geo.x4), geo, need or return_indices)
        if need:
            ctx.idx, ctx.geo = idx, geo
        y = y.reshape(geo.y_shape)
        if return_indices:
            return y, _flat_indices(idx, geo)
        return y

    @staticmethod
    def backward(ctx, g, gi=None):
        if _bw.is_array(g):
            return _max_scatter(g, ctx.idx, ctx.geo)
        return _MaxScatter.apply(g, ctx.idx, ctx.geo)


class _MaxScatter(Op):
    _ctx_fields = ("idx", "geo")
    _node_name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, idx, geo):
        ctx.idx, ctx.geo = idx, geo
        return _max_scatter(g, idx, geo)

    @staticmethod
    def backward(ctx, gg):
        if _bw.is_array(gg):
            return _max_gather(gg, ctx.idx, ctx.geo)
        return _MaxGather.apply(gg, ctx.idx, ctx.geo)


class _MaxGather(Op):
    _ctx_fields = ("idx", "geo")
    _node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, idx, geo):
        ctx.idx, ctx.geo = idx, geo
        return _max_gather(x, idx, geo)

    @staticmethod
    def backward(ctx, g):
        if _bw.is_array(g):
            return _max_scatter(g, ctx.idx, ctx.geo)
        return _MaxScatter.apply(g, ctx.idx, ctx.geo)


# ---- average pooling kernels --------------------------------------------------------------

def _avg_divisor(geo, count_include_pad, divisor_override):
    """1 / (the divisor of each output), as a scalar when uniform or a (Ho, Wo)
    float64 NumPy map (built from the shapes alone, on the host)."""
    if divisor_override:
        return 1.0 / divisor_override
    N, C, H, W = geo.x4
    Ho, Wo = geo.y4[2], geo.y4[3]

    def axis(n_out, k, s, p, size):
        start = np.arange(n_out) * s - p  # host
        end = np.minimum(start + k, size + p)  # host
        if count_include_pad:
            return end - start
        return np.minimum(end, size) - np.maximum(start, 0)  # host

    dh = axis(Ho, geo.kh, geo.sh, geo.ph, H)
    dw = axis(Wo, geo.kw, geo.sw, geo.pw, W)
    if Ho == 0 or Wo == 0:
        return 1.0
    if (dh == dh[0]).all() and (dw == dw[0]).all():
        return 1.0 / (int(dh[0]) * int(dw[0]))
    return 1.0 / (dh[:, None] * dw[None, :]).astype(np.float64)


def _scale(a, inv):
    """a * inv, in a's dtype (inv a Python float or a float64 (Ho, Wo) host map)."""
    if isinstance(inv, float):
        a *= inv
        return a
    a *= namespace(a).asarray(inv, dtype=a.dtype)
    return a


def _avg_forward(x, geo):
    x = x.reshape(geo.x4)
    kh, kw = geo.kh, geo.kw
    if geo.tiles:
        y = _tiled6(x, geo).sum(axis=(3, 5))
    else:
        buf = _padded(x, geo, 0)
        y = namespace(buf).array(_offset_view(buf, geo, 0, 0))
        for o in range(1, kh * kw):
            y += _offset_view(buf, geo, o // kw, o % kw)
    return _scale(y, geo.div).reshape(geo.y_shape)


def _avg_adjoint(g, geo):
    """Spread each output gradient evenly over its window (avg-pool backward)."""
    g = g.reshape(geo.y4)
    xp = namespace(g)
    gs = _scale(xp.array(g), geo.div)
    N, C, H, W = geo.x4
    kh, kw = geo.kh, geo.kw
    if geo.tiles:
        gx = xp.zeros(geo.x4, dtype=g.dtype) if (H % kh or W % kw) else \
            xp.empty(geo.x4, dtype=g.dtype)
        _tiled6(gx, geo)[...] = gs[:, :, :, None, :, None]
        return gx.reshape(geo.x_shape)
    buf = xp.zeros((N, C, geo.Hb, geo.Wb), dtype=g.dtype)
    for o in range(kh * kw):
        v = _offset_view(buf, geo, o // kw, o % kw)
        if geo.disjoint:
            v[...] = gs
        else:
            v += gs
    return _crop(buf, geo).reshape(geo.x_shape)


class _AvgPool(Op):
    _ctx_fields = ("geo",)
    _node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, geo):
        ctx.geo = geo
        return _avg_forward(x, geo)

    @staticmethod
    def backward(ctx, g):
        if _bw.is_array(g):
            return _avg_adjoint(g, ctx.geo)
        return _AvgPoolAdjoint.apply(g, ctx.geo)


class _AvgPoolAdjoint(Op):
    _ctx_fields = ("geo",)
    _node_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, geo):
        ctx.geo = geo
        return _avg_adjoint(g, geo)

    @staticmethod
    def backward(ctx, gg):
        if _bw.is_array(gg):
            return _avg_forward(gg, ctx.geo)
        return _AvgPool.apply(gg, ctx.geo)


# ---- separable linear maps (adaptive average pooling) -----------------------------------

class _Separable(Op):
    """y[n, c] = A @ x[n, c] @ B.T for constant matrices A (Ho, H), B (Wo, W)."""
    _ctx_fields = ("A", "B", "x_shape", "x4")
    _node_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, A, B, x4, y_shape):
        ctx.A, ctx.B, ctx.x_shape = A, B, x.shape
        ctx.x4 = x4
        a = x.reshape(x4)
        xp = namespace(x)
        # (A, B: float64 host matrices, moved to x's namespace and dtype)
        y = xp.matmul(xp.matmul(xp.asarray(A, dtype=x.dtype), a), xp.asarray(B.T, dtype=x.dtype))
        return y.reshape(y_shape)

    @staticmethod
    def backward(ctx, g):
        A, B = ctx.A, ctx.B
        N, C = ctx.x4[:2]
        g4 = (N, C, A.shape[0], B.shape[0])
        if _bw.is_array(g):
            return _Separable.forward(_Ctx(), g, A.T, B.T, g4, ctx.x_shape)
        return _Separable.apply(g, A.T, B.T, g4, ctx.x_shape)


class _Ctx:
    """A throwaway ctx for calling a forward directly."""
    needs_input_grad = ()


def _adaptive_windows(n_in, n_out):
    """torch's adaptive windows: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)),
    as host (NumPy) index arrays."""
    i = np.arange(n_out)  # host
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    return start, end


def _avg_matrix(n_in, n_out, dtype):
    start, end = _adaptive_windows(n_in, n_out)
    cols = np.arange(n_in)  # host
    m = (cols >= start[:, None]) & (cols < end[:, None])
    return m / (end - start)[:, None].astype(np.float64)


# ---- flat-index gather / scatter (adaptive max pooling, max unpooling) -----------------

def _idx_gather(x, ind, plane):
    """y[n, c, k] = x[n, c, ind[n, c, k]] over flattened planes."""
    N, C = ind.shape[:2]
    xf = x.reshape(N, C, plane)
    return namespace(x).take_along_axis(xf, ind.reshape(N, C, -1), axis=2).reshape(ind.shape)


def _idx_scatter(g, ind, plane, out_shape, accumulate):
    """The adjoint of ``_idx_gather``: out[n, c, ind] (+)= g."""
    N, C = ind.shape[:2]
    xp = namespace(g)
    out = xp.zeros((N, C, plane), dtype=g.dtype)
    flat = ind.reshape(N, C, -1)
    gf = g.reshape(N, C, -1)
    if accumulate:
        base = (xp.arange(N * C, dtype=np.int64) * plane).reshape(N, C, 1)
        xp.add.at(out.reshape(-1), (flat + base).reshape(-1), gf.reshape(-1))
    else:
        xp.put_along_axis(out, flat, gf, axis=2)
    return out.reshape(out_shape)


class _IdxGather(Op):
    _ctx_fields = ("ind4", "plane", "x_shape", "acc")
    _node_name = "AdaptiveMaxPool2DBackward0"

    @staticmethod
    def forward(ctx, x, ind, ind4, y_shape, acc):
        N, C = ind4.shape[:2]
        plane = x.size // max(N * C, 1) if N * C else 0
        ctx.ind4, ctx.plane, ctx.x_shape, ctx.acc = ind4, plane, x.shape, acc
        return _idx_gather(x, ind4, plane).reshape(y_shape)

    @staticmethod
    def backward(ctx, g):
        if _bw.is_array(g):
            return _idx_scatter(g, ctx.ind4, ctx.plane, ctx.x_shape, ctx.acc)
        return _IdxScatter.apply(g, None, ctx.ind4, ctx.plane, ctx.x_shape, ctx.acc)


class _IdxScatter(Op):
    _ctx_fields = ("ind4", "plane", "g_shape", "acc")
    _node_name = "MaxUnpool2DBackward0"

    @staticmethod
    def forward(ctx, g, ind, ind4, plane, out_shape, acc):
        ctx.ind4, ctx.plane, ctx.g_shape, ctx.acc = ind4, plane, g.shape, acc
        return _idx_scatter(g, ind4, plane, out_shape, acc)

    @staticmethod
    def backward(ctx, gg, *_):
        if _bw.is_array(gg):
            return _idx_gather(gg, ctx.ind4, ctx.plane).reshape(ctx.g_shape)
        return _IdxGather.apply(gg, None, ctx.ind4, ctx.g_shape, ctx.acc)


# ---- argument handling ----------------------------------------------------------------------

# Where each size argument stands in the pools' signatures (torch's type errors name it).
_ARG_POSITION = {"kernel_size": 2, "stride": 3, "padding": 4, "dilation": 5}


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _pair(v, nd, name, fname):
    if _is_int(v):
        return (int(v),) * nd
    where = f"{fname}(): argument '{name}' (position {_ARG_POSITION[name]}) must be tuple of ints"
    if not isinstance(v, (tuple, list)):
        raise TypeError(f"{where}, not {type(v).__name__}")
    # torch's argument parser checks the first element strictly and unpacks the rest as
    # integers (a bool passes there); its messages differ accordingly.
    if v and not _is_int(v[0]):
        raise TypeError(f"{where}, but found element of type {type(v[0]).__name__} at pos 0")
    for i, e in enumerate(v[1:], 2):
        if not isinstance(e, (int, np.integer)):
            raise TypeError(f"{fname}(): argument '{name}' failed to unpack the object at pos {i} "
                            f"with error \"type must be tuple of ints,but got {type(e).__name__}\"")
    if len(v) == 1:
        return (int(v[0]),) * nd
    if len(v) == nd:
        return tuple(int(e) for e in v)
    if nd == 2:
        omitted = "omitted, " if name == "stride" else ""
        raise RuntimeError(f"{fname}: {name} must either be {omitted}a single int, "
                           f"or a tuple of two ints")
    raise RuntimeError(f"{fname}: {name} must be a single int, but got {v!r}")


def _as_input(fname, input, nd, allow_int=True):
    if not isinstance(input, Tensor):
        raise not_a_tensor(fname, "input", input, 1)
    x = input._data
    if x.ndim not in (nd + 1, nd + 2) or any(s == 0 for s in x.shape[-(nd + 1):]):
        what = "2D or 3D" if nd == 1 else "3D or 4D"
        raise RuntimeError(f"{fname}: Expected {what} (batch mode) tensor with optional 0 dim "
                           f"batch size for input, but got: {list(x.shape)}")
    if not allow_int and x.dtype.kind not in "fc" and not _isf(x.dtype):
        raise NotImplementedError(f"\"{fname}\" not implemented for "
                                  f"'{_DT.get(x.dtype.name, x.dtype.name)}'")
    return x


_DT = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
       "bool": "Bool"}


def _x4(x, nd):
    s = x.shape
    if x.ndim == nd + 1:
        s = (1,) + s
    if nd == 1:
        s = s[:2] + (1,) + s[2:]
    return s


def _y_shape(x, nd, out_hw):
    lead = x.shape[:-nd]
    return lead + (out_hw if nd == 2 else out_hw[1:])


def _out_size(size, k, s, p, d, ceil_mode):
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    o = (-(-num // s) if ceil_mode else num // s) + 1
    # in ceil mode the last window must start inside the input or left padding
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_geo(fname, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    k = _pair(kernel_size, nd, "kernel_size", fname)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = _pair(stride, nd, "stride", fname)
    p = _pair(padding, nd, "padding", fname)
    d = _pair(dilation, nd, "dilation", fname)
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{fname}: kernel_size must be greater than zero, but got "
                           f"kernel_size={list(k)}")
    if any(v <= 0 for v in s):
        raise RuntimeError("stride should not be zero")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"dilation should be greater than zero, but got dilation={list(d)}")
    if any(v < 0 for v in p):
        raise RuntimeError(f"pad must be non-negative, but got pad={list(p)}")
    for kk, pp, dd in zip(k, p, d):
        if pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={pp}, kernel_size={kk} and dilation={dd}")
    spatial = x.shape[-nd:]
    out = tuple(_out_size(n, kk, ss, pp, dd, ceil_mode)
                for n, kk, ss, pp, dd in zip(spatial, k, s, p, d))
    if any(o <= 0 for o in out):
        C = x.shape[-nd - 1]
        sp_in = "x".join(map(str, (C,) + ((1,) if nd == 1 else ()) + spatial))
        sp_out = "x".join(map(str, (C,) + ((1,) if nd == 1 else ()) + out))
        raise RuntimeError(f"Given input size: ({sp_in}). Calculated output size: ({sp_out}). "
                           "Output size is too small")
    if nd == 1:
        k, s, p, d, out = (1,) + k, (1,) + s, (0,) + p, (1,) + d, (1,) + out
    return _Geo(_x4(x, nd), x.shape, _y_shape(x, nd, out), k, s, p, d, out)


# ---- public functions -------------------------------------------------------------------------

def _max_pool(nd, fname, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x = _as_input(fname, input, nd)
    if _plain(kernel_size) and _plain(stride) and _plain(padding) and _plain(dilation):
        # A model pools the same shapes with the same arguments call after
        # call: checking them and building the geometry cost more than a
        # small pool itself (LeNet's second pool at batch 1, 32x8x8: 18 us a
        # call, 9 of them _pool_geo), so a valid geometry is kept by its
        # arguments.  (Max pooling never changes its _Geo; _plain keeps
        # out keys that compare equal to valid ones but raise: 2.0, True.)
        key = (nd, x.shape, kernel_size, stride, padding, dilation, bool(ceil_mode))
        geo = _MAX_GEOS.get(key)
        if geo is None:
            geo = _pool_geo(fname, x, nd, kernel_size, stride, padding, dilation, ceil_mode)
            if len(_MAX_GEOS) >= 256:
                _MAX_GEOS.clear()
            _MAX_GEOS[key] = geo
    else:
        geo = _pool_geo(fname, x, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return _MaxPool.apply(input, geo, bool(return_indices))


# max pooling geometries by (nd, input shape, arguments): see _max_pool
_MAX_GEOS = {}


def _plain(v):
    """None, an int or a tuple of ints, exactly: a memo key that equals only
    arguments that behave the same (``2.0 == 2`` and ``True == 1`` but torch
    refuses floats and bools)."""
    t = type(v)
    return v is None or t is int or (t is tuple and all(type(e) is int for e in v))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, L) or (C, L) input; with
    ``return_indices`` also the flat position of each maximum."""
    return _max_pool(1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, H, W) or (C, H, W) input; ``stride``
    defaults to ``kernel_size``.  With ``return_indices`` also the flat
    per-plane index h * W + w of each maximum."""
    return _max_pool(2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_pool(nd, fname, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x = _as_input(fname, input, nd, allow_int=nd == 2)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    geo = _pool_geo(fname, x, nd, kernel_size, stride, padding, 1, ceil_mode)
    geo.div = _avg_divisor(geo, count_include_pad, divisor_override)
    if not _isf(x.dtype):
        # integer average pooling truncates toward zero, as torch
        out = _avg_forward(x.astype(np.float64), geo)
        from ..._tensor_base import _wrap
        return _wrap(namespace(out).trunc(out).astype(x.dtype))
    return _AvgPool.apply(input, geo)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Average over sliding windows of (N, C, L) or (C, L) input."""
    return _avg_pool(1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average over sliding windows of (N, C, H, W) or (C, H, W) input.
    ``count_include_pad`` counts zero padding in the divisor;
    ``divisor_override`` replaces the divisor."""
    return _avg_pool(2, "avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _adaptive_sizes(fname, x, nd, output_size):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        out = (output_size,) * nd
    else:
        out = tuple(output_size)
        if len(out) == 1 and nd == 2:
            out = out * 2
        if len(out) != nd:
            raise RuntimeError(f"{fname}(): internal error: output_size.size() must be {nd}")
    out = tuple(x.shape[-nd + i] if o is None else int(o) for i, o in enumerate(out))
    if any(o < 0 for o in out):
        raise RuntimeError(f"{fname}: elements of output_size must be greater than or equal "
                           f"to 0 but received {list(out)}")
    return out


def _adaptive_input(fname, input, nd, allow_int):
    if not isinstance(input, Tensor):
        raise not_a_tensor(fname, "input", input, 1)
    x = input._data
    if x.ndim not in (nd + 1, nd + 2) or any(s == 0 for s in x.shape[-(nd + 1):]):
        what = "2D or 3D" if nd == 1 else "3D or 4D"
        raise RuntimeError(f"{fname}(): Expected {what} tensor, but got {list(x.shape)}")
    if not allow_int and not _isf(x.dtype):
        raise NotImplementedError(f"\"{fname}\" not implemented for "
                                  f"'{_DT.get(x.dtype.name, x.dtype.name)}'")
    return x


def _adaptive_avg(nd, fname, input, output_size):
    x = _adaptive_input(fname, input, nd, False)
    out = _adaptive_sizes(fname, x, nd, output_size)
    spatial = x.shape[-nd:]
    out2 = out if nd == 2 else (1,) + out
    sp2 = spatial if nd == 2 else (1,) + spatial
    x4 = _x4(x, nd)
    y_shape = _y_shape(x, nd, out2)
    if all(o > 0 and s % o == 0 for s, o in zip(sp2, out2)):
        k = tuple(s // o for s, o in zip(sp2, out2))
        geo = _Geo(x4, x.shape, y_shape, k, k, (0, 0), (1, 1), out2)
        geo.div = 1.0 / (k[0] * k[1])
        return _AvgPool.apply(input, geo)
    A = _avg_matrix(sp2[0], out2[0], x.dtype)
    B = _avg_matrix(sp2[1], out2[1], x.dtype)
    return _Separable.apply(input, A, B, x4, y_shape)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to ``output_size`` positions, windows chosen as torch does."""
    return _adaptive_avg(1, "adaptive_avg_pool1d", input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling of (N, C, H, W) to (N, C, *output_size); ``None``
    keeps that input size."""
    if isinstance(input, Tensor) and _to_one_by_one(input, output_size):
        d = input._data
        if d.dtype.kind != "f" and not _isf(d.dtype):
            return input.mean((-1, -2), keepdim=True)     # (raises mean's error, as torch)
        return _GlobalAvg.apply(input, (d.ndim - 2, d.ndim - 1), True, None)
    return _adaptive_avg(2, "adaptive_avg_pool2d", input, output_size)


class _GlobalAvg(_Mean):
    """adaptive_avg_pool2d to 1x1, which torch computes as the mean over the
    last two axes (its grad_fn is MeanBackward1): the mean op itself (one row
    sum per plane, no window views), under a class of its own so that ONNX
    export writes it as GlobalAveragePool."""
    _node_name = "MeanBackward1"


def _to_one_by_one(input, output_size):
    """Whether a 2-D adaptive pool's ``output_size`` is 1x1 for ``input``
    (an int 1, or two entries each 1 or None over a size-1 axis)."""
    if type(output_size) is int:
        return output_size == 1 and input.ndim >= 2
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2 or input.ndim < 2:
        return False
    sizes = input.shape[-2:]
    return all((o is None and s == 1) or (type(o) is int and o == 1)
               for o, s in zip(output_size, sizes))


def _adaptive_max_flat(x4, out2):
    """(y, flat indices) of adaptive max pooling, rows then columns: the max
    of a window is the max over its rows of each row's max, and taking the
    first maximum at both stages gives the first in row-major order."""
    N, C, H, W = x4.shape
    Ho, Wo = out2
    hs, he = _adaptive_windows(H, Ho)
    ws, we = _adaptive_windows(W, Wo)
    xp = namespace(x4)
    m1 = xp.empty((N, C, H, Wo), dtype=x4.dtype)
    a1 = xp.empty((N, C, H, Wo), dtype=np.int64)
    for o in range(Wo):
        seg = x4[..., ws[o]:we[o]]
        a1[..., o] = seg.argmax(axis=-1) + ws[o]
        m1[..., o] = xp.take_along_axis(seg, (a1[..., o] - ws[o])[..., None], axis=-1)[..., 0]
    y = xp.empty((N, C, Ho, Wo), dtype=x4.dtype)
    ind = xp.empty((N, C, Ho, Wo), dtype=np.int64)
    for o in range(Ho):
        seg = m1[:, :, hs[o]:he[o], :]
        r = seg.argmax(axis=2)
        y[:, :, o, :] = xp.take_along_axis(seg, r[:, :, None, :], axis=2)[:, :, 0, :]
        r = r + hs[o]
        col = xp.take_along_axis(a1, r[:, :, None, :], axis=2)[:, :, 0, :]
        ind[:, :, o, :] = r * W + col
    return y, ind


def _adaptive_max(nd, fname, input, output_size, return_indices):
    x = _adaptive_input(fname, input, nd, True)
    out = _adaptive_sizes(fname, x, nd, output_size)
    spatial = x.shape[-nd:]
    out2 = out if nd == 2 else (1,) + out
    sp2 = spatial if nd == 2 else (1,) + spatial
    x4 = _x4(x, nd)
    y_shape = _y_shape(x, nd, out2)
    if all(o > 0 and s % o == 0 for s, o in zip(sp2, out2)):
        k = tuple(s // o for s, o in zip(sp2, out2))
        geo = _Geo(x4, x.shape, y_shape, k, k, (0, 0), (1, 1), out2)
        return _MaxPool.apply(input, geo, bool(return_indices))
    _, ind = _adaptive_max_flat(x.reshape(x4), out2)
    overlap = any(o and s % o for s, o in zip(sp2, out2))
    y = _IdxGather.apply(input, None, ind, y_shape, overlap)
    if return_indices:
        from ..._tensor_base import _wrap
        return y, _wrap(ind.reshape(y_shape))
    return y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling to ``output_size`` positions (torch's adaptive windows)."""
    return _adaptive_max(1, "adaptive_max_pool1d", input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) to (N, C, *output_size)."""
    return _adaptive_max(2, "adaptive_max_pool2d", input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, True)


def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    k = _pair(kernel_size, nd, "kernel_size", f"lp_pool{nd}d")
    pool = avg_pool1d if nd == 1 else avg_pool2d
    p = float(norm_type)
    out = pool(input.pow(p) if p != 1 else input, kernel_size, stride, 0, ceil_mode)
    # sign(out) * relu(|out|) is out, but with zero gradient where a window sums to 0
    a = out.abs()
    out = out.sign() * (a * (a > 0).to(a.dtype)) * math.prod(k)
    return out.pow(1.0 / p)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling: (sum over the window of x^p)^(1/p)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling: (sum over the window of x^p)^(1/p)."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def _max_unpool(nd, fname, input, indices, kernel_size, stride, padding, output_size):
    if not isinstance(input, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"{fname}(): input and indices must be Tensors")
    x, ind = input._data, indices._data
    if ind.dtype != np.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: "
                           f"{indices.dtype}")
    if x.shape != ind.shape:
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({list(x.shape)}) but got indices tensor with shape: "
                           f"{list(ind.shape)}")
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fname}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor, "
                           f"but got: {list(x.shape)}")
    k = _pair(kernel_size, nd, "kernel_size", fname)
    s = k if stride is None else _pair(stride, nd, "stride", fname)
    p = _pair(padding, nd, "padding", fname)
    spatial = x.shape[-nd:]
    default = tuple((i - 1) * ss - 2 * pp + kk for i, ss, pp, kk in zip(spatial, s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)
        if len(out) == nd + 2 or (len(out) == nd + 1 and x.ndim == nd + 1):
            out = out[-nd:]
        if len(out) != nd:
            raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} "
                             f"elements, but it has a length of '{len(out)}'")
        for o, dflt, ss in zip(out, default, s):
            if not dflt - ss < o < dflt + ss:
                raise ValueError(f"invalid output_size \"{list(out)}\" (dim must be between "
                                 f"{[d - ss for d in default]} and {[d + ss for d in default]})")
    plane = math.prod(out)
    ind4 = ind.reshape(_x4(ind, nd)[:2] + (-1,))
    if ind4.size and (ind4.min() < 0 or ind4.max() >= plane):
        bad = ind4.max() if ind4.max() >= plane else ind4.min()
        raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                           f"{'x'.join(map(str, out))})")
    out_shape = x.shape[:-nd] + out
    return _IdxScatter.apply(input, None, ind4, plane, out_shape, False)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool1d: values placed at ``indices``, zeros elsewhere."""
    return _max_unpool(1, "max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size)


@autocast_op("fp32")
def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool2d: values placed at ``indices``, zeros elsewhere."""
    return _max_unpool(2, "max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size)
