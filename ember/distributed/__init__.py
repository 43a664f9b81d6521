"""ember.distributed: torch.distributed's API over MPI.

Processes are started by an MPI launcher -- ``python -m ember.distributed.run
--nproc-per-node N script.py`` (torchrun's flags and variables),
``mpiexec -n N python script.py``, or ``ember.multiprocessing.spawn`` -- and
every byte between them goes through MPI (``mpi4py``; ``pip install
'ember[distributed]'`` brings it with the MPICH library and ``mpiexec``).
The backends ``"gloo"`` and ``"mpi"`` are both accepted and both run over
MPI.  ``import ember`` does not import mpi4py: MPI starts at
``init_process_group``.
"""
from ._group import (is_available, is_initialized, init_process_group, destroy_process_group,
                     get_rank, get_world_size, get_backend, get_global_rank, get_group_rank,
                     get_process_group_ranks, new_group, ProcessGroup, GroupMember, group,
                     DEFAULT_TIMEOUT as default_pg_timeout)
from ._ops import (ReduceOp, Work, all_reduce, broadcast, reduce, all_gather,
                   all_gather_into_tensor, reduce_scatter_tensor, reduce_scatter, gather, scatter,
                   all_to_all_single, all_to_all, barrier, monitored_barrier, send, recv, isend,
                   irecv, broadcast_object_list, all_gather_object, gather_object,
                   scatter_object_list)


class Backend:
    """Backend names, as torch.distributed.Backend (both run over MPI here)."""
    GLOO = "gloo"
    MPI = "mpi"
    NCCL = "nccl"


def is_mpi_available():
    return is_available()


def is_gloo_available():
    return is_available()


def is_nccl_available():
    return False


def is_torchelastic_launched():
    import os
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None
