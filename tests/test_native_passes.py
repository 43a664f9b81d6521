"""The one-pass kernels split over the intra-op pool as native jobs (kind 4,
``_numba._pass_job``): ReLU and its backward, a residual sum, batch norm
forward and backward, a conv's padded and stride-phased input copies and
Winograd's finiteness check.

Each is checked against torch and, bit for bit, against one thread: every
job calls the one compiled copy of the kernels (``_numba.pass_address``),
so batch norm's reordered sums round alike whichever thread takes a
channel.  The shapes are the smallest that split (2 x 65536 elements).
"""
import time

import numpy as np
import pytest

import torch

import ember
from ember.backends.cpu import _pool, _winograd
from helpers import check, rand

pytest.importorskip("numba")


@pytest.fixture
def threads():
    before = ember.get_num_threads()
    yield
    ember.set_num_threads(before)


def _on_threads(fn, counts=(1, 2, 3)):
    """``fn()`` (numpy arrays) at each thread count, also after the workers
    went to sleep (50 ms); asserts every result equals one thread's, bit for
    bit, and returns it."""
    want = None
    for nt in counts:
        ember.set_num_threads(nt)
        for pause in (0, 0.05):
            time.sleep(pause)
            got = fn()
            if want is None:
                want = got
                continue
            for a, b in zip(want, got):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    return want


def _posts_native_jobs(fn):
    """Whether ``fn()`` posted a kind-4 job to the pool's first worker (run
    once first, so the pool exists); skips where Ember doesn't run NumPy's
    BLAS threads (then nothing splits)."""
    ember.set_num_threads(2)
    fn()
    pool = _pool._pool
    if pool is None or not _pool.blas_threads():
        pytest.skip("the intra-op pool is not used here")
    before = int(pool.flags[0])
    pool.native[1, 0] = 0
    fn()
    return int(pool.flags[0]) > before and pool.native[1, 0] == 4


# (N, C, H, W): long rows (S = 256, a channel summed at a time) and short
# rows (S = 16, the loops in memory order), each 131072 elements; and one
# below the split
BN_SHAPES = [(32, 16, 16, 16), (128, 64, 4, 4), (4, 3, 5, 5)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_any_thread_count(threads, shape, dtype, affine):
    x = rand(*shape, dtype=dtype) * 3 + 1
    g = rand(*shape, seed=1, dtype=dtype)
    C = shape[1]
    w, b = rand(C, seed=2, dtype=dtype), rand(C, seed=3, dtype=dtype)

    def run():
        xe = ember.tensor(x, requires_grad=True)
        we = ember.tensor(w, requires_grad=True) if affine else None
        be = ember.tensor(b, requires_grad=True) if affine else None
        rm, rv = ember.zeros(C, dtype=xe.dtype), ember.ones(C, dtype=xe.dtype)
        y = ember.nn.functional.batch_norm(xe, rm, rv, we, be, training=True)
        y.backward(ember.tensor(g))
        out = [y.detach().numpy(), xe.grad.numpy(), rm.numpy(), rv.numpy()]
        return out + ([we.grad.numpy(), be.grad.numpy()] if affine else [])
    _on_threads(run)
    ember.set_num_threads(2)
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == np.float32 else {}
    if affine:
        check(lambda lib, t, w, b: lib.nn.functional.batch_norm(t, None, None, w, b,
                                                                training=True), x, w, b, **tol)
    else:
        check(lambda lib, t: lib.nn.functional.batch_norm(t, None, None, training=True), x,
              **tol)


def test_batch_norm_splits_as_native_jobs(threads):
    x = ember.tensor(rand(32, 16, 16, 16, dtype=np.float32), requires_grad=True)
    bn = ember.nn.BatchNorm2d(16)
    assert _posts_native_jobs(lambda: bn(x))


def test_batch_norm_nan_channel_split(threads):
    """A NaN in one channel of each thread's range stays in its channel."""
    x = rand(32, 16, 16, 16, dtype=np.float32)
    x[3, 2, 1, 1] = np.nan
    x[5, 12, 0, 3] = np.inf
    ember.set_num_threads(2)
    check(lambda lib, t: lib.nn.functional.batch_norm(t, None, None, training=True), x)


def _offset_cases():
    rng = np.random.default_rng(4)
    outlier = rng.standard_normal((32, 16, 16, 16))
    outlier[0, :, 0, 0] = 1e4               # each channel's first value far off
    yield outlier
    yield 1000 + rng.standard_normal((32, 16, 16, 16))       # mean >> spread, long rows
    yield 1000 + rng.standard_normal((128, 64, 4, 4))        # and short rows
    first = rng.standard_normal((512, 8))
    first[0] = 1e5                          # BatchNorm1d: rows of one value
    yield first


@pytest.mark.parametrize("x64", list(_offset_cases()), ids=["outlier", "long", "short", "1d"])
def test_batch_norm_statistics_one_pass_accuracy(threads, x64):
    """The compiled forward's one-pass statistics (sums shifted by a rough
    mean, each row's in float32, the rows' in float64) stay more accurate than
    a two-pass float32 sum: output and running stats near the float64 answer.
    (The generic formula -- other devices, EMBER_JIT=0 -- is the two-pass one.)"""
    from ember.backends.cpu import _jit
    if _jit.kernels() is None or type(ember.zeros(1)._data) is not np.ndarray:
        pytest.skip("the compiled batch norm runs on the CPU with the kernels on")
    x = x64.astype(np.float32)
    C = x.shape[1]
    ref = torch.nn.functional.batch_norm(torch.tensor(x.astype(np.float64)), None, None,
                                         training=True).numpy()
    want_var = x.astype(np.float64).swapaxes(0, 1).reshape(C, -1).var(axis=1, ddof=1)
    for nt in (1, 2):
        ember.set_num_threads(nt)
        rm, rv = ember.zeros(C), ember.zeros(C)
        y = ember.nn.functional.batch_norm(ember.tensor(x), rm, rv, training=True, momentum=1.0)
        # (the float32 mean of values near 1000 is off by up to half an ulp, 3e-5)
        np.testing.assert_allclose(y.numpy(), ref, rtol=0, atol=1e-4)
        np.testing.assert_allclose(rv.numpy(), want_var, rtol=2e-6)


def test_batch_norm_inf_mean_as_torch(threads):
    """A channel holding inf takes the two-pass sums: its mean is inf (the
    running mean too) and its output NaN, as torch's."""
    x = rand(32, 16, 16, 16, dtype=np.float32)
    x[7, 3, 2, 2] = np.inf
    x[1, 9, 0, 0] = -np.inf
    for lib in (ember, torch):
        rm, rv = lib.zeros(16), lib.ones(16)
        y = lib.nn.functional.batch_norm(lib.tensor(x), rm, rv, training=True)
        if lib is ember:
            got = rm.numpy(), rv.numpy(), y.numpy()
        else:
            want = rm.numpy(), rv.numpy(), y.numpy()
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2 * 65536, 3 * 65536 + 17])
def test_relu_and_residual_sum_any_thread_count(threads, dtype, n):
    """ReLU, its backward and a residual sum (relu(a + b)), -0.0 and NaN
    passing as torch passes them, at 1-3 threads."""
    a, b = rand(n, dtype=dtype), rand(n, seed=1, dtype=dtype)
    a[:4] = [-0.0, np.nan, 0.0, -np.inf]
    a[-3:] = [np.nan, -0.0, np.inf]
    b[:4] = 0
    b[-3:] = 0
    g = rand(n, seed=2, dtype=dtype)

    def run():
        ae, be = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
        y = ember.nn.functional.relu(ae + be)
        z = ember.nn.functional.relu(ae)
        (y * ember.tensor(g)).sum().backward(retain_graph=True)
        z.backward(ember.tensor(g))
        return [y.detach().numpy(), z.detach().numpy(), ae.grad.numpy(), be.grad.numpy()]
    _on_threads(run)
    ember.set_num_threads(2)
    check(lambda lib, s, t: lib.nn.functional.relu(s + t), a, b)
    check(lambda lib, s: lib.relu(s), a)


def test_relu_splits_as_native_jobs(threads):
    x = ember.tensor(rand(2 * 65536, dtype=np.float32))
    assert _posts_native_jobs(lambda: ember.nn.functional.relu(x))


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_padded_inputs_any_thread_count(threads, stride, monkeypatch):
    """A padded (stride 1) and a stride-phased (stride 2) conv input, copied
    by planes over the threads.  (The weight gradient is compared with
    torch only: the threads' parts of it are summed in their own order.)"""
    monkeypatch.setattr(_winograd, "FORCE", False)      # (it pads nothing)
    x = rand(8, 16, 32, 32, dtype=np.float32)
    w = rand(16, 16, 3, 3, seed=1, dtype=np.float32) * 0.2

    def run():
        xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        y = ember.nn.functional.conv2d(xe, we, stride=stride, padding=1)
        y.sum().backward()
        return [y.detach().numpy(), xe.grad.numpy()]
    _on_threads(run, counts=(1, 2))
    ember.set_num_threads(2)
    check(lambda lib, t, k: lib.nn.functional.conv2d(t, k, stride=stride, padding=1), x, w,
          atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("where", ["first", "last", "none"])
def test_winograd_finite_check_split(threads, where):
    """Winograd (3x3, stride 1, 64 channels) takes finite operands only; the
    check, split over the threads, sees an inf in either thread's range (an
    inf must come out where the direct sum puts it, not as Winograd's NaNs)."""
    x = rand(32, 64, 8, 8, dtype=np.float32)
    w = rand(64, 64, 3, 3, seed=1, dtype=np.float32) * 0.1
    if where == "first":
        x[0, 0, 2, 2] = np.inf
    elif where == "last":
        x[31, 63, 5, 5] = -np.inf
    ember.set_num_threads(2)
    check(lambda lib, t, k: lib.nn.functional.conv2d(t, k, padding=1), x, w, atol=1e-3,
          rtol=1e-4, grad=where == "none")


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(stride=2)],
                         ids=["3x3 strided", "1x1 strided"])
def test_tiled_conv_blocks_any_thread_count(threads, kw):
    """ResNet's strided convs on the im2col tiles, their products by the
    direct kernel's blocks (float32 with AVX-512; else BLAS): the output and
    input gradient are the same bit for bit at any thread count (the
    threads split whole samples)."""
    k = 3 if "padding" in kw else 1
    x = rand(8, 32, 16, 16, dtype=np.float32)
    w = rand(64, 32, k, k, seed=1, dtype=np.float32) * 0.1
    g = rand(8, 64, 8, 8, seed=2, dtype=np.float32)

    def run():
        xe = ember.tensor(x, requires_grad=True)
        y = ember.nn.functional.conv2d(xe, ember.tensor(w), **kw)
        y.backward(ember.tensor(g))
        return [y.detach().numpy(), xe.grad.numpy()]
    _on_threads(run)
    ember.set_num_threads(2)
    check(lambda lib, t, f: lib.nn.functional.conv2d(t, f, **kw), x, w, atol=1e-4, rtol=1e-4)


def test_winograd_forward_any_thread_count(threads):
    """A 16-channel 3x3 conv of 32x32 images (Winograd by default in
    float32): its output is the same bit for bit at any thread count (each
    chunk of tile rows is computed whole by one thread)."""
    from ember.nn.functional.conv import _Geo
    x = rand(4, 16, 32, 32, dtype=np.float32)
    w = rand(16, 16, 3, 3, seed=1, dtype=np.float32) * 0.2
    geo = _Geo(x.shape, w.shape, 1, (1, 1), (1, 1, 1, 1), (1, 1), (32, 32), x.shape,
               (4, 16, 32, 32), w.shape)
    assert _winograd.use(geo, np.dtype(np.float32))
    _on_threads(lambda: [ember.nn.functional.conv2d(ember.tensor(x), ember.tensor(w),
                                                    padding=1).numpy()])
