"""Tensors on two devices in one op raise torch's error.

torch: ``RuntimeError: Expected all tensors to be on the same device, but
found at least two devices, cuda:0 and cpu!``.  Without a GPU the guard
backend (tests/guard_backend.py) stands in for the second device: its arrays
refuse to mix with NumPy's, as CuPy's do.
"""
import pytest

import ember
import ember.nn.functional as F

import guard_backend

guard_backend.register()

MIXED = {
    "add": lambda g, c: g + c,
    "reflected_mul": lambda g, c: c * g,
    "method_sub_alpha": lambda g, c: g.sub(c, alpha=2),
    "recorded_mul": lambda g, c: g.detach().requires_grad_() * c,
    "matmul": lambda g, c: ember.matmul(c.reshape(3, 1), g.reshape(1, 3)),
    "where": lambda g, c: ember.where(g > 0, g, c),
    "cat": lambda g, c: ember.cat([g, c]),
    "stack": lambda g, c: ember.stack([c, g]),
    "linear": lambda g, c: F.linear(g, c.reshape(1, 3).expand(2, 3)),
    "mse_loss": lambda g, c: F.mse_loss(g, c),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_mixing_devices_raises_torchs_error(name):
    g = ember.randn(3, device="guard")
    c = ember.randn(3, device="cpu")
    with pytest.raises(RuntimeError, match=r"^Expected all tensors to be on the same device, but "
                                           r"found at least two devices, (guard and cpu|cpu and guard)!$"):
        MIXED[name](g, c)


def test_same_device_ops_still_work_after_moving():
    g = ember.randn(3, device="guard")
    c = ember.randn(3, device="cpu")
    r = g + c.to("guard")
    assert r.device.type == "guard"
    assert (r.cpu() - (g.cpu() + c)).abs().max().item() == 0
