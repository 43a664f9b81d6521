"""Intra-op threads: run one kernel over parts of its arrays at once.

A NumPy ufunc runs on one core.  torch splits every large elementwise op
and every GEMM across its intra-op threads, one pool for both.  Ember does
the same: the kernel is written as ``kernel(lo, hi)`` over a range of rows
(or flat elements, or matrices of a batch), and ``parallel_for`` hands each
thread one contiguous range.  NumPy and the compiled kernels release the GIL
inside their loops, so the ranges really run together.  ``matmul`` is
NumPy's, split that way.

One pool for both matters.  NumPy's OpenBLAS keeps its own worker spinning
for ~0.1 s after each GEMM, so next to it a second pool never finds the
second core free (Ember's parallel GELU ran no faster than a serial one).
So while Ember's parallel ops run, Ember holds NumPy's OpenBLAS at one
thread and splits large GEMMs itself: each thread multiplies its own rows
(or columns, or batch entries) with a one-thread GEMM, which the workers
call from compiled code, without the GIL.  The threads are taken at the
first parallel op and given back when the workers go to sleep, ~7 ms after
the last one, so the user's own NumPy products after training run as they
did before Ember was imported.  This needs the compiled kernels (Numba);
without them, or with ``EMBER_BLAS_THREADS=1``, NumPy's BLAS keeps its
threads and the pool is not used.

The pool is tiny on purpose: ``get_num_threads() - 1`` daemon workers; the
calling thread does the first range itself, then the ranges no worker has
claimed yet: a worker without a core now (another
process, OpenMP threads still spinning) never makes it wait (see ``_Pool``).  A worker that finishes a job
keeps watching for the next one for ~7 ms, spinning without the GIL (a
sleeping thread takes 20-70 us to wake on a VM, a spinning one ~1 us), then
sleeps on an Event.  Work is split only when each thread gets at least
``grain`` units, so small tensors never pay the hand-off.  Nested calls,
and calls from a second user thread while another uses the pool, simply
run on the calling thread; a forked child (a DataLoader worker) starts a
pool of its own.

Thread safety.  One thread at a time splits work over the pool: it holds
``_lock`` from taking the pool to collecting the last range.  Only that
thread ever replaces the pool (``_enter`` makes it for the current
``get_num_threads()``), and it cuts its work into at most as many ranges
as the pool it holds has threads: a ``set_num_threads`` from another thread
never changes a pool under a running split, and a split planned with an
older count is clamped to the pool it runs on.  NumPy's BLAS thread count
and what Ember remembers of it change together under ``_blas_lock``.
A ``fork`` waits for a split running in another thread to end; the child
forgets the parent's workers and locks (they did not come with it) and
gets NumPy's BLAS threads back if the parent's pool held them.

``set_num_threads``/``get_num_threads`` are torch's: the default is the
number of CPUs this process may run on, or ``OMP_NUM_THREADS`` when set.
"""
import ctypes
import glob
import os
import threading

import numpy as np

from . import _jit

__all__ = ["get_num_threads", "set_num_threads", "parallel_for", "parallel_rows", "matmul",
           "multiply"]

# How long a worker watches for its next job before it sleeps (7 ms: longer
# than the gaps between the GEMMs of a CNN step, where im2col and pooling run
# on one thread), and one round of the caller's wait in turns of the wait
# loop (25-50 ns each).
_WORKER_IDLE_NS = 7_000_000
_CALLER_TURNS = 1 << 14
# How long a worker handed a Python job waits before asking for the GIL, so
# that the caller has entered its own range (releasing the GIL) by then: the
# caller's few microseconds of Python before its compiled loop.  Asking
# earlier would put the worker to sleep on the GIL (20-70 us to wake on a
# VM); until now the wait was 200 turns of the yielding wait loop, 12-19 us
# measured on the 2-core VM, and a split with a no-op kernel took 28 us from
# post to collection against 14 us with this timed wait (bench: the caller
# waits out the worker's late start at the end of every split).
_GIL_WAIT_NS = 5000


def _default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (not on Linux)
        return max(1, os.cpu_count() or 1)


def _compiled():
    """The compiled kernels (the wait loop, the worker loop), or None without
    Numba or with ``EMBER_JIT=0``.  (``_jit.set_enabled``, the tests' switch
    between the compiled and NumPy paths of the ops, leaves the pool as it is.)"""
    if os.environ.get("EMBER_JIT", "1") == "0" or not _jit.available():
        return None
    old = _jit.set_enabled(True)
    try:
        return _jit.kernels()
    finally:
        _jit.set_enabled(old)


def _libc_address(name):
    """The address of the C library's function ``name``, or 0."""
    try:
        return ctypes.cast(getattr(ctypes.CDLL(None), name), ctypes.c_void_p).value or 0
    except (OSError, AttributeError, TypeError):   # (no such C library: Windows)
        return 0


class _Pool:
    """Worker threads, each running one job at a time: a GEMM, which a worker
    runs without the GIL inside its compiled loop (``_kernels.serve``), or a
    Python ``kernel(lo, hi)``.

    ``flags`` holds, for worker w of n: [2w] the number of the last job
    posted to it, [2w + 1] the last finished, [2n + w] 1 while it sleeps,
    [3n + w] the last claimed; [4n] the tests' hook (``hold_workers``);
    [4n + 1] how many jobs the calling thread ran in a worker's place; its
    last two entries are the addresses of clock_gettime and sched_yield
    (see ``spin_past`` and ``spin_until``).  A job runs on whichever thread
    claims it first (an atomic swap of its number): its worker, or the
    calling thread, which runs every job no worker has claimed once its own
    range is done rather than wait for a worker that has no core now.
    Job j is described in ``native[w + 1]`` (kind 1: a GEMM; 2: a slice of
    a transposed Linear, ``_numba.linear_t_run``; 3: a range of the fused
    GELU, ``_numba.gelu_run``; 4: a call of the compiled function at its
    job[3], a range of a one-pass kernel or of batch norm's channels,
    ``_numba._pass_job``, or of attention's (batch, head) pairs,
    ``_numba.attention_run``; 0: the Python job in ``jobs[w]``) and posted
    by writing j to flags[2w] (``native[0]`` is the calling thread's own
    job).  A worker watches flags[2w] for ~7 ms
    after each job, then sleeps on its Event; the caller sets the Event only
    for a worker that says it sleeps.  ``k`` is the compiled-kernel module:
    the pool exists only where Ember runs NumPy's BLAS threads, which needs it.
    """

    def __init__(self, n_workers, k):
        self.threads = n_workers + 1     # (the calling thread runs a range too)
        self.flags = np.zeros(4 * n_workers + 4, np.int64)   # (layout: see above)
        self.flags[-2] = _libc_address("clock_gettime")
        self.flags[-1] = _libc_address("sched_yield")
        self.native = np.zeros((n_workers + 1, JOB_FIELDS), np.int64)
        self.jobs = [None] * n_workers
        self.errors = [None] * n_workers
        self.wake = [threading.Event() for _ in range(n_workers)]
        self.closed = False
        self.k = k
        for w in range(n_workers):
            threading.Thread(target=self._serve, args=(w,), daemon=True,
                             name="ember-intraop").start()

    def _serve(self, w):
        _local.busy = True    # a kernel that calls parallel_for again runs serially
        seen, k, n = 0, self.k, len(self.jobs)
        finished = 0
        while True:
            seen, python = k.serve(self.flags, self.native, w, seen, _WORKER_IDLE_NS, finished,
                                   _GIL_WAIT_NS)
            finished = 0
            if not python:       # no job for ~7 ms: sleep until one comes
                k.post(self.flags, 2 * n + w, 1)
                _give_back_blas()    # Ember is idle: NumPy's BLAS gets its threads back
                while self.flags[2 * w] <= seen:
                    if not self.wake[w].wait(0.1):
                        _give_back_blas()  # (an unsplit Ember GEMM may have taken them since)
                    self.wake[w].clear()   # (the flag is checked again after the clear)
                k.post(self.flags, 2 * n + w, 0)
                continue
            if self.closed:   # the pool was replaced (set_num_threads)
                return
            kernel, lo, hi = self.jobs[w]
            self.jobs[w] = None
            try:
                kernel(lo, hi)
            except BaseException as exc:  # re-raised on the calling thread
                self.errors[w] = exc
            finished = seen      # (marked done by k.serve, without the GIL)

    def hold_workers(self, on):
        """Tests' hook: while ``on``, the workers claim no job (they spin as
        if they had no core), so the calling thread runs every job itself."""
        self.flags[4 * len(self.jobs)] = 1 if on else 0

    def close(self):
        """Let the workers end (the caller holds ``_lock``: no job is running)."""
        self.closed = True
        for w in range(len(self.jobs)):
            self.native[w + 1, 0] = 0
            self.flags[2 * w] += 1
            self.wake[w].set()

    def run(self, kernel, bounds):
        """``kernel`` over ``bounds[i]:bounds[i+1]``; range 0 on this thread."""
        used = len(bounds) - 2
        if used >= self.threads:
            raise RuntimeError(f"ember: {used + 1} ranges for a pool of {self.threads} threads")
        post = self.k.post_python
        wants = []
        for w in range(used):
            self.jobs[w] = (kernel, bounds[w + 1], bounds[w + 2])
            job = post(self.flags, self.native, w)
            if job < 0:
                self.wake[w].set()
                job = -job
            wants.append(job)
        error = None
        try:
            kernel(bounds[0], bounds[1])
        except BaseException as exc:
            error = exc
        # then the ranges no worker has started (see gemm_finish)
        steal, flags = self.k.steal, self.flags
        for w in range(used):
            if steal(flags, w, wants[w]):
                self.jobs[w] = None
                try:
                    kernel(bounds[w + 1], bounds[w + 2])
                except BaseException as exc:
                    error = error or exc
                self.k.post(flags, 2 * w + 1, wants[w])
        # always collect every worker before returning
        spin = self.k.spin_until
        for w in range(used):
            while not spin(flags, 2 * w + 1, wants[w], _CALLER_TURNS):
                pass
            if self.errors[w] is not None:
                error = error or self.errors[w]
                self.errors[w] = None
        if error is not None:
            raise error

    def gemm(self, a, b, out, parts):
        """out = a @ b (2-D, or 4-D: a batch of n1 x n2) as ``parts`` GEMM
        jobs, the first run here; False (nothing done) when BLAS can't take
        an operand as it is."""
        if parts > self.threads:
            raise RuntimeError(f"ember: {parts} GEMM jobs for a pool of {self.threads} threads")
        code, fn = _blas.gemm.get(a.dtype, (-1, 0))
        if fn == 0:
            return False
        run = self.k.gemm_run if a.ndim == 2 else self.k.gemm_run_batched
        return self.finish(run(a, b, out, fn, code, parts, self.native, self.flags), parts)

    def finish(self, asleep, parts):
        """After a ``_numba.*_run`` posted ``parts`` native jobs; ``asleep``
        is its answer: < 0 nothing was posted (False); 0 it ran them all;
        > 0 some worker was asleep, so it returned once they were posted: wake
        the sleeping ones among workers 0..parts-2, run job 0 here and wait
        for the rest."""
        if asleep < 0:
            return False
        if asleep:
            n = len(self.jobs)
            for w in range(parts - 1):
                if self.flags[2 * n + w]:
                    self.wake[w].set()
            self.k.gemm_finish(self.native, self.flags, parts)
        return True


_num_threads = _default_threads()
_pool = None
_lock = threading.Lock()        # held by the one thread splitting work over _pool
_blas_lock = threading.Lock()   # NumPy's BLAS thread count and _blas_given change under it
_local = threading.local()      # .busy: this thread runs a pool job, or holds the pool


def get_num_threads():
    """The number of threads used for intra-op parallelism (torch's name)."""
    return _num_threads


def set_num_threads(n):
    """Use ``n`` threads for Ember's parallel kernels (1 turns threading off).

    Safe from any thread at any time: a split already running finishes on
    the pool it started with; the next one makes the pool anew at ``n``."""
    global _num_threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, but got {n!r}")
    _num_threads = n
    if _lock.acquire(blocking=False):    # (the pool is idle: let its workers go now)
        try:
            if _pool is not None and _pool.threads != n:
                _retire_pool()
        finally:
            _lock.release()


def _retire_pool():
    """Close the pool (the caller holds ``_lock``) and give NumPy's BLAS
    threads back: its workers, which would have, are gone."""
    global _pool
    _pool.close()
    _pool = None
    _give_back_blas_locked()


def _enter(parts):
    """The pool, taken, when ``parts`` > 1 ranges may run at once here (not
    nested in a pool job, not while another thread uses the pool, and only
    where Ember can run NumPy's BLAS threads); else None: run serially.
    The pool may have fewer threads than ``parts`` (a ``set_num_threads``
    since the caller counted): the caller cuts at most ``pool.threads`` ranges."""
    global _pool
    if parts <= 1 or getattr(_local, "busy", False) or not _lock.acquire(blocking=False):
        return None
    try:
        n = _num_threads          # (read once: the pool is made for this count)
        if _pool is not None and _pool.threads != n:
            _retire_pool()
        # (_blas_given set: Ember holds NumPy's BLAS threads already, the
        # case of every split in a training step; else _own_blas takes them)
        if n < 2 or (_blas_given is None and not _own_blas()):
            _lock.release()
            return None
        if _pool is None:
            _pool = _Pool(n - 1, _compiled())
    except BaseException:
        _lock.release()
        raise
    _local.busy = True
    return _pool


def _leave():
    _local.busy = False
    _lock.release()


def _before_fork():
    """Wait for a split running in another thread: its workers may be inside
    OpenBLAS, whose locks a child would inherit held (and hang on)."""
    if not getattr(_local, "busy", False):    # (a fork from inside a pool job: no wait)
        _lock.acquire()
        _local.forking = True


def _after_fork_in_parent():
    if getattr(_local, "forking", False):
        _local.forking = False
        _lock.release()


def _after_fork_in_child():
    """Forget the parent's pool: its workers and whoever held its locks did
    not come along.  If the parent's pool held NumPy's BLAS threads, give
    them back here, where no worker will."""
    global _pool, _lock, _blas_lock, _local, _blas_given
    _pool = None
    _lock, _blas_lock, _local = threading.Lock(), threading.Lock(), threading.local()
    if _blas_given is not None:
        _blas.set_threads(_blas_given)
        _blas_given = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


class Partials:
    """The partial sums of a reduction split over the threads (e.g. a conv's
    weight gradient, one array per range), added up in the order of their
    ranges rather than the order the threads finish in: the same split gives
    the same bits every run, as torch's CPU reductions do.  ``add`` may be
    called from several threads at once (one dict store each)."""
    __slots__ = ("_by_start",)

    def __init__(self):
        self._by_start = {}

    def add(self, start, array):
        """Record the partial sum of the range that starts at ``start``."""
        self._by_start[start] = array

    def total(self):
        """The sum of the partials, in the ranges' order, into the first one."""
        starts = sorted(self._by_start)
        out = self._by_start[starts[0]]
        for s in starts[1:]:
            out += self._by_start[s]
        return out


def parallel_for(kernel, n, grain=1 << 15):
    """Call ``kernel(lo, hi)`` on contiguous ranges covering ``range(n)``.

    The ranges run on up to ``get_num_threads()`` threads, each given at
    least ``grain`` units; below that everything runs here, as one call.
    The kernel must only write to its own range of its outputs.
    """
    # (min/max and the list written out: this runs for every compiled pass,
    # ~80 times in a CNN's training step)
    k = n // grain if grain > 1 else n
    if k > _num_threads:
        k = _num_threads
    pool = _enter(k) if k > 1 else None
    if pool is None:
        kernel(0, n)
        return
    try:
        if k > pool.threads:      # (see _enter)
            k = pool.threads
        pool.run(kernel, (0, n // 2, n) if k == 2 else [n * i // k for i in range(k + 1)])
    finally:
        _leave()


def parallel_rows(kernel, rows, row_size):
    """``parallel_for`` over ``rows`` rows of ``row_size`` elements each, for a
    one-pass kernel: each thread gets at least ``ELEMENT_GRAIN`` elements."""
    if rows * row_size < 2 * ELEMENT_GRAIN:      # (the common small case, without the pool)
        kernel(0, rows)
        return
    parallel_for(kernel, rows, grain=max(1, -(-ELEMENT_GRAIN // max(row_size, 1))))


def multiply(a, b):
    """``a * b`` for two arrays of one shape and dtype, split over the threads
    when large; anything else is NumPy's ``a * b``."""
    if a.shape != b.shape or a.dtype != b.dtype or a.size < 2 * ELEMENT_GRAIN \
            or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return a * b
    return binary(np.multiply, a, b)


def binary(ufunc, a, b, out=None):
    """``ufunc(a, b)`` for two C-contiguous arrays of one shape and dtype,
    each thread computing its range of the flat elements (a float sum as
    native jobs, ``flat_pass``); into ``out`` (which may be ``a``) when given."""
    if out is None:
        out = np.empty(a.shape, a.dtype)
    fa, fb, fo = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    k = _jit.kernels() if ufunc is np.add and a.dtype.char in "fd" else None
    if k is not None and flat_pass(k._PASS_ADD, fa, fo, fb):
        return out
    parallel_for(lambda lo, hi: ufunc(fa[lo:hi], fb[lo:hi], out=fo[lo:hi]),
                 fa.size, grain=ELEMENT_GRAIN)
    return out


# Elements per thread below which a one-pass elementwise op stays on one thread.
ELEMENT_GRAIN = 1 << 16


# ---- NumPy's BLAS on these threads --------------------------------------------------

class _Blas:
    """NumPy's bundled OpenBLAS: its thread-count setter and, for the ILP64
    build NumPy ships (64-bit integers), the addresses of cblas_sgemm and
    cblas_dgemm, which the workers call without the GIL, and of OpenBLAS's
    cblas_somatcopy and cblas_domatcopy (a scaled, transposed copy)."""

    def __init__(self, set_threads, get_threads, gemm, omatcopy):
        self.set_threads, self.get_threads, self.gemm = set_threads, get_threads, gemm
        self.omatcopy = omatcopy


def _find_blas():
    """The ``_Blas`` of the OpenBLAS NumPy bundles, or None (another BLAS:
    MKL, Accelerate, a system OpenBLAS Ember can't tell apart)."""
    root = os.path.dirname(np.__file__)
    for d in (os.path.join(root, os.pardir, "numpy.libs"), os.path.join(root, ".dylibs"),
              os.path.join(root, ".libs")):
        for path in sorted(glob.glob(os.path.join(d, "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("scipy_", ""), ("", "")):
                setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if setter is None:
                    continue
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
                getter.argtypes, getter.restype = [], ctypes.c_int
                gemm, omatcopy = {}, {}
                if suffix:       # (ILP64: the integer width _kernels.gemm_job passes)
                    for code, ch in ((0, "s"), (1, "d")):
                        dtype = np.dtype(ch.replace("s", "f"))
                        fn = getattr(lib, f"{prefix}cblas_{ch}gemm{suffix}", None)
                        if fn is not None:
                            gemm[dtype] = (code, ctypes.cast(fn, ctypes.c_void_p).value)
                        fn = getattr(lib, f"{prefix}cblas_{ch}omatcopy{suffix}", None)
                        if fn is not None:
                            omatcopy[dtype] = ctypes.cast(fn, ctypes.c_void_p).value
                return _Blas(setter, getter, gemm, omatcopy)
    return None


_blas = 0             # the _Blas once looked up (None: not found, or EMBER_BLAS_THREADS=1)
_blas_given = None    # NumPy's BLAS thread count while Ember holds the threads, else None


def _blas_ready():
    """Whether Ember can run NumPy's BLAS threads (its OpenBLAS found, the
    compiled kernels on, ``EMBER_BLAS_THREADS`` not 1).  Takes nothing."""
    global _blas
    if _blas == 0:
        # (without the compiled kernels the workers could only sleep between
        # jobs, and a 20-70 us wake-up per GEMM costs more than OpenBLAS's
        # own threads: NumPy's BLAS is then left as it is)
        _blas = None
        if os.environ.get("EMBER_BLAS_THREADS", "") != "1" and _compiled() is not None:
            _blas = _find_blas()
    return _blas is not None


def _own_blas():
    """Take NumPy's OpenBLAS threads for Ember's pool (OpenBLAS at one thread,
    the user's count remembered); True when Ember runs the GEMM threads.

    Taken at the first parallel op, given back (``_give_back_blas``) when the
    pool's workers go to sleep, ~7 ms after Ember's last parallel op: the
    user's own NumPy products then run on all the threads they had."""
    global _blas_given
    if not _blas_ready():
        return False
    if _blas_given is None:
        with _blas_lock:     # (two threads taking them at once must not remember 1)
            if _blas_given is None:
                _blas_given = _blas.get_threads()
                _blas.set_threads(1)
    return True


def _give_back_blas():
    """Restore NumPy's BLAS thread count, unless an Ember op is using the pool
    now (it holds ``_lock``; the next ``_enter`` takes the threads again)."""
    if _blas_given is None or not _lock.acquire(blocking=False):
        return
    try:
        _give_back_blas_locked()
    finally:
        _lock.release()


def _give_back_blas_locked():
    """``_give_back_blas`` for a caller holding ``_lock``."""
    global _blas_given
    if _blas_given is not None:
        with _blas_lock:
            if _blas_given is not None:
                _blas.set_threads(_blas_given)
                _blas_given = None


def gemm_address(dtype):
    """The address of NumPy's cblas ?gemm for ``dtype`` (float32/float64) that
    compiled kernels may call without the GIL, or None: not found, or Ember
    does not run NumPy's BLAS threads (a GEMM there would start OpenBLAS's).
    Inside a pool job, OpenBLAS is at one thread (the pool took them)."""
    if not _blas_ready():
        return None
    return _blas.gemm.get(dtype, (0, None))[1]


def linear_t(x, w, b, parts):
    """``x @ w.T (+ b)`` for a 2-D x of a few dozen rows as the transposed
    product (``_numba.linear_t_run``), split into ``parts`` ranges of the
    outputs over the pool; None (nothing done) where that can't run: not
    Ember's OpenBLAS, or an operand BLAS can't read as it lies.  x, b (or
    None) C-contiguous, of w's dtype, float32/64, x.shape[1] >= 1.  float32
    products of 16 rows or more run on the register-blocked kernel where the
    CPU has the vectors for it (see ``_linear_blocks``), unless rounding the
    rows up to its 16-row blocks would waste more than a fifth of it: one
    EPYC core, 64 rows, (384, 128): 71.7 -> 61.0 us, (128, 512) 96.3 ->
    80.7; 16 rows 0.72-0.95x the time; 17 rows (computed as 32) 1.1-1.5x,
    24 rows 0.9-1.1x, so not there.  W's rows must be contiguous: the
    kernel reads them where they lie."""
    funcs = (_t_funcs if _t_funcs is not None else _linear_t_funcs()).get(x.dtype)
    if funcs is None:
        return None
    code, fn, om = funcs
    bias = _NO_BIAS[code] if b is None else b
    m, k = x.shape
    blocks = code == 0 and m >= 16 and 5 * (-m % 16) <= m + (-m % 16) \
        and w.strides[1] == 4 and (_blocks_ok if _blocks_ok is not None else _linear_blocks())
    pool = _enter(parts) if parts > 1 else None
    if pool is None:
        if _num_threads > 1 and _blas_given is None and _pool is not None:
            _own_blas()     # (as in matmul: OpenBLAS's threads stay off while Ember computes)
        y = np.empty((m, w.shape[0]), x.dtype)
        # (_jit._module: loaded, since the ?gemm was found through it)
        return y if _jit._module.linear_t_one(x, w, bias, y, fn, om, code, blocks) >= 0 else None
    n = w.shape[0]
    y = np.empty((m, n), x.dtype)
    try:
        parts = min(parts, pool.threads)      # (see _enter)
        if blocks:      # (x^T in whole blocks of 16 columns; y written directly)
            mp = -(-m // 16) * 16
            pad = np.zeros(parts * pool.k.linear_t_pad(n, k, True), np.float32)  # (one per job)
            xt, yt = np.empty((k, mp), x.dtype), np.empty((0, mp), x.dtype)
        else:           # (BLAS reads x itself; y^T, then y)
            pad, xt, yt = _NO_BIAS[0], _NO_X[code], np.empty((n, m), x.dtype)
        done = pool.finish(pool.k.linear_t_run(x, w, bias, xt, yt, pad, y, fn, om, code, blocks,
                                               parts, pool.native, pool.flags), parts)
    finally:
        _leave()
    return y if done else None


def linear_blocks(x, w, b, parts):
    """``x @ w.T (+ b)`` for a 2-D float32 x of many rows by the 8 x 32
    register blocks (``_numba.linear_blocks_run``): W packed once here as
    panels of W^T, then ``parts`` ranges of the rows over the pool (or all
    on this thread).  x, w, b (or None) C-contiguous float32, x.shape[1] >= 1."""
    kern = _jit.module()
    m, n = x.shape[0], w.shape[0]
    wp = np.empty((-(-n // 32), w.shape[1], 32), np.float32)
    kern.pack_panels(w, wp, True)
    bias = _NO_BIAS[0] if b is None else b
    y = np.empty((m, n), np.float32)
    if parts > 1 and run_native(kern.linear_blocks_run, parts, x, wp, bias, y):
        return y
    job = np.empty((1, JOB_FIELDS), np.int64)       # (this thread's: nothing shared)
    kern.linear_blocks_run(x, wp, bias, y, 1, job, job[0])
    return y


_blocks_ok = None


def _linear_blocks():
    """Whether float32 transposed Linears may run on the register-blocked
    kernel (``_numba._linear_t_blocks``): where the CPU has 512-bit vectors
    (``_jit.wide_vectors``), or 256-bit ones with FMA (``_jit.fma_vectors``:
    blocks of 6 rows, see ``_numba._linear_block_of``)."""
    global _blocks_ok
    if _blocks_ok is None:
        _blocks_ok = _jit.wide_vectors() or _jit.fma_vectors()
    return _blocks_ok


def gelu_forward(x, y, dy, parts):
    """``_numba.gelu_forward(x, y, dy)`` (flat C-contiguous float32 arrays; an
    empty dy: y only) split into ``parts`` ranges run as native jobs
    (``_numba.gelu_run``: the worker needs no GIL); False (nothing done) when
    the pool can't be had."""
    return run_native(_jit.module().gelu_run, parts, x, y, dy)


def run_native(run, parts, *args, answer=None):
    """``run(*args, parts, jobs, flags)``, a ``_numba.*_run`` that posts up to
    ``parts`` native jobs (a worker runs them without the GIL) and runs the
    first here; False (nothing done) when the pool can't be had.  With
    ``answer``: ``answer(jobs, parts)`` once they are done (what the jobs
    left in their rows, read before another split may reuse them), or None
    when nothing was done."""
    pool = _enter(parts)
    if pool is None:
        return False if answer is None else None
    try:
        parts = min(parts, pool.threads)      # (see _enter)
        done = pool.finish(run(*args, parts, pool.native, pool.flags), parts)
        if answer is None:
            return done
        return answer(pool.native, parts) if done else None
    finally:
        _leave()


def flat_parts(n):
    """How many threads a one-pass kernel over ``n`` elements is split over
    (each gets at least ``ELEMENT_GRAIN``); 1: stay on this thread."""
    return min(_num_threads, n // ELEMENT_GRAIN)


def flat_pass(op, a, out, b=None):
    """The compiled one-pass kernel ``op`` (``_numba._PASS_RELU``,
    ``_PASS_RELU_BACKWARD``, ``_PASS_ADD``; see ``_numba.flat_pass_run``)
    over flat C-contiguous float32/64 arrays, split over the threads as
    native jobs; False (nothing done) when it stays on one thread."""
    parts = flat_parts(a.size)
    if parts < 2:
        return False
    k = _jit.module()
    return run_native(k.flat_pass_run, parts, k.pass_address(), op, a, out, a if b is None else b)


def attention_forward(args, parts):
    """``_numba.attention_forward`` over all the (batch, head) pairs, split
    into ``parts`` ranges run as native jobs (``_numba.attention_run(*args,
    parts, ...)``, ``args`` = (q, k, v, s, out, rows, width, bias, scale, fn,
    entry)); False (nothing done) when the pool can't be had."""
    return run_native(_jit.module().attention_run, parts, *args)


def _linear_t_funcs():
    """{dtype: (code, ?gemm, ?omatcopy)} for ``linear_t``, looked up once
    (empty where Ember does not run NumPy's OpenBLAS)."""
    global _t_funcs
    funcs = {}
    if _blas_ready():
        for dtype, (code, fn) in _blas.gemm.items():
            if _blas.omatcopy.get(dtype):
                funcs[dtype] = (code, fn, _blas.omatcopy[dtype])
    _t_funcs = funcs
    return funcs


# Fields of a native job (see _numba.gemm_job; the most, 36, an attention
# job's: _numba.ATTENTION_FIELDS); the empty bias and x^T scratch of
# linear_t by dtype; linear_t's functions by dtype (None: not looked up yet).
JOB_FIELDS = 40
_NO_BIAS = (np.empty(0, np.float32), np.empty(0, np.float64))
_NO_X = (np.empty((0, 0), np.float32), np.empty((0, 0), np.float64))
_t_funcs = None


def blas_threads():
    """Whether Ember runs NumPy's GEMMs on its own threads (see the module doc)."""
    return _blas_ready()


# Multiply-adds per thread below which a GEMM stays on one thread: ~6 us of
# work, well above the 1-3 us a hand-off to a spinning worker costs.
_GEMM_GRAIN = 1 << 18
_nd = np.ndarray
_BLAS_TYPES = frozenset("fdFD")


def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)`` for arrays, split over the intra-op threads
    when Ember runs NumPy's BLAS threads and the product is large: by rows of
    a 2-D product (by columns when it has few rows, or fewer rows than
    columns), by the leading axis of a batched one.  (Anything else,
    Tensors included, is ``a @ b``.)"""
    if type(a) is _nd and type(b) is _nd:
        if _num_threads > 1:
            if _blas_given is None and _pool is not None:
                # Ember is computing again: hold OpenBLAS at one thread for its
                # unsplit products too, or its own threads wake up and spin
                # beside the pool's (the sleeping workers give them back).
                _own_blas()
            sa, sb = a.shape, b.shape
            if len(sa) == len(sb) == 2:
                m, k = sa
                work = m * k * sb[1]
                if work >= 2 * _GEMM_GRAIN and sb[0] == k and _blas_pair(a, b, out):
                    return _matmul2d(a, b, out, min(_num_threads, work // _GEMM_GRAIN))
            elif len(sa) == len(sb) > 2 and sa[:-2] == sb[:-2] and sb[-2] == sa[-1] \
                    and _blas_pair(a, b, out):
                parts = min(_num_threads, a.size * sb[-1] // _GEMM_GRAIN)
                if parts > 1:
                    return _matmul_batched(a, b, out, parts)
    elif not (isinstance(a, _nd) and isinstance(b, _nd)):
        return a @ b if out is None else np.matmul(a, b, out=out)
    return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)


def _blas_pair(a, b, out):
    """Whether a @ b (into ``out``) is one BLAS GEMM type throughout, with an
    ``out`` apart from both operands (NumPy copies an overlapping one first;
    the threads would read what they write)."""
    return a.dtype == b.dtype and a.dtype.char in _BLAS_TYPES \
        and (out is None or (out.dtype == a.dtype and not np.may_share_memory(out, a)
                             and not np.may_share_memory(out, b)))


def _matmul_batched(a, b, out, parts):
    """A batched product (equal batch dims) over the threads: as GEMM jobs
    over ranges of the batch when it has at most two batch dims, else as
    NumPy products over ranges of the leading axis."""
    sa, sb = a.shape, b.shape
    pool = _enter(parts)
    if pool is None:
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    try:
        parts = min(parts, pool.threads)      # (see _enter)
        if out is None:
            out = np.empty(sa[:-1] + sb[-1:], a.dtype)
        if len(sa) > 4 or not (
                pool.gemm(*(x.reshape((1,) + x.shape) if x.ndim == 3 else x
                            for x in (a, b, out)), parts)):
            lead = sa[0]
            n = min(parts, lead)
            if n > 1:
                def batch(lo, hi):
                    np.matmul(a[lo:hi], b[lo:hi], out=out[lo:hi])
                pool.run(batch, [lead * i // n for i in range(n + 1)])
            else:
                np.matmul(a, b, out=out)
    finally:
        _leave()
    return out


def _matmul2d(a, b, out, parts):
    pool = _enter(parts)
    if pool is None:
        return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
    try:
        parts = min(parts, pool.threads)      # (see _enter)
        if out is None:
            out = np.empty((a.shape[0], b.shape[1]), a.dtype)
        if not pool.gemm(a, b, out, parts):
            m, n = out.shape
            if m >= 16 * parts and m >= n:      # (the split of _numba.gemm_run)
                def rows(lo, hi):
                    np.matmul(a[lo:hi], b, out=out[lo:hi])
                pool.run(rows, [m * i // parts for i in range(parts + 1)])
            else:
                def cols(lo, hi):
                    np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
                pool.run(cols, [n * i // parts for i in range(parts + 1)])
    finally:
        _leave()
    return out
