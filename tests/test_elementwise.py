"""ember.ops.elementwise (+ - * / // % **, comparisons, logic, where, lerp...) and
the Python operators on Tensor, against torch: values, dtypes (torch's type
promotion), broadcasting, gradients, gradcheck, double backward, errors."""
import operator

import numpy as np
import pytest
import torch
from hypothesis import given, settings, HealthCheck, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, rand, pair, assert_close
from test_math import double_backward


def both(fn):
    """fn(lib) for ember and torch; compare (dtype included)."""
    e, t = fn(ember), fn(torch)
    assert_close(e, t)
    return e, t


def raises_like_torch(fn, exc, match=None):
    for lib in (ember, torch):
        with pytest.raises(exc, match=match):
            fn(lib)


ARITH = {
    "add": lambda L, a, b: L.add(a, b),
    "sub": lambda L, a, b: L.sub(a, b),
    "mul": lambda L, a, b: L.mul(a, b),
    "div": lambda L, a, b: L.div(a, b),
    "subtract": lambda L, a, b: L.subtract(a, b),
    "multiply": lambda L, a, b: L.multiply(a, b),
    "divide": lambda L, a, b: L.divide(a, b),
    "true_divide": lambda L, a, b: L.true_divide(a, b),
    "add_alpha": lambda L, a, b: L.add(a, b, alpha=2.5),
    "sub_alpha": lambda L, a, b: L.sub(a, b, alpha=-3),
    "pow": lambda L, a, b: L.pow(a.abs() + 0.5, b),
    "remainder": lambda L, a, b: L.remainder(a, b),
    "fmod": lambda L, a, b: L.fmod(a, b),
    "atan2_via_ops": lambda L, a, b: a * b - a / (b * b + 1),
    "lerp": lambda L, a, b: L.lerp(a, b, 0.3),
}


# ---- arithmetic: values, gradients, broadcasting ----------------------------------------

@pytest.mark.parametrize("name", list(ARITH))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_arith_matches_torch(name, dtype):
    f = ARITH[name]
    check(f, rand(3, 4, dtype=dtype), rand(3, 4, dtype=dtype, seed=1))
    check(f, rand(3, 4, dtype=dtype), rand(4, dtype=dtype, seed=1))          # broadcast
    check(f, rand(2, 1, 3, dtype=dtype), rand(4, 1, dtype=dtype, seed=1))    # both broadcast
    check(f, np.asarray(rand(1, dtype=dtype)[0]), rand(3, dtype=dtype, seed=1))  # 0-d
    check(f, rand(0, 4, dtype=dtype), rand(4, dtype=dtype, seed=1))          # empty
    check(lambda L, a, b: f(L, a.transpose(0, 1), b), rand(4, 3, dtype=dtype),
          rand(4, dtype=dtype, seed=1))                                       # non-contiguous


@pytest.mark.parametrize("name", list(ARITH))
def test_binary_arith_gradcheck_and_double_backward(name):
    f = ARITH[name]
    a, b = rand(2, 3), rand(3, seed=1, low=0.5, high=2)
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    assert gradcheck(lambda x, y: f(ember, x, y), (ea, eb))
    double_backward(f, a, b)


@pytest.mark.parametrize("name", ["add", "mul", "div", "pow", "sub"])
def test_gradgradcheck(name):
    f = ARITH[name]
    ea = ember.tensor(rand(2, 2, low=0.5, high=2), requires_grad=True)
    eb = ember.tensor(rand(2, seed=1, low=0.5, high=2), requires_grad=True)
    assert gradgradcheck(lambda x, y: f(ember, x, y), (ea, eb))


SCALARS = [2, -3, 2.5, -0.5, True, 0]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow"])
@pytest.mark.parametrize("s", SCALARS)
def test_operators_with_scalars_both_sides(op, s):
    f = getattr(operator, op)
    grad = op != "floordiv"  # torch: floor_divide has no derivative
    x = rand(3, 4, low=0.5, high=2)
    if op == "sub" and s is True:
        return  # (refused: see test_bool_sub_raises)
    if not (op in ("truediv", "floordiv", "mod") and s == 0):
        check(lambda L, a: f(a, s), x, grad=grad)
        check(lambda L, a: f(a, s), x.astype(np.float32), grad=grad)
        if not (op == "pow" and isinstance(s, int) and s < 0):
            check(lambda L, a: f(a, s), np.array([1, 2, 7]), grad=False)
    if op == "pow" and s == 0 or s is True and op in ("sub", "pow"):
        return  # (torch refuses True - tensor, and asserts internally on True ** tensor)
    # reflected: scalar (op) tensor; torch has no derivative for number % tensor
    grad = grad and op != "mod"
    check(lambda L, a: f(s, a), x, grad=grad)
    check(lambda L, a: f(s, a), x.astype(np.float32), grad=grad)
    if op != "pow" or not isinstance(s, float):
        check(lambda L, a: f(s, a), np.array([1, 2, 7]), grad=False)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_operators_tensor_tensor_and_double_backward(op):
    f = getattr(operator, op)
    a, b = rand(3, 4, low=0.5, high=2), rand(4, seed=1, low=0.5, high=2)
    check(lambda L, x, y: f(x, y), a, b)
    double_backward(lambda L, x, y: f(x, y), a, b)


def test_unary_operators():
    check(lambda L, a: -a, rand(3, 4))
    check(lambda L, a: +a, rand(3, 4))
    check(lambda L, a: L.neg(a), np.array([1, -2, 3]), grad=False)
    check(lambda L, a: L.negative(a), rand(3))
    check(lambda L, a: abs(-a), rand(3))
    raises_like_torch(lambda L: -L.tensor([True]), RuntimeError, "Negation, the `-` operator")
    check(lambda L, a: ~a, np.array([1, -2, 0]), grad=False)
    check(lambda L, a: ~a, np.array([True, False]), grad=False)
    check(lambda L, a: ~a, np.array([1, 2], dtype=np.uint8), grad=False)


def test_neg_gradcheck_and_double_backward():
    x = rand(2, 3)
    assert gradcheck(lambda t: -t, (ember.tensor(x, requires_grad=True),))
    assert gradcheck(lambda t: ember.neg(t), (ember.tensor(x, requires_grad=True),))
    double_backward(lambda L, a: -(a * a), x)
    double_backward(lambda L, a: L.negative(a * a), x)


def test_square():
    check(lambda L, a: L.square(a), rand(3, 4))
    check(lambda L, a: a.square(), np.array([1, -2, 3], dtype=np.int32), grad=False)
    check(lambda L, a: L.square(a), np.array([True, False]), grad=False)  # bool -> int64
    double_backward(lambda L, a: L.square(a), rand(3))


# ---- division and rounding modes ----------------------------------------------------------

DIV_A = np.array([7.0, -7.0, 7.5, -7.5, 0.0, 3.0, -3.0, 1e-3])
DIV_B = np.array([2.0, 2.0, -2.0, -2.0, 3.0, -0.5, 0.7, 4.0])


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_modes_float(mode):
    check(lambda L, a, b: L.div(a, b, rounding_mode=mode), DIV_A, DIV_B)
    check(lambda L, a, b: L.div(a, b, rounding_mode=mode), DIV_A.astype(np.float32),
          DIV_B.astype(np.float32))
    check(lambda L, a: L.div(a, 2.5, rounding_mode=mode), DIV_A)
    check(lambda L, a: L.div(a, -2, rounding_mode=mode), DIV_A)
    check(lambda L, a, b: a.div(b, rounding_mode=mode), DIV_A, DIV_B)
    check(lambda L, a, b: L.divide(a, b, rounding_mode=mode), DIV_A, DIV_B[::-1].copy())
    check(lambda L, a, b: (a * 1).div_(b, rounding_mode=mode), DIV_A, DIV_B)


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_div_rounding_modes_int(mode):
    a = np.array([7, -7, 7, -7, 0, 5])
    b = np.array([2, 2, -2, -2, 3, 5])
    check(lambda L, x, y: L.div(x, y, rounding_mode=mode), a, b, grad=False)
    check(lambda L, x, y: L.div(x, y, rounding_mode=mode), a.astype(np.int32), b, grad=False)
    check(lambda L, x: L.div(x, 2, rounding_mode=mode), a, grad=False)
    check(lambda L, x: L.div(x, 2.5, rounding_mode=mode), a, grad=False)
    check(lambda L, x: L.div(x, -2, rounding_mode=mode), a.astype(np.uint8) if False else a,
          grad=False)


def test_div_by_zero():
    check(lambda L, a: a / 0, np.array([1.0, -1.0, 0.0]), grad=False)
    check(lambda L, a: a / 0, np.array([1, -1, 0]), grad=False)       # int / int -> float
    check(lambda L, a: a // 0, np.array([1.0, -1.0, 0.5]), grad=False)
    check(lambda L, a: a % 0, np.array([1.0, -1.0]), grad=False)
    check(lambda L, a: L.fmod(a, 0.0), np.array([1.0, -1.0]), grad=False)
    for expr in (lambda L: L.tensor([5, -3]) // L.tensor(0), lambda L: L.tensor([5, -3]) % 0,
                 lambda L: L.fmod(L.tensor([5, -3]), 0),
                 lambda L: L.div(L.tensor([5, -3]), 0, rounding_mode="trunc"),
                 lambda L: L.div(L.tensor([5, -3]), 0, rounding_mode="floor")):
        raises_like_torch(expr, RuntimeError, "ZeroDivisionError")


def test_div_rounding_mode_gradient_is_zero():
    # torch: differentiable, with a zero gradient for both operands
    check(lambda L, a, b: L.div(a, b, rounding_mode="floor"), DIV_A, DIV_B)
    check(lambda L, a, b: L.div(a, b, rounding_mode="trunc"), DIV_A, DIV_B)


def test_div_rounding_double_backward():
    for mode in ("floor", "trunc"):
        double_backward(lambda L, a, b: L.div(a * a, b, rounding_mode=mode) * a, DIV_A, DIV_B)
        e = ember.div(ember.tensor(DIV_A, requires_grad=True), 2.0, rounding_mode=mode)
        assert e.grad_fn.name() == "DivBackward2"


def test_div_bad_rounding_mode():
    raises_like_torch(lambda L: L.div(L.tensor([1.0]), 2, rounding_mode="round"), RuntimeError,
                      "rounding_mode")


def test_floor_divide_remainder_fmod_signs():
    a = np.array([7, -7, 7, -7, 0, 6])
    b = np.array([3, 3, -3, -3, 5, -4])
    for name in ("floor_divide", "remainder", "fmod"):
        grad = name != "floor_divide"  # torch: floor_divide has no derivative
        check(lambda L, x, y: getattr(L, name)(x, y), a, b, grad=False)
        check(lambda L, x, y: getattr(L, name)(x, y), a.astype(np.float64), b.astype(np.float64),
              grad=grad)
        check(lambda L, x, y: getattr(L, name)(x, y), a.astype(np.float32) + 0.25,
              b.astype(np.float32), grad=grad)
        check(lambda L, x: getattr(L, name)(x, 2.5), a.astype(np.float64), grad=grad)
        check(lambda L, x: getattr(L, name)(x, -2), a, grad=False)
        check(lambda L, x: getattr(x, name)(-2.5), a, grad=False)  # int tensor, float scalar
        check(lambda L, x, y: getattr(x * 1, name + "_")(y), a.astype(np.float64),
              b.astype(np.float64), grad=grad)
    check(lambda L, y: L.remainder(-5, y), b, grad=False)
    check(lambda L, y: L.remainder(5.5, y), b.astype(np.float64), grad=False)
    check(lambda L, y: 7 % y, b, grad=False)
    check(lambda L, y: -7.5 % y, b.astype(np.float64), grad=False)
    check(lambda L, y: 7 // y, b, grad=False)


def test_remainder_fmod_gradients():
    a, b = rand(3, 4, low=-5, high=5), rand(4, seed=1, low=0.7, high=2)
    for name in ("remainder", "fmod"):
        check(lambda L, x, y: getattr(L, name)(x, y), a, b)
        check(lambda L, x, y: getattr(L, name)(x, -y), a, b)
        check(lambda L, x: getattr(L, name)(x, 1.5), a)
        check(lambda L, y: getattr(L, name)(L.tensor(4.0, dtype=L.float64), y), b)
        double_backward(lambda L, x, y: getattr(L, name)(x, y), a, b)


def test_floor_divide_bool_not_implemented():
    raises_like_torch(lambda L: L.tensor([True]) // L.tensor([True]), NotImplementedError,
                      "not implemented for 'Bool'")


# ---- pow ------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, 3, 0, 1, -1, -2, 0.5, 2.5, -1.5, 1.0, 0.0, True])
def test_pow_tensor_scalar(p):
    x = rand(3, 4, low=0.3, high=2)
    check(lambda L, a: a ** p, x)
    check(lambda L, a: L.pow(a, p), x.astype(np.float32))
    check(lambda L, a: a.pow(p), -x if isinstance(p, int) else x)
    double_backward(lambda L, a: a ** p, x)
    if not (isinstance(p, int) and p < 0):
        check(lambda L, a: a ** p, np.array([0, 1, 2, 3]), grad=False)
        check(lambda L, a: a ** p, np.array([0, 1, 2, 3], dtype=np.int32), grad=False)


def test_pow_at_zero_base():
    x = np.array([0.0, 0.0, 1.0, -1.0])
    for p in (2, 1, 0, 0.5, 3):
        check(lambda L, a: a ** p, x if p != 0.5 else np.abs(x))
    check(lambda L, a, b: a ** b, np.array([0.0, 0.0, 0.0, 2.0]), np.array([2.0, 0.0, -1.0, 0.0]))


def test_pow_tensor_tensor():
    a, b = rand(3, 4, low=0.3, high=2), rand(4, seed=1)
    check(lambda L, x, y: x ** y, a, b)
    check(lambda L, x, y: L.pow(x, y), a.astype(np.float32), b.astype(np.float32))
    check(lambda L, x, y: x ** y, np.array([2, 3, -2]), np.array([3, 2, 3]), grad=False)
    check(lambda L, x, y: x ** y, np.array([2, 3]), np.array([2.5, 0.5]), grad=False)
    check(lambda L, x, y: x.pow(y), np.array([3, 4]), np.asarray(np.int8(2)), grad=False)
    double_backward(lambda L, x, y: x ** y, a, b)


def test_pow_int_tensor_negative_tensor_exponent():
    # torch: allowed for tensor exponents (1 ** -n = 1, (-1) ** -n = +-1, else 0)
    base = np.array([2, -2, 1, -1, -1, 3, 0])
    exp = np.array([-1, -1, -3, -3, -2, 0, 2])
    check(lambda L, x, y: x ** y, base, exp, grad=False)
    check(lambda L, y: 2 ** y, np.array([-1, 0, 3]), grad=False)


def test_pow_scalar_base():
    x = rand(3, 4)
    for c in (2, 2.5, 0.5, 1, 0):
        check(lambda L, a: c ** a, x)
        check(lambda L, a: L.pow(c, a), x.astype(np.float32))
        check(lambda L, a: c ** a, np.array([0, 1, 3]), grad=False)
    check(lambda L, a: (-2.0) ** a, np.array([1.0, 2.0, 3.0]))
    check(lambda L, a: 2.5 ** a, np.array([1, 2]), grad=False)  # float32, not int
    double_backward(lambda L, a: 2.5 ** a, x)


def test_pow_int_negative_scalar_exponent_raises():
    for p in (-1, -2):
        raises_like_torch(lambda L: L.tensor([2]) ** p, RuntimeError,
                          "Integers to negative integer powers are not allowed")
        raises_like_torch(lambda L: L.tensor(2) ** p, RuntimeError,
                          "Integers to negative integer powers are not allowed")
    both(lambda L: L.tensor([2.0]) ** -1)


def test_float_power():
    check(lambda L, a: L.float_power(a, 2), np.array([1, 2, 3]), grad=False)
    check(lambda L, a: a.float_power(2.5), rand(3, low=0.5).astype(np.float32))
    check(lambda L, a: L.float_power(2, a), np.array([1, 2]), grad=False)
    check(lambda L, a, b: L.float_power(a, b), rand(3, low=0.5), rand(3, seed=1))


def test_pow_inplace():
    check(lambda L, a: (a * 1).pow_(2), rand(3))
    check(lambda L, a, b: (a * 1).pow_(b), rand(3, low=0.5), rand(3, seed=1))
    e = ember.tensor([1.0, 2.0])
    e **= 2
    assert e.tolist() == [1.0, 4.0]


# ---- type promotion -----------------------------------------------------------------------

PROMO = [
    # (expression over lib, comment)
    lambda L: L.tensor([1, 2]) * 2.5,                                      # int * float -> f32
    lambda L: L.tensor([1.0, 2.0]) * L.tensor(2.5, dtype=L.float64),      # f32 * f64 0-d -> f32
    lambda L: L.tensor([1, 2]) * L.tensor(2.5, dtype=L.float64),          # int * f64 0-d -> f64
    lambda L: L.tensor([1, 2], dtype=L.int32) + L.tensor([1, 2]),         # int32+int64 -> int64
    lambda L: L.tensor([1, 2], dtype=L.int32) + L.tensor(1),              # int32 + 0-d int64
    lambda L: L.tensor([1, 2], dtype=L.int32) + 2,                        # int32 + int -> int32
    lambda L: L.tensor([True, False]) + L.tensor([True, True]),           # bool + bool -> bool
    lambda L: L.tensor([True, False]) * L.tensor([True, True]),
    lambda L: L.tensor([True, False]) + 1,                                # bool + int -> int64
    lambda L: L.tensor([True, False]) + 1.5,                              # bool + float -> f32
    lambda L: L.tensor([True, False]) / L.tensor([True, True]),           # -> f32
    lambda L: L.tensor([1, 2], dtype=L.uint8) + L.tensor([1, 2], dtype=L.int8),   # -> int16
    lambda L: L.tensor([1, 2], dtype=L.uint8) - 2,                        # wraps in uint8
    lambda L: L.tensor([1, 2], dtype=L.int8) * 100,                       # wraps in int8
    lambda L: L.tensor([7, 8]) / L.tensor([2, 4]),                        # int / int -> f32
    lambda L: L.tensor([7, 8]) / 2,
    lambda L: 7 / L.tensor([2, 4]),
    lambda L: L.tensor([1.0], dtype=L.float16) * 2.5,                     # f16 stays f16
    lambda L: L.tensor([0.1], dtype=L.float16) + 0.1,
    lambda L: L.tensor([1.0], dtype=L.float16) * L.tensor(2.5, dtype=L.float64),
    lambda L: L.tensor([1.0], dtype=L.float16) + L.tensor([1.0], dtype=L.float32),
    lambda L: L.tensor([1], dtype=L.int64) + L.tensor([1.0], dtype=L.float16),  # -> f16
    lambda L: L.tensor([1.0], dtype=L.float64) + L.tensor([1.0]),        # -> f64
    lambda L: L.tensor(1.0, dtype=L.float64) + L.tensor(1),              # 0-d + 0-d
    lambda L: L.tensor(1) + L.tensor([1.0, 2.0]),
    lambda L: L.tensor([1, 2]) ** 2.0,
    lambda L: L.tensor([1, 2]) == 1.5,
    lambda L: L.tensor([1, 2]) < L.tensor([1.5, 1.5]),
    lambda L: L.tensor([1, 2]) % 1.5,
    lambda L: L.tensor([5, 7]) // 2.0,
    lambda L: L.add(L.tensor([1.0]), L.tensor([2.0]), alpha=2.5),
    lambda L: L.add(L.tensor([1]), L.tensor([2]), alpha=3),
    lambda L: L.sub(L.tensor([1]), 2, alpha=3),
    lambda L: L.where(L.tensor([True, False]), 1, 2.5),
    lambda L: L.where(L.tensor([True, False]), L.tensor([1, 2]), 2.5),
    lambda L: L.where(L.tensor([True, False]), L.tensor([1, 2]), L.tensor([1.0, 2.0])),
    lambda L: L.where(L.tensor([True, False]), L.tensor([1, 2], dtype=L.int32), 5),
    lambda L: L.where(L.tensor([True, False]), L.tensor([1.0, 2.0]), L.tensor(3.0, dtype=L.float64)),
    lambda L: L.add(2, 3),
    lambda L: L.mul(L.tensor(2), 3.5),
]


@pytest.mark.parametrize("i", range(len(PROMO)))
def test_type_promotion(i):
    both(PROMO[i])


@pytest.mark.parametrize("i", range(len(PROMO)))
def test_type_promotion_with_float64_default(i):
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    try:
        both(PROMO[i])
        assert ember.get_default_dtype() is ember.float64
    finally:
        torch.set_default_dtype(torch.float32)


def test_result_type_and_promote_types():
    for a, b in [("int32", "int64"), ("uint8", "int8"), ("bool", "float16"), ("int64", "float16"),
                 ("float32", "float64"), ("uint8", "bool"), ("int16", "uint8")]:
        assert ember.promote_types(getattr(ember, a), getattr(ember, b)).name == \
            str(torch.promote_types(getattr(torch, a), getattr(torch, b))).split(".")[1]
    cases = [lambda L: (L.tensor([1, 2]), 2.5), lambda L: (L.tensor([1.0]), L.tensor(1.0, dtype=L.float64)),
             lambda L: (L.tensor([1], dtype=L.int8), L.tensor(1000)), lambda L: (3, 4.5),
             lambda L: (L.tensor(1, dtype=L.uint8), L.tensor(1, dtype=L.int8))]
    for c in cases:
        assert str(ember.result_type(*c(ember))).split(".")[1] == \
            str(torch.result_type(*c(torch))).split(".")[1]


def test_int_alpha_float_raises():
    raises_like_torch(lambda L: L.add(L.tensor([1]), L.tensor([2]), alpha=2.5), RuntimeError,
                      "alpha must not be a floating point number")


def test_bool_sub_raises():
    raises_like_torch(lambda L: L.tensor([True]) - L.tensor([True]), RuntimeError,
                      "Subtraction, the `-` operator, with two bool tensors is not supported")
    for expr in (lambda L: L.tensor([1.0]) - True, lambda L: True - L.tensor([1.0]),
                 lambda L: L.tensor([True]) - 1, lambda L: L.tensor([1]) - L.tensor([True]),
                 lambda L: L.sub(L.tensor([1.0]), L.tensor(True))):
        raises_like_torch(expr, RuntimeError, "Subtraction, the `-` operator, with a bool tensor "
                                              "is not supported")


def test_gradients_flow_through_promotion():
    # the gradient of a promoted input comes back in the input's own dtype
    check(lambda L, a, b: a * b, rand(3).astype(np.float32), rand(3, seed=1))
    check(lambda L, a, b: a + b, rand(3).astype(np.float16), rand(3, seed=1).astype(np.float32))
    check(lambda L, a, b: a / b, rand(3, low=0.5), np.array([1, 2, 3]))
    check(lambda L, a: a * L.tensor(2.5, dtype=L.float64), rand(3).astype(np.float32))


# ---- broadcasting errors ---------------------------------------------------------------

@pytest.mark.parametrize("fn", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, operator.floordiv, operator.mod, operator.eq,
                                operator.lt, operator.and_])
def test_broadcast_error_names_both_sizes(fn):
    def go(L):
        dt = L.int64 if fn is operator.and_ else L.float32
        return fn(L.ones(2, 3, dtype=dt), L.ones(4, 3, dtype=dt))
    raises_like_torch(go, RuntimeError, r"The size of tensor a \(2\) must match the size of "
                                        r"tensor b \(4\) at non-singleton dimension 0")


def test_broadcast_error_other_dims():
    raises_like_torch(lambda L: L.ones(5, 2, 3) + L.ones(2, 4), RuntimeError,
                      r"size of tensor a \(3\) must match the size of tensor b \(4\) at "
                      r"non-singleton dimension 2")
    raises_like_torch(lambda L: L.where(L.ones(3, dtype=L.bool), L.ones(2), L.ones(1)),
                      RuntimeError, r"size of tensor a \(3\) must match the size of tensor b \(2\)")
    raises_like_torch(lambda L: L.lerp(L.ones(3), L.ones(2), 0.5), RuntimeError,
                      r"size of tensor a \(3\) must match the size of tensor b \(2\)")


def test_inplace_broadcast_errors():
    raises_like_torch(lambda L: L.ones(3).add_(L.ones(2, 3)), RuntimeError,
                      r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]")

    def g(L):
        a = L.ones(1, 3, requires_grad=True) * 1
        a.mul_(L.ones(2, 3))
    raises_like_torch(g, RuntimeError, "doesn't match the broadcast shape")


# ---- comparisons, logic, bitwise --------------------------------------------------------

CMP = ["eq", "ne", "lt", "le", "gt", "ge", "less", "greater", "less_equal", "greater_equal",
       "not_equal"]


@pytest.mark.parametrize("name", CMP)
def test_comparisons(name):
    a = np.array([1.0, 2.0, np.nan, -1.0, 3.0])
    b = np.array([1.0, 3.0, np.nan, -2.0, 3.0])
    check(lambda L, x, y: getattr(L, name)(x, y), a, b, grad=False)
    check(lambda L, x: getattr(L, name)(x, 2.0), a, grad=False)
    check(lambda L, x: getattr(x, name)(2), a.astype(np.float32), grad=False)
    check(lambda L, x, y: getattr(L, name)(x, y), np.array([1, 2, 3]), np.array([1.5, 2.0, 2.5]),
          grad=False)
    check(lambda L, x, y: getattr(L, name)(x, y), rand(3, 1), rand(4, seed=1), grad=False)
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert not getattr(ember, name)(x, 1.5).requires_grad


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparison_operators_and_reflected(op):
    f = getattr(operator, op)
    a = np.array([1, 2, 3])
    check(lambda L, x: f(x, 2), a, grad=False)
    check(lambda L, x: f(2, x), a, grad=False)  # Python reflects to the swapped comparison
    check(lambda L, x: f(2.5, x), a.astype(np.float32), grad=False)
    check(lambda L, x, y: f(x, y), a, np.array([3, 2, 1]), grad=False)


def test_comparison_inplace():
    check(lambda L, x, y: (x * 1).lt_(y), rand(4), rand(4, seed=1), grad=False)
    check(lambda L, x: x.clone().eq_(2), np.array([1, 2, 3]), grad=False)


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical(name):
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    check(lambda L, x, y: getattr(L, name)(x, y), a, b, grad=False)
    check(lambda L, x, y: getattr(L, name)(x, y), np.array([0, 1, 2, 0]), np.array([0.0, 0.0, 1.5, 2]),
          grad=False)
    check(lambda L, x, y: getattr(x, name)(y), a, b, grad=False)
    check(lambda L, x: L.logical_not(x), np.array([0.0, 1.5, -2.0]), grad=False)
    check(lambda L, x: x.logical_not(), np.array([0, 3]), grad=False)


@pytest.mark.parametrize("name,op", [("bitwise_and", operator.and_), ("bitwise_or", operator.or_),
                                     ("bitwise_xor", operator.xor)])
def test_bitwise(name, op):
    a, b = np.array([12, 10, -1, 0]), np.array([10, 6, 5, 7])
    check(lambda L, x, y: getattr(L, name)(x, y), a, b, grad=False)
    check(lambda L, x, y: op(x, y), a.astype(np.int32), b.astype(np.uint8), grad=False)
    check(lambda L, x, y: op(x, y), a > 0, b > 6, grad=False)   # bools stay bool
    check(lambda L, x: op(x, 3), a, grad=False)
    check(lambda L, x: op(3, x), a, grad=False)
    check(lambda L, x: op(x, True), a, grad=False)
    check(lambda L, x: op(x, 1), a > 0, grad=False)               # bool & int -> int64
    check(lambda L, x: op(True, x), a > 0, grad=False)
    raises_like_torch(lambda L: op(L.tensor([3.0]), 1), (NotImplementedError, RuntimeError),
                      "not implemented for 'Float'")


def test_shifts_and_invert():
    a = np.array([1, 2, 8, -8])
    check(lambda L, x: x << 2, a, grad=False)
    check(lambda L, x: x >> 1, a, grad=False)
    check(lambda L, x, y: L.bitwise_left_shift(x, y), a, np.array([0, 1, 2, 3]), grad=False)
    check(lambda L, x, y: L.bitwise_right_shift(x, y), a, np.array([0, 1, 2, 3]), grad=False)
    check(lambda L, x: L.bitwise_not(x), a, grad=False)
    check(lambda L, x: L.bitwise_not(x), a > 0, grad=False)
    raises_like_torch(lambda L: ~L.tensor([3.0]), (TypeError, RuntimeError))


def test_bitwise_inplace_operators():
    for op in ("__iand__", "__ior__", "__ixor__"):
        e, t = ember.tensor([12, 10]), torch.tensor([12, 10])
        re, rt = getattr(e, op)(ember.tensor([10, 6])), getattr(t, op)(torch.tensor([10, 6]))
        assert re is e
        assert_close(e, t)


def test_is_functions():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0])
    for name in ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit"]:
        check(lambda L, a: getattr(L, name)(a), x, grad=False)
        check(lambda L, a: getattr(a, name)(), x.astype(np.float32), grad=False)
        check(lambda L, a: getattr(L, name)(a), np.array([1, -2, 0]), grad=False)
        r = getattr(ember, name)(ember.tensor(x, requires_grad=True))
        assert r.dtype == ember.bool and not r.requires_grad


def test_equal():
    assert ember.equal(ember.tensor([1, 2]), ember.tensor([1, 2]))
    assert not ember.equal(ember.tensor([1, 2]), ember.tensor([1, 3]))
    assert not ember.equal(ember.tensor([1, 2]), ember.tensor([[1, 2]]))
    assert ember.tensor([1.0]).equal(ember.tensor([1.0]))


# ---- where, lerp --------------------------------------------------------------------------

def test_where():
    c = np.array([[True, False, True], [False, False, True]])
    check(lambda L, cc, a, b: L.where(cc, a, b), c, rand(2, 3), rand(2, 3, seed=1))
    check(lambda L, cc, a, b: L.where(cc, a, b), c, rand(3), rand(2, 1, seed=1))
    check(lambda L, cc, a: L.where(cc, a, 0.0), c, rand(2, 3))
    check(lambda L, cc, b: L.where(cc, 1.5, b), c, rand(2, 3))
    check(lambda L, cc, a, b: a.where(cc, b), c, rand(2, 3), rand(2, 3, seed=1))
    check(lambda L, cc, a, b: L.where(cc, a, b), c, rand(2, 3).astype(np.float32),
          rand(2, 3, seed=1))
    double_backward(lambda L, a, b: L.where(L.tensor([True, False, True]), a * a, b * a),
                    rand(3), rand(3, seed=1))
    raises_like_torch(lambda L: L.where(L.tensor([1, 0]), 1.0, 2.0), RuntimeError,
                      "where expected condition to be a boolean tensor")


def test_lerp_dtype_errors():
    raises_like_torch(lambda L: L.lerp(L.ones(3), L.ones(3, dtype=L.float64), 0.5), RuntimeError,
                      "expected dtype float for `end` but got dtype double")
    raises_like_torch(lambda L: L.lerp(L.ones(3), L.ones(3), L.ones(3, dtype=L.float64)),
                      RuntimeError, "expected dtype float for `weight` but got dtype double")
    raises_like_torch(lambda L: L.lerp(L.ones(3, dtype=L.int64), L.ones(3, dtype=L.int64), 1),
                      NotImplementedError, "lerp_kernel_scalar")
    raises_like_torch(lambda L: L.lerp(L.ones(3), 2.0, 0.5), TypeError)
    both(lambda L: L.lerp(L.ones(3), L.zeros(3), L.tensor(0.25, dtype=L.float64)))
    both(lambda L: L.lerp(L.ones(3, dtype=L.float16), L.zeros(3, dtype=L.float16), 0.5))


def test_lerp():
    a, b, w = rand(3, 4), rand(4, seed=1), rand(3, 4, seed=2, low=0, high=1)
    check(lambda L, x, y: L.lerp(x, y, 0.3), a, b)
    check(lambda L, x, y, z: L.lerp(x, y, z), a, b, w)
    check(lambda L, x, y, z: x.lerp(y, z), a.astype(np.float32), b.astype(np.float32),
          w.astype(np.float32))
    check(lambda L, x, y: (x * 1).lerp_(y, 0.7), a, b)
    double_backward(lambda L, x, y, z: L.lerp(x, y, z), a, b, w)
    ea, eb, ew = (ember.tensor(v, requires_grad=True) for v in (a, b, w))
    assert gradcheck(lambda x, y, z: ember.lerp(x, y, z), (ea, eb, ew))


# ---- Python operators: in-place and reflected ---------------------------------------------

@pytest.mark.parametrize("op", ["iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow"])
@pytest.mark.parametrize("other", [2, 2.5, "tensor"])
def test_inplace_operators_values_and_identity(op, other):
    f = getattr(operator, op)
    x = rand(3, 4, low=0.5, high=2)
    e, t = ember.tensor(x.copy()), torch.from_numpy(x.copy())
    oe = ember.tensor(rand(4, seed=1, low=0.5)) if other == "tensor" else other
    ot = torch.from_numpy(rand(4, seed=1, low=0.5)) if other == "tensor" else other
    re, rt = f(e, oe), f(t, ot)
    assert re is e
    assert_close(e, t)


@pytest.mark.parametrize("op", ["iadd", "isub", "imul", "itruediv", "ipow"])
def test_inplace_operators_gradients(op):
    f = getattr(operator, op)

    def g(L, a, b):
        h = a * 1
        h2 = f(h, b)
        assert h2 is h
        return h * 1.5
    check(g, rand(3, 4, low=0.5, high=2), rand(4, seed=1, low=0.5, high=2))

    def g2(L, a):
        h = a * 1
        f(h, 1.5)
        return h
    check(g2, rand(3, 4, low=0.5, high=2))


def test_inplace_int_tensor_with_float_raises():
    for expr in (lambda L: L.tensor([1, 2]).add_(1.5), lambda L: L.tensor([1, 2]).mul_(0.5),
                 lambda L: L.tensor([1, 2]).div_(2),
                 lambda L: L.tensor([1, 2]).add_(L.tensor([1.5, 2.0]))):
        raises_like_torch(expr, RuntimeError, "result type Float can't be cast to the desired "
                                              "output type Long")

    def iadd(L):
        t = L.tensor([1, 2])
        t += 0.5
    raises_like_torch(iadd, RuntimeError, "can't be cast")


def test_inplace_keeps_dtype_and_casts_down_within_category():
    both(lambda L: L.tensor([1.0, 2.0]).add_(L.tensor([1.0, 2.0], dtype=L.float64)))
    both(lambda L: L.tensor([1, 2], dtype=L.int32).add_(L.tensor([1, 2])))
    both(lambda L: L.tensor([1.0, 2.0]).add_(2, alpha=3))
    both(lambda L: L.tensor([1.0, 2.0]).sub_(L.tensor([1.0, 1.0]), alpha=0.5))
    both(lambda L: L.tensor([1.0], dtype=L.float16).mul_(3.3))
    both(lambda L: L.tensor([7, -7]).floor_divide_(2))
    both(lambda L: L.tensor([7, -7]).remainder_(3))
    both(lambda L: L.tensor([7.0, -7.0]).fmod_(3))
    both(lambda L: L.tensor([1, 2]).square_())
    both(lambda L: L.tensor([1.0, 2.0]).neg_())


def test_inplace_on_leaf_requiring_grad_raises():
    for m in ("add_", "mul_", "sub_", "div_", "pow_"):
        raises_like_torch(lambda L: getattr(L.tensor([1.0], requires_grad=True), m)(2),
                          RuntimeError, "leaf Variable that requires grad")


def test_inplace_bumps_version_and_invalidates_saved():
    for lib in (ember, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        c = b * b
        v = b._version
        b += 1
        assert b._version == v + 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            c.sum().backward()


def test_reflected_operators_with_numpy_scalars_and_arrays():
    x = rand(3)
    for s in (np.float64(2.5), np.int64(3), np.float32(0.5)):
        for op in (operator.add, operator.mul, operator.sub, operator.truediv):
            e = op(ember.tensor(x), s)
            t = op(torch.from_numpy(x), torch.tensor(s) if False else s)
            assert_close(e, t)
    r = np.array([1.0, 2.0, 3.0]) + ember.tensor(x)
    assert isinstance(r, ember.Tensor)
    np.testing.assert_allclose(r.numpy(), x + [1, 2, 3])


def test_unsupported_operand_type_errors():
    raises_like_torch(lambda L: L.tensor([1.0]) + "a", TypeError)
    raises_like_torch(lambda L: "a" * L.tensor([1.0]) if False else L.tensor([1.0]) - [None],
                      TypeError)


def test_out_arguments():
    x, y = rand(3), rand(3, seed=1)
    for name in ("add", "sub", "mul", "div", "pow", "remainder", "fmod", "eq", "lt", "maximum"):
        dt = (ember.bool, torch.bool) if name in ("eq", "lt") else (ember.float64, torch.float64)
        oe, ot = ember.empty(3, dtype=dt[0]), torch.empty(3, dtype=dt[1])
        re = getattr(ember, name)(ember.tensor(x), ember.tensor(y), out=oe)
        getattr(torch, name)(torch.from_numpy(x), torch.from_numpy(y), out=ot)
        assert re is oe
        assert_close(oe, ot)


def test_long_chain_and_shared_inputs():
    def f(L, a, b):
        h = a
        for _ in range(20):
            h = h * 0.9 + b / (1 + a * a) - (h - b) ** 2 * 0.01
        return h * a
    check(f, rand(3, 4), rand(4, seed=1))
    double_backward(f, rand(2, 3), rand(3, seed=1))


# ---- property test: broadcasting shapes and gradient shapes ------------------------------

BIN_OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
           lambda a, b: ember.maximum(a, b) if isinstance(a, ember.Tensor) else torch.maximum(a, b),
           lambda a, b: ember.atan2(a, b) if isinstance(a, ember.Tensor) else torch.atan2(a, b),
           lambda a, b: a.lerp(b, 0.3)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       op=st.sampled_from(range(len(BIN_OPS))), seed=st.integers(0, 2 ** 16))
def test_property_broadcast_and_grad_shapes(shapes, op, seed):
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a = rand(*sa, seed=seed, low=0.5, high=2) if sa else np.asarray(1.3)
    b = rand(*sb, seed=seed + 1, low=0.5, high=2) if sb else np.asarray(0.7)
    f = BIN_OPS[op]
    e, t = check(lambda L, x, y: f(x, y), a, b)
    assert tuple(e.shape) == tuple(out_shape)
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    f(ea, eb).sum().backward()
    assert tuple(ea.grad.shape) == sa and tuple(eb.grad.shape) == sb
    assert ea.grad.dtype == ember.float64 and eb.grad.dtype == ember.float64
