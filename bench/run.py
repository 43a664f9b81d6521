"""Ember vs torch (CPU), same workloads, same process, alternating runs.

    python bench/run.py                 # every workload
    python bench/run.py op_overhead mlp # some of them
    python bench/run.py --list

Each workload is a function ``make(lib) -> step`` in ``bench/workloads.py``
written once against the torch API and handed either ``ember`` or ``torch``.
We warm both up, then alternate blocks of steps between the two frameworks,
with a pause before each block so that neither library's idle worker
threads still hold a core (see GAP), and report the median milliseconds per
step, the ratio ember/torch (below 1.0: Ember is faster) as the median of
the per-round ratios, and the range of those ratios.  Memory is measured apart, by
``bench/memory.py``: peak memory of a training step next to torch's, and
memory over 1,000 training steps.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
import workloads  # noqa: E402


def _time_block(step, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


# Idle time before each timed block.  Both libraries keep their worker
# threads spinning for a while after parallel work (NumPy's OpenBLAS for
# ~2^28 cycles, about 0.1 s), and on a small machine a spinning thread of one
# library steals a core from the other: without the pause, torch measured up
# to 2x slower here than when run alone (LeNet 16 ms vs 8 ms).  After the
# pause each block starts as it would in a process of its own.
GAP = float(os.environ.get("BENCH_GAP", "0.25"))


def measure(make, steps, rounds):
    """Median seconds per step for ember and torch, alternating rounds."""
    ember.manual_seed(0)
    torch.manual_seed(0)
    step_e = make(ember)
    step_t = make(torch)
    for _ in range(max(2, steps // 4)):  # warm-up: caches, allocator, lazy imports
        step_e()
        step_t()
    te, tt = [], []
    for r in range(rounds):
        # (who goes first alternates, so neither always runs right after the other)
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            time.sleep(GAP)
            if which == 0:
                te.append(_time_block(step_e, steps))
            else:
                tt.append(_time_block(step_t, steps))
    # The machine's speed drifts over seconds; a round's two blocks run
    # back to back, so the ratio within a round cancels most of the drift.
    ratios = sorted(e / t for e, t in zip(te, tt))
    return statistics.median(te), statistics.median(tt), statistics.median(ratios), ratios


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="workloads to run (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply step counts")
    args = ap.parse_args(argv)
    table = workloads.WORKLOADS
    if args.list:
        for name, (_, steps, desc) in table.items():
            print(f"{name:18s} {desc}")
        return 0
    names = args.names or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        ap.error(f"unknown workloads {unknown}; try --list")
    print(f"numpy {np.__version__}, torch {torch.__version__} "
          f"(threads {torch.get_num_threads()}), ember {ember.__version__}")
    print(f"{'workload':18s} {'ember ms':>10s} {'torch ms':>10s} {'ratio':>7s} "
          f"{'rounds':>11s}  description")
    for name in names:
        make, steps, desc = table[name]
        n = max(1, int(steps * args.scale))
        try:
            e, t, ratio, ratios = measure(make, n, args.rounds)
        except Exception as exc:  # report and go on with the other workloads
            print(f"{name:18s} {'error':>10s} {'':>10s} {'':>7s}  {type(exc).__name__}: {exc}")
            continue
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
        print(f"{name:18s} {e * 1e3:10.3f} {t * 1e3:10.3f} {ratio:7.2f} {spread:>11s}  {desc}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
