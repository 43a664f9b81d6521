"""A user's own NumPy after training with Ember runs as before importing it.

    python bench/side_effects.py

Times ``np.dot`` of two 2000x2000 float32 matrices (median of 7) three
times in one process: before ``import ember``, right after it, and after
training a model with Ember's intra-op threads (Ember holds NumPy's BLAS
threads while its parallel ops run and gives them back when idle).
"""
import statistics
import time

import numpy as np


def dot_ms(a, b, n=7):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        np.dot(a, b)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 2000), dtype=np.float32)
    b = rng.standard_normal((2000, 2000), dtype=np.float32)
    dot_ms(a, b, 2)
    before = dot_ms(a, b)
    import ember
    after_import = dot_ms(a, b)
    model = ember.nn.Sequential(ember.nn.Linear(512, 1024), ember.nn.GELU(),
                                ember.nn.Linear(1024, 512))
    opt = ember.optim.AdamW(model.parameters())
    x = ember.randn(256, 512)
    for _ in range(20):
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    time.sleep(0.1)
    after_training = dot_ms(a, b)
    print(f"np.dot 2000x2000 float32 (ms): before import {before:.1f}, after import "
          f"{after_import:.1f}, after training {after_training:.1f} "
          f"(ratio after/before {after_training / before:.2f}; Ember threads "
          f"{ember.get_num_threads()})")


if __name__ == "__main__":
    main()
