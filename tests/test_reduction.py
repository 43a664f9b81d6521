"""Reductions vs torch: values, indices, dtypes, gradients, double backward, errors."""
import pickle
import warnings

import numpy as np
import pytest
import torch

import ember
from helpers import check, rand, assert_close

F64, F32 = np.float64, np.float32
inf, nan = float("inf"), float("nan")


def raises_like(fn, *arrays):
    """fn(lib, *tensors) raises the same exception type in both, with torch's message
    (up to the library name)."""
    es = [ember.tensor(a) for a in arrays]
    ts = [torch.from_numpy(np.array(a)) for a in arrays]
    with pytest.raises(Exception) as te:
        fn(torch, *ts)
    with pytest.raises(type(te.value)) as ee:
        fn(ember, *es)
    return str(ee.value), str(te.value)


def same_error(fn, *arrays):
    e, t = raises_like(fn, *arrays)
    assert e.split("(Triggered")[0].strip() == t.split("(Triggered")[0].strip()


def second_order(fn, arr, seed=0):
    """d/dx of <grad_x(<fn(x), w1>), w2> in both libraries; compared."""
    rng = np.random.default_rng(seed)
    res = []
    for lib in (ember, torch):
        x = lib.tensor(arr.copy(), requires_grad=True)
        out = fn(lib, x)
        w1 = lib.tensor(rng.standard_normal(tuple(out.shape)))
        (g,) = lib.autograd.grad((out * w1).sum(), x, create_graph=True)
        w2 = lib.tensor(np.random.default_rng(seed + 1).standard_normal(arr.shape))
        # a linear op's gradient does not depend on x: torch's does not require grad
        gg = lib.autograd.grad((g * w2).sum(), x, allow_unused=True)[0] \
            if g.requires_grad else None
        res.append((g, gg))
        rng = np.random.default_rng(seed)
    (ge, gge), (gt, ggt) = res
    assert_close(ge, gt, what="first grad")
    if ggt is None:
        assert gge is None or np.allclose(gge.cpu().numpy(), 0)
    else:
        assert_close(gge, ggt, what="second grad")


def _has_math():
    return all(hasattr(ember.Tensor, m) for m in ("exp", "abs", "sign", "sqrt"))


needs_math = pytest.mark.skipif(not _has_math(), reason="ember.ops.math (exp/abs/sign) missing")


# ---- sum / mean ----------------------------------------------------------------------------

DIMS = [None, 0, -1, 1, (0, 2), [-1, 0], (), (0, 1, 2)]


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "nansum", "nanmean", "logsumexp", "amax", "amin"])
def test_dim_reductions(op, dim, keepdim, dtype):
    x = rand(2, 3, 4, dtype=dtype)
    if op in ("amax", "amin") and dim is None:
        dim = ()
    if op == "logsumexp" and dim in (None, ()):
        dim = (0, 1, 2)  # torch's logsumexp needs a dim and fails on dim=()
    if dim is None:
        check(lambda L, a: getattr(L, op)(a), x)
        check(lambda L, a: getattr(a, op)(dim=None, keepdim=keepdim), x)
    else:
        check(lambda L, a: getattr(L, op)(a, dim, keepdim=keepdim), x)
        check(lambda L, a: getattr(a, op)(dim=dim, keepdim=keepdim), x)


# Large arrays reduced over their trailing axes (a global average pool): the
# row-sum path (ember.ops.reduction._trailing_sum, from 4096 elements and at
# most 256 terms per sum) and, for mean, its repeated gradient.
@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("dim", [-1, (-1, -2), (1, 2, 3), (2, 3)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_trailing_axes_of_large_arrays(op, dim, keepdim, dtype):
    x = rand(8, 16, 6, 7, dtype=dtype)
    check(lambda L, a: getattr(L, op)(a, dim, keepdim=keepdim), x)
    # a permuted (non-contiguous) input takes NumPy's own reduce
    check(lambda L, a: getattr(L, op)(a.permute(1, 0, 3, 2), dim, keepdim=keepdim), x)


def test_trailing_mean_second_order():
    second_order(lambda L, a: L.mean(a, (-1, -2)) ** 2, rand(8, 16, 6, 7, seed=3))


@pytest.mark.parametrize("op", ["sum", "mean", "nansum", "nanmean", "var", "std", "prod", "amax",
                                "amin", "logsumexp", "norm", "max", "min", "median", "argmax",
                                "cumsum", "cumprod", "count_nonzero", "all", "any"])
def test_non_contiguous(op):
    x = rand(4, 3, seed=2)
    check(lambda L, a: getattr(L, op)(a.t(), 1), x)
    check(lambda L, a: getattr(L, op)(a.t(), 0), x)


def test_sum_dtypes():
    check(lambda L, a: a.sum(), np.arange(6, dtype=np.int32))
    check(lambda L, a: a.sum(0), np.array([True, False, True]))
    check(lambda L, a: a.sum(), np.arange(6, dtype=np.uint8))
    check(lambda L, a: a.sum(dtype=L.float32), np.arange(6))
    check(lambda L, a: a.sum(1, dtype=L.float64), rand(2, 3, dtype=F32))
    check(lambda L, a: L.sum(a, 0, dtype=L.int64), rand(2, 3) * 3, requires_grad=False)
    for op in ("sum", "nansum", "prod"):
        same_error(lambda L, a: getattr(a.requires_grad_(), op)(dtype=L.int64), rand(3))
    same_error(lambda L, a: a.requires_grad_().cumsum(0, dtype=L.int32), rand(3))
    check(lambda L, a: a.sum(), np.full(4000, 1.1, dtype=np.float16), grad=False)
    check(lambda L, a: a.mean(dtype=L.float64), np.arange(6))
    check(lambda L, a: a.mean(0, dtype=L.float64), rand(3, 2, dtype=F32))
    check(lambda L, a: L.nansum(a), np.arange(5, dtype=np.int32))
    check(lambda L, a: a.prod(), np.arange(1, 5, dtype=np.int32))
    check(lambda L, a: a.prod(), np.array([True, True]))
    check(lambda L, a: a.prod(0, dtype=L.float64), rand(3, 2, dtype=F32))


def test_zero_dim_and_empty():
    s = np.array(1.5)
    for op in ("sum", "mean", "prod", "amax", "amin", "logsumexp", "nansum", "nanmean"):
        check(lambda L, a: getattr(L, op)(a, 0), s)
        check(lambda L, a: getattr(L, op)(a, -1, keepdim=True), s)
    check(lambda L, a: a.sum(), s)
    check(lambda L, a: a.mean(), s)
    e = np.zeros((0, 3))
    check(lambda L, a: a.sum(), e)
    check(lambda L, a: a.sum(0), e)
    check(lambda L, a: a.sum(1), e)
    check(lambda L, a: a.mean(), e)
    check(lambda L, a: a.mean(0), e)
    check(lambda L, a: a.prod(0), e)
    check(lambda L, a: a.prod(), e)
    check(lambda L, a: a.logsumexp(0), e)
    check(lambda L, a: a.amax(1), e)
    check(lambda L, a: L.nanmean(a, 0), e)
    check(lambda L, a: a.cumsum(0), e)
    check(lambda L, a: a.cumprod(1), e)
    check(lambda L, a: a.norm(), e)
    check(lambda L, a: a.count_nonzero(), e)
    check(lambda L, a: (a.all(), a.any(), a.all(0), a.any(1)), e)


def test_dim_errors():
    x = rand(2, 3)
    for op in ("sum", "mean", "prod", "amax", "logsumexp", "cumsum", "max", "argmax", "var",
               "sort", "topk", "median", "cummax", "all", "count_nonzero", "norm"):
        if op == "topk":
            f = (lambda L, a: a.topk(1, 2))
        elif op == "norm":
            f = (lambda L, a: a.norm(2, 2))
        else:
            f = (lambda L, a, op=op: getattr(a, op)(2))
        e, t = raises_like(f, x)
        assert "Dimension out of range (expected to be in range of [-2, 1], but got 2)" in e, op
        assert e == t
    e, _ = raises_like(lambda L, a: a.sum(-3), x)
    assert "but got -3" in e
    same_error(lambda L, a: a.sum(1), np.array(1.0))
    same_error(lambda L, a: a.sum((0, 0)), x)
    same_error(lambda L, a: a.amax((1, -1)), x)
    same_error(lambda L, a: a.mean(), np.arange(3))
    same_error(lambda L, a: a.mean(0, dtype=L.int64), x)
    with pytest.raises(TypeError):
        ember.sum([1, 2])
    with pytest.raises(TypeError):
        ember.cumsum(ember.ones(2), (0,))


def test_out_argument():
    x = rand(2, 3)
    o = ember.empty(3, dtype=ember.float64)
    r = ember.sum(ember.tensor(x), 0, out=o)
    assert r is o
    np.testing.assert_allclose(o.cpu().numpy(), x.sum(0))


# ---- var / std --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_forms(op, dtype):
    x = rand(3, 4, 5, dtype=dtype)
    forms = [
        lambda L, a: getattr(a, op)(),
        lambda L, a: getattr(a, op)(False),
        lambda L, a: getattr(L, op)(a, True),
        lambda L, a: getattr(a, op)(1),
        lambda L, a: getattr(a, op)(-1, True, True),
        lambda L, a: getattr(a, op)(1, False),
        lambda L, a: getattr(a, op)((0, 2), keepdim=True),
        lambda L, a: getattr(a, op)(dim=[0, -1], unbiased=False),
        lambda L, a: getattr(L, op)(a, 1, correction=0),
        lambda L, a: getattr(L, op)(a, 1, correction=2, keepdim=True),
        lambda L, a: getattr(L, op)(a, 1, correction=0.5),
        lambda L, a: getattr(L, op)(a, dim=None, correction=0),
    ]
    for f in forms:
        check(f, x)


@pytest.mark.parametrize("op", ["var_mean", "std_mean"])
def test_var_mean(op):
    x = rand(3, 4)
    check(lambda L, a: getattr(L, op)(a), x)
    check(lambda L, a: getattr(L, op)(a, 1), x)
    check(lambda L, a: getattr(L, op)(a, 0, True, True), x)
    check(lambda L, a: getattr(L, op)(a, False), x)
    check(lambda L, a: getattr(L, op)(a, dim=1, correction=0, keepdim=True), x)
    check(lambda L, a: getattr(L, op)(a, (0, 1), unbiased=False), x.astype(F32))
    assert type(getattr(ember, op)(ember.tensor(x), 1)) is tuple


def test_var_degrees_of_freedom():
    # N <= correction: inf / nan with torch's warning (values and gradients)
    for arr, kw in [(np.ones((1, 3)), dict(dim=0)),
                    (np.array([[1., 2.], [3., 5.]]), dict(dim=0, correction=3)),
                    (np.zeros(0), {})]:
        for op in ("var", "std"):
            with pytest.warns(UserWarning, match=f"{op}\\(\\): degrees of freedom is <= 0"):
                e = getattr(ember, op)(ember.tensor(arr), **kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = getattr(torch, op)(torch.tensor(arr), **kw)
            assert_close(e, t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda L, a: a.var(), np.ones(1))
        check(lambda L, a: a.std(), np.ones(1))
        check(lambda L, a: a.var(0, correction=3), np.array([[1., 2.], [3., 5.]]))


def test_std_zero_gradient():
    check(lambda L, a: a.std(), np.ones(4))
    check(lambda L, a: a.std(1), np.array([[1., 1., 1.], [1., 2., 3.]]))
    check(lambda L, a: L.std_mean(a, 1), np.array([[1., 1., 1.], [1., 2., 3.]]))


def test_var_errors():
    same_error(lambda L, a: a.var(), np.arange(3))
    with pytest.raises(TypeError):
        ember.var(ember.ones(3), 0, 1)
    with pytest.raises(TypeError):
        ember.var(ember.ones(3), 0, unbiased=True, correction=1)


# ---- prod ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, F32])
def test_prod(dtype):
    x = rand(3, 4, dtype=dtype, low=0.5, high=1.5)
    check(lambda L, a: a.prod(), x)
    check(lambda L, a: a.prod(1), x)
    check(lambda L, a: a.prod(-2, keepdim=True), x)
    check(lambda L, a: L.prod(a, 0, True), x)


def test_prod_zeros():
    # one zero, two zeros, zeros in some slices only; full and per-dim
    xs = [np.array([2., 0., 3., 4.]), np.array([0., 2., 0., 3.]), np.array([0., 0.]),
          np.array([[1., 2., 0.], [3., 4., 5.], [0., 0., 1.]])]
    for x in xs:
        check(lambda L, a: a.prod(), x)
        check(lambda L, a: a.prod(0), x)
        check(lambda L, a: a.prod(-1, keepdim=True), x)
        check(lambda L, a: a.prod(0), x.astype(F32))


def test_prod_errors():
    with pytest.raises(TypeError):
        ember.prod(ember.ones(2, 2), (0, 1))
    same_error(lambda L, a: a.prod(2), rand(2, 2))


# ---- max / min / amax / amin / argmax ----------------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min(op, dtype):
    x = rand(3, 4, 5, dtype=dtype)
    check(lambda L, a: getattr(a, op)(), x)
    for d in (0, 1, -1):
        for k in (False, True):
            check(lambda L, a: getattr(L, op)(a, d, k), x)
            check(lambda L, a: tuple(getattr(a, op)(dim=d, keepdim=k)), x)
    check(lambda L, a: getattr(L, op)(a, 0), np.array(2.0))
    check(lambda L, a: getattr(a, op)(), np.arange(5))
    check(lambda L, a: getattr(a, op)(0), np.array([True, False, True]))


def test_max_named_tuple():
    x = ember.tensor([[1., 5., 2.], [7., 0., 7.]])
    r = x.max(1)
    values, indices = r
    assert r.values is values and r.indices is indices and r[0] is values
    assert values.tolist() == [5., 7.] and indices.tolist() == [1, 0]
    assert type(r).__name__ == "max" and isinstance(r, tuple)
    assert isinstance(r, ember.return_types.max)
    assert repr(r).startswith("ember.return_types.max(\nvalues=tensor(")
    assert indices.dtype == ember.int64
    for name in ("min", "sort", "topk", "median", "cummax", "cummin", "kthvalue", "mode"):
        assert getattr(ember.return_types, name)._fields == ("values", "indices")
    mm = ember.aminmax(x)
    assert mm.min.item() == 0 and mm.max.item() == 7
    r2 = pickle.loads(pickle.dumps(x.min(0)))
    assert type(r2) is ember.return_types.min


def test_max_ties_and_nan():
    t = np.array([1., 3., 3., 2.])
    for op in ("max", "min", "amax", "amin", "median"):
        check(lambda L, a: getattr(a, op)(), t)
    check(lambda L, a: a.max(0), t)           # first index among ties
    check(lambda L, a: a.min(0), -t)
    check(lambda L, a: a.amax(1), np.array([[1., 3., 3.], [2., 2., 2.]]))
    check(lambda L, a: a.amin(0, keepdim=True), np.array([[1., 3.], [1., 2.]]))
    n = np.array([1., nan, 3., nan])
    check(lambda L, a: a.max(), n)            # NaN propagates; grad split among NaNs
    check(lambda L, a: a.max(0), n)
    check(lambda L, a: a.min(0), n)
    check(lambda L, a: a.amax(), n)           # torch: NaN gradient everywhere
    check(lambda L, a: a.argmax(), n, grad=False)
    check(lambda L, a: a.argmin(), n, grad=False)


def test_max_binary():
    a, b = rand(3, 4), rand(4, seed=1)
    b[1] = a[0, 1]  # a tie: gradient shared
    check(lambda L, x, y: L.max(x, y), a, b)
    check(lambda L, x, y: x.min(y), a, b)
    check(lambda L, x, y: L.max(x, y), a.astype(F32), b)


def test_max_empty_errors():
    e = np.zeros((0, 3))
    same_error(lambda L, a: a.max(), e)
    same_error(lambda L, a: a.min(0), e)
    same_error(lambda L, a: a.max(-2), e)
    same_error(lambda L, a: a.amax(), e)
    same_error(lambda L, a: a.amin(0), e)
    same_error(lambda L, a: a.argmax(), e)
    same_error(lambda L, a: a.argmin(0), e)
    same_error(lambda L, a: a.median(0), e)
    same_error(lambda L, a: L.aminmax(a), e)
    check(lambda L, a: a.max(1), e)
    check(lambda L, a: a.argmax(1), e)
    same_error(lambda L, a: a.argmax(), np.array([True, False]))


def test_argmax_argmin():
    x = rand(3, 4, 5)
    x[1, 2, 3] = x[1, 2, 0]
    for op in ("argmax", "argmin"):
        check(lambda L, a: getattr(a, op)(), x)
        check(lambda L, a: getattr(a, op)(keepdim=True), x)
        check(lambda L, a: getattr(L, op)(a, 1), x)
        check(lambda L, a: getattr(a, op)(-1, True), x)
        check(lambda L, a: getattr(a, op)(0), np.array(3.0))
        check(lambda L, a: getattr(a, op)(), np.array([3, 1, 3, 1]))


def test_aminmax():
    x = rand(3, 4)
    check(lambda L, a: tuple(L.aminmax(a)), x)
    check(lambda L, a: tuple(L.aminmax(a, dim=1)), x)
    check(lambda L, a: tuple(a.aminmax(dim=-2, keepdim=True)), x)


# ---- logsumexp ----------------------------------------------------------------------------------

def test_logsumexp_stable_and_inf():
    check(lambda L, a: a.logsumexp(1), np.array([[1000., 1000.], [-1000., -1001.]]))
    check(lambda L, a: a.logsumexp(0), np.array([1e4, 1.], dtype=F32))
    check(lambda L, a: a.logsumexp(0), np.array([-inf, -inf]))
    check(lambda L, a: a.logsumexp(0), np.array([inf, 1.]))
    check(lambda L, a: a.logsumexp(0), np.array([-inf, 1.]))
    check(lambda L, a: a.logsumexp(0), np.array([inf, -inf]), grad=False)
    check(lambda L, a: L.logsumexp(a, 0), np.arange(4))


# ---- cumulative ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, F32])
def test_cumsum_cumprod(dtype):
    x = rand(3, 4, dtype=dtype)
    for op in ("cumsum", "cumprod"):
        check(lambda L, a: getattr(a, op)(0), x)
        check(lambda L, a: getattr(L, op)(a, -1), x)
        check(lambda L, a: getattr(a, op)(dim=1), x)
        check(lambda L, a: getattr(a, op)(0), np.array(2.5, dtype=dtype))
        check(lambda L, a: getattr(a, op)(0), np.arange(1, 5, dtype=np.int32))
        check(lambda L, a: getattr(a, op)(0), np.array([True, False, True]))
        check(lambda L, a: getattr(a, op)(0, dtype=L.float64), np.arange(1, 5))


def test_cumprod_zeros():
    for v in ([2., 0., 3., 4.], [0., 0., 3., 4.], [2., 3., 0., 0.], [0., 2.], [1., 2., 3., 0.],
              [[1., 0., 2., 0., 3.], [2., 2., 2., 2., 2.]]):
        x = np.array(v)
        check(lambda L, a: a.cumprod(-1), x)
        check(lambda L, a: a.cumprod(0), x)


def test_cumsum_inplace():
    a, t = ember.arange(4.), torch.arange(4.)
    a.cumsum_(0)
    t.cumsum_(0)
    assert a.tolist() == t.tolist()


@pytest.mark.parametrize("op", ["cummax", "cummin"])
def test_cummax_cummin(op):
    check(lambda L, a: tuple(getattr(a, op)(0)), np.array([1., 3., 3., 2., 3.]))
    check(lambda L, a: tuple(getattr(a, op)(0)), np.array([3., 1., 1., 2., 1.]))
    check(lambda L, a: tuple(getattr(a, op)(0)), np.array([1., nan, 3., nan, 0.]))
    x = rand(3, 4, 5)
    check(lambda L, a: tuple(getattr(L, op)(a, 1)), x)
    check(lambda L, a: tuple(getattr(a, op)(-1)), x.astype(F32))
    check(lambda L, a: tuple(getattr(a, op)(0)), np.array(2.0))
    check(lambda L, a: tuple(getattr(a, op)(0)), np.array([2, 5, 1, 5]))
    check(lambda L, a: tuple(getattr(a, op)(0)), np.zeros(0))


# ---- norms --------------------------------------------------------------------------------------

ORDS = [2, 1, inf, -inf, 0, 3, 0.5, -1, 1.5]


@pytest.mark.parametrize("p", ORDS)
def test_vector_norm(p):
    x = rand(3, 4)
    x[0, 0] = 0.0
    x[1, 1] = -x[1, 2]  # |x| ties for inf-norms
    check(lambda L, a: L.linalg.vector_norm(a, p), x)
    check(lambda L, a: L.linalg.vector_norm(a, p, 1), x)
    check(lambda L, a: L.linalg.vector_norm(a, ord=p, dim=(0, 1), keepdim=True), x)
    check(lambda L, a: L.linalg.vector_norm(a, p, -1), x.astype(F32))
    check(lambda L, a: a.norm(p, 0), x)
    check(lambda L, a: L.norm(a, p, dim=1, keepdim=True), x)
    check(lambda L, a: L.linalg.vector_norm(a, p), np.zeros(3))  # zero-norm gradient
    check(lambda L, a: L.linalg.vector_norm(a, p, 0), np.array(-2.0))


def test_norm_forms():
    x = rand(3, 4)
    check(lambda L, a: a.norm(), x)
    check(lambda L, a: a.norm("fro"), x)
    check(lambda L, a: L.norm(a, "fro", (0, 1)), x)
    check(lambda L, a: L.norm(a, "fro", 1), x)
    check(lambda L, a: a.norm(dim=1, keepdim=True), x)
    check(lambda L, a: a.norm(dtype=L.float64), x.astype(F32))
    check(lambda L, a: a.norm("nuc"), x)
    check(lambda L, a: L.linalg.norm(a), x)
    check(lambda L, a: L.linalg.norm(a, dim=1), x)
    check(lambda L, a: L.linalg.norm(a, 1), x)
    check(lambda L, a: L.linalg.norm(a.reshape(-1), inf), x)
    check(lambda L, a: L.linalg.norm(a, inf, dim=(0, 1)), x)
    check(lambda L, a: L.linalg.norm(a.reshape(2, 2, 3), dim=(1, 2), keepdim=True), x)
    same_error(lambda L, a: a.norm(), np.arange(3))
    same_error(lambda L, a: a.norm(p="abc"), x)
    same_error(lambda L, a: L.linalg.norm(a.reshape(2, 2, 3), 2), x)
    same_error(lambda L, a: L.linalg.norm(a, "fro", dim=1), x)
    same_error(lambda L, a: L.linalg.vector_norm(a.reshape(0), inf), x)
    same_error(lambda L, a: L.linalg.vector_norm(a.reshape(0), -1), x)
    with pytest.raises(TypeError):
        ember.linalg.vector_norm(ember.tensor(x), "fro")
    check(lambda L, a: L.linalg.vector_norm(a, inf, 1), np.zeros((0, 3)))
    check(lambda L, a: L.linalg.vector_norm(a), np.zeros(0))


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, inf, -inf])
def test_matrix_norm(ord):
    x = rand(2, 3, 4)
    check(lambda L, a: L.linalg.matrix_norm(a, ord), x)
    check(lambda L, a: L.linalg.matrix_norm(a, ord, dim=(0, 2), keepdim=True), x)
    check(lambda L, a: L.linalg.matrix_norm(a, ord, dim=(-1, -3)), x.astype(F32))


def test_matrix_norm_errors():
    x = rand(2, 3)
    same_error(lambda L, a: L.linalg.matrix_norm(a, 3), x)
    same_error(lambda L, a: L.linalg.matrix_norm(a[0]), x)
    same_error(lambda L, a: L.linalg.matrix_norm(a, dim=(0, 0)), x)
    same_error(lambda L, a: L.linalg.matrix_norm(a), np.arange(6).reshape(2, 3))


# ---- logical and counting ---------------------------------------------------------------------

def test_all_any_count_nonzero():
    x = np.array([[0., 1., 2.], [3., 4., 5.]])
    for op in ("all", "any"):
        check(lambda L, a: getattr(a, op)(), x)
        check(lambda L, a: getattr(a, op)(1), x)
        check(lambda L, a: getattr(L, op)(a, dim=0, keepdim=True), x)
        check(lambda L, a: getattr(a, op)((0, 1)), x)
        check(lambda L, a: getattr(a, op)(), np.array([2, 0, 1], dtype=np.uint8))
        check(lambda L, a: getattr(a, op)(0), np.array([[True, False], [True, True]]))
        check(lambda L, a: getattr(a, op)(), np.array(0.0))
    check(lambda L, a: L.count_nonzero(a), x)
    check(lambda L, a: a.count_nonzero(1), x)
    check(lambda L, a: a.count_nonzero((0, 1)), x)
    check(lambda L, a: a.count_nonzero(dim=-2), np.array([[True, False], [True, True]]))


# ---- sorting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, F32])
def test_sort_argsort(dtype):
    x = rand(3, 5, dtype=dtype)
    for d in (0, 1, -1):
        for desc in (False, True):
            check(lambda L, a: tuple(a.sort(d, desc)), x)
            check(lambda L, a: tuple(L.sort(a, dim=d, descending=desc, stable=True)), x)
            check(lambda L, a: L.argsort(a, d, desc), x)
    t = np.array([1., 3., 3., 2., 3., nan, -1., nan])
    check(lambda L, a: tuple(L.sort(a, stable=True)), t)
    check(lambda L, a: tuple(L.sort(a, descending=True, stable=True)), t)
    check(lambda L, a: L.argsort(a, descending=True, stable=True), t)
    check(lambda L, a: tuple(a.sort()), np.array(2.0))
    check(lambda L, a: tuple(a.sort(descending=True)), np.array([3, 1, 2, 1]))
    check(lambda L, a: tuple(a.sort()), np.array([True, False, True]))
    check(lambda L, a: tuple(a.sort()), np.zeros(0))
    check(lambda L, a: L.msort(a), x)
    check(lambda L, a: a.t().sort(1), x)


@pytest.mark.parametrize("dtype", [F64, F32])
def test_topk(dtype):
    x = rand(4, 30, dtype=dtype)   # distinct values: indices are well defined
    for k in (0, 1, 3, 30):
        check(lambda L, a: tuple(a.topk(k)), x)
        check(lambda L, a: tuple(L.topk(a, k, largest=False)), x)
    check(lambda L, a: tuple(a.topk(2, 0)), x)
    check(lambda L, a: tuple(a.topk(2, dim=-2, largest=False, sorted=True)), x)
    check(lambda L, a: tuple(a.topk(1)), np.array(2.0))
    check(lambda L, a: tuple(a.topk(2)), np.array([1., nan, 3.]))
    check(lambda L, a: tuple(a.topk(2)), np.array([4, 1, 7, 3]))
    # ties: values agree (indices among equal values are unspecified)
    check(lambda L, a: a.topk(2).values, np.array([1., 3., 3., 2., 3.]), grad=False)
    same_error(lambda L, a: a.topk(6), np.arange(5.))
    same_error(lambda L, a: a.topk(-1), np.arange(5.))


# ---- median / mode / kthvalue / quantile ------------------------------------------------------

def test_median():
    check(lambda L, a: a.median(), np.array([4., 1., 3., 2.]))     # lower median
    check(lambda L, a: a.median(), np.array([2., 1., 2., 2., 3.]))  # ties share grad
    check(lambda L, a: a.median(), np.array([2., nan, 1.]))
    check(lambda L, a: tuple(a.median(0)), np.array([4., 1., 3., 2.]))
    check(lambda L, a: tuple(a.median(0)), np.array([2., 1., 2., 2., 3.]))
    check(lambda L, a: tuple(a.median(0)), np.array([2., nan, 1.]))
    x = rand(3, 5, 4)
    for d in (0, 1, -1):
        check(lambda L, a: tuple(L.median(a, d)), x)
        check(lambda L, a: tuple(a.median(d, keepdim=True)), x.astype(F32))
    check(lambda L, a: tuple(a.median(0, keepdim=True)), np.array([3, 1, 2, 5]))
    check(lambda L, a: a.median(), np.zeros(0))
    check(lambda L, a: tuple(a.median(0)), np.array(2.0))
    check(lambda L, a: a.median(), np.array(2.0))


def test_nanmedian():
    check(lambda L, a: a.nanmedian(), np.array([1., nan, 2., 3.]))
    check(lambda L, a: a.nanmedian(), np.array([nan, nan]))
    check(lambda L, a: tuple(a.nanmedian(1)), np.array([[nan, 1., 2.], [nan, nan, nan]]))
    check(lambda L, a: tuple(L.nanmedian(a, 0)), rand(5, 3))


def test_mode_kthvalue():
    check(lambda L, a: tuple(L.mode(a, 1)), np.array([[3, 1, 1, 3, 2], [2, 2, 0, 0, 1]]))
    check(lambda L, a: tuple(a.mode()), np.array([3., 1., 1., 3., 2.]))
    check(lambda L, a: tuple(a.mode(0, keepdim=True)), np.array([[1., 2.], [1., 3.], [2., 3.]]))
    x = rand(3, 5)
    check(lambda L, a: tuple(a.kthvalue(2)), x)
    check(lambda L, a: tuple(L.kthvalue(a, 3, 0, True)), x)
    check(lambda L, a: tuple(a.kthvalue(1, 0)), np.array(2.0))
    same_error(lambda L, a: a.kthvalue(6), x)


@pytest.mark.parametrize("interp", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile(interp):
    x = rand(3, 5)
    check(lambda L, a: L.quantile(a, 0.4, interpolation=interp), x)
    check(lambda L, a: a.quantile(0.3, dim=1, keepdim=True, interpolation=interp), x)
    check(lambda L, a: L.quantile(a, 0.7, keepdim=True, interpolation=interp), x)
    check(lambda L, a: L.quantile(a, L.tensor(0.7, dtype=L.float64), 0, interpolation=interp), x)
    check(lambda L, a: L.quantile(a, L.tensor([0.1, 0.5, 1.0], dtype=L.float64), dim=0,
                                  interpolation=interp), x)
    check(lambda L, a: L.quantile(a, L.tensor([0.125, 0.375, 0.625]), interpolation=interp),
          np.arange(1, 6, dtype=F32))
    xn = x.copy()
    xn[0, 1] = nan
    check(lambda L, a: L.quantile(a, 0.5, 1, interpolation=interp), xn, grad=False)
    check(lambda L, a: L.nanquantile(a, 0.5, 1, interpolation=interp), xn)


def test_quantile_errors():
    same_error(lambda L, a: L.quantile(a, 1.4), np.array([1., 2.]))
    same_error(lambda L, a: L.quantile(a, L.tensor([1.5])), np.array([1., 2.], dtype=F32))
    same_error(lambda L, a: L.quantile(a, L.tensor([0.5], dtype=L.float64)),
               np.array([1., 2.], dtype=F32))
    same_error(lambda L, a: L.quantile(a, 0.5), np.array([1, 2]))
    same_error(lambda L, a: L.quantile(a, 0.5), np.zeros(0))


# ---- unique ----------------------------------------------------------------------------------

def test_unique():
    x = np.array([3, 1, 2, 3, 1])
    check(lambda L, a: L.unique(a), x)
    check(lambda L, a: L.unique(a, return_inverse=True, return_counts=True), x)
    check(lambda L, a: a.unique(return_counts=True), x)
    check(lambda L, a: a.unique(sorted=False), x)
    check(lambda L, a: a.unique(return_inverse=True), np.array([[3., 1.], [1., 3.]]),
          requires_grad=False)
    check(lambda L, a: L.unique(a, dim=0, return_inverse=True, return_counts=True),
          np.array([[3, 1], [3, 1], [2, 2]]))
    check(lambda L, a: L.unique(a, dim=1), np.array([[3, 1, 3], [0, 2, 0]]))
    check(lambda L, a: a.unique(), np.array([nan, nan, 1.]), requires_grad=False)
    check(lambda L, a: a.unique(), np.zeros(0), requires_grad=False)
    check(lambda L, a: L.unique_consecutive(a, return_inverse=True, return_counts=True),
          np.array([1, 1, 2, 2, 3, 1, 1]))
    check(lambda L, a: a.unique_consecutive(dim=0, return_counts=True),
          np.array([[1, 2], [1, 2], [0, 0], [1, 2]]))


# ---- gradcheck and double backward -----------------------------------------------------------

GRAD_FNS = {
    "sum": lambda L, a: a.sum(1),
    "sum_all": lambda L, a: a.sum(),
    "mean": lambda L, a: a.mean((0, 1), keepdim=True),
    "var": lambda L, a: a.var(1),
    "var_all": lambda L, a: a.var(correction=0),
    "std": lambda L, a: a.std(0, keepdim=True),
    "var_mean": lambda L, a: L.var_mean(a, 1)[0] * 2 + L.var_mean(a, 1)[1],
    "prod": lambda L, a: a.prod(1),
    "prod_all": lambda L, a: a.prod(),
    "max": lambda L, a: a.max(1).values,
    "max_all": lambda L, a: a.max(),
    "amax": lambda L, a: a.amax(0),
    "cumsum": lambda L, a: a.cumsum(1),
    "cumprod": lambda L, a: a.cumprod(1),
    "sort": lambda L, a: a.sort(1).values,
    "topk": lambda L, a: a.topk(2, 0).values,
    "cummax": lambda L, a: a.cummax(1).values,
    "median": lambda L, a: a.median(1).values,
    "norm2": lambda L, a: a.norm(dim=1),
    "fro": lambda L, a: L.linalg.matrix_norm(a),
    "logsumexp": lambda L, a: a.logsumexp(1),
    "norm1": lambda L, a: a.norm(1, 1),
    "norm3": lambda L, a: a.norm(3, 1),
    "norminf": lambda L, a: a.norm(inf, 1),
    "nuc": lambda L, a: L.linalg.matrix_norm(a, "nuc"),
    "mnorm1": lambda L, a: L.linalg.matrix_norm(a, 1),
    "quantile": lambda L, a: L.quantile(a, 0.3, 1),
}
MATH_FNS = {"logsumexp", "norm1", "norm3", "norminf", "mnorm1"}


@pytest.mark.parametrize("name", sorted(GRAD_FNS))
def test_gradcheck(name):
    x = ember.tensor(rand(3, 4, seed=5), requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: GRAD_FNS[name](ember, a), (x,))


DOUBLE = ["sum", "sum_all", "mean", "var", "var_all", "std", "var_mean", "prod", "prod_all",
          "max", "max_all", "amax", "cumsum", "cumprod", "sort", "topk", "cummax", "median",
          "norm2", "fro", "quantile", "logsumexp", "norm3", "norminf"]


@pytest.mark.parametrize("name", DOUBLE)
def test_double_backward(name):
    if name in MATH_FNS and not _has_math():
        pytest.skip("needs ember.ops.math (exp/abs/sign)")
    second_order(GRAD_FNS[name], rand(3, 4, seed=7))
    x = ember.tensor(rand(3, 4, seed=8), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda a: GRAD_FNS[name](ember, a), (x,))


@pytest.mark.parametrize("x", [np.array([[2., 0., 3.], [0., 0., 1.], [1., 2., 3.]]),
                               np.array([[2., 0., 3., 0.], [0., 5., 1., 4.]])])
def test_double_backward_with_zeros(x):
    second_order(lambda L, a: a.prod(1), x)
    second_order(lambda L, a: a.prod(), x)
    second_order(lambda L, a: a.cumprod(1), x)
    second_order(lambda L, a: a.cumprod(0), x)
    xe = ember.tensor(x, requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda a: a.prod(1), (xe,))
    assert ember.autograd.gradgradcheck(lambda a: a.cumprod(1), (xe,))


def test_nuclear_norm_once_differentiable():
    x = ember.tensor(rand(3, 3), requires_grad=True)
    (g,) = ember.autograd.grad(ember.linalg.matrix_norm(x, "nuc"), x, create_graph=True)
    with pytest.raises(RuntimeError, match="not differentiable twice"):
        g.sum().backward()


def test_linalg_module():
    import ember.linalg as la
    assert la.vector_norm is ember.ops.reduction.vector_norm
    assert la.norm is ember.ops.reduction.linalg_norm
    assert la.matrix_norm is ember.ops.reduction.matrix_norm


@pytest.mark.parametrize("call", ["sum()", "sum(1)", "sum((0, 1))", "sum([])", "sum(0, True)",
                                  "sum(dtype=DT)", "mean()", "mean(1)", "mean((0, 1))",
                                  "mean([])", "mean(-1, keepdim=True)", "sum(dim=None)",
                                  "sum(None, True)", "mean(None)", "mean(dim=None, dtype=DT)",
                                  "sum(dtype=DT, dim=None)"])
def test_reduction_node_names_match_torch(call):
    """torch names the node of a sum or mean over every element ...Backward0 and
    of one over the dims given ...Backward1 (autograd's two overloads; ``dim=None``
    given is the second: every dim, node ...Backward1)."""
    names, shapes = [], []
    for lib in (ember, torch):
        x = lib.ones(3, 4, requires_grad=True)
        for r in (eval("x." + call, {"x": x, "DT": lib.float64}),
                  eval("lib." + call.replace("(", "(x, ", 1).replace(", )", ")"),
                       {"x": x, "DT": lib.float64, "lib": lib})):
            names.append(r.grad_fn.name())
            shapes.append(tuple(r.shape))
    assert names[0] == names[1] == names[2] == names[3]
    assert shapes[0] == shapes[1] == shapes[2] == shapes[3]
