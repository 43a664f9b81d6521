"""Pooling, unpooling, padding, interpolation and pixel shuffle (functional
and modules) against torch: outputs, indices, gradients, double backward,
reprs and errors."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, assert_close, rand


def ties(*shape, seed=0):
    """Few distinct values, so pooling windows hold ties (torch picks the first max)."""
    return np.round(rand(*shape, seed=seed) * 1.5)


# ---- max pooling ---------------------------------------------------------------------------

MAX2D = [
    ((2, 3, 8, 8), (2,), {}),
    ((2, 3, 9, 7), (3,), dict(stride=2, padding=1)),
    ((2, 3, 9, 7), ((3, 2),), dict(stride=(2, 1), padding=(1, 1), dilation=(2, 1))),
    ((3, 9, 7), (2,), dict(ceil_mode=True)),
    ((2, 3, 5, 5), (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 16, 16), (16,), {}),
    ((2, 3, 8, 8), (3,), dict(stride=1, padding=1)),                  # overlapping windows
    ((1, 2, 10, 9), (4,), dict(stride=3, dilation=2, ceil_mode=True)),
]


@pytest.mark.parametrize("xs,args,kw", MAX2D)
@pytest.mark.parametrize("data", [rand, ties])
def test_max_pool2d_values_indices_grads(xs, args, kw, data):
    x = data(*xs)
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, *args, return_indices=True, **kw), x)
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, *args, **kw), x.astype(np.float32))


@pytest.mark.parametrize("xs,args,kw", [((2, 3, 9), (2,), {}), ((3, 9), (3, 2, 1), {}),
                                        ((2, 3, 10), (3,), dict(dilation=2, ceil_mode=True))])
@pytest.mark.parametrize("data", [rand, ties])
def test_max_pool1d(xs, args, kw, data):
    check(lambda lib, x: lib.nn.functional.max_pool1d(x, *args, return_indices=True, **kw),
          data(*xs))


def test_max_pool_propagates_nan_and_int_input():
    x = rand(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 2, return_indices=True), x)
    xi = (np.arange(32).reshape(1, 2, 4, 4) * 7) % 11
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 2, return_indices=True), xi)


def test_max_pool_all_negative_infinity_window():
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 0, 0] = 1.0
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 2, return_indices=True), x)


# ---- average pooling ------------------------------------------------------------------------

AVG2D = [
    ((2,), {}),
    ((3, 2, 1), {}),
    ((3, 2, 1), dict(count_include_pad=False)),
    ((3, 2, 1), dict(ceil_mode=True)),
    ((3, 2, 1), dict(ceil_mode=True, count_include_pad=False)),
    ((2,), dict(divisor_override=3)),
    (((3, 2), (2, 1), (1, 0)), dict(ceil_mode=True)),
    ((3, 1, 1), {}),
]


@pytest.mark.parametrize("args,kw", AVG2D)
def test_avg_pool2d(args, kw):
    check(lambda lib, x: lib.nn.functional.avg_pool2d(x, *args, **kw), rand(2, 3, 9, 7))
    check(lambda lib, x: lib.nn.functional.avg_pool2d(x, *args, **kw),
          rand(3, 9, 7, dtype=np.float32))


@pytest.mark.parametrize("args,kw", [((2,), {}), ((3, 2, 1), {}),
                                     ((3, 2, 1), dict(count_include_pad=False, ceil_mode=True))])
def test_avg_pool1d(args, kw):
    check(lambda lib, x: lib.nn.functional.avg_pool1d(x, *args, **kw), rand(2, 3, 9))


def test_avg_pool2d_integer_input_truncates_like_torch():
    x = (np.arange(2 * 3 * 4 * 4).reshape(2, 3, 4, 4) * 5) % 13 - 6
    check(lambda lib, x: lib.nn.functional.avg_pool2d(x, 2), x, grad=False)


# ---- adaptive pooling -----------------------------------------------------------------------

@pytest.mark.parametrize("xs,out", [((2, 3, 9, 7), (4, 3)), ((2, 3, 8, 6), (4, 3)),
                                    ((2, 3, 8, 6), 1), ((3, 8, 6), (None, 4)),
                                    ((2, 3, 5, 5), (7, 8))])
def test_adaptive_avg_pool2d(xs, out):
    check(lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, out), rand(*xs))


@pytest.mark.parametrize("xs,out", [((2, 3, 9, 7), (4, 3)), ((2, 3, 8, 6), (4, 3)),
                                    ((2, 3, 8, 6), 1), ((2, 3, 5, 5), (7, 8))])
@pytest.mark.parametrize("data", [rand, ties])
def test_adaptive_max_pool2d(xs, out, data):
    check(lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x, out, return_indices=True),
          data(*xs))


@pytest.mark.parametrize("xs,out", [((4, 16, 8, 8), 1), ((4, 16, 5, 7), (1, 1)),
                                    ((3, 6, 4), [1, 1]), ((4, 6, 5, 1), (1, None)),
                                    ((4, 5), 1), ((2, 3, 4, 5, 6), 1), ((2, 3, 0, 4), 1),
                                    ((0, 3, 2, 2), (1, 1))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_avg_pool2d_to_one(xs, out, dtype):
    """A 1x1 output is torch's mean over the last two axes (any rank from 2,
    NaN for empty planes); gradients and double backward as the mean's."""
    ye, yt = check(lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, out),
                   rand(*xs, dtype=dtype))
    assert type(ye.grad_fn).__name__ == type(yt.grad_fn).__name__ == "MeanBackward1"
    if 0 not in xs:
        x = ember.tensor(rand(*xs), requires_grad=True)
        assert gradgradcheck(lambda x: ember.nn.functional.adaptive_avg_pool2d(x, out) ** 2, (x,))


def test_adaptive_avg_pool2d_to_one_integer_input():
    _raises(RuntimeError, "could not infer output dtype",
            lambda L: L.nn.functional.adaptive_avg_pool2d(L.zeros(2, 3, 8, 8, dtype=L.int64), 1))


def test_adaptive_pool1d():
    check(lambda lib, x: lib.nn.functional.adaptive_avg_pool1d(x, 4), rand(2, 3, 10))
    check(lambda lib, x: lib.nn.functional.adaptive_max_pool1d(x, 3, return_indices=True),
          ties(2, 3, 10))


# ---- lp pooling and unpooling -------------------------------------------------------------------

def test_lp_pool():
    x = rand(2, 3, 8, 8, low=0.1, high=2.0)
    check(lambda lib, x: lib.nn.functional.lp_pool2d(x, 2, 2), x)
    check(lambda lib, x: lib.nn.functional.lp_pool2d(x, 3, (3, 2), stride=2, ceil_mode=True), x)
    check(lambda lib, x: lib.nn.functional.lp_pool1d(x, 2, 3, 2), rand(2, 3, 8, low=0.1))


@pytest.mark.parametrize("nd,shape,args", [(2, (2, 3, 8, 8), (2,)), (2, (2, 3, 9, 9), (3, 2, 1)),
                                           (1, (2, 3, 9), (2,))])
def test_max_unpool(nd, shape, args):
    x = rand(*shape)
    pool = getattr(torch.nn.functional, f"max_pool{nd}d")
    y, idx = pool(torch.tensor(x), *args, return_indices=True)
    ind_e = ember.tensor(idx.numpy())
    check(lambda lib, y: getattr(lib.nn.functional, f"max_unpool{nd}d")(
        y, ind_e if lib is ember else idx, *args, output_size=shape[2:]), y.numpy())


# ---- higher order ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: ember.nn.functional.max_pool2d(x, 3, 2, 1),
    lambda x: ember.nn.functional.max_pool2d(x, 2),
    lambda x: ember.nn.functional.max_pool2d(x, 3, 1, 1),
    lambda x: ember.nn.functional.avg_pool2d(x, 3, 2, 1),
    lambda x: ember.nn.functional.avg_pool2d(x, 2),
    lambda x: ember.nn.functional.adaptive_avg_pool2d(x, (4, 3)),
    lambda x: ember.nn.functional.adaptive_max_pool2d(x, (4, 3)),
    lambda x: ember.nn.functional.interpolate(x, (7, 3)),
    lambda x: ember.nn.functional.interpolate(x, (7, 3), mode="bilinear"),
    lambda x: ember.nn.functional.interpolate(x, scale_factor=1.5, mode="bicubic"),
    lambda x: ember.nn.functional.pad(x, (1, 2, 2, 1), mode="reflect"),
    lambda x: ember.nn.functional.pad(x, (1, -2, 2, 1)),
    lambda x: ember.nn.functional.pad(x, (1, 2, 2, 1), mode="replicate"),
    lambda x: ember.nn.functional.pad(x, (1, 2, 2, 1), mode="circular"),
    lambda x: ember.nn.functional.pixel_shuffle(x[:, :, :4].reshape(2, 12, 1, 5), 2),
])
def test_pool_resample_gradcheck_and_gradgradcheck(fn):
    x = ember.tensor(rand(2, 3, 6, 5), requires_grad=True)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_max_pool_double_backward_matches_torch():
    x = rand(2, 2, 6, 6)
    res = {}
    for lib in (ember, torch):
        xx = lib.tensor(x, requires_grad=True)
        y = lib.nn.functional.max_pool2d(xx * xx, 3, 2, 1)
        (g,) = lib.autograd.grad((y * y).sum(), (xx,), create_graph=True)
        (g * g).sum().backward()
        res[lib] = xx.grad
    assert_close(res[ember], res[torch])


# ---- pad / interpolate / pixel shuffle -----------------------------------------------------

@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5), (1, 2)), ((3, 5), (2, 0)),
                                       ((2, 3, 4, 5), (1, 2, 3, 1)),
                                       ((2, 3, 4, 5, 6), (1, 2, 3, 1, 0, 2)),
                                       ((3, 4, 5, 6), (1, 2, 3, 1, 0, 2))])
def test_pad_modes(mode, shape, pad):
    check(lambda lib, x: lib.nn.functional.pad(x, pad, mode=mode), rand(*shape))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(-1, 2), (2, -1), (-1, -1), (1, -2, -1, 2)])
def test_pad_modes_negative_amounts_crop_first(mode, pad):
    shape = (2, 3, 5, 6) if len(pad) == 4 else (2, 3, 5)
    check(lambda lib, x: lib.nn.functional.pad(x, pad, mode=mode), rand(*shape))


def test_pad_constant_value_negative_and_many_dims():
    check(lambda lib, x: lib.nn.functional.pad(x, (1, 2), value=2.5), rand(2, 3, 4, 5))
    check(lambda lib, x: lib.nn.functional.pad(x, (-1, 2, 0, -2)), rand(2, 3, 4, 5))
    check(lambda lib, x: lib.nn.functional.pad(x, (1, 1) * 4), rand(2, 3, 4, 5))
    check(lambda lib, x: lib.nn.functional.pad(x, (5, 5), mode="circular"), rand(2, 3, 5))


INTERP = [("nearest", {}), ("nearest-exact", {}), ("bilinear", dict(align_corners=False)),
          ("bilinear", dict(align_corners=True)), ("bicubic", dict(align_corners=False)),
          ("bicubic", dict(align_corners=True)), ("area", {})]


@pytest.mark.parametrize("mode,kw", INTERP)
def test_interpolate_2d(mode, kw):
    x = rand(2, 3, 4, 5)
    for size in [(8, 10), (3, 2), (5, 7)]:
        check(lambda lib, x: lib.nn.functional.interpolate(x, size=size, mode=mode, **kw), x)
    for sf in [2, 0.5, (1.5, 2.3)]:
        for rsf in (None, True):
            check(lambda lib, x: lib.nn.functional.interpolate(
                x, scale_factor=sf, mode=mode, recompute_scale_factor=rsf, **kw), x)


@pytest.mark.parametrize("mode,kw", [("nearest", {}), ("linear", dict(align_corners=False)),
                                     ("linear", dict(align_corners=True)), ("area", {})])
def test_interpolate_1d(mode, kw):
    check(lambda lib, x: lib.nn.functional.interpolate(x, size=12, mode=mode, **kw), rand(2, 3, 7))
    check(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=0.6, mode=mode, **kw),
          rand(2, 3, 7, dtype=np.float32))


@pytest.mark.parametrize("mode,kw", [("trilinear", dict(align_corners=False)),
                                     ("trilinear", dict(align_corners=True)), ("nearest", {}),
                                     ("area", {})])
def test_interpolate_3d(mode, kw):
    x = rand(2, 2, 4, 3, 5)
    check(lambda lib, x: lib.nn.functional.interpolate(x, size=(3, 5, 4), mode=mode, **kw), x)
    check(lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=1.7, mode=mode, **kw), x)


def test_pixel_shuffle_and_unshuffle():
    check(lambda lib, x: lib.nn.functional.pixel_shuffle(x, 2), rand(2, 8, 3, 3))
    check(lambda lib, x: lib.nn.functional.pixel_shuffle(x, 2), rand(8, 3, 3))
    check(lambda lib, x: lib.nn.functional.pixel_unshuffle(x, 2), rand(2, 2, 6, 4))


# ---- errors ---------------------------------------------------------------------------------

def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn(ember)
    with pytest.raises(exc):
        fn(torch)


@pytest.mark.parametrize("exc,match,fn", [
    (RuntimeError, "pad should be at most half of effective kernel size",
     lambda L: L.nn.functional.max_pool2d(L.zeros(2, 3, 8, 8), 3, padding=2)),
    (RuntimeError, r"Given input size: \(3x8x8\). Calculated output size: \(3x0x0\)",
     lambda L: L.nn.functional.max_pool2d(L.zeros(2, 3, 8, 8), 9)),
    (RuntimeError, r"Calculated output size: \(3x0x0\)",
     lambda L: L.nn.functional.avg_pool2d(L.zeros(2, 3, 8, 8), 9)),
    (RuntimeError, "stride should not be zero",
     lambda L: L.nn.functional.max_pool2d(L.zeros(2, 3, 8, 8), 2, stride=0)),
    (RuntimeError, "3D or 4D",
     lambda L: L.nn.functional.max_pool2d(L.zeros(2, 3), 2)),
    (RuntimeError, "divisor must be not zero",
     lambda L: L.nn.functional.avg_pool2d(L.zeros(2, 3, 8, 8), 2, divisor_override=0)),
    (RuntimeError, "Padding length must be divisible by 2",
     lambda L: L.nn.functional.pad(L.zeros(2, 3, 4), (1, 2, 3))),
    (NotImplementedError, "Padding size 2 is not supported for 4D input",
     lambda L: L.nn.functional.pad(L.zeros(2, 3, 4, 5), (1, 2), mode="reflect")),
    (RuntimeError, "Padding size should be less than the corresponding input dimension",
     lambda L: L.nn.functional.pad(L.zeros(2, 3, 4), (4, 1), mode="reflect")),
    (NotImplementedError, "Unrecognised padding mode",
     lambda L: L.nn.functional.pad(L.zeros(2, 3, 4), (1, 1), mode="foo")),
    (ValueError, "only one of size or scale_factor should be defined",
     lambda L: L.nn.functional.interpolate(L.zeros(2, 3, 4, 5), size=3, scale_factor=2)),
    (ValueError, "align_corners option can only be set",
     lambda L: L.nn.functional.interpolate(L.zeros(2, 3, 4, 5), 3, align_corners=True)),
    (NotImplementedError, "linear mode needs 3D input",
     lambda L: L.nn.functional.interpolate(L.zeros(2, 3, 4, 5), 3, mode="linear")),
    (RuntimeError, "pixel_shuffle expects its input's 'channel' dimension to be divisible",
     lambda L: L.nn.functional.pixel_shuffle(L.zeros(2, 6, 3, 3), 2)),
    (RuntimeError, "Found an invalid max index: 64",
     lambda L: L.nn.functional.max_unpool2d(L.zeros(2, 3, 4, 4),
                                            L.full((2, 3, 4, 4), 64, dtype=L.int64), 2)),
])
def test_pool_pad_interp_errors(exc, match, fn):
    _raises(exc, match, fn)


def test_adaptive_avg_pool_integer_input_not_implemented():
    _raises(NotImplementedError, "not implemented for 'Long'",
            lambda L: L.nn.functional.adaptive_avg_pool2d(L.zeros(2, 3, 8, 8, dtype=L.int64), 2))


# ---- modules --------------------------------------------------------------------------------

def _module_check(make, x, call=lambda m, x: m(x)):
    me, mt = make(ember), make(torch)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye, yt = call(me, xe), call(mt, xt)
    assert_close(ye, yt)
    ye0, yt0 = (ye[0], yt[0]) if isinstance(yt, tuple) else (ye, yt)
    g = rand(*yt0.shape, seed=5)
    (ye0 * ember.tensor(g)).sum().backward()
    (yt0 * torch.tensor(g)).sum().backward()
    assert_close(xe.grad, xt.grad, what="input grad")
    assert repr(me) == repr(mt)


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.nn.MaxPool2d(2), (2, 3, 8, 8)),
    (lambda L: L.nn.MaxPool2d(3, 2, 1, ceil_mode=True, return_indices=True), (2, 3, 9, 9)),
    (lambda L: L.nn.MaxPool1d(2), (2, 3, 9)),
    (lambda L: L.nn.AvgPool2d(2), (2, 3, 8, 8)),
    (lambda L: L.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False,
                              divisor_override=2), (2, 3, 9, 9)),
    (lambda L: L.nn.AvgPool1d(3), (2, 3, 9)),
    (lambda L: L.nn.AdaptiveAvgPool2d((2, None)), (2, 3, 7, 5)),
    (lambda L: L.nn.AdaptiveAvgPool1d(3), (2, 3, 7)),
    (lambda L: L.nn.AdaptiveMaxPool2d(2), (2, 3, 7, 5)),
    (lambda L: L.nn.AdaptiveMaxPool1d(2, True), (2, 3, 7)),
    (lambda L: L.nn.LPPool2d(2, 3), (2, 3, 7, 5)),
    (lambda L: L.nn.LPPool1d(2, 3), (2, 3, 7)),
    (lambda L: L.nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda L: L.nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    (lambda L: L.nn.UpsamplingNearest2d(scale_factor=2), (2, 3, 4, 5)),
    (lambda L: L.nn.UpsamplingBilinear2d(size=5), (2, 3, 4, 5)),
    (lambda L: L.nn.ZeroPad2d(2), (2, 3, 4, 5)),
    (lambda L: L.nn.ZeroPad1d((1, 2)), (2, 3, 4)),
    (lambda L: L.nn.ConstantPad1d((1, 2), 3.5), (2, 3, 4)),
    (lambda L: L.nn.ConstantPad2d(1, 0), (2, 3, 4, 5)),
    (lambda L: L.nn.ReflectionPad1d(2), (2, 3, 4)),
    (lambda L: L.nn.ReflectionPad2d((1, 2, 3, 0)), (2, 3, 4, 5)),
    (lambda L: L.nn.ReplicationPad1d(2), (2, 3, 4)),
    (lambda L: L.nn.ReplicationPad2d((1, 2, 3, 4)), (2, 3, 4, 5)),
    (lambda L: L.nn.CircularPad2d(1), (2, 3, 4, 5)),
    (lambda L: L.nn.CircularPad1d((1, 2)), (2, 3, 4)),
])
def test_pool_and_resample_modules(make, shape):
    _module_check(make, rand(*shape))


def test_max_unpool_module():
    x = rand(2, 3, 8, 8)
    y, idx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    ie = ember.tensor(idx.numpy())
    _module_check(lambda L: L.nn.MaxUnpool2d(2), y.numpy(),
                  call=lambda m, v: m(v, ie if isinstance(v, ember.Tensor) else idx))


# Size arguments of the wrong type are TypeErrors naming the argument and its position, as
# torch's argument parser raises them; a tuple of the wrong length is torch's RuntimeError.
@pytest.mark.parametrize("fname,args", [
    ("max_pool1d", ((1, 1, 8), 2.0)),
    ("avg_pool1d", ((1, 1, 8), 2.0)),
    ("max_pool2d", ((1, 1, 8, 8), True)),
    ("max_pool2d", ((1, 1, 8, 8), (True, 2))),
    ("max_pool2d", ((1, 1, 8, 8), (2, 2.0))),
    ("max_pool2d", ((1, 1, 8, 8), (2.0, 2))),
    ("max_pool2d", ((1, 1, 8, 8), [2, None])),
    ("avg_pool2d", ((1, 1, 8, 8), 2, 1.5)),
    ("max_pool2d", ((1, 1, 8, 8), 2, 2, 0.5)),
    ("max_pool2d", ((1, 1, 8, 8), 2, 2, 0, 1.0)),
    ("max_pool2d", ((1, 1, 8, 8), (2, 2, 2))),
    ("avg_pool2d", ((1, 1, 8, 8), 2, (1, 1, 1))),
    ("max_pool2d", ((1, 1, 8, 8), 2, 1, (1, 1, 1))),
])
def test_size_argument_errors_as_torch(fname, args):
    shape, rest = args[0], args[1:]
    raised = []
    for lib in (torch, ember):
        with pytest.raises((TypeError, RuntimeError)) as info:
            getattr(lib.nn.functional, fname)(lib.zeros(*shape), *rest)
        raised.append((type(info.value), str(info.value)))
    assert raised[1] == raised[0]
