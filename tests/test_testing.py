"""ember.testing.assert_close / assert_allclose against torch.testing: the same
pass/fail decisions, exception types and messages (torch's names swapped for
Ember's in shape/dtype reprs)."""
import numpy as np
import pytest
import torch

import ember


def pair(make):
    return make(ember), make(torch)


CASES = [
    lambda L: (L.tensor([1., 2., 3.]), L.tensor([1., 2.5, 3.])),
    lambda L: (L.tensor([[1., 2.], [3., 4.]]), L.tensor([[1., 2.5], [3., 5.]])),
    lambda L: (L.tensor([1, 2, 3]), L.tensor([1, 3, 3])),
    lambda L: (L.tensor([True]), L.tensor([False])),
    lambda L: (1.0, 1.5),
    lambda L: (1, 2),
    lambda L: (1.0, 1),
    lambda L: (L.tensor(1.), L.tensor(2.)),
    lambda L: (L.tensor([0., 1.]), L.tensor([0., 2.])),
    lambda L: (L.tensor([1., float("inf")]), L.tensor([1., float("inf")])),
    lambda L: (L.tensor([1., float("inf")]), L.tensor([1., float("-inf")])),
    lambda L: (L.tensor([float("nan")]), L.tensor([float("nan")])),
    lambda L: (L.zeros(1000), L.arange(1000.)),
    lambda L: (L.tensor([1.], dtype=L.float16), L.tensor([1.001], dtype=L.float16)),
    lambda L: (L.tensor([1.], dtype=L.float64), L.tensor([1. + 1e-8], dtype=L.float64)),
    lambda L: (L.tensor([1.], dtype=L.float64), L.tensor([1. + 1e-6], dtype=L.float64)),
    lambda L: (L.tensor([1.]), L.tensor([1. + 1e-6])),
    lambda L: ([L.tensor(1.), L.tensor(2.)], [L.tensor(1.), L.tensor(3.)]),
    lambda L: ({"a": L.tensor(1.), "b": [L.tensor([1., 2.])]}, {"a": L.tensor(1.), "b": [L.tensor([1., 4.])]}),
    lambda L: ({"a": L.tensor(1.)}, {"b": L.tensor(3.)}),
    lambda L: ([1.], [1., 2.]),
    lambda L: (np.array([1.]), np.array([1.1])),
    lambda L: (L.ones(2, requires_grad=True), L.ones(2)),
    lambda L: (L.tensor([1.], requires_grad=True), L.tensor([2.])),
    lambda L: (L.tensor([1, 2], dtype=L.int32), L.tensor([1, 2], dtype=L.int32)),
    lambda L: (L.tensor([[0.5, -1e-6]]), L.tensor([[0.5, 0.0]])),
    lambda L: ("a", "a"),
]
KWARGS = [{}, {"rtol": 0.2, "atol": 0.0}, {"equal_nan": True}, {"msg": "custom"},
          {"msg": lambda m: "X" + m[:12]}]


def _norm(text):
    return text.replace("torch.Size", "ember.Size").replace("torch.", "ember.").replace(
        "<class 'torch.Tensor'>", "<class 'ember.Tensor'>")


def run(fn, a, b, kw):
    try:
        fn(a, b, **kw)
    except Exception as e:                            # (what is raised is what we compare)
        return type(e), _norm(str(e))
    return None


@pytest.mark.parametrize("kw", KWARGS, ids=["default", "tol", "nan", "msg", "msgfn"])
@pytest.mark.parametrize("make", CASES)
def test_assert_close_matches_torch(make, kw):
    (ea, eb), (ta, tb) = pair(make)
    assert run(ember.testing.assert_close, ea, eb, kw) == run(torch.testing.assert_close, ta, tb, kw)


@pytest.mark.parametrize("kw", [{}, {"check_dtype": False}, {"rtol": 0.1}, {"atol": 0.1},
                                {"check_stride": True}])
def test_metadata_and_tolerance_arguments(kw):
    for make in [lambda L: (L.tensor([1.]), L.tensor([1.], dtype=L.float64)),
                 lambda L: (L.tensor([1.]), L.tensor([1., 2.])),
                 lambda L: (L.tensor([1.]), 1.0),
                 lambda L: (L.ones(2, 3), L.ones(3, 2).t())]:
        (ea, eb), (ta, tb) = pair(make)
        assert run(ember.testing.assert_close, ea, eb, kw) == run(torch.testing.assert_close, ta, tb, kw)


@pytest.mark.parametrize("make", [
    lambda L: (L.tensor([1.]), L.tensor([1.1])), lambda L: (L.tensor([1.]), 1.0),
    lambda L: (L.tensor([1.]), L.tensor([1.00001])), lambda L: (L.tensor([1., 2.]), [1., 2.]),
    lambda L: (L.tensor([float("nan")]), L.tensor([float("nan")])),
    lambda L: (L.tensor([1.], dtype=L.float64), L.tensor([1.000001]))])
def test_assert_allclose_deprecated_as_torch(make):
    (ea, eb), (ta, tb) = pair(make)
    with pytest.warns(FutureWarning, match="deprecated since 1.12"):
        got = run(ember.testing.assert_allclose, ea, eb, {})
    with pytest.warns(FutureWarning):
        want = run(torch.testing.assert_allclose, ta, tb, {})
    assert got == want


def test_make_tensor():
    ember.manual_seed(0)
    for dt, lo, hi in [(ember.float32, -9, 9), (ember.int64, -9, 9), (ember.uint8, 0, 9)]:
        t = ember.testing.make_tensor(50, 4, dtype=dt)
        assert t.shape == (50, 4) and t.dtype is dt
        assert t.min().item() >= lo and t.max().item() <= hi and t.unique().numel() > 5
    t = ember.testing.make_tensor((3,), dtype=ember.float64, low=0, high=1, requires_grad=True)
    assert t.requires_grad and ((t >= 0) & (t < 1)).all()
    assert not (ember.testing.make_tensor(200, dtype=ember.int64, low=-1, high=2,
                                          exclude_zero=True) == 0).any()
    with pytest.raises(ValueError, match="low"):
        ember.testing.make_tensor(2, dtype=ember.float32, low=2, high=1)
