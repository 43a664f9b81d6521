"""The calling thread runs the jobs of a split that no worker has claimed.

A split posts one job per worker, runs its own range, then takes every job
no worker has started yet (an atomic claim per job: whoever claims it runs
it) instead of waiting for a worker that has no core now.  Each job's range
and order of sums are fixed by the split, so the result is the same bit for
bit whoever runs it.  ``_Pool.hold_workers(True)`` is the hook that keeps
the workers from claiming anything: the worst case, a worker that never
gets a core.
"""
import threading
import time

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.backends.cpu import _pool
from helpers import rand

pytest.importorskip("numba")


@pytest.fixture
def threads():
    before = ember.get_num_threads()
    yield
    if _pool._pool is not None:
        _pool._pool.hold_workers(False)
    ember.set_num_threads(before)


def _two_threads():
    """The two-thread pool (made by a first split; a change of the thread
    count replaces the pool); skips where Ember doesn't run NumPy's BLAS
    threads (then nothing splits)."""
    ember.set_num_threads(2)
    _pool.parallel_for(lambda lo, hi: None, 2, grain=1)
    p = _pool._pool
    if p is None or not _pool.blas_threads():
        pytest.skip("the intra-op pool is not used here")
    return p


def _gelu():
    x = ember.tensor(rand(4, 65536, dtype=np.float32))
    return F.gelu(x).numpy()


def _relu_sum():
    a = ember.tensor(rand(2 * 65536, dtype=np.float32))
    b = ember.tensor(rand(2 * 65536, seed=1, dtype=np.float32))
    return F.relu(a + b).numpy()


def _matmul():
    a, b = rand(256, 200, dtype=np.float32), rand(200, 192, seed=1, dtype=np.float32)
    return _pool.matmul(a, b), _pool.matmul(rand(4, 96, 64, dtype=np.float64),
                                            rand(4, 64, 96, seed=2, dtype=np.float64))


def _linear_few_rows():
    x = ember.tensor(rand(64, 128, dtype=np.float32))
    w = ember.tensor(rand(384, 128, seed=1, dtype=np.float32))
    b = ember.tensor(rand(384, seed=2, dtype=np.float32))
    return F.linear(x, w, b).numpy()


def _attention():
    q, k, v = (ember.tensor(rand(1, 4, 64, 32, seed=s, dtype=np.float32)) for s in range(3))
    return F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()


def _batch_norm():
    x = ember.tensor(rand(32, 16, 16, 16, dtype=np.float32), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    y.backward(ember.tensor(rand(32, 16, 16, 16, seed=1, dtype=np.float32)))
    return y.detach().numpy(), x.grad.numpy()


# one of each kind of native job: 1 GEMM, 2 transposed Linear, 3 GELU, 4 the
# one-pass kernels, attention, batch norm
NATIVE = {"gemm": _matmul, "linear_t": _linear_few_rows, "gelu": _gelu,
          "relu_sum": _relu_sum, "attention": _attention, "batch_norm": _batch_norm}


def _flat(result):
    return list(result) if isinstance(result, tuple) else [result]


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_native_jobs_same_bits_whoever_runs_them(threads, name):
    """2 threads, and 2 threads with the worker never starting (the caller
    runs both jobs): the same bits, since a job's range and order are fixed
    by the split.  The split really happened: the worker was posted jobs.
    Against 1 thread, equal to rounding: a BLAS kernel may round the rows at
    a range's edge its own way (OpenBLAS's Haswell sgemm gives the same bits
    only for row splits at multiples of 12)."""
    fn = NATIVE[name]
    ember.set_num_threads(1)
    one = _flat(fn())
    pool = _two_threads()
    want = None
    for hold in (False, True, False):
        pool.hold_workers(hold)
        posted = int(pool.flags[0])
        got = _flat(fn())
        assert int(pool.flags[0]) > posted, "no job was posted: the test would prove nothing"
        want = want or got
        for a, b, c in zip(want, got, one):
            assert a.dtype == b.dtype == c.dtype
            np.testing.assert_array_equal(a, b)
            eps = np.finfo(c.dtype).eps
            np.testing.assert_allclose(b, c, rtol=100 * eps, atol=100 * eps * np.abs(c).max())


def test_python_jobs_run_here_when_the_worker_never_starts(threads):
    """Every range runs once, all on the calling thread; an error in a range
    the caller took is raised; after the hold the worker takes ranges again."""
    me = threading.get_ident()
    pool = _two_threads()
    pool.hold_workers(True)
    hits = np.zeros(1 << 17, np.int64)
    where = set()

    def kernel(lo, hi):
        hits[lo:hi] += 1
        where.add(threading.get_ident())

    _pool.parallel_for(kernel, 1 << 17, grain=1 << 15)
    assert (hits == 1).all() and where == {me}

    def fails(lo, hi):
        if lo > 0:
            raise ValueError(f"bad range {lo}")

    with pytest.raises(ValueError, match="bad range"):
        _pool.parallel_for(fails, 1 << 17, grain=1 << 15)

    pool.hold_workers(False)
    where.clear()
    started = threading.Event()

    def waits(lo, hi):
        where.add(threading.get_ident())
        if lo == 0:      # (the caller's range waits until the worker has claimed its own)
            started.wait(10)
        else:
            started.set()

    _pool.parallel_for(waits, 1 << 17, grain=1 << 15)
    assert len(where) == 2


def test_held_while_the_worker_sleeps(threads):
    """A worker asleep when the split comes (no job for ~7 ms) is woken, but
    the caller need not wait for it: held, it runs both ranges itself; the
    worker, woken, skips the job it finds taken and serves the next split."""
    ember.set_num_threads(1)
    want = _relu_sum()
    pool = _two_threads()
    time.sleep(0.05)
    pool.hold_workers(True)
    np.testing.assert_array_equal(_relu_sum(), want)
    pool.hold_workers(False)
    time.sleep(0.05)
    np.testing.assert_array_equal(_relu_sum(), want)
    np.testing.assert_array_equal(_relu_sum(), want)


def test_claims_race_with_the_hook_toggled(threads):
    """Splits of Python and native jobs while another thread switches the
    hold on and off at random: each job runs exactly once (no range lost or
    run twice, no hang), whoever claims it."""
    ember.set_num_threads(1)
    want = _relu_sum()
    pool = _two_threads()
    stop = threading.Event()

    def toggle():
        rng = np.random.default_rng(0)
        while not stop.is_set():
            pool.hold_workers(bool(rng.integers(2)))
            time.sleep(float(rng.uniform(0, 2e-4)))

    t = threading.Thread(target=toggle)
    t.start()
    try:
        hits = np.zeros(1 << 16, np.int64)

        def kernel(lo, hi):
            hits[lo:hi] += 1

        for i in range(300):
            _pool.parallel_for(kernel, 1 << 16, grain=1 << 14)
            if i % 10 == 0:
                np.testing.assert_array_equal(_relu_sum(), want)
        assert (hits == 300).all()
    finally:
        stop.set()
        t.join()


def test_claim_primitive():
    """``steal`` takes a posted job once: the second claim of the same number
    fails, and a number not yet posted can't be claimed."""
    from ember.backends.cpu import _jit
    k = _jit.module()
    if k is None:
        pytest.skip("no compiled kernels")
    flags = np.zeros(4 * 1 + 4, np.int64)       # one worker (see _pool._Pool)
    jobs = np.zeros((2, _pool.JOB_FIELDS), np.int64)
    job = k.post_python(flags, jobs, 0)
    assert job == 1
    assert k.steal(flags, 0, 2) is False        # (not the next to claim)
    assert k.steal(flags, 0, 1) is True
    assert k.steal(flags, 0, 1) is False
    assert flags[3] == 1                        # the claim word of worker 0
