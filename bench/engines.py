"""Ember's own intra-op pool against the proven engines, on the bench's workloads.

    python bench/engines.py                   # every workload and micro shape, 5 rounds
    python bench/engines.py --rounds 3 gpt mm_gpt_qkv
    python bench/engines.py --list

Issue 15 asks whether Ember's home-made thread pool (``ember/backends/cpu/
_pool.py``: spinning workers, cblas called by address) earns its keep
against the simpler, well-kept alternatives.  Three variants of the same
Ember run each workload:

* ``pool``  -- Ember as it is: large GEMMs and row kernels split over its pool.
* ``blas``  -- no pool: every GEMM is NumPy's, on OpenBLAS's own threads,
  scoped with ``threadpoolctl`` (Ember's thread count taken for the product
  and the user's count given back after it, when they differ); the row
  kernels run on one thread.
* ``numba`` -- no pool: GEMMs as ``blas``, and the compiled row kernels
  (softmax, layer norm, GELU, bias add, masked fill, attention over heads)
  split over Numba's own threading layer (``parallel=True`` / ``prange``),
  each a parallel driver around the same serial kernel.

The alternatives are swapped in here, inside this script, by replacing the
pool's entry points (``matmul``, ``parallel_for``, ``parallel_rows``,
``multiply``, ``gemm_address``, ``attention_forward``) and the kernel module
the backend asks for; Ember itself is not changed.  Every (round, workload) runs the three
variants one after the other, each in a fresh subprocess (the order rotates
by round), so that no variant's idle threads or JIT state leak into
another's and drift over the run hits them alike.  Reported: the median
milliseconds per step of each variant and the median of the per-round
ratios to ``pool`` (above 1.0: slower than the pool).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VARIANTS = ("pool", "blas", "numba")
GAP = 0.25   # idle seconds before each timed block (see bench/run.py's GAP)


# ---- the alternatives ----------------------------------------------------------------------

def _use_blas_threads():
    """Replace the pool's entry points: GEMMs on OpenBLAS's threads (scoped by
    threadpoolctl), everything the pool split runs on the calling thread."""
    import numpy as np
    from threadpoolctl import ThreadpoolController

    import ember
    from ember.backends.cpu import _pool

    blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    want = ember.get_num_threads()

    def matmul(a, b, out=None):
        # Ember's thread count for this product, the user's given back after it
        # (nothing to do when they agree, the usual case)
        given = [(c, c.get_num_threads()) for c in blas]
        changed = [(c, n) for c, n in given if n != want]
        for c, _ in changed:
            c.set_num_threads(want)
        try:
            return np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
        finally:
            for c, n in changed:
                c.set_num_threads(n)

    def serial_for(kernel, n, grain=1):
        kernel(0, n)

    def serial_rows(kernel, rows, row_size):
        kernel(0, rows)

    found = _pool._find_blas()
    addresses = {} if found is None else {dt: fn for dt, (_, fn) in found.gemm.items()}
    _pool.matmul = matmul
    _pool.parallel_for = serial_for
    _pool.parallel_rows = serial_rows
    _pool.multiply = lambda a, b: a * b
    _pool.attention_forward = lambda args, parts: False     # (the native split: not taken)
    # the fused attention kernels call cblas themselves; OpenBLAS decides its threads
    _pool.gemm_address = lambda dtype: addresses.get(dtype)


def _use_numba_threads():
    """``_use_blas_threads``, then the compiled row kernels split by Numba's
    ``prange`` (see ``_engines_numba.py``)."""
    _use_blas_threads()
    import numba

    import ember
    from ember.backends.cpu import _jit, _pool
    import _engines_numba

    numba.set_num_threads(min(ember.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    _jit._module = _engines_numba.ParallelKernels(_jit.kernels())
    _pool.multiply = _engines_numba.multiply


# ---- micro workloads: the GEMM and row-kernel shapes the bench's models hit --------------

def _micro(lib, fn, *shapes):
    xs = [lib.randn(*s) for s in shapes]

    def step():
        with lib.no_grad():
            fn(*xs)
    return step


def _ln(lib, x):
    return lib.nn.functional.layer_norm(x, x.shape[-1:])


MICRO = {
    "mm_mlp": (lambda lib: _micro(lib, lambda x, w: x @ w, (128, 784), (784, 128)), 200,
               "GEMM 128x784 @ 784x128 (MLP's first layer)"),
    "mm_gpt_qkv": (lambda lib: _micro(lib, lambda x, w: x @ w, (1024, 128), (128, 384)), 200,
                   "GEMM 1024x128 @ 128x384 (GPT's qkv projection)"),
    "mm_gpt_fc": (lambda lib: _micro(lib, lambda x, w: x @ w, (1024, 512), (512, 128)), 200,
                  "GEMM 1024x512 @ 512x128 (GPT's MLP down projection)"),
    "mm_lenet_conv2": (lambda lib: _micro(lib, lambda x, w: x @ w, (4096, 400), (400, 32)), 200,
                       "GEMM 4096x400 @ 400x32 (LeNet's second conv, im2col)"),
    "mm_resnet_conv": (lambda lib: _micro(lib, lambda x, w: x @ w, (32768, 144), (144, 16)),
                       50, "GEMM 32768x144 @ 144x16 (ResNet's first block, im2col)"),
    "bmm_gpt_att": (lambda lib: _micro(lib, lambda q, k: q @ k, (16, 4, 64, 32), (16, 4, 32, 64)),
                    200, "batched 16x4 of 64x32 @ 32x64 (GPT's attention scores)"),
    "softmax_att": (lambda lib: _micro(lib, lambda x: lib.softmax(x, -1), (16, 4, 64, 64)), 300,
                    "softmax over 16x4x64 rows of 64 (GPT's attention)"),
    "layer_norm": (lambda lib: _micro(lib, lambda x: _ln(lib, x), (1024, 128)), 300,
                   "layer norm of 1024 rows of 128 (GPT)"),
    "gelu": (lambda lib: _micro(lib, lambda x: lib.nn.functional.gelu(x), (1024, 512)), 200,
             "GELU of 1024x512 (GPT's MLP)"),
}


# The bench's workloads that reach the pool (op_overhead's 16x16 tensors never do)
POOLED = ("mlp", "lenet", "char_lstm", "resnet", "gpt", "gpt_sdpa", "kv_decode")


def _table():
    sys.path.insert(0, HERE)
    import workloads
    table = dict(workloads.WORKLOADS)
    table.update(MICRO)
    return table


# ---- one measurement, in its own process ----------------------------------------------------

def _worker(variant, name, blocks):
    sys.path.insert(0, HERE)
    import ember
    if variant == "blas":
        _use_blas_threads()
    elif variant == "numba":
        _use_numba_threads()
    make, steps, _ = _table()[name]
    ember.manual_seed(0)
    step = make(ember)
    for _ in range(max(2, steps // 4)):     # warm-up: JIT caches, allocator
        step()
    times = []
    for _ in range(blocks):
        time.sleep(GAP)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
    print(json.dumps({"seconds": statistics.median(times)}))


def _run_one(variant, name, blocks):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", variant, name,
                          "--blocks", str(blocks)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} {name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="workloads (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=3, help="timed blocks per process (median)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--worker", nargs=2, metavar=("VARIANT", "NAME"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(*args.worker, args.blocks)
        return 0
    table = _table()
    default = list(POOLED) + list(MICRO)
    if args.list:
        for name in default:
            print(f"{name:16s} {table[name][2]}")
        return 0
    names = args.names or default
    variants = args.variants.split(",")
    unknown = [n for n in names if n not in table] + [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown workloads or variants {unknown}; try --list")
    import numpy as np
    import numba
    print(f"numpy {np.__version__}, numba {numba.__version__} (threading layer: "
          f"{numba.config.THREADING_LAYER}), {os.cpu_count()} CPUs, ember threads "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}, {args.rounds} rounds")
    head = "".join(f"{v + ' ms':>11s}" for v in variants)
    ratios_head = "".join(f"{v + '/pool':>12s}" for v in variants if v != "pool")
    print(f"{'workload':16s}{head}{ratios_head}  ratio ranges")
    for name in names:
        times = {v: [] for v in variants}
        for r in range(args.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                times[v].append(_run_one(v, name, args.blocks))
        cols = "".join(f"{statistics.median(times[v]) * 1e3:11.3f}" for v in variants)
        rcols, spans = "", []
        for v in variants:
            if v == "pool" or "pool" not in times:
                continue
            rs = sorted(a / b for a, b in zip(times[v], times["pool"]))
            rcols += f"{statistics.median(rs):12.2f}"
            spans.append(f"{rs[0]:.2f}-{rs[-1]:.2f}")
        print(f"{name:16s}{cols}{rcols}  {' '.join(spans)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
