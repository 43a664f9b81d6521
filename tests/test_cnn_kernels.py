"""The CPU's compiled passes of a CNN training step outside the convolution:
batch norm's forward and backward (which save the input and the mean, not a
centred copy), the ReLU backward, and the 2x2 max pool.  Each is checked
against torch with the kernels on and off, the two paths against each
other (special values included), and a backward run after the kernels were
switched, so that either backward follows either forward."""
import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _jit
from helpers import check, count_kernel_calls, rand

F_E = ember.nn.functional


def _both_paths(run):
    """``run()`` with the compiled kernels, then with the NumPy paths."""
    pytest.importorskip("numba")
    old = _jit.set_enabled(True)
    try:
        on = run()
        _jit.set_enabled(False)
        off = run()
    finally:
        _jit.set_enabled(old)
    return on, off


def _switched(forward, backward, switch_to):
    """``forward()`` with the kernels set to ``not switch_to``, ``backward(out)``
    with them set to ``switch_to``."""
    pytest.importorskip("numba")
    old = _jit.set_enabled(not switch_to)
    try:
        out = forward()
        _jit.set_enabled(switch_to)
        return backward(out)
    finally:
        _jit.set_enabled(old)


# ---- batch norm (training mode) -------------------------------------------------------------

# short rows (the compiled loops in memory order) and one long enough for
# the channel-at-a-time order (16 * 17 >= _numba._BN_LONG)
BN_SHAPES = [(4, 3, 5, 6), (2, 5, 1, 7), (8, 2, 3), (6, 4), (2, 3, 16, 17)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_training(jit, shape, dtype):
    C = shape[1]

    def fn(lib, x, w, b):
        rm, rv = lib.zeros(C, dtype=x.dtype), lib.ones(C, dtype=x.dtype)
        y = lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
        return y, rm, rv
    check(fn, rand(*shape, dtype=dtype) + 3.0, rand(C, dtype=dtype), rand(C, dtype=dtype))
    # no affine; a module (its running statistics and counter updated too)
    check(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True),
          rand(*shape, dtype=dtype))
    if len(shape) == 4:
        check(lambda lib, x: lib.nn.BatchNorm2d(C).double()(x), rand(*shape))


@pytest.mark.parametrize("shape", [(4, 7, 64, 128), (512, 9, 4, 8)])
def test_batch_norm_split_over_threads(jit, shape):
    """Large enough that the threads split the channels (in both loop orders):
    the same result, bit for bit, as on one thread, and torch's."""
    C = shape[1]
    rng = np.random.default_rng(0)
    xn = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    wn, bn, gn = (rng.standard_normal(s).astype(np.float32) for s in (C, C, shape))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xn, wn, bn))
    yt = torch.nn.functional.batch_norm(xt, None, None, wt, bt, training=True)
    yt.backward(torch.tensor(gn))
    before = ember.get_num_threads()
    results = []
    try:
        for nt in (1, 3):
            ember.set_num_threads(nt)
            xe, we, be = (ember.tensor(a, requires_grad=True) for a in (xn, wn, bn))
            ye = F_E.batch_norm(xe, None, None, we, be, training=True)
            ye.backward(ember.tensor(gn))
            results.append([t.detach().numpy() for t in (ye, xe.grad, we.grad, be.grad)])
    finally:
        ember.set_num_threads(before)
    for one, split in zip(*results):
        np.testing.assert_array_equal(one, split)
    for got, want in zip(results[1], (yt, xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-4, atol=1e-3)


def test_batch_norm_double_backward(jit):
    def fn(lib, x, w, b):
        y = lib.nn.functional.batch_norm(x, None, None, w, b, training=True)
        gx, gw = lib.autograd.grad((y * y.sin()).sum(), (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()
    check(fn, rand(3, 2, 4, 5), rand(2), rand(2))


def test_batch_norm_half_and_relu_chain(jit):
    """float16 (statistics in float32) and the ResNet pattern relu(bn(x) + x)."""
    check(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True),
          rand(4, 3, 2, 5, dtype=np.float16), atol=2e-2, rtol=2e-2)

    def block(lib, x, w, b):
        return lib.nn.functional.relu(lib.nn.functional.batch_norm(
            x, None, None, w, b, training=True) + x)
    check(block, rand(4, 3, 5, 5, dtype=np.float32), rand(3, dtype=np.float32),
          rand(3, dtype=np.float32))


def _bn_run(x, w, b, g):
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F_E.batch_norm(xe, None, None, we, be, training=True)
    y.backward(ember.tensor(g))
    return [a.numpy(force=True) for a in (y, xe.grad, we.grad, be.grad)]


def test_batch_norm_kernels_agree_with_numpy_path():
    for shape in ((5, 4, 3, 7), (2, 3, 16, 17)):
        x, g = rand(*shape, seed=1), rand(*shape, seed=4)
        w, b = rand(shape[1], seed=2), rand(shape[1], seed=3)
        on, off = _both_paths(lambda: _bn_run(x, w, b, g))
        for a, c in zip(on, off):
            np.testing.assert_allclose(a, c, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("switch_to", [False, True])
def test_batch_norm_backward_after_the_kernels_switch(switch_to):
    """A compiled forward saves (x, mean), the NumPy one the centred x: each
    backward reads both."""
    x, w, b = rand(4, 3, 5, 2, seed=5), rand(3, seed=6), rand(3, seed=7)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.batch_norm(xt, None, None, wt, bt, training=True).pow(2).sum().backward()
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    _switched(lambda: F_E.batch_norm(xe, None, None, we, be, training=True),
              lambda y: y.pow(2).sum().backward(), switch_to)
    for e, t in ((xe, xt), (we, wt), (be, bt)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_batch_norm_input_modified_in_place_raises(jit):
    """The forward saves its input (as torch's does): changing it in place
    before the backward is an error, not a wrong gradient."""
    x = ember.randn(4, 3, 2, 2, requires_grad=True)
    h = x * 1
    y = F_E.batch_norm(h, None, None, training=True)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---- ReLU ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu(jit, dtype):
    check(lambda lib, x: lib.relu(x * 1), rand(3, 4, 5, dtype=dtype))
    check(lambda lib, x: lib.nn.functional.relu(x.transpose(0, 1)), rand(4, 6, dtype=dtype))
    check(lambda lib, x: lib.nn.ReLU()(x[:, ::2]), rand(4, 6, dtype=dtype))


def test_relu_double_backward(jit):
    def fn(lib, x):
        y = lib.relu(x)
        g, = lib.autograd.grad((y * y * y).sum(), x, create_graph=True)
        return (g * g).sum()
    check(fn, rand(3, 5))


def test_relu_special_values_agree_with_numpy_path():
    """0 and -0 stop the gradient, NaN passes it (as torch), inf passes it."""
    x = np.array([[-1.0, 0.0, -0.0, np.nan, np.inf, -np.inf, 2.0, 1e-30]], np.float32)
    g = np.array([[1.0, 2.0, 3.0, 4.0, np.nan, 6.0, np.inf, 8.0]], np.float32)

    def run():
        t = ember.tensor(x, requires_grad=True)
        y = ember.relu(t)
        y.backward(ember.tensor(g))
        return y.numpy(force=True), t.grad.numpy()
    on, off = _both_paths(run)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(on[1], xt.grad.numpy())
    if ember.randn(1).device.type == "cpu":
        # the CPU's compiled pass keeps -0.0, as torch (NumPy's maximum makes it +0.0)
        np.testing.assert_array_equal(np.signbit(on[0]), np.signbit(yt.detach().numpy()))


# ---- 2x2 max pooling -------------------------------------------------------------------------

# (input shape, keyword arguments): the 2x2 stride-2 kernel's own case, with
# odd heights and widths (an uncovered last row / column), and the cases next
# to it that must take the other paths (ceil mode, padding, stride 1)
POOL2 = [
    ((2, 3, 8, 6), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=2, stride=2)),
    ((1, 2, 5, 4), dict(kernel_size=(2, 2))),
    ((2, 2, 7, 5), dict(kernel_size=2, ceil_mode=True)),
    ((2, 2, 6, 6), dict(kernel_size=2, padding=1)),
    ((2, 2, 6, 6), dict(kernel_size=2, stride=1)),
    ((3, 7, 5), dict(kernel_size=2)),
]


@pytest.mark.parametrize("shape,kw", POOL2)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2x2(jit, shape, kw, dtype):
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, **kw), rand(*shape, dtype=dtype))


@pytest.mark.parametrize("shape,kw", POOL2[:3])
def test_max_pool2x2_indices_and_double_backward(jit, shape, kw):
    def fn(lib, x):
        y, i = lib.nn.functional.max_pool2d(x, return_indices=True, **kw)
        g, = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        return y, i, (g * g.sin()).sum()
    check(fn, rand(*shape))


@pytest.mark.parametrize("shape,kw", POOL2[:3])
def test_max_pool2x2_special_values_agree_with_numpy_path(shape, kw):
    """Ties keep the first maximum, a NaN wins (the last one), -inf and inf:
    the compiled 2x2 pass picks the NumPy stages' winners, and its backward
    writes zeros where the stages' scatter leaves them."""
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, shape).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    x[rng.random(x.shape) < 0.05] = np.inf

    def run():
        t = ember.tensor(x, requires_grad=True)
        y, i = F_E.max_pool2d(t, return_indices=True, **kw)
        y.backward(ember.full_like(y, 1.5))
        return y.numpy(force=True), i.numpy(), t.grad.numpy()
    on, off = _both_paths(run)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("switch_to", [False, True])
def test_max_pool2x2_backward_after_the_kernels_switch(switch_to):
    x = rand(2, 3, 7, 6, seed=8)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).pow(2).sum().backward()
    xe = ember.tensor(x, requires_grad=True)
    _switched(lambda: F_E.max_pool2d(xe, 2), lambda y: y.pow(2).sum().backward(), switch_to)
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


def test_compiled_passes_run(monkeypatch):
    """The compiled kernels of this file are the ones the ops call."""
    pytest.importorskip("numba")
    if ember.randn(1).device.type != "cpu":
        pytest.skip("the compiled passes are the CPU backend's")
    names = ("norm_channels_forward_run", "norm_channels_backward_run", "relu_forward",
             "relu_backward", "max_pool2x2_forward", "max_pool2x2_backward",
             "max_pool2x2_pairs_forward", "max_pool2x2_pairs_backward")
    seen = count_kernel_calls(monkeypatch, names)
    old = _jit.set_enabled(True)
    try:
        x = ember.randn(2, 3, 8, 8, requires_grad=True)
        y = F_E.max_pool2d(F_E.relu(F_E.batch_norm(x, None, None, training=True)), 2)
        y.sum().backward()
        # (an odd height: the 2x2 pool by planes, not row pairs)
        F_E.max_pool2d(ember.randn(2, 3, 7, 6, requires_grad=True), 2).sum().backward()
    finally:
        _jit.set_enabled(old)
    assert set(seen) == set(names)


@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (2, 3, 16, 17)])
def test_batch_norm_nan_stays_in_its_channel(jit, shape):
    """A NaN or inf in one channel spoils that channel's statistics only,
    in both loop orders of the compiled kernels."""
    x = rand(*shape)
    x[1, 0, 1, 2] = np.nan
    x[0, 2, 0, 1] = np.inf
    check(lambda lib, t: lib.nn.functional.batch_norm(t, None, None, training=True), x)
