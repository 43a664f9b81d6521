"""Indexing against torch: x[...] reads and writes, gather/scatter, index_*, masked_*,
take, put, nonzero, searchsorted; forward, gradients, views, versions and errors."""
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, rand, pair, assert_close, shares_memory

DTYPES = [np.float64, np.float32]

MASK3 = np.random.default_rng(5).random((3, 4, 5)) > 0.5
MASK2 = np.random.default_rng(6).random((4, 5)) > 0.4
MASK1 = np.array([True, False, True])


def T(L, data, dtype=None):
    """An index tensor in library L (ember or torch)."""
    return L.tensor(data) if dtype is None else L.tensor(data, dtype=getattr(L, dtype))


# ---- x[index]: forward and gradient ----------------------------------------------------

GET = {
    "int": lambda L: 1,
    "neg_int": lambda L: -1,
    "slice": lambda L: slice(1, 3),
    "slice_step": lambda L: (slice(None), slice(None, None, 2)),
    "int_slice": lambda L: (1, slice(1, None)),
    "ellipsis_int": lambda L: (Ellipsis, 2),
    "none": lambda L: (None, 0, None),
    "all_ints": lambda L: (1, 2, 3),
    "ellipsis": lambda L: Ellipsis,
    "full": lambda L: slice(None),
    "empty_slice": lambda L: slice(5, 10),
    "true": lambda L: True,
    "false": lambda L: False,
    "slice_true": lambda L: (slice(None), True),
    "tensor_rep": lambda L: T(L, [0, 2, 0, 0]),
    "tensor_neg": lambda L: T(L, [-1, 0, -3]),
    "tensor_2d": lambda L: T(L, [[0, 1], [2, 2]]),
    "int32": lambda L: T(L, [2, 0, 2], "int32"),
    "tensor_dim1": lambda L: (slice(None), T(L, [3, 0, 3])),
    "tensor_dim2": lambda L: (Ellipsis, T(L, [4, 4, 1])),
    "list": lambda L: [1, 1, 2],
    "ndarray": lambda L: np.array([2, 1]),
    "adjacent": lambda L: (slice(None), [0, 1, 1], [1, 2, 4]),
    "separated": lambda L: ([0, 1, 0], slice(None), [1, 2, 2]),
    "separated_bcast": lambda L: (T(L, [[0], [2]]), slice(None), T(L, [0, 4, 3])),
    "int_then_adv": lambda L: (0, slice(None), [0, 1]),
    "adv_int_adv": lambda L: ([0, 1], 0, [0, 1]),
    "adv_none_adv": lambda L: ([0, 1], None, [0, 1]),
    "adv_ell_adv": lambda L: ([0, 2], Ellipsis, [1, 3]),
    "slice_adv": lambda L: (slice(1, 3), [0, 3, 3]),
    "zero_d_int": lambda L: T(L, 1),
    "zero_d_and_adv": lambda L: (T(L, 2), T(L, [0, 3])),
    "mask_full": lambda L: T(L, MASK3),
    "mask_2d_tail": lambda L: (slice(None), T(L, MASK2)),
    "mask_1d": lambda L: T(L, MASK1),
    "mask_and_adv": lambda L: (T(L, MASK1), slice(None), [0, 4]),
    "mask_none": lambda L: T(L, np.zeros((3, 4), bool)),
    "empty_tensor": lambda L: T(L, [], "int64"),
    "empty_list": lambda L: [],
    "bool_list": lambda L: [True, False, True],
    "true_adv": lambda L: (0, True, slice(None), [0, 1]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(GET))
def test_getitem(name, dtype):
    idx = GET[name]
    check(lambda L, x: x[idx(L)], rand(3, 4, 5, dtype=dtype))


def test_getitem_noncontiguous_and_0d():
    check(lambda L, x: x.transpose(0, 2)[1:, T(L, [0, 2])], rand(3, 4, 5))
    check(lambda L, x: x.t()[T(L, [1, 1, 0])], rand(2, 3))
    check(lambda L, x: x[...], rand())
    check(lambda L, x: x[None], rand())
    check(lambda L, x: x[True], rand())
    check(lambda L, x: x[1] * x[T(L, [1, 1])].sum(), rand(4))


def test_getitem_dtypes_kept():
    for L in (ember, torch):
        x = L.arange(6).reshape(2, 3)
        assert x[0].dtype == L.int64 and x[T(L, [1, 0])].dtype == L.int64
        b = L.tensor([True, False])
        assert b[T(L, [1, 1])].dtype == L.bool


def test_basic_index_is_view():
    x = ember.arange(12.).reshape(3, 4)
    for v in (x[1], x[:, 1:3], x[None, 0], x[1, 2], x[...]):
        assert v._vc is x._vc
        assert shares_memory(v, x)
    v = x[1, 2]
    assert v.shape == () and v._base is x._base or v._base is x
    x.add_(1)
    assert v.item() == 7.0 and x[1]._version == x._version
    a = x[ember.tensor([0, 1])]
    assert not shares_memory(a, x) and a._vc is not x._vc
    # writing through a view changes the base
    x[0].fill_(-1)
    assert (x[0] == -1).all()


def test_inplace_through_getitem_view():
    def fn(L, x, w):
        y = x * 1
        y[1].mul_(w)
        y[:, 2:].add_(w)
        y[0, None].zero_()
        return y
    check(fn, rand(3, 4), rand(seed=1))


def test_getitem_grad_repeated_accumulates():
    e, t = pair(rand(5, 3))
    idx = [0, 0, 4, 0, -1]
    (e[ember.tensor(idx)] * 2).sum().backward()
    (t[torch.tensor(idx)] * 2).sum().backward()
    assert_close(e.grad, t.grad)
    assert e.grad.cpu().numpy()[0, 0] == 6.0 and e.grad.cpu().numpy()[4, 0] == 4.0


def test_getitem_large_repeated_grad():
    # an embedding-style lookup: many repeats, the flat add.at path
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 50, (32, 7))
    check(lambda L, x: x[T(L, idx)], rand(50, 16, dtype=np.float32))
    check(lambda L, x: x[:, T(L, idx)], rand(3, 50, 4, dtype=np.float32))


@pytest.mark.parametrize("name", ["int", "slice_step", "none", "tensor_rep", "separated",
                                  "mask_2d_tail", "mask_and_adv", "true_adv", "adv_none_adv"])
def test_getitem_gradcheck_and_double_backward(name):
    idx = GET[name](ember)
    x = ember.tensor(rand(3, 4, 5)).requires_grad_()
    assert gradcheck(lambda a: a[idx] ** 2, (x,))
    assert gradgradcheck(lambda a: a[idx] ** 2, (x,))


def test_getitem_double_backward_vs_torch():
    for L in (ember, torch):
        x = L.tensor(rand(4, 3)).requires_grad_()
        y = (x[T(L, [0, 0, 2])] ** 3).sum()
        (g,) = L.autograd.grad(y, x, create_graph=True)
        (gg,) = L.autograd.grad((g * g[0:1, :]).sum(), x)
        if L is ember:
            ge, gge = g, gg
        else:
            assert_close(ge, g)
            assert_close(gge, gg)


def _err(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    raise AssertionError("no error raised")


def same_error(fn, exact=True, match=None):
    """fn(L) raises the same exception type in ember and torch (and message)."""
    et, em = _err(lambda: fn(ember))
    tt, tm = _err(lambda: fn(torch))
    assert et is tt, f"ember raised {et.__name__}: {em}; torch {tt.__name__}: {tm}"
    if match is not None:
        assert match in em, em
    elif exact:
        assert em == tm.replace("torch.", "ember."), f"\nember: {em}\ntorch: {tm}"
    return em


def test_getitem_errors():
    x = lambda L: L.zeros(2, 3, 4)  # noqa: E731
    same_error(lambda L: x(L)[5])
    same_error(lambda L: x(L)[-3])
    same_error(lambda L: x(L)[0, 7])
    same_error(lambda L: x(L)[:, :, 9])
    same_error(lambda L: x(L)[0, 0, 0, 0])
    same_error(lambda L: x(L)[::-1])
    same_error(lambda L: x(L)[::0])
    same_error(lambda L: x(L)[1.5])
    same_error(lambda L: x(L)[L.tensor([1.0])])
    same_error(lambda L: x(L)[L.tensor([1, 0], dtype=L.int8)])
    same_error(lambda L: x(L)[L.tensor([True, False, True])])
    same_error(lambda L: x(L)[:, L.tensor([True, False])])
    same_error(lambda L: L.tensor(1.0)[0])
    same_error(lambda L: x(L)[L.tensor([0, 5])], exact=False,
               match="index 5 is out of bounds for dimension 0 with size 2")
    same_error(lambda L: x(L)[:, [0, 3]], exact=False, match="index 3 is out of bounds")
    same_error(lambda L: x(L)[[0, 1], :, [0, 1, 2]], exact=False, match="shape mismatch")
    same_error(lambda L: x(L)[np.bool_(True)])


def test_getitem_nested_list_is_tuple():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda L, x: x[[[0, 1], [1, 2]]], rand(3, 4))
        check(lambda L, x: x[[1, [0, 2]]], rand(3, 4))


def test_uint8_mask_deprecated():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda L, x: x[L.tensor([1, 0, 1], dtype=L.uint8)], rand(3, 2))


# ---- x[index] = value ------------------------------------------------------------------

SET = [
    ("int", lambda L: 1, lambda L: 7.5),
    ("int_row", lambda L: 1, lambda L: T(L, [[1.0, 2, 3, 4, 5]] * 4)),
    ("bcast_row", lambda L: (slice(None), 0), lambda L: T(L, [1.0, 2, 3, 4, 5])),
    ("lead_ones", lambda L: 0, lambda L: T(L, np.ones((1, 1, 4, 5)))),
    ("slice", lambda L: (slice(None), slice(1, 3)), lambda L: T(L, [[-1.0], [-2.0]] * 1)),
    ("adv", lambda L: T(L, [0, 2]), lambda L: 3.0),
    ("adv_bcast", lambda L: (slice(None), T(L, [0, 2])), lambda L: T(L, np.arange(5.0))),
    ("separated", lambda L: ([0, 1], slice(None), [1, 2]),
     lambda L: T(L, np.arange(2.0)[:, None])),
    ("mask", lambda L: T(L, MASK3), lambda L: -1.0),
    ("mask_vals", lambda L: T(L, MASK3), lambda L: T(L, np.arange(float(MASK3.sum())))),
    ("mask_1elem_f64", lambda L: T(L, MASK3), lambda L: T(L, [2.5], "float64")),
    ("int_tensor_value", lambda L: (0, 1), lambda L: T(L, [7])),
    ("mask_tail", lambda L: (0, T(L, MASK2)), lambda L: 2.0),
    ("ellipsis", lambda L: (Ellipsis, 1), lambda L: T(L, np.ones((3, 4)))),
    ("none", lambda L: (None, 1), lambda L: 0.5),
    ("empty", lambda L: T(L, [], "int64"), lambda L: 1.0),
    ("int_tensor_value", lambda L: 2, lambda L: T(L, [[1, 2, 3, 4, 5]])),
    ("basic_f64", lambda L: 2, lambda L: T(L, np.full(5, 0.1))),
]


@pytest.mark.parametrize("name,idx,val", SET, ids=[s[0] for s in SET])
def test_setitem_no_grad(name, idx, val):
    for dtype in DTYPES:
        a = rand(3, 4, 5, dtype=dtype)
        outs = []
        for L in (ember, torch):
            x = L.tensor(a.copy())
            v0 = x._version
            v = val(L)
            if isinstance(v, L.Tensor) and v.is_floating_point() and not name.endswith("f64"):
                v = v.to(x.dtype)  # advanced setitem wants matching dtypes
            x[idx(L)] = v
            assert x._version > v0
            outs.append(x)
        assert_close(*outs)


def test_setitem_int_and_bool_targets_cast():
    for L in (ember, torch):
        x = L.arange(6).reshape(2, 3)
        x[0] = 1.7
        x[1] = L.tensor([1.7, 2.5, 3.9])
        b = L.zeros(3, dtype=L.bool)
        b[1] = 1
        if L is ember:
            ex, eb = x, b
    assert_close(ex, x)
    assert_close(eb, b)


def test_setitem_list_value():
    x = ember.zeros(2, 3)
    x[0] = [1, 2, 3]
    x[:, 2] = np.array([7.0, 8.0])
    assert x.tolist() == [[1, 2, 7], [0, 0, 8]]


def test_setitem_overlapping_source():
    """torch refuses a source overlapping the target in part; a clone of it is fine."""
    for L in (ember, torch):
        x = L.arange(6.0)
        with pytest.raises(RuntimeError, match="refer to a single memory location"):
            x[1:] = x[:-1]
        x[1:] = x[:-1].clone()
        if L is ember:
            ex = x
    assert_close(ex, x)


def _setitem_fn(idx):
    def fn(L, x, v):
        y = x * 1
        y[idx(L)] = v
        return y * 2
    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,idx,vshape", [
    ("int", lambda L: 1, (4, 5)),
    ("int_bcast", lambda L: 1, (5,)),
    ("lead_ones", lambda L: 0, (1, 1, 4, 5)),
    ("scalar_value", lambda L: (0, 1), ()),
    ("slice_bcast", lambda L: (slice(None), slice(1, 3)), (3, 1, 5)),
    ("adv", lambda L: T(L, [0, 2]), (2, 4, 5)),
    ("adv_bcast", lambda L: T(L, [0, 2]), (1, 5)),
    ("adv_rep", lambda L: T(L, [2, 0, 2]), (3, 4, 5)),
    ("separated", lambda L: ([0, 1], slice(None), [1, 2]), (2, 4)),
    ("mask", lambda L: T(L, MASK3), (int(MASK3.sum()),)),
    ("mask_scalar", lambda L: T(L, MASK3), ()),
    ("mask_tail", lambda L: (1, T(L, MASK2)), (int(MASK2.sum()),)),
])
def test_setitem_differentiable(name, idx, vshape, dtype):
    check(_setitem_fn(idx), rand(3, 4, 5, dtype=dtype), rand(*vshape, dtype=dtype, seed=1))


def test_setitem_value_grad_into_constant_target():
    def fn(L, v):
        y = L.zeros(3, 4, dtype=L.float64)
        y[1] = v
        y[:, 0] = v[0] * 3
        return y
    check(fn, rand(4))


def test_setitem_value_cast_grad():
    # a float32 value written into a float64 tensor: cast, gradient flows back in float32
    check(lambda L, x, v: (lambda y: (y.__setitem__(0, v), y)[1])(x * 1),
          rand(2, 3), rand(3, dtype=np.float32))


def test_setitem_on_view_updates_base_grad():
    def fn(L, x, w):
        y = x * 1
        v = y[0]
        v[1] = 5
        v[2:] = w
        return y * y
    check(fn, rand(3, 4), rand(2, seed=1))


def test_setitem_advanced_on_view():
    def fn(L, x, w):
        y = x * 1
        v = y[1]
        v[T(L, [0, 2, 0])] = w
        return y * x
    check(fn, rand(3, 4), rand(3, seed=1))


def test_setitem_on_transposed_view():
    def fn(L, x, w):
        y = x * 1
        yt = y.t()
        yt[1] = w
        yt[T(L, [0, 3]), 2] = w[0]
        return y.sin()
    check(fn, rand(3, 4), rand(3, seed=1))


def test_setitem_grad_value_into_view_of_constant():
    def fn(L, w):
        base = L.zeros(2, 3, dtype=L.float64)
        v = base[1]
        v[1:] = w
        return base * 3
    check(fn, rand(2))


def test_index_put_value_only_grad():
    check(lambda L, v: L.zeros(3, 2, dtype=L.float64).index_put((T(L, [2, 0, 2]),), v, True),
          rand(3, 2))


def test_setitem_on_view_chain():
    def fn(L, x):
        y = x.sin()
        r = y[1:]
        r[:, 0] = r[:, 1] + 2
        return y
    check(fn, rand(3, 3))


def test_setitem_gradcheck_double_backward():
    x = ember.tensor(rand(3, 4)).requires_grad_()
    v = ember.tensor(rand(2, 4, seed=2)).requires_grad_()

    def f(a, b):
        y = a * a
        y[ember.tensor([2, 0])] = b * b
        return y
    assert gradcheck(f, (x, v))
    assert gradgradcheck(f, (x, v))

    def g(a, b):
        y = a * a
        y[0] = b[0] * b[1]
        y[1:, 1] = b[1, 2]
        return y
    assert gradcheck(g, (x, v))
    assert gradgradcheck(g, (x, v))


def test_setitem_leaf_errors():
    same_error(lambda L: L.zeros(3, requires_grad=True).__setitem__(0, 1.0))
    same_error(lambda L: L.zeros(3, requires_grad=True).__setitem__([0], 1.0))
    same_error(lambda L: L.zeros(3, requires_grad=True)[1:].__setitem__(0, 1.0))


def test_setitem_no_grad_on_leaf_allowed():
    for L in (ember, torch):
        x = L.zeros(3, requires_grad=True)
        with L.no_grad():
            x[1] = 2.0
        assert x.tolist() == [0.0, 2.0, 0.0] and x.requires_grad and x.grad_fn is None


def test_setitem_version_counter_error():
    for L in (ember, torch):
        x = L.tensor(rand(3)).requires_grad_()
        y = x.exp()
        y[0] = 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_setitem_bumps_version_of_views():
    x = ember.zeros(3, 4)
    v = x[1]
    x[0, 0] = 1
    assert v._version == x._version == 1
    v[2] = 3
    assert x._version == 2 and x[1, 2].item() == 3


def test_setitem_errors():
    same_error(lambda L: L.zeros(2, 3).__setitem__([0, 1], L.ones(3, 3)))
    same_error(lambda L: L.zeros(2, 3).__setitem__(L.tensor([[True, False, True], [False] * 3]),
                                                   L.ones(3)))
    same_error(lambda L: L.zeros(2, 3).__setitem__(0, L.ones(2)), exact=False)
    same_error(lambda L: L.zeros(2, 3).__setitem__(5, 1.0))
    same_error(lambda L: L.zeros(2, 3).__setitem__((0, 0, 0), 1.0))
    same_error(lambda L: L.zeros(2, 3).__setitem__([0], L.ones(3, dtype=L.float64)))
    same_error(lambda L: L.zeros(2, 3).__setitem__(L.tensor([True, False]),
                                                   L.ones(3, dtype=L.long)))


# ---- gather / scatter ------------------------------------------------------------------

IDX23 = np.array([[0, 2, 2], [1, 0, 1]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather(dtype):
    x = rand(3, 4, dtype=dtype)
    check(lambda L, a: a.gather(0, T(L, IDX23)), x)
    check(lambda L, a: L.gather(a, 1, T(L, IDX23)), x)
    check(lambda L, a: a.gather(-1, T(L, [[3, 3, 3, 0, 1]])), x)   # index larger along dim
    check(lambda L, a: a.gather(1, T(L, IDX23, "int32")), x)
    check(lambda L, a: a.gather(0, T(L, np.zeros((0, 4), np.int64))), x)
    check(lambda L, a: a.t().gather(1, T(L, IDX23)), x)            # non-contiguous
    check(lambda L, a: a.gather(0, T(L, 0)), rand())
    check(lambda L, a: a.gather(0, T(L, [1, 1])), rand(3))


def test_gather_gradcheck_double_backward():
    x = ember.tensor(rand(3, 4)).requires_grad_()
    idx = ember.tensor(IDX23)
    assert gradcheck(lambda a: a.gather(1, idx) ** 2, (x,))
    assert gradgradcheck(lambda a: a.gather(1, idx) ** 2, (x,))
    assert gradgradcheck(lambda a: a.gather(0, idx) ** 3, (x,))


def test_gather_errors():
    x = lambda L: L.zeros(2, 3)  # noqa: E731
    same_error(lambda L: x(L).gather(1, L.zeros(2, 2)))
    same_error(lambda L: x(L).gather(1, L.tensor([0, 1])))
    same_error(lambda L: x(L).gather(0, L.zeros(2, 4, dtype=L.long)))
    same_error(lambda L: x(L).gather(1, L.full((2, 2), 5)))
    same_error(lambda L: x(L).gather(1, L.full((2, 2), -1)))
    same_error(lambda L: x(L).gather(2, L.full((2, 2), 0)))


SRC = rand(3, 4, seed=3)
IDX_S = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])       # scatter along 0 into (3, 4)
IDX_R = np.array([[0, 0, 2, 0], [2, 0, 0, 0]])       # with repeats


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter(dtype):
    x = rand(3, 4, dtype=dtype)
    src = rand(2, 4, dtype=dtype, seed=3)
    check(lambda L, a, s: a.scatter(0, T(L, IDX_S), s), x, src)
    check(lambda L, a, s: L.scatter(a, 1, T(L, [[3, 1], [0, 2]]), s), x, rand(2, 2, dtype=dtype))
    check(lambda L, a: a.scatter(1, T(L, [[3, 1], [0, 2]]), 2.5), x)
    check(lambda L, a: a.scatter(1, T(L, [[3, 1], [0, 2]]), value=-1.0), x)
    check(lambda L, a, s: a.t().scatter(0, T(L, [[3, 1], [0, 2]]), s), x, rand(2, 2, dtype=dtype))
    check(lambda L, a, s: a.scatter(1, T(L, [[3, 1]], "int32"), s), x, rand(1, 2, dtype=dtype))
    # src larger than index: only the leading block is used (torch can't differentiate this)
    check(lambda L, a, s: a.scatter(0, T(L, IDX_S), s), x, SRC.astype(dtype), grad=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add(dtype):
    x = rand(3, 4, dtype=dtype)
    check(lambda L, a, s: a.scatter_add(0, T(L, IDX_R), s), x, rand(2, 4, dtype=dtype, seed=3))
    check(lambda L, a, s: L.scatter_add(a, 1, T(L, [[1, 1, 1]]), s), x, rand(1, 3, dtype=dtype))
    check(lambda L, a, s: a.scatter_add(0, T(L, IDX_R), s), x, SRC.astype(dtype), grad=False)


def test_scatter_src_larger_than_index_grad():
    # torch refuses this gradient; Ember's is checked numerically
    x = ember.tensor(rand(3, 4)).requires_grad_()
    s = ember.tensor(SRC).requires_grad_()
    idx = ember.tensor(IDX_R)
    assert gradcheck(lambda a, b: a.scatter(0, ember.tensor(IDX_S), b), (x, s))
    assert gradcheck(lambda a, b: a.scatter_add(0, idx, b), (x, s))
    assert gradcheck(lambda a, b: a.scatter_reduce(0, idx, b, "amax"), (x, s))
    assert gradgradcheck(lambda a, b: a.scatter_add(0, idx, b) ** 2, (x, s))
    assert gradgradcheck(lambda a, b: a.scatter(0, idx[:, :1], b) ** 2, (x, s))


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_arg(reduce):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda L, a, s: a.scatter(0, T(L, IDX_R), s, reduce=reduce), rand(3, 4), SRC,
              grad=False)
        check(lambda L, a: a.scatter(0, T(L, IDX_R), 2.0, reduce=reduce), rand(3, 4), grad=False)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    x = rand(3, 4)
    x[1, 1] = 0.0  # a zero in a prod group
    s = rand(2, 4, seed=3)
    s[0, 1] = 0.0
    check(lambda L, a, b: a.scatter_reduce(0, T(L, IDX_R), b, reduce, include_self=include_self),
          x, s)
    # ties for amax/amin: the gradient is shared
    check(lambda L, a, b: a.scatter_reduce(1, T(L, [[0, 0], [1, 1]]), b, reduce,
                                           include_self=include_self), np.ones((2, 3)),
          np.ones((2, 2)))
    check(lambda L, a, b: a.scatter_reduce(0, T(L, IDX_R), b, reduce, include_self=include_self),
          x, SRC, grad=False)


def test_scatter_reduce_int():
    for red in ("sum", "prod", "mean", "amax", "amin"):
        outs = []
        for L in (ember, torch):
            x = L.tensor([[5, 2, 7], [1, 9, 4]])
            outs.append(x.scatter_reduce(1, L.tensor([[0, 0], [2, 2]]), L.tensor([[3, 8], [6, 1]]),
                                         red, include_self=False))
        assert_close(*outs)


def test_scatter_errors():
    x = lambda L: L.zeros(2, 3)  # noqa: E731
    I = lambda L, *s, v=0: L.full(s, v)  # noqa: E731, E741
    same_error(lambda L: x(L).scatter(1, L.zeros(2, 2), 1.0))
    same_error(lambda L: x(L).scatter(1, I(L, 2), 1.0))
    same_error(lambda L: x(L).scatter(1, I(L, 3, 2), 1.0))
    same_error(lambda L: x(L).scatter(1, I(L, 2, 3), L.ones(2, 2)))
    same_error(lambda L: x(L).scatter(1, I(L, 2, 2, v=5), L.ones(2, 2)))
    same_error(lambda L: x(L).scatter(1, I(L, 2, 2, v=-1), 1.0))
    same_error(lambda L: x(L).scatter(1, I(L, 2, 2), L.ones(2, 2, dtype=L.float64)))
    same_error(lambda L: x(L).scatter_add(1, I(L, 3, 2), L.ones(3, 2)))
    same_error(lambda L: x(L).scatter(1, I(L, 2, 2), L.ones(2, 2), reduce="max"))
    same_error(lambda L: x(L).scatter_reduce(1, I(L, 2, 2), L.ones(2, 2), reduce="add"))


# ---- index_select / index_add / index_copy / index_fill --------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select(dtype):
    x = rand(3, 4, 5, dtype=dtype)
    check(lambda L, a: a.index_select(0, T(L, [2, 0, 2])), x)
    check(lambda L, a: L.index_select(a, -1, T(L, [4, 4, 1, 0])), x)
    check(lambda L, a: a.index_select(1, T(L, [3], "int32")), x)
    check(lambda L, a: a.index_select(1, T(L, 2)), x)
    check(lambda L, a: a.index_select(1, T(L, [], "int64")), x)
    check(lambda L, a: a.transpose(0, 1).index_select(1, T(L, [1, 1])), x)
    check(lambda L, a: a.index_select(0, T(L, [0])), rand())


def test_index_select_gradcheck_double_backward():
    x = ember.tensor(rand(4, 3)).requires_grad_()
    idx = ember.tensor([3, 0, 3])
    assert gradcheck(lambda a: a.index_select(0, idx) ** 2, (x,))
    assert gradgradcheck(lambda a: a.index_select(0, idx) ** 2, (x,))
    assert gradgradcheck(lambda a: a.index_select(1, ember.tensor([2, 2])) ** 3, (x,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_add(dtype):
    x = rand(3, 4, dtype=dtype)
    check(lambda L, a, s: a.index_add(0, T(L, [2, 0, 2]), s), x, rand(3, 4, dtype=dtype, seed=1))
    check(lambda L, a, s: L.index_add(a, 1, T(L, [3, 3]), s, alpha=-2.5), x,
          rand(3, 2, dtype=dtype, seed=1))
    check(lambda L, a, s: a.index_add(1, T(L, [1], "int32"), s), x, rand(3, 1, dtype=dtype))
    check(lambda L, a, s: a.index_add(0, T(L, [0]), s), rand(), rand())


def test_index_copy_and_fill():
    x = rand(3, 4)
    check(lambda L, a, s: a.index_copy(1, T(L, [3, 0]), s), x, rand(3, 2, seed=1))
    check(lambda L, a, s: L.index_copy(a, 0, T(L, [1]), s), x, rand(1, 4, seed=1))
    check(lambda L, a: a.index_fill(1, T(L, [3, 0, 3]), -1.5), x)
    check(lambda L, a: a.index_fill(0, T(L, [-1]), 2), x)
    check(lambda L, a, v: a.index_fill(1, T(L, [2, 0, 2]), v), x, rand())
    check(lambda L, a, v: L.index_fill(a, 0, T(L, [0]), v), rand(), rand(seed=2))


def test_index_op_errors():
    x = lambda L: L.zeros(2, 3)  # noqa: E731
    same_error(lambda L: x(L).index_select(1, L.tensor([0.0])))
    same_error(lambda L: x(L).index_select(1, L.tensor([[0]])))
    same_error(lambda L: x(L).index_select(1, L.tensor([3])), exact=False, match="out of")
    same_error(lambda L: x(L).index_select(1, L.tensor([-1])), exact=False, match="out of")
    same_error(lambda L: x(L).index_add(1, L.tensor([3]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_add(1, L.tensor([-1]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_add(1, L.tensor([0]), L.ones(2, 2)))
    same_error(lambda L: x(L).index_add(1, L.tensor([0]), L.ones(3, 1)))
    same_error(lambda L: x(L).index_add(1, L.tensor([0]), L.ones(2, 1, dtype=L.float64)))
    same_error(lambda L: x(L).index_add(1, L.tensor([0.0]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_add(1, L.tensor([[0]]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([0], dtype=L.int32), L.ones(2, 1)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([3]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([0]), L.ones(2, 1, dtype=L.float64)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([0]), L.ones(2, 2)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([0]), L.ones(3, 1)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([[0]]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_copy(1, L.tensor([-1]), L.ones(2, 1)))
    same_error(lambda L: x(L).index_fill(1, L.tensor([[0]]), 1.0))
    same_error(lambda L: x(L).index_fill(1, L.tensor([0], dtype=L.int32), 1))
    same_error(lambda L: x(L).index_fill(1, L.tensor([3]), 1.0))
    same_error(lambda L: x(L).index_fill(1, L.tensor([0]), L.ones(1)))


# ---- index_put ---------------------------------------------------------------------------

@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put(accumulate):
    x = rand(3, 4)
    check(lambda L, a, v: a.index_put((T(L, [0, 2, 0]),), v, accumulate=accumulate), x,
          rand(3, 4, seed=1))
    check(lambda L, a, v: L.index_put(a, (T(L, [0, 2, 0]), T(L, [1, 1, 1])), v,
                                      accumulate=accumulate), x, rand(3, seed=1))
    check(lambda L, a, v: a.index_put([T(L, MASK2[:3, :4])], v, accumulate), x, rand(seed=1))
    check(lambda L, a, v: a.index_put((T(L, [True, False, True]),), v, accumulate), x,
          rand(4, seed=1))
    check(lambda L, a: a.index_put((T(L, [1, 1]),), L.tensor(2.0, dtype=L.float64),
                                   accumulate=accumulate), x)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_inplace(accumulate):
    def fn(L, a, v):
        y = a * 1
        r = y.index_put_((T(L, [0, 2, 0]),), v, accumulate=accumulate)
        assert r is y
        return y
    check(fn, rand(3, 4), rand(4, seed=1))
    outs = []
    for L in (ember, torch):
        y = L.tensor(rand(3, 4))
        L.index_put_(y, (T(L, [0, 2, 0]), T(L, [3, 3, 3])), L.tensor([1.0, 2, 3], dtype=L.float64),
                     accumulate)
        outs.append(y)
    assert_close(*outs)


def test_index_put_errors():
    x = lambda L: L.zeros(2, 3)  # noqa: E731
    same_error(lambda L: x(L).index_put((L.tensor([1, 2]),), L.tensor([1.0, 2, 3])),
               exact=False, match="index 2 is out of bounds")
    same_error(lambda L: x(L).index_put([L.tensor([1.0])], L.tensor(1.0)))
    same_error(lambda L: x(L).index_put([L.tensor([1])], L.tensor(1.0, dtype=L.float64)))
    same_error(lambda L: x(L).index_put([L.tensor([1])], L.tensor(1)))
    same_error(lambda L: x(L).index_put((L.tensor([0]),), L.ones(4), accumulate=True),
               exact=False, match="shape mismatch")
    same_error(lambda L: x(L).index_put((L.tensor([0]),) * 3, L.ones(1)))


# ---- masked_* ------------------------------------------------------------------------------

MASK34 = np.random.default_rng(7).random((3, 4)) > 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_fill(dtype):
    x = rand(3, 4, dtype=dtype)
    check(lambda L, a: a.masked_fill(T(L, MASK34), -2.0), x)
    check(lambda L, a: L.masked_fill(a, T(L, MASK34[0]), 3), x)              # mask broadcast
    check(lambda L, a: a.masked_fill(T(L, np.stack([MASK34] * 2)), 1.0), x)  # input broadcast
    check(lambda L, a, v: a.masked_fill(T(L, MASK34), v), x, rand(dtype=dtype, seed=4))
    check(lambda L, a: a.masked_fill(T(L, MASK34), L.tensor(2.0, dtype=L.float64)), x)
    check(lambda L, a: a.masked_fill(T(L, np.zeros((3, 4), bool)), 1.0), x)
    check(lambda L, a: a.masked_fill(T(L, True), 1.0), rand())
    check(lambda L, a: a[:, :3].t().masked_fill(T(L, MASK34[:3, :3]), 0.0), x)


def test_masked_fill_int_and_inplace():
    outs = []
    for L in (ember, torch):
        x = L.arange(6).reshape(2, 3)
        r1 = x.masked_fill(x > 2, 1.5)
        y = L.tensor(rand(2, 3))
        v = y._version
        r2 = y.masked_fill_(y > 0, -1)
        assert r2 is y and y._version == v + 1
        outs.append((r1, y))
    assert_close(*outs)

    def fn(L, a, v):
        y = a * 1
        y.masked_fill_(T(L, MASK34[1]), v)
        return y
    check(fn, rand(3, 4), rand(seed=2))


def test_masked_fill_gradcheck_double_backward():
    x = ember.tensor(rand(3, 4)).requires_grad_()
    v = ember.tensor(rand(seed=3)).requires_grad_()
    m = ember.tensor(MASK34)
    assert gradcheck(lambda a, b: a.masked_fill(m, b) ** 2, (x, v))
    assert gradgradcheck(lambda a, b: a.masked_fill(m, b) ** 2 * b, (x, v))


def test_masked_fill_errors():
    x = lambda L: L.zeros(2, 3)  # noqa: E731
    same_error(lambda L: x(L).masked_fill(L.ones(2, 3, dtype=L.long), 1), exact=False,
               match="masked_fill_ only supports boolean masks")
    same_error(lambda L: x(L).masked_fill(L.ones(4, dtype=L.bool), 1))
    same_error(lambda L: x(L).masked_fill(L.ones(2, 3, dtype=L.bool), L.ones(1)))
    same_error(lambda L: x(L).masked_fill_(L.ones(4, 2, 3, dtype=L.bool), 1))
    same_error(lambda L: L.zeros(2, requires_grad=True).masked_fill_(L.ones(2, dtype=L.bool), 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_select(dtype):
    x = rand(3, 4, dtype=dtype)
    check(lambda L, a: a.masked_select(T(L, MASK34)), x)
    check(lambda L, a: L.masked_select(a, T(L, MASK34[1])), x)
    check(lambda L, a: a.masked_select(T(L, np.stack([MASK34, ~MASK34]))), x)
    check(lambda L, a: a.masked_select(T(L, np.zeros(4, bool))), x)
    m = ember.tensor(MASK34[0])
    e = ember.tensor(rand(3, 4)).requires_grad_()
    assert gradgradcheck(lambda a: a.masked_select(m) ** 2, (e,))
    same_error(lambda L: L.zeros(2).masked_select(L.ones(2, dtype=L.long)))


def test_masked_scatter():
    x = rand(3, 4)
    check(lambda L, a, s: a.masked_scatter(T(L, MASK34), s), x, rand(13, seed=1))
    check(lambda L, a, s: L.masked_scatter(a, T(L, MASK34[2]), s), x, rand(2, 7, seed=1))
    check(lambda L, a, s: a.masked_scatter(T(L, np.stack([MASK34] * 2)), s), x, rand(24, seed=1))

    def fn(L, a, s):
        y = a * 1
        y.masked_scatter_(T(L, MASK34), s)
        return y
    check(fn, x, rand(12, seed=1))
    same_error(lambda L: L.zeros(2, 3).masked_scatter(L.ones(2, 3, dtype=L.long), L.ones(6)))
    same_error(lambda L: L.zeros(2, 3).masked_scatter(L.ones(2, 3, dtype=L.bool), L.ones(5)))
    same_error(lambda L: L.zeros(2, 3).masked_scatter(L.ones(2, 3, dtype=L.bool),
                                                      L.ones(6, dtype=L.float64)), exact=False,
               match="same dtypes")


# ---- take / take_along_dim / put -----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_take(dtype):
    x = rand(3, 4, dtype=dtype)
    check(lambda L, a: a.take(T(L, [[0, 11], [-1, 0]])), x)
    check(lambda L, a: L.take(a.t(), T(L, [1, 1, 5])), x)
    check(lambda L, a: a.take(T(L, 0)), rand())
    e = ember.tensor(rand(3, 4)).requires_grad_()
    assert gradgradcheck(lambda a: a.take(ember.tensor([0, 0, 5])) ** 2, (e,))
    same_error(lambda L: L.zeros(2, 3).take(L.tensor([6])))
    same_error(lambda L: L.zeros(2, 3).take(L.tensor([-7])))
    same_error(lambda L: L.zeros(2, 3).take(L.tensor([0], dtype=L.int32)))


def test_take_along_dim():
    x = rand(3, 4)
    check(lambda L, a: a.take_along_dim(T(L, [[0], [1], [3]]), 1), x)
    check(lambda L, a: L.take_along_dim(a, T(L, [[0, -1, 2]]), 1), x)       # broadcast + negative
    check(lambda L, a: a.take_along_dim(T(L, [[2], [0]]), 0), x)
    check(lambda L, a: a.take_along_dim(T(L, [0, 11, 5])), x)                # dim=None
    check(lambda L, a: a.take_along_dim(T(L, np.argsort(x, axis=1)), dim=1), x)
    check(lambda L, a: a[:, :1].take_along_dim(T(L, [[0, 0]]), -1), x)
    same_error(lambda L: L.zeros(2, 3).take_along_dim(L.tensor([[0, 1]], dtype=L.int32), 1))
    same_error(lambda L: L.zeros(2, 3).take_along_dim(L.tensor([0, 1]), 1))
    same_error(lambda L: L.zeros(2, 3).take_along_dim(L.tensor([[[0, 1]]]), 1))


@pytest.mark.parametrize("accumulate", [False, True])
def test_put(accumulate):
    x = rand(3, 4)
    check(lambda L, a, s: a.put(T(L, [0, 11, -1, 5]), s, accumulate), x, rand(2, 2, seed=1))

    def fn(L, a, s):
        y = a * 1
        y.put_(T(L, [1, 1, 3]), s, accumulate=accumulate)
        return y
    check(fn, x, rand(3, seed=1))
    same_error(lambda L: L.zeros(2, 3).put_(L.tensor([7]), L.ones(1)))
    same_error(lambda L: L.zeros(2, 3).put_(L.tensor([1, 2]), L.ones(1)))
    same_error(lambda L: L.zeros(2, 3).put_(L.tensor([0], dtype=L.int32), L.ones(1)))
    same_error(lambda L: L.zeros(2, 3).put_(L.tensor([0]), L.ones(1, dtype=L.float64)))


# ---- in-place forms: no-grad results and differentiable on non-leaves ----------------------

INPLACE = {
    "scatter_": lambda L, y, s: y.scatter_(1, T(L, [[3, 0], [1, 1], [2, 0]]), s[:, :2]),
    "scatter_value": lambda L, y, s: y.scatter_(0, T(L, [[1, 0, 2, 1]]), 7.0),
    "scatter_add_": lambda L, y, s: y.scatter_add_(1, T(L, [[3, 3], [1, 1], [0, 0]]), s[:, :2]),
    "scatter_reduce_": lambda L, y, s: y.scatter_reduce_(1, T(L, [[3, 3], [1, 1], [0, 0]]),
                                                         s[:, :2], "amax"),
    "index_add_": lambda L, y, s: y.index_add_(1, T(L, [3, 3]), s[:, :2], alpha=2),
    "index_copy_": lambda L, y, s: y.index_copy_(1, T(L, [2, 0]), s[:, :2]),
    "index_fill_": lambda L, y, s: y.index_fill_(0, T(L, [2, 0]), -1.0),
    "masked_fill_": lambda L, y, s: y.masked_fill_(T(L, MASK34), 0.25),
    "masked_scatter_": lambda L, y, s: y.masked_scatter_(T(L, MASK34), s),
    "index_put_": lambda L, y, s: y.index_put_((T(L, [2, 2]), T(L, [0, 0])), s[0, :2], True),
    "put_": lambda L, y, s: y.put_(T(L, [5, 0, 5]), s[1, :3], accumulate=True),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_no_grad(name):
    outs = []
    for L in (ember, torch):
        y = L.tensor(rand(3, 4))
        v = y._version
        r = INPLACE[name](L, y, L.tensor(SRC))
        assert r is y and y._version > v
        outs.append(y)
    assert_close(*outs)


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_differentiable(name):
    def fn(L, a, s):
        y = a * 1
        INPLACE[name](L, y, s)
        return y
    check(fn, rand(3, 4), SRC)


def test_inplace_noncontiguous_target():
    for name in ("scatter_", "scatter_add_", "index_add_", "masked_fill_", "index_put_"):
        outs = []
        for L in (ember, torch):
            y = L.tensor(rand(4, 3)).t()
            INPLACE[name](L, y, L.tensor(SRC))
            outs.append(y)
        assert_close(*outs)


def test_inplace_leaf_error():
    same_error(lambda L: L.zeros(2, 3, requires_grad=True).scatter_(1, L.zeros(2, 1, dtype=L.long),
                                                                  1.0))
    same_error(lambda L: L.zeros(2, 3, requires_grad=True).index_add_(0, L.tensor([0]),
                                                                    L.ones(1, 3)))


def test_inplace_saved_tensor_version_error():
    for L in (ember, torch):
        x = L.tensor(rand(3)).requires_grad_()
        y = x.sigmoid()
        y.masked_fill_(L.tensor([True, False, False]), 0.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


# ---- nonzero / argwhere / where / searchsorted / bucketize ---------------------------------

def test_nonzero_argwhere_where():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, np.nan]])
    for arr in (a, a > 0, np.zeros((0, 3)), np.array(5), np.array(0.0)):
        outs = []
        for L in (ember, torch):
            x = L.tensor(arr)
            outs.append((L.nonzero(x), x.nonzero(as_tuple=True), L.argwhere(x)))
            if arr.ndim:
                outs[-1] += (L.where(x),)
        assert_close(*outs)


def test_searchsorted():
    seq = np.array([1.0, 3.0, 3.0, 5.0, 7.0])
    vals = np.array([[0.0, 3.0, 6.0], [7.0, 8.0, 3.0]])
    seq2 = np.sort(rand(2, 6), axis=1)
    vals2 = rand(2, 3, seed=1)
    cases = [
        lambda L: L.searchsorted(L.tensor(seq), L.tensor(vals)),
        lambda L: L.searchsorted(L.tensor(seq), L.tensor(vals), right=True),
        lambda L: L.searchsorted(L.tensor(seq), L.tensor(vals), side="right"),
        lambda L: L.searchsorted(L.tensor(seq), 3.0),
        lambda L: L.searchsorted(L.tensor(seq), L.tensor(vals), out_int32=True),
        lambda L: L.searchsorted(L.tensor(seq2), L.tensor(vals2)),
        lambda L: L.searchsorted(L.tensor([3, 1, 2]), L.tensor([2, 0]),
                                 sorter=L.tensor([1, 2, 0])),
        lambda L: L.searchsorted(L.tensor([1, 3, 5]), L.tensor([[3.5]])),
        lambda L: L.bucketize(L.tensor(vals), L.tensor(seq)),
        lambda L: L.bucketize(L.tensor(vals), L.tensor(seq), right=True, out_int32=True),
        lambda L: L.bucketize(3, L.tensor(seq)),
    ]
    for c in cases:
        assert_close(c(ember), c(torch))
    same_error(lambda L: L.searchsorted(L.tensor([[1, 3, 5], [2, 4, 6]]), L.tensor([3])))
    same_error(lambda L: L.searchsorted(L.tensor([1, 3]), L.tensor([3]), side="left", right=True))
    same_error(lambda L: L.searchsorted(L.tensor(1), L.tensor([3])))
    same_error(lambda L: L.searchsorted(L.tensor([1, 2]), L.tensor([1]), side="mid"))
    same_error(lambda L: L.searchsorted(L.tensor([[1, 2]]), 1))
    same_error(lambda L: L.searchsorted(L.tensor([3, 1, 2]), L.tensor([2]),
                                        sorter=L.tensor([1, 2])))
    same_error(lambda L: L.bucketize(L.tensor([1]), L.tensor([[1, 3]])))


def test_out_argument():
    for L in (ember, torch):
        x = L.tensor(rand(3, 4))
        o = L.empty(0, dtype=L.float64)
        L.gather(x, 1, L.tensor(IDX23), out=o)
        i = L.empty(0, dtype=L.long)
        L.searchsorted(L.tensor([1.0, 2.0]), L.tensor([1.5, 3.0]), out=i)
        if L is ember:
            eo, ei = o, i
    assert_close(eo, o)
    assert_close(ei, i)


# ---- index and mask tensors changed in place before backward ----------------------------
# torch saves the index/mask tensors an op was given and checks their versions in
# backward; Ember must raise the same error rather than use a copy (or stale data).

_USES = {
    "getitem_mask": lambda x, m, i: x.clone()[m],
    "getitem_index": lambda x, m, i: x.clone()[i],
    "getitem_tuple": lambda x, m, i: x.clone().reshape(2, 3)[:, i[:2] % 3],
    "masked_fill": lambda x, m, i: x.masked_fill(m, 0.5),
    "masked_select": lambda x, m, i: x.masked_select(m),
}


@pytest.mark.parametrize("use", sorted(_USES))
def test_index_tensor_changed_in_place_raises_in_backward(use):
    for lib in (ember, torch):
        x = lib.tensor(np.arange(6.0, dtype=np.float32)).requires_grad_()
        m = x.detach() > 2
        i = lib.tensor([1, 2, 4])
        y = _USES[use](x, m, i)
        if use == "getitem_tuple":
            i.add_(1)       # (i[:2] % 3 is a new tensor: change what it came from, no error)
            (y * y).sum().backward()
            assert x.grad is not None
            continue
        m.logical_not_()
        i.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            (y * y).sum().backward()


def test_setitem_with_mask_changed_in_place_raises_in_backward():
    for lib in (ember, torch):
        x = lib.tensor(np.arange(6.0, dtype=np.float32)).requires_grad_()
        v = lib.tensor(np.ones(6, dtype=np.float32)).requires_grad_()
        m = x.detach() > 2
        y = x * 1
        y[m] = v[m] * 2
        m.logical_not_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_unchanged_index_tensors_give_torch_grads():
    for use in _USES:
        grads = []
        for lib in (ember, torch):
            x = lib.tensor(np.arange(6.0, dtype=np.float32)).requires_grad_()
            m = x.detach() > 2
            i = lib.tensor([1, 2, 4])
            (_USES[use](x, m, i) ** 2).sum().backward()
            grads.append(x.grad.cpu().numpy())
        np.testing.assert_array_equal(grads[0], grads[1])


# Which ops keep their input for backward is visible to users: changing the input in
# place afterwards raises in torch's backward exactly when torch saved it (gather,
# take and masked_select do, for its shape; index_select and x[i] do not).
_SAVES_INPUT = {
    "masked_select": lambda lib, s: s.masked_select(lib.tensor([True, False, True, True])),
    "index_select": lambda lib, s: s.index_select(0, lib.tensor([0, 2])),
    "getitem_index": lambda lib, s: s[lib.tensor([0, 2])],
    "getitem_mask": lambda lib, s: s[lib.tensor([True, False, True, True])],
    "take": lambda lib, s: s.take(lib.tensor([0, 2])),
    "take_along_dim": lambda lib, s: s.take_along_dim(lib.tensor([0, 2]), 0),
    "gather": lambda lib, s: s.gather(0, lib.tensor([0, 2])),
    "masked_fill": lambda lib, s: s.masked_fill(lib.tensor([True, False, True, True]), 0.0),
    "scatter": lambda lib, s: s.scatter(0, lib.tensor([0, 2]), 0.0),
}


@pytest.mark.parametrize("name", sorted(_SAVES_INPUT))
def test_input_changed_in_place_raises_where_torch_saved_it(name):
    outcome = []
    for lib in (ember, torch):
        x = lib.tensor([0.5, -1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        s = x * 1
        y = _SAVES_INPUT[name](lib, s)
        s.add_(1)
        try:
            y.sum().backward()
            outcome.append("ok")
        except RuntimeError as e:
            assert "modified by an inplace operation" in str(e)
            outcome.append("raises")
    assert outcome[0] == outcome[1]
