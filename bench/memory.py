"""Peak memory of one training step, Ember next to torch (CPU).

    python bench/memory.py              # mlp and lenet
    python bench/memory.py mlp --steps 3

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


def child(lib_name, workload, steps):
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
    fn = _measure_torch if lib_name == "torch" else _measure_ember
    traced, live, rss = fn(step, steps)
    print(json.dumps({"traced": traced, "live": live, "rss": rss}))


def _run_child(lib_name, workload, steps):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", lib_name,
                          workload, "--steps", str(steps)],
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
    ap.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.steps)
        return 0
    sys.path.insert(0, HERE)
    import workloads
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
