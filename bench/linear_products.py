"""The products of the training Linears of the GPT workloads, one thread,
OpenBLAS as Ember calls it today against the register-blocked 8 x 32 kernel
(``_numba.product_range``), in GFLOP/s of CPU time (steady under load).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/linear_products.py [--chunks]

Per Linear (rows = tokens of a step) three products: the forward
y = x W^T + b, dX = g W and dW = g^T x.  "blas" is what a step runs now:
the forward by one bias-prefilled NT ?gemm (``linear_bias_gemm``), dX and
dW by NumPy's matmul (NN, TN).  "blocks" is the 8 x 32 kernel, the forward
including its copy of W^T.  ``--chunks`` also prints the kernel at each
row-chunk size (see ``product_range``).
"""
import os
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


def cpu_time(fn, flop, budget=0.25, blocks=5):
    """Best GFLOP/s over ``blocks`` blocks of about ``budget`` s of thread CPU time."""
    fn()
    t = time.thread_time()
    fn()
    reps = max(1, int(budget / max(time.thread_time() - t, 1e-6)))
    best = float("inf")
    for _ in range(blocks):
        t = time.thread_time()
        for _ in range(reps):
            fn()
        best = min(best, (time.thread_time() - t) / reps)
    return flop / best / 1e9


def blocked(m, n, k, chunk, depth):
    """The three products by the blocked kernel, as closures over fresh data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal((m, n), dtype=np.float32)
    y, dx, dw = (np.empty(s, np.float32) for s in ((m, n), (m, k), (n, k)))

    def forward():
        wp = np.empty((-(-n // 32), k, 32), np.float32)
        N.pack_panels(w, wp, True)
        N.product_range(x.ctypes.data, 1, k, wp.ctypes.data, 32, 32 * k, k, b.ctypes.data,
                        y.ctypes.data, n, 0, m, 0, n, chunk, depth)

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
    print(f"{'workload':8} {'rows':>5} {'out x in':>10}  "
          f"{'fwd blas':>8} {'blocks':>6}  {'dX blas':>7} {'blocks':>6}  {'dW blas':>7} {'blocks':>6}")
    for name, m, n, k, has_bias in SHAPES:
        (x, w, b, g), ours = blocked(m, n, k, 64, 1 << 30)
        flop = 2.0 * m * n * k
        y = np.empty((m, n), np.float32)
        blas = (lambda: kern.linear_bias_gemm(x, w, b, y, fn, np.float32(1)),
                lambda: np.matmul(g, w), lambda: np.matmul(g.T, x))
        row = []
        for theirs, mine in zip(blas, ours):
            row += [cpu_time(theirs, flop), cpu_time(mine, flop)]
        print(f"{name:8} {m:5} {n:>4} x {k:<4}  " + "  ".join(
            f"{row[i]:8.0f} {row[i + 1]:6.0f}".replace("       ", "", 1 if i else 0)
            for i in (0, 2, 4)))
        if chunks:
            for c in (32, 64, 128):
                for d in (128, 256, 1 << 30):
                    fs = blocked(m, n, k, c, d)[1]
                    print("    chunk %3d depth %5d: " % (c, min(d, 99999)) + " ".join(
                        "%5.0f" % cpu_time(f, flop, 0.1, 3) for f in fs))


if __name__ == "__main__":
    main()
