"""Bad input raises what torch raises, with a message a user can act on.

The table is ``tests/error_audit.py`` (which also writes docs/ERRORS.md):
each case is one call written against the torch API; here it runs with
torch and with Ember, and Ember must raise torch's kind of exception (or
accept the call when torch does), with a message of its own -- not an
error from inside NumPy, not an AttributeError -- naming the argument or
value the case lists.  A few documented deliberate differences are checked
for Ember's own behaviour instead.
"""
import shutil

import numpy as np
import pytest
import torch

import ember
import error_audit as audit

_IDS = [f"{g}: {d}" for g, d, _, _ in audit.CASES]


@pytest.fixture(scope="module", autouse=True)
def _remove_files():
    yield
    shutil.rmtree(audit._TMP, ignore_errors=True)  # (the save/load cases write there)


@pytest.mark.parametrize("group,desc,fn,expect", audit.CASES, ids=_IDS)
def test_error_matches_torch(group, desc, fn, expect):
    t = audit._outcome(torch, fn)
    e = audit._outcome(ember, fn)
    ok, why = audit.judge(t, e, expect)
    if desc in audit.DEVIATIONS:
        status, exc, leaked = e
        if status == "raise":  # Ember's own, clear error
            assert not isinstance(exc, AttributeError) or "grid_sample" in desc, exc
            assert not leaked and str(exc).strip()
        return
    assert ok, (f"{why}\n  torch: {audit._cell(t)}\n  ember: {audit._cell(e)}\n"
                f"  (expected the message to contain {list(expect)})")


def test_the_table_is_big_and_the_deviations_are_real():
    descs = {d for _, d, _, _ in audit.CASES}
    assert len(audit.CASES) >= 300
    assert set(audit.DEVIATIONS) <= descs


# ---- a few direct checks of messages (value and argument named) ---------------------------------

@pytest.mark.parametrize("call,exc,words", [
    (lambda: ember.optim.SGD([ember.nn.Parameter(ember.ones(1))], lr=-1), ValueError,
     ["Invalid learning rate", "-1"]),
    (lambda: ember.optim.Adam([ember.nn.Parameter(ember.ones(1))], betas=(1.5, 0.9)), ValueError,
     ["beta", "1.5"]),
    (lambda: ember.optim.Adam([ember.nn.Parameter(ember.ones(1))], eps=-1), ValueError,
     ["epsilon", "-1"]),
    (lambda: ember.nn.Dropout(p=1.5), ValueError, ["dropout probability", "1.5"]),
    (lambda: ember.nn.Conv2d(1, 1, -1), RuntimeError, ["negative dimension", "-1"]),
    (lambda: ember.ones(2, 3).view(-1, -1), RuntimeError, ["only one dimension"]),
    (lambda: ember.ones(2, 3).sum(5), IndexError, ["Dimension out of range", "5"]),
    (lambda: ember.ones(3)[ember.tensor([0, 7])], IndexError, ["7"]),
    (lambda: ember.nn.functional.cross_entropy(ember.ones(2, 3), ember.tensor([0, 9])),
     IndexError, ["9"]),
    (lambda: ember.ones(2).to("cuda"), AssertionError, ["cuda"]),
    (lambda: ember.ones(2).to("cuda"), RuntimeError, ["cuda"]),
    (lambda: ember.ones(1, 3).expand(2, 3).mul_(2), RuntimeError, ["single memory location"]),
    (lambda: int(ember.ones(2)), ValueError, ["only one element tensors"]),
    (lambda: ember.tensor([[1, 2], [3]]), ValueError, ["expected sequence of length 2", "got 1"]),
    (lambda: ember.nn.functional.relu("a"), TypeError, ["relu()", "str"]),
])
def test_direct_messages(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_inplace_on_expanded_tensor_never_silently_wrong():
    """An expanded tensor's elements share memory: torch refuses element-wise
    in-place ops on it (with or without grad), but fills it."""
    x = ember.ones(1, 3, requires_grad=True)
    y = (x * 1).expand(2, 3)
    with pytest.raises(RuntimeError, match="single memory location"):
        y.tanh_()
    y = ember.ones(1, 3).expand(2, 3)
    y.zero_()
    np.testing.assert_array_equal(y.numpy(), np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="single memory location"):
        y.copy_(ember.ones(2, 3))
