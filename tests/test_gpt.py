"""ember.nn.llm parts and ember.models.GPT: rotary embeddings, GQA/MQA, QK-norm,
sliding windows, SwiGLU, the KV cache (prefill + decode == full forward;
cached greedy decoding == recomputation) and GPT-2 checkpoints matching
transformers.GPT2LMHeadModel."""
import os

import numpy as np
import pytest
import torch

import ember
from ember.models import GPT, GPTConfig
from ember.nn.llm import (GroupedQueryAttention, KVCache, SwiGLU, apply_rope, causal_mask,
                          precompute_rope_cache, sliding_window_mask)
from helpers import assert_close

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIGS = [
    dict(),                                                        # GPT-2 style
    dict(pos="rope"),
    dict(pos="rope", n_kv_head=2),                                 # grouped-query
    dict(n_kv_head=1, qk_norm="l2"),                               # multi-query + L2 QK-norm
    dict(pos="rope", qk_norm="rms", window=5, mlp="swiglu", norm="rmsnorm", bias=False),
]


def small(**kw):
    base = dict(vocab_size=50, block_size=32, n_layer=2, n_head=4, n_embd=32)
    base.update(kw)
    return GPTConfig(**base)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


# ---- rotary embeddings -------------------------------------------------------------------------

def test_rope_cache_values():
    cos, sin = precompute_rope_cache(8, 16, base=100, dtype=ember.float64)
    inv = 1.0 / 100 ** (np.arange(0, 8, 2) / 8)
    ang = np.arange(16)[:, None] * inv[None]
    np.testing.assert_allclose(cos.numpy(), np.cos(np.concatenate([ang, ang], 1)))
    np.testing.assert_allclose(sin.numpy(), np.sin(np.concatenate([ang, ang], 1)))
    assert precompute_rope_cache(8, 4)[0].dtype == ember.float32
    with pytest.raises(ValueError, match="even"):
        precompute_rope_cache(7, 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_apply_rope_matches_reference(dtype):
    cos, sin = precompute_rope_cache(8, 20, dtype=ember.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 8)).astype(dtype)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    c = torch.tensor(cos.numpy()[7:12], dtype=xt.dtype)
    s = torch.tensor(sin.numpy()[7:12], dtype=xt.dtype)
    ye = apply_rope(xe, cos, sin, offset=7)
    yt = xt * c + rotate_half(xt) * s
    assert_close(ye, yt)
    w = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    (ye * ember.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    assert_close(xe.grad, xt.grad)


def test_apply_rope_gradcheck_and_errors():
    cos, sin = precompute_rope_cache(4, 6, dtype=ember.float64)
    x = ember.randn(2, 3, 4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: apply_rope(x, cos, sin, 2), (x,))
    assert ember.autograd.gradgradcheck(lambda x: apply_rope(x, cos, sin, 2) ** 2, (x,))
    with pytest.raises(RuntimeError, match="rope cache of at least"):
        apply_rope(x, cos, sin, 4)
    with pytest.raises(RuntimeError, match="head_dim"):
        apply_rope(ember.randn(3, 6), cos, sin)


def test_rope_relative_positions():
    """q.k after rotation depends only on the distance between positions."""
    cos, sin = precompute_rope_cache(8, 40, dtype=ember.float64)
    rng = np.random.default_rng(0)
    q, k = ember.tensor(rng.standard_normal((1, 8))), ember.tensor(rng.standard_normal((1, 8)))
    d1 = (apply_rope(q, cos, sin, 10) * apply_rope(k, cos, sin, 7)).sum().item()
    d2 = (apply_rope(q, cos, sin, 30) * apply_rope(k, cos, sin, 27)).sum().item()
    assert abs(d1 - d2) < 1e-10


# ---- masks, SwiGLU, attention -----------------------------------------------------------------

def test_masks():
    m = causal_mask(3, 5).numpy()
    ref = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
    np.testing.assert_array_equal(m, ref)
    np.testing.assert_array_equal(causal_mask(4).numpy(), np.tril(np.ones((4, 4), bool)))
    w = sliding_window_mask(6, 2).numpy()
    for i in range(6):
        for j in range(6):
            assert w[i, j] == (i - 2 < j <= i)
    w = sliding_window_mask(2, 3, S=6).numpy()   # the last two queries of six
    np.testing.assert_array_equal(w, np.array([[0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]], bool))
    with pytest.raises(ValueError, match="window"):
        sliding_window_mask(3, 0)


def test_swiglu_matches_formula():
    ember.manual_seed(0)
    m = SwiGLU(12, hidden=20).double()
    x = np.random.default_rng(0).standard_normal((2, 3, 12))
    xt = torch.tensor(x, requires_grad=True)
    W = {n: torch.tensor(p.detach().numpy()) for n, p in m.named_parameters()}
    yt = (torch.nn.functional.silu(xt @ W["gate_proj.weight"].T) * (xt @ W["up_proj.weight"].T)) \
        @ W["down_proj.weight"].T
    xe = ember.tensor(x, requires_grad=True)
    ye = m(xe)
    assert_close(ye, yt)
    ye.sum().backward()
    yt.sum().backward()
    assert_close(xe.grad, xt.grad)
    assert SwiGLU(30).gate_proj.out_features == 80


def torch_gqa(x, W, H, Hkv, qk_norm=None, rope=None, window=None, params=None):
    """Reference attention in plain torch: separate heads, repeat_interleave kv."""
    B, T, C = x.shape
    hd = C // H
    qkv = x @ W["c_attn.weight"].T + W["c_attn.bias"]
    q, k, v = qkv.split([H * hd, Hkv * hd, Hkv * hd], 2)
    q = q.view(B, T, H, hd).transpose(1, 2)
    k = k.view(B, T, Hkv, hd).transpose(1, 2)
    v = v.view(B, T, Hkv, hd).transpose(1, 2)
    scale = None
    if qk_norm == "l2":
        q = torch.nn.functional.normalize(q, dim=-1, eps=1e-6) * W["q_norm.gain"]
        k = torch.nn.functional.normalize(k, dim=-1, eps=1e-6) * W["k_norm.gain"]
        scale = 1.0
    elif qk_norm == "rms":
        q = torch.nn.functional.rms_norm(q, (hd,), W["q_norm.weight"], 1e-6)
        k = torch.nn.functional.rms_norm(k, (hd,), W["k_norm.weight"], 1e-6)
    if rope is not None:
        c, s = (torch.tensor(a.numpy()[:T]) for a in rope)
        q, k = q * c + rotate_half(q) * s, k * c + rotate_half(k) * s
    k = k.repeat_interleave(H // Hkv, 1)
    v = v.repeat_interleave(H // Hkv, 1)
    i = torch.arange(T)
    allowed = i[None, :] <= i[:, None]
    if window is not None:
        allowed &= i[None, :] > i[:, None] - window
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale)
    y = y.transpose(1, 2).reshape(B, T, C)
    return y @ W["c_proj.weight"].T + W["c_proj.bias"]


@pytest.mark.parametrize("kw", [dict(n_kv_head=4), dict(n_kv_head=2), dict(n_kv_head=1),
                                dict(n_kv_head=2, qk_norm="l2", window=3),
                                dict(n_kv_head=2, qk_norm="rms", rope=True)])
def test_grouped_query_attention_matches_torch(kw):
    kw = dict(kw)
    use_rope = kw.pop("rope", False)
    ember.manual_seed(0)
    m = GroupedQueryAttention(32, 4, **kw).double()
    for p in m.parameters():  # non-trivial norm weights and gains
        p.data.copy_(ember.randn(*p.shape, dtype=ember.float64) * 0.3 + (1.0 if p.dim() != 2 else 0))
    W = {n: torch.tensor(p.detach().numpy(), requires_grad=True) for n, p in m.named_parameters()}
    rope = precompute_rope_cache(8, 16, dtype=ember.float64) if use_rope else None
    x = np.random.default_rng(0).standard_normal((2, 7, 32))
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye = m(xe, rope)
    yt = torch_gqa(xt, W, 4, kw["n_kv_head"], kw.get("qk_norm"), rope, kw.get("window"))
    assert_close(ye, yt)
    w = np.random.default_rng(1).standard_normal(ye.shape)
    (ye * ember.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    assert_close(xe.grad, xt.grad)
    for n, p in m.named_parameters():
        assert_close(p.grad, W[n].grad, what=n)


def test_multi_query_attention():
    from ember.nn.llm import MultiQueryAttention
    m = MultiQueryAttention(32, 4, bias=False)
    assert m.n_kv_head == 1 and m.c_attn.out_features == 32 + 2 * 8
    assert m(ember.randn(2, 5, 32)).shape == (2, 5, 32)


def test_attention_errors():
    with pytest.raises(ValueError, match="divisible by n_kv_head"):
        GroupedQueryAttention(32, 4, 3)
    with pytest.raises(ValueError, match="qk_norm"):
        GroupedQueryAttention(32, 4, qk_norm="layer")
    with pytest.raises(ValueError, match="divisible by n_head"):
        GroupedQueryAttention(30, 4)


# ---- KV cache ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("dtype", [ember.float64, ember.float32])
def test_prefill_then_decode_equals_full_forward(kw, dtype):
    ember.manual_seed(0)
    model = GPT(small(**kw)).to(dtype).eval()
    idx = ember.randint(0, 50, (2, 12))
    with ember.no_grad():
        full = model(idx)
        cache = model.new_kv_cache(2)
        parts = [model(idx[:, :5], kv_cache=cache)]     # prefill the prompt
        parts.append(model(idx[:, 5:8], kv_cache=cache))  # a chunk after cached tokens
        for t in range(8, 12):                          # then token by token
            parts.append(model(idx[:, t:t + 1], kv_cache=cache))
    assert len(cache) == 12
    tol = 1e-10 if dtype == ember.float64 else 2e-5
    np.testing.assert_allclose(ember.cat(parts, 1).numpy(), full.numpy(), atol=tol, rtol=tol)


@pytest.mark.parametrize("kw", CONFIGS)
def test_greedy_with_cache_equals_recomputation(kw):
    ember.manual_seed(1)
    model = GPT(small(**kw))
    for p in model.parameters():  # sharper distributions than the 0.02 init: no near-ties
        p.data.mul_(5.0)
    prompt = ember.randint(0, 50, (3, 4))
    a = model.generate(prompt, 20, use_cache=True)
    b = model.generate(prompt, 20, use_cache=False)
    assert a.shape == (3, 24)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert model.training  # mode restored


def test_generate_past_block_size():
    ember.manual_seed(2)
    model = GPT(small(block_size=8))
    prompt = ember.randint(0, 50, (1, 6))
    a = model.generate(prompt, 10)
    b = model.generate(prompt, 10, use_cache=False)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_kv_cache_with_gradients_and_errors():
    ember.manual_seed(0)
    model = GPT(small(pos="rope", n_kv_head=2)).double()
    idx = ember.randint(0, 50, (2, 6))
    full = model(idx)
    (full * full).sum().backward()
    ref = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    model.zero_grad()
    cache = model.new_kv_cache(2)
    out = ember.cat([model(idx[:, :4], kv_cache=cache), model(idx[:, 4:], kv_cache=cache)], 1)
    (out * out).sum().backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref[n], atol=1e-10, err_msg=n)
    cache = KVCache(1, 1, 2, 4, max_len=3)
    k = ember.zeros(1, 2, 2, 4)
    cache.update(0, k, k)
    with pytest.raises(RuntimeError, match="exceed max_len=3"):
        cache.update(0, k, k)
    with pytest.raises(RuntimeError, match="expected keys of shape"):
        cache.update(0, ember.zeros(2, 2, 1, 4), ember.zeros(2, 2, 1, 4))
    cache.reset()
    assert len(cache) == 0 and "KVCache(" in repr(cache)


# ---- the model ------------------------------------------------------------------------------------

def test_forward_loss_and_training_step():
    ember.manual_seed(0)
    model = GPT(small(dropout=0.1))
    idx = ember.randint(0, 50, (4, 16))
    tgt = ember.randint(0, 50, (4, 16))
    logits = model(idx)
    assert logits.shape == (4, 16, 50)
    logits, loss = model(idx, tgt)
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits.detach().numpy()).reshape(-1, 50),
                                            torch.tensor(tgt.numpy()).reshape(-1))
    assert abs(loss.item() - ref.item()) < 1e-5
    assert abs(loss.item() - np.log(50)) < 0.3  # near uniform at init
    opt = ember.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        _, loss2 = model(idx, tgt)
        loss2.backward()
        opt.step()
    assert loss2.item() < loss.item() - 0.5
    assert model.lm_head.weight is model.transformer.wte.weight  # tied
    with pytest.raises(ValueError, match="block_size is 32"):
        model(ember.zeros(1, 33, dtype=ember.int64))


def test_config_validation_and_params():
    with pytest.raises(ValueError, match="pos"):
        GPTConfig(pos="sinusoid")
    with pytest.raises(ValueError, match="n_kv_head"):
        GPTConfig(n_head=4, n_kv_head=3, n_embd=32)
    c = GPTConfig(n_head=4, n_embd=32)
    assert c.n_kv_head == 4
    m = GPT(small(tie_weights=False))
    assert m.lm_head.weight is not m.transformer.wte.weight
    n_tied = GPT(small()).num_params()
    assert m.num_params() == n_tied + 50 * 32


def test_sampling():
    ember.manual_seed(0)
    model = GPT(small())
    for p in model.parameters():
        p.data.mul_(5.0)
    prompt = ember.randint(0, 50, (2, 3))
    greedy = model.generate(prompt, 8)
    np.testing.assert_array_equal(model.generate(prompt, 8, do_sample=True, top_k=1).numpy(),
                                  greedy.numpy())
    np.testing.assert_array_equal(model.generate(prompt, 8, do_sample=True, top_p=1e-6).numpy(),
                                  greedy.numpy())
    ember.manual_seed(5)
    s1 = model.generate(prompt, 8, do_sample=True, temperature=1.5, top_k=10, top_p=0.9)
    ember.manual_seed(5)
    s2 = model.generate(prompt, 8, do_sample=True, temperature=1.5, top_k=10, top_p=0.9)
    np.testing.assert_array_equal(s1.numpy(), s2.numpy())
    assert not np.array_equal(s1.numpy(), greedy.numpy())


def test_save_load_roundtrip(tmp_path):
    ember.manual_seed(0)
    model = GPT(small(pos="rope"))
    ember.save(model.state_dict(), str(tmp_path / "gpt.pt"))
    other = GPT(small(pos="rope"))
    other.load_state_dict(ember.load(str(tmp_path / "gpt.pt")))
    idx = ember.randint(0, 50, (1, 5))
    np.testing.assert_array_equal(model(idx).detach().numpy(), other(idx).detach().numpy())


# ---- Hugging Face GPT-2 ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    import logging
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=300, n_positions=64,
                                  bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # larger weights than the 0.02 init, so the comparison bites
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    path = tmp_path_factory.mktemp("gpt2")
    hf.save_pretrained(path, safe_serialization=True)
    try:  # a matching byte-level BPE vocabulary (300 ids) for the example script
        import tokenizers
        t = tokenizers.ByteLevelBPETokenizer()
        t.train_from_iterator(["Hello world, the quick brown fox jumps over the lazy dog."] * 50,
                              vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"],
                              show_progress=False)
        t.save_model(str(path))
    except ImportError:
        pass
    return str(path), hf


def test_from_pretrained_matches_transformers(hf_checkpoint):
    path, hf = hf_checkpoint
    model = GPT.from_pretrained(path).eval()
    assert model.config.n_layer == 2 and model.config.block_size == 64
    idx = np.random.default_rng(0).integers(0, 300, (3, 40))
    with torch.no_grad():
        ref = hf(torch.tensor(idx)).logits.numpy()
    out = model(ember.tensor(idx)).detach().numpy()
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)
    # greedy continuation: the same tokens as transformers' own generate
    prompt = idx[:1, :5]
    with torch.no_grad():
        ref_ids = hf.generate(torch.tensor(prompt), max_new_tokens=12, do_sample=False,
                              pad_token_id=0, eos_token_id=None).numpy()
    ids = model.generate(ember.tensor(prompt), 12).numpy()
    np.testing.assert_array_equal(ids, ref_ids)


def test_from_pretrained_errors(tmp_path, hf_checkpoint):
    path, _ = hf_checkpoint
    import shutil
    shutil.copy(os.path.join(path, "config.json"), tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        GPT.from_pretrained(str(tmp_path))


# ---- the examples, run for real (tiny settings) ---------------------------------------------------

def _example(name):
    import importlib
    import sys
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def test_gpt2_generate_example(hf_checkpoint, capsys):
    path, hf = hf_checkpoint
    ex = _example("gpt2_generate")
    rows = ex.main([path, "--ids", "5,6,7", "--max-new-tokens", "6"])
    with torch.no_grad():
        ref = hf.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=6, do_sample=False,
                          pad_token_id=0, eos_token_id=None).tolist()
    assert rows == ref
    if os.path.exists(os.path.join(path, "vocab.json")):
        rows = ex.main([path, "--prompt", "the quick", "--max-new-tokens", "5", "--sample",
                        "--top-k", "20", "--num-samples", "2"])
        assert len(rows) == 2 and all(len(r) == len(rows[0]) for r in rows)
    assert "tokens/s" in capsys.readouterr().out


def test_char_gpt_example(tmp_path):
    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
            * 60)
    corpus = tmp_path / "input.txt"
    corpus.write_text(text)
    ex = _example("char_gpt")
    out = tmp_path / "run"
    res = ex.main([str(corpus), "--steps", "6", "--eval-interval", "3", "--eval-iters", "2",
                   "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
                   "--batch-size", "4", "--sample", "20", "--no-progress", "--out", str(out),
                   "--compare"])
    assert abs(res["ember"] - res["torch"]) < 1e-3 * res["torch"]  # same init, same batches
    for f in ("ember/checkpoint.ember", "ember/loss.png", "torch/checkpoint.pt", "torch/loss.png"):
        assert (out / f).exists(), f
    state = ember.load(str(out / "ember/checkpoint.ember"))
    assert state["vocab"] and "model" in state
