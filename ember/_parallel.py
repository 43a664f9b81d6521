"""Intra-op threads: run one NumPy kernel over parts of its arrays at once.

A NumPy ufunc runs on one core.  torch splits every large elementwise op
across its intra-op threads.  Ember does the same for the few fused kernels
that make many passes over a large array (GELU, layer norm, softmax, ...):
the kernel is written as ``kernel(lo, hi)`` over a range of rows (or flat
elements), and ``parallel_for`` hands each thread one contiguous range.
NumPy releases the GIL inside its loops, so the ranges really run together.

The pool is tiny on purpose: ``get_num_threads() - 1`` daemon workers, each
waiting on its own queue; the calling thread does the first range itself.
It is used only when each thread gets at least ``grain`` units of work, so
small tensors never pay the ~20 us hand-off.  Nested calls, calls from
several user threads at once and calls in a forked child (DataLoader
workers) simply run on the calling thread.

``set_num_threads``/``get_num_threads`` are torch's: the default is the
number of CPUs this process may run on, or ``OMP_NUM_THREADS`` when set.
"""
import os
import queue
import threading

__all__ = ["get_num_threads", "set_num_threads", "parallel_for"]


def _default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (not on Linux)
        return max(1, os.cpu_count() or 1)


class _Pool:
    def __init__(self, n_workers):
        self.inbox = [queue.SimpleQueue() for _ in range(n_workers)]
        self.done = queue.SimpleQueue()
        for q in self.inbox:
            threading.Thread(target=self._serve, args=(q,), daemon=True,
                             name="ember-intraop").start()

    def _serve(self, inbox):
        _local.busy = True    # a kernel that calls parallel_for again runs serially
        while True:
            job = inbox.get()
            if job is None:       # the pool was replaced (set_num_threads)
                return
            kernel, lo, hi = job
            try:
                kernel(lo, hi)
                self.done.put(None)
            except BaseException as exc:  # re-raised on the calling thread
                self.done.put(exc)

    def close(self):
        for q in self.inbox:
            q.put(None)

    def run(self, kernel, bounds):
        """``kernel`` over ``bounds[i]:bounds[i+1]``; range 0 on this thread."""
        used = self.inbox[:len(bounds) - 2]
        for i, q in enumerate(used):
            q.put((kernel, bounds[i + 1], bounds[i + 2]))
        error = None
        try:
            kernel(bounds[0], bounds[1])
        except BaseException as exc:
            error = exc
        for _ in used:          # always collect every worker before returning
            exc = self.done.get()
            error = error or exc
        if error is not None:
            raise error


_num_threads = _default_threads()
_pool = None
_lock = threading.Lock()
_local = threading.local()


def get_num_threads():
    """The number of threads used for intra-op parallelism (torch's name)."""
    return _num_threads


def set_num_threads(n):
    """Use ``n`` threads for Ember's parallel kernels (1 turns threading off)."""
    global _num_threads, _pool
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, but got {n!r}")
    with _lock:
        _num_threads = n
        if _pool is not None:
            _pool.close()
            _pool = None      # made again, at the new size, on first use


def _after_fork():
    global _pool, _lock
    _pool = None              # threads do not survive fork
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def parallel_for(kernel, n, grain=1 << 15):
    """Call ``kernel(lo, hi)`` on contiguous ranges covering ``range(n)``.

    The ranges run on up to ``get_num_threads()`` threads, each given at
    least ``grain`` units; below that everything runs here, as one call.
    The kernel must only write to its own range of its outputs.
    """
    global _pool
    k = min(_num_threads, n // max(grain, 1))
    if k <= 1 or getattr(_local, "busy", False) or not _lock.acquire(blocking=False):
        kernel(0, n)
        return
    try:
        _local.busy = True
        if _pool is None:
            _pool = _Pool(_num_threads - 1)
        _pool.run(kernel, [n * i // k for i in range(k + 1)])
    finally:
        _local.busy = False
        _lock.release()
