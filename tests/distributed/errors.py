"""Worker for tests/test_distributed.py: the ways a job goes wrong.

`mpiexec -n 2 python errors.py MODE`:
  raise     rank 1 raises while rank 0 waits in a collective: the job must end
            with rank 1's traceback and a non-zero exit, not hang
  exit      rank 1 calls sys.exit(3) while rank 0 waits: rank 0's 1 s timeout ends the job
  mismatch  the ranks all-reduce tensors of different shapes, then dtypes, then
            call different collectives: every rank must raise a RuntimeError naming both
  timeout   rank 1 never joins rank 0's all_reduce; the 1 s timeout ends the job
"""
import datetime
import sys
import time

import ember
import ember.distributed as dist

mode = sys.argv[1]
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=1 if mode in ("timeout", "exit") else 60))
rank = dist.get_rank()

if mode == "raise":
    if rank == 1:
        raise ValueError("rank 1 failed on purpose")
    dist.all_reduce(ember.ones(3))
elif mode == "exit":
    if rank == 1:
        sys.exit(3)
    dist.all_reduce(ember.ones(3))
elif mode == "mismatch":
    for mine in ([ember.ones(3 + rank)], [ember.ones(3, dtype=ember.float32 if rank else ember.float64)]):
        try:
            dist.all_reduce(mine[0])
        except RuntimeError as e:
            print(f"rank {rank} raised: {e}", flush=True)
        else:
            raise AssertionError("a mismatched all_reduce did not raise")
    # Different collectives on the same tensor shape: raises too.
    try:
        if rank == 0:
            dist.all_reduce(ember.ones(3))
        else:
            dist.broadcast(ember.ones(3), src=0)
    except RuntimeError as e:
        print(f"rank {rank} raised: {e}", flush=True)
    else:
        raise AssertionError("all_reduce against broadcast did not raise")
    # The group still works afterwards.
    t = ember.ones(2)
    dist.all_reduce(t)
    assert t.tolist() == [2.0, 2.0]
    print(f"rank {rank} ok", flush=True)
elif mode == "timeout":
    if rank == 1:
        time.sleep(30)
    dist.all_reduce(ember.ones(3))
dist.destroy_process_group()
