"""Reductions and scans on adversarial float inputs, against torch (issue 21).

Long float32 sums lose accuracy when terms are added one after another:
10^7 copies of 0.1 run up to 1,087,937, and data offset by 1e8 gives a
float32 mean off by units of 8.  torch's CPU kernels avoid this (cascaded
sums, scans and variances accumulated in double), so Ember must too.  Each
row of the table is an input where torch is accurate, compared with torch
at a tolerance of 1e-5 of the result's scale; all but two rows (kept as
guards) fail on the plain float32 formulas, most by far more than that.

Where torch's own float32 kernel is not accurate (``vector_norm`` sums
naively: 2% off on the (10^6, 4) column case), the reference is torch
on the same data in float64, rounded to float32: Ember is held to the
exact answer, not to torch's error.
"""
import numpy as np
import pytest
import torch

import ember
from helpers import check

F32, F16 = np.float32, np.float16


def _offset(offset, shape, seed=0):
    """Unit-variance noise around a large offset, stored in float32."""
    return (offset + np.random.default_rng(seed).standard_normal(shape)).astype(F32)


def _with_nans(x, every=97):
    x = x.copy()
    x.reshape(-1)[::every] = np.nan
    return x


def _alternating(n):
    """1e8, 1, -1e8, 1, ...: float32 running sums lose every 1 next to 1e8."""
    return np.tile(np.array([1e8, 1, -1e8, 1], F32), n // 4)


# (name, function of (lib, tensor), input maker, reference: "torch" or "exact")
CASES = [
    ("cumsum 1e7 x 0.1", lambda L, t: L.cumsum(t, 0), lambda: np.full(10**7, 0.1, F32), "torch"),
    ("cumsum cancellation", lambda L, t: t.cumsum(0), lambda: _alternating(4 * 10**5), "torch"),
    ("cumsum dim 0", lambda L, t: t.cumsum(0)[-1], lambda: np.full((10**6, 3), 0.1, F32),
     "torch"),
    ("cumprod 1e6 x 1.00001", lambda L, t: t.cumprod(0), lambda: np.full(10**6, 1.00001, F32),
     "torch"),
    ("cumprod half", lambda L, t: t.cumprod(0), lambda: np.full(1000, 1.001, F16), "torch"),
    ("sum dim 0", lambda L, t: t.sum(0), lambda: np.full((10**6, 4), 0.1, F32), "torch"),
    ("sum dims (0, 1)", lambda L, t: t.sum((0, 1)), lambda: np.full((1000, 1000, 2), 0.1, F32),
     "torch"),
    ("sum strided", lambda L, t: t[:, ::2].sum(0), lambda: np.full((10**6, 4), 0.1, F32),
     "torch"),
    ("sum dim 0 float64", lambda L, t: t.sum(0),
     lambda: np.full((10**6, 2), 0.1) + np.arange(2) * 1e-9, "torch"),
    ("mean dim 0", lambda L, t: t.mean(0), lambda: np.full((10**6, 4), 0.1, F32), "torch"),
    ("mean dim 0 keepdim", lambda L, t: t.mean(0, keepdim=True),
     lambda: _offset(1e4, (10**6, 2)), "torch"),
    ("nansum dim 0", lambda L, t: L.nansum(t, 0),
     lambda: _with_nans(np.full((10**6, 4), 0.1, F32)), "torch"),
    ("nanmean dim 0", lambda L, t: L.nanmean(t, 0),
     lambda: _with_nans(np.full((10**6, 4), 0.1, F32)), "torch"),
    ("var dim 1, offset 1e8", lambda L, t: t.var(1), lambda: _offset(1e8, (64, 1000)), "torch"),
    ("var dim 1, offset 1e6", lambda L, t: t.var(1), lambda: _offset(1e6, (64, 1000)), "torch"),
    ("var dim 0, offset 1e6", lambda L, t: t.var(0), lambda: _offset(1e6, (4096, 64)), "torch"),
    ("std dim 1, offset 1e6", lambda L, t: t.std(1, correction=0),
     lambda: _offset(1e6, (64, 1000)), "torch"),
    ("var all, offset 1e8", lambda L, t: t.var(), lambda: _offset(1e8, (64, 1000)), "torch"),
    ("var_mean dim 1, offset 1e6", lambda L, t: L.var_mean(t, 1),
     lambda: _offset(1e6, (64, 1000)), "torch"),
    ("std_mean all, offset 1e6", lambda L, t: L.std_mean(t),
     lambda: _offset(1e6, (64, 1000)), "torch"),
    ("var dim 1 half, offset 1e3", lambda L, t: t.var(1),
     lambda: _offset(1e3, (8, 4000)).astype(F16), "torch"),
    ("logsumexp dim 0", lambda L, t: L.logsumexp(t, 0),
     lambda: np.random.default_rng(0).uniform(-20, 0, (10**6, 2)).astype(F32), "torch"),
    ("vector_norm dim 0", lambda L, t: L.linalg.vector_norm(t, 2, 0),
     lambda: np.full((10**6, 4), 0.1, F32), "exact"),
    ("vector_norm all", lambda L, t: L.linalg.vector_norm(t),
     lambda: np.full(10**7, 0.1, F32), "exact"),
    ("norm p=1 dim 0", lambda L, t: t.norm(1, 0), lambda: np.full((10**6, 4), 0.1, F32),
     "exact"),
]

# float32 and float64 tolerance (relative to the largest reference value);
# half results are compared to about one unit in the last place
RTOL = {np.dtype(F32): 1e-5, np.dtype(np.float64): 1e-12, np.dtype(F16): 2e-3}


def _numpy(r):
    return [a.detach().numpy() for a in r] if isinstance(r, tuple) else [r.detach().numpy()]


@pytest.mark.parametrize("name, fn, make, ref", CASES, ids=[c[0] for c in CASES])
def test_adversarial(name, fn, make, ref):
    x = make()
    got = _numpy(fn(ember, ember.tensor(x)))
    if ref == "torch":
        want = _numpy(fn(torch, torch.from_numpy(x)))
    else:   # torch on the float64 data, rounded back to x's dtype
        x64 = torch.from_numpy(x.astype(np.float64))
        want = [w.astype(x.dtype) for w in _numpy(fn(torch, x64))]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        scale = np.abs(w).max()
        np.testing.assert_allclose(g, w, rtol=0, atol=RTOL[w.dtype] * scale, err_msg=name)


def test_torch_norm_is_not_the_reference():
    """Why the norm rows compare with float64: torch's own float32 result is
    off by more than the tolerance there (so it would fail the test)."""
    x = np.full((10**6, 4), 0.1, F32)
    torch32 = torch.linalg.vector_norm(torch.from_numpy(x), 2, 0).numpy()
    exact = np.sqrt(10**6 * np.float64(F32(0.1)) ** 2)
    assert np.abs(torch32 / exact - 1).max() > 1e-3


def test_cumsum_backward_accumulates_in_double():
    """The gradient of cumsum is a reversed cumsum: it needs the same accuracy."""
    x = np.zeros(10**6, F32)
    w = np.full(10**6, 0.1, F32)
    grads = []
    for L, t, wt in ((ember, ember.tensor(x, requires_grad=True), ember.tensor(w)),
                     (torch, torch.tensor(x, requires_grad=True), torch.tensor(w))):
        (t.cumsum(0) * wt).sum().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


@pytest.mark.parametrize("offset", [1e4, 1e6])
def test_var_backward_with_offset(offset):
    """var's gradient 2 (x - mean) / (n - 1) needs the mean to the last bit:
    within half a unit of the mean's last place of the float64 formula.
    (torch's own float32 mean is sometimes one unit off here, so the
    reference is the formula, not torch's gradient.)"""
    x = _offset(offset, (64, 1000), seed=3)
    t = ember.tensor(x, requires_grad=True)
    t.var(1).sum().backward()
    x64 = x.astype(np.float64)
    want = 2 / 999 * (x64 - x64.mean(1, keepdims=True))
    half_ulp = np.spacing(F32(offset)) / 2
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=0,
                               atol=2 / 999 * half_ulp * 1.01 + 1e-6 * np.abs(want).max())


@pytest.mark.parametrize("fn", [lambda t: t.sum(0), lambda t: t.mean((0, 2)),
                                lambda t: t.var(0), lambda t: t.std((0, 2), keepdim=True),
                                lambda t: ember.nansum(t, 0), lambda t: ember.nanmean(t, (0, 2)),
                                lambda t: ember.logsumexp(t, 0), lambda t: t.norm(dim=(0, 2)),
                                lambda t: t.norm(3, 0)])
def test_gradcheck_long_axis(fn):
    """The cascaded paths (an axis longer than 256, not the last) stay
    differentiable: gradcheck in float64."""
    x = ember.tensor(np.random.default_rng(1).uniform(0.5, 2.0, (300, 2, 3)), requires_grad=True)
    assert ember.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("fn", [lambda L, t: t.sum(0), lambda L, t: t.mean((0, 2)),
                                lambda L, t: t.var(0), lambda L, t: t.std((0, 2), keepdim=True),
                                lambda L, t: L.var_mean(t, 0), lambda L, t: L.nansum(t, 0),
                                lambda L, t: L.nanmean(t, (0, 2)), lambda L, t: L.logsumexp(t, 0),
                                lambda L, t: t.norm(dim=(0, 2)), lambda L, t: t.norm(3, 0),
                                lambda L, t: t.cumsum(0), lambda L, t: t.cumprod(0)])
def test_float32_long_axis_against_torch(fn):
    """The same cascaded paths in float32 (where they are taken): values and
    gradients as torch's."""
    x = np.random.default_rng(2).uniform(0.9, 1.1, (600, 2, 3)).astype(F32)
    check(fn, x)
