"""Worker for tests/test_distributed.py: ember.multiprocessing.spawn where rank 1
raises while rank 0 waits in a collective; the parent must get torch's
ProcessRaisedException carrying rank 1's traceback."""
import ember
import ember.distributed as dist
import ember.multiprocessing as mp


def work(rank, world_size):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    if rank == 1:
        raise ZeroDivisionError("worker 1 divides by zero")
    dist.all_reduce(ember.ones(2))


if __name__ == "__main__":
    try:
        mp.spawn(work, args=(2,), nprocs=2)
    except mp.ProcessRaisedException as e:
        print("parent caught:", type(e).__name__, e.error_index, "|", str(e).strip().splitlines()[-1])
    else:
        raise AssertionError("spawn did not raise")
