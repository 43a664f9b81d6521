"""DistributedSampler gives each rank torch's exact indices (no MPI needed:
num_replicas and rank are passed explicitly)."""
import pytest
import torch
import torch.utils.data.distributed as td

import ember
from ember.utils.data import DistributedSampler
from ember.utils.data.distributed import _torch_randperm


@pytest.mark.parametrize("n,seed", [(0, 0), (1, 3), (2, 0), (10, 0), (97, 5), (1000, 123456789),
                                    (50, 2 ** 33 + 7), (13, -5)])
def test_permutation_is_torch_randperm(n, seed):
    g = torch.Generator()
    g.manual_seed(seed)
    assert _torch_randperm(n, seed) == torch.randperm(n, generator=g).tolist()


CASES = [(size, replicas, seed, epoch, drop_last, shuffle)
         for size, replicas in [(10, 2), (11, 2), (7, 3), (3, 4), (100, 8), (1, 2)]
         for seed, epoch in [(0, 0), (42, 3)]
         for drop_last in (False, True)
         for shuffle in (True, False)]


@pytest.mark.parametrize("size,replicas,seed,epoch,drop_last,shuffle", CASES)
def test_indices_equal_torch(size, replicas, seed, epoch, drop_last, shuffle):
    data = list(range(size))
    for rank in range(replicas):
        mine = DistributedSampler(data, replicas, rank, shuffle=shuffle, seed=seed,
                                  drop_last=drop_last)
        ref = td.DistributedSampler(data, replicas, rank, shuffle=shuffle, seed=seed,
                                    drop_last=drop_last)
        mine.set_epoch(epoch)
        ref.set_epoch(epoch)
        assert list(mine) == list(ref)
        assert len(mine) == len(ref) and mine.total_size == ref.total_size


def test_epochs_shuffle_differently_and_ranks_partition_the_data():
    data = list(range(20))
    a = [DistributedSampler(data, 2, r, seed=1) for r in range(2)]
    first = [list(s) for s in a]
    assert sorted(first[0] + first[1]) == data
    for s in a:
        s.set_epoch(1)
    assert [list(s) for s in a] != first


def test_with_a_dataloader():
    ds = ember.utils.data.TensorDataset(ember.arange(10))
    tds = torch.utils.data.TensorDataset(torch.arange(10))
    mine = ember.utils.data.DataLoader(ds, batch_size=2, sampler=DistributedSampler(ds, 2, 1))
    ref = torch.utils.data.DataLoader(tds, batch_size=2, sampler=td.DistributedSampler(tds, 2, 1))
    assert [b[0].tolist() for b in mine] == [b[0].tolist() for b in ref]


def test_bad_rank_raises_like_torch():
    for rank in (2, -1):
        with pytest.raises(ValueError, match="Invalid rank"):
            DistributedSampler(list(range(4)), 2, rank)
        with pytest.raises(ValueError, match="Invalid rank"):
            td.DistributedSampler(list(range(4)), 2, rank)


def test_without_a_process_group_raises():
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(list(range(4)))
