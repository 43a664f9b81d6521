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
double backward is exact.  The array formulas are the backend's kernels
``normalize`` / ``normalize_backward`` (generic: ember.backends.generic.norm).
"""
import numbers

import numpy as np

from ..._tensor import Tensor
from ..._errors import not_a_tensor
from ...autograd import function as _fn
from ...autograd.function import Op
from ...autograd.grad_mode import state as _gm
from ...backends import namespace, kernels
from ...ops import _bw
from ..._bfloat16 import is_float as _isf

__all__ = ["batch_norm", "instance_norm", "group_norm", "layer_norm", "rms_norm",
           "local_response_norm"]


def _mean(a, axes, M):
    """Mean over ``axes``, dims kept (arrays or Tensors)."""
    if not isinstance(a, Tensor):
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


_SPECS = {}


def _spec(view, axes, pshape, center, eps):
    """The _Spec for these arguments, made once: a spec is never changed after
    __init__, and building one costs more than a small norm's kernel (token
    by token decoding runs layer norm on a few rows, many times over)."""
    key = (view, axes, pshape, center, eps)
    spec = _SPECS.get(key)
    if spec is None:
        if len(_SPECS) > 256:
            _SPECS.clear()
        spec = _SPECS[key] = _Spec(view, axes, pshape, center, eps)
    return spec


def _graph_stats(xv, spec):
    """(xhat, rstd) of the Tensor ``xv`` (create_graph), recorded by Tensor ops."""
    axes, M = spec.axes, spec.M
    if spec.center:
        xc = xv - _mean(xv, axes, M)
    else:
        xc = xv
    rstd = 1.0 / _bw.sqrt(_mean(xc * xc, axes, M) + spec.eps)
    return xc * rstd, rstd


class _Norm(Op):
    """y = normalize(x over spec.axes) * weight + bias, fused."""
    _ctx_fields = ("spec", "shape", "bshape")
    _node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, spec, running, shape):
        half = x.dtype == np.float16
        # float16: statistics in float32, as torch does (a float16 sum of
        # squares overflows at 65504)
        xv = (x.astype(np.float32) if half else x).reshape(spec.view)
        if running is None and not ctx.needs_input_grad:    # (no_grad: y alone, nothing saved)
            y = kernels(xv).normalize_value(xv, w, b, spec)
            return (y.astype(np.float16) if half else y).reshape(shape)
        y, saved, rstd, mean, var = kernels(xv).normalize(xv, w, b, spec, running is not None)
        if running is not None:
            _update_running(running, mean, var, spec)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w, saved, rstd)
            ctx.spec, ctx.shape = spec, shape
            ctx.bshape = None if b is None else b.shape
        return (y.astype(np.float16) if half else y).reshape(shape)

    @staticmethod
    def backward(ctx, g):
        x, w, saved, rstd = ctx.saved_tensors
        spec = ctx.spec
        need = ctx.needs_input_grad
        if not isinstance(g, Tensor):
            if g.dtype == np.float16:
                g = g.astype(np.float32)  # (sums of the gradient in float32 too)
            gx, gw, gb = kernels(g).normalize_backward(g.reshape(spec.view), saved, rstd, w, spec,
                                                       need)
            return (None if gx is None else gx.reshape(ctx.shape),
                    None if gw is None else gw.reshape(w.shape),
                    None if gb is None else gb.reshape(ctx.bshape))
        gv = g.reshape(spec.view)
        xhat, rstd = _graph_stats(x.reshape(spec.view), spec)
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
    if rm is not None and rv is not None and rm.shape == m.shape == rv.shape:
        # (batch norm's case, one backend kernel: ~10 NumPy calls on C-long vectors)
        kernels(rm).update_running_stats(rm, rv, m, var.reshape(-1),
                                         0.0 if momentum is None else momentum,
                                         M / (M - 1) if M > 1 else 1.0)
        return
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
    _ctx_fields = ("rstd", "rm", "pshape")
    _node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, rm, rv, eps, pshape):
        rstd = 1.0 / namespace(rv).sqrt(rv.reshape(pshape) + eps)
        scale = rstd * w.reshape(pshape) if w is not None else rstd
        scale = scale.astype(x.dtype, copy=False)
        shift = -rm.reshape(pshape) * scale
        if b is not None:
            shift = shift + b.reshape(pshape)
        y = kernels(x).channel_affine(x, scale, shift.astype(x.dtype, copy=False))
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
        raise not_a_tensor(fname, name, x)
    return x


def _same_dtype(x, *others):
    for o in others:
        if o is not None and o._data.dtype != x._data.dtype:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def _float_input(x, kernel):
    if not _isf(x._data.dtype):
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
    if type(momentum) is not float and not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch_norm(): argument 'momentum' (position 7) must be float, not "
                        f"{type(momentum).__name__}")
    x = input._data
    C = x.shape[1] if x.ndim > 1 else 0
    # (the checks' calls made only when a check fails: every BatchNorm layer
    # comes here each step)
    if ((running_mean is not None and running_mean._data.size != C)
            or (running_var is not None and running_var._data.size != C)
            or (weight is not None and weight._data.size != C)
            or (bias is not None and bias._data.size != C)):
        _channel_vec(running_mean, "running_mean", C)
        _channel_vec(running_var, "running_var", C)
        _channel_vec(weight, "weight", C)
        _channel_vec(bias, "bias", C)
    dt = x.dtype
    if (weight is not None and weight._data.dtype != dt) or (bias is not None and
                                                            bias._data.dtype != dt):
        _same_dtype(input, weight, bias)
    if dt.kind != "f":
        _float_input(input, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"Expected 2D or higher input to batch_norm, but got {x.ndim}D input")
    if not training:
        pshape = (1, C) + (1,) * (x.ndim - 2)
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
    spec = _spec((N, C, S), (0, 2), (1, C, 1), True, eps)
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
    spec = _spec((N, C, S), (2,), (1, C, 1), True, eps)
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
    spec = _spec((N, G, C // G, S), (2, 3), (1, G, C // G, 1), True, eps)
    return _GroupNorm.apply(input, weight, bias, spec, None, x.shape)


def _normalized(fname, input, normalized_shape, weight, bias):
    _tensor(input, "input", fname)
    x = input._data
    if type(normalized_shape) is tuple and len(normalized_shape) == 1 and \
            type(normalized_shape[0]) is int and x.ndim and x.shape[-1] == normalized_shape[0]:
        # The common case (nn.LayerNorm(D) on (..., D)) without the general
        # checks below: a decoder runs layer norm on a few rows, token by token.
        D = normalized_shape[0]
        for t in (weight, bias):
            if t is not None and t._data.shape != normalized_shape:
                break
        else:
            if (weight is None or weight._data.dtype == x.dtype) and \
                    (bias is None or bias._data.dtype == x.dtype):
                return x, x.size // D if D else 0, D
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    ns = tuple(int(s) for s in normalized_shape)
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
    if x.dtype.kind != "f":
        _float_input(input, "LayerNormKernelImpl")
    spec = _spec((R, D), (1,), (1, D), True, eps)
    if not (_gm.enabled and (input.requires_grad or (weight is not None and weight.requires_grad)
                             or (bias is not None and bias.requires_grad))) \
            and _fn._tracer is None and x.dtype.kind == "f":
        # Nothing to record (no_grad, inference): the forward on the arrays,
        # wrapped, without apply's handling of six arguments (a GPT step makes
        # 9 of these).  bfloat16 (not kind "f": apply runs its widened twin),
        # ONNX tracing and any failure take apply, which words the error.
        out = _fn.forward_unrecorded(_LayerNorm, x, None if weight is None else weight._data,
                                     None if bias is None else bias._data, spec, None, x.shape)
        if out is not None:
            return out
    return _LayerNorm.apply(input, weight, bias, spec, None, x.shape)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over normalized_shape) + eps) * weight;
    ``eps=None`` means the dtype's machine epsilon."""
    x, R, D = _normalized("rms_norm", input, normalized_shape, weight, None)
    _float_input(input, "rms_norm")
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    spec = _spec((R, D), (1,), (1, D), False, eps)
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
