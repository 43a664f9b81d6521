"""DLPack: zero-copy exchange with torch and NumPy, both ways (the memory is shared:
a write through one side is read on the other)."""
import numpy as np
import pytest
import torch

import ember
from ember.utils import dlpack as edl


def test_ember_to_torch_shares_memory():
    e = ember.arange(6.).view(2, 3)
    t = torch.from_dlpack(e)
    assert t.dtype == torch.float32 and tuple(t.shape) == (2, 3)
    t[0, 1] = 100.0                                # torch writes, Ember reads
    assert e[0, 1].item() == 100.0
    e.add_(1)                                      # Ember writes, torch reads
    np.testing.assert_array_equal(t.numpy(), e.numpy(force=True))
    assert t.data_ptr() == e.data_ptr()


def test_torch_to_ember_shares_memory():
    t = torch.arange(6.).view(2, 3)
    e = ember.from_dlpack(t)
    assert e.dtype == ember.float32 and e.shape == (2, 3)
    e[1, 2] = -5.0                                 # Ember writes, torch reads
    assert t[1, 2].item() == -5.0
    t.mul_(2)                                      # torch writes, Ember reads
    np.testing.assert_array_equal(e.numpy(force=True), t.numpy())
    assert e.data_ptr() == t.data_ptr()


def test_legacy_capsules_both_ways():
    t = torch.zeros(3)
    e = edl.from_dlpack(torch.utils.dlpack.to_dlpack(t))
    e[0] = 7.0
    assert t[0].item() == 7.0
    back = torch.utils.dlpack.from_dlpack(edl.to_dlpack(e))
    back[1] = 8.0
    assert e[1].item() == 8.0 and t[1].item() == 8.0
    capsule = edl.to_dlpack(ember.ones(2))
    assert "dltensor" in repr(capsule)
    with pytest.raises(AssertionError, match="capsule"):
        ember.from_dlpack(capsule, copy=True)      # (as torch: no options with a capsule)


def test_numpy_both_ways():
    a = np.arange(4, dtype=np.int64)
    e = ember.from_dlpack(a)
    e.add_(10)
    np.testing.assert_array_equal(a, [10, 11, 12, 13])
    n = np.from_dlpack(e)
    n[0] = -1
    assert e[0].item() == -1


@pytest.mark.parametrize("view", ["t", "step", "row", "col", "offset"])
def test_non_contiguous_views(view):
    base = torch.arange(24.).view(4, 6)
    make = {"t": lambda x: x.t(), "step": lambda x: x[:, ::2], "row": lambda x: x[2],
            "col": lambda x: x[:, 3], "offset": lambda x: x[1:, 2:]}[view]
    tv = make(base)
    e = ember.from_dlpack(tv)                      # torch view -> Ember
    assert e.stride() == tv.stride()
    np.testing.assert_array_equal(e.numpy(force=True), tv.numpy())
    e.mul_(-1)
    np.testing.assert_array_equal(tv.numpy(), e.numpy(force=True))
    eb = ember.arange(24.).view(4, 6)              # Ember view -> torch
    ev = make(eb)
    t = torch.from_dlpack(ev)
    assert t.stride() == ev.stride()
    t.add_(100)
    np.testing.assert_array_equal(ev.numpy(force=True), t.numpy())


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "uint8", "int16",
                                   "int32", "int64", "bool"])
def test_dtypes(dtype):
    t = (torch.arange(5) % 2).to(getattr(torch, dtype))
    e = ember.from_dlpack(t)
    assert e.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(e.numpy(force=True), t.numpy())
    back = torch.from_dlpack(e)
    assert back.dtype == t.dtype and back.data_ptr() == t.data_ptr()


def test_requires_grad_is_refused_as_torch_refuses():
    e = ember.ones(2, requires_grad=True)
    t = torch.ones(2, requires_grad=True)
    with pytest.raises(BufferError) as te:
        t.__dlpack__()
    with pytest.raises(BufferError) as ee:
        e.__dlpack__()
    assert str(ee.value) == str(te.value)
    with pytest.raises(BufferError, match="require gradient"):
        torch.from_dlpack(e)
    assert torch.from_dlpack(e.detach()).tolist() == [1.0, 1.0]
    with pytest.raises(BufferError, match="require gradient"):
        ember.from_dlpack(t)


def test_device_stream_and_bad_input():
    e = ember.ones(2)
    assert e.__dlpack_device__() == torch.ones(2).__dlpack_device__() == (1, 0)
    assert e.__dlpack_device__()[0] is edl.DLDeviceType.kDLCPU
    torch.from_dlpack(e.__dlpack__(stream=None))
    torch.from_dlpack(e.__dlpack__(stream=-1))
    with pytest.raises(TypeError, match="stream"):
        e.__dlpack__(stream="s")
    with pytest.raises(AssertionError, match="stream should be None on cpu"):
        e.__dlpack__(stream=1)
    with pytest.raises(TypeError, match="__dlpack__"):
        ember.from_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="Tensor"):
        edl.to_dlpack(np.ones(2))
    with pytest.raises(TypeError, match="uint16"):
        ember.from_dlpack(torch.ones(2, dtype=torch.uint16))
    with pytest.raises(BufferError, match="DLPack"):
        ember.from_dlpack(torch.ones(2, dtype=torch.bfloat16))


def test_copy_option():
    t = torch.zeros(2)
    e = ember.from_dlpack(t, copy=True)
    e.fill_(3.0)
    assert t.tolist() == [0.0, 0.0]
    n = np.from_dlpack(ember.ones(2), copy=True)
    n[0] = 5
