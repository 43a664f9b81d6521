"""3-D layers and the rearranging layers against torch: conv3d /
conv_transpose3d (outputs, input/weight/bias gradients, double backward,
gradcheck, errors), the 3-D pools, Conv3d / ConvTranspose3d / pool modules,
BatchNorm3d / InstanceNorm3d, PixelShuffle / PixelUnshuffle / ChannelShuffle."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, rand

F32 = dict(atol=1e-4, rtol=1e-4)


def _w(*shape, dtype=np.float64, seed=1):
    return rand(*shape, dtype=dtype, seed=seed, low=-1, high=1)


# ---- conv3d ------------------------------------------------------------------------------

CONV3D = [
    ((2, 3, 5, 6, 5), (4, 3, 3, 2, 3), {}),
    ((2, 3, 5, 6, 5), (4, 3, 3, 3, 3), dict(padding=1)),
    ((2, 4, 7, 6, 5), (6, 2, 3, 3, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1),
                                            dilation=(2, 1, 1), groups=2)),
    ((1, 2, 4, 4, 4), (2, 2, 3, 3, 3), dict(padding="same", dilation=(1, 2, 1))),
    ((1, 2, 4, 5, 4), (2, 2, 2, 3, 2), dict(padding="same")),          # uneven 'same' padding
    ((2, 2, 6, 5, 4), (2, 2, 1, 1, 1), dict(stride=3)),
    ((1, 2, 3, 3, 3), (3, 2, 3, 1, 1), dict(padding=(2, 0, 0), stride=(2, 1, 1))),
    ((2, 4, 3, 4, 5), (4, 1, 2, 2, 2), dict(groups=4, padding="valid")),  # depthwise
    ((3, 5, 4, 5), (2, 3, 2, 2, 2), dict(padding=1)),                 # unbatched
    ((2, 2, 2, 3, 3), (2, 2, 2, 2, 2), dict(padding=(3, 0, 1), stride=(2, 1, 1))),  # windows
    ((0, 2, 3, 3, 3), (2, 2, 2, 2, 2), dict(padding=1)),              # in the padding only; N=0
]


@pytest.mark.parametrize("xs,ws,kw", CONV3D)
@pytest.mark.parametrize("bias", [True, False])
def test_conv3d_matches_torch(xs, ws, kw, bias):
    b = [_w(ws[0], seed=2)] if bias else []
    check(lambda lib, x, w, *b: lib.nn.functional.conv3d(x, w, *(b or [None]), **kw),
          rand(*xs), _w(*ws), *b)


def test_conv3d_float32():
    check(lambda lib, x, w, b: lib.nn.functional.conv3d(x, w, b, stride=2, padding=1),
          rand(2, 3, 6, 5, 6, dtype=np.float32), _w(4, 3, 3, 3, 3, dtype=np.float32),
          _w(4, dtype=np.float32), **F32)


CONVT3D = [
    ((2, 3, 3, 4, 3), (3, 4, 3, 2, 3), {}),
    ((2, 4, 3, 3, 2), (4, 3, 3, 3, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1),
                                            output_padding=(1, 0, 1), dilation=(1, 2, 1),
                                            groups=2)),
    ((3, 2, 3, 3), (3, 2, 2, 2, 2), dict(stride=2)),                   # unbatched
    ((1, 2, 2, 3, 2), (2, 3, 1, 2, 3), dict(stride=3, output_padding=2)),
    ((1, 2, 2, 3, 3), (2, 2, 2, 2, 2), dict(padding=(1, 0, 0), stride=(3, 1, 1),
                                            dilation=(2, 1, 1))),
]


@pytest.mark.parametrize("xs,ws,kw", CONVT3D)
def test_conv_transpose3d_matches_torch(xs, ws, kw):
    cout = ws[1] * kw.get("groups", 1)
    check(lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(x, w, b, **kw),
          rand(*xs), _w(*ws), _w(cout, seed=3))


@pytest.mark.parametrize("fn", [
    lambda F, x, w: F.conv3d(x, w, stride=(2, 1, 1), padding=(1, 0, 1)),
    lambda F, x, w: F.conv3d(x, w, dilation=(2, 1, 1), padding=(2, 1, 0)),
])
def test_conv3d_gradcheck_and_double_backward(fn):
    x = ember.tensor(rand(1, 2, 5, 4, 3)).requires_grad_(True)
    w = ember.tensor(_w(2, 2, 2, 2, 2)).requires_grad_(True)
    F = ember.nn.functional
    assert gradcheck(lambda a, b: fn(F, a, b), (x, w))
    assert gradgradcheck(lambda a, b: fn(F, a, b), (x, w))


def test_conv_transpose3d_gradcheck_and_double_backward():
    x = ember.tensor(rand(1, 2, 2, 3, 2)).requires_grad_(True)
    w = ember.tensor(_w(2, 2, 2, 2, 2)).requires_grad_(True)
    b = ember.tensor(_w(2, seed=4)).requires_grad_(True)

    def f(a, c, d):
        return ember.nn.functional.conv_transpose3d(a, c, d, stride=(2, 1, 2), padding=(1, 0, 0),
                                                    output_padding=(1, 0, 0))
    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


def test_conv3d_double_backward_matches_torch():
    """d/dx of (d loss / d w): the create_graph path through the three Ops."""
    xa, wa = rand(1, 2, 4, 4, 3), _w(3, 2, 2, 3, 2)
    res = {}
    for lib in (ember, torch):
        x = lib.tensor(xa).requires_grad_(True)
        w = lib.tensor(wa).requires_grad_(True)
        y = lib.nn.functional.conv3d(x, w, padding=1, stride=(1, 2, 1))
        gw, = lib.autograd.grad((y * y).sum(), w, create_graph=True)
        (gw.sin().sum()).backward()
        res[lib.__name__] = (x.grad.numpy(), w.grad.numpy())
    for a, b in zip(res["ember"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("call,exc", [
    (lambda F, x, w: F.conv3d(x, w[:, :, :, :, :2].reshape(2, 2, 2, 2)), RuntimeError),
    (lambda F, x, w: F.conv3d(x[0, 0], w), RuntimeError),
    (lambda F, x, w: F.conv3d(x, w, stride=(1, 2)), RuntimeError),
    (lambda F, x, w: F.conv3d(x, w, stride=0), RuntimeError),
    (lambda F, x, w: F.conv3d(x, w, padding="same", stride=2), RuntimeError),
    (lambda F, x, w: F.conv3d(x, w, groups=2), RuntimeError),
    (lambda F, x, w: F.conv3d(x[:, :, :1], w), RuntimeError),
    (lambda F, x, w: F.conv3d(x, w, padding=-1), RuntimeError),
    (lambda F, x, w: F.conv_transpose3d(x, w, output_padding=1), RuntimeError),
    (lambda F, x, w: F.conv_transpose3d(x, w, stride=2, output_padding=(0, 2, 0)),
     RuntimeError),
    (lambda F, x, w: F.conv_transpose3d(x[:, :, :1, :1, :1], w, padding=2), RuntimeError),
    (lambda F, x, w: F.conv_transpose3d(x, w, padding="same"), TypeError),
])
def test_conv3d_errors_match_torch(call, exc):
    msgs = []
    for lib in (ember, torch):
        x = lib.ones(1, 2, 3, 3, 3, dtype=lib.float64)
        w = lib.ones(2, 2, 2, 2, 2, dtype=lib.float64)
        with pytest.raises(exc) as info:
            call(lib.nn.functional, x, w)
        msgs.append(str(info.value))
    if "stride to be a single integer" not in msgs[1] and exc is RuntimeError:
        assert msgs[0] == msgs[1]


# ---- 3-D pools ---------------------------------------------------------------------------

POOLS = [
    ("max", lambda F, x: F.max_pool3d(x, 2)),
    ("max_strided", lambda F, x: F.max_pool3d(x, 3, stride=(1, 2, 1), padding=1)),
    ("max_dilated_ceil", lambda F, x: F.max_pool3d(x, (2, 3, 2), stride=2, padding=(1, 1, 0),
                                                   dilation=(2, 1, 2), ceil_mode=True)),
    ("max_indices", lambda F, x: F.max_pool3d(x, (2, 2, 3), stride=(2, 1, 2),
                                              return_indices=True)),
    ("max_with_indices", lambda F, x: F.max_pool3d_with_indices(x, 2, padding=1)),
    ("avg", lambda F, x: F.avg_pool3d(x, 2)),
    ("avg_pad", lambda F, x: F.avg_pool3d(x, 3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pad_exclude", lambda F, x: F.avg_pool3d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                  count_include_pad=False)),
    ("avg_override", lambda F, x: F.avg_pool3d(x, (3, 2, 2), stride=(2, 1, 2),
                                               padding=(1, 1, 0), divisor_override=5)),
    ("adaptive_avg", lambda F, x: F.adaptive_avg_pool3d(x, (3, None, 2))),
    ("adaptive_avg_global", lambda F, x: F.adaptive_avg_pool3d(x, 1)),
    ("adaptive_max", lambda F, x: F.adaptive_max_pool3d(x, (3, 4, 2), return_indices=True)),
    ("adaptive_max_even", lambda F, x: F.adaptive_max_pool3d_with_indices(x, (2, 2, 3))),
]


@pytest.mark.parametrize("shape", [(2, 3, 6, 5, 6), (3, 7, 4, 6)], ids=["batched", "unbatched"])
@pytest.mark.parametrize("name,fn", POOLS, ids=[p[0] for p in POOLS])
def test_pool3d_matches_torch(name, fn, shape):
    check(lambda lib, x: fn(lib.nn.functional, x), rand(*shape, seed=len(name)))


def test_max_pool3d_ties_pick_torchs_element():
    """With many equal values the first maximum in (d, h, w) order wins, in
    the indices and in where the gradient goes."""
    x = np.round(rand(2, 2, 5, 5, 6, seed=3))
    check(lambda lib, t: lib.nn.functional.max_pool3d(t, 3, stride=(1, 2, 1), padding=1,
                                                      return_indices=True), x)
    check(lambda lib, t: lib.nn.functional.adaptive_max_pool3d(t, (3, 2, 4),
                                                               return_indices=True), x)


def test_pool3d_float32_and_integer():
    check(lambda lib, x: lib.nn.functional.avg_pool3d(x, 3, stride=2, padding=1),
          rand(2, 3, 6, 5, 6, dtype=np.float32), **F32)
    xi = np.arange(2 * 2 * 4 * 5 * 4).reshape(2, 2, 4, 5, 4) % 7 - 3
    check(lambda lib, x: lib.nn.functional.avg_pool3d(x, 3, stride=1, padding=1), xi)
    check(lambda lib, x: lib.nn.functional.max_pool3d(x, 2, return_indices=True), xi)


def test_pool3d_gradcheck():
    x = ember.tensor(rand(1, 2, 4, 5, 4)).requires_grad_(True)
    F = ember.nn.functional
    assert gradcheck(lambda t: F.avg_pool3d(t, 3, stride=2, padding=1,
                                            count_include_pad=False), (x,))
    assert gradcheck(lambda t: F.adaptive_avg_pool3d(t, (3, 2, 3)), (x,))
    assert gradgradcheck(lambda t: F.adaptive_avg_pool3d(t, (3, 2, 3)), (x,))
    # max: distinct values, so the maximum is unique and the function smooth nearby
    xm = ember.tensor(np.random.default_rng(0).permutation(160).reshape(1, 2, 4, 5, 4) * 0.1)
    xm.requires_grad_(True)
    assert gradcheck(lambda t: F.max_pool3d(t, 2, stride=1, padding=1), (xm,))
    assert gradcheck(lambda t: F.adaptive_max_pool3d(t, (3, 2, 3)), (xm,))


@pytest.mark.parametrize("call,exc", [
    (lambda F, x: F.max_pool3d(x, 3, padding=2), RuntimeError),
    (lambda F, x: F.max_pool3d(x[0, 0], 2), RuntimeError),
    (lambda F, x: F.max_pool3d(x, (2, 2)), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2, stride=(1, 1)), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2, padding=(1, 1)), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2, dilation=(1, 1)), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2, stride=0), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 0, stride=1), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2, dilation=0), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2, padding=-1), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 5), RuntimeError),
    (lambda F, x: F.max_pool3d(x, 2.0), TypeError),
    (lambda F, x: F.avg_pool3d(x, (2, 2)), RuntimeError),
    (lambda F, x: F.avg_pool3d(x, 2, stride=(1, 1)), RuntimeError),
    (lambda F, x: F.avg_pool3d(x, 2, padding=(1, 1)), RuntimeError),
    (lambda F, x: F.avg_pool3d(x, 2, divisor_override=0), RuntimeError),
    (lambda F, x: F.avg_pool3d(x, 5), RuntimeError),
    (lambda F, x: F.avg_pool3d(x[0, 0], 2), RuntimeError),
    (lambda F, x: F.adaptive_avg_pool3d(x[0, 0], 2), RuntimeError),
    (lambda F, x: F.adaptive_max_pool3d(x[0, 0], 2), RuntimeError),
    (lambda F, x: F.adaptive_avg_pool3d(x, (2, 2)), RuntimeError),
    (lambda F, x: F.adaptive_max_pool3d(x, (2, 2)), RuntimeError),
    (lambda F, x: F.adaptive_avg_pool3d(x.long(), 2), NotImplementedError),
    (lambda F, x: F.adaptive_max_pool3d(x.long(), 2), NotImplementedError),
])
def test_pool3d_errors_match_torch(call, exc):
    msgs = []
    for lib in (ember, torch):
        x = lib.ones(1, 2, 4, 4, 4, dtype=lib.float64)
        with pytest.raises(exc) as info:
            call(lib.nn.functional, x)
        msgs.append(str(info.value))
    if exc is not TypeError:
        assert msgs[0] == msgs[1]


# ---- modules -----------------------------------------------------------------------------

def _same_module(make, x, *, train=True, atol=1e-10, **fwd):
    """Build the module in both libraries, give Ember torch's parameters, compare
    the output, the input gradient and each parameter's gradient."""
    torch.manual_seed(0)
    tm = make(torch).double()
    em = make(ember).double()
    em.load_state_dict({k: ember.tensor(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})
    tm.train(train), em.train(train)
    xe = ember.tensor(x).requires_grad_(True)
    xt = torch.tensor(x).requires_grad_(True)
    ye, yt = em(xe, **fwd), tm(xt, **fwd)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=1e-8)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    ye.backward(ember.tensor(g)), yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=atol, rtol=1e-8)
    for (n, pe), (_, pt) in zip(em.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), atol=atol, rtol=1e-8,
                                   err_msg=n)
    for (n, be), (_, bt) in zip(em.named_buffers(), tm.named_buffers()):
        np.testing.assert_allclose(be.numpy(), bt.numpy(), atol=atol, rtol=1e-8, err_msg=n)
    return em, tm


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.Conv3d(2, 4, 3, padding=1),
    lambda lib: lib.nn.Conv3d(4, 4, (3, 2, 3), stride=(2, 1, 1), groups=2, bias=False),
    lambda lib: lib.nn.Conv3d(2, 3, 3, padding="same", padding_mode="reflect"),
    lambda lib: lib.nn.Conv3d(2, 3, 3, padding=(1, 2, 1), padding_mode="circular"),
    lambda lib: lib.nn.Conv3d(2, 3, 2, padding=1, padding_mode="replicate", dilation=2),
    lambda lib: lib.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1),
    lambda lib: lib.nn.ConvTranspose3d(4, 2, (2, 3, 2), groups=2, dilation=(1, 2, 1)),
])
def test_conv3d_modules_match_torch(make):
    em, tm = _same_module(make, rand(2, em_in(make), 5, 6, 5))
    assert repr(em) == repr(tm)
    assert em.weight.shape == tm.weight.shape


def em_in(make):
    return make(torch).in_channels


def test_conv_transpose3d_output_size():
    em, tm = _same_module(lambda lib: lib.nn.ConvTranspose3d(2, 3, 3, stride=2),
                          rand(1, 2, 3, 4, 3), output_size=(8, 9, 8))
    x = ember.ones(1, 2, 3, 4, 3, dtype=ember.float64)
    assert tuple(em(x, output_size=(1, 3, 8, 9, 8)).shape) == (1, 3, 8, 9, 8)
    with pytest.raises(ValueError, match="requested an output size of"):
        em(x, output_size=(12, 9, 8))


def test_conv3d_module_default_init_is_torchs_distribution():
    ember.manual_seed(0)
    w = ember.nn.Conv3d(4, 8, 3).weight.detach().numpy()
    bound = 1 / np.sqrt(4 * 27)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.MaxPool3d(2),
    lambda lib: lib.nn.MaxPool3d(3, stride=(1, 2, 2), padding=1, dilation=(1, 1, 2),
                                 ceil_mode=True),
    lambda lib: lib.nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False),
    lambda lib: lib.nn.AvgPool3d((2, 3, 2), divisor_override=4),
    lambda lib: lib.nn.AdaptiveAvgPool3d((2, None, 3)),
    lambda lib: lib.nn.AdaptiveMaxPool3d(3),
    lambda lib: lib.nn.BatchNorm3d(3),
    lambda lib: lib.nn.BatchNorm3d(3, momentum=None, affine=False),
    lambda lib: lib.nn.InstanceNorm3d(3, affine=True),
    lambda lib: lib.nn.InstanceNorm3d(3, track_running_stats=True),
    lambda lib: lib.nn.Sequential(lib.nn.Conv3d(3, 8, 3, padding=1), lib.nn.BatchNorm3d(8),
                                  lib.nn.ReLU(), lib.nn.MaxPool3d(2), lib.nn.Flatten(),
                                  lib.nn.Linear(8 * 2 * 3 * 2, 2)),
])
def test_3d_modules_match_torch(make):
    em, tm = _same_module(make, rand(2, 3, 5, 6, 5, seed=7))
    assert repr(em) == repr(tm)
    em.eval(), tm.eval()
    x = rand(2, 3, 5, 6, 5, seed=8)
    np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(),
                               tm(torch.tensor(x)).detach().numpy(), atol=1e-10)


def test_instance_norm_1d_2d_modules_match_torch():
    _same_module(lambda lib: lib.nn.InstanceNorm1d(3, affine=True), rand(2, 3, 7))
    _same_module(lambda lib: lib.nn.InstanceNorm2d(3, track_running_stats=True),
                 rand(2, 3, 5, 4))


# ---- pixel / channel shuffle -------------------------------------------------------------

@pytest.mark.parametrize("make,shape", [
    (lambda lib: lib.nn.PixelShuffle(2), (2, 8, 3, 4)),
    (lambda lib: lib.nn.PixelShuffle(3), (2, 2, 9, 2, 2)),          # extra leading dims
    (lambda lib: lib.nn.PixelUnshuffle(2), (2, 3, 4, 6)),
    (lambda lib: lib.nn.PixelUnshuffle(3), (3, 6, 9)),
    (lambda lib: lib.nn.ChannelShuffle(3), (2, 6, 2, 3)),
    (lambda lib: lib.nn.ChannelShuffle(2), (6, 4, 2)),               # channels are dim 1
    (lambda lib: lib.nn.ChannelShuffle(2), (1, 4, 2, 3, 2)),
])
def test_shuffle_modules_match_torch(make, shape):
    check(lambda lib, x: make(lib)(x), rand(*shape))
    assert repr(make(ember)) == repr(make(torch))


@pytest.mark.parametrize("call,exc", [
    (lambda F, x: F.pixel_shuffle(x, 0), RuntimeError),
    (lambda F, x: F.pixel_shuffle(x, -2), RuntimeError),
    (lambda F, x: F.pixel_shuffle(x, 2.0), TypeError),
    (lambda F, x: F.pixel_shuffle(x, 3), RuntimeError),
    (lambda F, x: F.pixel_shuffle(x[0, 0], 2), RuntimeError),
    (lambda F, x: F.pixel_unshuffle(x, 0), RuntimeError),
    (lambda F, x: F.pixel_unshuffle(x, 3), RuntimeError),
    (lambda F, x: F.channel_shuffle(x, 3), RuntimeError),
    (lambda F, x: F.channel_shuffle(x, 0), RuntimeError),
    (lambda F, x: F.channel_shuffle(x[0, 0], 2), RuntimeError),
])
def test_shuffle_errors_match_torch(call, exc):
    msgs = []
    for lib in (ember, torch):
        x = lib.ones(1, 8, 4, 4)
        with pytest.raises(exc) as info:
            call(lib.nn.functional, x)
        msgs.append(str(info.value))
    if exc is RuntimeError:
        assert msgs[0] == msgs[1]


def test_toplevel_spellings():
    x = ember.ones(1, 4, 2, 2)
    assert ember.channel_shuffle(x, 2).shape == (1, 4, 2, 2)
    assert ember.pixel_shuffle(x, 2).shape == (1, 1, 4, 4)
    w = ember.ones(1, 4, 1, 1, 1)
    assert ember.conv3d(x.unsqueeze(2), w).shape == (1, 1, 1, 2, 2)
    assert ember.conv_transpose3d(x.unsqueeze(2), w.transpose(0, 1)).shape == (1, 1, 1, 2, 2)
