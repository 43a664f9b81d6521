"""Linear's forward for many rows (a training step's tokens) on Ember's 8 x 32
register blocks (``_linear._blocked`` -> ``_pool.linear_blocks`` ->
``_numba.product_range``): against float64 products and torch, every tail
(rows not a multiple of 8 or 16, outputs not a multiple of 32, one input),
and 1 and 2 threads equal bit for bit (each output is one thread's sum)."""
import numpy as np
import pytest

import ember
from ember.backends.cpu import _jit, _pool
from ember.backends.cpu import _linear
from helpers import TEST_DEVICE, check, rand

# (rows, outputs, inputs): past _transposed's 128 rows, at least 128 outputs
_SHAPES = [(129, 128, 1), (137, 131, 37), (200, 257, 130), (256, 384, 128), (160, 128, 600),
           (300, 200, 9)]


@pytest.fixture
def threads():
    before = ember.get_num_threads()
    yield
    ember.set_num_threads(before)


def _blocks_or_skip():
    if _jit.kernels_for(np.dtype(np.float32)) is None or not _jit.wide_vectors():
        pytest.skip("no compiled kernels or no 512-bit vectors: the blocks do not run")
    return _jit.module()


@pytest.mark.parametrize("rows,n_out,n_in", _SHAPES)
def test_blocked_forward_against_float64_one_and_two_threads(threads, monkeypatch, rows,
                                                             n_out, n_in):
    kern = _blocks_or_skip()
    parts = []
    run = kern.linear_blocks_run

    def spy(*a):
        parts.append(a[4])
        return run(*a)
    monkeypatch.setattr(kern, "linear_blocks_run", spy)
    x = rand(rows, n_in, dtype=np.float32)
    w, b = rand(n_out, n_in, seed=1, dtype=np.float32), rand(n_out, seed=2, dtype=np.float32)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    for bias in (b, None):
        ember.set_num_threads(1)
        one = _pool.linear_blocks(x, w, bias, 1)
        np.testing.assert_allclose(one, want if bias is None else want + b, rtol=1e-5,
                                   atol=2e-6 * n_in)
        ember.set_num_threads(2)
        two = _pool.linear_blocks(x, w, bias, 2)
        np.testing.assert_array_equal(one, two)
    if _pool.blas_threads():        # (else the pool can't be had: every run is one thread's)
        assert parts.count(2) == 2


@pytest.mark.parametrize("rows,n_out,n_in", _SHAPES)
def test_blocked_linear_matches_torch(threads, monkeypatch, rows, n_out, n_in):
    """F.linear against torch, outputs and gradients, bias or not, 2-D and
    3-D input, at 1 and 2 threads; the blocks are the path taken."""
    _blocks_or_skip()
    calls = []
    blocks = _pool.linear_blocks

    def spy(x, w, b, parts):
        calls.append(parts)
        return blocks(x, w, b, parts)
    monkeypatch.setattr(_pool, "linear_blocks", spy)
    x = rand(rows, n_in, dtype=np.float32)
    w, b = rand(n_out, n_in, seed=1, dtype=np.float32), rand(n_out, seed=2, dtype=np.float32)
    tol = 2e-6 * n_in
    for nt in (1, 2):
        ember.set_num_threads(nt)
        check(lambda lib, t, w, b: lib.nn.functional.linear(t, w, b), x, w, b, atol=tol)
        check(lambda lib, t, w: lib.nn.functional.linear(t, w), x, w, atol=tol, grad=False)
    x3 = rand(3, rows // 3 + 43, n_in, seed=4, dtype=np.float32)
    check(lambda lib, t, w, b: lib.nn.functional.linear(t, w, b), x3, w, b, atol=tol)
    if TEST_DEVICE == "cpu":        # (elsewhere: another backend's ops)
        assert calls


def test_blocked_forward_not_taken_for_few_outputs_or_float64(threads, monkeypatch):
    """A 65-wide head (the blocks measured slower), float64 and a
    non-contiguous x keep BLAS."""
    _blocks_or_skip()
    monkeypatch.setattr(_pool, "linear_blocks", None)      # (a call would raise)
    for x, w in ((rand(256, 32, dtype=np.float32), rand(65, 32, dtype=np.float32)),
                 (rand(256, 32), rand(128, 32)),
                 (rand(256, 64, dtype=np.float32)[:, ::2], rand(128, 32, dtype=np.float32))):
        assert _linear._blocked(x, w, None) is None


@pytest.mark.parametrize("m,n,k", [(37, 13, 65), (64, 40, 300), (9, 33, 7)])
def test_product_range_backward_forms_and_depth_steps(m, n, k):
    """The kernel in the forms bench/linear_products.py measures for the
    backward: dX = g W (B = W packed as panels) and dW = g^T x (A read down
    g's columns), against float64; sums taken in steps of kk (``depth``) give
    the bits of one long sum."""
    kern = _blocks_or_skip()
    g, w, x = (rand(*s, seed=i, dtype=np.float32) for i, s in enumerate(((m, n), (n, k), (m, k))))
    wp = np.empty((-(-k // 32), n, 32), np.float32)
    kern.pack_panels(w, wp, False)
    for depth in (1 << 30, 5, 32):
        dx = np.full((m, k), np.nan, np.float32)
        kern.product_range(g.ctypes.data, 1, n, wp.ctypes.data, 32, 32 * n, n, 0, dx.ctypes.data,
                           k, 0, m, 0, k, 64, depth)
        dw = np.full((n, k), np.nan, np.float32)
        kern.product_range(g.ctypes.data, n, 1, x.ctypes.data, k, 32, m, 0, dw.ctypes.data, k,
                           0, n, 0, k, 16, depth)
        if depth > k:
            first = dx, dw
            np.testing.assert_allclose(dx, g.astype(np.float64) @ w, rtol=1e-5, atol=2e-6 * n)
            np.testing.assert_allclose(dw, g.T.astype(np.float64) @ x, rtol=1e-5, atol=2e-6 * m)
        else:
            np.testing.assert_array_equal(dx, first[0])
            np.testing.assert_array_equal(dw, first[1])
