"""Per-layer timings of the cnn3d workload (bench/workloads.py), Ember vs torch.

    OMP_NUM_THREADS=1 python bench/cnn3d_layers.py [--reps 30]

Each module of the workload's model runs on the activation it sees in a
training step (the first conv's input needs no gradient, as in training),
and its forward and backward are timed separately: the milliseconds of CPU
time of the process (median of alternating repeats), Ember then torch, and
their ratio.  The totals show which layer holds the gap.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
from conv_layers import _time  # noqa: E402  (the median CPU time of a call, ms)


def _model(lib):
    nn = lib.nn
    lib.manual_seed(0)
    return [("conv1", nn.Conv3d(4, 16, 3, padding=1)), ("bn", nn.BatchNorm3d(16)),
            ("relu1", nn.ReLU()), ("pool", nn.MaxPool3d(2)),
            ("conv2", nn.Conv3d(16, 32, 3, padding=1)), ("relu2", nn.ReLU()),
            ("gap", nn.AdaptiveAvgPool3d(1)), ("flat", nn.Flatten()), ("fc", nn.Linear(32, 5))]


def _layer_cases(lib):
    """(name, module, input tensor, output gradient) for every layer."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4, 16, 16, 16)).astype(np.float32)
    cases = []
    for i, (name, mod) in enumerate(_model(lib)):
        t = lib.tensor(x)
        if i > 0:
            t.requires_grad_(True)
        y = mod(t)
        g = lib.tensor(rng.standard_normal(tuple(y.shape)).astype(np.float32))
        cases.append((name, mod, t, g))
        x = y.detach().numpy()
    return cases


def _fwd_bwd(mod, t, g):
    def fwd():
        return mod(t)

    def both():
        y = mod(t)
        y.backward(g)
    return fwd, both


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    libs = {"ember": _layer_cases(ember), "torch": _layer_cases(torch)}
    res = {}
    for _ in range(args.rounds):
        for lib, cases in libs.items():
            for name, mod, t, g in cases:
                fwd, both = _fwd_bwd(mod, t, g)
                f = _time(fwd, args.reps)
                b = _time(both, args.reps) - f
                res.setdefault((lib, name), []).append((f, b))
    print(f"{'layer':8} {'ember fwd':>10} {'torch fwd':>10} {'ratio':>6}   "
          f"{'ember bwd':>10} {'torch bwd':>10} {'ratio':>6}   (ms, CPU time)")
    tot = {"ember": [0.0, 0.0], "torch": [0.0, 0.0]}
    for name, *_ in libs["ember"]:
        row = {}
        for lib in libs:
            f = statistics.median(r[0] for r in res[(lib, name)])
            b = statistics.median(r[1] for r in res[(lib, name)])
            row[lib] = (f, b)
            tot[lib][0] += f
            tot[lib][1] += b
        (ef, eb), (tf, tb) = row["ember"], row["torch"]
        print(f"{name:8} {ef:10.3f} {tf:10.3f} {ef / tf:6.2f}   {eb:10.3f} {tb:10.3f} "
              f"{eb / max(tb, 1e-9):6.2f}")
    (ef, eb), (tf, tb) = tot["ember"], tot["torch"]
    print(f"{'total':8} {ef:10.3f} {tf:10.3f} {ef / tf:6.2f}   {eb:10.3f} {tb:10.3f} "
          f"{eb / tb:6.2f}")


if __name__ == "__main__":
    main()
