"""The compiled kernels (ember/_kernels.py, with Numba) and the NumPy paths
they replace: each op checked against torch with the kernels on and off,
including NaN/inf inputs, non-contiguous and float16/float64 inputs, and
the kernel path shown to run when it is on."""
import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _jit, _pool as _parallel
from helpers import check, count_kernel_calls, rand

F_E = ember.nn.functional


@pytest.fixture
def calls(monkeypatch):
    """Count calls into the kernel module (to show the compiled path ran)."""
    pytest.importorskip("numba")
    seen = count_kernel_calls(monkeypatch, ("norm_rows_forward", "norm_rows_backward",
                                            "gelu_forward", "softmax_rows", "softmax_rows_masked",
                                            "softmax_rows_backward", "attention_softmax_backward",
                                            "norm_channels_forward_run",
                                            "norm_channels_backward_run",
                                            "fill_masked_rows", "scatter_add_rows",
                                            "attention_forward", "attention_backward"))
    old = _jit.set_enabled(True)
    yield seen
    _jit.set_enabled(old)


# ---- layer norm / RMS norm ---------------------------------------------------------------

@pytest.mark.parametrize("affine", ["wb", "w", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm(jit, affine, dtype):
    x = rand(4, 6, 48, dtype=dtype, low=-3, high=5)
    w = rand(48, seed=1, dtype=dtype) if affine != "none" else None
    b = rand(48, seed=2, dtype=dtype) if affine == "wb" else None
    args = [a for a in (w, b) if a is not None]

    def fn(lib, t, *wb):
        wt = wb[0] if wb else None
        bt = wb[1] if len(wb) > 1 else None
        return lib.nn.functional.layer_norm(t, (48,), wt, bt, 1e-5)
    check(fn, x, *args)


def test_layer_norm_over_two_dims_and_non_contiguous(jit):
    x = rand(5, 8, 6, dtype=np.float32)
    check(lambda lib, t: lib.nn.functional.layer_norm(t.transpose(0, 1), (5, 6)), x)
    w, b = rand(8, 6, seed=1, dtype=np.float32), rand(8, 6, seed=2, dtype=np.float32)
    check(lambda lib, t, w, b: lib.nn.functional.layer_norm(t, (8, 6), w, b), x, w, b)


def test_layer_norm_float16(jit):
    x = rand(3, 4, 32, dtype=np.float16)
    w, b = rand(32, seed=1, dtype=np.float16), rand(32, seed=2, dtype=np.float16)
    check(lambda lib, t, w, b: lib.nn.functional.layer_norm(t, (32,), w, b), x, w, b)


def test_layer_norm_special_values(jit):
    x = rand(6, 16, dtype=np.float32)
    x[1, 3] = np.nan
    x[2, 0] = np.inf
    x[3, :] = 7.0          # constant row: xhat = 0, rstd = 1/sqrt(eps)
    x[4, 5] = -np.inf
    x[5] *= 1e4
    w, b = rand(16, seed=1, dtype=np.float32), rand(16, seed=2, dtype=np.float32)
    check(lambda lib, t, w, b: lib.nn.functional.layer_norm(t, (16,), w, b), x, w, b)


@pytest.mark.parametrize("weight", [True, False])
def test_rms_norm(jit, weight):
    x = rand(3, 5, 40, dtype=np.float32)
    if weight:
        w = rand(40, seed=1, dtype=np.float32)
        check(lambda lib, t, w: lib.nn.functional.rms_norm(t, (40,), w, 1e-6), x, w)
    else:
        check(lambda lib, t: lib.nn.functional.rms_norm(t, (40,)), x)


def test_layer_norm_module_and_double_backward(jit):
    # create_graph takes the Tensor path whatever the forward did
    x = rand(2, 3, 8)
    check(lambda lib, t: torch_like_gradgrad(lib, t), x)


def torch_like_gradgrad(lib, t):
    ln = lib.nn.LayerNorm(8).double()
    y = ln(t)
    g, = lib.autograd.grad((y * y.detach().sin()).sum(), t, create_graph=True)
    return g


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(jit, shape, affine):
    x = rand(*shape, dtype=np.float32, low=-2, high=4)
    x[0, 1] = 1e4 if len(shape) == 2 else x[0, 1]
    stats = {}

    def fn(lib, t):
        bn = lib.nn.BatchNorm1d(3, affine=affine) if len(shape) < 4 else \
            lib.nn.BatchNorm2d(3, affine=affine)
        if affine:
            with lib.no_grad():
                bn.weight.copy_(lib.tensor([0.5, 1.5, -2.0]))
                bn.bias.copy_(lib.tensor([0.1, -0.2, 0.3]))
        y = bn(t)
        stats[lib.__name__] = (bn.running_mean.numpy().copy(), bn.running_var.numpy().copy())
        return y
    check(fn, x)
    for a, b in zip(stats["ember"], stats["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_batch_norm_special_values(jit):
    x = rand(4, 3, 6, dtype=np.float64)
    x[1, 0, 2] = np.nan
    x[2, 2, 0] = np.inf
    check(lambda lib, t: lib.nn.functional.batch_norm(
        t, lib.zeros(3, dtype=lib.float64), lib.ones(3, dtype=lib.float64), training=True), x)


# ---- GELU ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7,), (4, 33, 65)])
def test_gelu(jit, shape):
    x = rand(*shape, dtype=np.float32, low=-7, high=7)
    check(lambda lib, t: lib.nn.functional.gelu(t), x)
    check(lambda lib, t: lib.nn.functional.gelu(t.transpose(0, -1) if t.dim() > 1 else t), x)


def test_gelu_special_values_both_paths(jit):
    # (+inf is left out: torch's float32 gelu gives nan or inf by tensor size)
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 10.0, -10.0, 50.0, -50.0, -np.inf,
                  np.nan], dtype=np.float32)
    check(lambda lib, t: lib.nn.functional.gelu(t), x)


def test_gelu_double_backward(jit):
    x = rand(3, 5, dtype=np.float32)

    def fn(lib, t):
        y = lib.nn.functional.gelu(t)
        g, = lib.autograd.grad(y.sum(), t, create_graph=True)
        return g
    check(fn, x)


# ---- softmax ---------------------------------------------------------------------------------

def _scores(kind):
    """(3, 4, 10, 12) float32 scores with the special values ``kind`` names."""
    x = rand(3, 4, 10, 12, low=-4, high=4, dtype=np.float32)
    if kind == "causal":
        x[..., np.triu_indices(10, 1, 12)[0], np.triu_indices(10, 1, 12)[1]] = -np.inf
    elif kind == "row_masked":
        x[1, 2, 3, :] = -np.inf
    elif kind == "nan":
        x[0, 1, 2, 3] = np.nan
    elif kind == "large":
        x[2, 0, 0, 0] = 500.0
        x[2, 0, 1, :] = -300.0
    elif kind == "inf":
        x[2, 1, 1, 4] = np.inf
    return x


@pytest.mark.parametrize("kind", ["plain", "causal", "row_masked", "nan", "large"])
def test_softmax(jit, kind):
    x = _scores(kind)
    for dim in (-1, 2):
        check(lambda lib, t: lib.nn.functional.softmax(t, dim=dim), x)
    check(lambda lib, t: lib.nn.functional.softmax(t.double(), dim=-1), x)
    check(lambda lib, t: lib.nn.functional.softmax(t.transpose(-1, -2), dim=-1), x)


@pytest.mark.parametrize("kind", ["plain", "causal", "row_masked", "nan", "large", "inf"])
def test_log_softmax(jit, kind):
    x = _scores(kind)
    for dim in (-1, 2):
        check(lambda lib, t: lib.nn.functional.log_softmax(t, dim=dim), x)
    check(lambda lib, t: lib.nn.functional.log_softmax(t.double(), dim=-1), x)


def test_exp32_matches_exp_over_the_float32_range():
    pytest.importorskip("numba")
    from ember.backends.cpu import _numba as _kernels
    x = np.linspace(-110.0, 90.0, 20001).astype(np.float32)
    x = np.concatenate([x, rand(5000, dtype=np.float32, low=-1, high=1),
                        np.array([0.0, -0.0, 88.7228, 88.72284, -87.33655, -103.9, -104.0,
                                  np.inf, -np.inf, np.nan], np.float32)])
    got = np.array([_kernels._exp32(v) for v in x], np.float32)
    ref = np.exp(x.astype(np.float64))
    with np.errstate(over="ignore"):
        ref32 = ref.astype(np.float32)
    normal = np.isfinite(ref32) & (ref32 >= np.finfo(np.float32).tiny)
    rel = np.abs(got[normal] - ref[normal]) / ref[normal]
    assert rel.max() < 1.5e-7                          # under 2 ulp
    sub = ~normal & np.isfinite(ref32)                 # subnormal or zero results
    assert np.abs(got[sub] - ref[sub]).max() <= 1.5e-45
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref32))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x))


def test_scaled_dot_product_attention_large_scores(jit):
    # large scores: the shift by the row max matters  (NaN / inf scores are
    # left out: torch's fused kernel gives 0 or NaN rows for them by code path)
    q, k, v = (rand(2, 3, 6, 4, seed=i, dtype=np.float32) for i in range(3))
    q[1, 2] *= 25.0
    check(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True), q, k, v)


@pytest.mark.parametrize("mask", ["causal", "float", "bool_row_masked", "none"])
def test_scaled_dot_product_attention(jit, mask):
    q, k, v = (rand(2, 3, 7, 5, seed=i, dtype=np.float32) for i in range(3))
    fm = rand(7, 7, seed=4, dtype=np.float32)
    bm = np.tril(np.ones((7, 7), bool))
    bm[2] = False                          # a row that may attend to nothing

    def fn(lib, q, k, v):
        F = lib.nn.functional
        if mask == "causal":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if mask == "float":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=lib.tensor(fm))
        if mask == "bool_row_masked":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=lib.tensor(bm))
        return F.scaled_dot_product_attention(q, k, v)
    check(fn, q, k, v)


@pytest.mark.parametrize("L,S", [(64, 64), (100, 100), (256, 256), (96, 160), (130, 70)])
def test_scaled_dot_product_attention_causal_blocks(jit, L, S):
    # long enough for the fused path to cut the rows into blocks whose
    # products skip the masked keys (top-left aligned when L != S)
    q = rand(2, 2, L, 8, seed=0, dtype=np.float32)
    k, v = (rand(2, 2, S, 8, seed=i, dtype=np.float32) for i in (1, 2))
    check(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True), q, k, v, atol=2e-5)


@pytest.mark.parametrize("mask", ["padding", "uneven"])
def test_scaled_dot_product_attention_bool_masks_long(jit, mask):
    # a mask hiding the last keys of every row (blocks apply) and one whose
    # visible keys shrink along the rows (one block; the mask does the work)
    q, k, v = (rand(2, 2, 96, 8, seed=i, dtype=np.float32) for i in range(3))
    bm = np.ones((96, 96), bool)
    if mask == "padding":
        bm[:, 80:] = False
    else:
        bm = np.triu(bm)
    check(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=lib.tensor(bm)), q, k, v, atol=2e-5)


def test_scaled_dot_product_attention_large_scores_long(jit):
    # rows whose sum without a shift leaves float32's range are redone with their max
    q, k, v = (rand(2, 2, 64, 8, seed=i, dtype=np.float32) for i in range(3))
    q[1, 1] *= 40.0
    q[0, 0, 5] = -1e4     # (torch's own float32 gradients lose digits here: compare to float64)
    w = rand(2, 2, 64, 8, seed=5)

    def run(lib, dtype):
        ts = [lib.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
        y = lib.nn.functional.scaled_dot_product_attention(*ts, is_causal=True)
        (y * lib.tensor(w.astype(dtype))).sum().backward()
        return [y.detach().numpy()] + [t.grad.numpy() for t in ts]
    for a, b in zip(run(ember, np.float32), run(torch, np.float64)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4)


def _split_attention(lib, x, heads=2):
    """GPT's attention: q, k, v split from one (B, T, 3C) projection."""
    B, T, C3 = x.shape
    C = C3 // 3
    q, k, v = (t.view(B, T, heads, C // heads).transpose(1, 2) for t in x.split(C, dim=2))
    y = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).contiguous().view(B, T, C)


def test_scaled_dot_product_attention_split_projection(jit):
    x = rand(2, 64, 48, dtype=np.float32)
    check(_split_attention, x, atol=2e-5)
    # the output is laid out (B, T, H, D): the transpose back is contiguous
    q, k, v = (ember.randn(2, 2, 64, 8) for _ in range(3))
    y = F_E.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert y.transpose(1, 2).is_contiguous() == (jit == "kernels")


@pytest.mark.parametrize("case", ["gqa_causal", "gqa_bool", "broadcast_kv"])
def test_scaled_dot_product_attention_unfused_shapes(jit, case):
    # grouped heads and broadcast batch dims: the products are not blocked, but
    # the softmax still runs in the row kernels
    q = rand(2, 4, 70, 8, seed=0, dtype=np.float32)
    k, v = (rand(2, 2, 70, 8, seed=i, dtype=np.float32) for i in (1, 2))
    bm = np.tril(np.ones((70, 70), bool))
    bm[3] = False
    if case == "broadcast_kv":
        k = v = rand(1, 4, 70, 8, seed=3, dtype=np.float32)

    def fn(lib, q, k, v):
        F = lib.nn.functional
        if case == "gqa_causal":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        if case == "gqa_bool":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=lib.tensor(bm), enable_gqa=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=lib.tensor(bm))
    check(fn, q, k, v, atol=2e-5)


def test_attention_gradients_share_a_buffer_only_when_the_views_tile_it():
    from ember.backends.cpu._attention import _grads_like
    qkv = np.zeros((2, 8, 12), np.float32)
    views = [qkv[..., i * 4:(i + 1) * 4].reshape(2, 8, 2, 2).swapaxes(1, 2) for i in range(3)]
    dq, dk, dv = _grads_like(views, (True,) * 4)
    assert dq.base is dk.base is dv.base and dq.base.shape == qkv.shape
    assert [g.strides for g in (dq, dk, dv)] == [a.strides for a in views]
    big = np.zeros((100, 12), np.float32)          # views covering a small part of a large array
    assert all(g.base is None for g in _grads_like([big[:8, i * 4:(i + 1) * 4] for i in range(3)],
                                                    (True,) * 4))
    same = views[0]                                # one view three times: separate buffers
    dq, dk, dv = _grads_like((same, same, same), (True,) * 4)
    assert not np.shares_memory(dq, dk)


def test_scaled_dot_product_attention_same_tensor_thrice(jit):
    # q, k and v one and the same view: their gradients must not share a buffer
    x = rand(2, 64, 2, 8, dtype=np.float32)
    check(lambda lib, x: lib.nn.functional.scaled_dot_product_attention(
        x.transpose(1, 2), x.transpose(1, 2), x.transpose(1, 2), is_causal=True), x, atol=2e-5)


def test_scaled_dot_product_attention_empty_head_dim(jit):
    # E = 0: the default scale is inf and every score 0; torch gives uniform weights
    q = np.zeros((1, 2, 4, 0), np.float32)
    v = rand(1, 2, 4, 3, dtype=np.float32)
    check(lambda lib, q, v: lib.nn.functional.scaled_dot_product_attention(q, q, v, is_causal=True),
          q, v, grad=False)


def test_split_backward_joins_adjacent_gradients():
    from ember.ops.shape import _joined
    buf = np.arange(24.0).reshape(2, 12)
    parts = [buf[:, 0:4], buf[:, 4:8], buf[:, 8:12]]
    whole = _joined(parts, 1)
    assert whole is not None and np.shares_memory(whole, buf)
    np.testing.assert_array_equal(whole, buf)
    assert _joined([buf[:, 0:4], buf[:, 8:12]], 1) is None       # a gap
    assert _joined([buf[:, 4:8], buf[:, 0:4]], 1) is None        # out of order
    assert _joined([buf[:, 0:4], np.ones((2, 4))], 1) is None    # another buffer
    x = ember.randn(3, 12, requires_grad=True)
    a, b, c = x.split(4, dim=1)
    (a * 1 + b * 2 + c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.repeat([[1.0, 2.0, 3.0]], 4, axis=1).repeat(3, 0)
                                  .reshape(3, 3, 4).transpose(0, 1, 2).reshape(3, 12))


def test_linear_bias_kernel_matches_numpy_bit_for_bit():
    pytest.importorskip("numba")
    x, w, b = (rand(*s, seed=i, dtype=np.float32) for i, s in enumerate([(4, 9, 16), (24, 16), (24,)]))
    outs = []
    for on in (True, False):
        old = _jit.set_enabled(on)
        try:
            outs.append(F_E.linear(ember.tensor(x), ember.tensor(w), ember.tensor(b)).numpy())
        finally:
            _jit.set_enabled(old)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_multihead_attention_weights(jit):
    x = rand(2, 6, 8, dtype=np.float32)

    def fn(lib, t):
        lib.manual_seed(0)
        mha = lib.nn.MultiheadAttention(8, 2, batch_first=True)
        with lib.no_grad():
            for p in mha.parameters():
                p.copy_(lib.tensor(np.random.default_rng(p.numel()).standard_normal(
                    tuple(p.shape)).astype(np.float32) * 0.3))
        return mha(t, t, t, need_weights=True)
    check(fn, x)


# ---- masked_fill ---------------------------------------------------------------------------

@pytest.mark.parametrize("mask_shape", [(1, 1, 6, 6), (6, 6), (6,), (2, 3, 6, 6), (1, 3, 1, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_fill(jit, mask_shape, dtype):
    x = rand(2, 3, 6, 6, dtype=dtype)
    x[0, 1, 2, 3] = np.nan
    m = np.random.default_rng(3).random(mask_shape) < 0.4
    for value in (float("-inf"), 0.5):
        check(lambda lib, t: t.masked_fill(lib.tensor(m), value), x)
    check(lambda lib, t: t.transpose(-1, -2).masked_fill(lib.tensor(m), 2.0), x)


# ---- embedding backward ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32])
def test_embedding_backward(jit, dtype, idx_dtype):
    w = rand(7, 5, dtype=dtype)
    idx = np.random.default_rng(1).integers(0, 7, (4, 9)).astype(idx_dtype)   # repeats
    check(lambda lib, t: lib.nn.functional.embedding(lib.tensor(idx), t), w)
    check(lambda lib, t: lib.nn.functional.embedding(lib.tensor(idx), t, padding_idx=2), w)
    check(lambda lib, t: lib.nn.functional.embedding(lib.tensor(idx[:, :4].T.copy()), t), w)


# ---- the compiled path really runs ---------------------------------------------------------

def test_kernels_run_when_enabled_and_agree_with_numpy(calls):
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((4, 16, 32)).astype(np.float32), requires_grad=True)
    g = ember.tensor(rng.standard_normal((4, 16, 32)).astype(np.float32))
    ln = ember.nn.LayerNorm(32)
    with ember.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)

    def run():
        x.grad = ln.weight.grad = ln.bias.grad = None
        y = F_E.softmax(F_E.gelu(ln(x)) * 3, dim=-1)
        y.backward(g)
        return [t.detach().numpy().copy() for t in (y, x.grad, ln.weight.grad, ln.bias.grad)]

    compiled = run()
    assert calls == {"norm_rows_forward": 1, "norm_rows_backward": 1, "gelu_forward": 1,
                     "softmax_rows": 1, "softmax_rows_backward": 1}
    _jit.set_enabled(False)
    plain = run()
    assert all(v == 1 for v in calls.values())      # the NumPy path called none of them
    for a, b in zip(compiled, plain):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_attention_kernels_run_when_enabled(calls):
    q, k, v = (ember.randn(2, 3, 8, 4, requires_grad=True) for _ in range(3))
    ember.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    F_E.log_softmax(q, dim=-1)
    s = q @ k.transpose(-2, -1)
    s.masked_fill(ember.ones(8, 8).tril() == 0, float("-inf")).sum().backward()
    emb = ember.nn.Embedding(10, 4)
    emb(ember.tensor([[1, 2, 2]])).sum().backward()
    # (with NumPy's BLAS at hand, attention's products and softmax run in one
    # compiled kernel each way; otherwise the softmax kernels run alone)
    fused = ({"attention_forward": 1, "attention_backward": 1}
             if _parallel.gemm_address(np.dtype(np.float32)) else
             {"softmax_rows_masked": 1, "attention_softmax_backward": 1})
    assert calls == {**fused, "softmax_rows": 1, "fill_masked_rows": 2, "scatter_add_rows": 1}


def test_batch_norm_kernels_run_when_enabled(calls):
    bn = ember.nn.BatchNorm2d(4)
    x = ember.randn(3, 4, 5, 5, requires_grad=True)
    bn(x).sum().backward()
    assert calls == {"norm_channels_forward_run": 1, "norm_channels_backward_run": 1}


def test_env_switch_and_availability():
    old = _jit.set_enabled(False)
    try:
        assert _jit.kernels() is None
    finally:
        _jit.set_enabled(old)
    try:
        import numba  # noqa: F401
        has = True
    except ImportError:
        has = False
    assert _jit.available() == has


def _steps_both_paths(make_opt, dtype, state_key=None, n_steps=4):
    """Run the same optimizer steps with the kernels on and off; the
    parameters (and ``state_key`` buffers) after them, per path."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(dtype) for s in ((5, 7), (7,), ())]
    grads = [[rng.standard_normal(a.shape).astype(dtype) for a in init] for _ in range(n_steps)]
    results = []
    for on in (True, False):
        old = _jit.set_enabled(on)
        try:
            ps = [ember.tensor(a.copy(), requires_grad=True) for a in init]
            o = make_opt(ps)
            for gs in grads:
                for p, gr in zip(ps, gs):
                    p.grad = ember.tensor(gr)
                o.step()
            out = [p.detach().numpy().copy() for p in ps]
            if state_key:
                out += [o.state[p][state_key].numpy().copy() for p in ps]
            results.append(out)
        finally:
            _jit.set_enabled(old)
    return results


@pytest.mark.parametrize("beta1", [0.6, 0.3])     # (lerp weight 1 - beta1 below / above 0.5)
@pytest.mark.parametrize("opt", ["Adam", "AdamW"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_matches_numpy_path_bit_for_bit(opt, dtype, beta1):
    compiled, plain = _steps_both_paths(
        lambda ps: getattr(ember.optim, opt)(ps, lr=0.05, betas=(beta1, 0.99), weight_decay=0.1),
        dtype, "exp_avg_sq")
    for a, b in zip(compiled, plain):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_kernel_matches_numpy_path_bit_for_bit(dtype, momentum):
    compiled, plain = _steps_both_paths(
        lambda ps: ember.optim.SGD(ps, lr=0.037, momentum=momentum), dtype)
    for a, b in zip(compiled, plain):
        np.testing.assert_array_equal(a, b)


def test_a_broken_numba_falls_back_to_numpy(monkeypatch):
    import builtins
    import sys
    real_import = builtins.__import__

    def failing(name, *a, **k):
        if name == "numba" or name.startswith("numba."):
            raise RuntimeError("cannot cache function: no locator available")
        return real_import(name, *a, **k)
    monkeypatch.setattr(_jit, "_tried", False)
    monkeypatch.setattr(_jit, "_module", None)
    monkeypatch.delitem(sys.modules, "ember.backends.cpu._numba", raising=False)
    monkeypatch.delattr(ember.backends.cpu, "_numba", raising=False)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing)
    old = _jit.set_enabled(True)
    try:
        with pytest.warns(RuntimeWarning, match="compiled kernels unavailable"):
            assert _jit.kernels() is None
        x = ember.randn(3, 8, requires_grad=True)
        F_E.layer_norm(x, (8,)).sum().backward()     # the NumPy path
        assert x.grad is not None
    finally:
        _jit.set_enabled(old)
        monkeypatch.setattr(builtins, "__import__", real_import)
    monkeypatch.undo()
    _jit._tried = False                               # (load the real kernels again)
