"""Every case of the op registry (tests/op_registry.py) against torch 2.13:
outputs and the gradients of every float input, in float32 and float64, and
the float64 numerical gradcheck.  Runs unchanged on any backend
(``EMBER_TEST_DEVICE=guard``: see tests/guard_backend.py)."""
import numpy as np
import pytest
import torch

import ember
from helpers import assert_close
from op_registry import CASES, Arg

_DTYPES = [np.float32, np.float64]


def _tensors(case, dtype):
    """The case's inputs as (ember, torch) tensor lists; floats that take
    gradients require grad in both."""
    es, ts = [], []
    for spec, arr in zip(case.args, case.arrays(dtype)):
        if isinstance(arr, np.ndarray):
            grad = isinstance(spec, Arg) and spec.kind == "float" and spec.grad and case.grad
            e = ember.tensor(arr.copy())
            t = torch.from_numpy(arr.copy())
            if grad:
                e.requires_grad_(True)
                t.requires_grad_(True)
            es.append(e)
            ts.append(t)
        else:
            es.append(arr)
            ts.append(arr)
    return es, ts


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("dtype", _DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_torch(case, dtype):
    if case.missing:
        pytest.xfail(case.missing)
    if dtype not in case.dtypes:
        pytest.skip(f"{case.name} is not defined for {np.dtype(dtype).name}")
    es, ts = _tensors(case, dtype)
    out_e, out_t = case.fn(ember, *es), case.fn(torch, *ts)
    if isinstance(out_t, torch.return_types.max.__mro__[1]):   # (values, indices) named tuples
        out_t = tuple(out_t)
    if not isinstance(out_e, (tuple, list)) and hasattr(out_e, "__len__") and \
            isinstance(out_t, tuple):
        out_e = tuple(out_e)
    assert_close(out_e, out_t, case.atol, case.rtol)
    if not case.grad:
        return
    rng = np.random.default_rng(1)
    loss_e = loss_t = 0
    for oe, ot in zip(_flat(out_e), _flat(out_t)):
        if isinstance(ot, torch.Tensor) and ot.requires_grad:
            w = rng.standard_normal(tuple(ot.shape)).astype(ot.detach().numpy().dtype)
            loss_e = loss_e + (oe * ember.tensor(w)).sum()
            loss_t = loss_t + (ot * torch.from_numpy(w)).sum()
    if isinstance(loss_t, int):
        return
    loss_t.backward()
    loss_e.backward()
    for i, (e, t) in enumerate(zip(es, ts)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            if t.grad is None:
                assert e.grad is None or not e.grad.numpy().any(), f"grad of input {i}"
            else:
                assert e.grad is not None, f"grad of input {i} is None, torch has one"
                assert_close(e.grad, t.grad, case.atol, case.rtol, what=f"grad of input {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c.grad and c.gradcheck],
                         ids=[c.name for c in CASES if c.grad and c.gradcheck])
def test_case_gradcheck(case):
    if case.missing:
        pytest.xfail(case.missing)
    es, _ = _tensors(case, np.float64)
    assert ember.autograd.gradcheck(lambda *xs: case.fn(ember, *xs), es, eps=1e-6, atol=1e-5,
                                    rtol=1e-3)
