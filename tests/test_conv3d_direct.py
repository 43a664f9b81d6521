"""3-D convolutions on the CPU's direct path (``ember/backends/cpu/_conv3d.py``,
``_numba3d``: float32, stride 1, one group, AVX-512) and on the 2-D path
of their depth windows, which every other conv takes: outputs and both
gradients against torch, the path really taken, slabs of several depths,
the volume with and without its unfolding along w, an inf input, double
backward and threads; MaxPool3d(2)'s one-pass kernels and the global
adaptive average pool (one mean)."""
import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _jit, _pool
from ember.backends.cpu import _conv3d
from helpers import TEST_DEVICE, check, rand


def _need_direct():
    if TEST_DEVICE != "cpu":
        pytest.skip("the direct kernel is the CPU backend's")
    pytest.importorskip("numba")
    if _jit.kernels() is None or not _conv3d._has_wide_vectors():
        pytest.skip("the direct 3-D kernel needs the compiled kernels and AVX-512")


@pytest.fixture(params=["direct", "planes"])
def path(request, monkeypatch):
    """Run on the direct kernel (where it applies) or on the depth windows only."""
    if request.param == "direct":
        _need_direct()
    monkeypatch.setattr(_conv3d, "_DIRECT3", request.param == "direct")
    yield request.param


def _spy(monkeypatch):
    """Count the calls of the direct kernels' compiled loops."""
    k3 = _conv3d._kernels()
    seen = {}
    for name in ("conv3d_direct_forward", "conv3d_direct_wgrad"):
        fn = getattr(k3, name)

        def spy(*a, _fn=fn, _name=name):
            seen[_name] = seen.get(_name, 0) + 1
            return _fn(*a)
        monkeypatch.setattr(k3, name, spy)
    return seen


# (x shape, w shape, keyword arguments): odd, non-cubic sizes, per-axis
# padding and dilation, 'same' padding that is asymmetric, kernels of 1 and
# 2 along an axis, outputs not a multiple of the kernel's blocks of 8; the
# last three leave the direct path (strided, grouped, no padding needed)
CONV3D = [
    ((2, 3, 5, 7, 6), (5, 3, 3, 2, 3), dict(padding=(1, 0, 2))),
    ((2, 3, 7, 6, 9), (9, 3, 3, 3, 3), dict(padding=2, dilation=2)),
    ((1, 2, 4, 5, 6), (3, 2, 2, 3, 1), {}),
    ((2, 3, 6, 6, 6), (4, 3, 3, 3, 3), dict(padding="same", dilation=(1, 2, 1))),
    ((2, 3, 5, 6, 7), (4, 3, 2, 2, 2), dict(padding="same")),
    ((3, 4, 8, 8, 8), (16, 4, 3, 3, 3), dict(padding=1)),
    ((2, 4, 5, 5, 5), (4, 4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 5, 5, 5), (6, 2, 3, 3, 3), dict(groups=2, padding=1)),
    ((2, 3, 4, 5, 6), (2, 3, 1, 1, 1), {}),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")   # (torch's, on one case)
@pytest.mark.parametrize("xs,ws,kw", CONV3D)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv3d(path, xs, ws, kw, dtype):
    # (float32: a weight gradient sums up to ~14,000 terms, in another order
    # than torch's)
    check(lambda lib, x, w, b: lib.nn.functional.conv3d(x, w, b, **kw),
          rand(*xs, dtype=dtype), rand(*ws, dtype=dtype), rand(ws[0], dtype=dtype),
          atol=1e-4 if dtype == np.float32 else None)


def test_conv3d_unbatched_and_transposed(path):
    check(lambda lib, x, w: lib.nn.functional.conv3d(x, w, padding=1),
          rand(3, 4, 5, 6, dtype=np.float32), rand(5, 3, 3, 3, 3, dtype=np.float32))
    # a stride-1 transposed conv is the direct forward of the rotated kernel
    check(lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(x, w, b, padding=1),
          rand(2, 4, 5, 4, 6, dtype=np.float32), rand(4, 3, 3, 2, 3, dtype=np.float32),
          rand(3, dtype=np.float32))


@pytest.mark.parametrize("unfold", [0.0, 1e9])
@pytest.mark.parametrize("slabs", ["one slice", "several"])
def test_direct_path_runs_every_tile_shape(monkeypatch, unfold, slabs):
    """Forward, input and weight gradient of a training step all run the
    direct kernels, with the volume unfolded along w or not, and tiles of
    one output slice or of several."""
    _need_direct()
    monkeypatch.setattr(_conv3d, "_UNFOLD_WASTE", unfold)
    if slabs == "several":
        monkeypatch.setattr(_conv3d, "_DIRECT_OUT_BYTES", 1 << 12)
        monkeypatch.setattr(_conv3d, "_WGRAD_TILE_COST", 1 << 20)
    else:
        monkeypatch.setattr(_conv3d, "_DIRECT_WGRAD_BYTES", 1 << 9)
    seen = _spy(monkeypatch)
    check(lambda lib, x, w, b: lib.nn.functional.conv3d(x, w, b, padding=(1, 2, 1)),
          rand(2, 3, 7, 5, 9, dtype=np.float32), rand(11, 3, 3, 3, 3, dtype=np.float32),
          rand(11, dtype=np.float32))
    assert seen.get("conv3d_direct_forward", 0) >= 2     # the output and the input gradient
    assert seen.get("conv3d_direct_wgrad", 0) >= 1


def test_weight_gradient_of_an_inf_input(path):
    """An inf in the input gives inf or NaN in exactly the weight-gradient
    entries torch's has them in (the direct sums also multiply the dropped
    positions' inputs by zero: they give way to the depth-window path)."""
    if _jit.kernels() is None:
        pytest.skip("the NumPy path's wide columns also multiply dropped positions")
    x, w = rand(2, 4, 5, 6, 7, dtype=np.float32), rand(8, 4, 3, 3, 3, dtype=np.float32)
    x[0, 1, 2, 3, -1] = np.inf
    grads = []
    for lib in (torch, ember):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        lib.nn.functional.conv3d(xt, wt, padding=1).sum().backward()
        grads.append(wt.grad.numpy(force=True))
    np.testing.assert_array_equal(np.isnan(grads[1]), np.isnan(grads[0]))
    np.testing.assert_array_equal(np.isinf(grads[1]), np.isinf(grads[0]))


def test_conv3d_double_backward(path):
    x, w = rand(2, 3, 4, 5, 6, dtype=np.float32), rand(4, 3, 3, 3, 3, dtype=np.float32)
    gg = rand(2, 3, 4, 5, 6, dtype=np.float32)
    res = []
    for lib in (ember, torch):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.conv3d(xt, wt, padding=1)
        gx, = lib.autograd.grad((y * y).sum(), xt, create_graph=True)
        (gx * lib.tensor(gg)).sum().backward()
        res.append((gx.numpy(force=True), xt.grad.numpy(force=True), wt.grad.numpy(force=True)))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_conv3d_split_over_threads(path, monkeypatch):
    """Two threads give the same bits as one (each tile and each thread's
    weight-gradient part is summed in the same order)."""
    monkeypatch.setattr(_conv3d, "_TILE_GRAIN", 1)
    monkeypatch.setattr(_conv3d, "_PASS_GRAIN", 1)
    x, w = rand(4, 3, 6, 5, 7, dtype=np.float32), rand(9, 3, 3, 3, 3, dtype=np.float32)
    res = []
    old = _pool.get_num_threads()
    try:
        for n in (1, 2):
            _pool.set_num_threads(n)
            xt, wt = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
            y = ember.nn.functional.conv3d(xt, wt, padding=1)
            y.backward(ember.ones_like(y))
            res.append((y.numpy(force=True), xt.grad.numpy(force=True),
                        wt.grad.numpy(force=True)))
    finally:
        _pool.set_num_threads(old)
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_allclose(res[0][2], res[1][2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4, 5, 6, 7), (4, 3, 2, 5)])
def test_global_adaptive_avg_pool3d(shape, dtype):
    """Output size 1 is one mean over the volume (batched and unbatched)."""
    check(lambda lib, x: lib.nn.functional.adaptive_avg_pool3d(x, 1), rand(*shape, dtype=dtype))
    check(lambda lib, x: lib.nn.AdaptiveAvgPool3d((1, 1, 1))(x), rand(*shape, dtype=dtype))


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 6, 8), (2, 3, 5, 7, 9), (3, 4, 5, 4)])
def test_max_pool3d_2x2x2(jit, dtype, shape):
    """MaxPool3d(2) by its one-pass kernels (compiled, or the generic
    formulas): values, indices and gradient exactly torch's, with ties, NaN
    (the last one wins), inf and -inf, odd sizes (a part window dropped)
    and an unbatched input."""
    x = rand(*shape, dtype=dtype)
    f = x.reshape(-1)
    f[::7] = f[1::7][:f[::7].size]                       # ties inside windows
    f[5], f[9], f[13], f[20] = np.nan, np.nan, np.inf, -np.inf
    old = _jit.set_enabled(jit)
    try:
        res = []
        for lib in (ember, torch):
            t = lib.tensor(x, requires_grad=True)
            y, i = lib.nn.functional.max_pool3d(t, 2, return_indices=True)
            g = lib.tensor(np.arange(y.numel(), dtype=dtype).reshape(tuple(y.shape)))
            (y * g).sum().backward()
            res.append((y.detach().numpy(force=True), i.numpy(force=True),
                        t.grad.numpy(force=True)))
    finally:
        _jit.set_enabled(old)
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_array_equal(res[0][2], res[1][2])


def test_max_pool3d_2x2x2_double_backward():
    x = ember.tensor(rand(2, 2, 4, 5, 6, dtype=np.float64), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: ember.nn.functional.max_pool3d(t, 2), (x,))
    assert ember.autograd.gradgradcheck(lambda t: ember.nn.functional.max_pool3d(t, 2), (x,))
    check(lambda lib, t: lib.nn.MaxPool3d(2)(t), rand(2, 3, 6, 4, 4, dtype=np.float32))
