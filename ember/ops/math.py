"""Elementwise math: exp/log, powers and roots, trigonometry, special functions,
rounding, clamping, elementwise min/max and a few binary helpers.

Every op maps tensors of any shape to tensors of the same (broadcast) shape.
Each differentiable op is one ``Op`` whose backward is written once with
operators and ``_bw`` helpers, so it also records under ``create_graph=True``
(double backward).  Masks that only select where a gradient flows come from
``_bw.data`` (they are constants of the graph, as in torch).

dtype rules (torch's): functions that are only defined on reals (exp, sqrt,
sin, sigmoid, ...) turn integer/bool input into the default float dtype;
abs, sign, floor, clamp, maximum ... keep integer dtypes.  inf/nan come out
silently, as in torch (``import ember`` turns NumPy's FP warnings off).
"""
import math as _m

import numpy as np

from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap
from ..autograd.function import Op
from ..backends import namespace, kernels, XP
from . import _bw
from ._util import promote, cast, check_broadcast
from .elementwise import _out, _binary, _xp_function, TORCH_TYPE_NAME as _TNAME
from .._bfloat16 import is_float as _isf

_LN2 = _m.log(2.0)
_LN10 = _m.log(10.0)
_2_SQRTPI = 2.0 / _m.sqrt(_m.pi)
_SQRTPI_2 = _m.sqrt(_m.pi) / 2.0
_NAN = float("nan")


# ---- argument checks ---------------------------------------------------------------------

def _not_tensor(fname, x, arg="input", pos=1):
    return TypeError(f"{fname}(): argument '{arg}' (position {pos}) must be Tensor, "
                     f"not {type(x).__name__}")


def _not_impl(kernel, dt):
    return NotImplementedError(f"\"{kernel}\" not implemented for '{_TNAME[dt.name]}'")


def _as_float(x, fname):
    """``x`` as a floating tensor: ints and bools become the default float dtype."""
    if not isinstance(x, TensorBase):
        raise _not_tensor(fname, x)
    if not _isf(x._data.dtype):
        return cast(x, D.get_default_dtype())
    return x


def _check(x, fname):
    if not isinstance(x, TensorBase):
        raise _not_tensor(fname, x)
    return x


def _float_pair(input, other, fname, other_name="other"):
    """Two tensors promoted to a common floating dtype (ints -> default float)."""
    if not isinstance(input, TensorBase):
        raise _not_tensor(fname, input)
    if not isinstance(other, TensorBase):
        raise _not_tensor(fname, other, other_name, 2)
    a, b = promote(input, other)
    if not _isf(a._data.dtype):
        fdt = D.get_default_dtype()
        a, b = cast(a, fdt), cast(b, fdt)
    return a, b


def _float_unary(op, name, doc, complex_ok=False):
    """Public function for a real-valued unary Op (int/bool input -> default float).
    ``complex_ok``: complex input is computed as it is (the Op's backward conjugates);
    otherwise it is refused as torch refuses complex input to real-only functions."""
    def fn(input, *, out=None):
        # (kind "f" tested first: the common float input makes no is_float call)
        if not isinstance(input, TensorBase) or input._data.dtype.kind != "f" and \
                not _isf(input._data.dtype):
            if isinstance(input, TensorBase) and input._data.dtype.kind == "c":
                if not complex_ok:
                    raise _not_impl(name, input.dtype)
            else:
                input = _as_float(input, name)
        r = op.apply(input)
        return r if out is None else _out(r, out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + "\n\nAny shape; integer/bool input gives the default float dtype."
    return fn


# ---- exponentials and logarithms ---------------------------------------------------------

class Exp(Op):
    @staticmethod
    def forward(ctx, x):
        out = XP[type(x)].exp(x, out=...)   # (namespace(x) without a call: see XP)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * out.conj()   # (an array or Tensor; free when real: itself comes back)


class Exp2(Op):
    @staticmethod
    def forward(ctx, x):
        out = namespace(x).exp2(x, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.conj(out) * _LN2


class Expm1(Op):
    @staticmethod
    def forward(ctx, x):
        out = namespace(x).expm1(x, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.conj(out + 1)


class Log(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).log(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / _bw.conj(x)


class Log2(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).log2(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / (_bw.conj(x) * _LN2)


class Log10(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).log10(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / (_bw.conj(x) * _LN10)


class Log1p(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).log1p(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / _bw.conj(x + 1)


exp = _float_unary(Exp, "exp", "e ** input.", complex_ok=True)
exp2 = _float_unary(Exp2, "exp2", "2 ** input.", complex_ok=True)
expm1 = _float_unary(Expm1, "expm1", "exp(input) - 1, accurate near 0.", complex_ok=True)
log = _float_unary(Log, "log", "Natural logarithm (-inf at 0, nan below).", complex_ok=True)
log2 = _float_unary(Log2, "log2", "Base-2 logarithm.", complex_ok=True)
log10 = _float_unary(Log10, "log10", "Base-10 logarithm.", complex_ok=True)
log1p = _float_unary(Log1p, "log1p", "log(1 + input), accurate near 0.", complex_ok=True)


# ---- roots and reciprocals ---------------------------------------------------------------

class Sqrt(Op):
    @staticmethod
    def forward(ctx, x):
        out = namespace(x).sqrt(x, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g / (2 * _bw.conj(out))


class Rsqrt(Op):
    @staticmethod
    def forward(ctx, x):
        xp = namespace(x)
        out = xp.reciprocal(xp.sqrt(x), out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.conj(out * out * out) * -0.5


class Reciprocal(Op):
    @staticmethod
    def forward(ctx, x):
        out = namespace(x).reciprocal(x, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return -g * _bw.conj(out * out)


sqrt = _float_unary(Sqrt, "sqrt", "Square root (nan below 0).", complex_ok=True)
rsqrt = _float_unary(Rsqrt, "rsqrt", "1 / sqrt(input).", complex_ok=True)
reciprocal = _float_unary(Reciprocal, "reciprocal", "1 / input.", complex_ok=True)


# ---- trigonometric and hyperbolic --------------------------------------------------------

class Sin(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).sin(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _bw.conj(_bw.cos(x))


class Cos(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).cos(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return -g * _bw.conj(_bw.sin(x))


class Tan(Op):
    @staticmethod
    def forward(ctx, x):
        out = namespace(x).tan(x, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.conj(out * out + 1)


class Asin(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).arcsin(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / _bw.conj(_bw.sqrt(1 - x * x))


class Acos(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).arccos(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return -g / _bw.conj(_bw.sqrt(1 - x * x))


class Atan(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).arctan(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / _bw.conj(x * x + 1)


class Sinh(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).sinh(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _bw.conj(_bw.cosh(x))


class Cosh(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).cosh(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _bw.conj(_bw.sinh(x))


class Tanh(Op):
    @staticmethod
    def forward(ctx, x):
        out = XP[type(x)].tanh(x, out=...)   # (namespace(x) without a call: see XP)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.one_minus(out * out).conj()   # (as Exp's: free when real)


class Asinh(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).arcsinh(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / _bw.conj(_bw.sqrt(x * x + 1))


class Acosh(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).arccosh(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        if _bw.data(x).dtype.kind == "c":
            # (sqrt(z - 1) sqrt(z + 1): the branch of acosh's derivative torch takes)
            return g / _bw.conj(_bw.sqrt(x - 1) * _bw.sqrt(x + 1))
        return g / _bw.sqrt(x * x - 1)


class Atanh(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).arctanh(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / _bw.conj(1 - x * x)


sin = _float_unary(Sin, "sin", "Sine (radians).", complex_ok=True)
cos = _float_unary(Cos, "cos", "Cosine (radians).", complex_ok=True)
tan = _float_unary(Tan, "tan", "Tangent (radians).", complex_ok=True)
asin = arcsin = _float_unary(Asin, "asin", "Inverse sine (nan outside [-1, 1]).", complex_ok=True)
acos = arccos = _float_unary(Acos, "acos", "Inverse cosine (nan outside [-1, 1]).",
                             complex_ok=True)
atan = arctan = _float_unary(Atan, "atan", "Inverse tangent.", complex_ok=True)
sinh = _float_unary(Sinh, "sinh", "Hyperbolic sine.", complex_ok=True)
cosh = _float_unary(Cosh, "cosh", "Hyperbolic cosine.", complex_ok=True)
tanh = _float_unary(Tanh, "tanh", "Hyperbolic tangent.", complex_ok=True)
asinh = arcsinh = _float_unary(Asinh, "asinh", "Inverse hyperbolic sine.", complex_ok=True)
acosh = arccosh = _float_unary(Acosh, "acosh", "Inverse hyperbolic cosine (nan below 1).",
                               complex_ok=True)
atanh = arctanh = _float_unary(Atanh, "atanh", "Inverse hyperbolic tangent (+-inf at +-1).",
                               complex_ok=True)


class _DegRad(Op):
    """input * factor for a constant factor (deg2rad, rad2deg)."""
    factor = 1.0

    @classmethod
    def forward(cls, ctx, x):
        return x * cls.factor

    @classmethod
    def backward(cls, ctx, g):
        return g * cls.factor


class Deg2Rad(_DegRad):
    factor = _m.pi / 180.0


class Rad2Deg(_DegRad):
    factor = 180.0 / _m.pi


deg2rad = _float_unary(Deg2Rad, "deg2rad", "Degrees to radians.")
rad2deg = _float_unary(Rad2Deg, "rad2deg", "Radians to degrees.")


class Atan2(Op):
    @staticmethod
    def forward(ctx, a, b):
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, b)
        return namespace(a, b).arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        d = a * a + b * b
        zero = _bw.data(d) == 0
        if zero.any():  # torch's gradient at the origin is 0, not nan; its second
            r = _bw.where(zero, 0.0, 1 / d)    # derivative there is nan (via the inf of 1/d)
            return (g * b * r if need[0] else None), (-g * a * r if need[1] else None)
        return (g * b / d if need[0] else None), (-g * a / d if need[1] else None)


def atan2(input, other, *, out=None):
    """Angle of the point (other, input) in (-pi, pi]; broadcasts; ints -> default float."""
    a, b = _float_pair(input, other, "atan2")
    return _out(_binary(Atan2, a, b), out)


arctan2 = atan2


class Hypot(Op):
    @staticmethod
    def forward(ctx, a, b):
        out = namespace(a, b).hypot(a, b, out=...)
        need = ctx.needs_input_grad
        if need:
            # (each input only for its own gradient, as torch: a frozen input may
            # then change in place)
            ctx.save_for_backward(a if need[0] else None, b if need[1] else None, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (g * a / out if need[0] else None), (g * b / out if need[1] else None)


def hypot(input, other, *, out=None):
    """sqrt(input**2 + other**2) without overflow; floating tensors only; broadcasts."""
    _check(input, "hypot")
    if not isinstance(other, TensorBase):
        raise _not_tensor("hypot", other, "other", 2)
    a, b = promote(input, other)
    if not _isf(a._data.dtype):
        raise _not_impl("hypot_cpu", a.dtype)
    return _out(_binary(Hypot, a, b), out)


class LogAddExp(Op):
    """log(base**a + base**b) for base e or 2, without overflow."""
    _ctx_fields = ("base2",)

    @staticmethod
    def forward(ctx, a, b, base2):
        xp = namespace(a, b)
        out = xp.logaddexp2(a, b) if base2 else xp.logaddexp(a, b)
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, b, out)
            ctx.base2 = base2
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        k = _m.log(2.0) if ctx.base2 else 1.0     # d/da = base**(a - out)
        ga = g * _bw.exp((a - out) * k) if need[0] else None
        gb = g * _bw.exp((b - out) * k) if need[1] else None
        return ga, gb, None


def _logaddexp(name, base2):
    def fn(input, other, *, out=None):
        _check(input, name)
        if not isinstance(other, TensorBase):
            raise _not_tensor(name, other, "other", 2)
        a, b = promote(input, other)
        if not _isf(a._data.dtype):
            raise _not_impl(f"{name}_cpu", a.dtype)
        try:
            r = LogAddExp.apply(a, b, base2)
        except ValueError:
            check_broadcast(a._data.shape, b._data.shape)
            raise
        return _out(r, out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"log{'2' if base2 else ''}(" + ("2**input + 2**other" if base2 else
                                                  "exp(input) + exp(other)") + \
        ") without overflow; floating tensors, broadcast."
    return fn


logaddexp = _logaddexp("logaddexp", False)
logaddexp2 = _logaddexp("logaddexp2", True)


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 * tensor2 (broadcast, torch's type promotion)."""
    for t, arg, pos in ((input, "input", 1), (tensor1, "tensor1", 2), (tensor2, "tensor2", 3)):
        if not isinstance(t, TensorBase):
            raise _not_tensor("addcmul", t, arg, pos)
    prod = tensor1 * tensor2
    return _out(input + (prod if value == 1 else prod * value), out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """input + value * tensor1 / tensor2 (true division; integer operands refused, as torch)."""
    for t, arg, pos in ((input, "input", 1), (tensor1, "tensor1", 2), (tensor2, "tensor2", 3)):
        if not isinstance(t, TensorBase):
            raise _not_tensor("addcdiv", t, arg, pos)
    if tensor1._data.dtype.kind in "biu" and tensor2._data.dtype.kind in "biu":
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future "
                           " release addcdiv will perform a true division of tensor1 and tensor2. "
                           "The historic addcdiv behavior can be implemented as (input + value * "
                           "torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs "
                           "and as (input + value * tensor1 / tensor2) for float inputs. The "
                           "future addcdiv behavior is just the latter implementation: (input + "
                           "value * tensor1 / tensor2), for all dtypes.")
    quot = tensor1 / tensor2
    return _out(input + (quot if value == 1 else quot * value), out)


# ---- sigmoid, logit and the error function ------------------------------------------------

class Sigmoid(Op):
    @staticmethod
    def forward(ctx, x):
        if x.dtype.kind == "c":      # (the expit kernels are real-only)
            xp = namespace(x)
            out = xp.reciprocal(xp.exp(-x) + 1)
        else:
            out = kernels(x).expit(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.conj(out * _bw.one_minus(out))


sigmoid = _float_unary(Sigmoid, "sigmoid", "1 / (1 + exp(-input)), without overflow for any input.",
                       complex_ok=True)


class Logit(Op):
    _ctx_fields = ("eps",)
    @staticmethod
    def forward(ctx, x, eps):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.eps = eps
        z = x if eps is None else x.clip(eps, 1.0 - eps)
        return namespace(x).log(z / (1 - z))

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        eps = ctx.eps
        xd = _bw.data(x)
        r = g / (x * (1 - x))
        if eps is None:
            # outside [0, 1] the function is nan, and so is its gradient
            off = (xd < 0) | (xd > 1)
            fill = _NAN
        else:
            # clamped to [eps, 1 - eps]: flat (zero gradient) outside
            off = (xd < eps) | (xd > 1.0 - eps)
            fill = 0.0
        if off.any():
            r = _bw.where(off, fill, r)
        return r, None


def logit(input, eps=None, *, out=None):
    """log(p / (1 - p)); with ``eps``, p is first clamped to [eps, 1 - eps]."""
    if not isinstance(input, TensorBase) or not _isf(input._data.dtype):
        input = _as_float(input, "logit")
    if eps is not None:
        eps = float(eps)
    return _out(Logit.apply(input, eps), out)


class Erf(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return kernels(x).erf(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _bw.exp(-(x * x)) * _2_SQRTPI


class Erfc(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return kernels(x).erfc(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _bw.exp(-(x * x)) * -_2_SQRTPI


class Erfinv(Op):
    @staticmethod
    def forward(ctx, x):
        out = kernels(x).erfinv(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.exp(out * out) * _SQRTPI_2


erf = _float_unary(Erf, "erf", "Gauss error function.")
erfc = _float_unary(Erfc, "erfc", "1 - erf(input), accurate for large input.")
erfinv = _float_unary(Erfinv, "erfinv", "Inverse of erf on (-1, 1) (+-inf at +-1, nan outside).")


# ---- sign and absolute value (integer dtypes kept) ---------------------------------------

class Abs(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return namespace(x).abs(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        if _bw.data(x).dtype.kind == "c":
            # d|z| = Re(conj(z)/|z| dz): torch's gradient g * z / |z|, 0 at z == 0
            return g * _bw.sgn(x)
        # sign(x) (0 at nan, as torch) is piecewise constant: a constant
        # factor, also under double backward
        return g * _np_sign(_bw.data(x))


def abs(input, *, out=None):
    """|input|; integer dtypes kept (bool is not supported, as torch)."""
    _check(input, "abs")
    if input._data.dtype.kind == "b":
        raise _not_impl("abs_cpu", input.dtype)
    return _out(Abs.apply(input), out)


absolute = abs


def _np_sign(x):
    """-1/0/+1 in x's float dtype with sign(nan) = 0, as torch (NumPy's sign gives nan)."""
    return namespace(x).subtract(x > 0, x < 0, dtype=x.dtype)


class Sign(Op):
    @staticmethod
    def forward(ctx, x):
        if x.dtype.kind == "c":      # (sgn: z / |z|, 0 at 0)
            return _complex_sgn(x)
        if _isf(x.dtype):
            return _np_sign(x)
        if x.dtype.kind == "b":
            return x.copy()
        return namespace(x).sign(x)

    @staticmethod
    def backward(ctx, g):
        return _bw.zeros_like(g)


class Sgn(Sign):
    @staticmethod
    def forward(ctx, x):
        if x.dtype.kind == "c":
            if ctx.needs_input_grad:
                ctx.save_for_backward(x)
            return _complex_sgn(x)
        return Sign.forward(ctx, x)

    @staticmethod
    def backward(ctx, g):
        if ctx._saved is None:          # (real input: piecewise constant)
            return _bw.zeros_like(g)
        # sgn(z) = z/|z|: torch's gradient (g - Re(g conj(sgn)) sgn) / |z|, 0 at 0
        x, = ctx.saved_tensors
        a = _bw.abs(x)
        s = _bw.sgn(x)
        r = (g - _bw.real(g * _bw.conj(s)) * s) / a
        return _bw.where(_bw.data(a) == 0, 0.0, r)


def _complex_sgn(x):
    """z / |z| with 0 at 0 (an array)."""
    xp = namespace(x)
    a = xp.abs(x)
    zero = a == 0
    return xp.where(zero, 0, x / xp.where(zero, 1, a))


def sign(input, *, out=None):
    """-1, 0 or +1 by the sign of input (0 for nan); dtype kept (bool too)."""
    _check(input, "sign")
    if input._data.dtype.kind == "c":
        raise NotImplementedError("Unlike NumPy, torch.sign is not intended to support complex "
                           "numbers. Please use torch.sgn instead.")
    return _out(Sign.apply(input), out)


def sgn(input, *, out=None):
    """sign for real tensors; z / |z| (0 at 0) for complex ones."""
    return _out(Sgn.apply(_check(input, "sgn")), out)


# ---- rounding ------------------------------------------------------------------------------

class _Round(Op):
    """A rounding function: integer inputs are copied, the gradient is zero."""
    fn = None

    @classmethod
    def forward(cls, ctx, x):
        if not _isf(x.dtype):
            return x.copy()
        return cls.fn(x)

    @staticmethod
    def backward(ctx, g):
        return _bw.zeros_like(g)


class Floor(_Round):
    fn = staticmethod(_xp_function("floor"))


class Ceil(_Round):
    fn = staticmethod(_xp_function("ceil"))


class Trunc(_Round):
    fn = staticmethod(_xp_function("trunc"))


class Round(_Round):
    fn = staticmethod(_xp_function("rint"))  # half to even, as torch


class RoundDecimals(Op):
    _node_name = "RoundBackward1"

    @staticmethod
    def forward(ctx, x, decimals):
        return namespace(x).round(x, decimals)

    @staticmethod
    def backward(ctx, g):
        return _bw.zeros_like(g), None


def _rounding(op, name):
    def fn(input, *, out=None):
        _check(input, name)
        if input._data.dtype.kind == "b":
            raise _not_impl(f"{name}_vml_cpu", input.dtype)
        return _out(op.apply(input), out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{name} of each element; integer dtypes are kept (a copy).  "
                  "The gradient is zero.")
    return fn


floor = _rounding(Floor, "floor")
ceil = _rounding(Ceil, "ceil")
trunc = _rounding(Trunc, "trunc")
fix = trunc


def round(input, *, decimals=0, out=None):
    """Round half to even, to ``decimals`` places (negative: tens, hundreds...)."""
    _check(input, "round")
    dt = input._data.dtype
    if decimals == 0:
        if dt.kind == "b":
            raise _not_impl("round_vml_cpu", input.dtype)
        return _out(Round.apply(input), out)
    if not _isf(dt):
        raise _not_impl("round_cpu", input.dtype)
    return _out(RoundDecimals.apply(input, int(decimals)), out)


class Frac(Op):
    @staticmethod
    def forward(ctx, x):
        return x - namespace(x).trunc(x)

    @staticmethod
    def backward(ctx, g):
        return g


def frac(input, *, out=None):
    """input - trunc(input) (sign of input kept); floating tensors only."""
    _check(input, "frac")
    if not _isf(input._data.dtype):
        raise _not_impl("frac_cpu", input.dtype)
    return _out(Frac.apply(input), out)


# ---- clamp ---------------------------------------------------------------------------------

class Clamp(Op):
    """clamp with bounds that are Python numbers (or None)."""
    _ctx_fields = ("lo", "hi")
    _node_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, x, lo, hi):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.lo, ctx.hi = lo, hi
        xp = namespace(x)
        if lo is not None:
            x = xp.maximum(x, lo)
        if hi is not None:
            x = xp.minimum(x, hi)
        return x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        xd = _bw.data(x)
        # gradient passes where lo <= x <= hi (not at nan)
        if lo is None:
            keep = xd <= hi
        elif hi is None:
            keep = xd >= lo
        else:
            keep = (xd >= lo) & (xd <= hi)
        return _bw.where(keep, g, 0.0), None, None


class ClampTensor(Op):
    """clamp with tensor bounds (either may be None); gradients flow to the bounds."""
    _node_name = "ClampBackward0"

    @staticmethod
    def forward(ctx, x, lo, hi):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, lo, hi)
        xp = namespace(x)
        r = x
        if lo is not None:
            r = xp.maximum(r, lo)
        if hi is not None:
            r = xp.minimum(r, hi)
        return r

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        need = ctx.needs_input_grad
        xd = _bw.data(x)
        lod = None if lo is None else _bw.data(lo)
        hid = None if hi is None else _bw.data(hi)
        gx = glo = ghi = None
        if need[0]:
            if lod is None:
                keep = xd <= hid
            elif hid is None:
                keep = xd >= lod
            else:
                keep = (xd >= lod) & (xd <= hid)
            gx = _bw.where(keep, g, 0.0)
        if need[1]:
            # the lower bound is the output where it is above x (and below max)
            m = xd < lod
            if hid is not None:
                m = m & (lod < hid)
            glo = _bw.where(m, g, 0.0)
        if need[2]:
            # the upper bound is the output where x is above it, or when min > max
            m = xd > hid
            if lod is not None:
                m = m | (hid < lod)
            ghi = _bw.where(m, g, 0.0)
        return gx, glo, ghi


def _is_num(v):
    return isinstance(v, (int, float, np.number, np.bool_))


class ClampMin(Clamp):
    _node_name = "ClampMinBackward0"


class ClampMax(Clamp):
    _node_name = "ClampMaxBackward0"


class ClampMinTensor(ClampTensor):
    _node_name = "ClampMinBackward1"


class ClampMaxTensor(ClampTensor):
    _node_name = "ClampMaxBackward1"


def clamp(input, min=None, max=None, *, out=None):
    """Limit input to [min, max]; bounds are numbers or tensors (broadcast), either
    may be None.  Where min > max the result is max.  The gradient passes where
    min <= input <= max, and to a tensor bound where it is the output."""
    if min is None and max is None:
        _check(input, "clamp")
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return _out(_clamp(input, min, max, Clamp, ClampTensor), out)


def _clamp(input, min, max, op, tensor_op):
    _check(input, "clamp")
    if isinstance(min, TensorBase) or isinstance(max, TensorBase):
        return _clamp_tensor(input, min, max, tensor_op)
    x = input
    lo, hi = min, max
    if not _isf(x._data.dtype) or type(lo) not in _PYNUM or type(hi) not in _PYNUM:
        # promote (an int tensor clamped to 0.5 is float) and turn the bounds
        # into plain numbers of the result dtype
        for name, v in (("min", min), ("max", max)):
            if v is not None and not _is_num(v):
                raise TypeError(f"clamp(): argument '{name}' must be Number or Tensor, "
                                f"not {type(v).__name__}")
        rt = D.result_type(x, *[v for v in (min, max) if v is not None])
        if rt.np != x._data.dtype:
            x = cast(x, rt)
        # (Python numbers; torch refuses a bound the dtype cannot hold)
        lo = None if min is None else rt.np.type(D.checked_scalar(min, rt.np)).item()  # host
        hi = None if max is None else rt.np.type(D.checked_scalar(max, rt.np)).item()  # host
    else:
        for v in (lo, hi):     # (beyond float16's range: torch checks the bound fits)
            if v is not None and not -65504.0 <= v <= 65504.0 and v == v:
                D.checked_scalar(v, x._data.dtype)
    return op.apply(x, lo, hi)


_PYNUM = (int, float, type(None))


def _clamp_tensor(input, min, max, op):
    rt = D.result_type(input, *[v for v in (min, max) if v is not None])

    def prep(v, name):
        if v is None:
            return None
        if not isinstance(v, TensorBase):
            if not _is_num(v):
                raise TypeError(f"clamp(): argument '{name}' must be Number or Tensor, "
                                f"not {type(v).__name__}")
            v = D.checked_scalar(v, rt.np)
            return _wrap(namespace(input._data).asarray(v, dtype=rt.np))  # (on input's device)
        return cast(v, rt)

    x, lo, hi = cast(input, rt), prep(min, "min"), prep(max, "max")
    try:
        return op.apply(x, lo, hi)
    except ValueError:
        shapes = [v._data.shape for v in (x, lo, hi) if v is not None]
        check_broadcast(shapes[0], shapes[1])
        if len(shapes) == 3:
            check_broadcast(np.broadcast_shapes(shapes[0], shapes[1]), shapes[2])  # host
        raise


clip = clamp


def clamp_min(input, min, *, out=None):
    """max(input, min): clamp with only a lower bound (number or tensor)."""
    return _out(_clamp(input, min, None, ClampMin, ClampMinTensor), out)


def clamp_max(input, max, *, out=None):
    """min(input, max): clamp with only an upper bound (number or tensor)."""
    return _out(_clamp(input, None, max, ClampMax, ClampMaxTensor), out)


# ---- elementwise maximum / minimum ---------------------------------------------------------

class _MinMax(Op):
    """Elementwise max/min of two tensors; the gradient goes to the chosen input.

    ``weights(a, b)`` gives the constant fractions of the gradient each input
    receives (ties: torch splits maximum/minimum half and half; fmax/fmin give
    it all to ``input``)."""
    fn = None

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.fn(a, b)

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        wa, wb = cls.weights(_bw.data(a), _bw.data(b), _bw.data(g).dtype)
        return (_masked(g, wa) if need[0] else None), (_masked(g, wb) if need[1] else None)


def _masked(g, w):
    """g * w, but exactly 0 where w is 0 even if g is inf or nan (torch masks
    the losing input's gradient rather than multiplying it by 0)."""
    r = g * w
    return r if w.all() else _bw.where(w == 0, 0.0, r)


def _split_weights(lose_a, lose_b, a, b, dt):
    # 1 where the input is the result, 1/2 at ties, 0 where it lost; a nan
    # (both lose nothing) sends the whole gradient to both, as torch
    half = (a == b).astype(dt) * 0.5
    return 1 - lose_a.astype(dt) - half, 1 - lose_b.astype(dt) - half


class Maximum(_MinMax):
    fn = staticmethod(_xp_function("maximum"))

    @staticmethod
    def weights(a, b, dt):
        return _split_weights(a < b, a > b, a, b, dt)


class Minimum(_MinMax):
    fn = staticmethod(_xp_function("minimum"))

    @staticmethod
    def weights(a, b, dt):
        return _split_weights(a > b, a < b, a, b, dt)


class Fmax(_MinMax):
    fn = staticmethod(_xp_function("fmax"))

    @staticmethod
    def weights(a, b, dt):
        wa = (a >= b) | namespace(b).isnan(b)
        return wa.astype(dt), (~wa).astype(dt)


class Fmin(_MinMax):
    fn = staticmethod(_xp_function("fmin"))

    @staticmethod
    def weights(a, b, dt):
        wa = (a <= b) | namespace(b).isnan(b)
        return wa.astype(dt), (~wa).astype(dt)


def _minmax(op, name, doc):
    def fn(input, other, *, out=None):
        _check(input, name)
        if not isinstance(other, TensorBase):
            raise _not_tensor(name, other, "other", 2)
        return _out(_binary(op, input, other), out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + "\n\nTwo tensors, broadcast; torch's type promotion (ints kept)."
    return fn


maximum = _minmax(Maximum, "maximum", "Elementwise maximum (nan if either is nan).")
minimum = _minmax(Minimum, "minimum", "Elementwise minimum (nan if either is nan).")
fmax = _minmax(Fmax, "fmax", "Elementwise maximum ignoring nan (nan only if both are).")
fmin = _minmax(Fmin, "fmin", "Elementwise minimum ignoring nan (nan only if both are).")


# ---- relu, nan_to_num ----------------------------------------------------------------------

class _Tie(Op):
    """Identity on ``r`` that also hangs off ``x`` with a zero derivative.

    A piecewise-linear activation's gradient g * mask no longer depends on x;
    torch still connects it to x (its second derivative is a tensor of zeros,
    not an error), and so does this node, used only under create_graph.
    """
    _ctx_fields = ("xshape",)
    _node_name = "ThresholdBackwardBackward0"

    @staticmethod
    def forward(ctx, r, x):
        if ctx.needs_input_grad:
            ctx.xshape = x.shape
        return r.copy()

    @staticmethod
    def backward(ctx, g):
        return g, _bw.zeros_like(g) if tuple(g.shape) == tuple(ctx.xshape) else None


def tie(r, x):
    """``r``, connected to ``x``'s graph on the recorded (Tensor) path."""
    if isinstance(r, TensorBase) and isinstance(x, TensorBase) and x.requires_grad:
        return _Tie.apply(r, x)
    return r


class Relu(Op):
    """max(x, 0): ``torch.relu``, ``Tensor.relu`` and ``F.relu`` alike."""
    _node_name = "ReluBackward0"

    @staticmethod
    def forward(ctx, x):
        out = kernels(x).relu(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        # zero where the output is <= 0; a nan output passes the gradient, as torch
        if not isinstance(g, TensorBase):
            return kernels(g).relu_backward(g, out)
        # (create_graph: the same mask as a constant, the product recorded)
        keep = ~(_bw.data(out) <= 0)
        return tie(g * keep.astype(_bw.data(g).dtype), out)


def relu(input):
    """max(input, 0); integer dtypes kept."""
    _check(input, "relu")
    if input._data.dtype.kind == "b":
        raise RuntimeError("Boolean inputs not supported for relu")
    return Relu.apply(input)


class NanToNum(Op):
    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        if x.dtype.kind != "f":
            return x.copy()
        return namespace(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        xd = _bw.data(x)
        return _bw.where(namespace(xd).isfinite(xd), g, 0.0), None, None, None


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """Replace nan by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (default:
    the dtype's largest/lowest finite value); the gradient is zero there."""
    _check(input, "nan_to_num")
    return _out(NanToNum.apply(input, nan, posinf, neginf), out)


# ---- other binary helpers --------------------------------------------------------------------

class Copysign(Op):
    @staticmethod
    def forward(ctx, a, b):
        out = namespace(a, b).copysign(a, b, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            # +-1: whether the sign flipped (0 where input is 0, as torch)
            ad, od = _bw.data(a), _bw.data(out)
            ratio = namespace(ad).where(ad == 0, 0.0, od / ad).astype(od.dtype, copy=False)
            ga = g * ratio
        if need[1]:
            gb = _bw.zeros_like(g)
        return ga, gb


def copysign(input, other, *, out=None):
    """|input| with the sign of ``other`` (a tensor or a number); ints -> default float."""
    _check(input, "copysign")
    a, b = promote(input, other)
    if D.result_type(a, b).category != D._FLOAT:
        fdt = D.get_default_dtype()
        a = cast(a, fdt)
        b = cast(b, fdt) if isinstance(b, TensorBase) else float(b)
    return _out(_binary(Copysign, a, b), out)


class Xlogy(Op):
    @staticmethod
    def forward(ctx, x, y):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, y)
        xp = namespace(x, y)
        out = x * xp.log(y)
        # 0 * log(y) is 0 (even for y = 0), unless y is nan
        zero = (x == 0) & ~xp.isnan(y)
        if zero.any():
            out = xp.where(zero, 0.0, out).astype(out.dtype, copy=False)
        return out

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = gy = None
        if need[0]:
            gx = g * _bw.log(y)
            xd, yd = _bw.data(x), _bw.data(y)
            m = (xd == 0) & (yd <= 0)
            if m.any():
                gx = _bw.where(m, 0.0, gx)
        if need[1]:
            gy = g * x / y
        return gx, gy


def xlogy(input, other, *, out=None):
    """input * log(other), 0 where input == 0 (unless other is nan).

    Either argument may be a number; broadcasts; ints -> default float."""
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        raise TypeError("xlogy(): at least one of 'input' and 'other' must be a Tensor")
    a, b = promote(input, other)
    rt = D.result_type(a, b)
    if rt.category != D._FLOAT:
        rt = D.get_default_dtype()
    # numbers become 0-d arrays of the result dtype (constants of the graph)
    xp = namespace((a if isinstance(a, TensorBase) else b)._data)   # (the tensor's device)
    a = cast(a, rt) if isinstance(a, TensorBase) else xp.asarray(a, dtype=rt.np)
    b = cast(b, rt) if isinstance(b, TensorBase) else xp.asarray(b, dtype=rt.np)
    return _out(_binary(Xlogy, a, b), out)


class Heaviside(Op):
    @staticmethod
    def forward(ctx, x, values):
        r = namespace(x).where(x == 0, values, x > 0)
        return r.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("derivative for aten::heaviside is not implemented")


def heaviside(input, values, *, out=None):
    """Step function: 0 below 0, ``values`` at 0, 1 above (same dtypes required)."""
    _check(input, "heaviside")
    if not isinstance(values, TensorBase):
        raise _not_tensor("heaviside", values, "values", 2)
    if input._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return _out(_binary(Heaviside, input, values), out)


# ---- wiring ----------------------------------------------------------------------------------

_FUNCTIONS = [
    "abs", "absolute", "sign", "sgn", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
    "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "arcsin", "acos", "arccos", "atan", "arctan",
    "sinh", "cosh", "tanh", "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh", "atan2",
    "arctan2", "sigmoid", "logit", "erf", "erfc", "erfinv", "reciprocal", "clamp", "clip",
    "clamp_min", "clamp_max", "floor", "ceil", "round", "trunc", "fix", "frac", "maximum",
    "minimum", "fmax", "fmin", "nan_to_num", "hypot", "deg2rad", "rad2deg", "xlogy", "copysign",
    "heaviside", "relu", "logaddexp", "logaddexp2", "addcmul", "addcdiv",
]

# torch also has these in-place variants as functions: torch.relu_(x), torch.exp_(x) ...
_INPLACE_FUNCTIONS = [
    "abs", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin",
    "cos", "tan", "asin", "arcsin", "acos", "arccos", "atan", "arctan", "sinh", "cosh", "tanh",
    "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh", "sigmoid", "logit", "erf",
    "erfc", "reciprocal", "clamp", "clip", "clamp_min", "clamp_max", "floor", "ceil", "round",
    "trunc", "fix", "frac", "nan_to_num", "deg2rad", "rad2deg", "xlogy", "relu",
]


def _inplace_function(name):
    method = name + "_"

    def fn(input, *args, **kwargs):
        return getattr(input, method)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = method
    fn.__doc__ = f"In-place :func:`{name}` (same as ``input.{method}(...)``)."
    return fn


for _n in _INPLACE_FUNCTIONS:
    globals()[_n + "_"] = _inplace_function(_n)
del _n

__all__ = _FUNCTIONS + [n + "_" for n in _INPLACE_FUNCTIONS]

