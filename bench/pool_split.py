"""Microseconds per split of the intra-op pool, with the second core free and
with it busy (a busy-loop process pinned to it).

    python bench/pool_split.py [--tree DIR] [--reps 2000] [--rounds 5]

Cases (each timed at 1 thread and at 2 threads in the same process):
  python no-op   ``parallel_for`` of an empty Python kernel over 2 ranges
  native no-op   a kind-4 flat pass over 64 elements cut into 2 jobs
  sdpa b1        causal SDPA of the small GPT at batch 1 (1, 4, 64, 32),
                 split over the (batch, head) pairs as kind-4 jobs
Each round times a block of ``reps`` calls of every case and mode in turn;
the columns are the fastest, the first quartile and the median of the
rounds' per-call means.  With
``--busy`` a child process spins on the last CPU of this process's affinity
for the whole run, so the worker thread competes for that core: the case a
split must survive (another process, torch's OpenMP threads still spinning,
another user).  Wall time on a shared machine is noisy: compare rows of one
run, and rerun.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cases():
    import numpy as np
    import ember
    from ember.backends.cpu import _jit, _pool
    import ember.nn.functional as F

    k = _jit.module()
    a = np.ones(64, np.float32)
    out = np.empty_like(a)

    def native_noop():
        _pool.run_native(k.flat_pass_run, 2, k.pass_address(), k._PASS_RELU, a, out, a)

    def noop(lo, hi):
        pass

    def python_noop():
        _pool.parallel_for(noop, 2, grain=1)

    ember.manual_seed(0)
    q, kk, v = (ember.randn(1, 4, 64, 32) for _ in range(3))

    def sdpa():
        F.scaled_dot_product_attention(q, kk, v, is_causal=True)

    return {"python no-op": python_noop, "native no-op": native_noop, "sdpa b1": sdpa}


def child(reps, rounds):
    import ember
    from ember.backends.cpu import _pool
    cases = _cases()
    # "2t held": two threads with the worker kept from claiming (the hook of
    # trees that have it): the caller runs every job, the worst case
    modes = ["1t", "2t"] + (["2t held"] if hasattr(_pool._Pool, "hold_workers") else [])
    times = {(name, m): [] for name in cases for m in modes}
    for _ in range(rounds):      # (the modes alternate round by round)
        for name, fn in cases.items():
            for m in modes:
                ember.set_num_threads(1 if m == "1t" else 2)
                fn()
                if _pool._pool is not None and "2t" in m and hasattr(_pool._pool, "hold_workers"):
                    _pool._pool.hold_workers(m == "2t held")
                for _ in range(20):
                    fn()
                t0 = time.perf_counter_ns()
                for _ in range(reps):
                    fn()
                times[name, m].append((time.perf_counter_ns() - t0) / reps / 1000)
                if _pool._pool is not None and hasattr(_pool._pool, "hold_workers"):
                    _pool._pool.hold_workers(False)
    for (name, m), t in times.items():
        t = sorted(t)
        print(f"{name:14s} {m:8s} min {t[0]:8.2f}  p25 {t[len(t) // 4]:8.2f}  "
              f"median {statistics.median(t):8.2f} us")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tree", default=ROOT)
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--busy", action="store_true", help="spin a process on the last CPU")
    p.add_argument("--child", action="store_true")
    args = p.parse_args()
    if args.child:
        child(args.reps, args.rounds)
        return
    env = dict(os.environ, PYTHONPATH=args.tree, OMP_NUM_THREADS="2",
               OPENBLAS_NUM_THREADS="1")
    busy = None
    if args.busy:
        cpu = max(os.sched_getaffinity(0))
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--reps",
                        str(args.reps), "--rounds", str(args.rounds)], env=env, check=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


if __name__ == "__main__":
    main()
