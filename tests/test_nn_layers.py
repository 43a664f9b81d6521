"""Layers and functional ops of ember.nn against torch.nn on the same weights and inputs.

Each layer is built in both frameworks, torch's state dict is copied into
Ember (as NumPy arrays) with ``load_state_dict``, and outputs, input
gradients and parameter gradients are compared, in float64 (tight) and
float32 (loose), in train and eval mode.
"""

import numpy as np
import pytest
import torch
import torch.nn as tnn

import ember
import ember.nn as enn
import ember.nn.functional as EF
from helpers import assert_close, check, rand

DTYPES = [np.float64, np.float32]


def _lib_dtype(lib, np_dtype):
    return lib.float64 if np_dtype == np.float64 else lib.float32


def load_from_torch(emod, tmod):
    """Copy torch's weights into the Ember module through NumPy arrays."""
    res = emod.load_state_dict({k: v.detach().cpu().numpy().copy() for k, v in tmod.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys
    return emod


def compare_module(tmod, emod, *arrays, train=True, atol=None, rtol=None, int_inputs=()):
    """Run both modules on the same inputs; compare outputs, input and parameter grads."""
    dt = next((a.dtype for a in arrays if a.dtype.kind == "f"), np.float64)
    tmod.to(_lib_dtype(torch, dt))
    emod.to(_lib_dtype(ember, dt))
    load_from_torch(emod, tmod)
    tmod.train(train)
    emod.train(train)
    xs_t, xs_e = [], []
    for a in arrays:
        rg = a.dtype.kind == "f"
        xs_t.append(torch.tensor(a, requires_grad=rg))
        xs_e.append(ember.tensor(a, requires_grad=rg))
    out_t = tmod(*xs_t)
    out_e = emod(*xs_e)
    assert_close(out_e, out_t, atol, rtol)
    w = np.random.default_rng(1).standard_normal(out_t.shape).astype(dt)
    (out_t * torch.tensor(w)).sum().backward()
    (out_e * ember.tensor(w)).sum().backward()
    for i, (xe, xt) in enumerate(zip(xs_e, xs_t)):
        if xt.requires_grad:
            assert_close(xe.grad, xt.grad, atol, rtol, what=f"grad of input {i}")
    for name, pt in tmod.named_parameters():
        pe = emod.get_parameter(name)
        if pt.grad is None:
            assert pe.grad is None, name
        else:
            assert_close(pe.grad, pt.grad, atol, rtol, what=f"grad of {name}")
    return out_e, out_t


# ---- Linear / Bilinear / Identity / Flatten ------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,), (0, 4)])
def test_linear_matches_torch(dtype, bias, shape):
    compare_module(tnn.Linear(4, 3, bias=bias), enn.Linear(4, 3, bias=bias), rand(*shape, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 1, 256), (16, 256), (2, 256), (17, 256), (1, 256)])
def test_linear_few_rows(dtype, shape):
    # 2-16 rows against a large weight take the transposed product (decoding)
    compare_module(tnn.Linear(256, 192), enn.Linear(256, 192), rand(*shape, dtype=dtype))


def test_linear_non_contiguous_input():
    t = tnn.Linear(4, 2).double()
    e = load_from_torch(enn.Linear(4, 2).double(), t)
    xt = torch.tensor(rand(4, 6)).t()
    xe = ember.tensor(rand(4, 6)).t()
    assert_close(e(xe), t(xt))


def test_linear_wrong_size_raises_with_shapes():
    lin = enn.Linear(4, 5)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        lin(ember.randn(2, 3))
    with pytest.raises(RuntimeError, match=r"\(12x3 and 4x5\)"):
        lin(ember.randn(2, 6, 3))
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
        lin(ember.randn(3, 4, dtype=ember.float64))


def test_linear_double_backward_and_gradcheck():
    x = ember.tensor(rand(3, 4), requires_grad=True)
    w = ember.tensor(rand(2, 4, seed=1), requires_grad=True)
    b = ember.tensor(rand(2, seed=2), requires_grad=True)
    assert ember.autograd.gradcheck(EF.linear, (x, w, b))
    assert ember.autograd.gradgradcheck(lambda x, w, b: EF.linear(x, w, b) ** 2, (x, w, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear_matches_torch(dtype):
    compare_module(tnn.Bilinear(3, 4, 2), enn.Bilinear(3, 4, 2), rand(5, 3, dtype=dtype),
                   rand(5, 4, dtype=dtype, seed=1))
    compare_module(tnn.Bilinear(3, 4, 2, bias=False), enn.Bilinear(3, 4, 2, bias=False),
                   rand(2, 5, 3, dtype=dtype), rand(2, 5, 4, dtype=dtype, seed=1))


def test_identity_flatten_unflatten():
    x = rand(2, 3, 4, 5)
    compare_module(tnn.Identity(1, a=2), enn.Identity(1, a=2), x)
    compare_module(tnn.Flatten(), enn.Flatten(), x)
    compare_module(tnn.Flatten(0, 2), enn.Flatten(0, 2), x)
    compare_module(tnn.Unflatten(1, (3, 1)), enn.Unflatten(1, (3, 1)), x)
    assert repr(enn.Unflatten(1, (2, 3))) == repr(tnn.Unflatten(1, (2, 3)))
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints"):
        enn.Unflatten(1, (2, 3.0))


# ---- activations -------------------------------------------------------------------------

ACTIVATIONS = [
    ("ReLU", (), {}), ("ReLU6", (), {}), ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}),
    ("ELU", (), {}), ("ELU", (0.5,), {}), ("SELU", (), {}), ("CELU", (), {}), ("CELU", (2.0,), {}),
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}), ("Mish", (), {}),
    ("Sigmoid", (), {}), ("Tanh", (), {}), ("Hardtanh", (), {}), ("Hardtanh", (-0.5, 2.0), {}),
    ("Hardsigmoid", (), {}), ("Hardswish", (), {}), ("Softplus", (), {}),
    ("Softplus", (), {"beta": 2.0, "threshold": 1.0}), ("Softsign", (), {}),
    ("Softmax", (1,), {}), ("Softmax", (-1,), {}), ("LogSoftmax", (0,), {}),
    ("LogSoftmax", (-1,), {}), ("Softmin", (1,), {}), ("GLU", (), {}), ("GLU", (0,), {}),
    ("LogSigmoid", (), {}), ("Tanhshrink", (), {}), ("Softshrink", (), {}),
    ("Softshrink", (1.0,), {}), ("Hardshrink", (), {}), ("Threshold", (0.3, -2.0), {}),
    ("PReLU", (), {}), ("RReLU", (), {}), ("Softmax2d", (), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS, ids=lambda v: str(v))
def test_activation_modules_match_torch(name, args, kwargs, dtype):
    # values spread over the interesting ranges (hardswish's +-3, softplus' threshold...)
    x = rand(4, 6, 2, dtype=dtype, low=-5, high=5)
    train = name != "RReLU"  # RReLU's training mode is random; eval is deterministic
    compare_module(getattr(tnn, name)(*args, **kwargs), getattr(enn, name)(*args, **kwargs), x,
                   train=train)
    assert repr(getattr(enn, name)(*args, **kwargs)) == repr(getattr(tnn, name)(*args, **kwargs))


def test_prelu_per_channel_and_shapes():
    for shape in [(3, 4, 5), (2, 4), (2, 4, 3, 3)]:
        compare_module(tnn.PReLU(4, init=0.1), enn.PReLU(4, init=0.1), rand(*shape))
    compare_module(tnn.PReLU(), enn.PReLU(), rand(5))
    compare_module(tnn.PReLU(), enn.PReLU(), rand(2, 3, 4))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        enn.PReLU(3)(ember.randn(2, 4))


FUNCTIONAL = [
    ("relu", {}), ("relu6", {}), ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 1.5}),
    ("leaky_relu", {"negative_slope": 0.3}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
    ("silu", {}), ("mish", {}), ("sigmoid", {}), ("tanh", {}), ("hardtanh", {}),
    ("hardsigmoid", {}), ("hardswish", {}), ("softplus", {}), ("softplus", {"beta": 0.5, "threshold": 2}),
    ("softsign", {}), ("logsigmoid", {}), ("tanhshrink", {}), ("softshrink", {"lambd": 0.3}),
    ("hardshrink", {"lambd": 0.3}), ("softmax", {"dim": 0}), ("log_softmax", {"dim": 1}),
    ("softmin", {"dim": -1}), ("glu", {"dim": 1}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", FUNCTIONAL, ids=lambda v: str(v))
def test_functional_activations(name, kwargs, dtype):
    x = rand(4, 6, dtype=dtype, low=-4, high=4)
    check(lambda lib, t: getattr(lib.nn.functional, name)(t, **kwargs), x)
    # non-contiguous input, 0-d input (where meaningful) and empty input
    check(lambda lib, t: getattr(lib.nn.functional, name)(t.t(), **kwargs), x)
    check(lambda lib, t: getattr(lib.nn.functional, name)(t, **kwargs), np.zeros((0, 6), dtype=dtype))
    if name != "glu":
        kw = dict(kwargs)
        if "dim" in kw:
            kw["dim"] = 0
        check(lambda lib, t: getattr(lib.nn.functional, name)(t, **kw), np.array(0.7, dtype=dtype))


# Second derivatives: d/dx of (d/dx sum(f(x) * w)) . v, against torch.
SECOND_ORDER = [
    ("relu", {}), ("leaky_relu", {}), ("elu", {}), ("selu", {}), ("celu", {"alpha": 0.5}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}),
    ("sigmoid", {}), ("tanh", {}), ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 1.0}),
    ("softsign", {}), ("logsigmoid", {}), ("tanhshrink", {}), ("hardswish", {}),
    ("softmax", {"dim": 1}), ("log_softmax", {"dim": 1}), ("softmin", {"dim": 0}),
    ("glu", {"dim": 1}), ("hardtanh", {}), ("relu6", {}),
    ("softshrink", {}), ("hardshrink", {}), ("threshold", {"threshold": 0.1, "value": 2.0}),
]


def _second_order(lib, name, kwargs, x, w, v):
    f = getattr(lib.nn.functional, name)
    y = f(x, **kwargs)
    (g,) = lib.autograd.grad((y * w).sum(), x, create_graph=True)
    (gg,) = lib.autograd.grad((g * v).sum(), x)
    return g, gg


@pytest.mark.parametrize("name,kwargs", SECOND_ORDER, ids=lambda v: str(v))
def test_activation_double_backward(name, kwargs):
    x = rand(3, 4, low=-3, high=3)
    w = rand(3, 2 if name == "glu" else 4, seed=1)
    v = rand(3, 4, seed=2)
    ge, gge = _second_order(ember, name, kwargs, ember.tensor(x, requires_grad=True),
                            ember.tensor(w), ember.tensor(v))
    gt, ggt = _second_order(torch, name, kwargs, torch.tensor(x, requires_grad=True),
                            torch.tensor(w), torch.tensor(v))
    assert_close(ge, gt)
    assert_close(gge, ggt, what="second derivative")


@pytest.mark.parametrize("name,kwargs", [("gelu", {}), ("silu", {}), ("softmax", {"dim": 1}),
                                         ("log_softmax", {"dim": 0}), ("mish", {}),
                                         ("elu", {"alpha": 0.5})])
def test_activation_gradcheck(name, kwargs):
    x = ember.tensor(rand(3, 4, low=-3, high=3), requires_grad=True)
    f = lambda t: getattr(EF, name)(t, **kwargs)  # noqa: E731
    assert ember.autograd.gradcheck(f, (x,))
    assert ember.autograd.gradgradcheck(f, (x,))


def test_softmax_extremes_and_dtype():
    x = np.array([[1000.0, -1000.0, 0.0], [-np.inf, 0.0, 1.0]])
    check(lambda lib, t: lib.nn.functional.softmax(t, dim=1), x)
    check(lambda lib, t: lib.nn.functional.log_softmax(t, dim=1), x[:1])
    # dtype= computes in that dtype
    x32 = rand(2, 3, dtype=np.float32)
    check(lambda lib, t: lib.nn.functional.softmax(t, 1, dtype=lib.float64), x32)
    check(lambda lib, t: lib.softmax(t, 1), x32)
    check(lambda lib, t: t.log_softmax(-1), x32)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = EF.softmax(ember.tensor(x32))
    assert_close(out, torch.softmax(torch.tensor(x32), 1))


def test_inplace_activations():
    x = rand(3, 4)
    for name, kw in [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("elu", {}),
                     ("hardtanh", {}), ("silu", {}), ("selu", {}), ("relu6", {})]:
        def fn(lib, t):
            y = t * 1  # a non-leaf, so in-place is allowed under autograd
            out = getattr(lib.nn.functional, name)(y, inplace=True, **kw)
            assert out is y
            return out
        check(fn, x)
    xe = ember.tensor(x)
    assert EF.relu_(xe) is xe and (xe.cpu().numpy() >= 0).all()
    for lib in (ember, torch):
        leaf = lib.tensor(x, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            lib.nn.functional.relu(leaf, inplace=True)


def test_activation_errors():
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="Halving dimension must be even"):
            lib.nn.functional.glu(lib.randn(3, 5))
        with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
            lib.nn.functional.gelu(lib.randn(3), approximate="fast")
        with pytest.raises(IndexError, match="Dimension out of range"):
            lib.nn.functional.softmax(lib.randn(3, 4), dim=2)


def test_integer_inputs():
    xi = np.array([[-2, 0, 3]], dtype=np.int64)
    check(lambda lib, t: lib.nn.functional.relu(t), xi)
    check(lambda lib, t: lib.nn.functional.sigmoid(t), xi)


# ---- dropout -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                 "FeatureAlphaDropout"])
def test_dropout_eval_is_identity_and_repr(cls):
    shape = {"Dropout1d": (2, 3, 4), "Dropout3d": (2, 3, 2, 2, 2)}.get(cls, (2, 3, 4, 4))
    x = rand(*shape)
    compare_module(getattr(tnn, cls)(0.3), getattr(enn, cls)(0.3), x, train=False)
    assert repr(getattr(enn, cls)(0.2, True)) == repr(getattr(tnn, cls)(0.2, True))


def test_dropout_train_statistics_and_grad():
    ember.manual_seed(0)
    x = ember.ones(200, 500, requires_grad=True)
    y = enn.Dropout(0.3)(x)
    kept = y.detach().cpu().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.detach().cpu().numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), kept / 0.7, rtol=1e-6)
    assert y.dtype == ember.float32
    # p=0 and eval return the input itself, as torch
    assert EF.dropout(x, 0.0) is x and EF.dropout(x, 0.5, training=False) is x
    z = EF.dropout(x, 1.0)
    assert (z.detach().cpu().numpy() == 0).all()


def test_channel_dropout_zeroes_whole_channels():
    x = ember.ones(8, 16, 5, 5)
    y = EF.dropout2d(x, 0.5).cpu().numpy().reshape(8, 16, -1)
    per_channel = y.std(axis=-1)
    assert (per_channel == 0).all()
    assert set(np.unique(y)) <= {0.0, 2.0}
    y1 = EF.dropout1d(ember.ones(3, 40, 6), 0.5).cpu().numpy()
    assert (y1.std(axis=-1) == 0).all()
    y3 = EF.dropout3d(ember.ones(2, 30, 2, 2, 2), 0.5).cpu().numpy().reshape(2, 30, -1)
    assert (y3.std(axis=-1) == 0).all()
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        EF.dropout1d(ember.ones(2, 3, 4, 5))


def test_alpha_dropout_keeps_mean_and_variance():
    ember.manual_seed(1)
    x = ember.randn(400, 500)
    y = EF.alpha_dropout(x, 0.2, training=True).cpu().numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


def test_dropout_p_validation():
    for lib in (ember, torch):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
            lib.nn.Dropout(1.5)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got -0.1"):
            lib.nn.functional.dropout(lib.ones(3), -0.1)


# ---- embedding --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 0}, {"padding_idx": -1},
                                    {"scale_grad_by_freq": True},
                                    {"padding_idx": 2, "scale_grad_by_freq": True}])
def test_embedding_matches_torch(kwargs, dtype):
    idx = np.array([[0, 2, 4, 2], [1, 9, 0, 2]], dtype=np.int64)
    tm, em = tnn.Embedding(10, 3, **kwargs), enn.Embedding(10, 3, **kwargs)
    tm.to(_lib_dtype(torch, dtype))
    em.to(_lib_dtype(ember, dtype))
    load_from_torch(em, tm)
    out_t, out_e = tm(torch.tensor(idx)), em(ember.tensor(idx))
    assert_close(out_e, out_t)
    w = rand(*out_t.shape, dtype=dtype)
    (out_t * torch.tensor(w)).sum().backward()
    (out_e * ember.tensor(w)).sum().backward()
    assert_close(em.weight.grad, tm.weight.grad)
    assert repr(em) == repr(tm)


def test_embedding_init_and_padding_row():
    e = enn.Embedding(1000, 20, padding_idx=3)
    w = e.weight.detach().cpu().numpy()
    assert (w[3] == 0).all()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    e32 = enn.Embedding(10, 4, padding_idx=-2)
    assert e32.padding_idx == 8 and e32.weight.dtype == ember.float32
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        enn.Embedding(3, 4, padding_idx=3)


def test_embedding_int32_indices_and_max_norm():
    idx = np.array([1, 3, 3], dtype=np.int32)
    tm, em = tnn.Embedding(5, 4, max_norm=1.0).double(), enn.Embedding(5, 4, max_norm=1.0).double()
    load_from_torch(em, tm)
    assert_close(em(ember.tensor(idx)), tm(torch.tensor(idx)))
    # the looked-up rows were renormalised in place, as torch does
    assert_close(em.weight, tm.weight)


def test_embedding_from_pretrained_and_double_backward():
    w = rand(4, 3)
    for freeze in (True, False):
        e = enn.Embedding.from_pretrained(ember.tensor(w), freeze=freeze)
        t = tnn.Embedding.from_pretrained(torch.tensor(w), freeze=freeze)
        assert e.weight.requires_grad == t.weight.requires_grad
        assert_close(e(ember.tensor([3, 1])), t(torch.tensor([3, 1])))
    we = ember.tensor(w, requires_grad=True)
    idx = ember.tensor([0, 2, 2])
    assert ember.autograd.gradcheck(lambda w: EF.embedding(idx, w), (we,))
    assert ember.autograd.gradgradcheck(lambda w: EF.embedding(idx, w) ** 2, (we,))


def test_embedding_bad_input():
    e = enn.Embedding(5, 2)
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices' to have one of "
                                           "the following scalar types: Long, Int; but got "
                                           r"ember.FloatTensor instead"):
        e(ember.tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match="index out of range in self"):
        e(ember.tensor([5]))
    with pytest.raises(IndexError, match="index out of range in self"):
        e(ember.tensor([-1]))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(mode):
    tm, em = tnn.EmbeddingBag(10, 3, mode=mode).double(), enn.EmbeddingBag(10, 3, mode=mode).double()
    load_from_torch(em, tm)
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9], dtype=np.int64)
    off = np.array([0, 4, 4], dtype=np.int64)
    for args_t, args_e in [((torch.tensor(idx), torch.tensor(off)), (ember.tensor(idx), ember.tensor(off))),
                           ((torch.tensor(idx.reshape(2, 4)),), (ember.tensor(idx.reshape(2, 4)),))]:
        tm.zero_grad()
        em.zero_grad()
        out_t, out_e = tm(*args_t), em(*args_e)
        assert_close(out_e, out_t)
        w = rand(*out_t.shape)
        (out_t * torch.tensor(w)).sum().backward()
        (out_e * ember.tensor(w)).sum().backward()
        assert_close(em.weight.grad, tm.weight.grad)
    assert repr(em) == repr(tm)


def test_one_hot():
    x = np.array([[0, 2], [1, 3]], dtype=np.int64)
    check(lambda lib, t: lib.nn.functional.one_hot(t), x)
    check(lambda lib, t: lib.nn.functional.one_hot(t, 6), x)
    check(lambda lib, t: lib.nn.functional.one_hot(t, 3), np.zeros((0,), dtype=np.int64))
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor"):
            lib.nn.functional.one_hot(lib.tensor([1.0]))
        with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
            lib.nn.functional.one_hot(lib.tensor([3]), 2)
        with pytest.raises(RuntimeError, match="Class values must be non-negative"):
            lib.nn.functional.one_hot(lib.tensor([-1]))


# ---- a small model end to end ---------------------------------------------------------

def _mlp(nn):
    return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.1), nn.Linear(16, 16),
                         nn.Tanh(),
                         nn.Linear(16, 3), nn.LogSoftmax(dim=-1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_end_to_end_eval(dtype):
    compare_module(_mlp(tnn), _mlp(enn), rand(8, 6, dtype=dtype), train=False)


def test_functional_linear_bilinear_top_level():
    x, w, b = rand(3, 4), rand(5, 4, seed=1), rand(5, seed=2)
    check(lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), x, w, b)
    check(lambda lib, x, w: lib.nn.functional.linear(x, w), x, w)
    check(lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), rand(4), w, b)
    x2, wb = rand(3, 2, seed=3), rand(5, 4, 2, seed=4)
    check(lambda lib, x, y, w, b: lib.nn.functional.bilinear(x, y, w, b), x, x2, wb, b)


def test_gumbel_softmax():
    ember.manual_seed(0)
    logits = ember.tensor(np.log(np.array([[0.1, 0.6, 0.3]] * 4000)), requires_grad=True)
    y = EF.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.detach().cpu().numpy().sum(-1), 1, rtol=1e-6)
    hard = EF.gumbel_softmax(logits, hard=True)
    h = hard.detach().cpu().numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    # argmax of logits + Gumbel noise samples the categorical distribution
    np.testing.assert_allclose(h.mean(0), [0.1, 0.6, 0.3], atol=0.03)
    (hard * ember.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert logits.grad is not None and np.isfinite(logits.grad.cpu().numpy()).all()
