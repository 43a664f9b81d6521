"""ember.utils.data: datasets, samplers, collation and the DataLoader, against torch.

Worker tests use tiny datasets and short timeouts; every DataLoader that
starts workers is checked to leave no worker process behind.
"""
import collections
import math
import multiprocessing as mp
import os
import random
import time
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import ember
from ember.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                              IterableDataset, RandomSampler, SequentialSampler, StackDataset,
                              Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                              default_collate, default_convert, get_worker_info, random_split)


# ---- helpers ---------------------------------------------------------------------------------

def plain(x):
    """A framework-neutral picture of a (nested) batch: tensors become
    ('T', dtype name, shape, values); containers keep their type name."""
    if isinstance(x, (ember.Tensor, torch.Tensor)):
        arr = np.asarray(x.detach().numpy())
        return ("T", arr.dtype.name, arr.shape, arr.tolist())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return ("namedtuple", type(x).__name__, [plain(v) for v in x])
    if isinstance(x, dict):
        return (type(x).__name__, {k: plain(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [plain(v) for v in x])
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.name, x.tolist())
    return x


def ids(batches):
    """The sample ids of a list of 1-d id batches."""
    return [b.tolist() for b in batches]


@pytest.fixture
def no_leftover_workers():
    yield
    if mp.active_children():
        import gc
        gc.collect()  # iterators caught in reference cycles (pytest.raises' traceback)
    # (only then: a full collection of a whole run's heap costs ~0.2 s of CPU)
    deadline = time.monotonic() + 5
    while mp.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mp.active_children() == [], "DataLoader workers were left running"


class Range(Dataset):
    """Sample i is i (an int)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


# ---- datasets --------------------------------------------------------------------------------

def test_tensor_dataset():
    x = ember.arange(12).reshape(6, 2)
    y = ember.arange(6) * 10
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[2]
    assert a.tolist() == [4, 5] and b.item() == 20
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, ember.arange(5))
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        tud.TensorDataset(torch.zeros(6), torch.zeros(5))


def test_dataset_base_and_add():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    c = Range(3) + Range(2)
    assert isinstance(c, ConcatDataset)
    assert [c[i] for i in range(len(c))] == [0, 1, 2, 0, 1]


def test_concat_dataset():
    c = ConcatDataset([Range(3), Range(0), Range(4)])
    t = tud.ConcatDataset([Range(3), Range(0), Range(4)])
    assert c.cumulative_sizes == t.cumulative_sizes == [3, 3, 7]
    assert len(c) == 7
    assert [c[i] for i in range(-7, 7)] == [t[i] for i in range(-7, 7)]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        c[-8]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])

    class It(IterableDataset):
        def __iter__(self):
            return iter([1])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([Range(2), It()])


def test_subset_stack_chain():
    s = Subset(Range(10), [7, 3, 5])
    assert len(s) == 3 and [s[i] for i in range(3)] == [7, 3, 5]
    assert s.__getitems__([2, 0]) == [5, 7]
    st = StackDataset(Range(3), Range(3))
    assert st[1] == (1, 1) and len(st) == 3
    assert StackDataset(a=Range(2), b=Range(2))[1] == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(Range(2), Range(3))

    class It(IterableDataset):
        def __init__(self, xs):
            self.xs = xs

        def __iter__(self):
            return iter(self.xs)

        def __len__(self):
            return len(self.xs)
    ch = It([1, 2]) + It([3])
    assert isinstance(ch, ChainDataset)
    assert list(ch) == [1, 2, 3] and len(ch) == 3


@pytest.mark.parametrize("n, lengths", [
    (10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.2, 0.6]),
    (5, [1 / 3, 1 / 3, 1 / 3]), (3, [0.1, 0.9]), (100, [0.25, 0.25, 0.25, 0.25]),
])
def test_random_split_sizes_match_torch(n, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-length split warnings
        e = random_split(Range(n), lengths, generator=ember.Generator().manual_seed(1))
        t = tud.random_split(Range(n), lengths, generator=torch.Generator().manual_seed(1))
    assert [len(s) for s in e] == [len(s) for s in t]
    everything = sorted(i for s in e for i in (s[j] for j in range(len(s))))
    assert everything == list(range(n))


def test_random_split_reproducible_and_errors():
    a = random_split(Range(20), [5, 15], generator=ember.Generator().manual_seed(3))
    b = random_split(Range(20), [5, 15], generator=ember.Generator().manual_seed(3))
    assert a[0].indices == b[0].indices and a[1].indices == b[1].indices
    ember.manual_seed(5)
    c = random_split(Range(20), [5, 15])
    ember.manual_seed(5)
    d = random_split(Range(20), [5, 15])
    assert c[0].indices == d[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(Range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(Range(10), [0.5, -0.5, 1.0])
    with pytest.warns(UserWarning, match="Length of split at index 0 is 0"):
        random_split(Range(3), [0.0, 1.0])


# ---- samplers --------------------------------------------------------------------------------

def test_sequential_and_random_sampler():
    assert list(SequentialSampler(Range(4))) == [0, 1, 2, 3]
    rs = RandomSampler(Range(10))
    assert len(rs) == 10 and sorted(rs) == list(range(10))
    # num_samples beyond the length: whole permutations, then a cut one
    rs = RandomSampler(Range(4), num_samples=10)
    out = list(rs)
    assert len(out) == 10 and sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]
    rep = list(RandomSampler(Range(3), replacement=True, num_samples=70))
    assert len(rep) == 70 and set(rep) <= {0, 1, 2}
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(Range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(Range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(Range(0))


def test_random_sampler_seeding():
    ember.manual_seed(7)
    a = list(RandomSampler(Range(50)))
    ember.manual_seed(7)
    b = list(RandomSampler(Range(50)))
    assert a == b
    assert list(RandomSampler(Range(50))) != a  # the global stream moved on
    g1, g2 = ember.Generator().manual_seed(2), ember.Generator().manual_seed(2)
    assert list(RandomSampler(Range(50), generator=g1)) == list(RandomSampler(Range(50), generator=g2))


def test_subset_random_and_weighted_sampler():
    s = SubsetRandomSampler([10, 20, 30])
    assert len(s) == 3 and sorted(s) == [10, 20, 30]
    w = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200)
    out = list(w)
    assert len(w) == 200 and len(out) == 200 and set(out) <= {1, 3}
    assert out.count(3) > out.count(1)
    no_rep = list(WeightedRandomSampler([1.0, 2.0, 3.0], 3, replacement=False))
    assert sorted(no_rep) == [0, 1, 2]
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1.0], 1, replacement=None)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist"):
        list(WeightedRandomSampler([1.0, 2.0], 3, replacement=False))


@pytest.mark.parametrize("n, bs, drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                                         (2, 5, True), (0, 2, False)])
def test_batch_sampler_matches_torch(n, bs, drop):
    e = BatchSampler(SequentialSampler(Range(n)), bs, drop)
    t = tud.BatchSampler(tud.SequentialSampler(Range(n)), bs, drop)
    assert list(e) == list(t)
    assert len(e) == len(t)


def test_batch_sampler_errors():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match=f"batch_size should be a positive integer value, but got batch_size={bad}"):
            BatchSampler(range(4), bad, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(range(4), 2, 1)


# ---- collation ---------------------------------------------------------------------------------

def _samples(lib):
    """A batch of rich samples built with ``lib`` (ember or torch)."""
    P = collections.namedtuple("P", "x y")
    out = []
    for i in range(3):
        out.append({
            "t": lib.tensor([i, i + 1.0]),
            "t0": lib.tensor(float(i)),
            "ti": lib.tensor([[i, 2 * i]], dtype=lib.int32),
            "tb": lib.tensor([i % 2 == 0]),
            "np": np.full((2, 2), i, dtype=np.float64),
            "np32": np.arange(3, dtype=np.int32) + i,
            "npf16": np.ones(2, dtype=np.float16) * i,
            "nps": np.float32(i / 2),
            "npi": np.int16(i),
            "npb": np.bool_(i > 0),
            "f": i / 4,
            "i": i,
            "b": i == 1,
            "s": f"s{i}",
            "by": b"xy",
            "tup": (i, float(i)),
            "lst": [i, [i, i]],
            "nt": P(i, lib.tensor([i])),
            "od": collections.OrderedDict(a=i, b=lib.tensor(i)),
        })
    return out


def test_default_collate_matches_torch():
    e = default_collate(_samples(ember))
    t = tud.default_collate(_samples(torch))
    assert plain(e) == plain(t)


@pytest.mark.parametrize("make", [
    lambda lib: [(lib.tensor([1.0, 2.0]), 1), (lib.tensor([3.0, 4.0]), 2)],
    lambda lib: [[1, 2], [3, 4]],
    lambda lib: [1.5, 2],
    lambda lib: [1, 2.5],
    lambda lib: [True, False],
    lambda lib: [np.array(1.0), np.array(2.0)],
    lambda lib: [np.float64(1), np.float64(2)],
    lambda lib: ["a", "b"],
    lambda lib: [lib.tensor(1, dtype=lib.uint8), lib.tensor(2, dtype=lib.uint8)],
    lambda lib: [lib.zeros(0, 3), lib.zeros(0, 3)],
])
def test_default_collate_cases_match_torch(make):
    assert plain(default_collate(make(ember))) == plain(tud.default_collate(make(torch)))


@pytest.mark.parametrize("make", [
    lambda lib: [lib.zeros(3), lib.zeros(4)],
    lambda lib: [np.zeros(3), np.zeros((3, 1))],
    lambda lib: [[1, 2], [3]],
    lambda lib: [object(), object()],
    lambda lib: [None, None],
    lambda lib: [np.array(["a"]), np.array(["b"])],
    lambda lib: [{"a": 1}, {"b": 2}],
])
def test_default_collate_errors_match_torch(make):
    with pytest.raises(Exception) as te:
        tud.default_collate(make(torch))
    with pytest.raises(type(te.value)) as ee:
        default_collate(make(ember))
    assert str(ee.value) == str(te.value)


def test_collate_keeps_autograd():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    out = default_collate([a, a * 2])
    out.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


def test_collate_keeps_the_samples_device():
    """Samples on another device (the guard backend stands in for one) are
    stacked there, as torch.stack would; a DataLoader over a tensor used as a
    dataset collates its rows this way."""
    import guard_backend
    guard_backend.register()
    rows = ember.arange(6.0, device="guard").reshape(3, 2)
    out = default_collate([rows[0], rows[2]])
    assert out.device.type == "guard" and out.tolist() == [[0.0, 1.0], [4.0, 5.0]]
    batches = list(DataLoader(rows, batch_size=2))
    assert [b.device.type for b in batches] == ["guard", "guard"]
    assert batches[1].tolist() == [[4.0, 5.0]]
    mixed = default_collate([ember.tensor([1, 2], device="guard"),
                             ember.tensor([1.5, 2.0], device="guard")])
    assert mixed.dtype == ember.float32 and mixed.tolist() == [[1.0, 2.0], [1.5, 2.0]]


@pytest.mark.parametrize("make", [
    lambda lib: (1, np.array([1.0, 2.0])),
    lambda lib: np.float64(3),
    lambda lib: np.arange(3, dtype=np.int16),
    lambda lib: "x",
    lambda lib: np.array(["a"]),
    lambda lib: {"a": np.zeros(2), "b": [np.int32(1), "s"]},
    lambda lib: collections.namedtuple("Q", "a")(np.ones(1)),
    lambda lib: lib.tensor([1, 2]),
])
def test_default_convert_matches_torch(make):
    assert plain(default_convert(make(ember))) == plain(tud.default_convert(make(torch)))


# ---- DataLoader, main process ----------------------------------------------------------------

def _xy(n=10):
    x = ember.arange(2 * n, dtype=ember.float32).reshape(n, 2)
    y = ember.arange(n)
    return TensorDataset(x, y)


def test_dataloader_order_len_drop_last():
    ds = _xy(10)
    dl = DataLoader(ds, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and len(batches) == 3
    assert ids(b[1] for b in batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 2) and batches[0][0].dtype == ember.float32
    assert batches[2][0].tolist() == [[16.0, 17.0], [18.0, 19.0]]
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and ids(b[1] for b in dl) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(ds)) == 10


def test_dataloader_tensor_dataset_fast_path_matches_generic_collate():
    ds = _xy(7)
    fast = list(DataLoader(ds, batch_size=3))
    slow = list(DataLoader(ds, batch_size=3, collate_fn=lambda b: default_collate(b)))
    assert plain(fast) == plain(slow)
    tds = tud.TensorDataset(torch.arange(14, dtype=torch.float32).reshape(7, 2), torch.arange(7))
    assert plain(fast) == plain(list(tud.DataLoader(tds, batch_size=3)))


def test_dataloader_matches_torch_on_rich_samples():
    class Rich(Dataset):
        def __init__(self, lib):
            self.samples = _samples(lib) * 3

        def __len__(self):
            return len(self.samples)

        def __getitem__(self, i):
            return self.samples[i]
    e = list(DataLoader(Rich(ember), batch_size=4))
    t = list(tud.DataLoader(Rich(torch), batch_size=4))
    assert plain(e) == plain(t)
    # batch_size=None: no batching, only NumPy -> tensor conversion
    e = list(DataLoader(Rich(ember), batch_size=None))
    t = list(tud.DataLoader(Rich(torch), batch_size=None))
    assert plain(e) == plain(t)


def test_dataloader_shuffle_reproducible():
    ds = _xy(20)
    ember.manual_seed(0)
    a = ids(b[1] for b in DataLoader(ds, batch_size=5, shuffle=True))
    ember.manual_seed(0)
    dl = DataLoader(ds, batch_size=5, shuffle=True)
    b1 = ids(b[1] for b in dl)
    b2 = ids(b[1] for b in dl)
    assert a == b1 and b1 != b2
    assert sorted(sum(b1, [])) == list(range(20))
    g = ember.Generator().manual_seed(11)
    c = ids(b[1] for b in DataLoader(ds, batch_size=5, shuffle=True, generator=g))
    g = ember.Generator().manual_seed(11)
    ember.manual_seed(123)  # the global seed is irrelevant with generator=
    d = ids(b[1] for b in DataLoader(ds, batch_size=5, shuffle=True, generator=g))
    assert c == d


def test_dataloader_sampler_batch_sampler_collate_fn():
    ds = Range(10)
    dl = DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 6])
    assert ids(dl) == [[9, 8, 7], [6]]
    dl = DataLoader(ds, batch_sampler=[[1, 2], [5], [0, 3, 4]])
    assert ids(dl) == [[1, 2], [5], [0, 3, 4]]
    assert dl.batch_size is None and len(dl) == 3
    dl = DataLoader(ds, batch_size=4, collate_fn=lambda b: sum(b))
    assert list(dl) == [6, 22, 17]

    class Batched(Range):
        calls = []

        def __getitems__(self, idx):
            self.calls.append(list(idx))
            return [i * 10 for i in idx]
    dl = DataLoader(Batched(5), batch_size=2)
    assert ids(dl) == [[0, 10], [20, 30], [40]]
    assert Batched.calls == [[0, 1], [2, 3], [4]]


def _both_raise(**kwargs):
    """Construct the loader in both frameworks; exceptions must match."""
    ds_kind = kwargs.pop("_iterable", False)

    class TIt(tud.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    class EIt(IterableDataset):
        def __iter__(self):
            return iter(range(3))
    with pytest.raises(Exception) as te:
        tud.DataLoader(TIt() if ds_kind else Range(5), **kwargs)
    with pytest.raises(type(te.value)) as ee:
        DataLoader(EIt() if ds_kind else Range(5), **kwargs)
    assert str(ee.value) == str(te.value)


@pytest.mark.parametrize("kwargs", [
    dict(sampler=[0, 1], shuffle=True),
    dict(batch_sampler=[[0]], batch_size=2),
    dict(batch_sampler=[[0]], shuffle=True),
    dict(batch_sampler=[[0]], sampler=[0]),
    dict(batch_sampler=[[0]], drop_last=True),
    dict(batch_size=None, drop_last=True),
    dict(num_workers=-1),
    dict(timeout=-1),
    dict(prefetch_factor=2),
    dict(num_workers=1, prefetch_factor=-1),
    dict(persistent_workers=True),
    dict(multiprocessing_context="fork"),
    dict(num_workers=1, multiprocessing_context="nope"),
    dict(num_workers=1, multiprocessing_context=3),
    dict(batch_size=0),
    dict(_iterable=True, shuffle=True),
    dict(_iterable=True, sampler=[0]),
    dict(_iterable=True, batch_sampler=[[0]]),
])
def test_dataloader_argument_errors_match_torch(kwargs):
    _both_raise(**kwargs)


def test_dataloader_attributes_frozen():
    dl = DataLoader(Range(4), batch_size=2)
    for attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                 "persistent_workers"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"):
            setattr(dl, attr, None)
    dl.num_workers = 0  # other attributes stay writable, as in torch
    assert isinstance(dl.sampler, SequentialSampler) and isinstance(dl.batch_sampler, BatchSampler)
    assert isinstance(DataLoader(Range(4), shuffle=True).sampler, RandomSampler)


class Stream(IterableDataset):
    """0..n-1; with workers, each takes every num_workers-th item (sharding)."""

    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


def test_iterable_dataset_main_process():
    dl = DataLoader(Stream(7), batch_size=3)
    assert len(dl) == 3 and ids(dl) == [[0, 1, 2], [3, 4, 5], [6]]
    dl = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert len(dl) == 2 and ids(dl) == [[0, 1, 2], [3, 4, 5]]
    dl = DataLoader(Stream(3), batch_size=None)
    assert list(dl) == [0, 1, 2]
    assert get_worker_info() is None

    class NoLen(IterableDataset):
        def __iter__(self):
            return iter(range(2))
    with pytest.raises(TypeError):
        len(DataLoader(NoLen()))


def test_iterable_dataset_len_warning():
    class Liar(IterableDataset):
        def __iter__(self):
            return iter(range(4))

        def __len__(self):
            return 2
    dl = DataLoader(Liar(), batch_size=None)
    len(dl)
    with pytest.warns(UserWarning, match="was reported to be 2"):
        list(dl)


def test_pin_memory_accepted_with_warning():
    with pytest.warns(UserWarning, match="no accelerator is found"):
        out = list(DataLoader(Range(3), batch_size=3, pin_memory=True))
    assert ids(out) == [[0, 1, 2]]


# ---- DataLoader, worker processes --------------------------------------------------------------

class WhoAmI(Dataset):
    """Sample i reports the worker that produced it and its random streams."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "init": _INIT_MARK.get("id", -1),
                "np": float(np.random.rand()), "py": random.random(),
                "ember": float(ember.rand(1).item())}


_INIT_MARK = {}


def _init_fn(worker_id):
    _INIT_MARK["id"] = worker_id + 100
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2


def test_workers_same_batches_as_main_process(no_leftover_workers):
    ds = _xy(23)
    main = list(DataLoader(ds, batch_size=4))
    work = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert plain(main) == plain(work)
    g = ember.Generator().manual_seed(5)
    main = ids(b[1] for b in DataLoader(ds, batch_size=3, shuffle=True, generator=g))
    g = ember.Generator().manual_seed(5)
    work = ids(b[1] for b in DataLoader(ds, batch_size=3, shuffle=True, generator=g,
                                        num_workers=2, prefetch_factor=3))
    assert main == work
    # a generic dataset with batch_size=None and a custom collate_fn
    assert list(DataLoader(Range(5), batch_size=None, num_workers=2)) == [0, 1, 2, 3, 4]
    assert list(DataLoader(Range(7), batch_size=3, num_workers=2, collate_fn=sum)) == [3, 12, 6]


def test_worker_info_init_fn_and_seeding(no_leftover_workers):
    ember.manual_seed(3)
    dl = DataLoader(WhoAmI(8), batch_size=2, num_workers=2, worker_init_fn=_init_fn)
    batches = list(dl)
    assert [b["i"].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    # batches go to the workers round-robin; init_fn ran in each
    assert [b["worker"].tolist() for b in batches] == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert [b["init"].tolist() for b in batches] == [[100, 100], [101, 101], [100, 100], [101, 101]]
    pids = {p for b in batches for p in b["pid"].tolist()}
    assert len(pids) == 2 and os.getpid() not in pids
    # the workers' random streams differ from each other ...
    for key in ("np", "py", "ember"):
        assert batches[0][key][0].item() != batches[1][key][0].item()
    # ... and repeat under the same global seed
    ember.manual_seed(3)
    again = list(DataLoader(WhoAmI(8), batch_size=2, num_workers=2, worker_init_fn=_init_fn))
    for key in ("np", "py", "ember"):
        assert [b[key].tolist() for b in batches] == [b[key].tolist() for b in again]
    assert get_worker_info() is None


def test_worker_info_fields(no_leftover_workers):
    class Info(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            info = get_worker_info()
            with pytest.raises(RuntimeError, match="Cannot assign attributes to WorkerInfo objects"):
                info.id = 5
            return [info.id, info.num_workers, info.seed, info.dataset is self]
    g = ember.Generator().manual_seed(0)
    out = list(DataLoader(Info(), batch_size=None, num_workers=2, generator=g))
    assert [o[:2] for o in out] == [[0, 2], [1, 2]]
    assert out[1][2] == out[0][2] + 1  # seed = base_seed + worker id
    assert out[0][3] is True


def test_persistent_workers_two_epochs(no_leftover_workers):
    dl = DataLoader(WhoAmI(6), batch_size=2, num_workers=2, persistent_workers=True)
    e1 = list(dl)
    e2 = list(dl)
    assert [b["i"].tolist() for b in e1] == [b["i"].tolist() for b in e2] == [[0, 1], [2, 3], [4, 5]]
    pids1 = {p for b in e1 for p in b["pid"].tolist()}
    pids2 = {p for b in e2 for p in b["pid"].tolist()}
    assert pids1 == pids2 and len(pids1) == 2
    # an epoch abandoned half way does not leak its batches into the next one
    it = iter(dl)
    next(it)
    assert [b["i"].tolist() for b in dl] == [[0, 1], [2, 3], [4, 5]]
    workers = list(dl._iterator._workers)
    assert all(w.is_alive() for w in workers)
    del it, dl
    import gc
    gc.collect()


class Fails(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            raise ValueError("sample 3 is broken")
        return i


def _first_error(loader):
    try:
        for _ in loader:
            pass
    except ValueError as e:
        return str(e)


def test_worker_exception_reaches_main_process(no_leftover_workers):
    # the usual try/except: the failed iterator is freed and its workers stop
    # at once, without waiting for the garbage collector
    msg = _first_error(DataLoader(Fails(), batch_size=2, num_workers=2))
    assert "Caught ValueError in DataLoader worker process 1" in msg
    deadline = time.monotonic() + 3
    while mp.active_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mp.active_children() == []
    t0 = time.monotonic()
    seen = []
    with pytest.raises(ValueError) as err:
        for b in DataLoader(Fails(), batch_size=2, num_workers=2, timeout=5):
            seen.append(b.tolist())
    msg = str(err.value)
    assert "Caught ValueError in DataLoader worker process 1" in msg
    assert "Original Traceback (most recent call last)" in msg
    assert "sample 3 is broken" in msg
    assert seen == [[0, 1]]
    assert time.monotonic() - t0 < 5
    # torch lets iteration continue after a worker's exception
    it = iter(DataLoader(Fails(), batch_size=2, num_workers=2))
    assert next(it).tolist() == [0, 1]
    with pytest.raises(ValueError, match="worker process 1"):
        next(it)
    assert [b.tolist() for b in it] == [[4, 5], [6, 7]]


def test_worker_exception_types(no_leftover_workers):
    class KeyErr(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {}["missing"]
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0"):
        list(DataLoader(KeyErr(), num_workers=1))

    def bad_init(worker_id):
        raise OSError("init failed")
    with pytest.raises(OSError, match="Caught OSError in DataLoader worker process 0"):
        list(DataLoader(Range(4), num_workers=2, worker_init_fn=bad_init))

    # a batch that cannot be sent back (not picklable) is reported, not hung on
    with pytest.raises(Exception, match="in DataLoader worker process 0"):
        list(DataLoader(Range(2), batch_size=2, num_workers=1, collate_fn=lambda b: (lambda: b)))


def test_worker_death_and_timeout(no_leftover_workers, monkeypatch):
    class Dies(Range):
        def __getitem__(self, i):
            if i == 2:
                os._exit(3)
            return i
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(Dies(6), batch_size=1, num_workers=2))
    assert time.monotonic() - t0 < 5

    class Slow(Range):
        def __getitem__(self, i):
            time.sleep(30)
            return i
    # a worker stuck in a fetch is terminated after the shutdown grace period
    monkeypatch.setattr(ember.utils.data.dataloader, "_SHUTDOWN_GRACE", 0.5)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(DataLoader(Slow(2), num_workers=1, timeout=0.3))
    assert time.monotonic() - t0 < 3


def test_early_break_shuts_workers_down(no_leftover_workers):
    big = TensorDataset(ember.zeros(64, 200, 200))  # batches bigger than a pipe buffer
    t0 = time.monotonic()
    for _ in DataLoader(big, batch_size=8, num_workers=2, prefetch_factor=4):
        break
    assert time.monotonic() - t0 < 5


def test_iterable_dataset_with_workers(no_leftover_workers):
    out = sorted(sum(ids(DataLoader(Stream(11), batch_size=2, num_workers=2)), []))
    assert out == list(range(11))
    # without sharding every worker yields the whole stream, as in torch
    out = sorted(sum(ids(DataLoader(Stream(3, shard=False), batch_size=2, num_workers=2)), []))
    assert out == [0, 0, 1, 1, 2, 2]
    # uneven shards: one worker runs dry early, the other keeps going
    class Uneven(IterableDataset):
        def __iter__(self):
            return iter(range(5) if get_worker_info().id == 0 else range(100, 101))
    out = sum(ids(DataLoader(Uneven(), batch_size=2, num_workers=2)), [])
    assert sorted(out) == [0, 1, 2, 3, 4, 100]
    assert list(DataLoader(Stream(4), batch_size=None, num_workers=2)) == [0, 1, 2, 3]
    dl = DataLoader(Stream(9), batch_size=2, num_workers=2, drop_last=True)
    assert sorted(sum(ids(dl), [])) == [0, 1, 2, 3, 4, 5, 6, 7]  # each worker drops its tail


def test_iterable_persistent_and_out_of_order(no_leftover_workers):
    dl = DataLoader(Stream(6), batch_size=2, num_workers=2, persistent_workers=True)
    assert sorted(sum(ids(dl), [])) == list(range(6))
    assert sorted(sum(ids(dl), [])) == list(range(6))
    del dl
    out = sum(ids(DataLoader(_xy(10), batch_size=3, num_workers=2, in_order=False,
                             collate_fn=lambda b: default_collate(b)[1])), [])
    assert sorted(out) == list(range(10))
