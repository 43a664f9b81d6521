"""Where a workload's step runs: the calling thread's CPU time inside the
intra-op pool's splits and outside them (the serial part), and the workers'.

    OMP_NUM_THREADS=2 python bench/serial.py [workload] [--steps 40] [--tree DIR]

CPU time, not wall time: it is steady on a loaded machine.  The calling
thread's time is ``time.thread_time``; the part inside the splits is summed
around the pool's ``run``, ``gemm`` and ``run_native`` (the calling thread's
own range plus its wait for the workers) and around ``linear_t`` when it
splits (a few-row Linear enters the pool itself); the workers' time comes
from /proc/self/task/<tid>/stat (Linux; clock ticks, so use enough steps).
Workers spin ~7 ms after each job before sleeping, so their time includes
that wait.  Run it on two trees (``--tree``) to compare a change.
"""
import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _tasks_cpu():
    """CPU seconds of each thread of this process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:      # (a thread that ended meanwhile)
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick    # utime + stime
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workload", nargs="?", default="resnet")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--tree", default=os.path.dirname(HERE), help="the Ember source tree to import")
    args = ap.parse_args()
    sys.path.insert(0, args.tree)
    sys.path.insert(1, HERE)
    import ember
    import workloads
    from ember.backends.cpu import _pool

    inside = [0.0]
    caller = threading.main_thread()

    def timed(fn):
        def wrapper(*a, **k):
            t0 = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                if threading.current_thread() is caller:
                    inside[0] += time.thread_time() - t0
        return wrapper
    _pool._Pool.run = timed(_pool._Pool.run)
    _pool._Pool.gemm = timed(_pool._Pool.gemm)
    if hasattr(_pool, "run_native"):     # (the native jobs' splits: passes, batch norm)
        _pool.run_native = timed(_pool.run_native)
    if hasattr(_pool, "linear_t"):       # (few-row Linears enter the pool themselves)
        plain, split = _pool.linear_t, timed(_pool.linear_t)
        _pool.linear_t = lambda x, w, b, parts: (split if parts > 1 else plain)(x, w, b, parts)

    ember.manual_seed(0)
    step = workloads.WORKLOADS[args.workload][0](ember)
    for _ in range(5):
        step()
    n = args.steps

    def jobs():
        """(jobs posted to the workers, of them run by the calling thread
        itself: trees where it takes the jobs no worker has claimed)."""
        pool = _pool._pool
        if pool is None:
            return 0, 0
        w = len(pool.jobs)
        took = int(pool.flags[4 * w + 1]) if pool.flags.shape[0] == 4 * w + 4 else 0
        return int(pool.flags[0:2 * w:2].sum()), took

    posted0, took0 = jobs()
    before, inside[0] = _tasks_cpu(), 0.0
    m0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(n):
        step()
    m1, w1, after = time.thread_time(), time.perf_counter(), _tasks_cpu()
    me = caller.native_id
    workers = sum(t - before.get(tid, 0.0) for tid, t in after.items() if tid != me)
    total, split = (m1 - m0) * 1e3 / n, inside[0] * 1e3 / n
    print(f"{args.workload} at {ember.get_num_threads()} threads, ms per step: wall "
          f"{(w1 - w0) * 1e3 / n:.1f}; calling thread CPU {total:.1f} = {split:.1f} in splits "
          f"+ {total - split:.1f} serial; workers CPU {workers * 1e3 / n:.1f}")
    posted1, took1 = jobs()
    print(f"jobs posted to workers per step {(posted1 - posted0) / n:.1f}, of them run by the "
          f"calling thread {(took1 - took0) / n:.1f}")


if __name__ == "__main__":
    main()
