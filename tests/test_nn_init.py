"""ember.nn.init: the same distributions as torch.nn.init (checked statistically
against torch's formulas), deterministic initialisers exactly, and errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn

import ember
import ember.nn as enn
from ember.nn import init

N = 200_000  # enough samples for ~1% moment checks


def arr(t):
    return t.detach().numpy()


def test_calculate_gain_matches_torch():
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1),
                  ("selu", None), ("conv_transpose3d", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(tnn.init.calculate_gain(nl, p))
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5), (16, 4, 3, 3), (2, 3, 1, 2, 2)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == \
        tnn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with "
                                         "fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(ember.empty(3, 3), mode="fan_avg")


def _uniform_moments(a, b):
    return (a + b) / 2, (b - a) / math.sqrt(12)


def _check_uniform(x, a, b):
    assert x.min() >= a and x.max() <= b
    mean, std = _uniform_moments(a, b)
    assert abs(x.mean() - mean) < 0.01 * (b - a)
    assert abs(x.std() - std) < 0.01 * std


def _check_normal(x, mean, std):
    assert abs(x.mean() - mean) < 0.02 * std
    assert abs(x.std() - std) < 0.01 * std
    # roughly Gaussian tails: 95.45% within 2 std
    assert abs(np.mean(np.abs(x - mean) < 2 * std) - 0.9545) < 0.005


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_uniform_and_normal(dtype):
    t = ember.empty(N, dtype=dtype)
    assert init.uniform_(t, -2.0, 3.0) is t
    assert t.dtype == dtype
    _check_uniform(arr(t), -2.0, 3.0)
    init.uniform_(t)
    _check_uniform(arr(t), 0.0, 1.0)
    init.normal_(t, 1.5, 0.5)
    _check_normal(arr(t), 1.5, 0.5)


def test_constant_ones_zeros_eye_dirac_match_torch():
    for fe, ft, shape in [(lambda t: init.constant_(t, 0.3), lambda t: tnn.init.constant_(t, 0.3), (2, 3)),
                          (init.ones_, tnn.init.ones_, (4,)), (init.zeros_, tnn.init.zeros_, (2, 2)),
                          (init.eye_, tnn.init.eye_, (3, 5)), (init.dirac_, tnn.init.dirac_, (4, 3, 3)),
                          (lambda t: init.dirac_(t, 2), lambda t: tnn.init.dirac_(t, 2), (4, 2, 3, 3)),
                          (init.dirac_, tnn.init.dirac_, (2, 4, 1, 3, 3))]:
        e, t = fe(ember.empty(*shape)), ft(torch.empty(*shape))
        np.testing.assert_array_equal(arr(e), t.numpy())
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(ember.empty(3))
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(ember.empty(3, 3))


@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_xavier(shape):
    t = ember.empty(*shape)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
    gain = init.calculate_gain("tanh")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    init.xavier_uniform_(t, gain=gain)
    a = math.sqrt(3) * std
    _check_uniform(arr(t).ravel(), -a, a)
    init.xavier_normal_(t, gain=gain)
    _check_normal(arr(t).ravel(), 0.0, std)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.1), ("leaky_relu", math.sqrt(5)),
                                            ("linear", 0), ("tanh", 0)])
def test_kaiming(mode, nonlinearity, a):
    t = ember.empty(300, 200, 2)
    fan = 200 * 2 if mode == "fan_in" else 300 * 2
    std = tnn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    bound = math.sqrt(3) * std
    _check_uniform(arr(t).ravel(), -bound, bound)
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    _check_normal(arr(t).ravel(), 0.0, std)


def test_kaiming_zero_element_warns():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(ember.empty(0, 3))


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 3.0),
                                          (0.0, 0.02, -0.04, 0.04)])
def test_trunc_normal(mean, std, a, b):
    from scipy.stats import truncnorm
    t = init.trunc_normal_(ember.empty(N), mean, std, a, b)
    x = arr(t)
    assert x.min() >= a and x.max() <= b
    dist = truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert abs(x.mean() - dist.mean()) < 0.01 * dist.std()
    assert abs(x.std() - dist.std()) < 0.01 * dist.std()


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 2, 3)])
def test_orthogonal(shape):
    t = init.orthogonal_(ember.empty(*shape), gain=2.0)
    q = arr(t).reshape(shape[0], -1).astype(np.float64)
    if q.shape[0] < q.shape[1]:
        np.testing.assert_allclose(q @ q.T, 4 * np.eye(q.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(q.T @ q, 4 * np.eye(q.shape[1]), atol=1e-5)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(ember.empty(3))


def test_sparse():
    t = init.sparse_(ember.empty(10, 200), sparsity=0.3, std=0.5)
    x = arr(t)
    assert ((x == 0).sum(axis=0) == 3).all()
    nz = x[x != 0]
    assert abs(nz.std() - 0.5) < 0.05


def test_init_under_no_grad_and_generator():
    w = enn.Parameter(ember.empty(3, 4))
    out = init.normal_(w)
    assert out is w and w.grad_fn is None and w.requires_grad
    g1 = ember.Generator().manual_seed(7)
    g2 = ember.Generator().manual_seed(7)
    a = init.kaiming_uniform_(ember.empty(5, 5), generator=g1)
    b = init.kaiming_uniform_(ember.empty(5, 5), generator=g2)
    np.testing.assert_array_equal(arr(a), arr(b))
    ember.manual_seed(3)
    c = arr(init.uniform_(ember.empty(4)))
    ember.manual_seed(3)
    np.testing.assert_array_equal(c, arr(init.uniform_(ember.empty(4))))


def test_deprecated_aliases_warn():
    with pytest.warns(FutureWarning, match="nn.init.normal"):
        init.normal(ember.empty(3))


# ---- default layer initialisation (torch's reset_parameters) ---------------------------

def test_linear_default_init():
    ember.manual_seed(0)
    lin = enn.Linear(500, 400)
    bound = 1 / math.sqrt(500)
    # kaiming_uniform(a=sqrt(5)) on the weight is U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    _check_uniform(arr(lin.weight).ravel(), -bound, bound)
    b = arr(lin.bias)
    assert b.min() >= -bound and b.max() <= bound
    assert lin.weight.dtype == ember.float32 and lin.weight.requires_grad
    l64 = enn.Linear(3, 2, dtype=ember.float64)
    assert l64.weight.dtype == ember.float64 and l64.bias.dtype == ember.float64
    assert enn.Linear(3, 2, bias=False).bias is None


def test_other_layer_default_init():
    bil = enn.Bilinear(300, 20, 50)
    bound = 1 / math.sqrt(300)
    _check_uniform(arr(bil.weight).ravel(), -bound, bound)
    emb = enn.Embedding(1000, 200)
    _check_normal(arr(emb.weight).ravel(), 0.0, 1.0)
    assert (arr(enn.PReLU(3, init=0.1).weight) == np.float32(0.1)).all()
    lin = enn.Linear(4, 3)
    before = arr(lin.weight).copy()
    lin.reset_parameters()
    assert not np.array_equal(before, arr(lin.weight))


def test_default_dtype_follows_set_default_dtype():
    ember.set_default_dtype(ember.float64)
    try:
        assert enn.Linear(2, 2).weight.dtype == ember.float64
        assert enn.Embedding(2, 2).weight.dtype == ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
