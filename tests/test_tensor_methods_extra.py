"""The Tensor methods added from the sweep of dir(torch.Tensor) that the op
registry does not cover (counting, integers, in-place aliases, metadata),
each against torch."""
import os

import numpy as np
import pytest
import torch

import ember


def same(e, t):
    if isinstance(t, tuple):
        assert len(e) == len(t)
        for a, b in zip(e, t):
            same(a, b)
        return
    if isinstance(t, torch.Tensor):
        assert str(e.dtype)[6:] == str(t.dtype)[6:], (e.dtype, t.dtype)
        assert tuple(e.shape) == tuple(t.shape)
        np.testing.assert_allclose(e.numpy(force=True), t.detach().numpy(), rtol=1e-6, equal_nan=True)
    else:
        assert e == t, (e, t)


def both(fn):
    return fn(ember), fn(torch)


@pytest.mark.parametrize("fn", [
    lambda L: L.bincount(L.tensor([0, 1, 1, 3])),
    lambda L: L.bincount(L.tensor([0, 1, 1, 3]), minlength=6),
    lambda L: L.tensor([2, 0, 2]).bincount(weights=L.tensor([0.5, 1.0, 2.0])),
    lambda L: L.bincount(L.tensor([2, 0]), weights=L.tensor([1.0, 2.0], dtype=L.float64)),
    lambda L: L.bincount(L.tensor([], dtype=L.int64)),
    lambda L: L.histc(L.tensor([1., 2, 1]), bins=4, min=0, max=3),
    lambda L: L.histc(L.tensor([1., 1.]), bins=3),
    lambda L: L.tensor([0.1, 0.5, 0.9, 1.0, -1.0, 5.0]).histc(bins=5, min=0, max=1),
    lambda L: L.tensor([3, 4, -6]).gcd(L.tensor([6, 6, 4])),
    lambda L: L.lcm(L.tensor([3, 4, 0]), L.tensor([6, 6, 2])),
    lambda L: L.frexp(L.tensor([8., 0.3, 0.0, -5.0])),
    lambda L: L.nextafter(L.tensor([1., 0.0]), L.tensor([2., -1.0])),
    lambda L: L.positive(L.tensor([1, -2])),
    lambda L: L.angle(L.tensor([1, -2, 0])),
    lambda L: L.isreal(L.tensor([1., 2.])),
    lambda L: L.nonzero_static(L.tensor([1, 0, 2]), size=4),
    lambda L: L.nonzero_static(L.tensor([[1, 1], [0, 2]]), size=2, fill_value=7),
    lambda L: L.ones(2, 3).sum_to_size(1, 3),
    lambda L: L.ones(2, 3).sum_to_size((3,)),
    lambda L: L.arange(10.).split_with_sizes([3, 7]),
    lambda L: L.arange(10.).unsafe_split(4),
    lambda L: L.arange(10.).unsafe_chunk(3),
    lambda L: L.arange(10.).narrow_copy(0, 2, 3),
    lambda L: L.ones(3, 3).fill_diagonal_(5),
    lambda L: L.ones(7, 3).fill_diagonal_(5, wrap=True),
    lambda L: L.ones(7, 3).fill_diagonal_(5),
    lambda L: L.ones(2, 5).fill_diagonal_(0),
    lambda L: L.ones(3, 3, 3).fill_diagonal_(0),
    lambda L: L.tensor([1., 5., 3.]).greater_(2),
    lambda L: L.tensor([1., 5., 3.]).less_equal_(3),
    lambda L: L.tensor([1., 5., 3.]).not_equal_(5),
    lambda L: L.tensor([1, 2]).bitwise_left_shift_(2),
    lambda L: L.tensor([8, 4]).bitwise_right_shift_(1),
    lambda L: L.tensor([3, 4]).gcd_(L.tensor([6, 6])),
    lambda L: L.tensor([1., 2.]).ldexp_(L.tensor([2, 3])),
    lambda L: L.arange(4.).reshape(2, 2).renorm_(2, 0, 1.0),
    lambda L: L.ones(2, 2).addr_(L.ones(2), L.tensor([1., 2.])),
    lambda L: L.ones(2, 3).t().dim_order(),
    lambda L: L.ones(2, 3, 4).dim_order(),
    lambda L: L.ones(2).new(2, 3).shape,
    lambda L: L.ones(2, dtype=L.int32).new([1, 2]),
    lambda L: L.ones(2).new().shape,
    lambda L: L.ones(2).is_same_size(L.ones(2)),
    lambda L: L.ones(2).is_conj() or L.ones(2).is_neg() or L.ones(2).is_distributed(),
    lambda L: L.tensor([3.]).is_nonzero(),
    lambda L: L.tensor([1., 2.]).conj_physical(),
])
def test_matches_torch(fn):
    e, t = both(fn)
    same(e, t)


@pytest.mark.parametrize("fn", [
    lambda L: L.bincount(L.tensor([-1])), lambda L: L.bincount(L.tensor([[1]])),
    lambda L: L.bincount(L.tensor([1.])), lambda L: L.bincount(L.tensor([1]), weights=L.ones(2)),
    lambda L: L.histc(L.tensor([1, 2]), bins=2),
    lambda L: L.histc(L.tensor([1., 2]), bins=2, min=3, max=1),
    lambda L: L.positive(L.tensor([True])), lambda L: L.ones(2).imag,
    lambda L: L.ones(2, 3, 4).fill_diagonal_(1), lambda L: L.ones(2).unfold(0, 3, 1),
    lambda L: L.diff(L.tensor(1.)), lambda L: L.arange(10.).split_with_sizes([3, 6]),
    lambda L: L.ones(2, requires_grad=True).resize_(3),
    lambda L: L.ones(2, 3).sum_to_size(2, 2),
    lambda L: L.gcd(L.ones(2), L.ones(2)),
])
def test_errors_as_torch(fn):
    with pytest.raises(Exception) as te:
        fn(torch)
    with pytest.raises(Exception) as ee:
        fn(ember)
    assert type(ee.value) is type(te.value)
    assert str(ee.value).replace("ember", "torch") == str(te.value)


@pytest.mark.skipif(os.environ.get("EMBER_TEST_DEVICE", "cpu") != "cpu",
                    reason="apply_/map_ and get_device's -1 are about CPU tensors, as torch's")
def test_apply_map_and_get_device_on_cpu():
    assert ember.ones(2).get_device() == torch.ones(2).get_device() == -1
    for lib in (ember, torch):
        z = lib.tensor([1., 2.])
        assert z.apply_(lambda x: x * 10) is z
        z.map_(lib.tensor([1., 1.]), lambda a, b: a + b)
        assert z.tolist() == [11.0, 21.0]
        w = lib.arange(6.).reshape(2, 3).t()      # (non-contiguous)
        w.apply_(lambda x: -x)
        assert w.tolist() == [[-0.0, -3.0], [-1.0, -4.0], [-2.0, -5.0]]


def test_resize():
    for lib in (ember, torch):
        x = lib.arange(4.)
        assert x.resize_(2, 2).shape == (2, 2) and x.tolist() == [[0., 1.], [2., 3.]]
        x.resize_(3)
        assert x.tolist() == [0., 1., 2.]
        x.resize_as_(lib.ones(1, 1))
        assert x.tolist() == [[0.]]


def test_real_conj_and_friends_are_the_tensor():
    x = ember.ones(2)
    for name in ["conj", "conj_physical", "resolve_conj", "resolve_neg", "to_dense"]:
        assert getattr(x, name)() is x
    assert x.real is x


def test_is_set_to_and_as_subclass():
    x = ember.ones(2, requires_grad=True)
    y = x * 2
    assert y.is_set_to(y) and not y.is_set_to(ember.ones(2))

    class Marked(ember.Tensor):
        pass
    m = y.as_subclass(Marked)
    assert type(m) is Marked and m.grad_fn is y.grad_fn
    (m * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_unfold_gradient_adds_overlaps():
    res = []
    for lib in (ember, torch):
        x = lib.arange(6., requires_grad=True)
        x.unfold(0, 3, 1).sum().backward()
        res.append(x.grad.tolist())
    assert res[0] == res[1] == [1.0, 2.0, 3.0, 3.0, 2.0, 1.0]


def test_logcumsumexp_double_backward():
    x = ember.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, -3.0]], dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda t: ember.logcumsumexp(t, 1), (x,))


@pytest.mark.parametrize("fn", [
    lambda L: tuple(L.histogram(L.tensor([1., 2, 1]), bins=4, range=(0., 3.))),
    lambda L: tuple(L.histogram(L.tensor([1., 2, 1]), bins=L.tensor([0., 1, 2, 3]))),
    lambda L: tuple(L.histogram(L.tensor([1., 2, 1]), bins=3, weight=L.tensor([1., 2, 3]),
                                density=True)),
    lambda L: tuple(L.tensor([1., 2, 5]).histogram(2)),
    lambda L: L.tensor([2., 3.]).polygamma_(1),
    lambda L: L.tensor([2., 3.]).mvlgamma_(2),
    lambda L: L.tensor([[4., 2], [2, 3]], dtype=L.float64).cholesky(upper=True),
])
def test_more_matches_torch(fn):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e, t = both(fn)
    same(e, t)


def test_set_shares_memory():
    x, y = ember.ones(2), ember.zeros(3)
    assert x.set_(y) is x and x.data_ptr() == y.data_ptr() and x.shape == (3,)
    y.add_(1)
    assert x.tolist() == [1.0, 1.0, 1.0]
    assert x.set_().shape == (0,)
