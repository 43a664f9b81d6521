"""The CPU's Winograd F(2x2, 3x3) convolution (ember/backends/cpu/_winograd.py):
outputs and both gradients against torch with the path forced on, on the
sizes its tiling finds awkward (odd heights and widths, one sample, no
padding, channel counts that are no multiple of anything, tiny images,
chunks that end inside a sample), float32 and float64, on one and two
threads; gradcheck in float64; which convolutions the default rule sends
there; and inputs with inf, which must keep the direct sum's results."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.backends.cpu import _conv as _cpu_conv
from ember.backends.cpu import _jit
from ember.backends.cpu import _winograd
from helpers import TEST_DEVICE, assert_close, check, count_kernel_calls, rand

pytestmark = pytest.mark.skipif(TEST_DEVICE != "cpu", reason="tests the CPU backend's kernels")


@pytest.fixture
def winograd(monkeypatch):
    """Every convolution Winograd can compute goes there (whatever its size)."""
    pytest.importorskip("numba")
    old = _jit.set_enabled(True)
    if _cpu_conv._tiled(np.dtype(np.float32)) is None:
        _jit.set_enabled(old)
        pytest.skip("BLAS can't be called from compiled code here")
    monkeypatch.setattr(_winograd, "FORCE", True)
    yield count_kernel_calls(monkeypatch, ["wino_forward", "wino_wgrad"])
    _jit.set_enabled(old)


@pytest.fixture(params=["default", "small"])
def chunks(request, monkeypatch):
    """Default chunks, or chunks of one tile row (so a chunk ends inside a
    sample and the next one starts there)."""
    if request.param == "small":
        monkeypatch.setattr(_winograd, "_CHUNK_BYTES", 1)
        monkeypatch.setattr(_winograd, "_MIN_TILES", 1)
        monkeypatch.setattr(_winograd, "_GRAIN", 1)     # (and split over the threads)


def _conv(padding):
    return lambda L, x, w, b=None: L.nn.functional.conv2d(x, w, b, padding=padding)


@pytest.mark.parametrize("shape,padding,bias,dtype", [
    ((1, 3, 5, 7, 4), 1, True, np.float32),         # odd H and W, one sample
    ((2, 5, 6, 5, 3), 0, False, np.float32),        # no padding, odd output width
    ((3, 10, 9, 9, 12), 1, True, np.float64),
    ((2, 7, 4, 11, 9), (1, 0), False, np.float32),  # padding of the rows only
    ((1, 1, 3, 3, 1), 0, True, np.float64),         # one output position
    ((2, 6, 2, 2, 5), 1, True, np.float32),         # a 2x2 image: padding all round
    ((2, 9, 8, 3, 13), 1, False, np.float64),
])
def test_winograd_matches_torch(winograd, chunks, shape, padding, bias, dtype):
    N, C, H, W, O = shape
    x = rand(N, C, H, W, dtype=dtype, seed=1)
    w = rand(O, C, 3, 3, dtype=dtype, seed=2) / 3
    args = (x, w, rand(O, dtype=dtype, seed=3)) if bias else (x, w)
    check(_conv(padding), *args)
    # the forward, and the input gradient as the conv with the rotated kernel
    # (padding 1 in both directions; the rows-only padding takes the scatter)
    assert winograd.get("wino_forward", 0) >= (2 if padding == 1 else 1)
    assert winograd.get("wino_wgrad", 0) >= 1


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_threads(winograd, chunks, threads):
    old = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        check(_conv(1), rand(4, 16, 9, 10, dtype=np.float32), rand(8, 16, 3, 3, dtype=np.float32),
              rand(8, dtype=np.float32))
    finally:
        ember.set_num_threads(old)
    assert winograd["wino_forward"] >= 2 and winograd["wino_wgrad"] >= 1


def test_winograd_gradcheck(winograd):
    x = ember.tensor(rand(2, 3, 5, 4, seed=4), requires_grad=True)
    w = ember.tensor(rand(2, 3, 3, 3, seed=5), requires_grad=True)
    b = ember.tensor(rand(2, seed=6), requires_grad=True)
    fn = lambda x, w, b: ember.nn.functional.conv2d(x, w, b, padding=1)   # noqa: E731
    assert gradcheck(fn, (x, w, b))
    assert winograd["wino_forward"] >= 2 and winograd["wino_wgrad"] >= 1
    # (double backward: the weight gradient's backward runs the forward and
    # the input gradient again, on the output gradient and the weight's)
    assert gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(dilation=2, padding=2),
                                dict(groups=2, padding=1)])
def test_winograd_only_takes_what_it_computes(winograd, kw):
    # strided, dilated and grouped convs keep their paths even when forced
    x, w = rand(2, 4, 7, 7, dtype=np.float32), rand(6, 4 // kw.get("groups", 1), 3, 3,
                                                   dtype=np.float32)
    check(lambda L, x, w: L.nn.functional.conv2d(x, w, **kw), x, w)
    assert not winograd


def test_winograd_default_rule(monkeypatch):
    """Without forcing: float32 3x3 convs of 16+ channels take it (16 and 16
    on 32x32 images or larger; float64 from 64), narrow or strided ones do
    not."""
    from ember.nn.functional.conv import _Geo

    def geo(C, O, H, stride=1):
        Ho = (H + 2 - 3) // stride + 1
        return _Geo((8, C, H, H), (O, C, 3, 3), 1, (stride, stride), (1, 1, 1, 1), (1, 1),
                    (Ho, Ho), (8, C, H, H), (8, O, Ho, Ho), (O, C, 3, 3))
    monkeypatch.setattr(_winograd, "FORCE", None)
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    assert _winograd.use(geo(64, 64, 32), f32) and _winograd.use(geo(512, 512, 4), f32)
    assert _winograd.use(geo(16, 16, 32), f32) and _winograd.use(geo(16, 32, 16), f32)
    assert not _winograd.use(geo(16, 16, 16), f32)      # (16 channels: 32x32 images)
    assert not _winograd.use(geo(3, 16, 32), f32) and not _winograd.use(geo(8, 8, 32), f32)
    assert not _winograd.use(geo(64, 128, 32, stride=2), f32)
    assert not _winograd.use(geo(64, 64, 32), np.dtype(np.float16))
    assert _winograd.use(geo(64, 64, 32), f64) and not _winograd.use(geo(32, 32, 16), f64)
    # the weight gradient: float32 as the forward; float64 128+ channels,
    # or 64 on small images
    assert _winograd.use_wgrad(geo(16, 16, 32), f32) and _winograd.use_wgrad(geo(64, 64, 32), f32)
    assert not _winograd.use_wgrad(geo(3, 16, 32), f32)
    assert _winograd.use_wgrad(geo(128, 128, 16), f64) and _winograd.use_wgrad(geo(64, 64, 8), f64)
    assert not _winograd.use_wgrad(geo(64, 64, 32), f64)
    assert not _winograd.use_wgrad(geo(32, 32, 8), f64)


@pytest.mark.parametrize("where", ["input", "weight", "output gradient"])
def test_winograd_leaves_infs_to_the_direct_sum(winograd, monkeypatch, where):
    # an inf would make NaNs in the transforms (inf - inf) where the direct
    # sum gives inf: such operands take the other paths
    x, w = rand(2, 3, 6, 6, dtype=np.float32), rand(4, 3, 3, 3, dtype=np.float32)
    g = rand(2, 4, 6, 6, dtype=np.float32)
    {"input": x, "weight": w, "output gradient": g}[where][0, 1, 2, 2] = np.inf

    def grads(L):
        xx, ww = L.tensor(x, requires_grad=True), L.tensor(w, requires_grad=True)
        y = _conv(1)(L, xx, ww)
        y.backward(L.tensor(g))
        return y, xx.grad, ww.grad
    got = grads(ember)
    if where == "weight":
        # (against the other paths, not torch: they multiply an inf weight by
        # the padding's zeros, where torch's kernel skips the padding)
        monkeypatch.setattr(_winograd, "FORCE", False)
        want = grads(ember)
        for a, b in zip(got[:2], want[:2]):     # (the output and input gradient)
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        # (the weight gradient, of finite x and g, did take it)
        np.testing.assert_allclose(got[2].numpy(), want[2].numpy(), rtol=1e-5, atol=1e-5)
    else:
        assert_close(got, grads(torch))
    # only the passes whose operands are all finite took it (forward: x, w;
    # input gradient: g, w); the weight gradient tries it and keeps its
    # result only when that is finite (else the sums above are torch's:
    # the im2col tiles computed it again)
    fwd = {"input": 1, "weight": 0, "output gradient": 1}[where]
    assert winograd.get("wino_forward", 0) == fwd
    assert winograd.get("wino_wgrad", 0) == 1


def test_winograd_matches_the_other_paths(winograd, monkeypatch):
    """Forced on and off, a ResNet-width layer agrees to float32 rounding."""
    x = ember.tensor(rand(2, 64, 8, 8, dtype=np.float32))
    w = ember.tensor(rand(64, 64, 3, 3, dtype=np.float32) / 24)
    on = ember.nn.functional.conv2d(x, w, padding=1)
    calls = winograd["wino_forward"]     # (one per chunk: a chunk per thread at least)
    assert calls >= 1
    monkeypatch.setattr(_winograd, "FORCE", False)
    off = ember.nn.functional.conv2d(x, w, padding=1)
    assert winograd["wino_forward"] == calls
    assert_close(on, torch.from_numpy(off.numpy()), atol=1e-5, rtol=1e-5)


def test_weight_grad_partials_added_in_range_order(winograd, monkeypatch):
    """The weight gradient's per-range partial sums are added in the ranges'
    order, not in the order the threads finish them (``_pool.Partials``): the
    same split gives the same bits whichever range is done first.  The split
    here is three ranges run first-to-last, then last-to-first (three, since
    two partials add the same either way round)."""
    from ember.backends.cpu import _pool
    monkeypatch.setattr(_winograd, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(_winograd, "_MIN_TILES", 1)
    x = rand(3, 16, 8, 8, dtype=np.float32, low=-1e3, high=1e3)
    w = rand(8, 16, 3, 3, dtype=np.float32)

    def weight_grad(order):
        def three_ranges(kernel, n, grain=1):
            cuts = [0, n // 3, 2 * n // 3, n]
            for i in order:
                kernel(cuts[i], cuts[i + 1])
        monkeypatch.setattr(_pool, "parallel_for", three_ranges)
        wt = ember.tensor(w, requires_grad=True)
        ember.nn.functional.conv2d(ember.tensor(x), wt, padding=1).pow(2).sum().backward()
        return wt.grad.numpy()
    np.testing.assert_array_equal(weight_grad([0, 1, 2]), weight_grad([2, 1, 0]))
    assert winograd["wino_wgrad"] >= 2


def test_partials_sum_in_range_order():
    from ember.backends.cpu import _pool
    parts = _pool.Partials()
    big, small = np.float32(1e8), np.float32(3.0)
    for start, value in [(20, small), (0, big), (10, -big)]:
        parts.add(start, np.array([value]))
    # (big - big) + 3 = 3 in the ranges' order; the finishing order's
    # (3 + big) - big would give 0 in float32
    assert parts.total()[0] == small
