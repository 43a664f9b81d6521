"""Activation functions (torch.nn.functional's relu, gelu, softmax, ...).

Each is ONE Op with a hand-derived backward.  The backward is written once
against ndarrays or Tensors (see ``ember.ops._bw``): piecewise-linear ones
multiply by a constant mask; smooth ones use their saved input or output
and differentiable helpers, so gradients of gradients are exact.
"""
import math
import operator
import warnings

import numpy as np

from ..._tensor import Tensor

from ..._tensor_base import _dim
from ...autograd.function import Op
from ...ops import _bw
from ...backends import namespace, kernels, backend_of
from ...ops._util import to_float, cast
from ...ops.inplace import apply_inplace
from ...ops import math as _math
from ...ops.math import Relu, Sigmoid, Tanh, tie  # (one Op each for torch.*, Tensor.* and F.*)
from ...ops.activation import (_Shrink, _Softmax, _LogSoftmax, softmax_like as _softmax_like,
                               hardshrink, prelu)  # (as relu: one Op for torch.*, Tensor.* and F.*)
from ...ops._bw import mask as _mask
from ... import _dtype as D
from ..._bfloat16 import is_float as _isf

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_",
           "celu", "celu_", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh", "hardtanh_",
           "hardsigmoid", "hardswish", "softplus", "softsign", "softmax", "log_softmax", "softmin",
           "glu", "logsigmoid", "prelu", "rrelu", "rrelu_", "threshold", "threshold_",
           "tanhshrink", "softshrink", "hardshrink", "gumbel_softmax"]

# ---- helpers usable on ndarrays (plain backward) and Tensors (recorded backward) -------

# (NumPy scalars count as arrays: ufuncs on 0-d arrays return them.)

def _sigmoid_any(x):
    if not isinstance(x, Tensor):
        return kernels(x).expit(x)
    return Sigmoid.apply(x)


def _tanh_any(x):
    if not isinstance(x, Tensor):
        return namespace(x).tanh(x)
    return Tanh.apply(x)


def _softplus_any(x):
    if not isinstance(x, Tensor):
        return namespace(x).logaddexp(0, x).astype(x.dtype, copy=False)
    return _Softplus.apply(x, 1.0, float("inf"))


def _erf_any(x):
    if not isinstance(x, Tensor):
        return kernels(x).erf(x)
    return x.erf()


def _float(x):
    if x._data.dtype.kind == "c":
        raise NotImplementedError("Ember's activation functions do not take complex tensors")
    return x if _isf(x._data.dtype) else to_float(x)


# ---- piecewise linear ------------------------------------------------------------------

class _Threshold(Op):
    """y = x where x > threshold else value."""
    _ctx_fields = ("threshold",)

    @staticmethod
    def forward(ctx, x, threshold, value):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.threshold = threshold
        xp = namespace(x)
        return xp.where(x > threshold, x, xp.asarray(value, dtype=x.dtype))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return tie(g * _mask(_bw.data(x) > ctx.threshold, g), x)


class _Hardtanh(Op):
    """y = clip(x, lo, hi); gradient 1 strictly inside (lo, hi), as torch."""
    _ctx_fields = ("lo", "hi")

    @staticmethod
    def forward(ctx, x, lo, hi):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.lo, ctx.hi = lo, hi
        return namespace(x).clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        xd = _bw.data(x)
        return tie(g * _mask((xd > lo) & (xd < hi), g), x)


class _LeakyReLU(Op):
    _ctx_fields = ("slope",)
    @staticmethod
    def forward(ctx, x, slope):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.slope = slope
        xp = namespace(x)
        return xp.where(x > 0, x, x * xp.asarray(slope, dtype=x.dtype))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        m = _mask(_bw.data(x) > 0, g)
        return tie(g * (m + (1 - m) * ctx.slope), x)


class _ScaleMask(Op):
    """y = x * s for a constant array s (rrelu's random slopes)."""

    @staticmethod
    def forward(ctx, x, s):
        if ctx.needs_input_grad:
            ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        s, = ctx.saved_tensors
        return g * s


# torch's hardsigmoid backward uses 1/6 rounded to float32 for every dtype
_ONE_SIXTH_F32 = float(np.float32(1.0 / 6.0))


class _Hardsigmoid(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).clip(x / 6 + 0.5, 0, 1).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        xd = _bw.data(x)
        return tie(g * (_mask((xd > -3) & (xd < 3), g) * _ONE_SIXTH_F32), x)


class _Hardswish(Op):
    """y = x * relu6(x + 3) / 6; dy/dx = 0 below -3, x/3 + 1/2 on [-3, 3], 1 above."""

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return (x * namespace(x).clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        xd = _bw.data(x)
        mid = _mask((xd >= -3) & (xd <= 3), g)
        hi = _mask(xd > 3, g)
        return g * (mid * (x / 3 + 0.5) + hi)


# ---- smooth ----------------------------------------------------------------------------

class _ELU(Op):
    """The ELU family: y = scale * x for x > 0, else
    alpha * scale * (exp(x * input_scale) - 1).  elu, selu and celu are cases."""
    _ctx_fields = ("alpha", "scale", "input_scale")
    _node_name = "EluBackward0"

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
        xp = namespace(x)
        neg = alpha * scale * xp.expm1(xp.minimum(x, 0) * input_scale)
        return xp.where(x > 0, x * scale, neg).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        alpha, scale, input_scale = ctx.alpha, ctx.scale, ctx.input_scale
        neg = _mask(_bw.data(x) <= 0, g)
        # exp only of the non-positive part: no overflow in the branch not taken
        dneg = (alpha * scale * input_scale) * _bw.exp(x * neg * input_scale)
        return g * ((1 - neg) * scale + neg * dneg)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class _GELU(Op):
    """x * Phi(x) (exact, with erf) or the tanh approximation."""
    _ctx_fields = ("tanh_approx", "fused")
    _node_name = "GeluBackward0"
    _K = math.sqrt(2 / math.pi)
    _C = 0.044715

    @staticmethod
    def forward(ctx, x, tanh_approx):
        if ctx.needs_input_grad:
            ctx.tanh_approx = tanh_approx
            ctx.fused = False       # (True: the fused kernel saved dy/dx itself)
        if tanh_approx:
            fused = kernels(x).gelu_tanh_fused(x)
            if fused is not None:   # y and dy/dx in one pass (the backward is g * dy/dx)
                y, dy = fused
                if ctx.needs_input_grad:
                    ctx.save_for_backward(x, dy, None)
                    ctx.fused = True
                return y
            t = namespace(x).tanh(_GELU._K * (x + _GELU._C * x * x * x))
            if ctx.needs_input_grad:
                ctx.save_for_backward(x, t, None)   # t (or the cdf) is reused by the plain backward
            return (0.5 * x * (1 + t)).astype(x.dtype, copy=False)
        K = kernels(x)
        if not ctx.needs_input_grad:    # (no_grad: y alone, without dy/dx's work)
            y = K.gelu_erf_value(x)
            if y is not None:
                return y
        fused = K.gelu_erf_fused(x)
        if fused is not None:   # y and dy/dx in one pass
            y, dy = fused
            if ctx.needs_input_grad:
                ctx.save_for_backward(x, dy, None)
                ctx.fused = True
            return y
        y, cdf, pdf = K.gelu_erf(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, cdf, pdf)
        return y

    @staticmethod
    def backward(ctx, g):
        x, saved, pdf = ctx.saved_tensors
        tanh_approx, fused = ctx.tanh_approx, ctx.fused
        graph = isinstance(x, Tensor)   # under create_graph, recompute from x
        if fused and not graph:
            return kernels(saved).gelu_erf_fused_backward(g, saved)   # (saved: dy/dx)
        if not graph and x.dtype == np.float16:
            x = x.astype(np.float32)  # (x**3 overflows float16; torch computes in float32)
        if tanh_approx:
            k, c = _GELU._K, _GELU._C
            t = _tanh_any(k * (x + c * x * x * x)) if graph else saved
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)
            return g * d
        if graph:
            cdf = 0.5 * (1 + _erf_any(x * _SQRT_HALF))
        else:
            cdf = saved
        if graph or pdf is None:
            pdf = _bw.exp(x * x * -0.5) * _INV_SQRT_2PI
            return g * (cdf + x * pdf)
        d = x * pdf          # plain arrays: in place, one temporary
        d += cdf
        d *= g
        return d


class _SiLU(Op):
    _node_name = "SiluBackward0"

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return x * kernels(x).expit(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        s = _sigmoid_any(x)
        return g * (s * (1 + x * (1 - s)))


class _Mish(Op):
    """x * tanh(softplus(x))."""
    _node_name = "MishBackward0"

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        xp = namespace(x)
        return x * xp.tanh(xp.logaddexp(0, x)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        t = _tanh_any(_softplus_any(x))
        return g * (t + x * (1 - t * t) * _sigmoid_any(x))


class _Softplus(Op):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""
    _ctx_fields = ("beta", "threshold")
    _node_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, x, beta, threshold):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.beta, ctx.threshold = beta, threshold
        xp = namespace(x)
        z = x * beta
        y = xp.logaddexp(0, z) / beta
        return xp.where(z > threshold, x, y).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        beta, threshold = ctx.beta, ctx.threshold
        lin = _mask(_bw.data(x) * beta > threshold, g)
        return g * (lin + (1 - lin) * _sigmoid_any(x * beta))


class _Softsign(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return x / (1 + namespace(x).abs(x))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        xd = _bw.data(x)
        a = 1 + x * namespace(xd).sign(xd)   # 1 + |x|, differentiable through x
        return g / (a * a)


class _Tanhshrink(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return x - namespace(x).tanh(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        t = _tanh_any(x)
        return g * (t * t)


class _LogSigmoid(Op):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable everywhere."""
    _node_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return -namespace(x).logaddexp(0, -x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _sigmoid_any(-x)


class _GLU(Op):
    """a * sigmoid(b) where (a, b) are the two halves of x along ``dim``."""
    _ctx_fields = ("dim",)
    _node_name = "GluBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.dim = dim
        n = x.shape[dim] // 2
        pre = (slice(None),) * dim
        a = x[pre + (slice(0, n),)]
        b = x[pre + (slice(n, 2 * n),)]
        return a * kernels(x).expit(b)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        dim = ctx.dim
        n = x.shape[dim] // 2
        pre = (slice(None),) * dim
        a = _bw.take(x, pre + (slice(0, n),))
        b = _bw.take(x, pre + (slice(n, 2 * n),))
        s = _sigmoid_any(b)
        ga = g * s
        gb = g * a * s * (1 - s)
        return _bw.concatenate([ga, gb], dim)


# ---- public functions --------------------------------------------------------------------

def relu(input, inplace=False):
    """max(input, 0), elementwise."""
    if inplace:
        return relu_(input)
    return _math.relu(input)


def relu_(input):
    return apply_inplace(input, Relu.apply)


def threshold(input, threshold, value, inplace=False):
    """input where input > threshold, else value."""
    if inplace:
        return threshold_(input, threshold, value)
    return _Threshold.apply(input, threshold, value)


def threshold_(input, threshold, value):
    return apply_inplace(input, lambda t: _Threshold.apply(t, threshold, value))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clip(input, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return hardtanh_(input, min_val, max_val)
    return _Hardtanh.apply(input, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return apply_inplace(input, lambda t: _Hardtanh.apply(t, min_val, max_val))


def relu6(input, inplace=False):
    """min(max(input, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input if input > 0 else negative_slope * input."""
    if not isinstance(negative_slope, (int, float)):
        raise TypeError(f"leaky_relu(): argument 'negative_slope' (position 2) must be Number, "
                        f"not {type(negative_slope).__name__}")
    if inplace:
        return leaky_relu_(input, negative_slope)
    return _LeakyReLU.apply(input, negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return apply_inplace(input, lambda t: _LeakyReLU.apply(t, negative_slope))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: negative inputs scaled by U(lower, upper) per
    element while training, by (lower + upper) / 2 in eval."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from ...random import _rng
    x = input._data
    b = backend_of(x)   # (the slopes are drawn on the host, then moved to x's device)
    slopes = b.from_host(lower + (upper - lower) * _rng(None).random(x.shape))
    s = b.xp.where(x >= 0, 1, slopes).astype(x.dtype)
    if inplace:
        return apply_inplace(input, lambda t: _ScaleMask.apply(t, s))
    return _ScaleMask.apply(input, s)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, True)


def _elu_apply(input, inplace, alpha, scale, input_scale):
    input = _float(input)
    if inplace:
        return apply_inplace(input, lambda t: _ELU.apply(t, alpha, scale, input_scale))
    return _ELU.apply(input, alpha, scale, input_scale)


def elu(input, alpha=1.0, inplace=False):
    """input if input > 0 else alpha * (exp(input) - 1)."""
    return _elu_apply(input, inplace, alpha, 1.0, 1.0)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(input, alpha) with the self-normalising constants."""
    return _elu_apply(input, inplace, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input):
    return selu(input, True)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return _elu_apply(input, inplace, alpha, 1.0, 1.0 / alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, True)


def gelu(input, approximate="none"):
    """x * Phi(x) (``approximate='none'``) or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _GELU.apply(_float(input), approximate == "tanh")


def silu(input, inplace=False):
    """x * sigmoid(x) (swish)."""
    if inplace:
        return apply_inplace(input, _SiLU.apply)
    return _SiLU.apply(_float(input))


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    if inplace:
        return apply_inplace(input, _Mish.apply)
    return _Mish.apply(_float(input))


def sigmoid(input):
    """1 / (1 + exp(-input))."""
    return _math.sigmoid(input)


def tanh(input):
    return _math.tanh(input)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    if inplace:
        return apply_inplace(input, _Hardsigmoid.apply)
    return _Hardsigmoid.apply(input)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    if inplace:
        return apply_inplace(input, _Hardswish.apply)
    return _Hardswish.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold."""
    return _Softplus.apply(_float(input), beta, threshold)


def softsign(input):
    """x / (1 + |x|)."""
    return _Softsign.apply(_float(input))


def tanhshrink(input):
    """x - tanh(x)."""
    return _Tanhshrink.apply(_float(input))


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return _Shrink.apply(input, lambd, True)


def logsigmoid(input):
    """log(sigmoid(x)), computed stably."""
    return _LogSigmoid.apply(_float(input))


def glu(input, dim=-1):
    """a * sigmoid(b) where a, b are the halves of input along ``dim``."""
    x = input._data
    if x.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _dim(dim, x.ndim)
    if x.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size "
                           f"{x.shape[d]}")
    return _GLU.apply(input, d)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (optionally computed in ``dtype``)."""
    return _softmax_like(_Softmax, "softmax", input, dim, _stacklevel, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably in one pass."""
    return _softmax_like(_LogSoftmax, "log_softmax", input, dim, _stacklevel, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along ``dim``."""
    if dtype is not None:
        input = cast(input, D.to_dtype(dtype))
    return _softmax_like(_Softmax, "softmin", -input, dim, _stacklevel, None)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Sample from the Gumbel-softmax distribution: softmax((logits + g) / tau)
    with g ~ Gumbel(0, 1).  ``hard=True`` returns one-hot samples whose
    gradient is the soft sample's (straight-through)."""
    from ...random import _rng
    from ..._tensor_base import _wrap
    x = logits._data
    b = backend_of(x)   # (drawn on the host, then moved to x's device)
    gumbels = (-b.xp.log(b.from_host(_rng(None).standard_exponential(x.shape)))).astype(x.dtype)
    y_soft = softmax((logits + _wrap(gumbels)) / tau, dim)
    if not hard:
        return y_soft
    d = _dim(dim, x.ndim)
    xp = b.xp
    idx = xp.expand_dims(y_soft._data.argmax(axis=d), d)
    y_hard = xp.zeros(x.shape, y_soft._data.dtype)
    xp.put_along_axis(y_hard, idx, 1.0, axis=d)
    return _wrap(y_hard) - y_soft.detach() + y_soft
