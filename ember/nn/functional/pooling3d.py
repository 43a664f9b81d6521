"""3-D pooling: max_pool3d, avg_pool3d, adaptive_avg_pool3d, adaptive_max_pool3d.

Each 3-D pool is separable into the 2-D pools of ``pooling.py``, so it is
built from them instead of from new Ops (autograd differentiates the
composition, twice as well):

1. a 2-D pool over (H, W) of every depth slice: the input (N, C, D, H, W)
   seen as (N, C*D, H, W);
2. a pool over depth only: that result seen as (N, C, D, Ho*Wo), pooled by a
   (kd, 1) window.

Max: the max over a box is the max over its depth slices of each slice's
max, and taking the first maximum at both stages gives the first maximum in
(d, h, w) order, torch's choice (which the gradient and ``return_indices``
follow).  Average: stages 1 and 2 sum (``divisor_override=1``), then one
division by torch's divisor, the product of the per-axis window counts
(with or without the padding).  Adaptive pooling: the adaptive windows of
each axis are independent, so the same two stages apply.
"""
import numpy as np

from ..._tensor import Tensor
from ..._errors import not_a_tensor
from ..._creation import tensor, zeros
from ..._dtype import float64
from ...autograd.grad_mode import no_grad
from .pooling import (max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d,
                      _out_size, _DT, _max_unpool, _pair as _ntuple)
from ..._bfloat16 import is_float as _isf
from ..._autocast import autocast_op
from ...autograd.function import Op
from ...backends import namespace, kernels
from ...ops import _bw

__all__ = ["max_pool3d", "max_pool3d_with_indices", "avg_pool3d", "adaptive_avg_pool3d",
           "adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "lp_pool3d",
           "max_unpool3d"]


# ---- arguments ----------------------------------------------------------------------------

def _triple(v, fname, name, fmt):
    """An int or a 1-/3-sequence of ints as a 3-tuple; else torch's RuntimeError
    ``"<fname>: <name> <fmt>"``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * 3
    if isinstance(v, (tuple, list)) and all(isinstance(e, (int, np.integer)) and
                                            not isinstance(e, bool) for e in v):
        if len(v) == 1:
            return (int(v[0]),) * 3
        if len(v) == 3:
            return tuple(int(e) for e in v)
        raise RuntimeError(f"{fname}: {name} {fmt}")
    raise TypeError(f"{fname}(): argument '{name}' must be tuple of ints, not "
                    f"{type(v).__name__}")


def _input5(fname, input, empty_msg):
    """The input as a batched (N, C, D, H, W) tensor, and whether it was batched."""
    if not isinstance(input, Tensor):
        raise not_a_tensor(fname, "input", input, 1)
    if input.dim() not in (4, 5):
        raise RuntimeError("non-empty 4D or 5D (batch mode) tensor expected for input")
    shape = list(input.shape)
    lead = input.dim() - 4
    for i, n in enumerate(shape[lead:]):
        if n == 0:
            raise RuntimeError(f"{empty_msg}(): Expected input's non-batch dimensions to have "
                               f"positive length, but input has a shape of {shape} and "
                               f"non-batch dimension {i} has length zero!")
    batched = input.dim() == 5
    return (input if batched else input.unsqueeze(0)), batched


def _window_args(fname, kernel_size, stride, padding, dilation, is_max):
    """(k, s, p, d) 3-tuples, checked as torch checks them."""
    if is_max:
        k = _triple(kernel_size, fname, "kernel_size",
                    "must either be a single int, or a tuple of three ints")
        sfmt = "must either be omitted, a single int, or a tuple of three ints"
        pfmt = "must either be a single int, or a tuple of three ints"
    else:
        k = _triple(kernel_size, fname, "kernel_size",
                    "must be a single int, or a tuple of three ints")
        sfmt = "must be omitted, a single int, or a tuple of three ints"
        pfmt = "must be a single int, or a tuple of three ints"
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = _triple(stride, fname, "stride", sfmt)
    p = _triple(padding, fname, "padding", pfmt)
    d = _triple(dilation, fname, "dilation",
                "must be either a single int, or a tuple of three ints")
    if any(v <= 0 for v in k):
        raise RuntimeError(f"kernel size should be greater than zero, but got kT: {k[0]} "
                           f"kH: {k[1]} kW: {k[2]}")
    if any(v <= 0 for v in s):
        raise RuntimeError("stride should not be zero")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"dilation should be greater than zero, but got dilationT: {d[0]} "
                           f"dilationH: {d[1]} dilationW: {d[2]}")
    if any(v < 0 for v in p):
        raise RuntimeError(f"pad must be non-negative, but got pad: {min(p)}")
    for kk, pp, dd in zip(k, p, d):
        if pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={pp}, kernel_size={kk} and dilation={dd}")
    return k, s, p, d


def _out_sizes(x5, k, s, p, d, ceil_mode, is_max):
    N, C, D, H, W = x5.shape
    out = tuple(_out_size(n, kk, ss, pp, dd, ceil_mode)
                for n, kk, ss, pp, dd in zip((D, H, W), k, s, p, d))
    if any(o <= 0 for o in out):
        if not is_max and any(n + 2 * pp < kk for n, kk, pp in zip((D, H, W), k, p)):
            raise RuntimeError(f"input image (T: {D} H: {H} W: {W}) smaller than kernel size "
                               f"(kT: {k[0]} kH: {k[1]} kW: {k[2]})")
        raise RuntimeError(f"Given input size: ({C}x{D}x{H}x{W}). Calculated output size: "
                           f"({C}x{out[0]}x{out[1]}x{out[2]}). Output size is too small")
    return out


def _unbatch(t, batched):
    return t if batched else t.squeeze(0)


# ---- max ------------------------------------------------------------------------------------

def _combine_indices(depth_idx, plane_idx, x5_shape, out):
    """Flat (d * H * W + h * W + w) indices from the depth stage's and the plane
    stage's: ``depth_idx`` (N, C, Do, Ho*Wo) holds d * (Ho*Wo) + j, and
    ``plane_idx`` (N, C, D, Ho*Wo) holds h * W + w for each depth slice d."""
    N, C, D, H, W = x5_shape
    Do, Ho, Wo = out
    d_sel = depth_idx // (Ho * Wo)
    hw = plane_idx.gather(2, d_sel)
    return (d_sel * (H * W) + hw).reshape(N, C, Do, Ho, Wo)


def _max3(x5, k, s, p, d, ceil_mode, return_indices, out):
    N, C, D, H, W = x5.shape
    Do, Ho, Wo = out
    r1 = max_pool2d(x5.reshape(N, C * D, H, W), k[1:], s[1:], p[1:], d[1:], ceil_mode,
                    return_indices)
    y1, i1 = r1 if return_indices else (r1, None)
    r2 = max_pool2d(y1.reshape(N, C, D, Ho * Wo), (k[0], 1), (s[0], 1), (p[0], 0), (d[0], 1),
                    ceil_mode, return_indices)
    y2, i2 = r2 if return_indices else (r2, None)
    y = y2.reshape(N, C, Do, Ho, Wo)
    if not return_indices:
        return y, None
    return y, _combine_indices(i2, i1.reshape(N, C, D, Ho * Wo), x5.shape, out)


# ---- 2x2x2 windows at stride 2: one kernel each way --------------------------------------
# MaxPool3d(2), the common case, as the backend kernels ``max_pool3d_2x2x2``
# (forward: maxima and winners), ``max_pool3d_2x2x2_backward`` (the scatter)
# and ``max_pool3d_2x2x2_gather`` (its adjoint), instead of two 2-D stages;
# three Ops close the set under differentiation, as for 2-D pooling.

class _MaxPool2x2x2(Op):
    _ctx_fields = ("win", "x_shape")
    _node_name = "MaxPool3DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, return_indices):
        y, win = kernels(x).max_pool3d_2x2x2(x)
        if ctx.needs_input_grad:
            ctx.win, ctx.x_shape = win, x.shape
        if return_indices:
            return y, _flat_2x2x2(win, x.shape)
        return y

    @staticmethod
    def backward(ctx, g, gi=None):
        if _bw.is_array(g):
            return kernels(g).max_pool3d_2x2x2_backward(g, ctx.win, ctx.x_shape)
        return _MaxScatter2x2x2.apply(g, ctx.win, ctx.x_shape)


class _MaxScatter2x2x2(Op):
    _ctx_fields = ("win", "x_shape")
    _node_name = "MaxPool3DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, win, x_shape):
        ctx.win, ctx.x_shape = win, x_shape
        return kernels(g).max_pool3d_2x2x2_backward(g, win, x_shape)

    @staticmethod
    def backward(ctx, gg):
        if _bw.is_array(gg):
            return kernels(gg).max_pool3d_2x2x2_gather(gg, ctx.win)
        return _MaxGather2x2x2.apply(gg, ctx.win, ctx.x_shape)


class _MaxGather2x2x2(Op):
    _ctx_fields = ("win", "x_shape")
    _node_name = "MaxPool3DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, win, x_shape):
        ctx.win, ctx.x_shape = win, x_shape
        return kernels(x).max_pool3d_2x2x2_gather(x, win)

    @staticmethod
    def backward(ctx, g):
        if _bw.is_array(g):
            return kernels(g).max_pool3d_2x2x2_backward(g, ctx.win, ctx.x_shape)
        return _MaxScatter2x2x2.apply(g, ctx.win, ctx.x_shape)


def _flat_2x2x2(win, x_shape):
    """Winners -> torch's flat per-volume indices d * H * W + h * W + w."""
    xp = namespace(win)
    H, W = x_shape[3], x_shape[4]
    Do, Ho, Wo = win.shape[2:]
    w8 = win.astype(np.int64)
    d = (xp.arange(Do, dtype=np.int64) * 2).reshape(Do, 1, 1) + w8 // 4
    h = (xp.arange(Ho, dtype=np.int64) * 2).reshape(Ho, 1) + (w8 // 2) % 2
    w = xp.arange(Wo, dtype=np.int64) * 2 + w8 % 2
    return (d * H + h) * W + w


def _is_2x2x2(k, s, p, d):
    return k == (2, 2, 2) and s == (2, 2, 2) and p == (0, 0, 0) and d == (1, 1, 1)


@autocast_op("fp32")
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding 3-D windows of (N, C, D, H, W) or (C, D, H, W) input;
    ``stride`` defaults to ``kernel_size``.  With ``return_indices`` also the
    flat per-volume index d * H * W + h * W + w of each maximum."""
    x5, batched = _input5("max_pool3d", input, "max_pool3d_with_indices_out_cpu_template")
    k, s, p, d = _window_args("max_pool3d", kernel_size, stride, padding, dilation, True)
    out = _out_sizes(x5, k, s, p, d, ceil_mode, True)
    if _is_2x2x2(k, s, p, d) and out == tuple(n // 2 for n in x5.shape[2:]) \
            and input._data.dtype.name in ("float32", "float64"):
        # (floor-mode sizes: ceil mode adds a part window only for an odd size)
        r = _MaxPool2x2x2.apply(x5, bool(return_indices))
        if return_indices:
            return _unbatch(r[0], batched), _unbatch(r[1], batched)
        return _unbatch(r, batched)
    y, idx = _max3(x5, k, s, p, d, ceil_mode, bool(return_indices), out)
    if return_indices:
        return _unbatch(y, batched), _unbatch(idx, batched)
    return _unbatch(y, batched)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# ---- average --------------------------------------------------------------------------------

def _axis_divisors(n, out, k, s, p, count_include_pad):
    """torch's per-axis window sizes: the window clipped to the padded input
    (``count_include_pad``) or to the input itself."""
    sizes = []
    for o in range(out):
        start = o * s - p
        end = min(start + k, n + p)
        if not count_include_pad:
            start, end = max(start, 0), min(end, n)
        sizes.append(end - start)
    return sizes


@autocast_op("fp32")
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average over sliding 3-D windows of (N, C, D, H, W) or (C, D, H, W) input.
    ``count_include_pad`` counts zero padding in the divisor;
    ``divisor_override`` replaces the divisor."""
    x5, batched = _input5("avg_pool3d", input, "avg_pool3d")
    k, s, p, d = _window_args("avg_pool3d", kernel_size, stride, padding, 1, False)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    out = _out_sizes(x5, k, s, p, d, ceil_mode, False)
    N, C, D, H, W = x5.shape
    Do, Ho, Wo = out
    # the window sums, stage by stage
    sums = avg_pool2d(x5.reshape(N, C * D, H, W), k[1:], s[1:], p[1:], ceil_mode, True, 1)
    sums = avg_pool2d(sums.reshape(N, C, D, Ho * Wo), (k[0], 1), (s[0], 1), (p[0], 0),
                      ceil_mode, True, 1).reshape(N, C, Do, Ho, Wo)
    if divisor_override is not None:
        div = float(divisor_override)
    else:
        per_axis = [_axis_divisors(n, o, kk, ss, pp, count_include_pad)
                    for n, o, kk, ss, pp in zip((D, H, W), out, k, s, p)]
        # shapes only: the (Do, Ho, Wo) divisors are built on the host
        host = [[[a * b * c for c in per_axis[2]] for b in per_axis[1]] for a in per_axis[0]]
        div = tensor(host, dtype=float64, device=input.device)
    if not input.is_floating_point():
        # integer average pooling truncates toward zero, as torch
        with no_grad():
            return _unbatch((sums.double() / div).trunc().to(input.dtype), batched)
    if isinstance(div, Tensor):
        div = div.to(input.dtype)
    return _unbatch(sums / div, batched)


# ---- adaptive -------------------------------------------------------------------------------

def _adaptive_input(fname, input, colon):
    if not isinstance(input, Tensor):
        raise not_a_tensor(fname, "input", input, 1)
    shape = list(input.shape)
    if input.dim() not in (4, 5):
        raise RuntimeError(f"{fname}(): Expected 4D or 5D tensor, but got{colon} {shape}")
    lead = input.dim() - 4
    for i, n in enumerate(shape[lead:], lead):
        if n == 0:
            raise RuntimeError(f"{fname}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {shape} with dimension {i} "
                               "being empty")
    batched = input.dim() == 5
    return (input if batched else input.unsqueeze(0)), batched


def _float_only(kernel, input):
    name = input._data.dtype.name
    if not _isf(input._data.dtype):
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_DT.get(name, name)}'")


def _adaptive_sizes(x5, output_size, bad_len_msg):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        out = (output_size,) * 3
    else:
        out = tuple(output_size)
        if len(out) == 1:
            out = out * 3
        if len(out) != 3:
            raise RuntimeError(bad_len_msg)
    out = tuple(x5.shape[2 + i] if o is None else int(o) for i, o in enumerate(out))
    if any(o < 0 for o in out):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(out)}: "
                           f"{list(x5.shape[:2]) + list(out)}")
    return out


@autocast_op("fp32")
def adaptive_avg_pool3d(input, output_size):
    """Average pooling of (N, C, D, H, W) to (N, C, *output_size) with torch's
    adaptive windows; ``None`` keeps that input size."""
    x5, batched = _adaptive_input("adaptive_avg_pool3d", input, "")
    _float_only("adaptive_avg_pool3d_cpu", input)
    out = _adaptive_sizes(x5, output_size, "adaptive_avg_pool3d: output_size must be 3")
    N, C, D, H, W = x5.shape
    Do, Ho, Wo = out
    if 0 in out:
        return _unbatch(zeros((N, C) + out, dtype=input.dtype, device=input.device), batched)
    if out == (1, 1, 1) and input._data.dtype.name in ("float32", "float64"):
        # the global average (a CNN's head): one mean over the volume, not two
        # 2-D pooling stages (~7x torch's time at cnn3d's 4x4x4 maps)
        return _unbatch(x5.mean(dim=(2, 3, 4), keepdim=True), batched)
    y = adaptive_avg_pool2d(x5.reshape(N, C * D, H, W), (Ho, Wo))
    y = adaptive_avg_pool2d(y.reshape(N, C, D, Ho * Wo), (Do, Ho * Wo))
    return _unbatch(y.reshape(N, C, Do, Ho, Wo), batched)


@autocast_op("fp32")
def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling of (N, C, D, H, W) to (N, C, *output_size) with torch's
    adaptive windows; with ``return_indices`` also the flat per-volume index
    of each maximum."""
    x5, batched = _adaptive_input("adaptive_max_pool3d", input, ":")
    _float_only("adaptive_max_pool3d_cpu", input)
    out = _adaptive_sizes(x5, output_size,
                          "adaptive_max_pool3d(): internal error: output_size.size() must be 3")
    N, C, D, H, W = x5.shape
    Do, Ho, Wo = out
    r1 = adaptive_max_pool2d(x5.reshape(N, C * D, H, W), (Ho, Wo), return_indices)
    y1, i1 = r1 if return_indices else (r1, None)
    r2 = adaptive_max_pool2d(y1.reshape(N, C, D, Ho * Wo), (Do, Ho * Wo), return_indices)
    y2, i2 = r2 if return_indices else (r2, None)
    y = _unbatch(y2.reshape(N, C, Do, Ho, Wo), batched)
    if return_indices:
        idx = _combine_indices(i2, i1.reshape(N, C, D, Ho * Wo), x5.shape, out)
        return y, _unbatch(idx, batched)
    return y


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool3d(input, output_size, True)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (D, H, W): (sum over the window of x^p)^(1/p)."""
    import math
    k = _ntuple(kernel_size, 3, "kernel_size", "lp_pool3d")
    p = float(norm_type)
    out = avg_pool3d(input.pow(p) if p != 1 else input, kernel_size, stride, 0, ceil_mode)
    # sign(out) * relu(|out|) is out, but with zero gradient where a window sums to 0
    a = out.abs()
    out = out.sign() * (a * (a > 0).to(a.dtype)) * math.prod(k)
    return out.pow(1.0 / p)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of max_pool3d: values placed at ``indices``, zeros elsewhere."""
    return _max_unpool(3, "max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size)
