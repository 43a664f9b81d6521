"""Views, in-place writes and memory questions on a CUDA tensor, as torch answers
them.  On a GPU these run on CuPy; elsewhere on the fake CUDA device of
tests/fake_cuda.py, whose arrays, like CuPy's, have no __array_interface__ and
no read-only flag: each test here failed on it (and so would have on a GPU)
before Ember asked for device memory in a device-neutral way."""
import numpy as np
import pytest
import torch

import ember
import fake_cuda


@pytest.fixture
def cuda():
    """'real' on a GPU, else 'fake' with the stand-in registered for this test."""
    with fake_cuda.cuda_device() as kind:
        yield kind


def test_storage_offset_and_storage_of_views(cuda):
    x = ember.arange(10.0, device="cuda")
    t = torch.arange(10.0)
    for e, w in ((x[3:], t[3:]), (x.view(2, 5)[1], t.view(2, 5)[1]), (x[::2][1:], t[::2][1:])):
        assert e.storage_offset() == w.storage_offset()
        assert e.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        assert e.untyped_storage().nbytes() == 40


def test_partial_overlap_writes_raise_torchs_error(cuda):
    msg = "some elements of the input tensor and the written-to tensor refer to a single"
    a = ember.arange(6.0, device="cuda")
    with pytest.raises(RuntimeError, match=msg):
        a[1:].copy_(a[:-1])
    with pytest.raises(RuntimeError, match=msg):
        a[1:] = a[:-1]
    a[:] = a.clone().flip(0)            # (no overlap: allowed)
    assert a.cpu().tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


def test_writes_into_an_expanded_tensor(cuda):
    y = ember.ones(3, device="cuda").expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        y.add_(1)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        y.mul_(2)
    y.fill_(2.0)                        # (torch fills an expanded tensor: every alias alike)
    assert y.cpu().tolist() == [[2.0, 2.0, 2.0]] * 2


def test_inplace_on_a_view_with_autograd(cuda):
    for lib, dev in ((ember, "cuda"), (torch, "cpu")):
        w = lib.arange(12.0, device=dev).reshape(3, 4).requires_grad_(True)
        x = w * 1.0
        x[1].mul_(3.0)                  # (C-contiguous base: a strided region)
        x.t()[2].add_(x[0, 0])          # (a transposed view: an indexed region)
        (x * x).sum().backward()
        if lib is ember:
            got = (x, w.grad)
        else:
            np.testing.assert_allclose(got[0].detach().cpu().numpy(), x.detach().numpy())
            np.testing.assert_allclose(got[1].cpu().numpy(), w.grad.numpy())


def test_diagonal_is_a_writable_view(cuda):
    z = ember.zeros(3, 3, device="cuda")
    z.diagonal().fill_(1.0)
    assert z.cpu().tolist() == torch.eye(3).tolist()
