"""The engine's sum of two large gradients of one input (a residual block's
fork): added into the first array when only the engine's buffer holds it
(``engine._sum_large`` / the ``add_into`` kernel), else into a new array.
Either way the values are torch's, and no array someone else holds changes."""
import numpy as np
import pytest
import torch

import ember
from helpers import check, rand

# (at least engine._LARGE elements, where the kernel table's add is used)
SHAPE = (64, 32, 8, 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_residual_fork_matches_torch(dtype):
    def block(lib, x, w):
        h = lib.relu(x * w)                 # a fresh gradient from each branch
        return lib.relu(h * 3.0 + x) ** 2   # x gets two gradients, summed at the fork
    check(block, rand(*SHAPE, dtype=dtype), rand(*SHAPE, seed=1, dtype=dtype))


def test_one_gradient_sent_twice():
    """``a + a``: Add's backward hands one array to both edges; the sum is 2g."""
    check(lambda lib, x: ((x * 2.0) + (x * 2.0)) * (x * 2.0 + x * 2.0), rand(*SHAPE))
    check(lambda lib, x: (lambda a: a + a)(x * 2.0), rand(*SHAPE))


class _Keep(ember.autograd.Function):
    """Identity whose backward keeps the gradient array it returns."""
    kept = []

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        out = g * 2.0
        _Keep.kept.append(out)
        return out


# (the node made last runs first: its gradient is the one in the buffer)
@pytest.mark.parametrize("kept_first", [True, False])
def test_an_array_held_elsewhere_is_not_added_into(kept_first):
    x = ember.tensor(rand(*SHAPE, dtype=np.float32), requires_grad=True)
    y = x * 1.0
    _Keep.kept.clear()
    loss = (y * 3.0 + _Keep.apply(y)) if kept_first else (_Keep.apply(y) + y * 3.0)
    loss.sum().backward()
    (kept,) = _Keep.kept
    np.testing.assert_array_equal(kept.numpy(force=True), np.full(SHAPE, 2.0, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(force=True), np.full(SHAPE, 5.0, np.float32))


def test_hooks_see_the_summed_gradient():
    seen = []
    for lib in (ember, torch):
        x = lib.tensor(rand(*SHAPE), requires_grad=True)
        y = x * 2.0
        y.register_hook(lambda g: seen.append(g.detach().numpy(force=True).copy()))
        y.retain_grad()
        ((y * y).sum() + (y * 3.0).sum()).backward()
        seen.append(y.grad.numpy(force=True).copy())
        seen.append(x.grad.numpy(force=True).copy())
    for a, b in zip(seen[:3], seen[3:]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_sum_is_added_in_place(monkeypatch):
    """The fork's second gradient goes into the first array (the kernel is
    called, and the result is that very array)."""
    from ember.backends import kernels
    calls = []
    real = kernels(np.empty(1)).add_into

    def spy(a, b):
        out = real(a, b)
        calls.append(out is a)
        return out
    monkeypatch.setattr(kernels(np.empty(1)), "add_into", spy, raising=False)
    x = ember.tensor(rand(*SHAPE, dtype=np.float32), requires_grad=True)
    if type(x._data) is not np.ndarray:
        pytest.skip("the engine adds in place into NumPy arrays only")
    y = x * 1.0
    (ember.relu(y) * 2.0 + ember.relu(y * 3.0)).sum().backward()
    assert calls == [True]


class _KeepBase(ember.autograd.Function):
    """Identity whose backward returns a reshaped view of an array it keeps."""
    kept = []

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        flat = (g * 2.0).reshape(-1)
        _KeepBase.kept.append(flat)
        return flat.reshape(g.shape)


@pytest.mark.parametrize("kept_first", [True, False])
def test_a_view_of_an_array_held_elsewhere_is_not_added_into(kept_first):
    x = ember.tensor(rand(*SHAPE, dtype=np.float32), requires_grad=True)
    y = x * 1.0
    _KeepBase.kept.clear()
    loss = (y * 3.0 + _KeepBase.apply(y)) if kept_first else (_KeepBase.apply(y) + y * 3.0)
    loss.sum().backward()
    (kept,) = _KeepBase.kept
    np.testing.assert_array_equal(kept.numpy(force=True), np.full(int(np.prod(SHAPE)), 2.0, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(force=True), np.full(SHAPE, 5.0, np.float32))


def test_views_spanning_a_fresh_base_match_torch():
    """Reshape's backward hands back a view of a fresh gradient: summed into."""
    check(lambda lib, x, w: (x.reshape(-1) * w.reshape(-1)).reshape(SHAPE) * x + x.relu(),
          rand(*SHAPE), rand(*SHAPE, seed=2))
