"""Spatial resampling and rearranging: pad, interpolate / upsample, unfold /
fold, pixel_shuffle / pixel_unshuffle, channel_shuffle.

Each transform here is linear in its input, so its backward is its adjoint
and the adjoint's backward is the transform again: every Op below comes as
such a pair (pad <-> crop-and-fold-back, gather <-> scatter, unfold <->
fold), which makes double backward exact for free.

Interpolation is separable: each spatial axis is resampled by its own
(out, in) matrix (nearest: one 1 per row; linear: two weights; cubic: four;
area: an averaging window), so a 2-D resize is two small matrix products
``A @ x @ B.T``.  Nearest modes use index gathers instead (exact, no
multiplies).
"""
import math
import numbers

import numpy as np

from ...backends import namespace
from ..._tensor import Tensor
from ..._errors import not_a_tensor
from ...autograd.function import Op
from ..._bfloat16 import is_float as _isf

__all__ = ["pad", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "unfold",
           "fold", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle"]


# ---- pad ---------------------------------------------------------------------------------------

def _axis_slice(ndim, axis, sl):
    idx = [slice(None)] * ndim
    idx[axis] = sl
    return tuple(idx)


def _mode_pad_axis(x, axis, a, b, mode):
    """Pad one axis by (a, b) >= 0 with reflect / replicate / circular values."""
    xp = namespace(x)
    n = x.shape[axis]
    nd = x.ndim
    parts = []
    if a:
        if mode == "reflect":
            parts.append(x[_axis_slice(nd, axis, slice(a, 0, -1))])
        elif mode == "replicate":
            shape = list(x.shape)
            shape[axis] = a
            parts.append(xp.broadcast_to(x[_axis_slice(nd, axis, slice(0, 1))], shape))
        else:
            parts.append(x[_axis_slice(nd, axis, slice(n - a, n))])
    parts.append(x)
    if b:
        if mode == "reflect":
            parts.append(x[_axis_slice(nd, axis, slice(n - 2, n - 2 - b if n - 2 - b >= 0
                                                       else None, -1))])
        elif mode == "replicate":
            shape = list(x.shape)
            shape[axis] = b
            parts.append(xp.broadcast_to(x[_axis_slice(nd, axis, slice(n - 1, n))], shape))
        else:
            parts.append(x[_axis_slice(nd, axis, slice(0, b))])
    return xp.concatenate(parts, axis=axis) if len(parts) > 1 else x


def _mode_pad_axis_adjoint(g, axis, a, b, mode):
    """The adjoint of ``_mode_pad_axis``: fold the padded borders back onto
    the elements they copied."""
    xp = namespace(g)
    nd = g.ndim
    n = g.shape[axis] - a - b
    gx = xp.array(g[_axis_slice(nd, axis, slice(a, a + n))])
    if a:
        left = g[_axis_slice(nd, axis, slice(0, a))]
        if mode == "reflect":
            gx[_axis_slice(nd, axis, slice(1, a + 1))] += xp.flip(left, axis)
        elif mode == "replicate":
            gx[_axis_slice(nd, axis, slice(0, 1))] += left.sum(axis=axis, keepdims=True)
        else:
            gx[_axis_slice(nd, axis, slice(n - a, n))] += left
    if b:
        right = g[_axis_slice(nd, axis, slice(a + n, a + n + b))]
        if mode == "reflect":
            gx[_axis_slice(nd, axis, slice(n - 1 - b, n - 1))] += xp.flip(right, axis)
        elif mode == "replicate":
            gx[_axis_slice(nd, axis, slice(n - 1, n))] += right.sum(axis=axis, keepdims=True)
        else:
            gx[_axis_slice(nd, axis, slice(0, b))] += right
    return gx


def _mode_pad(x, pads, mode):
    """Pad each (axis, (a, b)) of ``pads``; a negative amount first crops that side
    (torch crops, then pads the cropped array)."""
    for axis, (a, b) in pads:
        if a < 0 or b < 0:
            x = x[_axis_slice(x.ndim, axis, slice(max(-a, 0), x.shape[axis] - max(-b, 0)))]
        x = _mode_pad_axis(x, axis, max(a, 0), max(b, 0), mode)
    return x


def _mode_pad_adjoint(g, pads, mode):
    for axis, (a, b) in reversed(pads):
        g = _mode_pad_axis_adjoint(g, axis, max(a, 0), max(b, 0), mode)
        if a < 0 or b < 0:
            shape = list(g.shape)
            shape[axis] += max(-a, 0) + max(-b, 0)
            out = namespace(g).zeros(shape, dtype=g.dtype)
            out[_axis_slice(g.ndim, axis, slice(max(-a, 0), shape[axis] - max(-b, 0)))] = g
            g = out
    return g


class _ModePad(Op):
    _ctx_fields = ("pads", "mode")
    _node_name = "ReflectionPadBackward0"

    @staticmethod
    def forward(ctx, x, pads, mode):
        ctx.pads, ctx.mode = pads, mode
        return _mode_pad(x, pads, mode)

    @staticmethod
    def backward(ctx, g):
        if not isinstance(g, Tensor):
            return _mode_pad_adjoint(g, ctx.pads, ctx.mode)
        return _ModePadAdjoint.apply(g, ctx.pads, ctx.mode)


class _ModePadAdjoint(Op):
    _ctx_fields = ("pads", "mode")
    _node_name = "ReflectionPadBackwardBackward0"

    @staticmethod
    def forward(ctx, g, pads, mode):
        ctx.pads, ctx.mode = pads, mode
        return _mode_pad_adjoint(g, pads, mode)

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, Tensor):
            return _mode_pad(gg, ctx.pads, ctx.mode)
        return _ModePad.apply(gg, ctx.pads, ctx.mode)


def _const_pad(x, pads, value):
    """Pad (or, for negative amounts, crop) each listed axis; fill with ``value``."""
    shape = list(x.shape)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    for axis, (a, b) in pads:
        n = x.shape[axis]
        shape[axis] = n + a + b
        src[axis] = slice(max(-a, 0), n - max(-b, 0))
        dst[axis] = slice(max(a, 0), max(a, 0) + n - max(-a, 0) - max(-b, 0))
    xp = namespace(x)
    out = xp.full(shape, value, dtype=x.dtype) if value != 0 else xp.zeros(shape, dtype=x.dtype)
    out[tuple(dst)] = x[tuple(src)]
    return out


def _neg(pads):
    return tuple((axis, (-a, -b)) for axis, (a, b) in pads)


class _ConstPad(Op):
    _ctx_fields = ("pads",)
    _node_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pads, value):
        ctx.pads = pads
        return _const_pad(x, pads, value)

    @staticmethod
    def backward(ctx, g):
        # the adjoint of padding is cropping, which is padding by the negated amounts
        if not isinstance(g, Tensor):
            return _const_pad(g, _neg(ctx.pads), 0)
        return _ConstPad.apply(g, _neg(ctx.pads), 0)


_PAD_HELP = ("Supported combinations for non-constant padding:\n"
             "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
             "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
             "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom,
    ...)`` from the last dim backwards.  Modes: 'constant' (fill ``value``,
    negative amounts crop), 'reflect', 'replicate', 'circular'."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("pad", "input", input, 1)
    x = input._data
    p = [int(v) for v in pad]
    if len(p) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    k = len(p) // 2
    if k > x.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the "
                           f"input dimension but got padding length {len(p)} and input of "
                           f"dimension {x.ndim}")
    pads = tuple((x.ndim - 1 - i, (p[2 * i], p[2 * i + 1])) for i in range(k))
    if mode == "constant":
        for axis, (a, b) in pads:
            if x.shape[axis] + a + b < 0:
                raise RuntimeError(f"narrow(): length must be non-negative. (padding {p} "
                                   f"leaves dimension {axis} of size {x.shape[axis]} with "
                                   f"{x.shape[axis] + a + b} elements)")
        return _ConstPad.apply(input, pads, 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    if k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"Padding size {len(p)} is not supported for {x.ndim}D "
                                  f"input tensor.\n{_PAD_HELP}")
    for axis, (a, b) in pads:
        n = x.shape[axis] - max(-a, 0) - max(-b, 0)      # after cropping negative sides
        if n < 0:
            raise RuntimeError(f"negative padding {p} crops dimension {axis} of size "
                               f"{x.shape[axis]} below zero")
        if mode == "reflect" and (a >= n or b >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the "
                               f"corresponding input dimension, but got: padding ({a}, {b}) "
                               f"at dimension {axis} of input {list(x.shape)}")
        if mode == "circular" and (a > n or b > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if mode == "replicate" and n == 0 and (a > 0 or b > 0):
            raise RuntimeError(f"padding of an empty dimension {axis} is not possible")
    return _ModePad.apply(input, pads, mode)


# ---- per-axis gathers (nearest interpolation) --------------------------------------------------

def _gather_axes(x, maps):
    """x indexed by ``idx`` along each (axis, idx, n_in) of ``maps`` (a new array)."""
    if not maps:
        return x.copy()
    xp = namespace(x)
    for axis, idx, _ in maps:
        x = xp.take(x, idx, axis=axis)
    return x


def _scatter_axes(g, maps):
    """The adjoint of ``_gather_axes``: sum gradients of repeated indices."""
    xp = namespace(g)
    for axis, idx, n in reversed(maps):
        g = xp.moveaxis(g, axis, -1)
        out = xp.zeros(g.shape[:-1] + (n,), dtype=g.dtype)
        # idx is non-decreasing: each input index owns one contiguous run of outputs
        if idx.size:
            first = xp.concatenate((xp.ones(1, dtype=bool), idx[1:] != idx[:-1]))
            starts = xp.flatnonzero(first)
            out[..., idx[starts]] = xp.add.reduceat(g, starts, axis=-1)
        g = xp.moveaxis(out, -1, axis)
    return g


class _AxisGather(Op):
    _ctx_fields = ("maps",)
    _node_name = "UpsampleNearest2DBackward0"

    @staticmethod
    def forward(ctx, x, maps):
        ctx.maps = maps
        return _gather_axes(x, maps)

    @staticmethod
    def backward(ctx, g):
        if not isinstance(g, Tensor):
            return _scatter_axes(g, ctx.maps)
        return _AxisScatter.apply(g, ctx.maps)


class _AxisScatter(Op):
    _ctx_fields = ("maps",)
    _node_name = "UpsampleNearest2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, maps):
        ctx.maps = maps
        return _scatter_axes(g, maps)

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, Tensor):
            return _gather_axes(gg, ctx.maps)
        return _AxisGather.apply(gg, ctx.maps)


# ---- per-axis dense maps (linear, cubic, area interpolation) --------------------------------

def _apply_mats(x, mats):
    """``x`` with each (axis, M) of ``mats`` applied along its axis:
    y[..., o, ...] = sum_i M[o, i] * x[..., i, ...]."""
    xp = namespace(x)
    for axis, m in mats:
        m = m.astype(x.dtype, copy=False)
        if axis == x.ndim - 1:
            x = xp.matmul(x, m.T)
        else:
            x = xp.moveaxis(xp.matmul(xp.moveaxis(x, axis, -1), m.T), -1, axis)
    return x


class _AxisMaps(Op):
    _ctx_fields = ("mats",)
    _node_name = "UpsampleBilinear2DBackward0"

    @staticmethod
    def forward(ctx, x, mats):
        ctx.mats = mats
        return namespace(x).ascontiguousarray(_apply_mats(x, mats))

    @staticmethod
    def backward(ctx, g):
        mats_t = tuple((axis, m.T) for axis, m in reversed(ctx.mats))
        if not isinstance(g, Tensor):
            return namespace(g).ascontiguousarray(_apply_mats(g, mats_t))
        return _AxisMaps.apply(g, mats_t)


# ---- interpolate ----------------------------------------------------------------------------
# The per-axis index maps and weight matrices depend on the sizes only; each is
# built in the namespace ``xp`` of the input it will be applied to.

def _source_coords(xp, n_in, n_out, scale, align_corners, cubic=False):
    """torch's source coordinate of each output index along one axis."""
    d = xp.arange(n_out, dtype=np.float64)
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return d * s
    s = (1.0 / scale) if scale is not None and scale > 0 else n_in / n_out
    src = (d + 0.5) * s - 0.5
    return src if cubic else xp.maximum(src, 0.0)


def _linear_matrix(xp, n_in, n_out, scale, align_corners):
    src = _source_coords(xp, n_in, n_out, scale, align_corners)
    i0 = xp.minimum(xp.floor(src).astype(np.int64), n_in - 1)
    i1 = xp.minimum(i0 + 1, n_in - 1)
    l1 = src - i0
    m = xp.zeros((n_out, n_in), dtype=np.float64)
    r = xp.arange(n_out)
    xp.add.at(m, (r, i0), 1.0 - l1)
    xp.add.at(m, (r, i1), l1)
    return m


def _cubic_matrix(xp, n_in, n_out, scale, align_corners):
    A = -0.75
    src = _source_coords(xp, n_in, n_out, scale, align_corners, cubic=True)
    i = xp.floor(src).astype(np.int64)
    t = src - i

    def near(x):   # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):    # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    w = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    m = xp.zeros((n_out, n_in), dtype=np.float64)
    r = xp.arange(n_out)
    for k in range(4):
        xp.add.at(m, (r, xp.clip(i - 1 + k, 0, n_in - 1)), w[k])
    return m


def _area_matrix(xp, n_in, n_out):
    o = xp.arange(n_out)
    start = (o * n_in) // n_out
    end = -((-(o + 1) * n_in) // n_out)
    cols = xp.arange(n_in)
    m = (cols >= start[:, None]) & (cols < end[:, None])
    return m / (end - start)[:, None]


def _nearest_index(xp, n_in, n_out, scale, exact):
    s = (1.0 / scale) if scale is not None and scale > 0 else n_in / n_out
    d = xp.arange(n_out, dtype=np.float64)
    src = xp.floor((d + 0.5) * s) if exact else xp.floor(d * s)
    return xp.minimum(src.astype(np.int64), n_in - 1)


_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, *spatial) input to ``size`` or by
    ``scale_factor``.  Modes: 'nearest', 'nearest-exact', 'linear' (3-D
    input), 'bilinear' and 'bicubic' (4-D), 'trilinear' (5-D), 'area'."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("interpolate", "input", input)
    x = input._data
    xp = namespace(x)
    nsp = x.ndim - 2
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif mode in ("linear", "bilinear", "bicubic", "trilinear"):
        if align_corners is None:
            align_corners = False
    if mode not in _MODES or nsp not in (1, 2, 3):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {x.ndim}D) for the "
            f"modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})")
    need = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode)
    if need is not None and need != nsp:
        raise NotImplementedError(f"Got {x.ndim}D input, but {mode} mode needs {need + 2}D "
                                  "input")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by Ember")
    spatial = x.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = (size,) * nsp if isinstance(size, numbers.Integral) else tuple(size)
        if len(out) != nsp:
            raise ValueError(f"Input and output must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and output size of {tuple(size)}. Please provide "
                             f"input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                             f"(o1, o2, ...,oK) format.")
        out = tuple(int(o) for o in out)
        scales = (None,) * nsp
    elif scale_factor is not None:
        sf = (scale_factor,) * nsp if isinstance(scale_factor, numbers.Real) \
            else tuple(scale_factor)
        if len(sf) != nsp:
            raise ValueError(f"Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and scale_factor of shape {list(sf)}. Please "
                             f"provide input tensor in (N, C, d1, d2, ...,dK) format and "
                             f"scale_factor in (s1, s2, ...,sK) format.")
        out = tuple(int(math.floor(float(n) * float(s))) for n, s in zip(spatial, sf))
        scales = (None,) * nsp if recompute_scale_factor else tuple(float(s) for s in sf)
    else:
        raise ValueError("either size or scale_factor should be defined")
    if any(o <= 0 for o in out) or any(n <= 0 for n in spatial):
        dims = "HWD"[:nsp] if nsp > 1 else "W"
        raise RuntimeError("Input and output sizes should be greater than 0, but got input ("
                           + ", ".join(f"{d}: {n}" for d, n in zip(dims, spatial))
                           + ") output (" + ", ".join(f"{d}: {o}" for d, o in zip(dims, out))
                           + ")")
    axes = range(2, 2 + nsp)
    if mode in ("nearest", "nearest-exact"):
        maps = tuple((a, _nearest_index(xp, n, o, s, mode == "nearest-exact"), n)
                     for a, n, o, s in zip(axes, spatial, out, scales) if n != o or s)
        return _AxisGather.apply(input, maps)
    if not _isf(x.dtype):
        raise NotImplementedError(f"\"upsample_{mode}\" not implemented for "
                                  f"'{x.dtype.name}'")
    if mode == "area":
        mats = tuple((a, _area_matrix(xp, n, o)) for a, n, o in zip(axes, spatial, out))
    elif mode == "bicubic":
        mats = tuple((a, _cubic_matrix(xp, n, o, s, align_corners))
                     for a, n, o, s in zip(axes, spatial, out, scales))
    else:
        mats = tuple((a, _linear_matrix(xp, n, o, s, align_corners))
                     for a, n, o, s in zip(axes, spatial, out, scales))
    return _AxisMaps.apply(input, mats)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='nearest')``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---- unfold / fold -------------------------------------------------------------------------------

class _Blocks:
    """Geometry of sliding blocks over an (N, C, H, W) image."""

    __slots__ = ("img", "k", "d", "p", "s", "out", "L")

    def __init__(self, img, k, d, p, s, out):
        self.img, self.k, self.d, self.p, self.s, self.out = img, k, d, p, s, out
        self.L = out[0] * out[1]


def _blocks_view(buf, bg):
    """(N, C, kh, kw, Lh, Lw) windows of padded image ``buf`` (a strided view:
    strides are in bytes on every backend)."""
    sn, sc, sh, sw = buf.strides
    (kh, kw), (dh, dw), (th, tw) = bg.k, bg.d, bg.s
    N, C = buf.shape[:2]
    as_strided = namespace(buf).lib.stride_tricks.as_strided
    return as_strided(buf, (N, C, kh, kw) + bg.out, (sn, sc, dh * sh, dw * sw, th * sh, tw * sw))


def _unfold(x, bg):
    N, C, H, W = bg.img
    ph, pw = bg.p
    xp = namespace(x)
    x = x.reshape(bg.img)
    if ph or pw:
        buf = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
        buf[:, :, ph:ph + H, pw:pw + W] = x
    else:
        buf = xp.ascontiguousarray(x)
    cols = xp.ascontiguousarray(_blocks_view(buf, bg))
    return cols.reshape(N, C * bg.k[0] * bg.k[1], bg.L)


def _fold(cols, bg):
    """Sum every block back into its place (the adjoint of ``_unfold``)."""
    N, C, H, W = bg.img
    ph, pw = bg.p
    kh, kw = bg.k
    buf = namespace(cols).zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    src = cols.reshape((N, C, kh, kw) + bg.out)
    dst = _blocks_view(buf, bg)
    for i in range(kh):
        for j in range(kw):
            t = dst[:, :, i, j]
            t += src[:, :, i, j]
    return buf[:, :, ph:ph + H, pw:pw + W] if (ph or pw) else buf


class _Unfold(Op):
    _ctx_fields = ("bg", "x_shape")
    _node_name = "Im2ColBackward0"

    @staticmethod
    def forward(ctx, x, bg, out_shape):
        ctx.bg, ctx.x_shape = bg, x.shape
        return _unfold(x, bg).reshape(out_shape)

    @staticmethod
    def backward(ctx, g):
        if not isinstance(g, Tensor):
            return _fold(g, ctx.bg).reshape(ctx.x_shape)
        return _Fold.apply(g, ctx.bg, ctx.x_shape)


class _Fold(Op):
    _ctx_fields = ("bg", "c_shape")
    _node_name = "Col2ImBackward0"

    @staticmethod
    def forward(ctx, cols, bg, out_shape):
        ctx.bg, ctx.c_shape = bg, cols.shape
        return namespace(cols).ascontiguousarray(_fold(cols, bg)).reshape(out_shape)

    @staticmethod
    def backward(ctx, g):
        if not isinstance(g, Tensor):
            return _unfold(g, ctx.bg).reshape(ctx.c_shape)
        return _Unfold.apply(g, ctx.bg, ctx.c_shape)


def _pair(v, name):
    if isinstance(v, numbers.Integral):
        return (int(v), int(v))
    v = tuple(int(e) for e in v)
    if len(v) == 1:
        return v * 2
    if len(v) != 2:
        raise RuntimeError(f"{name} must be an int or a tuple of two ints, got {v}")
    return v


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks (im2col): (N, C, H, W) -> (N, C*kh*kw, L), L the
    number of block positions; (C, H, W) -> (C*kh*kw, L)."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("unfold", "input", input)
    x = input._data
    if x.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported "
                                  f"(got {x.ndim}D)")
    k, d, p, s = (_pair(kernel_size, "kernel_size"), _pair(dilation, "dilation"),
                  _pair(padding, "padding"), _pair(stride, "stride"))
    img = x.shape if x.ndim == 4 else (1,) + x.shape
    H, W = img[2:]
    out = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                for n, kk, dd, pp, ss in zip((H, W), k, d, p, s))
    if any(o < 1 for o in out) or any(v <= 0 for v in k + d + s) or any(v < 0 for v in p):
        raise RuntimeError(f"Given input with spatial size ({H}, {W}), kernel_size={k}, "
                           f"dilation={d}, padding={p}, calculated shape of the array of "
                           f"sliding blocks as {out}, but its components must be at least one.")
    bg = _Blocks(img, k, d, p, s, out)
    CK = img[1] * k[0] * k[1]
    shape = (img[0], CK, bg.L) if x.ndim == 4 else (CK, bg.L)
    return _Unfold.apply(input, bg, shape)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding blocks into an image (col2im, summing overlaps):
    (N, C*kh*kw, L) -> (N, C, *output_size); (C*kh*kw, L) -> (C, *output_size)."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("fold", "input", input)
    x = input._data
    if x.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input "
                                  f"Tensors are supported (got {x.ndim}D)")
    osz, k, d, p, s = (_pair(output_size, "output_size"), _pair(kernel_size, "kernel_size"),
                       _pair(dilation, "dilation"), _pair(padding, "padding"),
                       _pair(stride, "stride"))
    cols = x if x.ndim == 3 else x[None]
    N, CK, L = cols.shape
    if CK % (k[0] * k[1]):
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the "
                           f"product of kernel_size, but got input.size(1)={CK} and "
                           f"kernel_size={k}.")
    out = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                for n, kk, dd, pp, ss in zip(osz, k, d, p, s))
    if any(o < 1 for o in out) or out[0] * out[1] != L:
        raise RuntimeError(f"Given output_size={osz}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}, expected size of input's dimension "
                           f"{x.ndim - 1} to match the calculated number of sliding blocks "
                           f"{out[0]} * {out[1]} = {out[0] * out[1]}, but got "
                           f"input.size({x.ndim - 1})={L}.")
    C = CK // (k[0] * k[1])
    bg = _Blocks((N, C) + osz, k, d, p, s, out)
    shape = (N, C) + osz if x.ndim == 3 else (C,) + osz
    return _Fold.apply(input, bg, shape)


# ---- pixel shuffle ---------------------------------------------------------------------------

def _factor(fname, name, v, pos):
    """A positive int argument (torch's TypeError / RuntimeError otherwise)."""
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise TypeError(f"{fname}(): argument '{name}' (position {pos}) must be int, not "
                        f"{type(v).__name__}")
    if v <= 0:
        raise RuntimeError(f"{fname} expects a positive {name}, but got {v}")
    return int(v)


def pixel_shuffle(input, upscale_factor):
    """(*, C*r^2, H, W) -> (*, C, H*r, W*r): move channel blocks into space."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("pixel_shuffle", "input", input, 1)
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor, 2)
    x = input
    if x.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                           f"input with {x.dim()} dimension(s)")
    *lead, C, H, W = x.shape
    if C % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={C} "
                           f"is not divisible by {r * r}")
    n = len(lead)
    y = x.reshape(*lead, C // (r * r), r, r, H, W)
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, C // (r * r), H * r, W * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r^2, H, W): the inverse of pixel_shuffle."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("pixel_unshuffle", "input", input, 1)
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor, 2)
    x = input
    if x.dim() < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but "
                           f"got input with {x.dim()} dimension(s)")
    *lead, C, H, W = x.shape
    if H % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by "
                           f"downscale_factor, but input.size(-2)={H} is not divisible by {r}")
    if W % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by "
                           f"downscale_factor, but input.size(-1)={W} is not divisible by {r}")
    n = len(lead)
    y = x.reshape(*lead, C, H // r, r, W // r, r)
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, C * r * r, H // r, W // r)


def channel_shuffle(input, groups):
    """(N, C, *) -> (N, C, *) with the channels, seen as ``groups`` blocks of
    C/groups, interleaved: channel ``g * (C/groups) + k`` moves to ``k * groups + g``."""
    if not isinstance(input, Tensor):
        raise not_a_tensor("channel_shuffle", "input", input, 1)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"channel_shuffle(): argument 'groups' (position 2) must be int, not "
                        f"{type(groups).__name__}")
    if input.dim() <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with "
                           f"sizes {list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    N, C, *rest = input.shape
    if C % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {C} channels "
                           f"and {groups} groups.")
    y = input.reshape(N, groups, C // groups, *rest).transpose(1, 2)
    return y.reshape(N, C, *rest)
