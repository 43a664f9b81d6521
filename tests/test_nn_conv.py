"""Convolutions (functional and modules), unfold/fold: outputs, input and
parameter gradients, double backward and errors, all against torch."""
import math

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, assert_close, rand

F32 = dict(atol=1e-4, rtol=1e-4)


def _w(*shape, dtype=np.float64, seed=1):
    return rand(*shape, dtype=dtype, seed=seed, low=-1, high=1)


# ---- conv1d / conv2d ------------------------------------------------------------------------

CONV2D = [
    ((2, 3, 8, 8), (4, 3, 3, 3), {}),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 9, 8), (4, 3, 3, 2), dict(padding=(1, 2), stride=(2, 3))),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(padding=(1, 2), stride=(2, 1), dilation=(2, 1), groups=2)),
    ((2, 4, 9, 8), (6, 2, 4, 2), dict(padding="same", dilation=(2, 1), groups=2)),
    ((2, 4, 9, 8), (4, 4, 3, 3), dict(padding="same")),
    ((2, 4, 9, 8), (4, 4, 3, 3), dict(padding="valid", dilation=2)),
    ((2, 6, 7, 7), (6, 1, 3, 3), dict(padding=1, groups=6)),          # depthwise
    ((2, 3, 8, 8), (5, 3, 1, 1), dict(stride=2)),                     # 1x1 strided
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=3)),                    # over-padded
    ((3, 8, 8), (4, 3, 3, 3), dict(padding=1)),                       # unbatched
    ((1, 2, 5, 30), (3, 2, 5, 5), dict(padding=2)),                   # wide rows
    ((2, 3, 12, 12), (8, 3, 5, 5), {}),                               # LeNet-like
]


@pytest.mark.parametrize("xs,ws,kw", CONV2D)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_matches_torch_float64(xs, ws, kw, bias):
    x, w = rand(*xs), _w(*ws)
    b = _w(ws[0], seed=2)
    if bias:
        check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw), x, w, b)
    else:
        check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, **kw), x, w)


@pytest.mark.parametrize("xs,ws,kw", CONV2D[:6])
def test_conv2d_matches_torch_float32(xs, ws, kw):
    x, w, b = rand(*xs, dtype=np.float32), _w(*ws, dtype=np.float32), _w(ws[0], dtype=np.float32)
    check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw), x, w, b, **F32)


CONV1D = [
    ((2, 4, 9), (6, 2, 3), dict(padding=1, groups=2)),
    ((4, 9), (6, 4, 3), dict(stride=2)),
    ((2, 3, 10), (4, 3, 4), dict(padding="same", dilation=3)),
    ((2, 3, 10), (4, 3, 2), dict(padding=(1,), stride=(3,))),
]


@pytest.mark.parametrize("xs,ws,kw", CONV1D)
def test_conv1d_matches_torch(xs, ws, kw):
    x, w, b = rand(*xs), _w(*ws), _w(ws[0], seed=2)
    check(lambda lib, x, w, b: lib.nn.functional.conv1d(x, w, b, **kw), x, w, b)


def test_conv2d_non_contiguous_input_and_weight():
    x = rand(2, 8, 8, 3).transpose(0, 3, 1, 2)           # NHWC storage viewed as NCHW
    w = _w(3, 3, 3, 4).transpose(3, 2, 0, 1)
    check(lambda lib, x, w: lib.nn.functional.conv2d(x.transpose(2, 3), w, padding=1), x, w)


def test_conv2d_empty_batch_and_grad_of_only_weight():
    x, w = rand(0, 3, 8, 8), _w(4, 3, 3, 3)
    check(lambda lib, x, w: lib.nn.functional.conv2d(x, w), x, w, grad=False)
    # an input that needs no grad: only the weight gradient is computed
    xe = ember.tensor(rand(2, 1, 8, 8))
    we = ember.tensor(_w(4, 1, 3, 3), requires_grad=True)
    xt, wt = torch.tensor(xe.cpu().numpy()), torch.tensor(we.detach().cpu().numpy(), requires_grad=True)
    ember.nn.functional.conv2d(xe, we).sum().backward()
    torch.nn.functional.conv2d(xt, wt).sum().backward()
    assert_close(we.grad, wt.grad)


def test_conv2d_large_batch_uses_several_chunks():
    from ember.nn.functional import conv as C
    old = C._CHUNK_BYTES, C._SAVE_BYTES
    C._CHUNK_BYTES, C._SAVE_BYTES = 4096, 0            # force chunking and recomputation
    try:
        x, w, b = rand(5, 3, 9, 9), _w(4, 3, 3, 3), _w(4)
        check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, padding=1), x, w, b)
        check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, stride=2), x, w)
        wt = _w(3, 4, 3, 3)
        check(lambda lib, x, w: lib.nn.functional.conv_transpose2d(x, w, stride=2), x, wt)
        check(lambda lib, x, w: lib.nn.functional.conv_transpose2d(x, w, padding=1), x, wt)
    finally:
        C._CHUNK_BYTES, C._SAVE_BYTES = old


def test_conv_integer_inputs_as_torch():
    x = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5) % 7 - 3
    w = np.arange(4 * 3 * 2 * 2).reshape(4, 3, 2, 2) % 5 - 2
    check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, padding=1), x, w, grad=False)


# ---- transposed convolutions ------------------------------------------------------------------

CONVT2D = [
    ((2, 3, 5, 5), (3, 4, 3, 3), {}),
    ((2, 4, 5, 6), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                                      groups=2, dilation=(1, 2))),
    ((2, 3, 4, 4), (3, 2, 4, 4), dict(stride=2, padding=1)),
    ((3, 5, 6), (3, 3, 3, 3), dict(dilation=3, output_padding=2)),      # unbatched
    ((2, 3, 4, 4), (3, 2, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", CONVT2D)
def test_conv_transpose2d_matches_torch(xs, ws, kw):
    x, w, b = rand(*xs), _w(*ws), _w(ws[1] * kw.get("groups", 1), seed=2)
    check(lambda lib, x, w, b: lib.nn.functional.conv_transpose2d(x, w, b, **kw), x, w, b)
    check(lambda lib, x, w: lib.nn.functional.conv_transpose2d(x, w, **kw), x, w)


def test_conv_transpose1d_matches_torch():
    x, w, b = rand(2, 4, 5), _w(4, 3, 3), _w(3)
    check(lambda lib, x, w, b: lib.nn.functional.conv_transpose1d(
        x, w, b, stride=2, padding=1, output_padding=1), x, w, b)
    x32, w32 = rand(2, 4, 5, dtype=np.float32), _w(4, 3, 3, dtype=np.float32)
    check(lambda lib, x, w: lib.nn.functional.conv_transpose1d(x, w, stride=3), x32, w32, **F32)


# ---- higher order ---------------------------------------------------------------------------

def _t(shape, seed):
    return ember.tensor(rand(*shape, seed=seed), requires_grad=True)


@pytest.mark.parametrize("fn,shapes", [
    (lambda x, w, b: ember.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2),
     [(2, 4, 5, 6), (6, 2, 3, 2), (6,)]),
    (lambda x, w, b: ember.nn.functional.conv2d(x, w, b, padding=1), [(2, 3, 5, 5), (2, 3, 3, 3),
                                                                      (2,)]),
    (lambda x, w, b: ember.nn.functional.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                          output_padding=1, groups=2),
     [(2, 4, 4, 4), (4, 3, 3, 3), (6,)]),
    (lambda x, w, b: ember.nn.functional.conv1d(x, w, b, padding="same", dilation=2),
     [(2, 3, 7), (4, 3, 3), (4,)]),
])
def test_conv_gradcheck_and_gradgradcheck(fn, shapes):
    args = [_t(s, i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, args)
    assert gradgradcheck(fn, args)


def test_conv_double_backward_matches_torch():
    x, w = rand(2, 3, 6, 6), _w(4, 3, 3, 3)
    res = {}
    for lib in (ember, torch):
        xx = lib.tensor(x, requires_grad=True)
        ww = lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.conv2d(xx, ww, padding=1, stride=1)
        gx, gw = lib.autograd.grad((y * y).sum(), (xx, ww), create_graph=True)
        (gx.sum() + (gw * gw).sum()).backward()
        res[lib] = (xx.grad, ww.grad)
    assert_close(res[ember][0], res[torch][0])
    assert_close(res[ember][1], res[torch][1])


# ---- errors -----------------------------------------------------------------------------------

def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn(ember)
    with pytest.raises(exc):
        fn(torch)


def test_conv_wrong_channels_message_names_shapes():
    with pytest.raises(RuntimeError) as e:
        ember.nn.functional.conv2d(ember.zeros(2, 4, 28, 28), ember.zeros(16, 3, 5, 5))
    with pytest.raises(RuntimeError) as t:
        torch.nn.functional.conv2d(torch.zeros(2, 4, 28, 28), torch.zeros(16, 3, 5, 5))
    assert str(e.value) == str(t.value)
    assert "expected input[2, 4, 28, 28] to have 3 channels, but got 4 channels" in str(e.value)


@pytest.mark.parametrize("fn,match", [
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3), L.zeros(4, 3, 3, 3)),
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of "
     r"size: \[2, 3\]"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 4, 4), L.zeros(4, 3, 5, 5)),
     r"Calculated padded input size per channel: \(4 x 4\). Kernel size: \(5 x 5\)"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(4, 3, 3, 3), stride=2,
                                      padding="same"), "not supported for strided"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(4, 3, 3, 3), padding="foo"),
     "Invalid padding string: 'foo'"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(4, 3, 3, 3), padding=-1),
     "negative padding"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(4, 3, 3, 3), stride=0),
     "non-positive stride"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 4, 8, 8), L.zeros(6, 2, 3, 3), groups=4),
     "expected weight to be divisible by 4"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(0, 3, 3, 3)),
     r"expected weight to be at least 1 at dimension 0, but got weight of size \[0, 3, 3, 3\]"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(4, 3, 3, 3),
                                      bias=L.zeros(3)), "expected bias to be 1-dimensional with 4"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8, dtype=L.float64),
                                      L.zeros(4, 3, 3, 3)), "expected scalar type Double"),
    (lambda L: L.nn.functional.conv2d(L.zeros(2, 3, 8, 8), L.zeros(4, 3, 3, 3), stride=(1, 2, 3)),
     "expected stride to be a single integer value or a list of 2 values"),
    (lambda L: L.nn.functional.conv1d(L.zeros(2, 3, 8, 8, 8), L.zeros(4, 3, 3)),
     "input to conv1d"),
    (lambda L: L.nn.functional.conv_transpose2d(L.zeros(2, 4, 8, 8), L.zeros(3, 4, 3, 3)),
     r"Given transposed=1, weight of size \[3, 4, 3, 3\], expected input\[2, 4, 8, 8\] to have 3"),
    (lambda L: L.nn.functional.conv_transpose2d(L.zeros(2, 3, 8, 8), L.zeros(3, 4, 3, 3),
                                                stride=2, output_padding=2),
     "output padding must be smaller than either stride or dilation"),
])
def test_conv_errors_as_torch(fn, match):
    _raises(RuntimeError, match, fn)


@pytest.mark.parametrize("kw", [dict(stride=1.0), dict(stride=True), dict(padding=(1.0, 1)),
                                dict(groups=1.0), dict(dilation=(True, 1))])
def test_conv_argument_types_checked_after_a_valid_call(kw):
    """conv remembers the geometry of each (shapes, arguments) it has seen;
    an argument equal to a remembered one but of the wrong type (1.0 == 1,
    True == 1) must still raise torch's TypeError."""
    for lib in (ember, torch):
        x, w = lib.ones(1, 2, 5, 5), lib.ones(3, 2, 3, 3)
        lib.nn.functional.conv2d(x, w, None, 1, 1, 1, 1)
        lib.nn.functional.conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1)
        with pytest.raises(TypeError):
            lib.nn.functional.conv2d(x, w, **kw)


def test_conv_same_arguments_other_shapes():
    """Remembered geometries are per shape: a second batch size, a bias, a
    dtype (complex refused) each take their own checks."""
    w = ember.ones(3, 2, 3, 3)
    for n in (1, 4, 1):
        y = ember.nn.functional.conv2d(ember.ones(n, 2, 5, 5), w, None, 1, 1)
        assert tuple(y.shape) == (n, 3, 5, 5)
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 3"):
        ember.nn.functional.conv2d(ember.ones(1, 2, 5, 5), w, ember.ones(4), 1, 1)
    with pytest.raises(NotImplementedError, match="complex"):
        ember.nn.functional.conv2d(ember.ones(1, 2, 5, 5, dtype=ember.complex64),
                                   ember.ones(3, 2, 3, 3, dtype=ember.complex64), None, 1, 1)


def test_conv_non_tensor_input_is_type_error():
    with pytest.raises(TypeError):
        ember.nn.functional.conv2d([1.0], ember.zeros(4, 3, 3, 3))


# ---- modules ------------------------------------------------------------------------------------

def _copy_params(me, mt):
    me.load_state_dict({k: ember.tensor(v.detach().cpu().numpy()) for k, v in mt.state_dict().items()})


def _module_check(make, x, atol=1e-4, rtol=1e-4, call=lambda m, x: m(x)):
    torch.manual_seed(0)
    mt = make(torch)
    me = make(ember)
    _copy_params(me, mt)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye, yt = call(me, xe), call(mt, xt)
    assert_close(ye, yt, atol, rtol)
    g = rand(*yt.shape, dtype=x.dtype, seed=5)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    assert_close(xe.grad, xt.grad, atol, rtol, "input grad")
    pe, pt = dict(me.named_parameters()), dict(mt.named_parameters())
    assert pe.keys() == pt.keys()
    for k in pt:
        assert_close(pe[k].grad, pt[k].grad, atol, rtol, f"grad of {k}")
    assert repr(me) == repr(mt)
    return me, mt


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.nn.Conv2d(3, 8, 5), (4, 3, 28, 28)),
    (lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(2, 1), groups=2,
                           bias=False), (2, 4, 9, 8)),
    (lambda L: L.nn.Conv2d(3, 4, 3, padding="same", padding_mode="reflect"), (2, 3, 6, 7)),
    (lambda L: L.nn.Conv2d(3, 4, 3, padding=2, padding_mode="circular"), (2, 3, 6, 7)),
    (lambda L: L.nn.Conv2d(3, 4, 3, padding=1, padding_mode="replicate"), (3, 6, 7)),
    (lambda L: L.nn.Conv2d(3, 4, 4, padding="valid"), (2, 3, 6, 7)),
    (lambda L: L.nn.Conv1d(4, 6, 3, stride=2, groups=2), (2, 4, 11)),
    (lambda L: L.nn.Conv1d(4, 6, 3, padding="same", padding_mode="reflect"), (2, 4, 11)),
    (lambda L: L.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5, 5)),
    (lambda L: L.nn.ConvTranspose1d(4, 3, 3, stride=2, dilation=2, bias=False), (2, 4, 5)),
])
def test_conv_modules_match_torch(make, shape):
    _module_check(make, rand(*shape, dtype=np.float32))
    _module_check(lambda L: make(L).double(), rand(*shape), atol=1e-10, rtol=1e-8)


def test_conv_transpose_output_size_argument():
    _module_check(lambda L: L.nn.ConvTranspose2d(3, 2, 3, stride=2), rand(2, 3, 4, 4,
                                                                             dtype=np.float32),
                  call=lambda m, x: m(x, output_size=[10, 10]))
    with pytest.raises(ValueError, match="requested an output size"):
        ember.nn.ConvTranspose2d(3, 2, 3, stride=2)(ember.zeros(1, 3, 4, 4), output_size=[20, 20])


def test_conv_module_init_distribution_and_state_dict():
    ember.manual_seed(0)
    m = ember.nn.Conv2d(16, 32, 5)
    fan_in = 16 * 25
    w, b = m.weight.detach().cpu().numpy(), m.bias.detach().cpu().numpy()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound      # U(-b, b) has std b/sqrt(3)
    assert np.abs(b).max() <= bound
    assert w.dtype == np.float32 and w.shape == (32, 16, 5, 5)
    t = torch.nn.Conv2d(16, 32, 5)
    assert list(m.state_dict()) == list(t.state_dict())
    mt = ember.nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert mt.weight.shape == (4, 3, 3, 3) and mt.bias.shape == (6,)


def test_conv_module_constructor_errors():
    for kw, match in [(dict(groups=2), "in_channels must be divisible by groups"),
                      (dict(padding="foo"), "Invalid padding string"),
                      (dict(padding="same", stride=2), "not supported for strided"),
                      (dict(padding_mode="zero"), "padding_mode must be one of")]:
        args = (3, 4, 3) if "groups" in kw else (4, 4, 3)
        with pytest.raises(ValueError, match=match):
            ember.nn.Conv2d(*args, **kw)
        with pytest.raises(ValueError):
            torch.nn.Conv2d(*args, **kw)
    with pytest.raises(ValueError, match="zeros"):
        ember.nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")


def test_conv_module_wrong_channels_message():
    with pytest.raises(RuntimeError, match=r"expected input\[2, 4, 28, 28\] to have 3 channels"):
        ember.nn.Conv2d(3, 16, 5)(ember.zeros(2, 4, 28, 28))


# ---- unfold / fold ------------------------------------------------------------------------------

@pytest.mark.parametrize("xs,args,kw", [
    ((2, 3, 6, 7), (2,), {}),
    ((2, 3, 6, 7), ((2, 3),), dict(dilation=(2, 1), padding=1, stride=(2, 1))),
    ((3, 6, 7), (3,), dict(padding=1)),
])
def test_unfold_matches_torch(xs, args, kw):
    check(lambda lib, x: lib.nn.functional.unfold(x, *args, **kw), rand(*xs))


@pytest.mark.parametrize("xs,args,kw", [
    ((2, 12, 12), ((4, 5), 2), {}),
    ((2, 18, 9), ((5, 6), (2, 3)), dict(dilation=(2, 1), padding=1, stride=(2, 2))),
    ((12, 12), ((4, 5), 2), {}),
])
def test_fold_matches_torch(xs, args, kw):
    check(lambda lib, x: lib.nn.functional.fold(x, *args, **kw), rand(*xs))


def test_fold_unfold_modules_gradcheck_and_errors():
    for make, shape in [(lambda L: L.nn.Unfold(2, padding=1), (2, 3, 4, 5)),
                        (lambda L: L.nn.Fold((4, 5), 2), (2, 12, 12))]:
        _module_check(make, rand(*shape), atol=1e-10, rtol=1e-8)
    x = ember.tensor(rand(1, 2, 4, 4), requires_grad=True)
    f = lambda x: ember.nn.functional.fold(ember.nn.functional.unfold(x, 2, padding=1), (4, 4), 2,
                                           padding=1)
    assert gradcheck(f, (x,)) and gradgradcheck(f, (x,))
    _raises(RuntimeError, "to match the calculated number of sliding blocks",
            lambda L: L.nn.functional.fold(L.zeros(2, 12, 11), (4, 5), 2))
    _raises(RuntimeError, "divisible by the product of kernel_size",
            lambda L: L.nn.functional.fold(L.zeros(2, 11, 12), (4, 5), 2))
    _raises(RuntimeError, "components must be at least one",
            lambda L: L.nn.functional.unfold(L.zeros(2, 3, 4, 5), 6))
