"""The fast kernels behind the hot ops, on the sizes where their fast paths
run: intra-op threads (ember._parallel; threaded result == one-thread
result), fused GELU, layer norm, unshifted softmax, masked_fill."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _pool as _parallel
from helpers import TEST_DEVICE, check, rand


@pytest.fixture
def threads():
    before = ember.get_num_threads()
    yield
    ember.set_num_threads(before)


def test_num_threads_api(threads):
    ember.set_num_threads(3)
    assert ember.get_num_threads() == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(RuntimeError, match="positive integer"):
            ember.set_num_threads(bad)


@pytest.mark.parametrize("n,nt", [(0, 2), (5, 2), (1 << 17, 2), (1 << 17, 3), (1000003, 4)])
def test_parallel_for_covers_every_index_once(threads, n, nt):
    ember.set_num_threads(nt)
    hits = np.zeros(n, dtype=np.int64)
    ranges = []

    def kernel(lo, hi):
        hits[lo:hi] += 1
        ranges.append((lo, hi))

    _parallel.parallel_for(kernel, n, grain=1 << 15)
    assert (hits == 1).all()
    # (the pool runs only once Ember runs NumPy's BLAS threads: see ember/_parallel.py)
    assert len(ranges) == (max(1, min(nt, n >> 15)) if _parallel.blas_threads() else 1)


def test_parallel_for_runs_on_several_threads_and_reraises(threads):
    ember.set_num_threads(2)
    seen = set()
    started = threading.Event()

    def kernel(lo, hi):
        seen.add(threading.get_ident())
        if lo == 0 and hi < 1 << 17:   # (the caller's range: give the worker time to claim its own,
            started.wait(10)    # which the caller would otherwise run itself once done here)
        else:
            started.set()
        if hi == 1 << 17:         # (the last range: a worker's, when threaded)
            raise ValueError(f"bad range {lo}")

    with pytest.raises(ValueError, match="bad range"):
        _parallel.parallel_for(kernel, 1 << 17, grain=1 << 15)
    assert len(seen) == (2 if _parallel.blas_threads() else 1)
    # the pool still works after an error, and nested calls run on the calling thread
    inner = []
    _parallel.parallel_for(lambda lo, hi: _parallel.parallel_for(
        lambda a, b: inner.append(b - a), 1 << 17, grain=1 << 15), 1 << 17, grain=1 << 15)
    # each inner call: one range, not split
    assert inner == [1 << 17] * (2 if _parallel.blas_threads() else 1)


def _layouts(x):
    """x as C- and F-ordered copies, a transposed view of a copy, and a view
    with a stride BLAS can't take (NumPy copies it)."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), x.dtype)
    wide[:, ::2] = x
    return [x, np.asfortranarray(x), np.ascontiguousarray(x.T).T, wide[:, ::2]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
# The two big shapes are the smallest that still split into three GEMM jobs at
# three threads (m*k*n >= 3 * _GEMM_GRAIN) with more rows than columns / a thin k;
# (64, 128, 384), a GPT Linear at batch 1, splits by columns: fewer rows than columns.
@pytest.mark.parametrize("m,k,n", [(512, 64, 192), (8, 512, 4096), (301, 257, 129),
                                   (640, 2, 640), (64, 128, 384), (0, 64, 64), (64, 0, 64),
                                   (5, 6, 7)])
def test_threaded_matmul_matches_numpy(threads, dtype, m, k, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    want = a.astype(np.complex128) @ b
    tol = 1e-4 if np.dtype(dtype).itemsize <= 8 else 1e-10
    # (the layouts made once: copying them for every product took half the test's time)
    a_layouts, b_layouts = _layouts(a), _layouts(b)[::-1]
    for nt in (1, 2, 3):
        ember.set_num_threads(nt)
        if m * k * n >= 2 * _parallel._GEMM_GRAIN:   # (the shape is split, not a no-op)
            assert min(nt, m * k * n // _parallel._GEMM_GRAIN) == nt
        for a1 in a_layouts:
            for b1 in b_layouts:
                got = _parallel.matmul(a1, b1)
                assert got.dtype == dtype and got.shape == (m, n)
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(k, 1) ** 0.5 * 4)
        out = np.full((m, n), np.nan, dtype)
        assert _parallel.matmul(a, b, out=out) is out
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * max(k, 1) ** 0.5 * 4)


def test_threaded_matmul_uses_the_workers_and_wakes_them(threads):
    import time
    ember.set_num_threads(2)
    a = np.random.default_rng(1).standard_normal((512, 256)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((256, 512)).astype(np.float32)
    _parallel.matmul(a, b)
    pool = _parallel._pool
    if not _parallel.blas_threads() or pool is None:
        pytest.skip("Ember doesn't run NumPy's BLAS threads here")
    before = int(pool.flags[0:2 * len(pool.jobs):2].sum())
    for pause in (0, 0.05, 0):        # 50 ms: the worker has gone to sleep
        time.sleep(pause)
        np.testing.assert_allclose(_parallel.matmul(a, b), a @ b, rtol=1e-4, atol=1e-3)
    assert int(pool.flags[0:2 * len(pool.jobs):2].sum()) == before + 3
    # batched: split over ranges of the batch (one or two batch dims, any
    # strides: attention's q (B, H, T, E) is a transposed view), or for more
    # batch dims along the leading axis
    a3, b3 = a.reshape(8, 64, 256), b.reshape(8, 256, 64)
    np.testing.assert_allclose(_parallel.matmul(a3, b3), a3 @ b3, rtol=1e-4, atol=1e-3)
    x = np.random.default_rng(3).standard_normal((16, 64, 3, 4, 32)).astype(np.float32)
    q, k = x[:, :, 0].transpose(0, 2, 1, 3), x[:, :, 1].transpose(0, 2, 3, 1)
    for u, v in ((q, k), (q[:, :3], k[:, :3]), (q.reshape(2, 8, 4, 64, 32).copy(),
                                                  k.reshape(2, 8, 4, 32, 64).copy())):
        np.testing.assert_allclose(_parallel.matmul(u, v), np.matmul(u, v), rtol=1e-5, atol=1e-5)


def test_threaded_matmul_inside_a_pool_job_runs_serially(threads):
    ember.set_num_threads(2)
    a = np.ones((256, 256), np.float32)
    res = {}

    def kernel(lo, hi):
        res[lo] = _parallel.matmul(a, a)

    _parallel.parallel_for(kernel, 1 << 17, grain=1 << 15)
    for r in res.values():
        np.testing.assert_array_equal(r, np.full((256, 256), 256, np.float32))


@pytest.mark.parametrize("L,dropout", [(64, 0.0), (100, 0.0), (64, 0.3)])
def test_threaded_attention_equals_serial(threads, monkeypatch, L, dropout):
    """The compiled attention kernels on one and two threads, and the NumPy
    products they replace (when Ember can't call BLAS itself), agree."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, L, 3 * 128)).astype(np.float32)
    outs = []
    for nt in (1, 2, "numpy"):
        if nt == "numpy":
            monkeypatch.setattr(_parallel, "gemm_address", lambda dtype: None)
        else:
            ember.set_num_threads(nt)
        ember.manual_seed(5)
        t = ember.tensor(x, requires_grad=True)
        q, k, v = (u.view(16, L, 4, 32).transpose(1, 2) for u in t.split(128, dim=2))
        y = ember.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                             dropout_p=dropout)
        y.transpose(1, 2).contiguous().view(16, L, 128).pow(2).sum().backward()
        outs.append((y.detach().numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    np.testing.assert_allclose(outs[2][0], outs[0][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[2][1], outs[0][1], rtol=1e-4, atol=1e-5)


# (run in a fresh process with an empty Numba cache: every kernel compiled
# there and then, in the order the calls need them)
_COLD_ATTENTION = """
import time
import numpy as np
import ember
from ember.backends.cpu import _pool
F = ember.nn.functional
rng = np.random.default_rng(0)
cases = []
for shape, kw in (((1, 4, 64, 32), dict(is_causal=True)), ((2, 3, 100, 16), {}),
                  ((3, 96, 24), dict(is_causal=True)), ((1, 4, 1, 32), {})):
    qkv = [ember.tensor(rng.standard_normal(shape).astype(np.float32)) for _ in range(3)]
    if shape[-2] == 1:          # (decoding: one query row over 80 cached keys)
        qkv[1], qkv[2] = (ember.tensor(rng.standard_normal((1, 4, 80, 32)).astype(np.float32))
                          for _ in range(2))
    cases.append((qkv, kw))
bits, split = {}, False
for nt, pause in ((1, 0), (2, 0), (2, 0.05), (3, 0), (1, 0)):
    ember.set_num_threads(nt)
    time.sleep(pause)           # (50 ms: the workers have gone to sleep)
    with ember.no_grad():
        got = [F.scaled_dot_product_attention(*qkv, **kw).numpy() for qkv, kw in cases]
    want = bits.setdefault("one", got)
    for a, b in zip(got, want):
        assert np.array_equal(a, b), (nt, pause, a.shape, float(np.abs(a - b).max()))
    pool = _pool._pool
    split = split or (pool is not None and pool.flags[0] > 0)   # (worker 0 got jobs)
print("split" if split else "serial")
"""


@pytest.mark.guard_skip      # (a fresh process, on the CPU)
def test_attention_native_jobs_equal_one_thread_with_a_cold_cache(tmp_path):
    """SDPA's forward split over the pool as native jobs (kind 4,
    _numba.attention_run) gives the bits of one thread, with every kernel
    freshly compiled: the calling thread and the workers run each (batch,
    head) pair through the one compiled function (``attention_entry``)."""
    pytest.importorskip("numba")
    root = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))
    env = dict(os.environ, PYTHONPATH=root, NUMBA_CACHE_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", _COLD_ATTENTION], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    # (the split runs where Ember runs NumPy's OpenBLAS, as in the venv)
    assert r.stdout.split()[-1] == ("split" if _parallel.blas_threads() else "serial")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_large_threaded_equals_serial_and_torch(threads, approximate):
    x = rand(8, 64, 300, low=-6, high=6, dtype=np.float32)   # 153600 elements: threaded
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        e = ember.tensor(x, requires_grad=True)
        y = ember.nn.functional.gelu(e, approximate=approximate)
        y.backward(ember.ones_like(y) * 0.5)
        outs.append((y.detach().numpy(), e.grad.numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    check(lambda lib, t: lib.nn.functional.gelu(t, approximate=approximate), x)


@pytest.mark.parametrize("n", [64 * 512, 2 * 16384 + 5, 3 * 16384 + 17])
def test_gelu_native_jobs_equal_one_thread(threads, n):
    """GELU from 2 x 16K elements splits as native pool jobs (kind 3,
    _numba.gelu_run; the worker runs them without the GIL): the same bits as
    one thread, every element written once, sleeping workers woken."""
    import time
    x = rand(n, low=-6, high=6, dtype=np.float32)
    ember.set_num_threads(1)
    want = ember.nn.functional.gelu(ember.tensor(x)).numpy()
    for nt in (2, 3):
        ember.set_num_threads(nt)
        for pause in (0, 0.05):         # 50 ms: the workers have gone to sleep
            time.sleep(pause)
            with ember.no_grad():
                got = ember.nn.functional.gelu(ember.tensor(x)).numpy()
            np.testing.assert_array_equal(got, want)
        pool = _parallel._pool
        if pool is not None:            # (None: Ember doesn't run NumPy's BLAS threads here)
            before = int(pool.flags[0:2 * len(pool.jobs):2].sum())
            ember.nn.functional.gelu(ember.tensor(x))
            assert int(pool.flags[0:2 * len(pool.jobs):2].sum()) > before
    check(lambda lib, t: lib.nn.functional.gelu(t), x)


@pytest.mark.parametrize("n", [37, 64 * 512, 3 * 16384 + 17])
def test_gelu_no_grad_value_only(threads, n):
    """Without a graph GELU computes y alone (``gelu_erf_value``: the kernel's
    empty-dy branch, as native jobs from 2 x 16K elements): the same bits as
    the recorded forward, which also writes dy/dx, at 1 and 2 threads."""
    x = rand(n, low=-6, high=6, dtype=np.float32)
    x[:6] = [0.0, -0.0, 50.0, -50.0, -np.inf, np.nan]
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        with ember.no_grad():
            outs.append(ember.nn.functional.gelu(ember.tensor(x)).numpy())
        outs.append(ember.nn.functional.gelu(ember.tensor(x, requires_grad=True)).detach().numpy())
    for got in outs[1:]:
        np.testing.assert_array_equal(got, outs[0])
    want = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(outs[0], want, rtol=1e-5, atol=1e-5)


def test_gelu_special_values():
    # (+inf is left out: torch's float32 gelu gives nan or inf by tensor size)
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 10.0, -10.0, 50.0, -50.0, -np.inf, np.nan],
                 dtype=np.float32)
    check(lambda lib, t: lib.nn.functional.gelu(t), x)


@pytest.mark.parametrize("shape", [(4, 70, 500), (3, 5, 7)])
def test_layer_norm_large_and_small(shape):
    x = rand(*shape, dtype=np.float32)
    w, b = rand(shape[-1], seed=1, dtype=np.float32), rand(shape[-1], seed=2, dtype=np.float32)
    check(lambda lib, t, w, b: lib.nn.functional.layer_norm(t, shape[-1:], w, b), x, w, b)
    check(lambda lib, t: lib.nn.functional.layer_norm(t, shape[-2:]), x)


@pytest.mark.parametrize("fn", ["layer_norm", "rms_norm", "group_norm", "batch_norm"])
@pytest.mark.parametrize("shape", [(1, 64, 128), (4, 70, 500)])
def test_norm_no_grad_value_only(threads, fn, shape):
    """Without a graph a norm computes y alone (``normalize_value``: layer/RMS
    norm rows without storing xhat): the same bits as the recorded forward,
    at 1 and 2 threads ((4, 70, 500) splits its rows), and torch's result."""
    x = rand(*shape, dtype=np.float32)
    w, b = rand(shape[-1], seed=1, dtype=np.float32), rand(shape[-1], seed=2, dtype=np.float32)
    C = shape[1]
    wc, bc = rand(C, seed=3, dtype=np.float32), rand(C, seed=4, dtype=np.float32)

    def run(lib, t, grad):
        F = lib.nn.functional
        t = t.requires_grad_(grad)
        if fn == "layer_norm":
            return F.layer_norm(t, shape[-1:], lib.tensor(w), lib.tensor(b))
        if fn == "rms_norm":
            return F.rms_norm(t, shape[-1:], lib.tensor(w))
        if fn == "group_norm":
            return F.group_norm(t, 2, lib.tensor(wc), lib.tensor(bc))
        return F.batch_norm(t, None, None, lib.tensor(wc), lib.tensor(bc), training=True)
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        with ember.no_grad():
            outs.append(run(ember, ember.tensor(x), False).numpy())
        outs.append(run(ember, ember.tensor(x), True).detach().numpy())
    for got in outs[1:]:
        np.testing.assert_array_equal(got, outs[0])
    want = run(torch, torch.from_numpy(x), False).detach().numpy()
    np.testing.assert_allclose(outs[0], want, rtol=1e-4, atol=1e-4)


def _scores(kind):
    x = rand(6, 4, 40, 50, low=-5, high=5, dtype=np.float32)     # 48000 elements
    if kind == "masked":
        x[..., np.triu_indices(40, 1, 50)[0], np.triu_indices(40, 1, 50)[1]] = -np.inf
    elif kind == "row_all_masked":
        x[1, 2, 3, :] = -np.inf
    elif kind == "large":
        x[0, 0, 0, 0] = 300.0
    elif kind == "very_negative":
        x[2, 1, 5, :] -= 200.0
    elif kind == "nan":
        x[3, 3, 3, 3] = np.nan
    return x


@pytest.mark.parametrize("kind", ["plain", "masked", "row_all_masked", "large", "very_negative",
                                  "nan"])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_fast_paths(fn, kind):
    x = _scores(kind)
    check(lambda lib, t: getattr(lib.nn.functional, fn)(t, dim=-1), x)
    check(lambda lib, t: getattr(lib.nn.functional, fn)(t, dim=1), x)
    check(lambda lib, t: getattr(lib.nn.functional, fn)(t.double(), dim=-1), x)


@pytest.mark.parametrize("value", [float("-inf"), 2.5])
def test_masked_fill_broadcast_mask(value):
    x = rand(8, 4, 32, 32, dtype=np.float32)
    m = np.triu(np.ones((32, 32), bool), 1)[None, None]
    check(lambda lib, t: t.masked_fill(lib.tensor(m), value), x)
    check(lambda lib, t: t.masked_fill(lib.tensor(m[0, 0, :1]), value), x)


def _child_product(q):
    a = np.arange(512 * 300, dtype=np.float32).reshape(512, 300) / 1e5
    q.put(float(_parallel.matmul(a, a.T).sum()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_threaded_matmul_in_a_forked_child(threads):
    """A forked child (a DataLoader worker) gets a pool of its own."""
    import multiprocessing as mp
    ember.set_num_threads(2)
    a = np.arange(512 * 300, dtype=np.float32).reshape(512, 300) / 1e5
    want = float(_parallel.matmul(a, a.T).sum())      # (the parent's pool is running)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_product, args=(q,))
    p.start()
    got = q.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0 and got == pytest.approx(want, rel=1e-5)


def test_threaded_linear_and_layer_norm_match_torch(threads):
    """Rows split over the threads: the bias add, the bias gradient (column
    ranges of a gemv) and layer norm's backward, whose weight and bias
    gradients are summed per range and then added."""
    ember.set_num_threads(2)
    x = rand(8, 50, 384, dtype=np.float32)
    w, b = rand(512, 384, seed=1, dtype=np.float32), rand(512, seed=2, dtype=np.float32)
    lw, lb = rand(512, seed=3, dtype=np.float32), rand(512, seed=4, dtype=np.float32)
    check(lambda lib, t, w, b, lw, lb: lib.nn.functional.layer_norm(
        lib.nn.functional.linear(t, w, b), (512,), lw, lb), x, w, b, lw, lb)
    from ember.backends.cpu import _rows
    g = rand(1000, 300, seed=5, dtype=np.float32)
    np.testing.assert_allclose(_rows.sum_rows(g), g.sum(axis=0, dtype=np.float64), rtol=1e-4,
                               atol=1e-3)


@pytest.mark.parametrize("rows,n_in,n_out", [(17, 128, 384), (64, 512, 128), (128, 3, 130),
                                              (40, 1, 65), (64, 128, 1), (4, 128, 512),
                                              (1, 7, 9), (64, 512, 10)])
def test_linear_transposed_product_matches_torch(threads, rows, n_in, n_out):
    """Linear with 1-128 rows runs as y^T = W x^T (_numba.linear_t_run, in
    jobs over ranges of the outputs): the result, with and without bias,
    with a transposed weight view, at 1-3 threads, float32 and float64,
    against torch, and its gradients through the usual backward (once: the
    backward is not split by this path)."""
    for dtype in (np.float32, np.float64):
        x = rand(1, rows, n_in, dtype=dtype)
        w, b = rand(n_out, n_in, seed=1, dtype=dtype), rand(n_out, seed=2, dtype=dtype)
        tol = 1e-4 if dtype == np.float32 else None   # (sums of up to 512 terms near 20)
        for nt in (1, 2, 3):
            ember.set_num_threads(nt)
            check(lambda lib, t, w, b: lib.nn.functional.linear(t, w, b), x, w, b, atol=tol,
                  grad=nt == 1)
            check(lambda lib, t, w: lib.nn.functional.linear(t, w), x, w, atol=tol, grad=nt == 1)
            check(lambda lib, t, w: lib.nn.functional.linear(t, w.t().contiguous().t()), x, w,
                  grad=False, atol=tol)
            got = ember.nn.functional.linear(ember.tensor(x), ember.tensor(w), ember.tensor(b))
            assert got.is_contiguous() and got.shape == (1, rows, n_out)
            if rows == 1:     # (a 1-D input: one row)
                check(lambda lib, t, w, b: lib.nn.functional.linear(t, w, b), x[0, 0], w, b,
                      atol=tol)
            if _parallel.blas_threads() and rows < n_out:   # (the path is taken)
                from ember.backends.cpu import _linear
                for wl in (w, np.ascontiguousarray(w.T).T):
                    y = _linear._transposed(x, wl, b)
                    np.testing.assert_allclose(y, x @ w.T + b, rtol=1e-4, atol=1e-4)


def test_pool_from_several_user_threads(threads):
    """User threads share the pool: one at a time uses it, the others run
    their work on their own thread; every result is right."""
    ember.set_num_threads(2)
    rng = np.random.default_rng(7)
    mats = [(rng.standard_normal((300, 200)).astype(np.float32),
             rng.standard_normal((200, 250)).astype(np.float32)) for _ in range(4)]
    errors = []

    def work(a, b):
        try:
            want = a @ b
            for _ in range(20):
                np.testing.assert_allclose(_parallel.matmul(a, b), want, rtol=1e-4, atol=1e-3)
                y = np.empty(a.size, np.float32)
                _parallel.parallel_rows(lambda lo, hi: np.multiply(a.reshape(-1)[lo:hi], 2,
                                                                   out=y[lo:hi]), a.size, 1)
                np.testing.assert_array_equal(y, a.reshape(-1) * 2)
        except BaseException as exc:     # (reported by the main thread)
            errors.append(exc)

    ts = [threading.Thread(target=work, args=m) for m in mats]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not errors, errors[0]
    # and set_num_threads from another thread waits for the pool to be free
    ember.set_num_threads(3)
    np.testing.assert_allclose(_parallel.matmul(*mats[0]), mats[0][0] @ mats[0][1],
                               rtol=1e-4, atol=1e-3)


def test_attention_with_interleaved_and_broadcast_views():
    """q, k, v as interleaved views of one array (their gradients then share
    one buffer with the same strides, which BLAS can't write: the NumPy
    products take over), and k, v broadcast along the keys (rows 0 apart:
    copied before BLAS reads them)."""
    base = rand(2, 3, 40, 3 * 16, dtype=np.float32)

    def f(lib, t):
        q, k, v = t[..., 0::3], t[..., 1::3], t[..., 2::3]
        return lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    check(f, base)
    kv = rand(2, 3, 1, 16, seed=1, dtype=np.float32)
    q = rand(2, 3, 40, 16, seed=2, dtype=np.float32)
    check(lambda lib, q, kv: lib.nn.functional.scaled_dot_product_attention(
        q, kv.expand(2, 3, 40, 16), kv.expand(2, 3, 40, 16), is_causal=True), q, kv)


def test_threaded_matmul_into_an_operand(threads):
    """out= overlapping an operand gives NumPy's answer (it copies first)."""
    ember.set_num_threads(2)
    a = np.random.default_rng(4).standard_normal((512, 512)).astype(np.float32)
    want = a @ a
    got = a.copy()
    _parallel.matmul(got, a, out=got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "masked_fill"])
def test_row_kernels_threaded_equal_serial(threads, op):
    """softmax, log_softmax (forward and backward) and masked_fill split their
    rows over the threads: the same bits as on one thread."""
    x = rand(64, 40, 96, low=-5, high=5, dtype=np.float32)    # 245760 elements
    mask = np.triu(np.ones((40, 96), bool), 1)
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        t = ember.tensor(x, requires_grad=True)
        if op == "masked_fill":
            y = t.masked_fill(ember.tensor(mask), -3.0)
        else:
            y = getattr(ember.nn.functional, op)(t, dim=-1)
        (y * ember.tensor(x)).sum().backward()
        outs.append((y.detach().numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def test_large_sums_split_over_threads_match_torch(threads):
    """A residual ``a + b`` and the sum of a tensor's two gradients, large
    enough that the CPU splits them over two threads: torch's values and
    gradients, and exactly NumPy's sums (a split add is the same adds)."""
    ember.set_num_threads(2)
    shape = (4, 16, 64, 64)      # 2**18 elements: over the split size
    check(lambda lib, a, b: lib.relu(a + b) * (a + 1.5), rand(*shape), rand(*shape))
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    b = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal((ember.tensor(a) + ember.tensor(b)).numpy(), a + b)
    # broadcasting, mixed dtypes and strided views still take NumPy's operator
    np.testing.assert_array_equal((ember.tensor(a) + ember.tensor(b[:1])).numpy(), a + b[:1])
    np.testing.assert_array_equal((ember.tensor(a).transpose(1, 2) + ember.tensor(b)
                                   .transpose(1, 2)).numpy(),
                                  a.transpose(0, 2, 1, 3) + b.transpose(0, 2, 1, 3))
    d = b.astype(np.float64)
    np.testing.assert_array_equal((ember.tensor(a) + ember.tensor(d)).numpy(), a + d)


def test_parallel_for_wakes_a_sleeping_worker(threads):
    """A Python job posted to a worker that went to sleep (no job for ~7 ms)
    wakes it: the split still runs on two threads and covers every index."""
    import time
    ember.set_num_threads(2)
    _parallel.parallel_for(lambda lo, hi: None, 1 << 17, grain=1 << 15)    # (the pool made)
    if not _parallel.blas_threads() or _parallel._pool is None:
        pytest.skip("Ember doesn't run NumPy's BLAS threads here")
    for pause in (0.05, 0, 0.05):     # 50 ms: the worker has gone to sleep
        time.sleep(pause)
        hits = np.zeros(1 << 17, dtype=np.int64)
        seen = set()
        started = threading.Event()

        def kernel(lo, hi):
            hits[lo:hi] += 1
            seen.add(threading.get_ident())
            if lo == 0:    # (else the caller, done first, may run the worker's range itself)
                started.wait(10)
            else:
                started.set()

        _parallel.parallel_for(kernel, 1 << 17, grain=1 << 15)
        assert (hits == 1).all() and len(seen) == 2


def test_pool_post_and_pause_primitives():
    """The compiled steps of a Python job's hand-off: ``post_python`` marks
    the job Python and bumps the worker's job number (negated while the
    worker sleeps); ``pause`` spins for at least the time asked."""
    import time
    from ember.backends.cpu import _jit
    k = _jit.module()
    if k is None:
        pytest.skip("no compiled kernels")
    flags = np.zeros(4 * 1 + 4, np.int64)       # one worker: posted, done, asleep, claimed;
                                                # the hook; 2 addresses
    flags[-2] = _parallel._libc_address("clock_gettime")
    jobs = np.ones((2, _parallel.JOB_FIELDS), np.int64)
    assert k.post_python(flags, jobs, 0) == 1
    assert flags[0] == 1 and jobs[1, 0] == 0 and jobs[0, 0] == 1
    flags[2] = 1                                # the worker says it sleeps
    assert k.post_python(flags, jobs, 0) == -2 and flags[0] == 2
    for clock in (flags[-2], 0):                # (0: no clock_gettime, counted in turns)
        flags[-2] = clock
        k.pause(flags, 0)
        t0 = time.perf_counter_ns()
        k.pause(flags, 2_000_000)
        if clock:
            assert time.perf_counter_ns() - t0 >= 2_000_000


# Shapes (rows, outputs, inputs) that reach every tail of the register-blocked
# float32 kernel behind the transposed Linear (_numba._linear_t_blocks): rows
# past a multiple of 32 (a last 16-column block) and not a multiple of 16
# (padded columns of x^T), outputs not a multiple of 8 (W's last rows copied
# into a zeroed block), one input, inputs past what a cache line holds; and
# the shapes where the blocks do not pay (17 rows) or the path is not taken
# (more rows than outputs past 64 rows, past 128 rows).
_BLOCK_SHAPES = [(16, 16, 1), (16, 17, 3), (20, 33, 9), (28, 33, 128), (32, 70, 600),
                 (33, 40, 17), (40, 41, 64), (48, 55, 2), (63, 64, 129), (64, 70, 128),
                 (17, 70, 128), (100, 130, 31), (127, 136, 600), (128, 129, 5),
                 (65, 66, 1), (70, 65, 7), (130, 70, 16), (1, 7, 9), (5, 1, 600)]


def _t_funcs(dtype):
    funcs = _parallel._linear_t_funcs().get(np.dtype(dtype))
    if funcs is None:
        pytest.skip("not Ember's OpenBLAS: the transposed product does not run")
    return funcs


@pytest.mark.parametrize("rows,n_out,n_in", _BLOCK_SHAPES)
def test_linear_blocked_kernel_every_tail(threads, rows, n_out, n_in):
    """The blocked kernel itself (any rows from 1; W with contiguous rows)
    against a float64 product, with and without bias, at 1 thread and split
    over 2 (the split is over outputs, each computed by one thread in one
    order: the two results are equal bit for bit)."""
    code, fn, om = _t_funcs(np.float32)
    if not _parallel._linear_blocks():
        pytest.skip("no 512-bit vectors nor AVX2 + FMA: the blocked kernel is not used here")
    from ember.backends.cpu import _jit
    x = rand(rows, n_in, dtype=np.float32)
    w, b = rand(n_out, n_in, seed=1, dtype=np.float32), rand(n_out, seed=2, dtype=np.float32)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    for bias in (b, None):
        got = np.empty((rows, n_out), np.float32)
        assert _jit.module().linear_t_one(x, w, np.empty(0, np.float32) if bias is None else bias,
                                          got, fn, om, code, True) >= 0
        ref = want if bias is None else want + b
        assert got.shape == (rows, n_out) and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-6 * n_in)
        ember.set_num_threads(2)
        split = _parallel.linear_t(x, w, bias, 2)     # (2 parts whatever the size)
        ember.set_num_threads(1)
        assert split is not None
        one = _parallel.linear_t(x, w, bias, 1)
        blocks = 5 * (-rows % 16) <= rows + (-rows % 16) and rows >= 16  # (linear_t's rule)
        # (on BLAS, OpenBLAS's Haswell kernels -- hosts without 512-bit
        # vectors -- sum some rows of a split product in another order)
        if blocks or _jit.wide_vectors():
            np.testing.assert_array_equal(split, one)
        if blocks:
            np.testing.assert_array_equal(one, got)
    # W's rows apart in memory (a slice of a wider weight): read where they lie
    wide = np.zeros((n_out, n_in + 5), np.float32)
    wide[:, :n_in] = w
    got = np.empty((rows, n_out), np.float32)
    assert _jit.module().linear_t_one(x, wide[:, :n_in], b, got, fn, om, code, True) >= 0
    np.testing.assert_allclose(got, want + b, rtol=1e-5, atol=2e-6 * n_in)


@pytest.mark.parametrize("rows,n_out,n_in", _BLOCK_SHAPES)
def test_linear_blocked_path_matches_torch(threads, monkeypatch, rows, n_out, n_in):
    """F.linear over those shapes against torch, outputs and gradients, float32
    and float64 (float64 keeps BLAS), bias or not, contiguous or not, at 1 and
    2 threads; and the blocked kernel is the path taken where it should be."""
    _t_funcs(np.float32)
    from ember.backends.cpu import _jit
    kern = _jit.module()
    for dtype in (np.float32, np.float64):     # (compiled before the spies stand in for them)
        for m in (1, 16):
            _parallel.linear_t(rand(m, 3, dtype=dtype), rand(16, 3, dtype=dtype), None, 1)
    calls = []
    for name in ("linear_t_one", "linear_t_run"):
        fn = getattr(kern, name)

        def spy(*a, _fn=fn, _name=name):
            calls.append((a[0].dtype, bool(a[7] if _name == "linear_t_one" else a[10])))
            return _fn(*a)
        monkeypatch.setattr(kern, name, spy)
    for dtype in (np.float32, np.float64):
        x = rand(rows, n_in, dtype=dtype)
        w, b = rand(n_out, n_in, seed=1, dtype=dtype), rand(n_out, seed=2, dtype=dtype)
        tol = 2e-6 * n_in if dtype == np.float32 else None
        for nt in (1, 2):
            ember.set_num_threads(nt)
            check(lambda lib, t, w, b: lib.nn.functional.linear(t, w, b), x, w, b, atol=tol,
                  grad=nt == 1)
            check(lambda lib, t, w: lib.nn.functional.linear(t, w), x, w, atol=tol, grad=False)
        # (a view of the result is a view: its buffer is an ndarray's)
        check(lambda lib, t, w: lib.nn.functional.linear(t, w).view(-1), x, w, atol=tol)
        wide = rand(rows, 2 * n_in, seed=3, dtype=dtype)     # (every other column: a view)
        check(lambda lib, t, w, b: lib.nn.functional.linear(t[:, ::2], w, b), wide, w, b,
              atol=tol)
    if _parallel._linear_blocks() and TEST_DEVICE == "cpu":   # (elsewhere: another backend's ops)
        taken = 16 <= rows <= min(n_out if rows <= 64 else n_out - 1, 128) \
            and 5 * (-rows % 16) <= rows + (-rows % 16)
        assert ((np.float32, True) in calls) == taken
        assert (np.float64, True) not in calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 16, 24, 24), (3, 5, 7), (2, 4, 3, 5, 6), (2, 3, 0, 4),
                                   (0, 3, 4, 4)])
def test_conv_bias_gradient_channel_sums(dtype, shape):
    """A convolution's bias gradient (the compiled per-channel sums on a
    C-contiguous (N, C, ...), NumPy's sum otherwise) against torch's, and
    against the exact sum: as accurate as NumPy's."""
    rng = np.random.default_rng(4)
    g = (rng.standard_normal(shape) + 3).astype(dtype)
    axes = (0,) + tuple(range(2, g.ndim))
    got = ember.backends.kernels(g).channel_sums(g, axes)
    exact = g.astype(np.float64).sum(axis=axes)
    tol = 2 * np.abs(g.sum(axis=axes) - exact).max() + 10 * np.finfo(dtype).eps * g.size
    assert got.dtype == dtype and got.shape == (shape[1],)
    np.testing.assert_allclose(got, exact, rtol=0, atol=tol)
    nd = g.ndim - 2
    if nd in (1, 2, 3) and g.size:
        conv = f"conv{nd}d"
        w = rand(*(2, shape[1]) + (1,) * nd, dtype=dtype)
        check(lambda lib, x, w, b: getattr(lib.nn.functional, conv)(x, w, b),
              rng.standard_normal(shape).astype(dtype), w, rand(2, dtype=dtype))
