"""Lazy modules against torch: uninitialized parameters and buffers (their
refusals), materialisation on the first forward (shapes, the plain class
afterwards, reprs, state-dict keys), the same numbers as the plain layer
given the same weights, optimizers built before the first forward, and
state dicts loaded into lazy modules."""
import numpy as np
import pytest
import torch

import ember
from helpers import assert_close

pytestmark = pytest.mark.filterwarnings("ignore:input.s size at dim:UserWarning",
                                        "ignore::FutureWarning")

CASES = [
    ("LazyLinear", (3,), {}, (2, 5)),
    ("LazyLinear", (3,), dict(bias=False), (2, 4, 5)),
    ("LazyConv1d", (4, 3), dict(padding=1), (2, 3, 6)),
    ("LazyConv2d", (4, 3), dict(groups=2, stride=2), (1, 2, 5, 5)),
    ("LazyConv2d", (2, 2), {}, (3, 4, 4)),                      # unbatched
    ("LazyConv3d", (2, 2), dict(bias=False), (1, 2, 3, 3, 3)),
    ("LazyConvTranspose1d", (4, 3), dict(stride=2), (2, 2, 5)),
    ("LazyConvTranspose2d", (2, 3), dict(output_padding=1, stride=2), (1, 3, 3, 3)),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 2, 2, 2, 2)),
    ("LazyBatchNorm1d", (), {}, (4, 3)),
    ("LazyBatchNorm2d", (), dict(momentum=0.3), (4, 3, 2, 2)),
    ("LazyBatchNorm3d", (), dict(affine=False), (2, 3, 2, 2, 2)),
    ("LazyInstanceNorm1d", (), {}, (2, 3, 4)),
    ("LazyInstanceNorm2d", (), dict(affine=False, track_running_stats=False), (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", (), {}, (2, 3, 2, 2, 2)),
]


def _x(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return ember.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("name,args,kw,shape", CASES)
def test_lazy_layer_matches_torch(name, args, kw, shape):
    e = getattr(ember.nn, name)(*args, **kw, dtype=ember.float64)
    t = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    assert repr(e) == repr(t)
    assert list(e.state_dict()) == list(t.state_dict())
    assert e.has_uninitialized_params() == t.has_uninitialized_params()
    xe, xt = _x(shape)
    # materialise both, then give Ember torch's initial values and run again
    e(xe)
    yt = t(xt)
    assert type(e).__name__ == type(t).__name__ == name[4:]
    assert repr(e) == repr(t)
    assert not hasattr(e, "_initialize_hook")
    sd = t.state_dict()
    assert list(e.state_dict()) == list(sd)
    for k, v in e.state_dict().items():
        assert tuple(v.shape) == tuple(sd[k].shape), k
    e.load_state_dict({k: v.numpy().copy() for k, v in _initial(name, args, kw, shape).items()})
    t.load_state_dict(_initial(name, args, kw, shape))
    ye, yt = e(xe), t(xt)
    assert_close(ye, yt)
    if not list(t.parameters()):
        return
    (ye * ye).sum().backward()
    (yt * yt).sum().backward()
    tp = dict(t.named_parameters())
    for k, p in e.named_parameters():
        assert_close(p.grad, tp[k].grad, what=k)


def _initial(name, args, kw, shape):
    """A torch state dict for the materialised layer (fixed seed)."""
    torch.manual_seed(1)
    m = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    m(torch.zeros(shape, dtype=torch.float64))
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_uninitialized_parameter_refuses_use():
    p = ember.nn.UninitializedParameter()
    assert repr(p) == repr(torch.nn.UninitializedParameter()) == "<UninitializedParameter>"
    assert p.requires_grad and ember.nn.parameter.is_lazy(p)
    assert isinstance(p, ember.nn.Parameter)
    for fn in (lambda q: q.shape, lambda q: q.size()):
        with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
            fn(p)
    with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter"):
        p + 1
    b = ember.nn.UninitializedBuffer()
    assert not b.requires_grad and ember.nn.parameter.is_lazy(b)
    p.materialize((2, 3), dtype=ember.float64)
    assert type(p) is ember.nn.Parameter and p.shape == (2, 3) and p.dtype == ember.float64
    b.materialize((4,))
    assert type(b) is ember.Tensor and b.shape == (4,)


def test_optimizer_before_first_forward():
    """As in torch, an optimizer may be made before the parameters have a
    shape: it holds the same objects, which the first forward materialises."""
    e = ember.nn.Sequential(ember.nn.LazyLinear(4), ember.nn.ReLU(), ember.nn.LazyLinear(1))
    opt = ember.optim.Adam(e.parameters(), lr=0.01)
    x = ember.randn(8, 3)
    before = None
    for _ in range(3):
        opt.zero_grad()
        loss = (e(x) ** 2).mean()
        loss.backward()
        opt.step()
        before = loss.item() if before is None else before
    assert (e(x) ** 2).mean().item() < before
    assert [type(m).__name__ for m in e] == ["Linear", "ReLU", "Linear"]


def test_load_state_dict_materialises():
    for lib in (ember, torch):
        m = lib.nn.LazyConv2d(4, 3)
        m.load_state_dict(lib.nn.Conv2d(2, 4, 3).state_dict())
        assert not m.has_uninitialized_params()
        assert tuple(m.weight.shape) == (4, 2, 3, 3)
        assert type(m).__name__ == "LazyConv2d"        # until the first forward
        m(lib.zeros(1, 2, 5, 5))
        assert type(m).__name__ == "Conv2d"


def test_lazy_errors_match_torch():
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) "
                                               "input to LazyConv2d"):
            lib.nn.LazyConv2d(4, 3)(lib.zeros(5, 5))
        with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
            lib.nn.LazyConv2d(4, 3, groups=2)(lib.zeros(1, 3, 5, 5))
        with pytest.raises(ValueError, match="can't have uninitialized parameters"):
            lib.nn.utils.weight_norm(lib.nn.LazyLinear(3))
