"""Worker for tests/test_distributed.py, started by `python -m ember.distributed.run`:
prints torchrun's variables and the rank init_process_group() found (env://)."""
import os
import sys

import ember
import ember.distributed as dist

dist.init_process_group(backend="gloo", init_method="env://")
t = ember.tensor([float(dist.get_rank())])
dist.all_reduce(t)
env = " ".join(f"{k}={os.environ[k]}" for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE",
                                                 "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))
print(f"rank={dist.get_rank()} world={dist.get_world_size()} sum={t.item()} {env} "
      f"argv={sys.argv[1:]} name={__name__}", flush=True)
if "--fail" in sys.argv and dist.get_rank() == 1:
    raise KeyError("rank 1 fails under the launcher")
dist.barrier()
dist.destroy_process_group()
