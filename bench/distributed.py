"""ember.distributed against raw MPI, and data-parallel throughput.

    python bench/distributed.py            # both parts (a few minutes on 2 cores)
    python bench/distributed.py allreduce  # only the all-reduce bandwidth
    python bench/distributed.py dp         # only the data-parallel throughput

1. All-reduce bandwidth: ``ember.distributed.all_reduce`` on a float32 tensor
   against mpi4py's ``Allreduce`` on the very same buffer, 1 KB to 64 MB,
   under ``mpiexec -n 2``.  The two alternate call by call; the table gives
   median times per call and their ratio (Ember's per-call extras: the
   agreement all-gather -- which carries the data itself up to 4 KB --, the
   watchdog, the tensor unwrapping).
2. Data-parallel throughput, GPT and ResNet from bench/workloads.py: one
   process with one thread against two processes with one thread each under
   DistributedDataParallel, each process running the workload's batch
   (samples/s counts both ranks).  The DDP variants: default buckets (25 MB,
   first 1 MB), small buckets (0.25 MB: more all-reduces, started earlier in
   backward), and no overlap (backward under ``no_sync()``, then one
   all-reduce of all gradients flattened -- what bucketing saves).  Runs
   alternate (1p, ddp, ..., 1p, ddp, ...) in fresh processes; medians.
   ``ddp-1p``: DDP in a world of one process against the plain model: DDP's
   per-step bookkeeping (the graph walk, the hooks; a world of one has no
   bucket copies and no all-reduce).
   ``cpu ms``: rank 0's CPU time per step (MPI spins while it waits, so
   waiting for a descheduled peer shows there too).
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
           PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))

SIZES = [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]


def _mpiexec():
    from ember.distributed._launch import find_mpiexec
    return find_mpiexec()


def _human(n):
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB"


# ---- 1. all-reduce bandwidth (runs inside mpiexec -n 2) --------------------------------------

def allreduce_worker():
    import numpy as np
    from mpi4py import MPI
    import ember
    import ember.distributed as dist
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    rows = []
    for nbytes in SIZES:
        buf = np.zeros(nbytes // 4, dtype=np.float32)
        t = ember.from_numpy(buf)            # the same memory for both
        calls = {"raw": lambda: comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM),
                 "ember": lambda: dist.all_reduce(t)}
        pairs = max(15, min(400, (256 << 20) // nbytes))
        times = {"raw": [], "ember": []}
        for k in range(pairs + 3):
            # One call of each per pair, in alternating order, each started
            # together on both ranks (a barrier): descheduling by other work
            # hits both alike, and the medians drop the pairs it spoiled.
            order = ("raw", "ember") if k % 2 else ("ember", "raw")
            for name in order:
                comm.Barrier()
                t0 = time.perf_counter()
                calls[name]()
                if k >= 3:                   # (the first pairs warm up)
                    times[name].append(time.perf_counter() - t0)
        rows.append((nbytes, statistics.median(times["raw"]), statistics.median(times["ember"])))
    if comm.Get_rank() == 0:
        print(f"{'size':>7} {'raw us':>9} {'ember us':>9} {'raw GB/s':>9} {'ember GB/s':>10} "
              f"{'ember/raw':>9}")
        for nbytes, r, e in rows:
            print(f"{_human(nbytes):>7} {r * 1e6:9.1f} {e * 1e6:9.1f} {nbytes / r / 1e9:9.2f} "
                  f"{nbytes / e / 1e9:10.2f} {r / e:9.2f}")
    dist.destroy_process_group()


# ---- 2. data-parallel throughput ---------------------------------------------------------

def _model(name):
    import ember
    import workloads
    if name == "gpt":
        model = workloads._char_gpt(ember, use_sdpa=False)
        opt = ember.optim.AdamW(model.parameters(), lr=1e-3)
        x = ember.randint(0, 65, (16, 64))
        y = ember.randint(0, 65, (16, 64))
        return model, opt, (lambda m: m(x, y)), 16
    model = workloads.resnet_model(ember)
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = ember.randn(32, 3, 32, 32)
    y = ember.randint(0, 10, (32,))
    return model, opt, (lambda m: ember.nn.functional.cross_entropy(m(x), y)), 32


def dp_worker(name, variant, steps):
    """One timing run: prints 'RESULT <seconds per step>' on rank 0."""
    import numpy as np
    import ember
    ember.set_num_threads(1)
    ember.manual_seed(0)
    model, opt, loss_of, batch = _model(name)
    rank = 0
    if variant != "1p":
        import ember.distributed as dist
        from ember.nn.parallel import DistributedDataParallel as DDP
        dist.init_process_group("mpi")
        rank = dist.get_rank()
        cap = {"ddp": None, "ddp-1p": None, "ddp-small": 0.25, "no-overlap": None}[variant]
        net = DDP(model, bucket_cap_mb=cap)
        params = [p for p in model.parameters() if p.requires_grad]
    else:
        net = model

    def step():
        opt.zero_grad()
        if variant == "no-overlap":
            with net.no_sync():
                loss_of(net).backward()
            flat = ember.from_numpy(np.concatenate([p.grad.numpy().reshape(-1) for p in params]))
            dist.all_reduce(flat, op=dist.ReduceOp.AVG)
            off = 0
            for p in params:
                n = p.numel()
                p.grad.copy_(flat[off:off + n].reshape(p.shape))
                off += n
        else:
            loss_of(net).backward()
        opt.step()
    for _ in range(3):
        step()
    if variant != "1p":
        dist.barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if variant != "1p":
        dist.barrier()
    dt = (time.perf_counter() - t0) / steps
    cpu = (time.process_time() - c0) / steps
    if rank == 0:
        print(f"RESULT {dt} {cpu}", flush=True)
    if variant != "1p":
        dist.destroy_process_group()
    return batch


def _run_dp(name, variant, steps):
    me = [sys.executable, os.path.abspath(__file__), "--dp-worker", name, variant, str(steps)]
    cmd = me if variant == "1p" else [_mpiexec(), "-n", "1" if variant == "ddp-1p" else "2"] + me
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True).stdout
    _, wall, cpu = next(l for l in out.splitlines() if l.startswith("RESULT")).split()
    return float(wall), float(cpu)


def dp_bench(rounds=3):
    variants = ["1p", "ddp-1p", "ddp", "ddp-small", "no-overlap"]
    batches = {"gpt": 16, "resnet": 32}
    steps = {"gpt": 15, "resnet": 10}
    print(f"{'workload':>8} {'variant':>11} {'ms/step':>8} {'cpu ms':>7} {'samples/s':>10} "
          f"{'vs 1 proc':>9}")
    for name in ("gpt", "resnet"):
        times = {v: [] for v in variants}
        cpus = {v: [] for v in variants}
        for _ in range(rounds):
            for v in variants:
                wall, cpu = _run_dp(name, v, steps[name])
                times[v].append(wall)
                cpus[v].append(cpu)
        base = batches[name] / statistics.median(times["1p"])
        for v in variants:
            t = statistics.median(times[v])
            sps = batches[name] * (1 if v in ("1p", "ddp-1p") else 2) / t
            print(f"{name:>8} {v:>11} {t * 1e3:8.1f} {statistics.median(cpus[v]) * 1e3:7.1f} "
                  f"{sps:10.1f} {sps / base:8.2f}x", flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--allreduce-worker":
        return allreduce_worker()
    if len(sys.argv) > 1 and sys.argv[1] == "--dp-worker":
        return dp_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    # Other work on the machine skews these numbers more than anything: say how busy it was.
    print("load average (1, 5, 15 min): %.1f %.1f %.1f on %d CPUs" % (*os.getloadavg(),
                                                                  os.cpu_count()))
    if what in ("all", "allreduce"):
        print("all-reduce, float32, 2 ranks on this machine (median per call, calls alternating)")
        subprocess.run([_mpiexec(), "-n", "2", sys.executable, os.path.abspath(__file__),
                        "--allreduce-worker"], env=ENV, check=True)
        print()
    if what in ("all", "dp"):
        print("data-parallel training, 1 thread per process (medians of 3 alternating runs)")
        dp_bench()


if __name__ == "__main__":
    main()
