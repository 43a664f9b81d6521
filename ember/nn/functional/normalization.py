"""Normalization: batch_norm, instance_norm, group_norm, layer_norm, rms_norm,
local_response_norm.

All but the last share one fused Op.  The input is viewed as an array whose
*statistics axes* are reduced (batch and spatial axes for batch norm, the
trailing ``normalized_shape`` for layer norm, a group's channels and pixels
for group norm ...), and the per-channel or elementwise affine is broadcast
over the rest:

    xhat = (x - mean) * rstd          rstd = 1 / sqrt(var + eps)   (biased var)
    y    = xhat * weight + bias

and the hand-derived backward, with M the number of elements per statistic:

    dxhat = g * weight
    dx    = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    dw    = sum(g * xhat),  db = sum(g)      (over the non-affine axes)

RMS norm drops the centring (no ``mean`` terms).  On the plain path the
backward reuses the saved centred input and ``rstd`` (xhat = xc * rstd);
for batch and instance norm, whose affine is constant over each statistic,
two per-channel reductions give all three gradients.  Under
``create_graph`` the backward recomputes the statistics from the
graph-connected input with Tensor ops, so the same formula is recorded and
double backward is exact.  Statistics are reduced with ``einsum`` (faster
than ``ndarray.sum`` over non-adjacent axes).
"""
import numbers

import numpy as np

from ..._tensor import Tensor
from ...autograd.function import Op
from ...ops import _bw
from ...backends.cpu import _jit, _pool as _parallel

__all__ = ["batch_norm", "instance_norm", "group_norm", "layer_norm", "rms_norm",
           "local_response_norm"]

_nd = np.ndarray


def _mean(a, axes, M):
    """Mean over ``axes``, dims kept (arrays or Tensors)."""
    if type(a) is _nd:
        return a.sum(axis=axes, keepdims=True) * (1.0 / max(M, 1))
    return a.sum(dim=axes, keepdim=True) * (1.0 / max(M, 1))


class _Spec:
    """How a normalization views its input.

    ``view``: the input reshaped; ``axes``: reduced for the statistics; ``M``:
    elements per statistic; ``pshape``: the weight/bias broadcast shape in the
    view; ``paxes``: the axes summed for the weight/bias gradients;
    ``center``: False for RMS norm; ``fold``: the affine is constant over each
    statistic's elements (batch/instance norm), so the backward can reuse
    the two reductions it needs anyway.
    """

    __slots__ = ("view", "axes", "M", "pshape", "paxes", "center", "eps", "fold", "sshape",
                 "sub", "psub")

    def __init__(self, view, axes, pshape, center, eps):
        self.view, self.axes, self.pshape, self.center, self.eps = view, axes, pshape, center, eps
        M = 1
        for a in axes:
            M *= view[a]
        self.M = M
        self.paxes = tuple(i for i, s in enumerate(pshape) if s == 1)
        self.fold = all(pshape[a] == 1 for a in axes)
        self.sshape = tuple(1 if i in axes else s for i, s in enumerate(view))
        # einsum subscripts of "sum over the statistics axes" (faster than ndarray.sum
        # over non-adjacent axes)
        letters = "abcdefgh"[:len(view)]
        kept = "".join(c for i, c in enumerate(letters) if i not in axes)
        self.sub = (f"{letters}->{kept}", f"{letters},{letters}->{kept}")
        kept = "".join(c for i, c in enumerate(letters) if i not in self.paxes)
        self.psub = (f"{letters}->{kept}", f"{letters},{letters}->{kept}")   # weight/bias grads


def _stats(xv, spec):
    """Arrays: (xc, rstd, mean, var) with xc the centred input (``xv`` itself
    for RMS norm), so xhat = xc * rstd.  Tensors (create_graph): (xhat, rstd)."""
    axes, M = spec.axes, spec.M
    inv = 1.0 / max(M, 1)
    if type(xv) is _nd:
        if spec.center:
            mean = np.einsum(spec.sub[0], xv).reshape(spec.sshape) * inv
            xc = xv - mean
        else:
            mean, xc = None, xv
        var = np.einsum(spec.sub[1], xc, xc).reshape(spec.sshape) * inv
        rstd = 1.0 / np.sqrt(var + spec.eps)
        return xc, rstd, mean, var
    if spec.center:
        xc = xv - _mean(xv, axes, M)
    else:
        xc = xv
    rstd = 1.0 / _bw.sqrt(_mean(xc * xc, axes, M) + spec.eps)
    return xc * rstd, rstd


class _Norm(Op):
    """y = normalize(x over spec.axes) * weight + bias, fused."""
    _node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, spec, running, shape):
        half = x.dtype == np.float16
        # float16: statistics in float32, as torch does (a float16 sum of
        # squares overflows at 65504)
        xv = (x.astype(np.float32) if half else x).reshape(spec.view)
        fused = _fused_rows(spec, running, xv, w, b)
        if fused is None:
            fused = _fused_channels(spec, running, xv, w, b)
        if fused is not None:
            y, saved, rstd = fused
            if ctx.needs_input_grad:
                ctx.save_for_backward(x, w, saved, rstd)
                ctx.spec, ctx.shape = spec, shape
                ctx.bshape = None if b is None else b.shape
            return (y.astype(np.float16) if half else y).reshape(shape)
        xc, rstd, mean, var = _stats(xv, spec)
        if running is not None:
            _update_running(running, mean, var, spec)
        if spec.fold:
            # the affine is per statistic: one multiply by rstd * weight
            y = xc * (rstd if w is None else rstd * w.reshape(spec.pshape))
            saved = xc
        else:
            # (the backward uses xhat itself: saved instead of xc)
            saved = y = np.multiply(xc, rstd, out=xc if xc is not xv else None)
            if w is not None:
                y = y * w.reshape(spec.pshape)
        if b is not None:
            if y is saved:      # (xhat itself: keep it, the bias goes into a new array)
                y = y + b.reshape(spec.pshape)
            else:
                y += b.reshape(spec.pshape)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w, saved, rstd)
            ctx.spec, ctx.shape = spec, shape
            ctx.bshape = None if b is None else b.shape
        return (y.astype(np.float16) if half else y).reshape(shape)

    @staticmethod
    def backward(ctx, g):
        x, w, xc, rstd = ctx.saved_tensors
        spec = ctx.spec
        need = ctx.needs_input_grad
        if type(g) is _nd and g.dtype == np.float16:
            g = g.astype(np.float32)  # (sums of the gradient in float32 too)
        gv = g.reshape(spec.view)
        if type(g) is _nd:
            fused = _fused_rows_backward(spec, gv, xc, rstd, w, ctx)
            if fused is None:
                fused = _fused_channels_backward(spec, gv, xc, rstd, w, ctx)
            if fused is not None:
                return fused
            if spec.fold:
                return _fold_backward(gv, xc, rstd, w, spec, need, ctx)
            return _affine_backward(gv, xc, rstd, w, spec, need, ctx)
        else:
            xhat, rstd = _stats(x.reshape(spec.view), spec)
        gw = gb = gx = None
        if need[1]:
            gw = _bw.sum(gv * xhat, spec.paxes).reshape(w.shape)
        if need[2]:
            gb = _bw.sum(gv, spec.paxes).reshape(ctx.bshape)
        if need[0]:
            dxhat = gv * w.reshape(spec.pshape) if w is not None else gv
            proj = _mean(dxhat * xhat, spec.axes, spec.M)
            if spec.center:
                gx = (dxhat - _mean(dxhat, spec.axes, spec.M) - xhat * proj) * rstd
            else:
                gx = (dxhat - xhat * proj) * rstd
            gx = gx.reshape(ctx.shape)
        return gx, gw, gb


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
    return None if a is None else np.ascontiguousarray(a.reshape(-1), dtype=dt)


def _param_grads(n, w, ctx, dt):
    """Output buffers for the weight and bias gradients (None when not wanted)."""
    need = ctx.needs_input_grad
    return (np.empty(n, dt) if w is not None and need[1] else None,
            np.empty(n, dt) if ctx.bshape is not None and need[2] else None)


def _input_grads(gx, gw, gb, w, ctx):
    """A kernel's gradients in the shapes (and the None-when-not-needed) of backward's result."""
    return (gx.reshape(ctx.shape) if ctx.needs_input_grad[0] else None,
            None if gw is None else gw.reshape(w.shape),
            None if gb is None else gb.reshape(ctx.bshape))


def _fused_channels(spec, running, xv, w, b):
    """Batch norm forward in one compiled loop per channel: (y, xc, rstd) as
    the NumPy fold path saves them, the running statistics updated; None
    when the kernels don't apply."""
    k = _channelwise(spec, xv.dtype)
    if k is None or not spec.M:
        return None
    dt = xv.dtype
    x3 = np.ascontiguousarray(xv)
    C = x3.shape[1]
    y, xc = np.empty_like(x3), np.empty_like(x3)
    mean, var, rstd = np.empty(C, dt), np.empty(C, dt), np.empty(C, dt)
    k.norm_channels_forward(x3, _vec(w, dt), _vec(b, dt), dt.type(spec.eps), dt.type(1),
                            dt.type(1.0 / spec.M), y, xc, mean, var, rstd)
    if running is not None:
        _update_running(running, mean, var, spec)
    return y, xc, rstd.reshape(spec.sshape)


def _fused_channels_backward(spec, g, xc, rstd, w, ctx):
    """The compiled backward for what _fused_channels computed; None otherwise."""
    dt = g.dtype
    k = _channelwise(spec, dt)
    if k is None or not spec.M or xc.dtype != dt or xc.shape != g.shape:
        return None
    gx = np.empty(g.shape, dt)
    gw, gb = _param_grads(g.shape[1], w, ctx, dt)
    k.norm_channels_backward(np.ascontiguousarray(g), np.ascontiguousarray(xc), _vec(rstd, dt),
                             _vec(w, dt), dt.type(1.0 / spec.M), gx, gw, gb)
    return _input_grads(gx, gw, gb, w, ctx)


def _fused_rows(spec, running, xv, w, b):
    """Layer/RMS norm forward in one compiled pass per row: (y, xhat, rstd)
    with rstd of shape (R, 1), as the NumPy path saves it; None when the
    kernels don't apply."""
    k = _rowwise(spec, xv.dtype) if running is None else None
    if k is None or not spec.M:
        return None
    dt = xv.dtype
    x2 = np.ascontiguousarray(xv)
    y, xhat = np.empty_like(x2), np.empty_like(x2)
    rstd = np.empty((x2.shape[0], 1), dt)
    r1, wv, bv = rstd.reshape(-1), _vec(w, dt), _vec(b, dt)
    eps, one, inv = dt.type(spec.eps), dt.type(1), dt.type(1.0 / spec.M)
    _parallel.parallel_rows(lambda lo, hi: k.norm_rows_forward(
        x2[lo:hi], wv, bv, eps, one, inv, spec.center, y[lo:hi], xhat[lo:hi], r1[lo:hi]),
        x2.shape[0], x2.shape[1])
    return y, xhat, rstd


def _fused_rows_backward(spec, g, xhat, rstd, w, ctx):
    """The compiled backward for what _fused_rows computed; None otherwise."""
    dt = g.dtype
    k = _rowwise(spec, dt)
    if k is None or not spec.M or xhat.dtype != dt or xhat.shape != g.shape:
        return None
    g2 = np.ascontiguousarray(g)
    gx = np.empty_like(g2)
    R, D = g2.shape
    gw, gb = _param_grads(D, w, ctx, dt)
    xh, r1, wv = np.ascontiguousarray(xhat), _vec(rstd, dt), _vec(w, dt)
    one, inv = dt.type(1), dt.type(1.0 / spec.M)
    # each range of rows sums its own share of gw and gb (rows 0.. in gw, gb)
    part_w, part_b = {}, {}

    def rows(lo, hi):
        pw = gw if lo == 0 or gw is None else np.empty_like(gw)
        pb = gb if lo == 0 or gb is None else np.empty_like(gb)
        k.norm_rows_backward(g2[lo:hi], xh[lo:hi], r1[lo:hi], wv, one, inv, spec.center,
                             gx[lo:hi], pw, pb)
        part_w[lo], part_b[lo] = pw, pb
    _parallel.parallel_rows(rows, R, D)
    for lo in sorted(part_w)[1:]:
        if gw is not None:
            gw += part_w[lo]
        if gb is not None:
            gb += part_b[lo]
    return _input_grads(gx, gw, gb, w, ctx)


def _affine_backward(g, xhat, rstd, w, spec, need, ctx):
    """Array backward for an elementwise affine (layer/group/RMS norm), from
    the saved xhat; reductions by einsum (no temporaries):

        dxhat = g * w,  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    """
    gw = gb = gx = None
    if need[1]:
        gw = np.einsum(spec.psub[1], g, xhat).reshape(w.shape)
    if need[2]:
        gb = np.einsum(spec.psub[0], g).reshape(ctx.bshape)
    if need[0]:
        inv = 1.0 / max(spec.M, 1)
        dxhat = g * w.reshape(spec.pshape) if w is not None else g.copy()
        proj = np.einsum(spec.sub[1], dxhat, xhat).reshape(spec.sshape)
        proj *= rstd * inv
        gx = xhat * proj
        np.multiply(dxhat, rstd, out=dxhat)
        np.subtract(dxhat, gx, out=gx)
        if spec.center:
            mean = np.einsum(spec.sub[0], dxhat).reshape(spec.sshape)   # (already * rstd)
            mean *= inv
            gx -= mean
        gx = gx.reshape(ctx.shape)
    return gx, gw, gb


def _fold_backward(g, xc, rstd, w, spec, need, ctx):
    """Array backward when the affine is constant over each statistic:
    mean(g * w) = w * mean(g), so two reductions serve all three gradients:

        sg = sum(g),  sgx = sum(g * xhat) = rstd * sum(g * xc)
        dx = a * (g - sg / M) - xc * (a * rstd * sgx / M),   a = rstd * w
    """
    sg = np.einsum(spec.sub[0], g).reshape(spec.sshape)
    sgx = np.einsum(spec.sub[1], g, xc).reshape(spec.sshape) * rstd
    gx = gw = gb = None
    if need[1]:
        gw = sgx.sum(axis=spec.paxes).reshape(w.shape)
    if need[2]:
        gb = sg.sum(axis=spec.paxes).reshape(ctx.bshape)
    if need[0]:
        a = rstd if w is None else rstd * w.reshape(spec.pshape)
        inv = 1.0 / spec.M
        gx = g - sg * inv
        gx *= a
        gx -= xc * (a * rstd * sgx * inv)
        gx = gx.reshape(ctx.shape)
    return gx, gw, gb


class _LayerNorm(_Norm):
    _node_name = "NativeLayerNormBackward0"


class _GroupNorm(_Norm):
    _node_name = "NativeGroupNormBackward0"


class _RMSNorm(_Norm):
    _node_name = "RmsNormBackward0"


def _update_running(running, mean, var, spec):
    """Running statistics, in place: momentum average (or a cumulative
    average when momentum is None), with the unbiased variance."""
    rm, rv, momentum = running
    M = spec.M
    m = mean.reshape(-1)
    v = var.reshape(-1) * (M / (M - 1) if M > 1 else 1.0)
    if rm is not None and rm.shape != m.shape:
        # instance norm: statistics per (sample, channel), running stats per channel
        m = m.reshape(-1, rm.shape[0]).mean(axis=0)
        v = v.reshape(-1, rm.shape[0]).mean(axis=0)
    f = 0.0 if momentum is None else momentum
    if rm is not None:
        rm *= 1 - f
        rm += f * m.astype(rm.dtype, copy=False)
    if rv is not None:
        rv *= 1 - f
        rv += f * v.astype(rv.dtype, copy=False)


class _Affine(Op):
    """Eval-mode batch norm: y = (x - running_mean) * rstd * weight + bias,
    with the running statistics as constants."""
    _node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, rm, rv, eps, pshape):
        rstd = 1.0 / np.sqrt(rv.reshape(pshape) + eps)
        scale = rstd * w.reshape(pshape) if w is not None else rstd
        scale = scale.astype(x.dtype, copy=False)
        shift = -rm.reshape(pshape) * scale
        if b is not None:
            shift = shift + b.reshape(pshape)
        y = x * scale
        y += shift.astype(x.dtype, copy=False)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
            ctx.rstd, ctx.rm, ctx.pshape = rstd.astype(x.dtype, copy=False), \
                rm.reshape(pshape).astype(x.dtype, copy=False), pshape
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        rstd, pshape = ctx.rstd, ctx.pshape
        axes = tuple(i for i, s in enumerate(pshape) if s == 1)
        gx = gw = gb = None
        if need[0]:
            gx = g * (w.reshape(pshape) * rstd) if w is not None else g * rstd
        if need[1]:
            gw = _bw.sum(g * ((x - ctx.rm) * rstd), axes).reshape(w.shape)
        if need[2]:
            gb = _bw.sum(g, axes).reshape(-1)
        return gx, gw, gb


# ---- argument checks --------------------------------------------------------------------------

def _tensor(x, name, fname):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fname}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


def _same_dtype(x, *others):
    for o in others:
        if o is not None and o._data.dtype != x._data.dtype:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def _float_input(x, kernel):
    if x._data.dtype.kind != "f":
        names = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                 "uint8": "Byte", "bool": "Bool"}
        raise NotImplementedError(f"\"{kernel}\" not implemented for "
                                  f"'{names.get(x._data.dtype.name, x._data.dtype.name)}'")


def _channel_vec(t, name, C):
    if t is not None and t._data.size != C:
        raise RuntimeError(f"{name} should contain {C} elements not {t._data.size}")


def _bump(*ts):
    for t in ts:
        if t is not None:
            t._vc[0] += 1


# ---- public functions -----------------------------------------------------------------------

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-05):
    """Normalize (N, C, *) input per channel over the batch and spatial axes.

    Training uses the batch statistics and updates ``running_mean`` /
    ``running_var`` in place (new = (1 - momentum) * old + momentum * batch,
    with the unbiased batch variance); evaluation uses the running statistics.
    """
    _tensor(input, "input", "batch_norm")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch_norm(): argument 'momentum' (position 7) must be float, not "
                        f"{type(momentum).__name__}")
    x = input._data
    C = x.shape[1] if x.ndim > 1 else 0
    _channel_vec(running_mean, "running_mean", C)
    _channel_vec(running_var, "running_var", C)
    _channel_vec(weight, "weight", C)
    _channel_vec(bias, "bias", C)
    _same_dtype(input, weight, bias)
    _float_input(input, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"Expected 2D or higher input to batch_norm, but got {x.ndim}D input")
    pshape = (1, C) + (1,) * (x.ndim - 2)
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError(f"running_{'mean' if running_mean is None else 'var'} must be "
                               "defined in evaluation mode")
        return _Affine.apply(input, weight, bias, running_mean._data, running_var._data, eps,
                             pshape)
    N = x.shape[0]
    S = x.size // (N * C) if N * C else 0
    if N * S <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {input.shape}")
    spec = _Spec((N, C, S), (0, 2), (1, C, 1), True, eps)
    running = None
    if running_mean is not None or running_var is not None:
        running = (None if running_mean is None else running_mean._data,
                   None if running_var is None else running_var._data, momentum)
    out = _Norm.apply(input, weight, bias, spec, running, x.shape)
    _bump(running_mean, running_var)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-05):
    """Normalize each (sample, channel) plane of (N, C, *) input over its
    spatial axes; optional per-channel affine and running statistics."""
    _tensor(input, "input", "instance_norm")
    x = input._data
    if x.ndim < 3:
        raise ValueError(f"Expected more than 1 spatial element when training, got input "
                         f"size {input.shape}")
    N, C = x.shape[:2]
    S = x.size // (N * C) if N * C else 0
    _channel_vec(weight, "weight", C)
    _channel_vec(bias, "bias", C)
    _channel_vec(running_mean, "running_mean", C)
    _channel_vec(running_var, "running_var", C)
    _same_dtype(input, weight, bias)
    _float_input(input, "instance_norm")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when "
                               "use_input_stats is false")
        pshape = (1, C) + (1,) * (x.ndim - 2)
        return _Affine.apply(input, weight, bias, running_mean._data, running_var._data, eps,
                             pshape)
    if S <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input "
                         f"size {input.shape}")
    spec = _Spec((N, C, S), (2,), (1, C, 1), True, eps)
    running = None
    if running_mean is not None or running_var is not None:
        running = (None if running_mean is None else running_mean._data,
                   None if running_var is None else running_var._data, momentum)
    out = _Norm.apply(input, weight, bias, spec, running, x.shape)
    _bump(running_mean, running_var)
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    """Normalize (N, C, *) input over each group of C / num_groups channels
    (and all spatial positions); per-channel affine."""
    _tensor(input, "input", "group_norm")
    x = input._data
    if x.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{x.ndim}")
    N, C = x.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(x.shape)} and "
                           f"num_groups={num_groups}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and (t._data.ndim != 1 or t._data.size != C):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of "
                               f"channels in input, but got {name} of shape "
                               f"{list(t._data.shape)} and input of shape {list(x.shape)}")
    _same_dtype(input, weight, bias)
    _float_input(input, "GroupNormKernelImpl")
    G = num_groups
    S = x.size // (N * C) if N * C else 0
    spec = _Spec((N, G, C // G, S), (2, 3), (1, G, C // G, 1), True, eps)
    return _GroupNorm.apply(input, weight, bias, spec, None, x.shape)


def _normalized(fname, input, normalized_shape, weight, bias):
    _tensor(input, "input", fname)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    ns = tuple(int(s) for s in normalized_shape)
    x = input._data
    k = len(ns)
    if k == 0 or x.ndim < k or tuple(x.shape[-k:]) != ns:
        star = "*, " if fname == "layer_norm" else "*"
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[{star}{', '.join(map(str, ns))}], but got input of size"
                           f"{list(x.shape)}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and tuple(t._data.shape) != ns:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but "
                               f"got {name} of shape {list(t._data.shape)} and "
                               f"normalized_shape = {list(ns)}")
    _same_dtype(input, weight, bias)
    D = 1
    for s in ns:
        D *= s
    R = x.size // D if D else 0
    return x, R, D


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """Normalize over the trailing ``normalized_shape`` dims; elementwise
    affine of that shape."""
    x, R, D = _normalized("layer_norm", input, normalized_shape, weight, bias)
    _float_input(input, "LayerNormKernelImpl")
    spec = _Spec((R, D), (1,), (1, D), True, eps)
    return _LayerNorm.apply(input, weight, bias, spec, None, x.shape)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over normalized_shape) + eps) * weight;
    ``eps=None`` means the dtype's machine epsilon."""
    x, R, D = _normalized("rms_norm", input, normalized_shape, weight, None)
    _float_input(input, "rms_norm")
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    spec = _Spec((R, D), (1,), (1, D), False, eps)
    return _RMSNorm.apply(input, weight, None, spec, None, x.shape)


def local_response_norm(input, size, alpha=0.0001, beta=0.75, k=1.0):
    """Normalize each element by the energy of its ``size`` neighbouring
    channels: x / (k + alpha * mean of x^2 over the window)^beta."""
    from .pooling import avg_pool2d
    from .vision import pad
    _tensor(input, "input", "local_response_norm")
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          "
                         f"input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    div = input * input
    div = div.unsqueeze(1)
    if dim == 3:
        div = pad(div, (0, 0, size // 2, (size - 1) // 2))
        div = avg_pool2d(div, (size, 1), stride=1).squeeze(1)
    else:
        sizes = input.shape
        div = div.reshape(sizes[0], 1, sizes[1], sizes[2], -1)
        div = pad(div, (0, 0, 0, 0, size // 2, (size - 1) // 2))
        N_, _, C_, H_, W_ = div.shape
        # average over the channel window: a (size x 1) pool over (C, H*W)
        div = avg_pool2d(div.reshape(N_, 1, C_, H_ * W_), (size, 1), stride=1)
        div = div.reshape(sizes[0], sizes[1], *sizes[2:])
    div = (div * alpha + k) ** beta
    return input / div
