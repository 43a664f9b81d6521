"""Losses and distances of ember.nn(.functional) against torch on the same inputs.

Every loss with every option (reduction, weight, ignore_index,
label_smoothing, class probabilities, K-dimensional inputs, pos_weight...),
forward and the gradients of input and target, float64 tight and float32
loose; numerical stability at |x| = 1e4; gradcheck and double backward;
torch's errors and warnings for bad input.
"""
import itertools
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import assert_close, check, rand

DTYPES = [np.float64, np.float32]
REDUCTIONS = ["none", "mean", "sum"]


def F(lib):
    return lib.nn.functional


def _t(lib, a):
    """A constant (no grad) tensor of ``lib`` from a NumPy array."""
    return None if a is None else lib.tensor(a)


def _targets(rng, shape, C, ignore=None):
    t = rng.integers(0, C, size=shape)
    if ignore is not None and t.size:
        t.reshape(-1)[:: 3] = ignore
    return t.astype(np.int64)


# ---- regression losses --------------------------------------------------------------------

POINTWISE = [("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}),
             ("smooth_l1_loss", {"beta": 0.5}), ("smooth_l1_loss", {"beta": 0.0}),
             ("huber_loss", {}), ("huber_loss", {"delta": 0.3}), ("huber_loss", {"delta": 2.5})]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("name,kw", POINTWISE)
def test_pointwise_losses(name, kw, red, dt):
    x, y = rand(4, 5, dtype=dt, seed=1), rand(4, 5, dtype=dt, seed=2)
    check(lambda lib, a, b: getattr(F(lib), name)(a, b, reduction=red, **kw), x, y)


@pytest.mark.parametrize("name,kw", POINTWISE[:2] + POINTWISE[5:6])
def test_pointwise_broadcast_warns(name, kw):
    x, y = rand(3, 1, seed=1), rand(3, seed=2)
    with pytest.warns(UserWarning, match=r"Using a target size \(ember.Size\(\[3\]\)\) that is "
                                         r"different to the input size"):
        getattr(F(ember), name)(ember.tensor(x), ember.tensor(y), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, a, b: getattr(F(lib), name)(a, b, **kw), x, y)
    with pytest.raises(RuntimeError, match="must match the size"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            getattr(F(ember), name)(ember.zeros(3, 2), ember.zeros(4))


@pytest.mark.parametrize("name,kw", POINTWISE)
def test_pointwise_edge_shapes(name, kw):
    check(lambda lib, a, b: getattr(F(lib), name)(a, b, **kw), rand(), rand(seed=3))   # 0-d
    check(lambda lib, a, b: getattr(F(lib), name)(a, b, reduction="sum", **kw),
          rand(0, 3), rand(0, 3))                                                       # empty
    check(lambda lib, a, b: getattr(F(lib), name)(a.t(), b, **kw),                      # non-contig
          rand(5, 4, seed=1), rand(4, 5, seed=2))
    e = getattr(F(ember), name)(ember.zeros(0), ember.zeros(0))
    assert np.isnan(e.item())


def test_pointwise_mixed_dtypes_and_int_target():
    check(lambda lib, a, b: F(lib).mse_loss(a, b), rand(4, dtype=np.float32), rand(4))
    check(lambda lib, a, b: F(lib).l1_loss(a, b), rand(4, dtype=np.float32),
          np.arange(4, dtype=np.int64))
    with pytest.raises(NotImplementedError, match="mse_cpu"):
        F(ember).mse_loss(ember.tensor([1, 2]), ember.tensor([1, 2]))


def test_pointwise_bad_params():
    x = ember.zeros(3)
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values"):
        F(ember).smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values"):
        F(ember).huber_loss(x, x, delta=0)
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F(ember).mse_loss(x, x, reduction="avg")


@pytest.mark.parametrize("sa,rd", [(False, None), (None, False), (True, True), (False, True)])
def test_legacy_size_average_reduce(sa, rd):
    x, y = rand(3, 4, seed=1), rand(3, 4, seed=2)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        e = F(ember).mse_loss(ember.tensor(x), ember.tensor(y), size_average=sa, reduce=rd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = F(torch).mse_loss(torch.tensor(x), torch.tensor(y), size_average=sa, reduce=rd)
        m = ember.nn.CrossEntropyLoss(size_average=sa, reduce=rd)
        m_t = torch.nn.CrossEntropyLoss(size_average=sa, reduce=rd)
    assert_close(e, t)
    assert m.reduction == m_t.reduction


# ---- cross entropy / nll ---------------------------------------------------------------------

CE_SHAPES = [((6, 5), (6,)), ((5,), ()), ((3, 4, 5), (3, 5)), ((2, 3, 4, 2), (2, 4, 2)),
             ((2, 3, 2, 2, 2), (2, 2, 2, 2))]
# every shape in float64; the common ones in float32 too
CE_CASES = [s + (np.float64,) for s in CE_SHAPES] + [CE_SHAPES[0] + (np.float32,),
                                                    CE_SHAPES[2] + (np.float32,)]


@pytest.mark.parametrize("xshape,tshape,dt", CE_CASES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("weighted,ignore,ls", list(itertools.product(
    [False, True], [None, 1], [0.0, 0.25])))
def test_cross_entropy_class_indices(xshape, tshape, red, weighted, ignore, ls, dt):
    rng = np.random.default_rng(7)
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    x = rng.standard_normal(xshape).astype(dt) * 2
    t = _targets(rng, tshape, C, ignore)
    w = rng.uniform(0.2, 2.0, C).astype(dt) if weighted else None
    ii = -100 if ignore is None else ignore

    def fn(lib, a, b):
        return F(lib).cross_entropy(a, b, weight=_t(lib, w), ignore_index=ii, reduction=red,
                                    label_smoothing=ls)
    check(fn, x, t)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("xshape", [(6, 5), (5,), (3, 4, 5), (2, 3, 2, 2)])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("weighted,ls", [(False, 0.0), (True, 0.0), (False, 0.3), (True, 0.3)])
def test_cross_entropy_probabilities(xshape, red, weighted, ls, dt):
    rng = np.random.default_rng(3)
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    x = rng.standard_normal(xshape).astype(dt)
    p = rng.uniform(0, 1, xshape).astype(dt)
    p /= p.sum(axis=1 if len(xshape) > 1 else 0, keepdims=True)
    w = rng.uniform(0.2, 2.0, C).astype(dt) if weighted else None

    def fn(lib, a, b):
        return F(lib).cross_entropy(a, b, weight=_t(lib, w), reduction=red, label_smoothing=ls)
    check(fn, x, p)     # the target's gradient too


def test_cross_entropy_edge_cases():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    check(lambda lib, a, b: F(lib).cross_entropy(a, b), x, np.full(4, -100))      # all ignored
    check(lambda lib, a, b: F(lib).cross_entropy(a, b, reduction="sum"), x, np.full(4, -100))
    check(lambda lib, a, b: F(lib).cross_entropy(a, b), rand(0, 3), np.zeros(0, np.int64))
    check(lambda lib, a, b: F(lib).cross_entropy(a, b), rand(0, 3), rand(0, 3))
    check(lambda lib, a, b: F(lib).cross_entropy(a, b, ignore_index=7), x,
          np.array([0, 7, 2, 1]))                                              # ignore >= C
    check(lambda lib, a, b: F(lib).cross_entropy(a.t(), b), rng.standard_normal((3, 4)),
          np.array([0, 2, 2, 1]))                                              # non-contiguous
    check(lambda lib, a, b: F(lib).cross_entropy(a, b), x, np.array([0, 2, 2, 1], np.uint8))
    check(lambda lib, a, b: F(lib).cross_entropy(a, b, label_smoothing=-0.1), x,
          np.array([0, 2, 2, 1]))
    check(lambda lib, a, b: F(lib).cross_entropy(a, b, label_smoothing=1.0), x,
          np.array([0, 2, 2, 1]))
    # (C,) with a (1,) target: torch's own backward fails there, compare the value
    check(lambda lib, a, b: F(lib).cross_entropy(a, b), rand(5), np.array([2]), grad=False)
    # a float64 probability target with float32 logits promotes
    # (log_softmax in float32 as torch, so float32-level agreement)
    check(lambda lib, a, b: F(lib).cross_entropy(a, b), rand(2, 3, dtype=np.float32),
          rand(2, 3, low=0, high=1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dt", DTYPES)
def test_cross_entropy_large_logits_stable(dt):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [5e3, 5e3, -1e4]], dtype=dt)
    t = np.array([1, 2, 0])
    e, tt = check(lambda lib, a, b: F(lib).cross_entropy(a, b, label_smoothing=0.1), x, t)
    assert np.isfinite(e.item())
    check(lambda lib, a, b: F(lib).cross_entropy(a, b, reduction="none"), x,
          np.eye(3, dtype=dt)[[1, 2, 0]])


def test_cross_entropy_grad_fn_and_module():
    x = ember.randn(4, 3, requires_grad=True)
    loss = F(ember).cross_entropy(x, ember.tensor([0, 1, 2, 1]))
    assert loss.grad_fn.name() == "NllLossBackward0"
    w = np.array([1.0, 2.0, 0.5])
    m_e = ember.nn.CrossEntropyLoss(weight=ember.tensor(w), ignore_index=1, label_smoothing=0.1)
    m_t = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.1)
    assert list(m_e.state_dict()) == list(m_t.state_dict()) == ["weight"]
    assert repr(m_e) == repr(m_t)
    check(lambda lib, a, b: (m_e if lib is ember else m_t)(a, b), rand(5, 3),
          np.array([0, 1, 2, 2, 1]))
    assert list(ember.nn.CrossEntropyLoss().state_dict()) == []


@pytest.mark.parametrize("xshape,tshape,dt", CE_CASES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("weighted,ignore", [(False, None), (True, None), (True, 2)])
def test_nll_loss(xshape, tshape, red, weighted, ignore, dt):
    rng = np.random.default_rng(5)
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    x = rng.standard_normal(xshape).astype(dt)
    t = _targets(rng, tshape, C, ignore)
    w = rng.uniform(0.2, 2.0, C).astype(dt) if weighted else None
    ii = -100 if ignore is None else ignore
    check(lambda lib, a, b: F(lib).nll_loss(a, b, weight=_t(lib, w), ignore_index=ii,
                                            reduction=red), x, t)
    m = {lib: lib.nn.NLLLoss(weight=_t(lib, w), ignore_index=ii, reduction=red)
         for lib in (ember, torch)}
    check(lambda lib, a, b: m[lib](a, b), x, t)


def _err(fn_e, fn_t, exc):
    """Both frameworks raise ``exc`` with the same message."""
    with pytest.raises(exc) as te:
        fn_t()
    with pytest.raises(exc) as ee:
        fn_e()
    want = str(te.value).replace("torch.", "ember.")
    assert str(ee.value) == want, (str(ee.value), want)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("x,t,exc", [
    (np.zeros((3, 5)), np.array([1, 2, 10]), IndexError),
    (np.zeros((3, 5)), np.array([1, -1, 2]), IndexError),
    (np.zeros((2, 3, 4)), np.full((2, 4), 5), IndexError),
    (np.zeros((2, 3, 4, 4)), np.full((2, 4, 4), 3), IndexError),
    (np.zeros((3, 5)), np.array([1.0, 2.0, 3.0]), RuntimeError),
    (np.zeros((3, 5)), np.array([1, 2, 3], np.int32), RuntimeError),
    (np.zeros((3, 5)), np.array([True, False, True]), RuntimeError),
    (np.zeros((3, 5)), np.array([1, 2, 3, 4]), ValueError),
    (np.zeros((2, 3, 4)), np.zeros((3, 4), np.int64), ValueError),
    (np.zeros((3, 5, 4)), np.zeros((3, 5), np.int64), RuntimeError),
    (np.zeros((3, 5, 4)), np.zeros((3,), np.int64), RuntimeError),
    (np.zeros((3, 5, 4, 2)), np.zeros((3, 4, 3), np.int64), RuntimeError),
    (np.zeros((3, 5, 4, 2)), np.zeros((3, 4), np.int64), RuntimeError),
    (np.zeros((3, 5)), np.zeros((3, 4)), RuntimeError),
    (np.zeros((5,)), np.array([2, 1]), ValueError),
])
def test_class_target_errors(name, x, t, exc):
    _err(lambda: getattr(F(ember), name)(ember.tensor(x), ember.tensor(t)),
         lambda: getattr(F(torch), name)(torch.tensor(x), torch.tensor(t)), exc)


def test_cross_entropy_other_errors():
    x = np.zeros((3, 4))
    t = np.array([0, 1, 2])
    for kw_np, exc in [({"weight": np.ones(3)}, RuntimeError),
                       ({"weight": np.ones((1, 4))}, RuntimeError),
                       ({"weight": np.ones(4, np.float32)}, RuntimeError),
                       ({"reduction": "avg"}, ValueError),
                       ({"label_smoothing": 1.5}, RuntimeError)]:
        def run(lib):
            kw = {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw_np.items()}
            return F(lib).cross_entropy(lib.tensor(x), lib.tensor(t), **kw)
        _err(lambda: run(ember), lambda: run(torch), exc)
    _err(lambda: F(ember).cross_entropy(ember.tensor(x), ember.zeros(3, 4, dtype=ember.int64)),
         lambda: F(torch).cross_entropy(torch.tensor(x), torch.zeros(3, 4, dtype=torch.int64)),
         RuntimeError)
    _err(lambda: F(ember).cross_entropy(ember.tensor(x), ember.rand(3, 4), ignore_index=1),
         lambda: F(torch).cross_entropy(torch.tensor(x), torch.rand(3, 4), ignore_index=1),
         RuntimeError)
    with pytest.raises(NotImplementedError):
        F(ember).cross_entropy(ember.tensor([[1, 2]]), ember.tensor([1]))


# ---- binary cross entropy ----------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("wshape", [None, (4,), (3, 4), (3, 1)])
def test_binary_cross_entropy(red, wshape, dt):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.05, 0.95, (3, 4)).astype(dt)
    y = rng.uniform(0, 1, (3, 4)).astype(dt)
    w = rng.uniform(0.5, 2, wshape).astype(dt) if wshape else None
    check(lambda lib, a, b: F(lib).binary_cross_entropy(a, b, weight=_t(lib, w), reduction=red),
          x, y)
    m = {lib: lib.nn.BCELoss(weight=_t(lib, w), reduction=red) for lib in (ember, torch)}
    check(lambda lib, a, b: m[lib](a, b), x, y)


def test_binary_cross_entropy_clamps_log():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    e, _ = check(lambda lib, a, b: F(lib).binary_cross_entropy(a, b, reduction="none"), x, y,
                 grad=False)
    assert np.all(np.isfinite(e.detach().cpu().numpy()))
    check(lambda lib, a, b: F(lib).binary_cross_entropy(a, b), x[4:], y[4:])


def test_binary_cross_entropy_errors():
    _err(lambda: F(ember).binary_cross_entropy(ember.rand(3), ember.rand(3, 1)),
         lambda: F(torch).binary_cross_entropy(torch.rand(3), torch.rand(3, 1)), ValueError)
    _err(lambda: F(ember).binary_cross_entropy(ember.tensor([1.5, 0.2]), ember.rand(2)),
         lambda: F(torch).binary_cross_entropy(torch.tensor([1.5, 0.2]), torch.rand(2)),
         RuntimeError)
    _err(lambda: F(ember).binary_cross_entropy(ember.rand(3), ember.rand(3, dtype=ember.float64)),
         lambda: F(torch).binary_cross_entropy(torch.rand(3), torch.rand(3, dtype=torch.float64)),
         RuntimeError)
    _err(lambda: F(ember).binary_cross_entropy(ember.rand(3, 2), ember.rand(3, 2),
                                               weight=ember.rand(4)),
         lambda: F(torch).binary_cross_entropy(torch.rand(3, 2), torch.rand(3, 2),
                                               weight=torch.rand(4)), RuntimeError)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("wshape,pwshape", [(None, None), ((4,), None), (None, (4,)),
                                            ((3, 4), (4,)), ((3, 1), (1,))])
def test_bce_with_logits(red, wshape, pwshape, dt):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((3, 4)) * 3).astype(dt)
    y = rng.uniform(0, 1, (3, 4)).astype(dt)
    w = rng.uniform(0.5, 2, wshape).astype(dt) if wshape else None
    pw = rng.uniform(0.5, 3, pwshape).astype(dt) if pwshape else None
    check(lambda lib, a, b: F(lib).binary_cross_entropy_with_logits(
        a, b, weight=_t(lib, w), reduction=red, pos_weight=_t(lib, pw)), x, y)
    m = {lib: lib.nn.BCEWithLogitsLoss(weight=_t(lib, w), reduction=red, pos_weight=_t(lib, pw))
         for lib in (ember, torch)}
    check(lambda lib, a, b: m[lib](a, b), x, y)
    assert list(m[ember].state_dict()) == list(m[torch].state_dict())


@pytest.mark.parametrize("dt", DTYPES)
def test_bce_with_logits_large_magnitude(dt):
    x = np.array([1e4, -1e4, 1e4, -1e4, 30.0, -30.0], dtype=dt)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 0.7], dtype=dt)
    for pw in (None, np.full(6, 2.5, dt)):
        e, _ = check(lambda lib, a, b: F(lib).binary_cross_entropy_with_logits(
            a, b, reduction="none", pos_weight=_t(lib, pw)), x, y)
        assert np.all(np.isfinite(e.detach().cpu().numpy()))


def test_bce_with_logits_errors():
    _err(lambda: F(ember).binary_cross_entropy_with_logits(ember.rand(3), ember.rand(3, 1)),
         lambda: F(torch).binary_cross_entropy_with_logits(torch.rand(3), torch.rand(3, 1)),
         ValueError)
    _err(lambda: F(ember).binary_cross_entropy_with_logits(ember.rand(3, 2), ember.rand(3, 2),
                                                           pos_weight=ember.rand(3)),
         lambda: F(torch).binary_cross_entropy_with_logits(torch.rand(3, 2), torch.rand(3, 2),
                                                           pos_weight=torch.rand(3)),
         RuntimeError)


# ---- divergences, likelihoods, margins ----------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("red", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(red, log_target, dt):
    rng = np.random.default_rng(1)
    x = np.log(rng.dirichlet(np.ones(5), 3)).astype(dt)
    y = rng.dirichlet(np.ones(5), 3).astype(dt)
    if log_target:
        y = np.log(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, a, b: F(lib).kl_div(a, b, reduction=red, log_target=log_target), x, y)
        m = {lib: lib.nn.KLDivLoss(reduction=red, log_target=log_target) for lib in (ember, torch)}
        check(lambda lib, a, b: m[lib](a, b), x, y)
    if red == "mean":
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            F(ember).kl_div(ember.tensor(x), ember.tensor(y), log_target=log_target)


@pytest.mark.parametrize("red", REDUCTIONS)
def test_composed_losses(red):
    rng = np.random.default_rng(9)
    x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    sgn = np.array([1.0, -1.0, -1.0, 1.0])
    f = F
    cases = [
        (lambda lib, a, b: f(lib).cosine_embedding_loss(a, b, _t(lib, sgn), margin=0.2,
                                                        reduction=red), x1, x2),
        (lambda lib, a, b: f(lib).cosine_embedding_loss(a, b, _t(lib, np.array(-1.0)),
                                                        reduction=red), x1[0], x2[0]),
        (lambda lib, a, b: f(lib).margin_ranking_loss(a, b, _t(lib, sgn), margin=0.5,
                                                      reduction=red), x1[:, 0], x2[:, 0]),
        (lambda lib, a: f(lib).hinge_embedding_loss(a, _t(lib, np.sign(x2)), margin=0.7,
                                                    reduction=red), x1),
        (lambda lib, a: f(lib).soft_margin_loss(a, _t(lib, np.sign(x2)), reduction=red), x1),
        (lambda lib, a: f(lib).multilabel_soft_margin_loss(
            a, _t(lib, (x2 > 0).astype(float)), weight=_t(lib, np.linspace(0.5, 2, 5)),
            reduction=red), x1),
        (lambda lib, a, b, c: f(lib).triplet_margin_loss(a, b, c, margin=0.5, reduction=red),
         x1, x2, rng.standard_normal((4, 5))),
        (lambda lib, a, b, c: f(lib).triplet_margin_loss(a, b, c, p=1, swap=True,
                                                         reduction=red),
         x1, x2, rng.standard_normal((4, 5))),
        (lambda lib, a, b, c: f(lib).triplet_margin_with_distance_loss(
            a, b, c, distance_function=lambda u, v: 1 - f(lib).cosine_similarity(u, v),
            swap=True, reduction=red), x1, x2, rng.standard_normal((4, 5))),
        (lambda lib, a, b: f(lib).poisson_nll_loss(a, b, reduction=red), x1,
         rng.uniform(0, 4, (4, 5))),
        (lambda lib, a, b: f(lib).poisson_nll_loss(a, b, log_input=False, full=True,
                                                   reduction=red),
         rng.uniform(0.1, 3, (4, 5)), rng.uniform(0, 4, (4, 5))),
        (lambda lib, a, b, v: f(lib).gaussian_nll_loss(a, b, v, reduction=red), x1, x2,
         rng.uniform(0.1, 2, (4, 5))),
        (lambda lib, a, b, v: f(lib).gaussian_nll_loss(a, b, v, full=True, reduction=red),
         x1, x2, rng.uniform(0.1, 2, (4, 1))),
        (lambda lib, a, b, v: f(lib).gaussian_nll_loss(a, b, v, eps=0.5, reduction=red),
         x1, x2, rng.uniform(0.1, 2, (4,))),
    ]
    for p_ in (1, 2):
        for w in (None, np.linspace(0.5, 2, 5)):
            cases.append((lambda lib, a, p_=p_, w=w: f(lib).multi_margin_loss(
                a, _t(lib, np.array([0, 3, 4, 1])), p=p_, margin=0.8, weight=_t(lib, w),
                reduction=red), x1))
    cases.append((lambda lib, a: f(lib).multilabel_margin_loss(
        a, _t(lib, np.array([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [0, -1, 2, 2, 2],
                             [4, 4, -1, 0, 0]])), reduction=red), x1))
    for fn, *arrays in cases:
        check(fn, *arrays)


def test_composed_loss_modules():
    rng = np.random.default_rng(0)
    x1, x2, x3 = (rng.standard_normal((3, 4)) for _ in range(3))
    sgn = np.array([1.0, -1.0, 1.0])
    specs = [("CosineEmbeddingLoss", dict(margin=0.1), (x1, x2), sgn),
             ("MarginRankingLoss", dict(margin=0.3), (x1[:, 0], x2[:, 0]), sgn),
             ("HingeEmbeddingLoss", dict(margin=2.0), (x1,), np.sign(x2)),
             ("SoftMarginLoss", {}, (x1,), np.sign(x2)),
             ("MultiMarginLoss", dict(p=2), (x1,), np.array([0, 3, 1])),
             ("MultiLabelSoftMarginLoss", {}, (x1,), (x2 > 0).astype(float)),
             ("MultiLabelMarginLoss", {}, (x1,), np.array([[1, -1, 0, 0], [2, 3, -1, 0],
                                                            [0, 1, 2, 3]])),
             ("L1Loss", {}, (x1,), x2), ("MSELoss", dict(reduction="sum"), (x1,), x2),
             ("HuberLoss", dict(delta=0.5), (x1,), x2), ("SmoothL1Loss", dict(beta=0.4), (x1,), x2),
             ("PoissonNLLLoss", {}, (x1,), np.abs(x2)),
             ("TripletMarginLoss", dict(margin=0.5, swap=True), (x1, x2, x3), None),
             ("TripletMarginWithDistanceLoss", dict(margin=0.5), (x1, x2, x3), None)]
    for name, kw, arrays, tgt in specs:
        m = {lib: getattr(lib.nn, name)(**kw) for lib in (ember, torch)}
        assert repr(m[ember]) == repr(m[torch])
        if tgt is None:
            check(lambda lib, *a: m[lib](*a), *arrays)
        else:
            check(lambda lib, *a: m[lib](*a, _t(lib, tgt)), *arrays)
    g = {lib: lib.nn.GaussianNLLLoss(full=True) for lib in (ember, torch)}
    check(lambda lib, a, b, v: g[lib](a, b, v), x1, x2, np.abs(x3) + 0.1)
    with pytest.warns(UserWarning, match="NLLLoss2d has been deprecated"):
        ember.nn.NLLLoss2d()


def test_composed_loss_errors():
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F(ember).gaussian_nll_loss(ember.zeros(3, 4), ember.zeros(3, 4), ember.ones(2))
    with pytest.raises(ValueError, match="var has negative entry"):
        F(ember).gaussian_nll_loss(ember.zeros(3, 4), ember.zeros(3, 4), -ember.ones(3, 4))
    _err(lambda: F(ember).margin_ranking_loss(ember.zeros(3), ember.zeros(3), ember.zeros(3, 1)),
         lambda: F(torch).margin_ranking_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3, 1)),
         RuntimeError)
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        ember.nn.MultiMarginLoss(p=3)


# ---- gradcheck and double backward ----------------------------------------------------------

def _rq(*shape, seed=0, low=-2, high=2):
    return ember.tensor(rand(*shape, seed=seed, low=low, high=high), requires_grad=True)


def test_gradcheck_fused_losses():
    f = F(ember)
    t = ember.tensor([0, 2, 1, 2])
    w = ember.tensor([0.5, 1.5, 2.0], dtype=ember.float64)
    assert gradcheck(lambda x: f.cross_entropy(x, t, weight=w, label_smoothing=0.2,
                                               ignore_index=1), (_rq(4, 3),))
    assert gradcheck(lambda x, p: f.cross_entropy(x, p, weight=w, label_smoothing=0.1),
                     (_rq(4, 3), _rq(4, 3, seed=1, low=0, high=1)))
    assert gradcheck(lambda x: f.cross_entropy(x, t.reshape(2, 2), reduction="none"),
                     (_rq(2, 3, 2),))
    assert gradcheck(lambda x: f.nll_loss(x, t, weight=w), (_rq(4, 3),))
    assert gradcheck(lambda x, y: f.mse_loss(x, y), (_rq(3, 2), _rq(3, 2, seed=1)))
    assert gradcheck(lambda x, y: f.huber_loss(x, y, delta=0.7), (_rq(3, 2), _rq(3, 2, seed=1)))
    assert gradcheck(lambda x, y: f.smooth_l1_loss(x, y, beta=0.7, reduction="sum"),
                     (_rq(3, 2), _rq(3, 2, seed=1)))
    assert gradcheck(lambda x, y: f.binary_cross_entropy(x, y),
                     (_rq(3, 2, low=0.1, high=0.9), _rq(3, 2, seed=1, low=0, high=1)))
    pw = ember.tensor([2.0, 0.5], dtype=ember.float64)
    assert gradcheck(lambda x, y: f.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
                     (_rq(3, 2), _rq(3, 2, seed=1, low=0, high=1)))


def test_double_backward_fused_losses():
    f = F(ember)
    t = ember.tensor([0, 2, 1, 2])
    w = ember.tensor([0.5, 1.5, 2.0], dtype=ember.float64)
    assert gradgradcheck(lambda x: f.cross_entropy(x, t, weight=w, label_smoothing=0.2,
                                                   ignore_index=1), (_rq(4, 3),))
    assert gradgradcheck(lambda x, p: f.cross_entropy(x, p, reduction="sum"),
                         (_rq(4, 3), _rq(4, 3, seed=1, low=0, high=1)))
    assert gradgradcheck(lambda x: f.cross_entropy(x, t.reshape(2, 2), reduction="none"),
                         (_rq(2, 3, 2),))
    assert gradgradcheck(lambda x, y: f.mse_loss(x, y), (_rq(3, 2), _rq(3, 2, seed=1)))
    assert gradgradcheck(lambda x, y: f.huber_loss(x, y, delta=0.7, reduction="none"),
                         (_rq(3, 2), _rq(3, 2, seed=1)))
    assert gradgradcheck(lambda x, y: f.binary_cross_entropy(x, y),
                         (_rq(3, 2, low=0.1, high=0.9), _rq(3, 2, seed=1, low=0, high=1)))
    assert gradgradcheck(lambda x, y: f.binary_cross_entropy_with_logits(x, y),
                         (_rq(3, 2), _rq(3, 2, seed=1, low=0, high=1)))


def test_cross_entropy_hessian_vector_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    v = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    res = {}
    for lib in (ember, torch):
        xx = lib.tensor(x, requires_grad=True)
        loss = F(lib).cross_entropy(xx, lib.tensor(t), label_smoothing=0.1)
        g, = lib.autograd.grad(loss, xx, create_graph=True)
        hv, = lib.autograd.grad((g * lib.tensor(v)).sum(), xx)
        res[lib] = hv
    assert_close(res[ember], res[torch])


# ---- distances -------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
def test_cosine_similarity(dt):
    x1, x2 = rand(4, 5, dtype=dt, seed=1), rand(4, 5, dtype=dt, seed=2)
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b), x1, x2)
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=0, eps=1e-3), x1, x2)
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=-1), x1, x2[:1])   # broadcast
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b, dim=0), x1[0], x2[0])
    z = np.zeros((2, 5), dt)
    check(lambda lib, a, b: F(lib).cosine_similarity(a, b), z, x2[:2])             # zero norm
    m = {lib: lib.nn.CosineSimilarity(dim=0) for lib in (ember, torch)}
    check(lambda lib, a, b: m[lib](a, b), x1, x2)
    _err(lambda: F(ember).cosine_similarity(ember.zeros(3, 2), ember.zeros(4, 2)),
         lambda: F(torch).cosine_similarity(torch.zeros(3, 2), torch.zeros(4, 2)), RuntimeError)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_pairwise_distance(p, dt):
    x1, x2 = rand(4, 5, dtype=dt, seed=1), rand(4, 5, dtype=dt, seed=2)
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=p), x1, x2)
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=p, keepdim=True), x1, x2[:1])
    check(lambda lib, a, b: F(lib).pairwise_distance(a, b, p=p, eps=0.1), x1[0], x2[0])
    m = {lib: lib.nn.PairwiseDistance(p=p, eps=1e-3) for lib in (ember, torch)}
    check(lambda lib, a, b: m[lib](a, b), x1, x2)
    assert repr(m[ember]) == repr(m[torch])


def test_pdist_and_normalize():
    x = rand(5, 3, seed=4)
    x[1] = x[0]                                          # a zero distance
    for p in (2, 1, 3, float("inf")):
        check(lambda lib, a: F(lib).pdist(a, p=p), x)
    for p, dim in ((2.0, 1), (1.0, 0), (3.0, -1)):
        check(lambda lib, a: F(lib).normalize(a, p=p, dim=dim), x)
    check(lambda lib, a: F(lib).normalize(a), np.zeros((2, 3)))
    _err(lambda: F(ember).pdist(ember.zeros(2, 2, 2)), lambda: F(torch).pdist(torch.zeros(2, 2, 2)),
         RuntimeError)
