"""ember.distributed over MPI: each test launches worker scripts (tests/distributed/)
under `mpiexec -n 2` and checks what they report.  Skipped when mpi4py is missing."""
import os
import signal
import subprocess
import sys

import importlib.util

import pytest

HAVE_MPI = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py is not installed "
                               "(pip install 'ember[distributed]')")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = os.path.join(ROOT, "tests", "distributed")
BIN = os.path.dirname(sys.executable)


def mpiexec():
    for d in (BIN, *os.environ.get("PATH", "").split(os.pathsep)):
        p = os.path.join(d, "mpiexec")
        if os.path.exists(p):
            return p
    pytest.skip("mpiexec not found (pip install mpich)")


def run(cmd, timeout=60, env=None):
    """Run ``cmd`` in its own session; on timeout kill the whole session (every
    rank), so a hang fails the test instead of wedging the suite."""
    e = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
             EMBER_NUM_THREADS="1")
    e.update(env or {})
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                         cwd=ROOT, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"{cmd} did not finish within {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    return p.returncode, out, err


def launch(script, *args, n=2, timeout=60, env=None):
    return run([mpiexec(), "-n", str(n), sys.executable, os.path.join(WORKERS, script), *args],
               timeout, env)


def ok(script, *args, **kw):
    rc, out, err = launch(script, *args, **kw)
    assert rc == 0, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    return out


def test_import_ember_does_not_import_mpi4py():
    code = ("import sys, ember, ember.distributed, ember.nn.parallel, ember.multiprocessing; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'; "
            "assert ember.distributed.is_available() == %r" % HAVE_MPI)
    rc, out, err = run([sys.executable, "-c", code], timeout=60)
    assert rc == 0, err


@needs_mpi
def test_collectives_match_numpy_for_every_op_and_dtype():
    out = ok("collectives.py")
    assert "rank 0:" in out and "rank 1:" in out and "checks passed" in out


@needs_mpi
def test_a_rank_that_raises_ends_the_job_with_its_traceback():
    rc, out, err = launch("errors.py", "raise", timeout=30)
    assert rc != 0
    assert "ValueError: rank 1 failed on purpose" in err
    assert "Traceback" in err


@needs_mpi
def test_a_rank_that_exits_early_ends_the_job_at_the_timeout():
    rc, out, err = launch("errors.py", "exit", timeout=30)
    assert rc != 0


@needs_mpi
def test_mismatched_shapes_and_dtypes_raise_on_every_rank():
    out = ok("errors.py", "mismatch", timeout=30)
    for r in (0, 1):
        assert f"rank {r} raised: ember.distributed: the ranks called mismatched collectives" in out
        assert f"rank {r} ok" in out
    assert "all_reduce float32 (3,) SUM; rank 1: all_reduce float32 (4,) SUM" in out
    assert "all_reduce float64 (3,) SUM; rank 1: all_reduce float32 (3,) SUM" in out
    assert "rank 0: all_reduce float32 (3,) SUM; rank 1: broadcast float32 (3,) 0" in out


@needs_mpi
def test_timeout_ends_the_job_naming_the_collective():
    rc, out, err = launch("errors.py", "timeout", timeout=30)
    assert rc != 0
    assert "all_reduce did not complete within the process group's timeout (1 s)" in err


# ddp.py's configurations, CAP:DTYPE:TOL (see its docstring).  The ones on two
# ranks share one mpiexec launch: each launch costs ~2.5 s of CPU in imports.
DDP_CONFIGS = {2: ["-:float64:1e-6",       # DDP's default buckets
                   "0.001:float64:1e-6",   # one bucket per parameter
                   "-:float32:1e-5"],      # float32
               1: ["-:float64:1e-6"]}      # a world of one process: no buckets


@needs_mpi
@pytest.mark.parametrize("n", [2, 1], ids=["two ranks", "world of one"])
def test_ddp_trains_as_one_process_on_the_whole_batch(n):
    """MLP, CNN with SyncBatchNorm, GPT: losses and weights equal the single
    process's (to 1e-6 in float64); no_sync accumulation; unused parameters;
    buckets start during backward.  Each configuration of DDP_CONFIGS[n]."""
    out = ok("ddp.py", *DDP_CONFIGS[n], timeout=180, n=n)
    for config in DDP_CONFIGS[n]:
        bucket, dtype, _ = config.split(":")
        cap = None if bucket == "-" else float(bucket)
        for r in range(n):
            assert f"rank {r}: DDP ok (bucket_cap_mb={cap} {dtype})" in out, out


@needs_mpi
def test_torchrun_style_launcher_sets_torchrun_variables():
    cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc_per_node", "2",
           "--master-port", "29999", os.path.join(WORKERS, "torchrun_env.py"), "--lr", "0.1"]
    rc, out, err = run(cmd)
    assert rc == 0, err
    for r in (0, 1):
        assert (f"rank={r} world=2 sum=1.0 RANK={r} LOCAL_RANK={r} WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 "
                f"MASTER_ADDR=127.0.0.1 MASTER_PORT=29999 argv=['--lr', '0.1'] name=__main__") in out
    rc, out, err = run(cmd[:-2] + ["--fail"], timeout=60)
    assert rc != 0
    assert "KeyError: 'rank 1 fails under the launcher'" in err


@needs_mpi
def test_spawn_reports_a_failing_worker_like_torch():
    rc, out, err = run([sys.executable, os.path.join(WORKERS, "spawn_fail.py")], timeout=60)
    assert rc == 0, err
    assert "parent caught: ProcessRaisedException 1 | ZeroDivisionError: worker 1 divides by zero" in out


def _run_tutorial(lib, tmp_path):
    """Run tests/distributed/tutorial_ddp.py on ``lib`` ("torch" or "ember");
    return what its rank 0 wrote: the losses and the final state_dict."""
    import json
    path = tmp_path / f"{lib}.json"
    rc, out, err = run([sys.executable, os.path.join(WORKERS, "tutorial_ddp.py"), str(path)],
                       timeout=120, env={"DDP_LIB": lib})
    assert rc == 0, f"{lib}: {err}"
    return json.loads(path.read_text())


def _tutorial_in_one_torch_process():
    """What tutorial_ddp.py computes on torch's two ranks, in this process, with
    torch's own modules, sampler and optimizer: DDP starts both replicas from
    rank 0's weights and averages the ranks' gradients, i.e. it steps on the
    gradient of the ranks' mean loss.  (The real two-process torch run takes
    three imports of torch; the slow test below checks this equals it.)"""
    import collections
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    def formula(n, k):
        return torch.sin(torch.arange(n, dtype=torch.float32) * 0.37 + k)

    model = nn.Sequential(collections.OrderedDict(
        net1=nn.Linear(10, 10), relu=nn.ReLU(), net2=nn.Linear(10, 5)))   # the script's ToyModel
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(formula(p.numel(), k).reshape(p.shape) * 0.3)          # rank 0's weights
    x = formula(40 * 10, 7).reshape(40, 10)
    y = (torch.arange(40) * 7) % 5
    dataset = TensorDataset(x, y)
    samplers = [DistributedSampler(dataset, num_replicas=2, rank=r, shuffle=True, seed=3)
                for r in (0, 1)]
    loaders = [DataLoader(dataset, batch_size=4, sampler=s) for s in samplers]
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for epoch in range(2):
        for s in samplers:
            s.set_epoch(epoch)
        for batches in zip(*loaders):                  # (rank 0's batch, rank 1's batch)
            optimizer.zero_grad()
            rank_losses = [loss_fn(model(xb), yb) for xb, yb in batches]
            (sum(rank_losses) / 2).backward()
            optimizer.step()
            losses.append(sum(loss.item() for loss in rank_losses) / 2)
    return {"losses": losses,
            "state": {"module." + k: v.tolist() for k, v in model.state_dict().items()}}


def _same_training(e, t):
    import numpy as np
    assert len(e["losses"]) == len(t["losses"]) == 10
    np.testing.assert_allclose(e["losses"], t["losses"], rtol=1e-5, atol=1e-6)
    assert e["losses"][-1] < e["losses"][0]
    assert list(e["state"]) == list(t["state"]) and all(k.startswith("module.") for k in e["state"])
    for k in t["state"]:
        np.testing.assert_allclose(e["state"][k], t["state"][k], rtol=1e-5, atol=1e-6, err_msg=k)


@needs_mpi
def test_tutorial_ddp_script_trains_as_on_torch(tmp_path):
    """The mp.spawn + gloo + DDP + DistributedSampler script torch's tutorials
    teach, run unmodified on Ember, trains as torch's DDP does."""
    _same_training(_run_tutorial("ember", tmp_path), _tutorial_in_one_torch_process())


@pytest.mark.slow
@needs_mpi
def test_tutorial_ddp_script_trains_as_on_torch_itself(tmp_path):
    """The same script on torch (two spawned ranks) and on Ember; and the
    one-process torch reference of the default suite equals torch's run."""
    t = _run_tutorial("torch", tmp_path)
    _same_training(_run_tutorial("ember", tmp_path), t)
    _same_training(_tutorial_in_one_torch_process(), t)


@needs_mpi
def test_ddp_char_gpt_example_runs_on_two_ranks(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("To be, or not to be, that is the question:\n" * 40)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "2",
           os.path.join(ROOT, "examples", "ddp_char_gpt.py"), str(text), "--steps", "3",
           "--eval-interval", "3", "--eval-iters", "1", "--n-layer", "1", "--n-head", "2",
           "--n-embd", "16", "--block-size", "8", "--batch-size", "4", "--sample", "5",
           "--no-progress", "--out", str(out)]
    rc, stdout, err = run(cmd, timeout=120)
    assert rc == 0, err
    assert stdout.count("2 rank(s) x batch 4") == 1          # rank 0 alone prints
    assert "step 3: train" in stdout
    import ember
    state = ember.load(str(out / "checkpoint.ember"))
    assert "transformer.wte.weight" in state["model"] and not any(
        k.startswith("module.") for k in state["model"])
