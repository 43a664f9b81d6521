"""The fast kernels behind the hot ops, on the sizes where their fast paths
run: intra-op threads (ember._parallel; threaded result == one-thread
result), fused GELU, layer norm, unshifted softmax, masked_fill."""
import threading

import numpy as np
import pytest
import torch

import ember
from ember import _parallel
from helpers import check, rand


@pytest.fixture
def threads():
    before = ember.get_num_threads()
    yield
    ember.set_num_threads(before)


def test_num_threads_api(threads):
    ember.set_num_threads(3)
    assert ember.get_num_threads() == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(RuntimeError, match="positive integer"):
            ember.set_num_threads(bad)


@pytest.mark.parametrize("n,nt", [(0, 2), (5, 2), (1 << 17, 2), (1 << 17, 3), (1000003, 4)])
def test_parallel_for_covers_every_index_once(threads, n, nt):
    ember.set_num_threads(nt)
    hits = np.zeros(n, dtype=np.int64)
    ranges = []

    def kernel(lo, hi):
        hits[lo:hi] += 1
        ranges.append((lo, hi))

    _parallel.parallel_for(kernel, n, grain=1 << 15)
    assert (hits == 1).all()
    assert len(ranges) == max(1, min(nt, n >> 15))


def test_parallel_for_runs_on_several_threads_and_reraises(threads):
    ember.set_num_threads(2)
    seen = set()

    def kernel(lo, hi):
        seen.add(threading.get_ident())
        if lo > 0:
            raise ValueError(f"bad range {lo}")

    with pytest.raises(ValueError, match="bad range"):
        _parallel.parallel_for(kernel, 1 << 17, grain=1 << 15)
    assert len(seen) == 2
    # the pool still works after an error, and nested calls run on the calling thread
    inner = []
    _parallel.parallel_for(lambda lo, hi: _parallel.parallel_for(
        lambda a, b: inner.append(b - a), 1 << 17, grain=1 << 15), 1 << 17, grain=1 << 15)
    assert inner == [1 << 17, 1 << 17]    # each inner call: one range, not split


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_large_threaded_equals_serial_and_torch(threads, approximate):
    x = rand(8, 64, 300, low=-6, high=6, dtype=np.float32)   # 153600 elements: threaded
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        e = ember.tensor(x, requires_grad=True)
        y = ember.nn.functional.gelu(e, approximate=approximate)
        y.backward(ember.ones_like(y) * 0.5)
        outs.append((y.detach().numpy(), e.grad.numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    check(lambda lib, t: lib.nn.functional.gelu(t, approximate=approximate), x)


def test_gelu_special_values():
    # (+inf is left out: torch's float32 gelu gives nan or inf by tensor size)
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 10.0, -10.0, 50.0, -50.0, -np.inf, np.nan],
                 dtype=np.float32)
    check(lambda lib, t: lib.nn.functional.gelu(t), x)


@pytest.mark.parametrize("shape", [(4, 70, 500), (3, 5, 7)])
def test_layer_norm_large_and_small(shape):
    x = rand(*shape, dtype=np.float32)
    w, b = rand(shape[-1], seed=1, dtype=np.float32), rand(shape[-1], seed=2, dtype=np.float32)
    check(lambda lib, t, w, b: lib.nn.functional.layer_norm(t, shape[-1:], w, b), x, w, b)
    check(lambda lib, t: lib.nn.functional.layer_norm(t, shape[-2:]), x)


def _scores(kind):
    x = rand(6, 4, 40, 50, low=-5, high=5, dtype=np.float32)     # 48000 elements
    if kind == "masked":
        x[..., np.triu_indices(40, 1, 50)[0], np.triu_indices(40, 1, 50)[1]] = -np.inf
    elif kind == "row_all_masked":
        x[1, 2, 3, :] = -np.inf
    elif kind == "large":
        x[0, 0, 0, 0] = 300.0
    elif kind == "very_negative":
        x[2, 1, 5, :] -= 200.0
    elif kind == "nan":
        x[3, 3, 3, 3] = np.nan
    return x


@pytest.mark.parametrize("kind", ["plain", "masked", "row_all_masked", "large", "very_negative",
                                  "nan"])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_fast_paths(fn, kind):
    x = _scores(kind)
    check(lambda lib, t: getattr(lib.nn.functional, fn)(t, dim=-1), x)
    check(lambda lib, t: getattr(lib.nn.functional, fn)(t, dim=1), x)
    check(lambda lib, t: getattr(lib.nn.functional, fn)(t.double(), dim=-1), x)


@pytest.mark.parametrize("value", [float("-inf"), 2.5])
def test_masked_fill_broadcast_mask(value):
    x = rand(8, 4, 32, 32, dtype=np.float32)
    m = np.triu(np.ones((32, 32), bool), 1)[None, None]
    check(lambda lib, t: t.masked_fill(lib.tensor(m), value), x)
    check(lambda lib, t: t.masked_fill(lib.tensor(m[0, 0, :1]), value), x)
