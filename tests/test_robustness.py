"""Numerical robustness against torch: large magnitudes (|x| ~ 1e4) and float16.

Stable formulas (log-sum-exp shifts, softplus thresholds, sigmoid on both
signs) must give torch's finite values and gradients where a naive formula
overflows; exp must overflow to inf exactly where torch's does; float16
reductions and normalisations must accumulate in float32 as torch does, so
they don't overflow (or stall) where torch's don't.
"""
import warnings

import numpy as np
import pytest
import torch

import ember

TOL = {"float64": (1e-12, 1e-9), "float32": (1e-5, 1e-5), "float16": (2e-3, 4e-3)}


def _big(seed=0):
    """(4, 8) values of magnitude up to 1e4, with ties at the extremes and a
    constant row (a max shared by several entries, a zero-variance row)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (4, 8)) * 1e4
    x[0, 0] = 1e4
    x[1, :] = -1e4
    x[2, :3] = 1e4
    return x


def _run(lib, fn, arrays, dtype):
    ts = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            ts.append(lib.tensor(a.astype(dtype), requires_grad=True))
        elif isinstance(a, np.ndarray):
            ts.append(lib.tensor(a))
        else:
            ts.append(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(lib, *ts)
        out.backward(lib.ones_like(out))
    grads = [t.grad for t in ts if isinstance(t, lib.Tensor) and t.requires_grad]
    return out, grads


def _close(e, t, dtype, what):
    en = e.detach().numpy().astype(np.float64)
    tn = t.detach().numpy().astype(np.float64)
    assert e.detach().numpy().dtype == t.detach().numpy().dtype, what
    assert en.shape == tn.shape, what
    np.testing.assert_array_equal(np.isnan(en), np.isnan(tn), err_msg=f"{what}: NaN positions")
    np.testing.assert_array_equal(np.isposinf(en), np.isposinf(tn), err_msg=f"{what}: +inf")
    np.testing.assert_array_equal(np.isneginf(en), np.isneginf(tn), err_msg=f"{what}: -inf")
    fin = np.isfinite(tn)
    a, r = TOL[dtype]
    scale = max(1.0, float(np.abs(tn[fin]).max(initial=0)))
    np.testing.assert_allclose(en[fin], tn[fin], rtol=r, atol=a * scale, err_msg=what)


def check(fn, arrays, dtype):
    out_t, g_t = _run(torch, fn, arrays, dtype)
    out_e, g_e = _run(ember, fn, arrays, dtype)
    _close(out_e, out_t, dtype, "output")
    assert len(g_e) == len(g_t)
    for i, (e, t) in enumerate(zip(g_e, g_t)):
        assert (e is None) == (t is None), f"grad {i}"
        if t is not None:
            _close(e, t, dtype, f"grad {i}")
    return out_e


def F(lib):
    return lib.nn.functional


TARGET = np.array([0, 3, 1, 7])

# (name, fn(lib, *tensors), inputs): every one at |x| up to 1e4
LARGE = {
    "log_softmax": (lambda L, x: F(L).log_softmax(x, 1), [_big()]),
    "softmax": (lambda L, x: F(L).softmax(x, 1), [_big()]),
    "softmin": (lambda L, x: F(L).softmin(x, 1), [_big()]),
    "log_softmax dim 0": (lambda L, x: F(L).log_softmax(x, 0), [_big()]),
    "cross_entropy": (lambda L, x, t: F(L).cross_entropy(x, t), [_big(), TARGET]),
    "cross_entropy label smoothing": (
        lambda L, x, t: F(L).cross_entropy(x, t, label_smoothing=0.1), [_big(), TARGET]),
    "cross_entropy probabilities": (
        lambda L, x: F(L).cross_entropy(x, F(L).softmax(x.detach().flip(1), 1)), [_big()]),
    "nll_loss(log_softmax)": (
        lambda L, x, t: F(L).nll_loss(F(L).log_softmax(x, 1), t), [_big(), TARGET]),
    "logsumexp": (lambda L, x: x.logsumexp(1), [_big()]),
    "logsumexp all": (lambda L, x: x.logsumexp((0, 1)), [_big()]),
    "sigmoid": (lambda L, x: x.sigmoid(), [_big()]),
    "logsigmoid": (lambda L, x: F(L).logsigmoid(x), [_big()]),
    "softplus": (lambda L, x: F(L).softplus(x), [_big()]),
    "softplus beta threshold": (lambda L, x: F(L).softplus(x, beta=2, threshold=5), [_big()]),
    "bce_with_logits": (lambda L, x, y: F(L).binary_cross_entropy_with_logits(x, y),
                        [_big(), (_big(1) > 0).astype(np.float64)]),
    "bce_with_logits pos_weight": (
        lambda L, x, y: F(L).binary_cross_entropy_with_logits(
            x, y, pos_weight=L.full((8,), 3.0, dtype=x.dtype)),
        [_big(), (_big(1) > 0).astype(np.float64)]),
    "tanh": (lambda L, x: x.tanh(), [_big()]),
    "exp / 10": (lambda L, x: (x / 10).exp(), [_big()]),
    "silu": (lambda L, x: F(L).silu(x), [_big()]),
    "gelu": (lambda L, x: F(L).gelu(x), [_big()]),
    "gelu tanh": (lambda L, x: F(L).gelu(x, approximate="tanh"), [_big()]),
    "elu": (lambda L, x: F(L).elu(x), [_big()]),
    "mish": (lambda L, x: F(L).mish(x), [_big()]),
    "kl_div(log_softmax, softmax)": (
        lambda L, x: F(L).kl_div(F(L).log_softmax(x, 1), F(L).softmax(x.flip(1), 1),
                                 reduction="batchmean"), [_big()]),
    "norm": (lambda L, x: x.norm(), [_big()]),
    "normalize": (lambda L, x: F(L).normalize(x), [_big()]),
    "cosine_similarity": (lambda L, a, b: F(L).cosine_similarity(a, b), [_big(), _big(2)]),
    "var": (lambda L, x: x.var(1), [_big()]),
    "huber": (lambda L, x: F(L).huber_loss(x, -x), [_big()]),
    "smooth_l1": (lambda L, x: F(L).smooth_l1_loss(x, -x), [_big()]),
    "mse": (lambda L, x: F(L).mse_loss(x, x * 0), [_big()]),
    "scaled_dot_product_attention": (
        lambda L, q: F(L).scaled_dot_product_attention(*(q.reshape(1, 4, 8),) * 3), [_big() / 100]),
}


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("name", sorted(LARGE))
def test_large_magnitudes(name, dtype):
    fn, arrays = LARGE[name]
    out = check(fn, arrays, dtype)
    if "exp" not in name and "mse" not in name and "huber" not in name and dtype != "float16":
        assert np.isfinite(out.detach().numpy()).all(), "a stable formula must stay finite"


def test_layer_norm_large_magnitudes():
    """Rows of |x| ~ 1e4 (the constant row: torch's float16 answer there is
    rounding noise, so it is checked against float64 instead)."""
    x = _big()
    rows = [0, 2, 3]
    for dtype in ("float64", "float32", "float16"):
        check(lambda L, t: F(L).layer_norm(t[rows], (8,)), [x], dtype)
    e = ember.nn.functional.layer_norm(ember.tensor(x.astype(np.float16)), (8,))
    np.testing.assert_array_equal(e[1].numpy(), np.zeros(8, np.float16))


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_exp_overflows_exactly_where_torch_does(dtype):
    lim = {"float64": [709.0, 709.78, 709.79, 710.0], "float32": [88.0, 88.72, 88.73, 89.0],
           "float16": [11.0, 11.08, 11.09, 12.0]}[dtype]
    x = np.array(lim + [-1e4, -800.0, 1e4])
    out = check(lambda L, t: t.exp(), [x], dtype)
    assert np.isinf(out.detach().numpy()).any() and np.isfinite(out.detach().numpy()).any()
    check(lambda L, t: t.expm1(), [x], dtype)
    check(lambda L, t: t.sinh(), [x], dtype)
    check(lambda L, t: t.cosh(), [x], dtype)


# ---- float16: no overflow where torch has none ---------------------------------------------

HALF = {
    "sum of 1e5 halves": (lambda L, x: x.sum(), [np.full(100000, 0.5)]),
    "mean of 1e5 x 1000": (lambda L, x: x.mean(), [np.full(100000, 1000.0)]),
    "sum overflows like torch": (lambda L, x: x.sum(), [np.full(200000, 0.5)]),
    "sum over a dim": (lambda L, x: x.sum(1), [np.full((3, 40000), 2.0)]),
    "mean over a dim": (lambda L, x: x.mean(0), [np.full((40000, 3), 100.0)]),
    "var": (lambda L, x: x.var(), [np.random.default_rng(0).normal(100, 1, 10000)]),
    "std": (lambda L, x: x.std(), [np.random.default_rng(1).normal(100, 1, 10000)]),
    "norm": (lambda L, x: x.norm(), [np.full(10000, 10.0)]),
    "cumsum": (lambda L, x: x.cumsum(0), [np.full(3000, 0.1)]),
    "softmax long": (lambda L, x: F(L).softmax(x, 0),
                     [np.random.default_rng(2).normal(0, 3, 5000)]),
    "log_softmax long": (lambda L, x: F(L).log_softmax(x, 0),
                         [np.random.default_rng(3).normal(0, 3, 5000)]),
    "logsumexp long": (lambda L, x: x.logsumexp(0), [np.random.default_rng(4).normal(0, 3, 5000)]),
    "cross_entropy 1000 classes": (
        lambda L, x, t: F(L).cross_entropy(x, t),
        [np.random.default_rng(5).normal(0, 3, (64, 1000)),
         np.random.default_rng(6).integers(0, 1000, 64)]),
    "layer_norm": (lambda L, x: F(L).layer_norm(x, (1000,)),
                   [np.random.default_rng(7).normal(50, 10, (4, 1000))]),
    "group_norm": (lambda L, x: F(L).group_norm(x, 2),
                   [np.random.default_rng(8).normal(50, 10, (2, 4, 500))]),
    "batch_norm": (lambda L, x: F(L).batch_norm(x, None, None, training=True),
                   [np.random.default_rng(9).normal(50, 10, (2000, 3))]),
    "mse_loss mean": (lambda L, x: F(L).mse_loss(x, x.detach() * 0), [np.full(10000, 10.0)]),
    "huber_loss mean": (lambda L, x: F(L).huber_loss(x, -x.detach()), [np.full(10000, 100.0)]),
    "linear": (lambda L, x, w: F(L).linear(x, w),
               [np.random.default_rng(10).normal(0, 1, (8, 4096)),
                np.random.default_rng(11).normal(0, 1, (16, 4096))]),
}


@pytest.mark.parametrize("name", sorted(HALF))
def test_float16_accumulates_like_torch(name):
    fn, arrays = HALF[name]
    check(fn, arrays, "float16")


def test_float16_sum_does_not_stall():
    """A float16 accumulator stops growing at 2048 (+1 rounds away); torch's
    (float32) doesn't: the sum of 3000 ones is 3000."""
    x = ember.ones(3000, dtype=ember.float16)
    assert x.sum().item() == 3000
    assert x.cumsum(0)[-1].item() == 3000
    assert x.mean().item() == 1
