"""Ember vs torch (CPU), same workloads, same process, alternating runs.

    python bench/run.py                 # every workload
    python bench/run.py op_overhead mlp # some of them
    python bench/run.py --separate lenet  # each framework in its own processes
    python bench/run.py --both lenet    # both tables: same process, then separate
    python bench/run.py --list
    OMP_NUM_THREADS=1 python bench/run.py --cpu lenet   # CPU time, for a loaded machine
    python bench/run.py --device cuda   # the device workloads on a GPU, vs torch CUDA eager

Each workload is a function ``make(lib) -> step`` in ``bench/workloads.py``
written once against the torch API and handed either ``ember`` or ``torch``.
We warm both up, then alternate blocks of steps between the two frameworks,
with a pause before each block so that neither library's idle worker
threads still hold a core (see GAP), and report the median milliseconds per
step, the ratio ember/torch (below 1.0: Ember is faster) as the median of
the per-round ratios, and the range of those ratios.  Memory is measured apart, by
``bench/memory.py``: peak memory of a training step next to torch's, and
memory over 1,000 training steps.

``--device cuda`` runs the device workloads (``DEVICE_WORKLOADS`` in
``bench/workloads.py``, each ``make(lib, device)``) with model and data on the
GPU, Ember against torch's CUDA eager mode on the same GPU.  Each timed block
is closed by the framework's ``cuda.synchronize()`` (kernels run
asynchronously), and the table adds each framework's peak GPU memory
(``cuda.max_memory_allocated``) and Ember's speedup over Ember on this
machine's CPU (the same workload, ``--cpu-steps`` steps).
"""
import argparse
import hashlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
import workloads  # noqa: E402


# Wall time by default.  ``--cpu`` times the process's CPU time instead (every
# thread's, so run it with OMP_NUM_THREADS=1): on a machine other jobs load,
# CPU time still compares the two frameworks' work where wall time does not.
CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def _time_block(step, n):
    t0 = CLOCK()
    for _ in range(n):
        step()
    return (CLOCK() - t0) / n


# Idle time before each timed block.  Both libraries keep their worker
# threads spinning for a while after parallel work (NumPy's OpenBLAS for
# ~2^28 cycles, about 0.1 s), and on a small machine a spinning thread of one
# library steals a core from the other: without the pause, torch measured up
# to 2x slower here than when run alone (LeNet 16 ms vs 8 ms).  After the
# pause each block starts as it would in a process of its own.
GAP = float(os.environ.get("BENCH_GAP", "0.25"))


def sgemm_rate(n=1024, repeats=5):
    """GFLOP/s of NumPy's float32 n^3 matrix product here (best of ``repeats``),
    the rate a convolution or linear layer could at best reach."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b                                    # warm-up: BLAS threads, pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


_FLOPS_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".flops.json")


def step_flops(name, make, device=None):
    """FLOPs of one step of workload ``name`` (torch's FlopCounterMode on the torch
    step, made on ``device`` when given), cached in bench/.flops.json keyed by the
    workload's source and torch's version, so that each workload is counted once."""
    from torch.utils.flop_counter import FlopCounterMode
    key = hashlib.sha1((inspect.getsource(sys.modules[make.__module__]) + torch.__version__)
                       .encode()).hexdigest()[:16]
    try:
        with open(_FLOPS_CACHE) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    if cache.get(name, (None,))[0] == key:
        return cache[name][1]
    torch.manual_seed(0)
    step = make(torch) if device is None else make(torch, device)
    step()                                   # (lazy state, e.g. optimizer moments)
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = int(counter.get_total_flops())
    cache[name] = (key, flops)
    try:
        with open(_FLOPS_CACHE, "w") as f:
            json.dump(cache, f, indent=1, sort_keys=True)
    except OSError:
        pass
    return flops


def _gflops(flops, seconds):
    return f"{flops / seconds / 1e9:8.1f}" if flops and seconds else f"{'-':>8s}"


# The child of --separate: one framework, one workload; warm up, time blocks,
# print the median seconds per step.  BENCH_LIB=torch keeps Ember out of a
# torch child (bench/workloads.py imports Ember only for the other libraries).
_CHILD = r"""
import json, os, statistics, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
lib = __import__(os.environ["BENCH_LIB"])
import workloads
make, _, _ = {**workloads.WORKLOADS, **workloads.DEVICE_WORKLOADS}[sys.argv[3]]
steps, blocks, gap = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
lib.manual_seed(0)
step = make(lib)
for _ in range(max(2, steps // 4)):
    step()
times = []
for _ in range(blocks):
    time.sleep(gap)
    t0 = clock()
    for _ in range(steps):
        step()
    times.append((clock() - t0) / steps)
print(json.dumps(statistics.median(times)))
"""


def _run_child(lib, name, steps, blocks):
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, BENCH_LIB=lib)
    out = subprocess.run([sys.executable, "-c", _CHILD, os.path.dirname(here), here, name,
                          str(steps), str(blocks), str(GAP)],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{lib} process failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_separate(name, steps, rounds, blocks):
    """Like ``measure``, each framework in processes of its own, alternating."""
    te, tt = [], []
    for r in range(rounds):
        for lib in (("ember", "torch") if r % 2 == 0 else ("torch", "ember")):
            (te if lib == "ember" else tt).append(_run_child(lib, name, steps, blocks))
    ratios = sorted(e / t for e, t in zip(te, tt))
    return statistics.median(te), statistics.median(tt), statistics.median(ratios), ratios


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


def _table(title, names, table, args, measure_one):
    print(title)
    print(f"{'workload':18s} {'ember ms':>10s} {'torch ms':>10s} {'ratio':>7s} "
          f"{'rounds':>11s} {'GFLOP':>8s} {'ember GF/s':>10s} {'torch GF/s':>10s}  description")
    for name in names:
        make, steps, desc = table[name]
        n = max(1, int(steps * args.scale))
        try:
            flops = step_flops(name, make)
            e, t, ratio, ratios = measure_one(name, make, n)
        except Exception as exc:  # report and go on with the other workloads
            print(f"{name:18s} {'error':>10s} {'':>10s} {'':>7s}  {type(exc).__name__}: {exc}")
            continue
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
        gf = f"{flops / 1e9:8.3f}" if flops else f"{'-':>8s}"
        print(f"{name:18s} {e * 1e3:10.3f} {t * 1e3:10.3f} {ratio:7.2f} {spread:>11s} {gf} "
              f"{_gflops(flops, e):>10s} {_gflops(flops, t):>10s}  {desc}", flush=True)


# ---- --device cuda ----------------------------------------------------------------------

def _device_block(step, n, sync):
    """Wall seconds per step over ``n`` steps, the device's queue drained before
    the clock starts and before it stops (kernel launches return at once)."""
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return (time.perf_counter() - t0) / n


def _build_on_device(lib, make, device, warm):
    """``make(lib, device)`` warmed up by ``warm`` steps; returns (step, peak
    bytes of ``lib``'s GPU allocations since just before the model was made)."""
    lib.manual_seed(0)
    lib.cuda.synchronize()
    lib.cuda.reset_peak_memory_stats()
    step = make(lib, device)
    for _ in range(warm):          # warm-up: lazy state, kernel compilation, allocator
        step()
    lib.cuda.synchronize()
    return step, lib.cuda.max_memory_allocated()


def measure_device(make, device, steps, rounds, cpu_steps):
    """Ember and torch on ``device``, alternating rounds of ``steps`` steps:
    (ember s, torch s, median ratio, sorted ratios, ember peak bytes, torch peak
    bytes, Ember-on-CPU s or None)."""
    warm = max(2, steps // 4)
    step_e, peak_e = _build_on_device(ember, make, device, warm)
    step_t, peak_t = _build_on_device(torch, make, device, warm)
    te, tt = [], []
    for r in range(rounds):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            if which == 0:
                te.append(_device_block(step_e, steps, ember.cuda.synchronize))
            else:
                tt.append(_device_block(step_t, steps, torch.cuda.synchronize))
    del step_e, step_t             # (frees both models before the CPU run)
    ratios = sorted(e / t for e, t in zip(te, tt))
    cpu = None
    if cpu_steps > 0:
        ember.manual_seed(0)
        step_c = make(ember, "cpu")
        step_c()                   # warm-up
        t0 = time.perf_counter()
        for _ in range(cpu_steps):
            step_c()
        cpu = (time.perf_counter() - t0) / cpu_steps
    return (statistics.median(te), statistics.median(tt), statistics.median(ratios), ratios,
            peak_e, peak_t, cpu)


def _device_table(names, table, args):
    """The --device cuda table: one line per workload, errors reported and skipped."""
    mib = 2.0 ** 20
    print(f"{'workload':14s} {'ember ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'rounds':>11s} "
          f"{'ember MiB':>9s} {'torch MiB':>9s} {'ember TF/s':>10s} {'torch TF/s':>10s} "
          f"{'ember cpu ms':>12s} {'cuda/cpu':>8s}  description")
    targets = []
    for name in names:
        make, steps, desc = table[name]
        n = max(1, int(steps * args.scale))
        try:
            e, t, ratio, ratios, pe, pt, cpu = measure_device(make, args.device, n, args.rounds,
                                                              args.cpu_steps)
            flops = step_flops(name, make, args.device)
        except Exception as exc:  # report and go on with the other workloads
            print(f"{name:14s} {'error':>9s}  {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc()     # (on stderr: where a first GPU run needs fixing)
            continue
        tf = (lambda s: f"{flops / s / 1e12:10.2f}") if flops else (lambda s: f"{'-':>10s}")
        cpu_ms = f"{cpu * 1e3:12.1f}" if cpu else f"{'-':>12s}"
        speedup = f"{cpu / e:7.1f}x" if cpu else f"{'-':>8s}"
        print(f"{name:14s} {e * 1e3:9.2f} {t * 1e3:9.2f} {ratio:6.2f} "
              f"{ratios[0]:5.2f}-{ratios[-1]:<5.2f} {pe / mib:9.1f} {pt / mib:9.1f} "
              f"{tf(e)} {tf(t)} {cpu_ms} {speedup}  {desc}", flush=True)
        if name in DEVICE_TARGETS:
            max_ratio, min_speedup = DEVICE_TARGETS[name]
            line = (f"  {name}: ratio {ratio:.2f} (target <= {max_ratio}: "
                    f"{_verdict(ratio <= max_ratio)})")
            if cpu:
                line += (f", cuda/cpu {cpu / e:.1f}x (target >= {min_speedup:g}x: "
                         f"{_verdict(cpu / e >= min_speedup)})")
            targets.append(line)
    if targets:
        print("targets (issue #16):")
        print("\n".join(targets))


# Issue #16's acceptance for the GPT step on a GPU: at most 1.5x torch eager's time,
# at least 20x faster than Ember on the same machine's CPU.
DEVICE_TARGETS = {"nanogpt_b64": (1.5, 20.0)}


def _verdict(ok):
    return "met" if ok else "missed"


def main_device(args, ap):
    """``--device cuda``: the device workloads, Ember vs torch on the GPU."""
    table = workloads.DEVICE_WORKLOADS
    names = args.names or list(table)
    wrong = [n for n in names if n not in table]
    if wrong:
        ap.error(f"{wrong} take no device; the device workloads are {list(table)}")
    if args.cpu or args.separate or args.both:
        ap.error("--device cuda times wall seconds in one process (no --cpu, --separate, --both)")
    if not (ember.cuda.is_available() and torch.cuda.is_available()):
        print(f"--device {args.device}: no GPU here (ember.cuda.is_available() "
              f"{ember.cuda.is_available()}, torch.cuda.is_available() "
              f"{torch.cuda.is_available()})", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), ember {ember.__version__}, "
          f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPUs")
    print(f"TF32 matmul: ember {ember.backends.cuda.matmul.allow_tf32}, "
          f"torch {torch.backends.cuda.matmul.allow_tf32}; cuda/cpu = Ember on the CPU "
          f"({args.cpu_steps} steps) / Ember on the GPU")
    print(f"device {args.device}, alternating blocks, each closed by cuda.synchronize():")
    _device_table(names, table, args)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="workloads to run (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply step counts")
    ap.add_argument("--separate", action="store_true",
                    help="each framework in its own processes (alternating) instead of one")
    ap.add_argument("--both", action="store_true",
                    help="print the same-process table, then the --separate one")
    ap.add_argument("--separate-rounds", type=int, default=5,
                    help="rounds (process pairs) per workload with --separate")
    ap.add_argument("--blocks", type=int, default=3,
                    help="timed blocks per process with --separate (their median counts)")
    ap.add_argument("--cpu", action="store_true",
                    help="time CPU seconds of the process instead of wall seconds")
    ap.add_argument("--device", default="cpu",
                    help="cpu (the tables above), or cuda / cuda:N: the device workloads on "
                         "the GPU against torch CUDA eager")
    ap.add_argument("--cpu-steps", type=int, default=1,
                    help="with --device cuda: Ember CPU steps timed for the cuda/cpu speedup "
                         "(0 skips them)")
    args = ap.parse_args(argv)
    if args.cpu:
        global CLOCK
        CLOCK = time.process_time
        os.environ["BENCH_CLOCK"] = "cpu"     # (read by the --separate children)
    if args.list:
        for name, (_, steps, desc) in workloads.WORKLOADS.items():
            print(f"{name:18s} {desc}")
        print("device workloads (--device cuda runs these; on the CPU when named):")
        for name, (_, steps, desc) in workloads.DEVICE_WORKLOADS.items():
            print(f"{name:18s} {desc}")
        return 0
    if args.device != "cpu":
        return main_device(args, ap)
    # (a device workload runs on the CPU when named; the default is the CPU table)
    table = {**workloads.WORKLOADS, **workloads.DEVICE_WORKLOADS}
    names = args.names or list(workloads.WORKLOADS)
    unknown = [n for n in names if n not in table]
    if unknown:
        ap.error(f"unknown workloads {unknown}; try --list")
    print(f"numpy {np.__version__}, torch {torch.__version__} "
          f"(threads {torch.get_num_threads()}), ember {ember.__version__}, "
          f"{os.cpu_count()} CPUs")
    if args.cpu:
        print("clock: CPU time of the process (all its threads)")
    print(f"sgemm roof: NumPy float32 1024^3 product {sgemm_rate():.1f} GFLOP/s")
    if not args.separate or args.both:
        _table("same process, alternating blocks:", names, table, args,
               lambda name, make, n: measure(make, n, args.rounds))
    if args.separate or args.both:
        _table("separate processes, alternating (one framework per process):", names, table,
               args, lambda name, make, n: measure_separate(name, n, args.separate_rounds,
                                                            args.blocks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
