"""Peak memory of one training step, Ember next to torch (CPU).

    python bench/memory.py              # mlp and lenet, then 1,000 mlp steps
    python bench/memory.py mlp --steps 3 --flat 0

For each workload in ``bench/workloads.py`` (the same code for both
frameworks) we warm up, then measure one step three ways:

* ``traced``: the peak of memory allocated during the step above what was
  live before it.  For Ember this is ``tracemalloc`` (NumPy reports its
  array buffers to it); for torch it is the profiler's allocation events
  (``profile_memory=True``), summed in time order.
* ``rss``: the growth of the process's peak resident set during the step
  (the kernel's high-water mark is reset just before it; Linux only).  It
  sees everything, allocator caching included, and is coarse (pages).
* ``live``: memory still allocated after the step (gradients, optimizer
  state created on the first steps) -- should be ~0 once warmed up.

Then (``--flat N``, default 1,000; 0 skips it) one workload
(``--flat-workload``, default mlp) trains for N steps and memory is read at
a few checkpoints: Ember's ``tracemalloc`` current size and both
frameworks' RSS.  After the first steps (gradients, optimizer state) it
must stay flat: the growth from step 100 to step N is printed.

Each framework runs in its own subprocess, so neither sees the other's
allocations.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_hwm():
    """Reset the kernel's peak-RSS counter to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure_ember(step, steps):
    import tracemalloc
    tracemalloc.start()
    for _ in range(3):  # warm-up under tracing, so what stays live is traced
        step()
    traced, live, rss = [], [], []
    for _ in range(steps):
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        ok = _reset_hwm()
        r0 = _status("VmRSS")
        step()
        cur, peak = tracemalloc.get_traced_memory()
        traced.append(peak - before)
        live.append(cur - before)
        if ok and r0 is not None:
            rss.append(max(0, _status("VmHWM") - r0))
    tracemalloc.stop()
    return traced, live, rss


def _measure_torch(step, steps):
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        step()
    traced, live, rss = [], [], []
    for _ in range(steps):
        ok = _reset_hwm()
        r0 = _status("VmRSS")
        step()
        if ok and r0 is not None:
            rss.append(max(0, _status("VmHWM") - r0))
    for _ in range(steps):  # the profiler's own bookkeeping stays out of the RSS numbers
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            step()
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        cur = peak = 0
        for e in sorted(events, key=lambda e: e.start_ns()):
            cur += e.nbytes()
            peak = max(peak, cur)
        traced.append(peak)
        live.append(cur)
    return traced, live, rss


def _measure_flat(step, steps, traced):
    """Memory after checkpoint steps of a ``steps``-step run: a list of
    (step, tracemalloc current bytes or None, RSS bytes or None)."""
    import tracemalloc
    marks = {m for m in (1, 10, 100, steps // 2, steps) if 1 <= m <= steps}
    if traced:
        tracemalloc.start()
    rows = []
    for i in range(1, steps + 1):
        step()
        if i in marks:
            cur = tracemalloc.get_traced_memory()[0] if traced else None
            rows.append((i, cur, _status("VmRSS")))
    if traced:
        tracemalloc.stop()
    return rows


def child(lib_name, workload, steps, flat=False):
    """Run in a subprocess: measure one framework, print JSON."""
    import warnings
    warnings.filterwarnings("ignore")
    sys.path.insert(0, HERE)
    sys.path.insert(0, ROOT)
    import workloads
    if lib_name == "torch":
        import torch as lib
        torch_threads = os.environ.get("BENCH_TORCH_THREADS")
        if torch_threads:
            lib.set_num_threads(int(torch_threads))
    else:
        import ember as lib
    lib.manual_seed(0)
    step = workloads.WORKLOADS[workload][0](lib)
    if flat:  # (tracemalloc can't see torch's allocator: RSS only there)
        print(json.dumps({"flat": _measure_flat(step, steps, traced=lib_name == "ember")}))
        return
    fn = _measure_torch if lib_name == "torch" else _measure_ember
    traced, live, rss = fn(step, steps)
    print(json.dumps({"traced": traced, "live": live, "rss": rss}))


def _run_child(lib_name, workload, steps, flat=False):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", lib_name,
                          workload, "--steps", str(steps)] + (["--child-flat"] if flat else []),
                         capture_output=True, text=True, check=False)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{lib_name}/{workload} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def _mb(values):
    if not values:
        return "n/a"
    return f"{min(values) / 2**20:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", default=["mlp", "lenet"])
    ap.add_argument("--steps", type=int, default=3, help="measured steps (min is reported)")
    ap.add_argument("--flat", type=int, default=1000,
                    help="then train this many steps and check memory stays flat (0: skip)")
    ap.add_argument("--flat-workload", default="mlp", help="the workload for --flat")
    ap.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    ap.add_argument("--child-flat", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.steps, flat=args.child_flat)
        return 0
    sys.path.insert(0, HERE)
    import workloads
    if args.flat > 0 and args.flat_workload not in workloads.WORKLOADS:
        ap.error(f"unknown --flat-workload {args.flat_workload!r}; "
                 f"choose from {sorted(workloads.WORKLOADS)}")
    print("peak memory of one training step, MiB (min over steps; see the docstring)")
    print(f"{'workload':10s} {'ember traced':>13s} {'torch traced':>13s} {'ember rss':>10s} "
          f"{'torch rss':>10s} {'ember live':>11s} {'torch live':>11s}  description")
    for name in args.names:
        if name not in workloads.WORKLOADS:
            ap.error(f"unknown workload {name!r}; choose from {sorted(workloads.WORKLOADS)}")
        e = _run_child("ember", name, args.steps)
        t = _run_child("torch", name, args.steps)
        print(f"{name:10s} {_mb(e['traced']):>13s} {_mb(t['traced']):>13s} {_mb(e['rss']):>10s} "
              f"{_mb(t['rss']):>10s} {_mb(e['live']):>11s} {_mb(t['live']):>11s}  "
              f"{workloads.WORKLOADS[name][2]}", flush=True)
    if args.flat > 0:
        _report_flat(args.flat_workload, args.flat)
    return 0


def _report_flat(name, steps):
    """Print memory at checkpoints of a ``steps``-step training run."""
    e = _run_child("ember", name, steps, flat=True)["flat"]
    t = _run_child("torch", name, steps, flat=True)["flat"]
    mib = lambda v: "n/a" if v is None else f"{v / 2**20:.3f}"  # noqa: E731
    print(f"\nmemory over {steps} training steps of {name}, MiB after each step shown")
    print(f"{'step':>6s} {'ember traced':>13s} {'ember rss':>10s} {'torch rss':>10s}")
    for (i, traced, rss), (_, _, trss) in zip(e, t):
        print(f"{i:6d} {mib(traced):>13s} {mib(rss):>10s} {mib(trss):>10s}")
    start = next((k for k, row in enumerate(e) if row[0] == min(100, steps)), 0)

    def growth(rows, col):
        a, b = rows[start][col], rows[-1][col]
        return "n/a" if a is None or b is None else f"{(b - a) / 1024:+.1f} KiB"
    print(f"growth step {e[start][0]} -> {steps}: ember traced {growth(e, 1)}, "
          f"ember rss {growth(e, 2)}, torch rss {growth(t, 2)}")


if __name__ == "__main__":
    sys.exit(main())
