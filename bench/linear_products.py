"""The products of the training Linears of the GPT workloads, one thread,
OpenBLAS as Ember calls it today against the register-blocked 8 x 32 kernel
(``_numba.product_range``), in GFLOP/s of CPU time (steady under load).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/linear_products.py [--chunks]

Per Linear (rows = tokens of a step) three products: the forward
y = x W^T + b, dX = g W and dW = g^T x.  "blas" is what a step runs now:
the forward by one bias-prefilled NT ?gemm (``linear_bias_gemm``), dX and
dW by NumPy's matmul (NN, TN).  "blocks" is the 8 x 32 kernel, the forward
including its copy of W^T.  ``--chunks`` also prints the backward
products at other row chunks and steps of kk (see ``product_range``).
"""
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ember.backends.cpu import _numba as N, _pool  # noqa: E402

# (workload, rows, outputs, inputs, bias): gpt b16 x T64, nanogpt b8 x T256
SHAPES = [("gpt", 1024, n, k, True) for n, k in ((384, 128), (128, 128), (512, 128), (128, 512))] \
    + [("gpt", 1024, 65, 128, False)] \
    + [("nanogpt", 2048, n, k, True)
       for n, k in ((1152, 384), (384, 384), (1536, 384), (384, 1536))] \
    + [("nanogpt", 2048, 65, 384, False)]


def seconds(fn, budget):
    """(calls per block of about ``budget`` s of thread CPU time, warmed up)."""
    fn()
    t = time.thread_time()
    fn()
    return max(1, int(budget / max(time.thread_time() - t, 1e-6)))


def block_time(fn, reps):
    t = time.thread_time()
    for _ in range(reps):
        fn()
    return (time.thread_time() - t) / reps


def compare(theirs, mine, flop, budget=0.15, rounds=7):
    """(GF/s of each, best block; median of the per-round ratios mine/theirs
    of time), the two alternating block by block."""
    r1, r2 = seconds(theirs, budget), seconds(mine, budget)
    t1, t2, ratios = [], [], []
    for _ in range(rounds):
        t1.append(block_time(theirs, r1))
        t2.append(block_time(mine, r2))
        ratios.append(t2[-1] / t1[-1])
    return flop / min(t1) / 1e9, flop / min(t2) / 1e9, statistics.median(ratios)


def blocked(m, n, k, chunk, depth):
    """The three products by the blocked kernel, as closures over fresh data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal((m, n), dtype=np.float32)
    y, dx, dw = (np.empty(s, np.float32) for s in ((m, n), (m, k), (n, k)))

    def forward():     # (as a Linear runs it: W packed, then the blocks, one thread)
        _pool.linear_blocks(x, w, b, 1)

    def grad_x():
        wp = np.empty((-(-k // 32), n, 32), np.float32)
        N.pack_panels(w, wp, False)
        N.product_range(g.ctypes.data, 1, n, wp.ctypes.data, 32, 32 * n, n, 0, dx.ctypes.data, k,
                        0, m, 0, k, chunk, depth)

    def grad_w():
        N.product_range(g.ctypes.data, n, 1, x.ctypes.data, k, 32, m, 0, dw.ctypes.data, k,
                        0, n, 0, k, chunk, depth)
    return (x, w, b, g), (forward, grad_x, grad_w)


def main():
    chunks = "--chunks" in sys.argv
    fn = _pool.gemm_address(np.dtype(np.float32))
    from ember.backends.cpu import _jit
    kern = _jit.kernels_for(np.dtype(np.float32))
    print("GF/s (best block of CPU time) and time blocks/blas (median of 7 alternating rounds)")
    print(f"{'workload':8} {'rows':>5} {'out x in':>10}  " + "  ".join(
        f"{p + ' blas':>9} {'blocks':>6} {'ratio':>5}" for p in ("fwd", "dX", "dW")))
    for name, m, n, k, has_bias in SHAPES:
        (x, w, b, g), ours = blocked(m, n, k, N.PRODUCT_CHUNK, 1 << 30)
        flop = 2.0 * m * n * k
        y = np.empty((m, n), np.float32)
        blas = (lambda: kern.linear_bias_gemm(x, w, b, y, fn, np.float32(1)),
                lambda: np.matmul(g, w), lambda: np.matmul(g.T, x))
        cells = [compare(theirs, mine, flop) for theirs, mine in zip(blas, ours)]
        print(f"{name:8} {m:5} {n:>4} x {k:<4}  " + "  ".join(
            f"{a:9.0f} {c:6.0f} {r:5.2f}" for a, c, r in cells), flush=True)
        if chunks:
            for c in (32, 64, 128):
                for d in (128, 256, 1 << 30):
                    fs = blocked(m, n, k, c, d)[1][1:]
                    print("    dX, dW at chunk %3d depth %5d: " % (c, min(d, 99999)) + " ".join(
                        "%5.0f" % (flop / min(block_time(f, seconds(f, 0.1)) for _ in range(3))
                                   / 1e9) for f in fs))


if __name__ == "__main__":
    main()
