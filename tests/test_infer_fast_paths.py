"""The no-grad inference fast paths (issue 20: LeNet and GPT at batch 1, decoding),
each checked against torch and against the path it short-cuts:

* ReLU's compiled pass (``relu_forward``): torch's values bit for bit, -0.0
  and NaN included, at sizes below and above the thread split, with and
  without the compiled kernels;
* max pooling's geometry memo (``pooling._MAX_GEOS``): a remembered
  geometry never lets through arguments torch refuses, and each input shape
  gets its own;
* convolution's argument fast path (``conv._ints``): every spelling of an
  argument gives the same result, wrong types still raise;
* ``_run_unrecorded`` (every no-grad op): views share the version counter,
  multi-output ops and keyword arguments still work; ``apply_view`` (no-grad
  view, reshape, transpose, permute) makes the views the recorded path makes.
"""
import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _jit
from ember.nn.functional import pooling as _pooling

from helpers import assert_close


def _from(a):
    return ember.tensor(a)


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 2048, (1 << 17) + 1])   # the last one split over threads
@pytest.mark.parametrize("jit", [True, False])
def test_relu_matches_torch_bits(dtype, n, jit):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(dtype)
    a[: min(n, 6)] = [-0.0, 0.0, np.nan, -np.inf, np.inf, -1.0][: min(n, 6)]
    old = _jit.set_enabled(jit)
    try:
        with ember.no_grad():
            t = _from(a)
            got = ember.relu(t).numpy(force=True)
    finally:
        _jit.set_enabled(old)
    want = torch.relu(torch.from_numpy(a)).numpy()
    # both the compiled pass and the generic formula keep -0.0 as torch does
    assert np.array_equal(_bits(got), _bits(want))


def test_relu_layouts_and_grad():
    a = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    t = _from(a)
    # non-contiguous, 0-d and integer inputs take the NumPy formula
    assert_close(ember.relu(t.transpose(0, 2)), torch.relu(torch.from_numpy(a).transpose(0, 2)))
    assert ember.relu(_from(np.float32(-2.0))).shape == ()
    assert ember.relu(ember.tensor([-1, 3])).tolist() == [0, 3]
    # the gradient still follows the compiled forward
    x = _from(a).requires_grad_()
    tx = torch.from_numpy(a).requires_grad_()
    ember.relu(x).sum().backward()
    torch.relu(tx).sum().backward()
    assert_close(x.grad, tx.grad)


def test_max_pool_memo_refuses_what_torch_refuses():
    # (torch raises TypeError for these; Ember's pooling raises RuntimeError for
    # some of them, as it did before the memo: only "still refused" is checked)
    F = ember.nn.functional
    x = ember.randn(1, 3, 8, 8)
    with ember.no_grad():
        F.max_pool2d(x, 2, 2)                  # remembered under the ints 2, 2
        for bad in (2.0, (2.0, 2.0), True):    # equal to 2 / (2, 2) / 1 as keys
            with pytest.raises((TypeError, RuntimeError)):
                F.max_pool2d(x, bad, 2)
            with pytest.raises((TypeError, RuntimeError)):
                F.max_pool2d(x, 2, bad)
        with pytest.raises(RuntimeError):
            F.max_pool2d(x, 2, 0)              # stride 0: invalid, so never remembered
        with pytest.raises(RuntimeError):
            F.max_pool2d(x, 2, 0)


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 9, 7), (3, 6, 6)])
@pytest.mark.parametrize("args", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1),
                                       ceil_mode=True)])
def test_max_pool_memo_per_shape(shape, args):
    a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for _ in range(2):                         # the second call uses the remembered geometry
        with ember.no_grad():
            got = ember.nn.functional.max_pool2d(_from(a), **args)
        assert_close(got, torch.nn.functional.max_pool2d(torch.from_numpy(a), **args))
    # and with indices and a gradient through the same geometry
    x = _from(a).requires_grad_()
    tx = torch.from_numpy(a).requires_grad_()
    y, i = ember.nn.functional.max_pool2d(x, return_indices=True, **args)
    ty, ti = torch.nn.functional.max_pool2d(tx, return_indices=True, **args)
    assert np.array_equal(i.numpy(), ti.numpy())
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad)
    assert len(_pooling._MAX_GEOS) <= 256


def test_max_pool_nan_without_indices():
    a = np.random.default_rng(2).standard_normal((1, 2, 4, 4)).astype(np.float32)
    a[0, 0, 1, 1] = np.nan
    with ember.no_grad():
        got = ember.nn.functional.max_pool2d(_from(a), 2)
    want = torch.nn.functional.max_pool2d(torch.from_numpy(a), 2)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("stride", [1, (1, 1), [1, 1], (1,), np.int64(1)])
def test_conv_argument_spellings(stride):
    a = np.random.default_rng(3).standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = np.random.default_rng(4).standard_normal((3, 2, 3, 3)).astype(np.float32)
    with ember.no_grad():
        got = ember.nn.functional.conv2d(_from(a), _from(w), None, stride, (1, 1), 1)
    assert_close(got, torch.nn.functional.conv2d(torch.from_numpy(a), torch.from_numpy(w),
                                                 None, 1, 1))


@pytest.mark.parametrize("stride", [1.0, (1.0, 1.0), True, (1, 2, 3)])
def test_conv_argument_errors(stride):
    x, w = ember.randn(1, 2, 6, 6), ember.randn(3, 2, 3, 3)
    tx, tw = torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3)
    with pytest.raises(Exception) as want:
        torch.nn.functional.conv2d(tx, tw, None, stride)
    with pytest.raises(type(want.value)):
        ember.nn.functional.conv2d(x, w, None, stride)


def test_unrecorded_ops_keep_view_and_output_rules():
    x = ember.arange(12.0)
    with ember.no_grad():
        v = x.view(3, 4)                       # one-argument op, a view
        v[0, 0] = 100.0
        assert x[0].item() == 100.0 and v._version == x._version
        parts = x.split(5)                     # several outputs
        assert [p.shape[0] for p in parts] == [5, 5, 2]
        s = ember.sum(x.view(3, 4), dim=1, keepdim=True)     # keyword arguments
        assert s.shape == (3, 1)
        y = x.exp()
        assert not y.requires_grad and y.grad_fn is None and y._version == 0


def test_view_short_cut_matches_the_recorded_views():
    """view/reshape/transpose/permute without a graph (``apply_view``): views
    sharing memory, version and base as the recorded path's do; a reshape
    that must copy is no view; a grad-requiring input with grad on records."""
    w = ember.arange(24.0).reshape(2, 3, 4).clone().requires_grad_(True)
    with ember.no_grad():
        views = [w.view(6, 4), w.reshape(4, 6), w.transpose(0, 2), w.permute(2, 0, 1),
                 w.transpose(0, 1).view(3, 2, 2, 2)]
        for v in views:
            assert v._vc is w._vc and v._base is w and v.grad_fn is None
            assert not v.requires_grad
        views[2][1, 0, 0] = -5.0                     # written through a view
        assert w[0, 0, 1].item() == -5.0 and views[0]._version == w._version
        c = w.transpose(0, 1).reshape(24)           # needs a copy: not a view
        assert c._vc is not w._vc and c._base is None
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            w.transpose(0, 1).view(24)
    for op in (lambda t: t.view(6, 4), lambda t: t.transpose(0, 2), lambda t: t.permute(2, 0, 1),
               lambda t: t.reshape(4, 6)):
        e = op(w)
        assert e.grad_fn is not None and e.requires_grad
        e.pow(2).sum().backward()
    assert_close(w.grad, 8 * torch.from_numpy(w.detach().numpy()))   # (4 ops, each 2w)


@pytest.mark.parametrize("rows", [2, 3, 4, 8, 9, 16])
@pytest.mark.parametrize("n_out", [65, 257, 384, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("compiled", [True, False])
def test_linear_few_rows_slabs(rows, n_out, dtype, compiled, monkeypatch):
    # a few rows (decoding) take the transposed product: compiled (_linear_t_run),
    # or, where that can't run, NumPy's in slabs of outputs (_few_rows)
    if not compiled:
        from ember.backends.cpu import _linear
        monkeypatch.setattr(_linear, "_T_ROWS_MAX", 0)
    rng = np.random.default_rng(rows * n_out)
    a = rng.standard_normal((rows, 1, 128)).astype(dtype)
    w = (rng.standard_normal((n_out, 128)) / 64).astype(dtype)    # outputs ~0.2: float32 sums
    b = rng.standard_normal(n_out).astype(dtype)
    with ember.no_grad():
        got = ember.nn.functional.linear(_from(a), _from(w), _from(b))
    want = torch.nn.functional.linear(torch.from_numpy(a), torch.from_numpy(w), torch.from_numpy(b))
    assert got.shape == want.shape and got.is_contiguous()
    assert_close(got, want)
    x = _from(a).requires_grad_()
    wt = _from(w).requires_grad_()
    tx, tw = torch.from_numpy(a).requires_grad_(), torch.from_numpy(w).requires_grad_()
    c = rng.standard_normal((rows, 1, n_out)).astype(dtype)
    (ember.nn.functional.linear(x, wt) * _from(c)).sum().backward()
    (torch.nn.functional.linear(tx, tw) * torch.from_numpy(c)).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(wt.grad, tw.grad)
