"""F.scaled_dot_product_attention against torch: shapes, masks, causal, GQA,
dropout (through its saved mask), gradients, double backward and errors."""
import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.nn.functional.attention import _attention_with_weights
from helpers import check, rand, assert_close


def sdpa(lib, *a, **kw):
    return lib.nn.functional.scaled_dot_product_attention(*a, **kw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes", [
    ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)),      # (B, H, L, E), S != L, Ev != E
    ((3, 5, 8), (3, 5, 8), (3, 5, 8)),               # no head dim
    ((5, 8), (7, 8), (7, 6)),                        # 2-d
    ((2, 3, 4), (1, 5, 4), (1, 5, 6)),               # broadcast batch
    ((2, 1, 3, 4), (1, 2, 5, 4), (2, 2, 5, 4)),      # broadcast batch and heads
])
def test_forward_backward(dtype, shapes):
    arrays = [rand(*s, seed=i, dtype=dtype) for i, s in enumerate(shapes)]
    check(lambda lib, q, k, v: sdpa(lib, q, k, v), *arrays)


@pytest.mark.parametrize("L,S", [(4, 4), (3, 6), (6, 3), (1, 5)])
def test_causal(L, S):
    q, k, v = rand(2, 2, L, 4, seed=1), rand(2, 2, S, 4, seed=2), rand(2, 2, S, 3, seed=3)
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, is_causal=True), q, k, v)
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, is_causal=True), *(a.astype(np.float32) for a in (q, k, v)))


def test_scale_and_noncontiguous():
    q, k, v = rand(2, 5, 3, 4, seed=1), rand(2, 6, 3, 4, seed=2), rand(2, 6, 3, 4, seed=3)
    # (B, L, H, E) storage transposed to (B, H, L, E): non-contiguous views
    check(lambda lib, q, k, v: sdpa(lib, q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                    scale=0.3), q, k, v)


def test_single_key_with_a_zero_stride():
    """One key position made by indexing with None has stride 0 along the keys;
    the fused path's BLAS calls need a real row stride (it used to give NaN)."""
    q = rand(2, 3, 4, 8, seed=1).astype(np.float32)
    k, v = rand(2, 3, 8, seed=2).astype(np.float32), rand(2, 3, 8, seed=3).astype(np.float32)
    check(lambda lib, q, k, v: sdpa(lib, q, k[:, :, None, :], v[:, :, None, :]), q, k, v)


@pytest.mark.parametrize("S", [1, 17, 64])
def test_decode_one_query_over_a_cache(S):
    """Token-by-token decoding: one query row of (B, L, H, E) storage over a
    cache of S keys, under no_grad, as a KV-cache decoder calls it."""
    q = rand(4, 1, 4, 32, seed=1).astype(np.float32)
    k, v = (rand(4, 4, S, 32, seed=i).astype(np.float32) for i in (2, 3))
    res = {}
    for lib in (ember, torch):
        with lib.no_grad():
            res[lib] = sdpa(lib, lib.tensor(q).transpose(1, 2), lib.tensor(k), lib.tensor(v))
    assert_close(res[ember], res[torch], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mshape", [(5, 7), (1, 5, 7), (2, 3, 5, 7), (2, 1, 1, 7)])
def test_bool_mask(mshape):
    rng = np.random.default_rng(0)
    m = rng.random(mshape) > 0.4
    q, k, v = rand(2, 3, 5, 4, seed=1), rand(2, 3, 7, 4, seed=2), rand(2, 3, 7, 3, seed=3)
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, attn_mask=lib.tensor(m)), q, k, v)


def test_float_mask_with_gradient():
    q, k, v = rand(2, 3, 5, 4, seed=1), rand(2, 3, 7, 4, seed=2), rand(2, 3, 7, 3, seed=3)
    m = rand(3, 5, 7, seed=4)
    check(lambda lib, q, k, v, m: sdpa(lib, q, k, v, attn_mask=m), q, k, v, m)
    check(lambda lib, q, k, v, m: sdpa(lib, q, k, v, attn_mask=m),
          *(a.astype(np.float32) for a in (q, k, v, m)))


def test_fully_masked_rows_are_zero():
    q, k, v = rand(1, 2, 4, 3, seed=1), rand(1, 2, 5, 3, seed=2), rand(1, 2, 5, 2, seed=3)
    mb = np.ones((4, 5), bool)
    mb[1] = False
    mf = np.zeros((4, 5))
    mf[2] = -np.inf
    mf[0, :3] = -np.inf
    out, _ = check(lambda lib, q, k, v: sdpa(lib, q, k, v, attn_mask=lib.tensor(mb)), q, k, v)
    assert np.all(out.detach().cpu().numpy()[:, :, 1] == 0)
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, attn_mask=lib.tensor(mf)), q, k, v)


@pytest.mark.parametrize("hk,hv", [(2, 2), (1, 1), (2, 1), (4, 2)])
def test_gqa(hk, hv):
    q, k, v = rand(2, 4, 3, 5, seed=1), rand(2, hk, 6, 5, seed=2), rand(2, hv, 6, 2, seed=3)
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, enable_gqa=True), q, k, v)
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, enable_gqa=True, is_causal=True), q, k, v)
    m = np.random.default_rng(0).random((2, 4, 3, 6)) > 0.3   # a per-head mask
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, enable_gqa=True, attn_mask=lib.tensor(m)), q, k, v)


def test_empty():
    check(lambda lib, q, k, v: sdpa(lib, q, k, v), rand(0, 3, 4), rand(0, 5, 4), rand(0, 5, 6))
    check(lambda lib, q, k, v: sdpa(lib, q, k, v), rand(2, 0, 4), rand(2, 5, 4), rand(2, 5, 6))
    out, _ = check(lambda lib, q, k, v: sdpa(lib, q, k, v), rand(2, 3, 4), rand(2, 0, 4), rand(2, 0, 6))
    assert np.all(out.detach().cpu().numpy() == 0)


def test_one_fused_node():
    q, k, v = (ember.randn(2, 3, 4, 5, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    nexts = [n for n, _ in out.grad_fn.next_functions if n is not None]
    assert len(nexts) == 3 and all(type(n).__name__ == "AccumulateGrad" for n in nexts)


def test_gradcheck_and_double_backward():
    rng = np.random.default_rng(0)
    q, k, v = (ember.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((1, 2, 3, 4), (1, 1, 5, 4), (1, 1, 5, 3)))
    m = ember.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    mb = ember.tensor(rng.random((3, 5)) > 0.3)

    def f(q, k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True)

    def g(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mb, enable_gqa=True)

    def h(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    assert ember.autograd.gradcheck(f, (q, k, v, m))
    assert ember.autograd.gradgradcheck(f, (q, k, v, m))
    assert ember.autograd.gradcheck(g, (q, k, v))
    assert ember.autograd.gradgradcheck(g, (q, k, v))
    assert ember.autograd.gradgradcheck(h, (q, k, v))


def test_double_backward_matches_torch():
    q, k, v = rand(2, 2, 3, 4, seed=1), rand(2, 2, 5, 4, seed=2), rand(2, 2, 5, 3, seed=3)

    def fn(lib, q, k, v):
        out = sdpa(lib, q, k, v, is_causal=True)
        gq, gk = lib.autograd.grad((out * out).sum(), (q, k), create_graph=True)
        return (gq * gq).sum() + (gk * v[..., :1]).sum()
    check(fn, q, k, v)


def test_dropout_uses_one_saved_mask():
    p = 0.4
    q, k, v = rand(2, 2, 4, 3, seed=1), rand(2, 2, 6, 3, seed=2), rand(2, 2, 6, 5, seed=3)
    qe, ke, ve = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    ember.manual_seed(3)
    out = F.scaled_dot_product_attention(qe, ke, ve, dropout_p=p, is_causal=True)
    ember.manual_seed(3)  # the same draw as inside the op
    keep = ember.random._rng(None).random((2, 2, 4, 6), dtype=np.float32) >= p
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * ember.tensor(w)).sum().backward()

    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    s = qt @ kt.transpose(-1, -2) / np.sqrt(3)
    s = s.masked_fill(torch.ones(4, 6, dtype=torch.bool).triu(1), float("-inf"))
    ref = (s.softmax(-1) * torch.tensor(keep) / (1 - p)) @ vt
    (ref * torch.tensor(w)).sum().backward()
    assert_close(out, ref)
    for a, b in ((qe, qt), (ke, kt), (ve, vt)):
        assert_close(a.grad, b.grad)
    # p = 1 drops everything
    out1 = F.scaled_dot_product_attention(qe, ke, ve, dropout_p=1.0)
    assert np.all(out1.detach().cpu().numpy() == 0)


def test_attention_with_weights():
    q, k, v = rand(2, 3, 4, 5, seed=1), rand(2, 3, 6, 5, seed=2), rand(2, 3, 6, 2, seed=3)
    m = np.random.default_rng(0).random((4, 6)) > 0.3

    def fn(lib, q, k, v):
        if lib is ember:
            return _attention_with_weights(q, k, v, attn_mask=ember.tensor(m))
        s = (q @ k.transpose(-1, -2) / np.sqrt(5)).masked_fill(~torch.tensor(m), float("-inf"))
        w = s.softmax(-1)
        return w @ v, w
    check(fn, q, k, v)


def test_no_grad_path():
    q, k, v = (ember.randn(2, 3, 4, 5) for _ in range(3))
    with ember.no_grad():
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(t.cpu().numpy()) for t in (q, k, v)), is_causal=True)
    assert_close(out, ref)


def test_errors():
    q, k, v = ember.randn(1, 4, 3, 4), ember.randn(1, 2, 5, 4), ember.randn(1, 2, 5, 6)
    with pytest.raises(RuntimeError, match="Number of heads"):
        F.scaled_dot_product_attention(q, ember.randn(1, 3, 5, 4), ember.randn(1, 3, 5, 6),
                                       enable_gqa=True)
    with pytest.raises(RuntimeError, match="broadcast"):
        F.scaled_dot_product_attention(q, k, v)
    with pytest.raises(RuntimeError, match="should not be set when is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(3, 3, dtype=ember.bool),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        F.scaled_dot_product_attention(ember.randn(4), ember.randn(4), ember.randn(4))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q.double(), q, q)
    with pytest.raises(RuntimeError, match="attn_mask dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.zeros(3, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="attn_mask of shape"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.zeros(4, 3))
    with pytest.raises(RuntimeError, match="embedding size"):
        F.scaled_dot_product_attention(q, ember.randn(1, 4, 3, 5), ember.randn(1, 4, 3, 5))
    with pytest.raises(TypeError, match="query"):
        F.scaled_dot_product_attention(np.zeros((3, 4)), q, q)


def test_double_backward_weights_and_dropout():
    rng = np.random.default_rng(1)
    q, k, v = (ember.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)))

    def f(q, k, v):
        out, w = _attention_with_weights(q, k, v, is_causal=True)
        return out, w

    def d(q, k, v):
        ember.manual_seed(0)  # the same dropout mask on every call
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    assert ember.autograd.gradcheck(f, (q, k, v))
    assert ember.autograd.gradgradcheck(f, (q, k, v))
    assert ember.autograd.gradcheck(d, (q, k, v))
    assert ember.autograd.gradgradcheck(d, (q, k, v))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_scores_take_the_shifted_path(dtype):
    # scores beyond exp()'s safe range: softmax must shift each row by its max
    big = 300.0 if dtype == np.float32 else 3000.0
    q, k, v = rand(2, 2, 4, 3, seed=1) * big, rand(2, 2, 5, 3, seed=2), rand(2, 2, 5, 2, seed=3)
    q, k, v = (a.astype(dtype) for a in (q, k, v))
    check(lambda lib, q, k, v: sdpa(lib, q, k, v, is_causal=True), q, k, v, rtol=1e-4, atol=1e-4)
    out = F.scaled_dot_product_attention(*(ember.tensor(a) for a in (q, k, v)))
    assert np.isfinite(out.cpu().numpy()).all()
