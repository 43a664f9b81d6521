"""Normalization (batch, instance, group, layer, RMS, local response):
functional and modules against torch -- outputs, input and parameter
gradients, running statistics, train/eval, double backward, errors."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, assert_close, rand

F32 = dict(atol=1e-4, rtol=1e-4)


def _x(*shape, dtype=np.float64, seed=0):
    # an offset and scale, so centring and scaling both matter
    return (rand(*shape, seed=seed) * 3 + 1).astype(dtype)


def _p(n, dtype=np.float64, seed=1):
    return rand(n, dtype=dtype, seed=seed, low=0.5, high=1.5)


# ---- functional -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(np.float64, {}), (np.float32, F32)])
@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (4, 3, 5, 2)])
def test_batch_norm_training_updates_running_stats(dtype, tol, shape):
    C = shape[1]
    stats = {}
    for lib in (ember, torch):
        stats[lib] = (lib.zeros(C, dtype=getattr(lib, dtype.__name__)),
                      lib.ones(C, dtype=getattr(lib, dtype.__name__)))

    def fn(lib, x, w, b):
        rm, rv = stats[lib]
        return lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
    check(fn, _x(*shape, dtype=dtype), _p(C, dtype), _p(C, dtype, seed=2), **tol)
    assert_close(stats[ember][0], stats[torch][0], **tol)
    assert_close(stats[ember][1], stats[torch][1], **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_running_stats_compiled_matches_numpy_bitwise(dtype):
    """The running statistics update runs as one compiled pass where the
    kernels are on; it must round exactly as the generic NumPy formula does."""
    from ember.backends.cpu import _norm
    from ember.backends.generic import norm as generic
    rng = np.random.default_rng(5)
    rm, rv, mean, var = (rng.standard_normal(37).astype(dtype) for _ in range(4))
    got, want = (rm.copy(), rv.copy()), (rm.copy(), rv.copy())
    for momentum in (0.1, 0.3, 1 / 7):
        _norm.update_running_stats(*got, mean, var, momentum, 40 / 39)
        generic.update_running_stats(*want, mean, var, momentum, 40 / 39)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_batch_norm_eval_without_affine_and_without_running_stats():
    C = 3
    rm, rv = rand(C, seed=3), rand(C, seed=4, low=0.5, high=2)
    x = _x(4, C, 5)
    check(lambda lib, x, w, b: lib.nn.functional.batch_norm(
        x, lib.tensor(rm), lib.tensor(rv), w, b, training=False), x, _p(C), _p(C, seed=2))
    check(lambda lib, x: lib.nn.functional.batch_norm(x, lib.tensor(rm), lib.tensor(rv)), x)
    check(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True, eps=1e-3), x)


# (N, C, ...): large enough to split over the threads (by rows of the
# (N * C, S) view), small, and the 2-D, 3-D and 5-D forms
EVAL_SHAPES = [(32, 16, 16, 16), (2, 5, 3, 3), (64, 7), (8, 6, 11), (2, 3, 4, 5, 6)]


@pytest.mark.parametrize("shape", EVAL_SHAPES)
@pytest.mark.parametrize("dtype,tol", [(np.float64, {}), (np.float32, F32)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_one_pass(shape, dtype, tol, affine):
    """Eval-mode batch norm is one pass, x * scale_c + shift_c (the
    ``channel_affine`` kernel): torch's values and gradients, and the same
    bits at 1 and 2 threads."""
    C = shape[1]
    rm = rand(C, seed=3, dtype=dtype)
    rv = rand(C, seed=4, low=0.5, high=2, dtype=dtype)
    x = _x(*shape, dtype=dtype)
    args = (_p(C, dtype), _p(C, dtype, seed=2)) if affine else ()

    def fn(lib, x, *wb):
        return lib.nn.functional.batch_norm(x, lib.tensor(rm), lib.tensor(rv), *wb,
                                            training=False)
    check(fn, x, *args, **tol)
    before = ember.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            with ember.no_grad():
                outs.append(fn(ember, ember.tensor(x), *map(ember.tensor, args)).numpy(force=True))
    finally:
        ember.set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])
    # a non-contiguous input takes the generic formula: the same values
    xt = np.ascontiguousarray(np.swapaxes(x, 0, -1))
    check(lambda lib, x, *wb: fn(lib, x.transpose(0, -1), *wb), xt, *args, **tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, {}), (np.float32, F32)])
def test_instance_group_layer_rms_norm(dtype, tol):
    x = _x(4, 6, 5, dtype=dtype)
    p6, p5 = _p(6, dtype), _p(5, dtype, seed=2)
    p35 = rand(3, 5, dtype=dtype, seed=4)
    cases = [
        (lambda lib, x, w, b: lib.nn.functional.instance_norm(x, weight=w, bias=b), (x, p6, p6)),
        (lambda lib, x: lib.nn.functional.instance_norm(x.reshape(4, 6, 5, 1).repeat(1, 1, 1, 2)),
         (x,)),
        (lambda lib, x, w, b: lib.nn.functional.group_norm(x, 3, w, b), (x, p6, p6)),
        (lambda lib, x: lib.nn.functional.group_norm(x.reshape(4, 6, 5, 1), 2), (x,)),
        (lambda lib, x, w, b: lib.nn.functional.group_norm(x[:, :, 0], 2, w, b), (x, p6, p6)),
        (lambda lib, x, w, b: lib.nn.functional.layer_norm(x, (5,), w, b), (x, p5, p5)),
        (lambda lib, x, w, b: lib.nn.functional.layer_norm(x[:, :3], (3, 5), w, b),
         (x, p35, p35)),
        (lambda lib, x: lib.nn.functional.layer_norm(x, (6, 5), eps=1e-3), (x,)),
        (lambda lib, x, b: lib.nn.functional.layer_norm(x, (5,), None, b), (x, p5)),
        (lambda lib, x, w: lib.nn.functional.rms_norm(x, (5,), w), (x, p5)),
        (lambda lib, x: lib.nn.functional.rms_norm(x, (6, 5), eps=1e-3), (x,)),
        (lambda lib, x: lib.nn.functional.local_response_norm(x, 3), (x,)),
        (lambda lib, x: lib.nn.functional.local_response_norm(x.reshape(4, 6, 5, 1), 2), (x,)),
        (lambda lib, x: lib.nn.functional.local_response_norm(x.reshape(2, 6, 5, 2, 1), 4,
                                                              k=2.0), (x,)),
    ]
    for fn, args in cases:
        check(fn, *args, **tol)


def test_instance_norm_running_stats():
    C = 3
    stats = {lib: (lib.zeros(C, dtype=lib.float64), lib.ones(C, dtype=lib.float64))
             for lib in (ember, torch)}

    def fn(lib, x):
        rm, rv = stats[lib]
        return lib.nn.functional.instance_norm(x, rm, rv, momentum=0.2)
    check(fn, _x(4, C, 6))
    check(fn, _x(4, C, 6, seed=1))
    for i in range(2):
        assert_close(stats[ember][i], stats[torch][i])
    check(lambda lib, x: lib.nn.functional.instance_norm(
        x, *stats[lib], use_input_stats=False), _x(4, C, 6))


@pytest.mark.parametrize("fn,shapes", [
    (lambda x, w, b: ember.nn.functional.batch_norm(x, None, None, w, b, training=True),
     [(3, 4, 5), (4,), (4,)]),
    (lambda x, w, b: ember.nn.functional.batch_norm(
        x, ember.zeros(4, dtype=ember.float64), ember.ones(4, dtype=ember.float64) * 2, w, b),
     [(3, 4, 5), (4,), (4,)]),
    (lambda x, w, b: ember.nn.functional.group_norm(x, 2, w, b), [(3, 4, 5), (4,), (4,)]),
    (lambda x, w, b: ember.nn.functional.instance_norm(x, weight=w, bias=b),
     [(3, 4, 5), (4,), (4,)]),
    (lambda x, w, b: ember.nn.functional.layer_norm(x, (5,), w, b), [(3, 4, 5), (5,), (5,)]),
    (lambda x, w: ember.nn.functional.rms_norm(x, (5,), w), [(3, 4, 5), (5,)]),
    (lambda x: ember.nn.functional.local_response_norm(x, 3), [(3, 4, 5)]),
])
def test_norm_gradcheck_and_gradgradcheck(fn, shapes):
    args = [ember.tensor(_x(*s, seed=i), requires_grad=True) for i, s in enumerate(shapes)]
    assert gradcheck(fn, args)
    assert gradgradcheck(fn, args)


def test_batch_norm_double_backward_matches_torch():
    x, w = _x(4, 3, 5), _p(3)
    res = {}
    for lib in (ember, torch):
        xx, ww = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.batch_norm(xx, None, None, ww, None, training=True)
        gx, gw = lib.autograd.grad((y ** 3).sum(), (xx, ww), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum()).backward()
        res[lib] = (xx.grad, ww.grad)
    assert_close(res[ember][0], res[torch][0])
    assert_close(res[ember][1], res[torch][1])


# ---- errors -----------------------------------------------------------------------------------

def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn(ember)
    with pytest.raises(exc):
        fn(torch)


@pytest.mark.parametrize("exc,match,fn", [
    (RuntimeError, "running_mean must be defined in evaluation mode",
     lambda L: L.nn.functional.batch_norm(L.zeros(4, 3), None, None, training=False)),
    (ValueError, "Expected more than 1 value per channel when training",
     lambda L: L.nn.functional.batch_norm(L.zeros(1, 3), None, None, training=True)),
    (RuntimeError, "running_mean should contain 3 elements not 4",
     lambda L: L.nn.functional.batch_norm(L.zeros(4, 3, 5), L.zeros(4), L.ones(4),
                                          training=True)),
    (RuntimeError, "weight should contain 3 elements not 4",
     lambda L: L.nn.functional.batch_norm(L.zeros(4, 3, 5), L.zeros(3), L.ones(3),
                                          weight=L.ones(4))),
    (RuntimeError, r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\]",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 3, 5), (4,))),
    (RuntimeError, "Expected weight to be of same shape as normalized_shape",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 3, 5), (5,), weight=L.ones(4))),
    (RuntimeError, "Expected number of channels in input to be divisible by num_groups",
     lambda L: L.nn.functional.group_norm(L.zeros(4, 3, 5), 2)),
    (ValueError, "Expected more than 1 spatial element when training",
     lambda L: L.nn.functional.instance_norm(L.zeros(4, 3, 1))),
    (RuntimeError, "mixed dtype",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 5, dtype=L.float64), (5,),
                                          weight=L.ones(5))),
    (NotImplementedError, "not implemented for 'Long'",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 5, dtype=L.int64), (5,))),
    # (the one-dim normalized_shape fast path must refuse what the general checks do)
    (RuntimeError, "Expected bias to be of same shape as normalized_shape",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 5), (5,), L.ones(5), L.ones(1, 5))),
    (RuntimeError, "mixed dtype",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 5), (5,), L.ones(5),
                                          L.ones(5, dtype=L.float64))),
    (RuntimeError, r"Given normalized_shape=\[5\], expected input with shape \[\*, 5\]",
     lambda L: L.nn.functional.layer_norm(L.zeros(4, 5, 4), (5,))),
])
def test_norm_errors(exc, match, fn):
    _raises(exc, match, fn)


# ---- modules ------------------------------------------------------------------------------------

def _load(me, mt):
    me.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in mt.state_dict().items()})


def _run(m, lib, x, g):
    xx = lib.tensor(x, requires_grad=True)
    y = m(xx)
    (y * lib.tensor(g)).sum().backward()
    return y, xx.grad


@pytest.mark.parametrize("make,shape", [
    (lambda L: L.nn.BatchNorm1d(3), (4, 3)),
    (lambda L: L.nn.BatchNorm1d(3, momentum=None), (4, 3, 5)),
    (lambda L: L.nn.BatchNorm2d(3, momentum=0.3), (4, 3, 5, 2)),
    (lambda L: L.nn.BatchNorm2d(3, affine=False), (4, 3, 5, 2)),
    (lambda L: L.nn.BatchNorm2d(3, bias=False), (4, 3, 5, 2)),
    (lambda L: L.nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 2)),
    (lambda L: L.nn.InstanceNorm1d(3, affine=True, track_running_stats=True), (4, 3, 6)),
    (lambda L: L.nn.InstanceNorm2d(3), (4, 3, 5, 2)),
    (lambda L: L.nn.InstanceNorm2d(3, affine=True), (3, 5, 2)),
    (lambda L: L.nn.GroupNorm(2, 4), (3, 4, 5)),
    (lambda L: L.nn.GroupNorm(2, 4, affine=False), (3, 4, 5, 2)),
    (lambda L: L.nn.LayerNorm(5), (3, 4, 5)),
    (lambda L: L.nn.LayerNorm((4, 5), elementwise_affine=False, bias=False), (3, 4, 5)),
    (lambda L: L.nn.LayerNorm([5], bias=False), (3, 4, 5)),
    (lambda L: L.nn.RMSNorm(5), (3, 4, 5)),
    (lambda L: L.nn.RMSNorm([4, 5], eps=1e-3), (3, 4, 5)),
    (lambda L: L.nn.LocalResponseNorm(3), (3, 4, 5)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norm_modules_train_and_eval_match_torch(make, shape, dtype):
    tol = F32 if dtype == np.float32 else {}
    torch.manual_seed(0)
    mt, me = make(torch), make(ember)
    if dtype == np.float64:
        mt, me = mt.double(), me.double()
    for p in mt.parameters():            # non-trivial affine parameters
        with torch.no_grad():
            p.copy_(torch.tensor(_p(p.numel(), dtype, seed=7).reshape(p.shape)))
    _load(me, mt)
    assert repr(me) == repr(mt)
    assert list(me.state_dict()) == list(mt.state_dict())
    for step in range(3):                # several steps: running statistics accumulate
        x = _x(*shape, dtype=dtype, seed=step)
        g = rand(*shape, dtype=dtype, seed=10 + step)
        ye, gxe = _run(me, ember, x, g)
        yt, gxt = _run(mt, torch, x, g)
        assert_close(ye, yt, **tol)
        assert_close(gxe, gxt, **tol, what="input grad")
    pe, pt = dict(me.named_parameters()), dict(mt.named_parameters())
    for k in pt:
        assert_close(pe[k].grad, pt[k].grad, **tol, what=f"grad of {k}")
    se, st = me.state_dict(), mt.state_dict()
    for k in st:
        assert_close(se[k], st[k], **tol, what=k)
    me.eval()
    mt.eval()
    x = _x(*shape, dtype=dtype, seed=9)
    g = rand(*shape, dtype=dtype, seed=19)
    ye, gxe = _run(me, ember, x, g)
    yt, gxt = _run(mt, torch, x, g)
    assert_close(ye, yt, **tol)
    assert_close(gxe, gxt, **tol, what="eval input grad")


def test_batchnorm_module_defaults_and_errors():
    m = ember.nn.BatchNorm2d(4)
    assert m.num_batches_tracked.dtype == ember.int64 and m.num_batches_tracked.item() == 0
    assert m.running_mean.tolist() == [0.0] * 4 and m.running_var.tolist() == [1.0] * 4
    assert m.weight.tolist() == [1.0] * 4 and m.bias.tolist() == [0.0] * 4
    m(ember.randn(2, 4, 3, 3))
    assert m.num_batches_tracked.item() == 1
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        m(ember.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        ember.nn.BatchNorm1d(4)(ember.zeros(2, 4, 3, 3))
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        m(ember.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups"):
        ember.nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match="expected input's size at dim=1 to match num_features"):
        ember.nn.InstanceNorm1d(4, affine=True)(ember.zeros(2, 3, 5))


def test_batchnorm_loads_torch_state_dict_and_eval_output():
    mt = torch.nn.BatchNorm2d(3)
    mt(torch.randn(4, 3, 5, 5) * 2 + 1)
    mt.eval()
    me = ember.nn.BatchNorm2d(3)
    _load(me, mt)
    me.eval()
    x = rand(2, 3, 4, 4, dtype=np.float32)
    assert_close(me(ember.tensor(x)), mt(torch.tensor(x)), **F32)
    assert me.num_batches_tracked.item() == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 1, 128), (1, 16), (3, 2, 7)])
def test_layer_norm_few_rows_no_grad_matches_torch(shape, dtype):
    """Token-by-token decoding runs layer norm on a few rows under no_grad
    (the fast path of the argument checks and of the compiled row kernel)."""
    x, w, b = _x(*shape, dtype=dtype), _p(shape[-1], dtype), _p(shape[-1], dtype, seed=2)
    res = {}
    for lib in (ember, torch):
        with lib.no_grad():
            res[lib] = lib.nn.functional.layer_norm(lib.tensor(x), (shape[-1],), lib.tensor(w),
                                                    lib.tensor(b), 1e-5)
    assert res[ember].shape == res[torch].shape
    assert_close(res[ember], res[torch], **(F32 if dtype == np.float32 else {}))
