"""Ember against Ember: the same bench workloads in two source trees.

    python bench/ab.py /path/to/base_tree [workload ...] [--rounds 7]

Answers "did my change make a workload slower?"  Each round runs every
workload once in a fresh process per tree (base and this tree, who goes
first alternating), timing ``steps`` steps after a warm-up; the table shows
the median milliseconds per step and the median of the per-round ratios
(this tree / base; above 1.0: slower now).  ``--best-of K`` times K blocks
of ``steps`` steps in each process and keeps the fastest block: on a busy
machine the sub-millisecond workloads swing 0.6-1.6 from round to round,
while the fastest block of each process moves a few percent.  ``--cpu``
times the process's CPU time (all its threads) instead of wall time: with
OMP_NUM_THREADS=1 on a machine other jobs load, the steadiest measure of
the work itself (as ``bench/run.py --cpu``).  A subprocess per run keeps the
two trees' modules apart and lets other load on the machine hit both alike.
Threads follow the environment (set OMP_NUM_THREADS=1 for the quietest
numbers on a busy machine).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(HERE)

# Run inside the child: import Ember from the tree given, time one workload.
_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
clock = time.process_time if sys.argv[5] == "cpu" else time.perf_counter
import ember, workloads
make, steps, _ = workloads.WORKLOADS[sys.argv[3]]
ember.manual_seed(0)
step = make(ember)
for _ in range(max(2, steps // 4)):
    step()
best = float("inf")
for _ in range(int(sys.argv[4])):
    t0 = clock()
    for _ in range(steps):
        step()
    best = min(best, (clock() - t0) / steps)
print(json.dumps(best))
"""


def run_once(tree, name, blocks=1, clock="wall"):
    # (each tree's own bench/workloads.py: the workloads' set-up may differ)
    out = subprocess.run([sys.executable, "-c", _CHILD, tree, os.path.join(tree, "bench"), name,
                          str(blocks), clock], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    sys.path.insert(0, HERE)
    import workloads
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the other source tree (e.g. a git worktree of the base commit)")
    ap.add_argument("workloads", nargs="*", help="names from bench/workloads.py (default: all)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--best-of", type=int, default=1, metavar="K",
                    help="time K blocks per process and keep the fastest (default 1)")
    ap.add_argument("--cpu", action="store_true",
                    help="time the process's CPU time, not wall time (use OMP_NUM_THREADS=1)")
    args = ap.parse_args(argv)
    names = args.workloads or list(workloads.WORKLOADS)
    times = {n: ([], []) for n in names}
    missing = set()
    for r in range(args.rounds):
        for n in names:
            if n in missing:
                continue
            order = [(0, args.base), (1, TREE)] if r % 2 == 0 else [(1, TREE), (0, args.base)]
            for i, tree in order:
                try:
                    times[n][i].append(run_once(tree, n, args.best_of,
                                               "cpu" if args.cpu else "wall"))
                except subprocess.CalledProcessError:   # (a workload the other tree lacks)
                    missing.add(n)
                    break
    for n in sorted(missing):
        print(f"{n}: does not run in both trees, left out")
    names = [n for n in names if n not in missing]
    print("clock:", "CPU time of each process" if args.cpu else "wall time")
    print(f"{'workload':<12} {'base ms':>9} {'this ms':>9} {'this/base':>9} {'range':>13}")
    for n in names:
        base, this = times[n]
        ratios = sorted(t / b for b, t in zip(base, this))
        print(f"{n:<12} {statistics.median(base) * 1e3:>9.3f} {statistics.median(this) * 1e3:>9.3f} "
              f"{statistics.median(ratios):>9.3f} {ratios[0]:>6.3f}-{ratios[-1]:.3f}")


if __name__ == "__main__":
    main()
