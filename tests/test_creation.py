"""Tensor creation, dtype inference, metadata, conversion and printing vs torch."""
import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("data", [1, 2.5, True, [1, 2], [1.0, 2], [[True, False]], [],
                                  [[1, 2], [3, 4]], np.float64(2.0), np.int32(3)])
def test_tensor_dtype_inference(data):
    e, t = ember.tensor(data), torch.tensor(data)
    assert e.dtype.name == str(t.dtype).split(".")[1]
    assert e.shape == tuple(t.shape)
    assert e.tolist() == t.tolist()


def test_tensor_from_ndarray_keeps_dtype_and_copies():
    a = np.arange(4, dtype=np.int32)
    e = ember.tensor(a)
    assert e.dtype is ember.int32
    a[0] = 9
    assert e[0].item() == 0


def test_from_numpy_and_numpy_share_memory():
    a = np.zeros(3, dtype=np.float32)
    e = ember.from_numpy(a)
    e.add_(1)
    assert a.tolist() == [1.0, 1.0, 1.0]
    e.numpy()[0] = 5
    assert e[0].item() == 5
    b = ember.as_tensor(a)
    b.mul_(2)
    assert a[0] == 10.0


def test_default_dtype():
    ember.set_default_dtype(ember.float64)
    assert ember.tensor(1.5).dtype is ember.float64
    assert ember.zeros(2).dtype is ember.float64
    assert (ember.arange(3) * 0.5).dtype is ember.float64
    ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError):
        ember.set_default_dtype(ember.int64)


def test_metadata_and_conversions():
    e = ember.zeros(2, 3, 4)
    t = torch.zeros(2, 3, 4)
    assert e.size() == tuple(t.size()) and e.size(-1) == 4 and e.dim() == 3 == e.ndim
    assert e.numel() == 24 and e.device == ember.device("cpu") and str(e.device) == "cpu"
    assert e.transpose(0, 2).stride() == t.transpose(0, 2).stride()
    assert not e.transpose(0, 2).is_contiguous() and e.transpose(0, 2).contiguous().is_contiguous()
    assert e.double().dtype is ember.float64 and e.half().dtype is ember.float16
    assert e.long().dtype is ember.int64 and e.int().dtype is ember.int32 and e.bool().dtype is ember.bool
    assert e.to(ember.float64).dtype is ember.float64 and e.to("cpu") is e
    assert e.to(ember.zeros(1, dtype=ember.int8)).dtype is ember.int8
    assert e.mT.shape == (2, 4, 3)
    assert ember.ones(2, 3).T.shape == (3, 2)
    assert e.cpu() is e
    if not ember.cuda.is_available():     # (tests/test_cuda_device.py: with CUDA)
        with pytest.raises(RuntimeError, match="is not available"):
            e.to("cuda")
        with pytest.raises(RuntimeError, match="is not available"):
            ember.zeros(2, device="cuda")
    assert ember.zeros(2, device="cpu").shape == (2,)


def test_item_and_tolist_errors():
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        ember.zeros(2).item()
    assert ember.tensor([[1.5]]).item() == 1.5
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ember.zeros(2))


@pytest.mark.parametrize("fn", [
    lambda L: L.zeros(2, 3), lambda L: L.ones((2, 3), dtype=L.int64), lambda L: L.full((2,), 7),
    lambda L: L.full((2,), 1.5), lambda L: L.full((2,), True), lambda L: L.arange(5),
    lambda L: L.arange(1, 2.5, 0.5), lambda L: L.arange(0, 1, 0.1), lambda L: L.linspace(0, 1, 7),
    lambda L: L.logspace(0, 2, 5), lambda L: L.eye(3), lambda L: L.eye(2, 4),
    lambda L: L.zeros_like(L.ones(2, dtype=L.int32)), lambda L: L.full_like(L.ones(3), 2),
    lambda L: L.arange(10, 0, -3), lambda L: L.linspace(-1, 1, 1), lambda L: L.empty(0, 3).shape,
])
def test_factories_match_torch(fn):
    e, t = fn(ember), fn(torch)
    if isinstance(t, torch.Tensor):
        assert e.dtype.name == str(t.dtype).split(".")[1]
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    else:
        assert tuple(e) == tuple(t)


def test_factory_errors():
    with pytest.raises(RuntimeError, match="negative dimension"):
        ember.zeros(-1)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        ember.arange(0, 1, 0)


@pytest.mark.parametrize("data,kw", [
    ([1.0, 2.5], {}), ([[1.0, -2.0], [3.0, 4.0]], {}), ([1, 2, 3], {}), ([True, False], {}),
    (3.0, {}), ([1e-5, 1.0], {}), ([1e10, 1.0], {}), ([0.1, 2.0], {"dtype": "float64"}),
    ([1.0, float("nan"), float("inf")], {}), ([[]], {}), ([1.0, 2.0], {"requires_grad": True}),
    (np.arange(2000.0).tolist(), {}), ([1, 2], {"dtype": "int32"}),
])
def test_repr_matches_torch(data, kw):
    kw_e = {k: (getattr(ember, v) if k == "dtype" else v) for k, v in kw.items()}
    kw_t = {k: (getattr(torch, v) if k == "dtype" else v) for k, v in kw.items()}
    e, t = ember.tensor(data, **kw_e), torch.tensor(data, **kw_t)
    assert repr(e) == repr(t).replace("torch.", "ember.")


def test_repr_grad_fn():
    x = ember.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward0>)"
