"""DistributedSampler: each rank's share of a dataset (torch.utils.data.distributed).

The indices are torch's exactly, for the same seed and epoch.  torch shuffles
with ``torch.randperm`` on a CPU generator seeded ``seed + epoch``: a
Fisher-Yates pass drawing from MT19937.  Ember's own generators draw from
PCG64 (see ember.random), so this module reproduces torch's permutation with
NumPy's MT19937, seeded the way torch seeds its generator; that way a job
split across ranks visits the same samples in the same order under Ember
and under torch.
"""
import math

import numpy as np

from .sampler import Sampler


def _torch_randperm(n, seed):
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()``.

    torch's CPU generator is MT19937 seeded with the low 32 bits of the seed
    (the classic init_genrand); randperm swaps element i with element
    i + (next 32-bit draw mod (n - i)) for i = 0 .. n-2."""
    bits = np.random.MT19937(0)
    bits._legacy_seeding(int(seed) & 0xFFFF_FFFF)
    if n < 2:
        return list(range(n))
    if n >= 0xFFFF_FFFF // 20:
        raise NotImplementedError("DistributedSampler: datasets of 214 million samples or more "
                                  "are not supported (torch draws 64-bit numbers there)")
    pos = np.arange(n - 1, dtype=np.uint64)
    offsets = (bits.random_raw(n - 1) % (np.uint64(n) - pos) + pos).tolist()
    perm = list(range(n))
    for i, j in enumerate(offsets):
        perm[i], perm[j] = perm[j], perm[i]
    return perm


class DistributedSampler(Sampler):
    """The indices of rank ``rank`` among ``num_replicas`` (torch's DistributedSampler).

    The dataset is shuffled (``shuffle=True``) with seed ``seed + epoch`` --
    call ``set_epoch`` at the start of every epoch, as with torch -- then
    padded by repeating its start (or, with ``drop_last=True``, cut) to a
    multiple of ``num_replicas``; rank r takes every ``num_replicas``-th
    index starting at r.  ``num_replicas`` and ``rank`` default to the
    default process group's."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(self.dataset)
        if self.drop_last and n % self.num_replicas != 0:
            # Drop the tail so that every rank gets the same number of samples.
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        indices = _torch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Shuffle differently in each epoch (the seed is ``seed + epoch``)."""
        self.epoch = epoch
