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


# ---- messages name the argument (and what was passed), as torch's do ------------------------------
# Each call runs with torch and Ember: Ember raises torch's exception type, and
# its message contains ``words`` (the op, the argument, the type or value);
# ``torch_words`` are the ones torch's own message contains too.

_NAMED = [
    # (call(lib), words in Ember's message, words also in torch's message)
    (lambda L: L.full((2,), "x"), ["full()", "fill_value", "str"], ["fill_value", "str"]),
    (lambda L: L.full((2,), None), ["fill_value", "NoneType"], ["fill_value", "NoneType"]),
    (lambda L: L.full((2,), "x", dtype=L.float32), ["fill_value", "str"], ["fill_value", "str"]),
    (lambda L: L.ones(3).var(correction="a"), ["var()", "correction", "str"], ["correction", "str"]),
    (lambda L: L.var(L.ones(3), correction="a"), ["var()", "correction", "str"], ["correction"]),
    (lambda L: L.ones(3).std(correction="a"), ["std()", "correction", "str"], ["correction", "str"]),
    (lambda L: L.flatten(L.ones(2, 2), "a"), ["flatten()", "start_dim", "str"],
     ["flatten()", "start_dim", "str"]),
    (lambda L: L.ones(2, 2).flatten(0, "a"), ["flatten()", "end_dim", "str"],
     ["flatten()", "end_dim", "str"]),
    (lambda L: L.flatten(L.tensor(1.0), None), ["start_dim", "NoneType"], ["start_dim", "NoneType"]),
    (lambda L: L.squeeze(L.ones(2, 2), "a"), ["squeeze()", "dim", "str"], ["squeeze()", "str"]),
    (lambda L: L.ones(2, 2).squeeze(1.5), ["squeeze()", "dim", "float"], ["squeeze()", "float"]),
    (lambda L: L.unsqueeze(L.ones(2, 2), "a"), ["unsqueeze()", "dim", "str"],
     ["unsqueeze()", "dim", "str"]),
    (lambda L: L.ones(2, 2).unsqueeze(None), ["unsqueeze()", "dim", "NoneType"],
     ["unsqueeze()", "dim", "NoneType"]),
    (lambda L: L.ones(2, 2).unsqueeze(1.5), ["unsqueeze()", "dim", "float"],
     ["unsqueeze()", "dim", "float"]),
    (lambda L: L.softmax(L.ones(2, 2), "a"), ["softmax()", "dim", "str"], ["softmax()", "dim", "str"]),
    (lambda L: L.ones(2, 2).softmax("a"), ["softmax()", "dim", "str"], ["softmax()", "dim", "str"]),
    (lambda L: L.log_softmax(L.ones(2, 2), 1.5), ["log_softmax()", "dim", "float"],
     ["log_softmax()", "dim", "float"]),
    # F.softmax's own code (activation.py) calls the shared dim check directly:
    # the message names the argument and the type, not the op
    (lambda L: L.nn.functional.softmax(L.ones(2, 2), "a"), ["dim", "str"], ["dim", "str"]),
    (lambda L: L.transpose(L.ones(2, 2), "a", 1),
     ["transpose()", "dim", "str"], ["transpose()", "dim", "str"]),
    (lambda L: L.diag(L.ones(2, 2), "a"), ["diag()", "diagonal", "str"], ["diag()", "diagonal", "str"]),
    (lambda L: L.diag(L.ones(2), None), ["diag()", "diagonal", "NoneType"],
     ["diag()", "diagonal", "NoneType"]),
    (lambda L: L.tril(L.ones(2, 2), "a"), ["tril()", "diagonal", "str"], ["tril()", "diagonal", "str"]),
    (lambda L: L.ones(2, 2).tril(1.5), ["tril()", "diagonal", "float"], ["tril()", "diagonal", "float"]),
    (lambda L: L.triu(L.ones(2, 2), "a"), ["triu()", "diagonal", "str"], ["triu()", "diagonal", "str"]),
    (lambda L: L.cat(None), ["cat()", "tensors", "NoneType"], ["cat()", "tensors", "NoneType"]),
    (lambda L: L.cat(5), ["cat()", "tensors", "int"], ["cat()", "tensors", "int"]),
    (lambda L: L.stack(None), ["stack()", "tensors", "NoneType"], ["stack()", "tensors", "NoneType"]),
    (lambda L: L.arange(10, 0, 1), ["upper bound and lower bound inconsistent with step sign"],
     ["upper bound and lower bound inconsistent with step sign"]),
    (lambda L: L.arange(0, 10, -1), ["lower bound"], ["lower bound"]),
    # public names, never "_compare.<locals>.f()"
    (lambda L: L.eq("a"), ["eq()"], ["eq()"]),
    (lambda L: L.lt(None), ["lt()"], ["lt()"]),
    (lambda L: L.ones(2).ne(), ["ne()"], ["ne()"]),
    (lambda L: L.logical_and("a"), ["logical_and()"], ["logical_and()"]),
    (lambda L: L.bitwise_and(None), ["bitwise_and()"], ["bitwise_and()"]),
    (lambda L: L.isnan(L.ones(2), "a"), ["isnan() takes 1 positional argument but 2 were given"],
     ["isnan() takes 1 positional argument but 2 were given"]),
    (lambda L: L.ones(2).isinf(1), ["isinf()"], ["isinf()"]),
]


@pytest.mark.parametrize("call,words,torch_words", _NAMED, ids=[", ".join(w[:2]) for _, w, _ in _NAMED])
def test_message_names_the_argument_as_torch(call, words, torch_words):
    with pytest.raises(Exception) as t_info:
        call(torch)
    for w in torch_words:  # (the comparison is with what torch really says)
        assert w in str(t_info.value), (w, str(t_info.value))
    with pytest.raises(type(t_info.value)) as e_info:
        call(ember)
    msg = str(e_info.value)
    for w in words:
        assert w in msg, (w, msg)
    assert "<locals>" not in msg


def test_no_public_function_has_an_internal_name():
    """Python prints a function's qualname in its own argument errors: the
    factory-made ops must carry their public names ("eq", not "_compare.<locals>.f")."""
    import types
    spaces = [("ember", vars(ember)), ("Tensor", vars(ember.Tensor))]
    bad = [f"{where}.{n}: {f.__qualname__}" for where, ns in spaces for n, f in ns.items()
           if isinstance(f, types.FunctionType) and "<locals>" in f.__qualname__]
    assert not bad, bad
    assert ember.lt.__qualname__ == "lt" and ember.less.__qualname__ == "lt"  # (an alias)
    assert ember.Tensor.eq.__qualname__ == "eq" and ember.Tensor.isnan.__qualname__ == "isnan"


def test_valid_calls_unchanged_by_the_checks():
    """The new checks sit on the error paths only; valid calls behave as before."""
    assert ember.full((2,), 3).dtype == ember.int64 and ember.full((2,), True).dtype == ember.bool
    assert ember.full((2,), 1.5, dtype=ember.float64).tolist() == [1.5, 1.5]
    assert ember.full((2,), ember.tensor(2.0)).tolist() == [2.0, 2.0]
    x = ember.tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose(x.var(correction=0.5).item(),
                               torch.tensor([1.0, 2.0, 4.0]).var(correction=0.5).item(), rtol=1e-6)
    t = ember.ones(2, 3)
    assert t.flatten(-2, -1).shape == (6,) and ember.tensor(1.0).flatten().shape == (1,)
    assert t.unsqueeze(-1).shape == (2, 3, 1) and t.unsqueeze(ember.tensor(0)).shape == (1, 2, 3)
    assert ember.ones(1, 2, 1).squeeze((0, 2)).shape == (2,)
    assert ember.ones(3, 3).tril(np.int64(-1)).sum().item() == 3
    assert ember.diag(ember.ones(2), 1).shape == (3, 3)
    with pytest.raises(TypeError, match="not list_iterator"):   # (torch takes lists and tuples only)
        ember.cat(iter([ember.ones(1), ember.ones(2)]))
    assert ember.arange(10, 0, -3).tolist() == [10, 7, 4, 1]


def test_addcdiv_refuses_integer_division_as_torch():
    import torch
    msgs = []
    for lib in (ember, torch):
        with pytest.raises(RuntimeError) as e:
            lib.addcdiv(lib.ones(2), lib.tensor([1, 2]), lib.tensor([1, 2]))
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]
