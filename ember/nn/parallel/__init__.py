"""torch.nn.parallel: DistributedDataParallel over ember.distributed (MPI), and
DataParallel (with no accelerator, the module itself)."""
from .distributed import DistributedDataParallel  # noqa: F401
from .data_parallel import DataParallel, data_parallel  # noqa: F401

DistributedDataParallel.__module__ = __name__
DataParallel.__module__ = __name__

__all__ = ["DistributedDataParallel", "DataParallel", "data_parallel"]
