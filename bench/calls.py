"""Python function calls per step of a bench workload (a deterministic measure of
per-op framework overhead, unaffected by machine load).

    python bench/calls.py kv_decode op_overhead [--steps 3] [--top 25]

Builds each workload from bench/workloads.py with Ember, warms it up, runs
``steps`` steps under cProfile and prints the calls per step and the
functions called most often.
"""
import argparse
import cProfile
import os
import pstats
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ember  # noqa: E402
import workloads  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="+")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args(argv)
    for name in args.workloads:
        ember.manual_seed(0)
        step = workloads.WORKLOADS[name][0](ember)
        step()
        step()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.steps):
            step()
        prof.disable()
        stats = pstats.Stats(prof)
        total = sum(v[1] for v in stats.stats.values())   # primitive + recursive calls
        print(f"{name}: {total / args.steps:,.0f} calls/step")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][1])[:args.top]
        for (fname, line, func), (cc, nc, tt, ct, callers) in rows:
            where = f"{os.path.relpath(fname) if fname.startswith('/') else fname}:{line}"
            print(f"  {nc / args.steps:9,.0f}  {func:28s} {where}")
        print()


if __name__ == "__main__":
    main()
