"""Per-layer convolution timings, Ember vs torch, at the exact conv shapes
of the CNN workloads (bench/workloads.py: lenet, resnet, resnet18w).

    OMP_NUM_THREADS=1 python bench/conv_layers.py resnet lenet resnet18w

For every conv layer it prints the milliseconds of CPU time (median of
alternating repeats) of the three passes -- forward, input gradient (dx),
weight gradient (dw) -- for Ember and torch, their ratio, and the rate of
NumPy's sgemm at the forward GEMM's own M, N, K (the product Ember's
im2col lowering makes), so the gap between "what the GEMM costs" and "what
the conv costs" is visible.  Ember's passes are timed at the kernel seam as
training runs them: the forward keeps its im2col columns and the weight
gradient reuses them (``dw`` is the backward's weight-gradient share).
The first layer's ``dx`` (marked ``*``) is printed but left out of the
totals: a training step never computes it (the images need no gradient).
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
from ember.nn.functional import conv as C  # noqa: E402

CLOCK = time.process_time if os.environ.get("BENCH_CLOCK", "cpu") == "cpu" else time.perf_counter


def _layers(stem, stages, batch, hw=32, cin=3):
    """The conv layers of bench/workloads.resnet_model: (name, N, C, H, W, O, k, stride, pad)."""
    out = [("stem", batch, cin, hw, hw, stem, 3, 1, 1)]
    c, h = stem, hw
    for i, (o, s) in enumerate(stages):
        ho = (h + 2 - 3) // s + 1
        for name, row in ((f"b{i}.c1", (batch, c, h, h, o, 3, s, 1)),
                          (f"b{i}.c2", (batch, o, ho, ho, o, 3, 1, 1)),
                          (f"b{i}.sc", (batch, c, h, h, o, 1, s, 0) if (s != 1 or c != o)
                           else None)):
            if row is not None:
                out.append((name,) + row)
        c, h = o, ho
    return out


WORKLOADS = {
    "lenet": [("c1", 64, 1, 28, 28, 16, 5, 1, 0), ("c2", 64, 16, 12, 12, 32, 5, 1, 0)],
    "resnet": _layers(16, ((16, 1), (32, 2), (64, 2)), 32),
    "resnet18w": _layers(64, ((64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1),
                              (512, 2), (512, 1)), 64),
}


def _time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = CLOCK()
        fn()
        ts.append(CLOCK() - t0)
    return statistics.median(ts) * 1e3


def _gemm_ms(m, k, n, reps):
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(k, n).astype(np.float32)
    return _time(lambda: a @ b, reps)


def bench_layer(row, reps):
    name, N, Cin, H, W, O, k, s, p = row
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    wn = rng.standard_normal((O, Cin, k, k), dtype=np.float32) * 0.1
    Ho = (H + 2 * p - k) // s + 1
    gn = rng.standard_normal((N, O, Ho, Ho), dtype=np.float32)
    # ember, at the kernel seam
    ex, ew, eg = ember.tensor(xn), ember.tensor(wn), ember.tensor(gn)
    geo = C._Geo((N, Cin, H, W), (O, Cin, k, k), 1, (s, s), (p, p, p, p), (1, 1),
                 (Ho, Ho), (N, Cin, H, W), (N, O, Ho, Ho), (O, Cin, k, k))
    x, w, g = ex._data, ew._data, eg._data
    from ember.backends.cpu import _conv as K

    def e_fwd():
        _, _, kept = C._apply(x, w, geo, keep_cols=True)
        if hasattr(kept, "release"):      # (what the tiled path keeps)
            kept.release()
        else:
            for c in kept or ():
                K._scratch.put(c)

    def e_dx():
        if C._direct_dx(geo):
            C._input_grad(g, w, geo)
        else:
            C._scatter(g, w, geo, need_x=True)

    def e_dw():
        # (a forward as training runs it: the tiled path keeps columns only then)
        _, _, kept = C._apply(x, w, geo, keep_cols=True)
        t0 = CLOCK()
        C._scatter(g, w, geo, x=x, need_x=False, cols=kept)
        return CLOCK() - t0

    def e_dw_timed(reps):
        e_dw()
        return statistics.median(e_dw() for _ in range(reps)) * 1e3

    tx, tw, tg = torch.from_numpy(xn), torch.from_numpy(wn), torch.from_numpy(gn)

    def t_fwd():
        torch.nn.functional.conv2d(tx, tw, None, s, p)

    def t_bw(mask):
        return lambda: torch.ops.aten.convolution_backward(
            tg, tx, tw, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)

    res = {}
    for key, ef, tf in (("fwd", e_fwd, t_fwd), ("dx", e_dx, t_bw([True, False, False])),
                        ("dw", None, t_bw([False, True, False]))):
        es, ts = [], []
        for _ in range(3):      # alternate A, B
            es.append(e_dw_timed(reps) if ef is None else _time(ef, reps))
            ts.append(_time(tf, reps))
        res[key] = (statistics.median(es), statistics.median(ts))
    gemm = _gemm_ms(O, Cin * k * k, N * Ho * Ho, reps)
    flops = 2.0 * O * Cin * k * k * N * Ho * Ho
    return res, gemm, flops


def main(argv):
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    ember.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    names = [a for a in argv if not a.startswith("-")] or list(WORKLOADS)
    reps = 5
    for wl in names:
        print(f"\n== {wl}  (ms CPU time per pass, median; e/t = ember/torch; "
              f"gemm = NumPy sgemm at the fwd M,N,K)")
        print(f"{'layer':8s} {'shape':28s} {'GFLOP':>6s} | {'fwd e':>6s} {'t':>6s} {'e/t':>5s} | "
              f"{'dx e':>6s} {'t':>6s} {'e/t':>5s} | {'dw e':>6s} {'t':>6s} {'e/t':>5s} | "
              f"{'gemm':>6s} {'GF/s':>5s}")
        tot_e = tot_t = 0.0
        for n, row in enumerate(WORKLOADS[wl]):
            name, N, Cin, H, W, O, k, s, p = row
            res, gemm, flops = bench_layer(row, reps)
            shape = f"{N}x{Cin}x{H}x{W}->{O} k{k}s{s}"
            cells = []
            for key in ("fwd", "dx", "dw"):
                e, t = res[key]
                if n or key != "dx":
                    tot_e += e
                    tot_t += t
                cells.append(f"{e:6.2f} {t:6.2f} {e / t:5.2f}")
            if n == 0:
                name += "*"
            print(f"{name:8s} {shape:28s} {flops / 1e9:6.3f} | " + " | ".join(cells)
                  + f" | {gemm:6.2f} {flops / gemm / 1e6:5.1f}", flush=True)
        print(f"{'total':8s} {'(* dx not counted)':28s} {'':6s} | ember {tot_e:.2f} ms, "
              f"torch {tot_t:.2f} ms, ratio {tot_e / tot_t:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
