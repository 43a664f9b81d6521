"""The no-grad short cuts of linear, layer_norm, scaled_dot_product_attention and
split (issue 20: a GPT's inference step).  With nothing to record these run the
op's forward on the arrays and wrap the result, skipping ``Op.apply``; each is
checked against torch, against the recorded path it short-cuts (which must be
unchanged: node names, gradients), and for the errors torch raises.
"""
import numpy as np
import pytest
import torch

import ember
from ember.profiler import profile

from helpers import assert_close

F = ember.nn.functional
TF = torch.nn.functional


def _pair(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return ember.tensor(a), torch.from_numpy(a)


def _bits(t):
    return np.ascontiguousarray(t.detach().numpy(force=True)).view(np.uint8)


@pytest.mark.parametrize("shape", [(5, 8), (1, 64, 128), (2, 3, 16)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_no_grad_matches_torch_and_the_recorded_path(shape, bias):
    n_out = 65 if shape[-1] == 128 else 12
    (x, tx), (w, tw), (b, tb) = _pair(*shape), _pair(n_out, shape[-1], seed=1), \
        _pair(n_out, seed=2)
    b, tb = (b, tb) if bias else (None, None)
    with ember.no_grad():
        y = F.linear(x, w, b)
    assert not y.requires_grad and y.grad_fn is None and y._version == 0
    assert_close(y, TF.linear(tx, tw, tb))
    # the recorded call: same bits, torch's node, gradients
    wr = w.detach().requires_grad_(True)
    yr = F.linear(x, wr, b)
    assert type(yr.grad_fn).__name__ == "AddmmBackward0"
    assert np.array_equal(_bits(y), _bits(yr))
    yr.sum().backward()
    twr = tw.clone().requires_grad_(True)
    TF.linear(tx, twr, tb).sum().backward()
    assert_close(wr.grad, twr.grad)
    # inputs that require grad, under no_grad: nothing recorded
    with ember.no_grad():
        y2 = F.linear(x, wr, b)
    assert y2.grad_fn is None and not y2.requires_grad


def test_linear_no_grad_errors_as_torch():
    x, w = ember.randn(3, 4), ember.randn(5, 6)
    with ember.no_grad():
        with pytest.raises(RuntimeError, match="cannot be multiplied"):
            F.linear(x, w)
        with pytest.raises(RuntimeError, match="same dtype"):
            F.linear(x, ember.randn(5, 4, dtype=ember.float64))
        with pytest.raises(TypeError):
            F.linear(x.numpy(), ember.randn(5, 4))
        # integer inputs take apply (the short cut is for floats) and still run
        xi = ember.tensor([[1, 2]])
        assert F.linear(xi, ember.tensor([[3, 4]])).tolist() == [[11]]


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_no_grad_matches_torch_and_the_recorded_path(affine):
    (x, tx), (w, tw), (b, tb) = _pair(2, 7, 32), _pair(32, seed=1), _pair(32, seed=2)
    if not affine:
        w = tw = b = tb = None
    with ember.no_grad():
        y = F.layer_norm(x, (32,), w, b, 1e-5)
        ym = ember.nn.LayerNorm(32, elementwise_affine=affine)(x)
    assert y.grad_fn is None and not y.requires_grad
    assert_close(y, TF.layer_norm(tx, (32,), tw, tb, 1e-5))
    xr = x.detach().requires_grad_(True)
    yr = F.layer_norm(xr, (32,), w, b, 1e-5)
    assert type(yr.grad_fn).__name__ == "NativeLayerNormBackward0"
    assert np.array_equal(_bits(y), _bits(yr))
    assert_close(ym, torch.nn.LayerNorm(32, elementwise_affine=affine)(tx))
    yr.pow(2).sum().backward()
    txr = tx.clone().requires_grad_(True)
    TF.layer_norm(txr, (32,), tw, tb, 1e-5).pow(2).sum().backward()
    assert_close(xr.grad, txr.grad)


def test_layer_norm_no_grad_errors_and_dtypes():
    x = ember.randn(3, 8)
    with ember.no_grad():
        with pytest.raises(RuntimeError, match="normalized_shape"):
            F.layer_norm(x, (7,))
        with pytest.raises(RuntimeError):
            F.layer_norm(x, (8,), ember.randn(8, dtype=ember.float64))
        with pytest.raises(NotImplementedError):
            F.layer_norm(ember.ones(3, 8, dtype=ember.int64), (8,))
        # float64 and bfloat16 (apply's widened twin) still run
        x64 = x.double()
        assert_close(F.layer_norm(x64, (8,)),
                     TF.layer_norm(torch.from_numpy(x64.numpy()), (8,)))
        xb = x.to(ember.bfloat16)
        yb = F.layer_norm(xb, (8,))
    assert yb.dtype == ember.bfloat16
    assert_close(yb.float(), TF.layer_norm(torch.from_numpy(x.numpy()).bfloat16(), (8,)).float(),
                 atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("mask", ["causal", "bool", "float", None])
def test_sdpa_no_grad_matches_torch_and_the_recorded_path(mask):
    (q, tq), (k, tk), (v, tv) = _pair(1, 4, 16, 8), _pair(1, 4, 16, 8, seed=1), \
        _pair(1, 4, 16, 8, seed=2)
    kw, tkw = {}, {}
    if mask == "causal":
        kw = tkw = dict(is_causal=True)
    elif mask == "bool":
        m = np.random.default_rng(3).random((16, 16)) > 0.3
        kw, tkw = dict(attn_mask=ember.tensor(m)), dict(attn_mask=torch.from_numpy(m))
    elif mask == "float":
        m = np.random.default_rng(3).standard_normal((16, 16)).astype(np.float32)
        kw, tkw = dict(attn_mask=ember.tensor(m)), dict(attn_mask=torch.from_numpy(m))
    with ember.no_grad():
        y = F.scaled_dot_product_attention(q, k, v, **kw)
    assert y.grad_fn is None and not y.requires_grad
    assert_close(y, TF.scaled_dot_product_attention(tq, tk, tv, **tkw))
    qr = q.detach().requires_grad_(True)
    yr = F.scaled_dot_product_attention(qr, k, v, **kw)
    assert yr.grad_fn is not None
    np.testing.assert_allclose(y.numpy(force=True), yr.detach().numpy(force=True),
                               rtol=1e-6, atol=1e-7)
    yr.sum().backward()
    tqr = tq.clone().requires_grad_(True)
    TF.scaled_dot_product_attention(tqr, tk, tv, **tkw).sum().backward()
    assert_close(qr.grad, tqr.grad)


def test_sdpa_no_grad_errors_as_torch():
    q = ember.randn(1, 2, 4, 8)
    with ember.no_grad():
        with pytest.raises(RuntimeError, match="same embedding"):
            F.scaled_dot_product_attention(q, ember.randn(1, 2, 4, 6), ember.randn(1, 2, 4, 6))
        with pytest.raises(RuntimeError, match="should not be set"):
            F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(4, 4, dtype=ember.bool),
                                           is_causal=True)
        # a float mask that requires grad, under no_grad: nothing recorded
        m = ember.zeros(4, 4).requires_grad_(True)
        assert F.scaled_dot_product_attention(q, q, q, attn_mask=m).grad_fn is None
    # with grad on, a mask that requires grad records
    y = F.scaled_dot_product_attention(q, q, q, attn_mask=m)
    y.sum().backward()
    assert m.grad is not None


def test_split_no_grad_gives_views_as_the_recorded_path():
    x = ember.arange(24.0).reshape(2, 12).clone()
    with ember.no_grad():
        parts = x.split(5, dim=1)
        sized = x.split([3, 9], dim=1)
    assert [p.shape for p in parts] == [(2, 5), (2, 5), (2, 2)]
    assert [p.shape for p in sized] == [(2, 3), (2, 9)]
    for p in parts + sized:
        assert p._vc is x._vc and p._base is x and p.grad_fn is None and not p.requires_grad
    with ember.no_grad():
        parts[1][0, 0] = -1.0                  # written through a piece
    assert x[0, 5].item() == -1.0 and x._version == parts[0]._version
    tparts = torch.arange(24.0).reshape(2, 12).split(5, dim=1)
    assert_close(parts[2], tparts[2])
    # a view of a view: the pieces' base is the first tensor, as the recorded path's
    with ember.no_grad():
        inner = x.view(24).split(6)
    assert all(p._base is x for p in inner)
    with ember.no_grad():
        with pytest.raises(RuntimeError, match="sum exactly"):
            x.split([3, 3], dim=1)
        with pytest.raises(IndexError):
            x.split(2, dim=5)
    # recorded: one SplitBackward0 node, gradients as torch's
    w = ember.arange(12.0).requires_grad_(True)
    a, b = w.split(6)
    assert type(a.grad_fn).__name__ == "SplitBackward0"
    (a * 2 + b.sum()).sum().backward()
    tw = torch.arange(12.0).requires_grad_(True)
    ta, tb = tw.split(6)
    (ta * 2 + tb.sum()).sum().backward()
    assert_close(w.grad, tw.grad)


def test_short_cuts_are_seen_by_the_profiler():
    lin, ln = ember.nn.Linear(4, 6), ember.nn.LayerNorm(6)
    x = ember.randn(2, 4)
    q = ember.randn(1, 1, 3, 2)
    with ember.no_grad(), profile() as prof:
        ln(lin(x)).split(3, dim=1)
        F.scaled_dot_product_attention(q, q, q)
    names = {e.key for e in prof.key_averages()}
    assert {"aten::linear", "aten::layer_norm", "aten::split",
            "aten::scaled_dot_product_attention"} <= names


def test_no_grad_calls_take_the_short_cuts(monkeypatch):
    """Under no_grad the four ops never reach ``apply`` (what the short cuts
    save); with an ONNX-style tracer installed they do."""
    from ember.autograd import function as fn
    from ember.nn.functional.attention import _SDPA
    from ember.nn.functional.linear import _Linear
    from ember.nn.functional.normalization import _LayerNorm
    from ember.ops.shape import Split
    calls = []
    for cls in (_Linear, _LayerNorm, _SDPA, Split):
        real = cls.apply.__func__

        def counted(c, *args, _real=real, **kwargs):
            calls.append(c.__name__)
            return _real(c, *args, **kwargs)
        monkeypatch.setattr(cls, "apply", classmethod(counted))
    x, q = ember.randn(2, 4), ember.randn(1, 1, 3, 2)
    w = ember.randn(6, 4)

    def run():
        y = F.layer_norm(F.linear(x, w), (6,))
        y.split(3, dim=1)
        F.scaled_dot_product_attention(q, q, q, is_causal=True)
    with ember.no_grad():
        run()
    assert calls == []
    monkeypatch.setattr(fn, "_tracer", object())     # (what ember.onnx.export sets)
    with ember.no_grad():
        run()
    assert sorted(calls) == ["Split", "_LayerNorm", "_Linear", "_SDPA"]
