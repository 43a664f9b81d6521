"""GFLOP/s of the small GPT's matrix products at N threads: Ember's split GEMM,
NumPy's OpenBLAS at N and at 1 thread, and torch at N threads.

    python bench/gemm_threads.py [--threads 2] [--rounds 3]

The shapes are those of bench/workloads.py's ``gpt`` step (1024 rows, width
128: Linear forward x @ W.T "NT", its input gradient dY @ W "NN" and weight
gradient dY^T @ X "TN") and of ``gpt_infer_b1`` (64 rows).  Each engine runs
in its own process, the engines alternating round by round; a time is the
fastest block of calls over all rounds (the load of a shared machine only
ever slows a block down).  Compare "ember" with "numpy 1t" (one OpenBLAS
thread, the rate of each of Ember's parts): a ratio near 1/threads means
the split ran in parallel, near 1 or above that it ran serially.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINES = ("ember", "numpy", "numpy 1t", "torch")


def shapes():
    """(name, a shape, b shape, a transposed?, b transposed?) of each product."""
    out = []
    for n, k in ((384, 128), (128, 128), (512, 128), (128, 512), (65, 128)):
        out.append((f"fwd NT 1024x{k}->{n}", (1024, k), (n, k), False, True))
        out.append((f"dX  NN 1024x{n}@{n}x{k}", (1024, n), (n, k), False, False))
        out.append((f"dW  TN {n}x1024@1024x{k}", (1024, n), (1024, k), True, False))
    for n, k in ((384, 128), (128, 128), (512, 128), (128, 512)):
        out.append((f"inf NT 64x{k}->{n}", (64, k), (n, k), False, True))
    return out


def child(engine, threads):
    """Time every shape with ``engine``; print one line of microseconds."""
    import numpy as np
    rng = np.random.default_rng(0)
    ops = []
    for _, sa, sb, ta, tb in shapes():
        a = rng.standard_normal(sa).astype(np.float32)
        b = rng.standard_normal(sb).astype(np.float32)
        ops.append((a.T if ta else a, b.T if tb else b))
    if engine.startswith("ember"):
        import ember
        from ember.backends.cpu import _pool
        ember.set_num_threads(threads)
        f = _pool.matmul
    elif engine.startswith("numpy"):
        from threadpoolctl import threadpool_limits
        threadpool_limits(1 if engine == "numpy 1t" else threads, "blas")
        f = np.matmul
    else:
        import torch
        torch.set_num_threads(threads)
        ops = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in ops]
        f = torch.matmul
    times = []
    for a, b in ops:
        for _ in range(10):
            f(a, b)
        best = float("inf")
        for _ in range(10):
            t0 = time.perf_counter()
            for _ in range(20):
                f(a, b)
            best = min(best, (time.perf_counter() - t0) / 20)
        times.append(best * 1e6)
    print(" ".join(f"{t:.2f}" for t in times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.threads)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    best = {e: None for e in ENGINES}
    for _ in range(args.rounds):
        for e in ENGINES:
            line = subprocess.run([sys.executable, __file__, "--child", e, "--threads",
                                   str(args.threads)], env=env, check=True,
                                  capture_output=True, text=True).stdout.split()
            us = [float(x) for x in line]
            best[e] = us if best[e] is None else [min(p, q) for p, q in zip(best[e], us)]
    print(f"microseconds (GFLOP/s) at {args.threads} threads; fastest block of {args.rounds} "
          f"rounds")
    print(f"{'product':28s}" + "".join(f"{e:>17s}" for e in ENGINES) + "  ember/1t  ember/torch")
    for i, (name, sa, sb, ta, tb) in enumerate(shapes()):
        m, k = (sa[1], sa[0]) if ta else sa
        n = sb[0] if tb else sb[1]
        flop = 2 * m * n * k
        cells = "".join(f"{best[e][i]:9.1f} ({flop / best[e][i] / 1e3:5.1f})" for e in ENGINES)
        print(f"{name:28s}{cells}  {best['ember'][i] / best['numpy 1t'][i]:8.2f}"
              f"  {best['ember'][i] / best['torch'][i]:11.2f}")


if __name__ == "__main__":
    main()
