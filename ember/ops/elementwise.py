"""Elementwise arithmetic: + - * / // % **, comparisons, logic, casts.

Each op is an ``Op`` with a NumPy forward and a backward written once for
arrays and Tensors (see ``_bw``).  Broadcasting is NumPy's; the engine sums
each gradient back to its input's shape, so backwards here don't.
Public wrappers take care of torch's type promotion before the Op runs.
"""
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap
from ..autograd.function import Op
from . import _bw
from ._util import promote, check_broadcast, as_tensor_arg, ensure_tensor, cast

_nd = np.ndarray


def _binary(op, a, b):
    """Run binary ``op`` on promoted operands, turning NumPy's broadcast
    ValueError into torch's RuntimeError naming both sizes."""
    a, b = promote(a, b)
    try:
        return op.apply(a, b)
    except ValueError:
        check_broadcast(np.shape(a._data if isinstance(a, Tensor) else a),
                        np.shape(b._data if isinstance(b, Tensor) else b))
        raise


# ---- casting ------------------------------------------------------------------------

class Cast(Op):
    _node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, np_dtype):
        return x.astype(np_dtype)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine casts back to the input's dtype


def _cast(t, dt):
    out = Cast.apply(t, dt.np)
    if dt.category != D._FLOAT and out.requires_grad:
        out.requires_grad = False
        out.grad_fn = None
    return out


# ---- arithmetic -----------------------------------------------------------------------

class Add(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        return (g * b if need[0] else None), (g * a if need[1] else None)


class Div(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = g / b if need[0] else None
        gb = -g * a / (b * b) if need[1] else None
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
    _node_name = "PowBackward0"

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        if p == 2:
            return x * x
        return x ** p

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return g * 0
        if p == 2:
            return g * 2 * x
        if p == 1:
            return g
        return g * p * x ** (p - 1)


class Pow(Op):
    """a ** b with a tensor exponent."""
    _node_name = "PowBackward1"

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            ga = g * b * a ** (b - 1)
        if need[1]:
            # d/db a**b = a**b * log(a); torch defines it as 0 where a == 0 and b >= 0
            ad = _bw.data(a)
            safe = np.where(ad == 0, 1, ad) if type(a) is _nd else a
            logs = _bw.log(safe) if type(a) is _nd else _bw.log(a)
            gb = g * out * logs
            zero = (ad == 0) & (_bw.data(b) >= 0)
            if zero.any():
                gb = _bw.where(zero, 0.0, gb)
        return ga, gb


class ScalarPowTensor(Op):
    """c ** x for a Python-number base."""
    _node_name = "PowBackward2"

    @staticmethod
    def forward(ctx, c, x):
        out = np.power(c, x)
        if type(out) is not _nd:
            out = np.asarray(out)
        ctx.save_for_backward(out)
        ctx.logc = np.log(c) if c > 0 else (-np.inf if c == 0 else np.nan)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return None, g * out * ctx.logc


class FloorDivide(Op):
    _nondiff = True

    @staticmethod
    def forward(ctx, a, b):
        if _is_int(a) and _is_int(b) and np.any(np.asarray(b) == 0):
            raise RuntimeError("ZeroDivisionError")
        return np.floor_divide(a, b)


class Remainder(Op):
    @staticmethod
    def forward(ctx, a, b):
        if _is_int(a) and _is_int(b) and np.any(np.asarray(b) == 0):
            raise RuntimeError("ZeroDivisionError")
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        q = np.floor_divide(_bw.data(a), _bw.data(b))
        return g, -g * q


class Fmod(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.fmod(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        q = np.trunc(_bw.data(a) / _bw.data(b))
        return g, -g * q


def _is_int(x):
    return np.asarray(x).dtype.kind in "iub"


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other, with torch's type promotion."""
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return _out(_binary(Add, input, other), out)


def sub(input, other, *, alpha=1, out=None):
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    a, b = promote(input, other)
    if _dtype_of(a) is np.bool_ and _dtype_of(b) is np.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    return _out(_binary(Sub, a, b), out)


subtract = sub


def _dtype_of(x):
    if isinstance(x, Tensor):
        return x._data.dtype.type
    return type(x)


def mul(input, other, *, out=None):
    return _out(_binary(Mul, input, other), out)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """True division (ints give the default float), or 'trunc'/'floor' rounding."""
    if rounding_mode is None:
        a, b = promote(input, other)
        rt = D.result_type(a, b)
        if rt.category != D._FLOAT:
            fdt = D.get_default_dtype()
            a = cast(a, fdt) if isinstance(a, Tensor) else float(a)
            b = cast(b, fdt) if isinstance(b, Tensor) else float(b)
        return _out(_binary(Div, a, b), out)
    if rounding_mode == "floor":
        return _out(floor_divide(input, other), out)
    if rounding_mode == "trunc":
        a, b = promote(input, other)
        if D.result_type(a, b).category != D._FLOAT:
            r = _binary(_TruncDivInt, a, b)
        else:
            r = trunc(_binary(Div, a, b))
        return _out(r, out)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                       f"but found '{rounding_mode}'")


divide = true_divide = div


class _TruncDivInt(Op):
    _nondiff = True

    @staticmethod
    def forward(ctx, a, b):
        if np.any(np.asarray(b) == 0):
            raise RuntimeError("ZeroDivisionError")
        q = np.floor_divide(a, b)
        fix = (np.remainder(a, b) != 0) & ((np.asarray(a) < 0) != (np.asarray(b) < 0))
        return np.where(fix, q + 1, q).astype(np.result_type(a, b))


def floor_divide(input, other, *, out=None):
    return _out(_binary(FloorDivide, input, other), out)


def remainder(input, other, *, out=None):
    return _out(_binary(Remainder, input, other), out)


def fmod(input, other, *, out=None):
    return _out(_binary(Fmod, input, other), out)


def neg(input, *, out=None):
    if input._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or "
                           "`logical_not()` operator instead.")
    return _out(Neg.apply(input), out)


negative = neg


def pow(input, exponent, *, out=None):
    """input ** exponent; either may be a Python number (not both)."""
    if not isinstance(input, Tensor) and not isinstance(input, np.ndarray):
        # scalar base, tensor exponent
        e = ensure_tensor(exponent, "exponent")
        base = as_tensor_arg(input, "self")
        rt = D.result_type(base, e)
        e = cast(e, rt)
        return _out(ScalarPowTensor.apply(rt.np.type(base), e), out)
    input = as_tensor_arg(input, "input")
    exponent = as_tensor_arg(exponent, "exponent")
    if not isinstance(exponent, Tensor):
        if input._data.dtype.kind in "iub":
            if isinstance(exponent, float):
                input = cast(input, D.get_default_dtype())
            elif exponent < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
        return _out(PowScalar.apply(input, exponent), out)
    a, b = promote(input, exponent)
    if a._data.dtype.kind in "iu" and np.any(b._data < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _out(_binary(Pow, a, b), out)


float_power = None  # defined below once casts exist


def _float_power(input, exponent, *, out=None):
    a = cast(input, D.float64) if isinstance(input, Tensor) else float(input)
    b = cast(exponent, D.float64) if isinstance(exponent, Tensor) else float(exponent)
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
    if not isinstance(out, Tensor):
        raise TypeError(f"out must be a Tensor, not {type(out).__name__}")
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, dtype=out._data.dtype)
    np.copyto(out._data, result._data, casting="unsafe")
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


_EQ = _cmp_class("Eq", np.equal)
_NE = _cmp_class("Ne", np.not_equal)
_LT = _cmp_class("Lt", np.less)
_LE = _cmp_class("Le", np.less_equal)
_GT = _cmp_class("Gt", np.greater)
_GE = _cmp_class("Ge", np.greater_equal)
_LAND = _cmp_class("LogicalAnd", np.logical_and)
_LOR = _cmp_class("LogicalOr", np.logical_or)
_LXOR = _cmp_class("LogicalXor", np.logical_xor)
_BAND = _cmp_class("BitwiseAnd", np.bitwise_and)
_BOR = _cmp_class("BitwiseOr", np.bitwise_or)
_BXOR = _cmp_class("BitwiseXor", np.bitwise_xor)
_LSHIFT = _cmp_class("LeftShift", np.left_shift)
_RSHIFT = _cmp_class("RightShift", np.right_shift)


def _compare(cls):
    def f(input, other, *, out=None):
        return _out(_binary(cls, input, other), out)
    return f


eq = _compare(_EQ)
ne = not_equal = _compare(_NE)
lt = less = _compare(_LT)
le = less_equal = _compare(_LE)
gt = greater = _compare(_GT)
ge = greater_equal = _compare(_GE)
logical_and = _compare(_LAND)
logical_or = _compare(_LOR)
logical_xor = _compare(_LXOR)


def _bitwise(cls, opname):
    def f(input, other, *, out=None):
        a, b = promote(input, other)
        if np.result_type(a._data if isinstance(a, Tensor) else a,
                          b._data if isinstance(b, Tensor) else b).kind == "f":
            raise RuntimeError(f"\"{opname}_cpu\" not implemented for 'Float'")
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


logical_not = _nondiff_unary("logical_not", np.logical_not)
isnan = _nondiff_unary("isnan", np.isnan)
isinf = _nondiff_unary("isinf", np.isinf)
isfinite = _nondiff_unary("isfinite", np.isfinite)
isposinf = _nondiff_unary("isposinf", np.isposinf)
isneginf = _nondiff_unary("isneginf", np.isneginf)
signbit = _nondiff_unary("signbit", np.signbit)


def bitwise_not(input, *, out=None):
    if input._data.dtype.kind == "f":
        raise RuntimeError("\"bitwise_not_cpu\" not implemented for 'Float'")
    return _out(_BitwiseNot.apply(input), out)


class _BitwiseNot(_Unary0):
    fn = staticmethod(np.invert)


def equal(input, other):
    """True when both tensors have the same shape and elements."""
    return input._data.shape == other._data.shape and bool(np.array_equal(input._data, other._data))


def _np_sigmoid(x):
    # exp of a non-positive number only: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


# ---- where / lerp ----------------------------------------------------------------------

class Where(Op):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

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
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {condition.dtype.name.capitalize()}")
    a, b = promote(input, other)
    if not isinstance(a, Tensor):
        a = _wrap(np.asarray(a, dtype=D.result_type(a, b).np))
    if not isinstance(b, Tensor):
        b = _wrap(np.asarray(b, dtype=a._data.dtype))
    try:
        return _out(Where.apply(condition, a, b), out)
    except ValueError:
        s = np.broadcast_shapes(a._data.shape, b._data.shape)
        check_broadcast(condition._data.shape, s)
        raise


def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input)."""
    return _out(add(input, mul(weight, sub(end, input))), out)


METHODS = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "remainder", "fmod", "neg", "negative", "pow", "float_power", "square",
    "eq", "ne", "not_equal", "lt", "less", "le", "less_equal", "gt", "greater", "ge",
    "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
    "isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit", "equal", "where", "lerp",
]
INPLACE = [
    "floor_divide", "remainder", "fmod", "neg", "negative", "pow", "float_power", "square",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "lerp",
]
