"""Shared test tools: run the same computation in Ember and torch, compare.

``check(fn, *arrays)`` builds tensors from the NumPy arrays in both
frameworks, runs ``fn(lib, *tensors)`` where ``lib`` is ``ember`` or
``torch``, and compares outputs and the gradients of every floating input
(under a random upstream gradient) at float64-tight or float32-loose
tolerances.
"""
import os

import numpy as np
import torch

import ember

# the device type every test tensor lives on (see conftest.py; fake-cuda's is "cuda")
TEST_DEVICE = os.environ.get("EMBER_TEST_DEVICE", "cpu").replace("fake-cuda", "cuda")
TOL = {np.float64: (1e-10, 1e-8), np.float32: (1e-5, 1e-4), np.float16: (1e-2, 1e-2),
       np.complex128: (1e-10, 1e-8), np.complex64: (1e-5, 1e-4)}


def to_torch(x):
    if isinstance(x, ember.Tensor):
        t = torch.from_numpy(np.array(x.detach().cpu().numpy()))
        return t.requires_grad_(x.requires_grad) if t.is_floating_point() or t.is_complex() else t
    return x


def to_ember(x):
    if isinstance(x, torch.Tensor):
        return ember.tensor(x.detach().numpy()).requires_grad_(x.requires_grad)
    return x


def shares_memory(a, b):
    """Whether two Ember tensors' arrays overlap in memory, on any device
    (asked of the arrays' own namespace: np.shares_memory, cupy.shares_memory)."""
    from ember.backends import namespace
    return bool(namespace(a._data).shares_memory(a._data, b._data))


def pair(arr, requires_grad=None):
    """The same data as an Ember and a torch tensor (grad on for floats by default)."""
    arr = np.asarray(arr)
    rg = arr.dtype.kind in "fc" if requires_grad is None else requires_grad
    e = ember.tensor(arr.copy())
    t = torch.from_numpy(arr.copy())
    if rg:
        e.requires_grad_(True)
        t.requires_grad_(True)
    return e, t


def assert_close(e, t, atol=None, rtol=None, what="output"):
    """Compare an Ember result (tensor/tuple/number) with torch's, dtype included."""
    if isinstance(t, (tuple, list)):
        assert isinstance(e, (tuple, list)) and len(e) == len(t), f"{what}: {e!r} vs {t!r}"
        for i, (a, b) in enumerate(zip(e, t)):
            assert_close(a, b, atol, rtol, f"{what}[{i}]")
        return
    if isinstance(t, torch.Tensor):
        assert isinstance(e, ember.Tensor), f"{what}: expected a Tensor, got {type(e)}"
        assert e.device.type == TEST_DEVICE, f"{what}: on {e.device}, not on the test device"
        tn = t.detach().numpy(force=True)  # force: torch may give a ZeroTensor grad
        en = e.detach().cpu().numpy()     # (.cpu(): a device array is no NumPy array)
        assert en.dtype == tn.dtype, f"{what}: dtype {en.dtype} != torch {tn.dtype}"
        assert en.shape == tn.shape, f"{what}: shape {en.shape} != torch {tn.shape}"
        if tn.dtype.kind in "fc":
            a, r = TOL.get(tn.dtype.type, (1e-5, 1e-4))
            np.testing.assert_allclose(en, tn, atol=atol or a, rtol=rtol or r, equal_nan=True,
                                       err_msg=what)
        else:
            np.testing.assert_array_equal(en, tn, err_msg=what)
        return
    if isinstance(t, float):
        np.testing.assert_allclose(e, t, rtol=1e-6, err_msg=what)
        return
    assert e == t, f"{what}: {e!r} != {t!r}"


def check(fn, *arrays, atol=None, rtol=None, grad=True, seed=0, requires_grad=None):
    """Run ``fn(lib, *tensors)`` on Ember and torch; compare outputs and grads."""
    pairs = [pair(a, requires_grad) if isinstance(a, np.ndarray) else (a, a) for a in arrays]
    es = [p[0] for p in pairs]
    ts = [p[1] for p in pairs]
    out_e = fn(ember, *es)
    out_t = fn(torch, *ts)
    assert_close(out_e, out_t, atol, rtol)
    if not grad:
        return out_e, out_t
    outs_e = out_e if isinstance(out_e, (tuple, list)) else (out_e,)
    outs_t = out_t if isinstance(out_t, (tuple, list)) else (out_t,)
    rng = np.random.default_rng(seed)
    loss_e, loss_t = 0, 0
    any_grad = False
    for oe, ot in zip(outs_e, outs_t):
        if isinstance(ot, torch.Tensor) and ot.requires_grad:
            dt = ot.detach().numpy(force=True).dtype
            if dt.kind == "c":
                # a real loss of a complex output: its parts weighted apart, so the
                # gradient convention (dL/dRe + i dL/dIm) is what gets compared
                wr, wi = (rng.standard_normal(ot.shape).astype(dt.type(0).real.dtype)
                          for _ in range(2))
                loss_e = loss_e + (oe.real * ember.tensor(wr) + oe.imag * ember.tensor(wi)).sum()
                loss_t = loss_t + (ot.real * torch.from_numpy(wr)
                                   + ot.imag * torch.from_numpy(wi)).sum()
            else:
                w = rng.standard_normal(ot.shape).astype(dt)
                loss_e = loss_e + (oe * ember.tensor(w)).sum()
                loss_t = loss_t + (ot * torch.from_numpy(w)).sum()
            any_grad = True
    if not any_grad:
        return out_e, out_t
    loss_t.backward()
    loss_e.backward()
    for i, (e, t) in enumerate(zip(es, ts)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            if t.grad is None:
                assert e.grad is None or np.all(e.grad.cpu().numpy() == 0), f"grad[{i}] should be None"
            else:
                assert e.grad is not None, f"grad of input {i} is None, torch has one"
                assert_close(e.grad, t.grad, atol, rtol, what=f"grad of input {i}")
    return out_e, out_t


def rand(*shape, dtype=np.float64, seed=0, low=-2.0, high=2.0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "c":         # (complex: real and imaginary parts uniform)
        return (rng.uniform(low, high, size=shape)
                + 1j * rng.uniform(low, high, size=shape)).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def count_kernel_calls(monkeypatch, names):
    """Wrap the compiled CPU kernels ``names`` so that every call is counted;
    returns the dict name -> number of calls, filled as the test runs (the
    tests that a compiled path is really the one taken)."""
    from ember.backends.cpu import _numba as kernels
    seen = {}
    for name in names:
        fn = getattr(kernels, name)

        def spy(*a, _fn=fn, _name=name):
            seen[_name] = seen.get(_name, 0) + 1
            return _fn(*a)
        monkeypatch.setattr(kernels, name, spy)
    return seen
