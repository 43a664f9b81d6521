"""Differential fuzzing: random op programs run on Ember and torch must agree.

Programs (see ``fuzz_programs.py``) chain elementwise, broadcasting,
reduction, view, indexing, in-place and matmul ops on random shapes and
dtypes; values, the gradients of every leaf and (for a subset) second-order
gradients are compared.  The default suite runs a fixed-seed, bounded
search; ``make fuzz`` (or ``make test-slow``) runs a long randomized one.
Every bug the fuzzer found is pinned below as a literal program.
"""
import os

import pytest
from hypothesis import HealthCheck, given, reject, settings

import fuzz_programs as fp

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=list(HealthCheck))


_LOG = os.environ.get("EMBER_FUZZ_LOG")  # a file: each program is written there first


def _check(program, order2=False):
    if _LOG:  # (so a crash -- not an exception -- can still be reproduced)
        with open(_LOG, "w") as f:
            f.write(f"order2={order2}\nprogram = {fp.fmt(program)}\n")
    try:
        fp.compare(program, order2=order2)
    except fp.TorchLimitation:
        reject()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n\nprogram = {fp.fmt(program)}") from exc


# ---- the bounded, deterministic search (default suite) ----------------------------------

@settings(max_examples=100, derandomize=True, **_COMMON)
@given(fp.programs(max_ops=8))
def test_fuzz_first_order(program):
    _check(program)


@settings(max_examples=40, derandomize=True, **_COMMON)
@given(fp.programs(max_ops=5, order2=True))
def test_fuzz_second_order(program):
    _check(program, order2=True)


# ---- the long campaign (make fuzz) -------------------------------------------------------

_N = int(os.environ.get("EMBER_FUZZ_EXAMPLES", "3000"))


@pytest.mark.slow
@settings(max_examples=_N, **_COMMON)
@given(fp.programs(max_ops=12))
def test_fuzz_campaign_first_order(program):
    _check(program)


@pytest.mark.slow
@settings(max_examples=_N // 3, **_COMMON)
@given(fp.programs(max_ops=7, order2=True))
def test_fuzz_campaign_second_order(program):
    _check(program, order2=True)


# ---- regressions: shrunk programs the fuzzer found ----------------------------------------

def _in(shape, dtype="float64", rg=True, seed=1, **kw):
    return ("input", [], dict(shape=shape, dtype=dtype, rg=rg, seed=seed, **kw))


REGRESSIONS = [
    # x.mT on a 0-d tensor: torch returns x itself (deprecated identity); Ember raised.
    ([_in(()), ("mT", [0], {})], False),
    # matmul backward with an empty contraction: NumPy can't reshape(-1, k) a
    # 0-element array (ops/_bw.reshape now infers -1 for folded dims).
    ([_in((0,), "float32"), _in((0, 3), "float32", seed=2), ("matmul", [0, 1], {})], False),
    ([_in((0,)), _in((0, 3), seed=2), ("matmul", [0, 1], {})], True),
    ([_in((0, 4), "float32"), _in((0, 4), rg=False, seed=2), ("cat", [0, 1], {"dim": 0}),
      _in((1, 4, 3), seed=3), ("matmul", [2, 3], {})], False),
    # var of a 0-d tensor: x - mean is a NumPy scalar, `out=` refused it.
    ([_in((), "float32"), _in((), "float32", seed=2), ("lerp_half", [0, 1], {}),
      ("clamp_", [2], {"lo": -0.5, "hi": 1.0}), ("mul_", [3], {"c": 3}),
      ("var", [4], {"dim": 0, "keepdim": True})], False),
    # sigmoid_ saves its result; changing it again in place must be caught in
    # backward (Ember saved a private copy and silently went on).
    ([_in((3, 2, 3), "float32"), ("gather", [0], {"dim": -3, "index": [[[1, 2, 0], [2, 2, 2]]]}),
      ("sigmoid_", [1], {}), ("relu_", [2], {})], False),
    # two 0-d gradients add up to a NumPy scalar in the engine; setitem's backward choked.
    ([_in((), "float32"), ("log", [0], {}), ("view", [1], {"shape": (-1,)}),
      ("setitem", [1, 0], {"index": ()})], False),
    # index_select on an empty tensor: backward indexed out of bounds.
    ([_in((0, 3)), ("index_select", [0], {"dim": 1, "index": [0, 2, 0]})], False),
    # an expanded view of a tensor later changed in place: its regenerated
    # grad_fn (as_strided) dropped the overlapping (stride-0) contributions.
    ([_in((3, 3)), _in((1, 3), seed=3), ("lerp_half", [1, 0], {}),
      ("expand", [2], {"shape": (2, 3, -1)}), ("div_", [2], {"c": -0.5})], False),
    # the mask of masked_select changed in place: backward used the new mask.
    ([_in(()), _in((), rg=False, seed=3), ("gt_s", [1], {"c": 0.0}),
      ("masked_select", [0, 2], {}), ("fill_", [2], {"c": 1.0})], False),
    # std over all dims: the 0-d output was a NumPy scalar, so the saved output
    # wasn't recognised and double backward treated it as a constant.
    ([_in((3, 4), seed=2), ("add_alpha", [0, 0], {}), ("std0", [1], {})], True),
    # gather with an empty index of another rank (torch allows it).
    ([_in((0, 2, 2)), ("gather", [0], {"dim": -2, "index": []})], False),
    ([_in((0, 2), seed=2), ("gather", [0], {"dim": -1, "index": []}), ("t", [1], {}),
      ("exp_", [2], {})], False),
    # max() saved its output as a raw argument: an in-place change went unnoticed.
    ([_in((2,), "float32"), ("max_all", [0], {}), _in((), "float32", seed=3),
      ("sub_", [1, 2], {})], False),
    # minimum's losing input got g * 0 = nan when g was inf (sqrt at 0).
    ([_in((4,)), _in((4,), rg=False, seed=3), ("gt_s", [1], {"c": 0.0}),
      ("minimum", [0, 2], {}), ("sqrt", [3], {})], False),
    # 0.5 / x then x changed in place: torch's operator saves 1/x, not x.
    ([_in((3,), "float32"), ("index_select", [0], {"dim": -1, "index": [1, 2, 1, 1, 1]}),
      ("rdiv_s", [1], {"c": 0.5}), _in((5,), "float32", seed=2), ("sub_", [1, 3], {})], False),
    # x ** 0: torch's backward gives zeros even for a NaN gradient; Ember sent g * 0.
    ([_in(()), ("abs", [0], {}), ("pow_s", [1], {"c": 0}), ("abs", [2], {}),
      ("sub", [3, 3], {}), ("abs", [4], {}), ("abs", [5], {}), ("div", [6, 6], {})], False),
    # var saved its output though its gradient doesn't need it (spurious error).
    ([_in((), "float32"), ("var", [0], {}), ("div_", [1, 0], {})], False),
    # y @ w with a frozen w saved y anyway: changing y in place then raised.
    ([_in((3,)), _in((3, 2), rg=False, seed=3), ("matmul", [0, 1], {}),
      _in((2, 2), rg=False, seed=4), ("matmul", [2, 3], {}), ("sigmoid_", [2], {})], False),
    # fill_'s backward sent no gradient on, so a NaN further back (sqrt of a
    # negative) didn't show as it does in torch.
    ([_in((), seed=2), ("pow_s", [0], {"c": 0.5}), ("fill_", [1], {"c": 1.0})], False),
    # ... and copy_'s likewise.
    ([_in((3, 2, 2)), _in((2,), seed=2), ("matmul", [0, 1], {}), ("pow_", [2], {"c": 0.5}),
      ("index_select", [1], {"dim": 0, "index": [0]}), ("contiguous", [2], {}),
      ("copy_", [5, 4], {})], False),
    # a view of a tensor that joins the graph by an in-place op must join too.
    ([_in((2, 4, 1), rg=False, seed=2), ("unsqueeze", [0], {"dim": 0}),
      _in((2, 4, 1), "float32", seed=3), ("mul_", [0, 2], {})], False),
    # in-place on an empty expanded tensor: nothing to write (NumPy's view is read-only).
    ([_in((0, 3, 2), "float32", seed=2), ("index_select", [0], {"dim": 1, "index": [2, 2, 2]}),
      ("expand", [1], {"shape": (3, -1, -1, 2)}), ("tanh_", [2], {})], False),
    # clone() of a transposed tensor keeps its layout (torch's preserve_format),
    # so contiguous() must then copy: Ember's clone was always C-contiguous.
    ([_in((2, 2)), ("t", [0], {}), ("abs", [1], {}), ("clone", [2], {}),
      ("contiguous", [3], {})], False),
    # 0 ** x: torch masks the local derivative, then multiplies by the incoming
    # gradient (a NaN there -- |.|' at 0 times inf -- still shows).
    ([_in(()), ("rpow_s", [0], {"c": 0}), ("abs", [1], {}), ("abs", [2], {}),
      ("log", [3], {})], False),
    # in-place on a view of a non-contiguous (transposed) tensor: refused before.
    ([_in((1, 2, 2)), ("mT", [0], {}), ("abs", [1], {}), ("flatten", [2], {"start": 0, "end": 1}),
      ("exp_", [3], {})], False),
    ([_in((2, 3)), ("t", [0], {}), ("abs", [1], {}), ("getitem", [2], {"index": slice(1, None)}),
      ("mul_", [3], {"c": 2.0}), ("getitem", [2], {"index": (slice(None), 0)})], True),
    # a reduction of a permuted tensor is contiguous in torch (NumPy kept the order).
    ([_in((1, 2, 2)), ("mT", [0], {}), ("abs", [1], {}), ("amax", [2], {"dim": 0}),
      ("abs", [3], {}), ("contiguous", [4], {})], False),
    # copy_ into an empty view: the base still joins the graph (requires grad).
    ([_in((1, 1, 1, 1), rg=False, seed=2), ("narrow", [0], {"dim": 0, "start": 0, "length": 0}),
      _in((0, 1, 1, 1), seed=3), ("copy_", [1, 2], {})], False),
    # (1, 1, 0) @ (0, 1): the folded GEMM couldn't reshape(-1, 0) an empty array.
    ([_in((1, 1, 1)), ("index_select", [0], {"dim": -1, "index": []}), ("abs", [1], {}),
      _in((0, 1), rg=False, seed=2), ("matmul", [2, 3], {})], False),
    # x[mask] = value of shape (1, 1): torch drops leading 1s, NumPy refused.
    ([_in((2,), rg=False), _in((2,), rg=False, seed=4), ("gt_s", [1], {"c": 0.0}),
      _in((1, 1), seed=5), ("setitem", [0, 3], {"index": ("ref", 2)})], False),
    # hypot(a, b) with a frozen a saved a anyway: changing a in place then raised.
    ([_in(()), _in((1,), rg=False, seed=2), ("hypot", [1, 0], {}), ("add_", [1], {"c": 2.0})],
     False),
    # atan2's gradient at the origin is 0 in torch, not NaN.
    ([_in((2,)), ("mul_s", [0], {"c": 0}), ("atan2", [1, 1], {})], False),
    # x + x on 0-d tensors: the recorded fast path kept NumPy's scalar result, so
    # a later op's saved input lost its graph link (no second-order gradient).
    ([_in(()), ("add", [0, 0], {}), ("atan", [1], {})], True),
    ([_in(()), ("mul", [0, 0], {}), ("atan", [1], {})], True),
    # max() of all elements gives the others exactly 0 even when the incoming
    # gradient is NaN (torch fills zeros), not NaN * 0.
    ([_in((3,)), ("max_all", [0], {}), ("abs", [1], {}), ("log", [0], {}), ("abs", [3], {}),
      ("atan2", [2, 4], {})], False),
    ([_in((3,)), ("max_all", [0], {}), ("abs", [1], {}), ("log", [0], {}), ("abs", [3], {}),
      ("atan2", [2, 4], {})], True),
    ([_in(()), ("max_all", [0], {})], False),
]


@pytest.mark.parametrize("program,order2", REGRESSIONS)
def test_regression(program, order2):
    _check(program, order2)


def test_inplace_on_a_saved_result_raises_in_backward():
    """sigmoid_ saves its result (as torch's does): changing it again in place
    must fail in backward, not silently use a private copy."""
    import numpy as np

    import ember
    x = ember.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    y = x * 2
    y.sigmoid_()
    y.relu_()  # relu_ is fine by itself, but sigmoid_'s saved result is now stale
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    # and a fresh result is not affected
    z = (x * 2).sigmoid_()
    z.sum().backward()
    s = 1 / (1 + np.exp(-2 * x.detach().numpy()))
    np.testing.assert_allclose(x.grad.numpy(), 2 * s * (1 - s))
