"""Elementwise arithmetic: + - * / // % **, comparisons, logic, casts.

Each op is an ``Op`` with a NumPy forward and a backward written once for
arrays and Tensors (see ``_bw``).  Broadcasting is NumPy's; the engine sums
each gradient back to its input's shape, so backwards here don't.
Public wrappers take care of torch's type promotion before the Op runs.
"""
import math as _math
import operator as _operator

import numpy as np

from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap
from ..autograd.function import Op
from ..backends import namespace, kernels, is_array, quiet
from ..backends.generic.elementwise import LARGE as _LARGE
from . import _bw
from ._util import promote, check_broadcast, as_tensor_arg, ensure_tensor, cast
from .._bfloat16 import is_float as _isf


def _binary(op, a, b):
    """Run binary ``op`` on promoted operands, turning NumPy's broadcast
    ValueError into torch's RuntimeError naming both sizes."""
    a, b = promote(a, b)
    if type(b) is int and isinstance(a, TensorBase):
        b = _wrap_int(b, a)
    elif type(a) is int and isinstance(b, TensorBase):
        a = _wrap_int(a, b)
    try:
        return op.apply(a, b)
    except ValueError:
        check_broadcast(_shape(a), _shape(b))
        raise


def _wrap_int(v, t):
    """A Python int operand of tensor ``t``: torch converts it to an integer tensor's
    dtype with two's-complement wrapping (``int8_tensor + 200`` adds -56), where NumPy
    would raise OverflowError."""
    dt = t._data.dtype
    if dt.kind in "iu" and not 0 <= v <= 127:
        return D.wrap_int(v, dt)
    return v


def _shape(x):
    """The shape of a Tensor, an array or a number (``()``)."""
    return getattr(_raw(x), "shape", ())


def _xp_function(name):
    """``f(*arrays)`` calling NumPy's function ``name`` as the first array's
    backend has it (``xp.<name>``): for ops that store their function."""
    def f(*args):
        return getattr(namespace(*args), name)(*args)
    f.__name__ = name
    return f


# ---- casting ------------------------------------------------------------------------

class Cast(Op):
    _node_name = "ToCopyBackward0"
    _bf16_native = True     # (ml_dtypes' astype rounds to nearest even, as torch's cast)

    @staticmethod
    def forward(ctx, x, np_dtype):
        if x.dtype.kind == "c" and np_dtype.kind != "c":
            # complex -> real keeps the real part, with torch's warning (NumPy's
            # ComplexWarning would name NumPy)
            import warnings
            warnings.warn("Casting complex values to real discards the imaginary part",
                          UserWarning, stacklevel=2)
            x = x.real
        return x.astype(np_dtype)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine casts back to the input's dtype


def _cast(t, dt):
    out = Cast.apply(t, dt.np)
    if dt.category < D._FLOAT and out.requires_grad:
        out.requires_grad = False
        out.grad_fn = None
    return out


# ---- arithmetic -----------------------------------------------------------------------

class Add(Op):
    _bf16_scalars = True

    @staticmethod
    def forward(ctx, a, b):
        if getattr(a, "size", 0) >= _LARGE:
            return kernels(a, b).add(a, b)    # (a residual sum: the CPU splits it over threads)
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Op):
    _bf16_scalars = True

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        # Save only what the needed gradients use, so an in-place change to an
        # operand whose gradient isn't needed is not reported (torch's rule).
        need = ctx.needs_input_grad
        if need:
            ctx.save_for_backward(a if need[1] else None, b if need[0] else None)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        # (conj: torch's convention for complex operands; free on real ones)
        return (g * _bw.conj(b) if need[0] else None), (g * _bw.conj(a) if need[1] else None)


class Div(Op):
    @staticmethod
    def forward(ctx, a, b):
        need = ctx.needs_input_grad
        if need:
            ctx.save_for_backward(a if need[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = g / _bw.conj(b) if need[0] else None
        gb = -g * _bw.conj(a / (b * b)) if need[1] else None
        return ga, gb


class Neg(Op):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class PowScalar(Op):
    """x ** p for a Python-number exponent (the common case: x ** 2)."""
    _ctx_fields = ("p",)
    _node_name = "PowBackward0"

    @staticmethod
    def forward(ctx, x, p):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.p = p
        if p == 2:
            return x * x
        return x ** p

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        p = ctx.p
        if p == 0:      # torch: zeros, even where g is NaN or inf
            return _bw.zeros_like(g)
        if p == 2:
            return g * 2 * _bw.conj(x)
        if p == 1:
            return g
        return g * _bw.conj(p * x ** (p - 1))


class Pow(Op):
    """a ** b with a tensor exponent."""
    _node_name = "PowBackward1"

    @staticmethod
    def forward(ctx, a, b):
        if a.dtype.kind in "iu":
            out = _int_pow(a, b)
        else:
            out = namespace(a).power(a, b, out=...)  # an array even for 0-d (saved below)
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            ga = g * _bw.conj(b * a ** (b - 1))
            # torch: no gradient where the exponent is 0 (even at a == 0, even for a NaN g)
            bzero = _bw.data(b) == 0
            if bzero.any():
                ga = _bw.where(bzero, 0.0, ga)
        if need[1]:
            # (here torch masks the local derivative, then multiplies by g: a NaN
            # arriving in g still shows where the derivative is masked)
            # d/db a**b = a**b * log(a); torch defines it as 0 where a == 0 and b >= 0
            # (and -inf * ... where a == 0 and b < 0)
            ad = _bw.data(a)
            db = out * _bw.log(a)
            zero = (ad == 0) & (_bw.data(b) >= 0)
            if zero.any():
                db = _bw.where(zero, 0.0, db)
            gb = g * _bw.conj(db)
        return ga, gb


def _int_pow(a, b):
    """Integer a ** b where b may be negative (NumPy refuses): as torch,
    1 ** -n = 1, (-1) ** -n = +-1 and anything else ** -n = 0."""
    xp = namespace(a, b)
    neg = xp.asarray(b < 0)
    if not neg.any():
        return xp.power(a, b, out=...)
    out = xp.power(a, xp.where(neg, 0, b))
    odd = (b % 2) != 0
    special = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0))
    return xp.where(neg, special, out).astype(out.dtype, copy=False)


class ScalarPowTensor(Op):
    """c ** x for a Python-number base."""
    _ctx_fields = ("logc",)
    _node_name = "PowBackward2"

    @staticmethod
    def forward(ctx, c, x):
        xp = namespace(x)
        if x.dtype.kind in "iu":
            out = _int_pow(xp.asarray(c), x)   # (the base on x's device)
        else:
            out = xp.power(c, x, out=...)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out, x)
        c = float(c)
        if ctx.needs_input_grad:
            ctx.logc = _math.log(c) if c > 0 else (-_math.inf if c == 0 else _math.nan)
        return out

    @staticmethod
    def backward(ctx, g):
        out, x = ctx.saved_tensors
        dx = out * ctx.logc
        if ctx.logc == -_math.inf:
            # 0 ** x: torch's derivative is 0 where x >= 0 (0 * -inf otherwise);
            # masked before multiplying by g, so a NaN g still propagates, as torch
            dx = _bw.where(_bw.data(x) >= 0, 0.0, dx)
        return None, g * _bw.conj(dx)


class FloorDivide(Op):
    _nondiff = True

    @staticmethod
    def forward(ctx, a, b):
        if _is_int(a) and _is_int(b) and _any_zero(b):
            raise RuntimeError("ZeroDivisionError")
        return namespace(a, b).floor_divide(a, b)


class Remainder(Op):
    @staticmethod
    def forward(ctx, a, b):
        if _is_int(a) and _is_int(b) and _any_zero(b):
            raise RuntimeError("ZeroDivisionError")
        if ctx.needs_input_grad and ctx.needs_input_grad[1]:  # (only other's gradient needs them, as torch)
            ctx.save_for_backward(a, b)
        return namespace(a, b).remainder(a, b)

    @staticmethod
    def backward(ctx, g):
        # a - b * floor(a / b): the quotient is piecewise constant
        need = ctx.needs_input_grad
        gb = None
        if need[1]:
            a, b = ctx.saved_tensors
            a, b = _raw(a), _raw(b)
            gb = -g * namespace(a, b).floor_divide(a, b)
        return (g if need[0] else None), gb


class Fmod(Op):
    @staticmethod
    def forward(ctx, a, b):
        if _is_int(a) and _is_int(b) and _any_zero(b):
            raise RuntimeError("ZeroDivisionError")
        if ctx.needs_input_grad and ctx.needs_input_grad[1]:
            ctx.save_for_backward(a, b)
        return namespace(a, b).fmod(a, b)

    @staticmethod
    def backward(ctx, g):
        # a - b * trunc(a / b)
        need = ctx.needs_input_grad
        gb = None
        if need[1]:
            a, b = ctx.saved_tensors
            q = _raw(a) / _raw(b)
            gb = -g * namespace(q).trunc(q)
        return (g if need[0] else None), gb


def _raw(x):
    """The ndarray of a Tensor; arrays and Python numbers as they are."""
    return x._data if isinstance(x, TensorBase) else x


def _is_bool(x):
    return x._data.dtype == np.bool_ if isinstance(x, TensorBase) else type(x) is bool


def _refuse_bool(a, b, kernel):
    """torch has no integer-division kernels for bool: NotImplementedError."""
    if _is_bool(a) and _is_bool(b):
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _is_int(x):
    """Whether an array or number is of an integer or bool type."""
    dt = getattr(x, "dtype", None)
    return dt.kind in "iub" if dt is not None else isinstance(x, int)   # (bool is an int)


def _any_zero(b):
    """Whether the divisor ``b`` (an array or a number) is 0 anywhere."""
    z = b == 0
    return bool(z.any()) if hasattr(z, "any") else z


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other, with torch's type promotion."""
    if alpha != 1:
        want = D.result_type(as_tensor_arg(input, "input"), as_tensor_arg(other))
        r = _binary(Add, input, _scale(input, other, alpha))
        if r.dtype != want:  # alpha, a number, doesn't promote (bool + 2 * bool is bool)
            r = cast(r, want)
        return _out(r, out)
    return _out(_binary(Add, input, other), out)


def _scale(input, other, alpha):
    """alpha * other, refusing a float alpha for integer operands (as torch)."""
    rt = D.result_type(as_tensor_arg(input, "input"), as_tensor_arg(other))
    if isinstance(alpha, float) and rt.category < D._FLOAT:
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating "
                           "point number.")
    D.checked_scalar(alpha, rt.np)     # (torch refuses alpha=200 for int8)
    return mul(other, alpha) if isinstance(other, TensorBase) else other * alpha


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other, with torch's type promotion (bools are refused)."""
    ba, bb = _is_bool(input), _is_bool(other)
    if ba or bb:
        if ba and bb:
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                               "supported. Use the `^` or `logical_xor()` operator instead.")
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    if alpha != 1:
        other = _scale(input, other, alpha)
    return _out(_binary(Sub, input, other), out)


subtract = sub


def mul(input, other, *, out=None):
    return _out(_binary(Mul, input, other), out)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """True division (ints give the default float), or 'trunc'/'floor' rounding."""
    if rounding_mode is None:
        a, b = promote(input, other)
        rt = D.result_type(a, b)
        if rt.category < D._FLOAT:
            fdt = D.get_default_dtype()
            a = cast(a, fdt) if isinstance(a, TensorBase) else float(a)
            b = cast(b, fdt) if isinstance(b, TensorBase) else float(b)
        return _out(_binary(Div, a, b), out)
    if rounding_mode == "floor" or rounding_mode == "trunc":
        a, b = promote(input, other)
        _refuse_bool(a, b, "div_" + rounding_mode + "_cpu")
        op = DivFloor if rounding_mode == "floor" else DivTrunc
        return _out(_binary(op, a, b), out)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                       f"but found '{rounding_mode}'")


divide = true_divide = div


class DivFloor(Op):
    """Division rounded down (Python's //); the gradient is zero, as torch."""
    _node_name = "DivBackward2"

    @staticmethod
    def forward(ctx, a, b):
        return FloorDivide.forward(ctx, a, b)

    @staticmethod
    def backward(ctx, g):
        z = _bw.zeros_like(g)
        return z, z


class DivTrunc(DivFloor):
    """Division rounded toward zero; the gradient is zero, as torch."""
    _node_name = "DivBackward2"

    @staticmethod
    def forward(ctx, a, b):
        xp = namespace(a, b)
        if _is_int(a) and _is_int(b):
            if _any_zero(b):
                raise RuntimeError("ZeroDivisionError")
            q = xp.floor_divide(a, b)
            # floor and trunc differ where the division is inexact and the signs differ
            fix = (xp.remainder(a, b) != 0) & ((xp.asarray(a) < 0) != (xp.asarray(b) < 0))
            return xp.where(fix, q + 1, q).astype(q.dtype, copy=False)
        return xp.trunc(xp.true_divide(a, b))


def floor_divide(input, other, *, out=None):
    """input // other (rounded down, as Python); ints stay ints.  Not differentiable."""
    a, b = promote(input, other)
    _refuse_bool(a, b, "div_floor_cpu")
    return _out(_binary(FloorDivide, a, b), out)


def remainder(input, other, *, out=None):
    """Python's modulus: the result has the sign of ``other``."""
    a, b = promote(input, other)
    _refuse_bool(a, b, "remainder_cpu")
    return _out(_binary(Remainder, a, b), out)


def fmod(input, other, *, out=None):
    """C's fmod: the result has the sign of ``input``."""
    a, b = promote(input, other)
    _refuse_bool(a, b, "fmod_cpu")
    return _out(_binary(Fmod, a, b), out)


def neg(input, *, out=None):
    if input._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or "
                           "`logical_not()` operator instead.")
    return _out(Neg.apply(input), out)


negative = neg


def pow(input, exponent, *, out=None):
    """input ** exponent; either may be a Python number (not both).

    An integer tensor to a negative *number* is refused (as torch); to a
    tensor of negative exponents it gives 0, except for bases 1 and -1."""
    if not isinstance(input, TensorBase):
        if not is_array(input):
            # scalar base, tensor exponent
            e = ensure_tensor(exponent, "exponent")
            base = as_tensor_arg(input, "self")
            rt = D.result_type(base, e)
            e = cast(e, rt)
            if type(base) is int:
                base = _wrap_int(base, e)     # (torch wraps an int base into e's dtype)
            return _out(ScalarPowTensor.apply(rt.np.type(base), e), out)  # host (a scalar)
        input = _wrap(input)
    exponent = as_tensor_arg(exponent, "exponent")
    if not isinstance(exponent, TensorBase):
        kind = input._data.dtype.kind
        if kind not in "fc" and not _isf(input._data.dtype):
            if isinstance(exponent, float):
                input = cast(input, D.get_default_dtype())
            else:
                if exponent < -(1 << 63):
                    D.wrap_int(exponent, input._data.dtype)   # (torch's OverflowError)
                if exponent < 0:
                    raise RuntimeError("Integers to negative integer powers are not allowed.")
                if kind != "b":
                    # torch reads the exponent as int64, then refuses what the dtype can't hold
                    D.checked_scalar(exponent, D.int64.np if exponent >= 1 << 63 else
                                     input._data.dtype)
                if kind == "b" and type(exponent) is not bool:
                    input = cast(input, D.int64)  # bool ** 2 is int64, as torch
        elif input._data.dtype == np.float16 and abs(exponent) > 65504.0:
            D.checked_scalar(exponent, input._data.dtype)   # (torch checks a float16's exponent)
        return _out(PowScalar.apply(input, exponent), out)
    a, b = promote(input, exponent)
    if _is_bool(a) and _is_bool(b):
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    return _out(_binary(Pow, a, b), out)


float_power = None  # defined below once casts exist


def _float_power(input, exponent, *, out=None):
    a = cast(input, D.float64) if isinstance(input, TensorBase) else float(input)
    b = cast(exponent, D.float64) if isinstance(exponent, TensorBase) else float(exponent)
    return pow(a, b, out=out)


float_power = _float_power


def square(input, *, out=None):
    if input._data.dtype == np.bool_:
        input = cast(input, D.int64)
    return _out(PowScalar.apply(input, 2), out)


def _out(result, out):
    """Honour torch's ``out=`` argument by copying into it."""
    if out is None:
        return result
    if not isinstance(out, TensorBase):
        raise TypeError(f"out must be a Tensor, not {type(out).__name__}")
    xp = namespace(out._data)
    if out._data.shape != result._data.shape:
        out._data = xp.empty(result._data.shape, dtype=out._data.dtype)
    xp.copyto(out._data, result._data, casting="unsafe")
    out._vc[0] += 1
    return out


# ---- comparisons and logic (never differentiable) ------------------------------------

class _Compare(Op):
    _nondiff = True
    fn = None

    @classmethod
    def forward(cls, ctx, a, b):
        return cls.fn(a, b)


def _cmp_class(name, fn):
    return type(name, (_Compare,), {"fn": staticmethod(fn), "forward": classmethod(_Compare.forward.__func__)})


# Comparisons and bitwise ops are the arrays' operators (the same ufuncs,
# without a namespace lookup); the logical ones have no operator.
_EQ = _cmp_class("Eq", _operator.eq)
_NE = _cmp_class("Ne", _operator.ne)
_LT = _cmp_class("Lt", _operator.lt)
_LE = _cmp_class("Le", _operator.le)
_GT = _cmp_class("Gt", _operator.gt)
_GE = _cmp_class("Ge", _operator.ge)
_LAND = _cmp_class("LogicalAnd", _xp_function("logical_and"))
_LOR = _cmp_class("LogicalOr", _xp_function("logical_or"))
_LXOR = _cmp_class("LogicalXor", _xp_function("logical_xor"))
_BAND = _cmp_class("BitwiseAnd", _operator.and_)
_BOR = _cmp_class("BitwiseOr", _operator.or_)
_BXOR = _cmp_class("BitwiseXor", _operator.xor)
_LSHIFT = _cmp_class("LeftShift", _operator.lshift)
_RSHIFT = _cmp_class("RightShift", _operator.rshift)


def _compare(cls):
    def f(input, other, *, out=None):
        return _out(_binary(cls, input, other), out)
    return f


def _ordered_compare(cls, kernel):
    """A comparison by order: refused for complex operands, as torch (NumPy would
    order complex numbers by their real parts first)."""
    def f(input, other, *, out=None):
        if type(other) is complex or type(input) is complex or (
                isinstance(input, TensorBase) and input._data.dtype.kind == "c") or (
                isinstance(other, TensorBase) and other._data.dtype.kind == "c"):
            rt = D.result_type(as_tensor_arg(input, "input"), as_tensor_arg(other))
            raise NotImplementedError(f"\"{kernel}_cpu\" not implemented for '{rt.scalar_name}'")
        return _out(_binary(cls, input, other), out)
    return f


eq = _compare(_EQ)
ne = not_equal = _compare(_NE)
lt = less = _ordered_compare(_LT, "lt")
le = less_equal = _ordered_compare(_LE, "le")
gt = greater = _ordered_compare(_GT, "gt")
ge = greater_equal = _ordered_compare(_GE, "ge")
logical_and = _compare(_LAND)
logical_or = _compare(_LOR)
logical_xor = _compare(_LXOR)


def _bitwise(cls, opname):
    def f(input, other, *, out=None):
        a, b = promote(input, other)
        ad, bd = _raw(a), _raw(b)
        if namespace(ad, bd).result_type(ad, bd).kind == "f":
            raise NotImplementedError(f"\"{opname}_cpu\" not implemented for 'Float'")
        return _out(_binary(cls, a, b), out)
    return f


bitwise_and = _bitwise(_BAND, "bitwise_and")
bitwise_or = _bitwise(_BOR, "bitwise_or")
bitwise_xor = _bitwise(_BXOR, "bitwise_xor")
bitwise_left_shift = _bitwise(_LSHIFT, "lshift")
bitwise_right_shift = _bitwise(_RSHIFT, "rshift")


class _Unary0(Op):
    _nondiff = True
    fn = None

    @classmethod
    def forward(cls, ctx, x):
        return cls.fn(x)


def _nondiff_unary(name, fn):
    cls = type(name, (_Unary0,), {"fn": staticmethod(fn)})

    def f(input, *, out=None):
        return _out(cls.apply(ensure_tensor(input)), out)
    f.__name__ = name
    return f


logical_not = _nondiff_unary("logical_not", _xp_function("logical_not"))
isnan = _nondiff_unary("isnan", _xp_function("isnan"))
isinf = _nondiff_unary("isinf", _xp_function("isinf"))
isfinite = _nondiff_unary("isfinite", _xp_function("isfinite"))
isposinf = _nondiff_unary("isposinf", _xp_function("isposinf"))
isneginf = _nondiff_unary("isneginf", _xp_function("isneginf"))
signbit = _nondiff_unary("signbit", _xp_function("signbit"))


def bitwise_not(input, *, out=None):
    if _isf(input._data.dtype):
        raise NotImplementedError("\"bitwise_not_cpu\" not implemented for 'Float'")
    return _out(_BitwiseNot.apply(input), out)


class _BitwiseNot(_Unary0):
    fn = staticmethod(_operator.invert)   # (~x)


def equal(input, other):
    """True when both tensors have the same shape and elements."""
    for i, (name, t) in enumerate((("input", input), ("other", other))):
        if not isinstance(t, TensorBase):
            raise TypeError(f"equal(): argument '{name}' (position {i + 1}) must be Tensor, not "
                            f"{type(t).__name__}")
    a, b = input._data, other._data
    return a.shape == b.shape and bool(namespace(a).array_equal(a, b))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |input - other| <= atol + rtol * |other| (bool; broadcasts);
    NaNs count as close to each other when ``equal_nan``."""
    for i, (name, t) in enumerate((("input", input), ("other", other))):
        if not isinstance(t, TensorBase):
            raise TypeError(f"isclose(): argument '{name}' (position {i + 1}) must be Tensor, not "
                            f"{type(t).__name__}")
    a, b = input._data, other._data
    if a.dtype != b.dtype:
        raise RuntimeError(f"{TORCH_TYPE_NAME.get(a.dtype.name, a.dtype)} did not match "
                           f"{TORCH_TYPE_NAME.get(b.dtype.name, b.dtype)}")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose(): rtol and atol must be non-negative, got rtol={rtol}, "
                           f"atol={atol}")
    check_broadcast(a.shape, b.shape)
    xp = namespace(a)
    return _wrap(xp.asarray(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element pair is close (see isclose)."""
    for i, (name, t) in enumerate((("input", input), ("other", other))):
        if not isinstance(t, TensorBase):
            raise TypeError(f"allclose(): argument '{name}' (position {i + 1}) must be Tensor, "
                            f"not {type(t).__name__}")
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def _np_sigmoid(x):
    """1 / (1 + exp(-x)) of an array, in its dtype, stable for any |x|: its
    backend's ``expit`` kernel."""
    return kernels(x).expit(x)


# ---- where / lerp ----------------------------------------------------------------------

class Where(Op):
    @staticmethod
    def forward(ctx, cond, a, b):
        if ctx.needs_input_grad:
            ctx.save_for_backward(cond)
        return namespace(cond).where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        cond, = ctx.saved_tensors
        c = _bw.data(cond)
        need = ctx.needs_input_grad
        ga = _bw.where(c, g, 0.0) if need[1] else None
        gb = _bw.where(c, 0.0, g) if need[2] else None
        return None, ga, gb


def where(condition, input=None, other=None, *, out=None):
    """Pick from input where condition, else other; ``where(cond)`` is nonzero."""
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    condition = ensure_tensor(condition, "condition")
    if condition._data.dtype != np.bool_:
        if condition._data.dtype != np.uint8:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a "
                               f"tensor with dtype {TORCH_TYPE_NAME[condition._data.dtype.name]}")
        condition = cast(condition, D.bool)  # uint8 masks: deprecated in torch, still allowed
    a, b = promote(input, other)
    xp = namespace(condition._data)     # (numbers become arrays on the condition's device)
    if not isinstance(a, TensorBase):
        dt = D.result_type(a, b).np     # (a number becomes a one-element tensor, checked)
        a = _wrap(xp.asarray(D.checked_fill(a, dt, 1), dtype=dt))
    if not isinstance(b, TensorBase):
        b = _wrap(xp.asarray(D.checked_fill(b, a._data.dtype, 1), dtype=a._data.dtype))
    try:
        return _out(Where.apply(condition, a, b), out)
    except ValueError:
        s = np.broadcast_shapes(a._data.shape, b._data.shape)  # host
        check_broadcast(condition._data.shape, s)
        raise



# torch's names for dtypes in error messages ("not implemented for 'Long'")
TORCH_TYPE_NAME = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
                   "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte",
                   "bool": "Bool", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _lerp_np(a, b, w):
    # torch's two-sided formula: exact at w == 0 and at w == 1
    d = b - a
    if type(w) is float or type(w) is int:
        return a + w * d if abs(w) < 0.5 else b - d * (1 - w)
    xp = namespace(w)
    return xp.where(xp.abs(w) < 0.5, a + w * d, b - d * (1 - w))


class Lerp(Op):
    """input + weight * (end - input) for a number weight."""
    _ctx_fields = ("w",)
    _node_name = "LerpBackward0"

    @staticmethod
    def forward(ctx, a, b, w):
        if ctx.needs_input_grad:
            ctx.w = w
        return _lerp_np(a, b, w)

    @staticmethod
    def backward(ctx, g):
        w = ctx.w
        need = ctx.needs_input_grad
        return (g * (1 - w) if need[0] else None), (g * w if need[1] else None), None


class LerpTensor(Op):
    """input + weight * (end - input) for a tensor weight (all three broadcast)."""
    _node_name = "LerpBackward1"

    @staticmethod
    def forward(ctx, a, b, w):
        need = ctx.needs_input_grad
        if need:
            # (as torch: the ends only for the weight's gradient)
            ctx.save_for_backward(a if need[2] else None, b if need[2] else None,
                                  w if need[0] or need[1] else None)
        return _lerp_np(a, b, w)

    @staticmethod
    def backward(ctx, g):
        a, b, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        return ((g * (1 - w) if need[0] else None), (g * w if need[1] else None),
                (g * (b - a) if need[2] else None))


def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input); ``weight`` is a number or a tensor.

    input and end must share a floating dtype (a tensor weight too, unless
    0-d); all broadcast together."""
    for i, (name, v) in enumerate((("input", input), ("end", end))):
        if not isinstance(v, TensorBase):
            raise TypeError(f"lerp(): argument '{name}' (position {i + 1}) must be Tensor, not "
                            f"{type(v).__name__}")
    dt = input._data.dtype
    wt = isinstance(weight, TensorBase)
    if not _isf(dt):
        kernel = "lerp_kernel_tensor" if wt else "lerp_kernel_scalar"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{TORCH_TYPE_NAME[dt.name]}'")
    if end._data.dtype != dt:
        raise RuntimeError(f"expected dtype {_c10_name(dt)} for `end` but got dtype "
                           f"{_c10_name(end._data.dtype)}")
    if wt:
        if weight._data.dtype != dt:
            if weight._data.ndim:
                raise RuntimeError(f"expected dtype {_c10_name(dt)} for `weight` but got dtype "
                                   f"{_c10_name(weight._data.dtype)}")
            weight = cast(weight, D._FROM_NP[dt])
        op = LerpTensor
    else:
        weight = float(weight)
        op = Lerp
    try:
        return _out(op.apply(input, end, weight), out)
    except ValueError:
        shapes = [input._data.shape, end._data.shape] + ([weight._data.shape] if wt else [])
        check_broadcast(shapes[0], shapes[1])
        if wt:
            check_broadcast(np.broadcast_shapes(shapes[0], shapes[1]), shapes[2])  # host
        raise


def _c10_name(np_dtype):
    return {"float32": "float", "float64": "double", "float16": "c10::Half"}.get(
        np_dtype.name, np_dtype.name)





# ---- fast paths for Python's operators ------------------------------------------------
# ``a * b`` on two float tensors of one dtype (or a float tensor and a Python
# number) is the most frequent call in any model; these skip the promotion
# machinery and go straight to the Op.  Anything else takes the general path.

from ..autograd.function import (_record_raw, _record_binary, _NULL_CTX,  # noqa: E402
                                 check_same_device, cpu_scalars_moved)
from ..autograd.grad_mode import state as _gm  # noqa: E402

_NOKW = {}

# True while ember.onnx.export records a forward (ember/onnx/_tracer.py sets it):
# the fast paths then step aside so the recorder sees the op (a plain global: the
# cheapest check on the no-grad path).
_TRACING = False


def _fast_binary(cls, general, reflected=False):
    def op(a, b):
        ad = a._data
        tb = type(b)
        if isinstance(b, TensorBase):
            if ad.dtype is b._data.dtype and ad.dtype.kind == "f":
                x, y = (b, a) if reflected else (a, b)
                if _gm.enabled and (a.requires_grad or b.requires_grad):
                    try:
                        return _record_binary(cls, x, y)   # (quiet() and device check inside)
                    except ValueError:
                        pass  # shapes don't broadcast: the general path words the error
                elif not _TRACING:   # (ONNX export traces the general path)
                    quiet()          # (inf/nan silent, as torch's)
                    try:
                        return _wrap(cls.forward(_NULL_CTX, x._data, y._data))
                    except ValueError:
                        pass
                    except Exception:
                        if cpu_scalars_moved((a, b)) is None:   # (else: the general path)
                            check_same_device((a, b))   # (tensors on two devices: torch's error)
                            raise
        elif (tb is float or tb is int) and ad.dtype.kind == "f":
            x, y = (b, a) if reflected else (a, b)
            if _gm.enabled and a.requires_grad:
                return _record_raw(cls, (x, y), _NOKW)
            if not _TRACING:
                quiet()
                return _wrap(cls.forward(_NULL_CTX, b if reflected else ad, ad if reflected else b))
        if not (isinstance(b, _OPERAND) or is_array(b)):
            return NotImplemented  # Python then raises its TypeError
        return general(b, a) if reflected else general(a, b)
    op.__name__ = general.__name__
    return op


_OPERAND = (TensorBase, int, float, bool, complex, np.ndarray, np.generic)


fast_add = _fast_binary(Add, add)
fast_sub = _fast_binary(Sub, sub)
fast_rsub = _fast_binary(Sub, sub, reflected=True)
fast_mul = _fast_binary(Mul, mul)
fast_div = _fast_binary(Div, div)
_fast_rdiv = _fast_binary(Div, div, reflected=True)


def fast_rdiv(a, b):
    """``c / x``.  For a recorded x and a Python number c this is
    reciprocal(x) * c, as torch's operator: it saves 1/x rather than x, so x
    may be changed in place afterwards."""
    tb = type(b)
    if (tb is float or tb is int) and _gm.enabled and a.requires_grad:
        from .math import reciprocal
        r = reciprocal(a)
        return r if b == 1 else r * b
    return _fast_rdiv(a, b)
