"""torch.nn.parallel: DistributedDataParallel over ember.distributed (MPI)."""
from .distributed import DistributedDataParallel  # noqa: F401

DistributedDataParallel.__module__ = __name__

__all__ = ["DistributedDataParallel"]
