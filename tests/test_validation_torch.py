"""Validation and error types as torch 2.13's (issue 21): every case runs in torch and in
Ember and must give the same exception type (and message where torch's is stable) or the
same values.

Covered: numbers that do not fit a dtype at creation and in fills (refused) and in
arithmetic (wrapped); ``.grad`` assignment; loss target ranges; in-place writes whose
input overlaps the output; allocation failures; wrong-shaped gradients from hooks and
custom Functions; ``dtype=`` arguments that are not dtypes.
"""
import numpy as np
import pytest
import torch

import ember


def _outcome(lib, fn):
    """("ok", dtype name, values) or ("raise", exception class, message)."""
    try:
        r = fn(lib)
    except Exception as e:  # noqa: BLE001 (the exception is the result compared)
        return ("raise", e, str(e))
    if isinstance(r, lib.Tensor):
        arr = r.detach().numpy(force=True) if lib is ember else r.detach().numpy()
        return ("ok", str(r.dtype).split(".")[-1], arr.tolist())
    return ("ok", type(r).__name__, r)


def same(fn, message=True):
    """Run ``fn(lib)`` with torch and Ember: the same values, or the same exception type
    (torch's type, possibly a subclass in Ember) and, if ``message``, the same message
    (Ember's may carry torch's message without its C++ source prefix)."""
    t, e = _outcome(torch, fn), _outcome(ember, fn)
    if t[0] == "ok":
        assert e[0] == "ok", f"torch returned {t[1:]}, Ember raised {e[1]!r}"
        assert e[1] == t[1], f"dtype: torch {t[1]}, Ember {e[1]}"
        if isinstance(t[2], (list, float)):
            ta, ea = np.array(t[2]), np.array(e[2])
            if ta.dtype.kind == "f":    # (float results within float tolerance; NaN equals NaN)
                np.testing.assert_allclose(ea, ta, rtol=1e-6, atol=1e-7)
            else:
                np.testing.assert_array_equal(ea, ta)
        else:
            assert e[2] == t[2]
        return t
    assert e[0] == "raise", f"torch raised {t[1]!r}, Ember returned {e[1:]}"
    assert isinstance(e[1], type(t[1])), f"torch raised {t[1]!r}, Ember {e[1]!r}"
    if message:
        assert t[2].endswith(e[2]) and e[2], f"torch: {t[2]!r}\nember: {e[2]!r}"
    return t


# ---- numbers that do not fit a dtype -------------------------------------------------------

DTYPES = ["uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "bool"]
VALUES = [300, 255, -1, -200, -255, -256, 2 ** 31, -2 ** 31 - 1, 2 ** 63 - 1, 1e40, -1.5, 300.5,
          1.5, float("nan"), float("inf"), -float("inf"), 1e5, 65504.0, 70000]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_tensor_from_python_numbers_checks_range(dtype, value):
    same(lambda L: L.tensor([value], dtype=getattr(L, dtype)))
    same(lambda L: L.tensor(value, dtype=getattr(L, dtype)))
    same(lambda L: L.tensor([[1, 2], [3, value]], dtype=getattr(L, dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_full_and_fill_check_range(dtype, value):
    # (torch skips its float16 check when it fills a single element: scalar_tensor, zeros(1))
    same(lambda L: L.full((3,), value, dtype=getattr(L, dtype)))
    same(lambda L: L.zeros(3, dtype=getattr(L, dtype)).fill_(value))
    same(lambda L: L.full_like(L.zeros(2, dtype=getattr(L, dtype)), value))
    same(lambda L: L.scalar_tensor(value, dtype=getattr(L, dtype)))
    same(lambda L: L.zeros(1, dtype=getattr(L, dtype)).fill_(value))


def test_tensor_of_numpy_data_or_tensors_casts_unchecked():
    # torch checks Python numbers only; arrays and tensors are cast (wrapping)
    same(lambda L: L.tensor(np.array([300, -1]), dtype=L.uint8))
    same(lambda L: L.tensor(L.tensor([300, 2 ** 31]), dtype=L.int8))
    same(lambda L: L.tensor([300]).to(L.uint8))


INT_VALUES = [200, -200, 255, 256, 2 ** 40, 2 ** 63, -2 ** 63, 2 ** 64, -2 ** 63 - 1]


def _i8(L):
    return L.tensor([1, -3, 100], dtype=L.int8)


def _u8(L):
    return L.tensor([1, 3, 100], dtype=L.uint8)


@pytest.mark.parametrize("make", [_i8, _u8], ids=["int8", "uint8"])
@pytest.mark.parametrize("v", INT_VALUES)
def test_integer_arithmetic_wraps_python_ints(make, v):
    """int8_tensor + 200 adds -56, as torch (NumPy would raise OverflowError); beyond
    64 bits torch's OverflowError."""
    for fn in (lambda L: make(L) + v, lambda L: v + make(L), lambda L: make(L) - v,
               lambda L: v - make(L), lambda L: make(L) * v, lambda L: make(L) & v,
               lambda L: make(L) | v, lambda L: make(L) ^ v, lambda L: make(L) < v,
               lambda L: make(L) == v, lambda L: make(L) >= v, lambda L: make(L).add(v),
               lambda L: make(L).add_(v), lambda L: make(L).mul_(v), lambda L: make(L).sub_(v),
               lambda L: make(L).remainder(v), lambda L: make(L).div(v, rounding_mode="floor"),
               lambda L: make(L) / v, lambda L: v ** make(L)):
        same(fn)


@pytest.mark.parametrize("make", [_i8, _u8], ids=["int8", "uint8"])
@pytest.mark.parametrize("v", INT_VALUES + [-1, 1e3, -0.5, float("nan")])
def test_scalar_stored_into_integer_tensor_checks_range(make, v):
    """A number stored into the tensor (fill, masked_fill, where, clamp, setitem,
    alpha, an exponent) must fit its dtype."""
    for fn in (lambda L: make(L).masked_fill(make(L) > 2, v),
               lambda L: make(L).index_fill(0, L.tensor([0]), v),
               lambda L: L.where(make(L) > 2, make(L), v),
               lambda L: L.where(make(L) > 2, v, make(L)),
               lambda L: make(L).clamp(max=v), lambda L: make(L).clamp(min=v)):
        same(fn)
    if isinstance(v, int):
        for fn in (lambda L: L.add(make(L), make(L), alpha=v), lambda L: make(L) ** v):
            same(fn)

    def setitem(L, index):
        t = make(L)
        t[index(t)] = v
        return t
    same(lambda L: setitem(L, lambda t: 0))
    same(lambda L: setitem(L, lambda t: t > 2))


# ---- dtype= arguments --------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "tensor", "full"])
@pytest.mark.parametrize("dtype", ["float32", np.float32, np.dtype("float32"), 3],
                         ids=["str", "np-type", "np-dtype", "int"])
def test_dtype_argument_must_be_a_dtype(fn, dtype):
    args = {"tensor": ([1],), "full": ((2,), 1.0)}.get(fn, (2,))
    same(lambda L: getattr(L, fn)(*args, dtype=dtype))


@pytest.mark.parametrize("py, name", [(float, "float64"), (int, "int64"), (bool, "bool")])
def test_python_types_as_dtype(py, name):
    assert same(lambda L: L.zeros(2, dtype=py))[1] == name
    same(lambda L: L.tensor([1], dtype=py))
    same(lambda L: L.ones(2).to(py))


# ---- allocations the machine cannot satisfy --------------------------------------------------

@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "randn", "rand", "full", "randint"])
@pytest.mark.parametrize("size", [(10 ** 13,), (10 ** 7, 10 ** 7), (2 ** 62,), (2 ** 40, 2 ** 40)],
                         ids=["40TB", "2-d", "overflow", "2-d-overflow"])
def test_huge_allocations_raise_runtime_error(fn, size):
    def make(L):
        if fn == "full":
            return L.full(size, 1.0)
        if fn == "randint":
            return L.randint(0, 5, size)
        return getattr(L, fn)(*size)
    t = same(make, message=False)
    assert isinstance(t[1], RuntimeError)
    e = _outcome(ember, make)[1]
    assert isinstance(e, MemoryError) or "overflow" in str(e)   # (still catchable as before)


# ---- .grad assignment ------------------------------------------------------------------------

def _assign_grad(L, grad, param=None):
    p = param(L) if param is not None else L.zeros(2, 3, requires_grad=True)
    p.grad = grad(L)
    return p.grad


@pytest.mark.parametrize("grad", [
    lambda L: L.zeros(3, 2), lambda L: L.zeros(6), lambda L: L.zeros(3), lambda L: L.tensor(1.0),
    lambda L: L.zeros(2, 3, dtype=L.float64), lambda L: L.zeros(2, 3, dtype=L.int64),
    lambda L: L.zeros(3, dtype=L.float64), lambda L: np.zeros((2, 3), np.float32),
    lambda L: [[0.0] * 3] * 2, lambda L: None, lambda L: L.ones(2, 3)],
    ids=["transposed", "flat", "broadcastable", "0-d", "float64", "int64", "shape-and-dtype",
         "ndarray", "list", "None", "ok"])
def test_grad_assignment_is_checked(grad):
    same(lambda L: _assign_grad(L, grad))
    same(lambda L: _assign_grad(L, grad, lambda L: L.nn.Parameter(L.zeros(2, 3))))
    same(lambda L: _assign_grad(L, grad, lambda L: L.zeros(2, 3)))          # (no grad required)


def test_grad_assignment_own_grad_and_deletion():
    def own(L):
        p = L.zeros(2, requires_grad=True)
        p.grad = p
    same(own)

    def delete(L):
        p = L.zeros(2, requires_grad=True)
        p.grad = L.ones(2)
        del p.grad
        return p.grad
    same(delete)


def test_optimizer_never_sees_a_wrongly_shaped_grad():
    p = ember.nn.Parameter(ember.zeros(2, 3))
    opt = ember.optim.SGD([p], lr=0.1)
    with pytest.raises(RuntimeError, match="assign a gradient of size"):
        p.grad = ember.ones(3)
    assert p.grad is None
    p.grad = ember.ones(2, 3)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(force=True), np.full((2, 3), -0.1, np.float32))


# ---- gradients handed back by hooks and custom Functions ------------------------------------------

_BAD_GRADS = {"transposed": lambda L: L.ones(3, 2), "smaller": lambda L: L.ones(3),
              "0-d": lambda L: L.ones(()), "bigger": lambda L: L.ones(4, 3),
              "broadcast-up": lambda L: L.ones(5, 2, 3), "float64": lambda L: L.ones(2, 3, dtype=L.float64),
              "int64": lambda L: L.ones(2, 3, dtype=L.int64), "number": lambda L: 3.0}


def _leaf_hook(L, ret):
    x = L.ones(2, 3, requires_grad=True)
    x.register_hook(lambda g: ret(L))
    (x * 2).sum().backward()
    return x.grad


def _tensor_hook(L, ret):
    x = L.ones(2, 3, requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: ret(L))
    y.sum().backward()
    return x.grad


def _function(L, ret):
    class Twice(L.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return ret(L), None

    x = L.ones(2, 3, requires_grad=True)
    Twice.apply(x, L.ones(2, 3)).sum().backward()
    return x.grad


def _module_hook(L, ret):
    m = L.nn.Linear(3, 3)
    m.register_full_backward_hook(lambda mod, gi, go: (ret(L),))
    x = L.ones(2, 3, requires_grad=True)
    m(x).sum().backward()
    return x.grad


@pytest.mark.parametrize("where", [_leaf_hook, _tensor_hook, _function, _module_hook],
                         ids=["leaf-hook", "tensor-hook", "Function", "module-hook"])
@pytest.mark.parametrize("bad", list(_BAD_GRADS))
def test_wrong_gradients_from_hooks_and_functions(where, bad):
    """torch names the hook or Function ("hook '<lambda>' has changed the size of value",
    "Function TwiceBackward returned an invalid gradient at index 0 - got [3, 2] but
    expected shape compatible with [2, 3]"); Ember's type names say ember.FloatTensor."""
    t = same(lambda L: where(L, _BAD_GRADS[bad]), message=False)
    if t[0] == "raise":
        e = _outcome(ember, lambda L: where(L, _BAD_GRADS[bad]))
        assert e[2] == t[2].replace("torch.", "ember.")



# ---- loss target ranges --------------------------------------------------------------------------

def _F(L):
    return L.nn.functional


def _probs(L):
    return L.tensor([0.2, 0.7, 0.5])


def _scores(L):
    return L.tensor([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])


@pytest.mark.parametrize("target", [[0.0, 1.0, 0.5], [1.5, 0.0, 1.0], [-0.1, 0.0, 1.0],
                                    [float("nan"), 0.0, 1.0]], ids=["ok", "above", "below", "nan"])
def test_binary_cross_entropy_target_range(target):
    same(lambda L: _F(L).binary_cross_entropy(_probs(L), L.tensor(target)))
    same(lambda L: L.nn.BCELoss()(_probs(L), L.tensor(target)))
    same(lambda L: _F(L).binary_cross_entropy_with_logits(_probs(L), L.tensor(target)))  # (unchecked)


@pytest.mark.parametrize("target", [[0, 2], [0, 3], [-1, 0], [0, -100], [0, -5]])
def test_class_index_targets_out_of_range(target):
    for fn in (lambda L: _F(L).nll_loss(_scores(L), L.tensor(target)),
               lambda L: _F(L).cross_entropy(_scores(L), L.tensor(target)),
               lambda L: _F(L).cross_entropy(_scores(L), L.tensor(target), label_smoothing=0.1),
               lambda L: _F(L).cross_entropy(_scores(L), L.tensor(target), weight=L.ones(3)),
               lambda L: _F(L).nll_loss(_scores(L), L.tensor(target), ignore_index=3),
               lambda L: _F(L).nll_loss(_scores(L), L.tensor(target), reduction="none"),
               lambda L: _F(L).nll_loss(_scores(L).reshape(1, 3, 2, 1), L.tensor(target).reshape(1, 2, 1)),
               lambda L: _F(L).multi_margin_loss(_scores(L), L.tensor(target))):
        t = same(fn, message=False)
        if t[0] == "ok":
            continue
        e = _outcome(ember, fn)
        assert e[2] == t[2]


def test_other_losses_target_checks():
    same(lambda L: _F(L).multilabel_margin_loss(_scores(L), L.tensor([[0, 5, -1], [1, -1, 0]])))
    same(lambda L: _F(L).multilabel_margin_loss(_scores(L), L.tensor([[0, 2, -1], [1, -1, 5]])))
    same(lambda L: _F(L).multilabel_margin_loss(_scores(L), L.tensor([[0, 2, -1], [1, -1, -2]])))
    same(lambda L: _F(L).multilabel_margin_loss(_scores(L), L.tensor([[0, 2, -1], [1, -1, 0]])))
    # probabilities as cross_entropy targets, and these losses' targets, are not range-checked
    same(lambda L: _F(L).cross_entropy(_scores(L), L.tensor([[1.5, 0.0, -0.5], [0.0, 0.0, 1.0]])))
    same(lambda L: _F(L).hinge_embedding_loss(L.ones(3), L.tensor([1.0, 2.0, -1.0])))
    same(lambda L: _F(L).soft_margin_loss(L.ones(3), L.tensor([1.0, 2.0, -1.0])))
    same(lambda L: _F(L).margin_ranking_loss(L.ones(3), L.zeros(3), L.tensor([1.0, 2.0, -1.0])))
    same(lambda L: _F(L).nll_loss(_scores(L), L.tensor([0.0, 1.0])))
    same(lambda L: _F(L).nll_loss(_scores(L), L.tensor([0, 1, 2])))
    same(lambda L: _F(L).nll_loss(_scores(L), L.tensor([0, 1]), weight=L.ones(4)))


# ---- in-place writes whose input overlaps the output ---------------------------------------------

def _a(L):
    return L.arange(1.0, 7.0)


def _shifted(method, *extra):
    """``a[1:].<method>(a[:-1], *extra)``: the input overlaps the output in part."""
    def fn(L):
        a = _a(L)
        getattr(a[1:], method)(a[:-1], *extra)
        return a
    return fn


def _run(fn):
    def go(L):
        a = _a(L)
        fn(L, a)
        return a
    return go


@pytest.mark.parametrize("method, extra", [
    ("copy_", ()), ("add_", ()), ("sub_", ()), ("mul_", ()), ("div_", ()), ("pow_", ()),
    ("fmod_", ()), ("remainder_", ()), ("atan2_", ()), ("hypot_", ()), ("copysign_", ()),
    ("lerp_", (0.5,)), ("clamp_min_", ()), ("clamp_max_", ()), ("xlogy_", ()), ("eq_", ()),
    ("lt_", ()), ("floor_divide_", ()), ("true_divide_", ())])
def test_partial_overlap_is_refused(method, extra):
    same(_shifted(method, *extra))


@pytest.mark.parametrize("fn", [
    lambda L, a: a.copy_(a), lambda L, a: a[:].copy_(a), lambda L, a: a.add_(a),
    lambda L, a: a.sub_(a), lambda L, a: a[:3].copy_(a[3:]), lambda L, a: a[1:].copy_(a[0]),
    lambda L, a: a[1:].add_(a[0]), lambda L, a: a.fill_(a[0]),
    lambda L, a: a.masked_fill_(a > 3, a[0]), lambda L, a: a.index_fill_(0, L.tensor([1]), a[0]),
    lambda L, a: a[1:].copy_(a[0].expand(5)), lambda L, a: a.__setitem__(slice(None), a),
    lambda L, a: a.__setitem__(slice(0, 2), a[3:5]), lambda L, a: a.__setitem__(a > 3, a[0:1]),
    lambda L, a: a.__setitem__(slice(1, None), a[0]),
    lambda L, a: a.copy_(a.view(L.int32)),
    # the overlapping ones
    lambda L, a: a.view(2, 3).add_(a.view(3, 2).t()), lambda L, a: a.__setitem__(slice(1, None), a[:-1]),
    lambda L, a: a.__setitem__(L.tensor([1, 2, 3]), a[0:3]),
    lambda L, a: a.__setitem__(L.tensor([0, 1, 2, 3, 4, 5]), a),
    lambda L, a: a.__setitem__(L.tensor([1, 2]), a[0]),
    lambda L, a: a.index_copy_(0, L.tensor([1, 2]), a[0:2]),
    lambda L, a: a.index_copy_(0, L.tensor([0, 1, 2, 3, 4, 5]), a),
    lambda L, a: a.index_add_(0, L.tensor([1, 2]), a[0:2]),
    lambda L, a: a.scatter_(0, L.tensor([1, 2]), a[0:2]),
    lambda L, a: a.scatter_add_(0, L.tensor([1, 2]), a[0:2]),
    lambda L, a: a.put_(L.tensor([1, 2]), a[0:2]),
    lambda L, a: a[1:].addcmul_(a[:-1], a[:-1]), lambda L, a: a[1:].clamp_(a[:-1], None)])
def test_overlap_rules_match_torch(fn):
    """The same memory in the same layout is allowed (a.add_(a)); in part it is refused;
    index writes (index_copy_, scatter_, put_, ``a[idx] = v``) refuse any overlap; a
    number-like value (fill_, masked_fill_ with a one-element tensor) is exempt."""
    same(_run(fn))


def test_overlap_refused_while_recording():
    def fn(L):
        a = L.arange(1.0, 7.0, requires_grad=True).clone()
        a[1:].add_(a[:-1])
        return a
    same(fn)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("v", [1e5, 1e40, -1e40, float("inf"), 7.0])
def test_scalar_stored_into_float_tensor_checks_range(dtype, v):
    """torch checks numbers stored into float tensors too, except where the number
    becomes a one-element float16 tensor first (where, setitem)."""
    def t(L):
        return L.zeros(3, dtype=getattr(L, dtype))

    def setitem(L, index):
        x = t(L)
        x[index] = v
        return x
    for fn in (lambda L: t(L).masked_fill(L.tensor([True, False, True]), v),
               lambda L: t(L).index_fill(0, L.tensor([0]), v),
               lambda L: L.where(L.tensor([False, True, False]), t(L), v),
               lambda L: t(L).clamp(max=v), lambda L: L.add(t(L), t(L), alpha=v),
               lambda L: t(L) ** v, lambda L: setitem(L, 0), lambda L: setitem(L, slice(0, 2)),
               lambda L: setitem(L, L.tensor([0, 2]))):
        same(fn)


# ---- index_add / index_copy: the shapes each accepts and the order of torch's checks ---------

INDEX_WRITES = [
    lambda L: L.zeros(3).index_add(0, L.tensor([1]), L.tensor(5.)),             # 0-d source
    lambda L: L.tensor(2.).index_add(0, L.tensor([0]), L.tensor(7.)),
    lambda L: L.tensor(2.).index_add(0, L.tensor([0]), L.tensor([7.])),
    lambda L: L.tensor(1.).index_add(0, L.tensor([0, 0]), L.ones(2)),
    lambda L: L.zeros(2, 3).index_add(0, L.tensor([1]), L.ones(3)),             # count first
    lambda L: L.zeros(2, 3).index_add(0, L.tensor([1, 0, 1]), L.ones(3)),
    lambda L: L.zeros(2, 3).index_add(1, L.tensor([1]), L.ones(3)),             # dim of source
    lambda L: L.zeros(2, 3).index_add(-1, L.tensor([1]), L.ones(2, 1)),
    lambda L: L.zeros(2, 3).index_add(0, L.tensor([1]), L.ones(1, 3, 1)),
    lambda L: L.tensor(2.).index_add(0, L.tensor([0]), L.ones(1, 1)),
    lambda L: L.zeros(3).index_add(0, L.tensor([5]), L.ones(1)),                # bounds, 1-d
    lambda L: L.zeros(3).index_add(0, L.tensor([-1], dtype=L.int32), L.ones(1)),
    lambda L: L.zeros(3, 2).index_add(1, L.tensor([-1]), L.ones(3, 1)),         # bounds, 2-d
    lambda L: L.zeros(3).index_copy(0, L.tensor([1]), L.tensor(5.)),
    lambda L: L.tensor(2.).index_copy(0, L.tensor([0]), L.tensor([7.])),
    lambda L: L.tensor(1.).index_copy(0, L.tensor([0]), L.ones(2)),
    lambda L: L.zeros(3).index_copy(0, L.tensor([1, 2]), L.tensor(1.)),
    lambda L: L.zeros(2, 3).index_copy(0, L.tensor([1]), L.ones(3)),            # dimensionality
    lambda L: L.zeros(3).index_copy(0, L.tensor([0]), L.ones(1, 1)),
    lambda L: L.tensor(2.).index_copy(0, L.tensor([0]), L.ones(1, 1)),          # slice shapes
    lambda L: L.zeros(2, 3, 4).index_copy(1, L.tensor([1]), L.ones(2, 1, 5)),
    lambda L: L.zeros(3, 2).index_copy(0, L.tensor([1, 2]), L.ones(3, 2)),      # count last
    lambda L: L.zeros(3).index_copy(0, L.tensor([5]), L.ones(1)),
]


@pytest.mark.parametrize("fn", INDEX_WRITES)
def test_index_add_and_copy_shapes_as_torch(fn):
    same(fn)
