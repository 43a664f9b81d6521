"""The intra-op pool under any interleaving of ``set_num_threads``, matrix
products and row kernels from several user threads, and across ``fork``.

Each stress run is a separate process (this file run as a script), so that a
crash (the pool once wrote past its arrays when a resize raced a split) or a
hang fails the test instead of taking pytest down.  Every result is checked
against NumPy's own, computed once beforehand.  ``make test`` runs a few
seconds of it; ``make test-slow`` runs minutes.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _stress(seconds, mode, timeout):
    # (NumPy's BLAS at 2 threads, as a user's would be: the fork run checks
    # that a child gets that count back, which the tests' usual 1 can't show)
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), mode, str(seconds)],
                         capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, (f"stress run ended with code {out.returncode}\n"
                                 f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    assert out.stdout.split()[0] == "ok", out.stdout
    return out.stdout


def test_resizes_racing_products_and_kernels():
    _stress(1.5, "threads", timeout=240)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_other_threads_use_the_pool():
    _stress(1, "fork", timeout=240)


def test_split_planned_before_a_resize_runs_on_the_pool_it_gets():
    # The interleaving the stress runs can hit by chance, made to happen every
    # time: the split is counted for 4 threads, set_num_threads(2) lands
    # before the pool is taken, and the work must still be right (the pool
    # once ran 4 ranges on 2 threads' arrays: IndexError, then a segfault).
    _stress(0, "stale", timeout=120)


@pytest.mark.slow
def test_resizes_racing_products_and_kernels_for_minutes():
    _stress(180, "threads", timeout=900)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_other_threads_use_the_pool_for_minutes():
    _stress(90, "fork", timeout=900)


# ---- the stress program (run as a script) --------------------------------------------------

def _cases(np, ember):
    """(name, function of nothing, expected array) for products and kernels
    large enough to be split over the pool's threads."""
    rng = np.random.default_rng(0)
    F = ember.nn.functional
    cases = []
    for dt in (np.float32, np.float64):
        for m, k, n in ((300, 200, 256), (8, 700, 400), (64, 512, 512)):   # by rows, by columns
            a, b = rng.standard_normal((m, k)).astype(dt), rng.standard_normal((k, n)).astype(dt)
            ta, tb = ember.from_numpy(a), ember.from_numpy(b)
            cases.append((f"matmul {dt.__name__} {m}x{k}x{n}", lambda ta=ta, tb=tb: ta @ tb,
                          a @ b))
    a = rng.standard_normal((6, 4, 64, 96)).astype(np.float32)
    b = rng.standard_normal((6, 4, 96, 80)).astype(np.float32)
    ta, tb = ember.from_numpy(a), ember.from_numpy(b)
    cases.append(("batched matmul", lambda: ta @ tb, a @ b))
    x = rng.standard_normal((512, 384)).astype(np.float32)
    tx = ember.from_numpy(x)
    e = np.exp(x - x.max(-1, keepdims=True))
    cases.append(("softmax", lambda: F.softmax(tx, -1), e / e.sum(-1, keepdims=True)))
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    cases.append(("layer_norm", lambda: F.layer_norm(tx, (384,)), (x - mu) / np.sqrt(var + 1e-5)))
    w = rng.standard_normal((256, 384)).astype(np.float32)
    bias = rng.standard_normal(256).astype(np.float32)
    tw, tbias = ember.from_numpy(w), ember.from_numpy(bias)
    cases.append(("linear", lambda: F.linear(tx, tw, tbias), x @ w.T + bias))
    return cases


def _check(np, name, got, want):
    got = got.numpy() if hasattr(got, "numpy") else got
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-3):
        raise AssertionError(f"{name}: wrong result (max error "
                             f"{np.abs(got - want).max() if got.shape == want.shape else got.shape})")


def _main_threads(seconds):
    """Four user threads computing, one resizing the pool all the while."""
    import random
    import threading
    import time

    import numpy as np
    import ember

    ember.set_num_threads(2)
    cases = _cases(np, ember)
    stop = time.monotonic() + seconds
    errors, counts = [], []

    def compute(seed):
        rnd, n = random.Random(seed), 0
        try:
            while time.monotonic() < stop and not errors:
                name, fn, want = rnd.choice(cases)
                _check(np, name, fn(), want)
                n += 1
        except BaseException as exc:   # (reported by the main thread)
            errors.append(exc)
        counts.append(("computed", n))

    def resize():
        rnd, n = random.Random(99), 0
        while time.monotonic() < stop and not errors:
            ember.set_num_threads(rnd.choice((1, 2, 3, 4)))
            n += 1
            if rnd.random() < 0.5:
                time.sleep(rnd.random() * 1e-3)
        counts.append(("resized", n))

    threads = [threading.Thread(target=compute, args=(s,)) for s in range(4)]
    threads.append(threading.Thread(target=resize))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    print("ok", counts)


def _blas_threads():
    """NumPy's BLAS thread count (threadpoolctl), or None without one."""
    from threadpoolctl import threadpool_info
    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return counts[0] if counts else None


def _fork_and_wait(child, errors, what):
    """Run ``child()`` in a forked child (exit code 0: it returned); a child
    that fails, or still runs after 60 s (hung), is added to ``errors``."""
    import faulthandler
    import signal
    import time

    pid = os.fork()
    if pid == 0:
        code = 1
        faulthandler.dump_traceback_later(50, exit=True)   # (where it hangs, if it does)
        try:
            child()
            code = 0
        except BaseException as exc:
            print(f"child ({what}): {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            errors.append(AssertionError(f"a child forked {what} hung"))
            return
        time.sleep(0.005)
    if os.waitstatus_to_exitcode(status) != 0:
        errors.append(AssertionError(f"a child forked {what} failed "
                                     f"(exit {os.waitstatus_to_exitcode(status)})"))


def _main_fork(seconds):
    """Fork children while two threads run split products and a third resizes
    the pool.  Each child must find NumPy's BLAS threads as the user set
    them (the parent's pool held them at the fork) and compute every case
    right on a pool of its own (the parent's workers did not come along).
    First, a fork while another thread compiles a kernel: the child must
    compile too (Numba's compiler lock was held by a thread it lacks)."""
    import random
    import threading
    import time

    import numpy as np
    user_blas = _blas_threads()      # (the user's, before Ember is imported)
    import numba
    import ember

    ember.set_num_threads(2)
    cases = _cases(np, ember)
    for name, fn, want in cases:   # (lazy imports and compiles done before any thread runs)
        _check(np, name, fn(), want)
    errors = []

    def child_cases(blas):
        got = _blas_threads()
        if got != blas:
            raise AssertionError(f"NumPy's BLAS threads in the child: {got}, the user's: {blas}")
        ember.set_num_threads(2)
        for name, fn, want in cases:
            _check(np, name, fn(), want)

    # -- a fork in the middle of another thread's compile
    def fresh_function():
        @numba.njit(cache=False)
        def f(x):
            return x.sum() + 1      # (a function new to this process: it compiles)
        return f

    started = threading.Event()

    def compile_one():
        started.set()
        fresh_function()(np.ones(3))
    compiling = threading.Thread(target=compile_one)
    compiling.start()
    started.wait()
    time.sleep(0.02)                 # (inside the compile, which takes ~0.1-0.5 s)

    def child_compiles():
        assert fresh_function()(np.ones(2)) == 3.0
        child_cases(user_blas)
    _fork_and_wait(child_compiles, errors, "during a compile")
    compiling.join()

    # -- a fork right after a split product, while the pool holds NumPy's BLAS threads
    for name, fn, want in cases[:3]:
        fn()
        _fork_and_wait(lambda: child_cases(user_blas), errors, "while the pool holds BLAS")

    # -- forks while other threads run kernels on the pool and resize it.
    # (Their products stay in this thread, before each fork: OpenBLAS itself
    # is not fork-safe while another thread is inside it -- plain NumPy's
    # child hangs the same way -- and an unsplit product runs there.)
    kernels = [c for c in cases if "matmul" not in c[0] and c[0] != "linear"]
    products = [c for c in cases if c not in kernels]
    stop = time.monotonic() + seconds

    def compute(seed):
        rnd = random.Random(seed)
        try:
            while time.monotonic() < stop and not errors:
                name, fn, want = rnd.choice(kernels)
                _check(np, name, fn(), want)
        except BaseException as exc:
            errors.append(exc)

    def resize():
        rnd = random.Random(7)
        while time.monotonic() < stop and not errors:
            ember.set_num_threads(rnd.choice((1, 2, 3)))
            time.sleep(rnd.random() * 2e-3)

    threads = [threading.Thread(target=compute, args=(s,)) for s in range(2)]
    threads.append(threading.Thread(target=resize))
    for t in threads:
        t.start()
    children, rnd = 0, random.Random(3)
    while time.monotonic() < stop and not errors:
        name, fn, want = rnd.choice(products)
        _check(np, name, fn(), want)
        time.sleep(rnd.random() * 0.01)
        _fork_and_wait(lambda: child_cases(user_blas), errors, "while the pool runs")
        children += 1
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    print("ok", children)


def _main_stale(_):
    """A split planned for 4 threads, run after a resize to 2."""
    import numpy as np
    import ember
    from ember.backends.cpu import _pool

    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 256)).astype(np.float32)
    ab = rng.standard_normal((4, 3, 64, 96)).astype(np.float32)
    bb = rng.standard_normal((4, 3, 96, 80)).astype(np.float32)
    for _ in range(20):
        ember.set_num_threads(4)
        ember.set_num_threads(2)          # (after the caller counted 4)
        _check(np, "matmul", _pool._matmul2d(a, b, None, 4), a @ b)
        ember.set_num_threads(4)
        ember.set_num_threads(2)
        _check(np, "batched matmul", _pool._matmul_batched(ab, bb, None, 4), ab @ bb)

    class ResizeWhileCounting(int):
        """A grain whose division (parallel_for counting its ranges, after it
        read the thread count) resizes the pool from 4 threads to 2."""
        def __rfloordiv__(self, n):
            ember.set_num_threads(2)
            return int(n) // int(self)

    out = np.zeros(1 << 16)
    for _ in range(20):
        ember.set_num_threads(4)
        out[:] = 0

        def fill(lo, hi):
            out[lo:hi] += 1
        _pool.parallel_for(fill, out.size, grain=ResizeWhileCounting(1 << 10))
        _check(np, "parallel_for", out, np.ones_like(out))
    print("ok")


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)   # (fork with threads running)
    sys.setswitchinterval(1e-5)    # switch threads ~500x as often as Python does: more interleavings
    {"threads": _main_threads, "fork": _main_fork, "stale": _main_stale}[sys.argv[1]](float(sys.argv[2]))
