"""GPT: a decoder-only transformer language model, in one file.

    idx (B, T) token ids
      -> wte(idx)  (+ wpe(position) when pos='learned')  -> dropout
      -> n_layer x Block:   x = x + attn(ln_1(x))      causal self-attention
                            x = x + mlp(ln_2(x))       feed-forward
      -> ln_f -> lm_head -> logits (B, T, vocab_size)

With the defaults this is GPT-2 (and ``GPT.from_pretrained`` loads a
Hugging Face GPT-2 checkpoint).  ``GPTConfig`` switches on the pieces of
newer models from ``ember.nn.llm``: rotary positions (``pos='rope'``),
grouped-query / multi-query attention (``n_kv_head``), QK normalisation,
sliding-window attention, RMSNorm and a SwiGLU feed-forward block.

``generate`` decodes greedily or by sampling (temperature, top-k, top-p),
with a KV cache so each new token costs one position, not the whole prefix.
"""
import json
import math
import os
from dataclasses import dataclass
from typing import Optional

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn.llm import GroupedQueryAttention, KVCache, SwiGLU, precompute_rope_cache

__all__ = ["GPT", "GPTConfig"]


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    block_size: int = 1024          # longest sequence (positions) the model handles
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: Optional[int] = None  # None: = n_head; 1: multi-query attention
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True               # biases in Linear and LayerNorm layers
    pos: str = "learned"            # 'learned' position embeddings or 'rope'
    qk_norm: Optional[str] = None   # None, 'l2' or 'rms'
    window: Optional[int] = None    # sliding-window attention span (None: full causal)
    tie_weights: bool = True        # lm_head shares the token embedding matrix
    mlp: str = "gelu"               # 'gelu' (4x wide, as GPT-2) or 'swiglu'
    gelu_approximate: str = "tanh"  # GPT-2 uses the tanh approximation; 'none' = exact
    norm: str = "layernorm"         # or 'rmsnorm'
    norm_eps: float = 1e-5
    rope_base: float = 10000.0

    def __post_init__(self):
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head ({self.n_head}) must be divisible by n_kv_head ({self.n_kv_head})")
        for name, value, allowed in (("pos", self.pos, ("learned", "rope")),
                                     ("qk_norm", self.qk_norm, (None, "l2", "rms")),
                                     ("mlp", self.mlp, ("gelu", "swiglu")),
                                     ("norm", self.norm, ("layernorm", "rmsnorm"))):
            if value not in allowed:
                raise ValueError(f"GPTConfig.{name} must be one of {allowed}, got {value!r}")


def _norm(config):
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.n_embd, eps=config.norm_eps)
    return nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=config.bias)


class MLP(nn.Module):
    """c_proj(gelu(c_fc(x))), 4x wider in the middle (GPT-2's names)."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.approximate = config.gelu_approximate

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class Block(nn.Module):
    """Pre-norm transformer block: attention then feed-forward, each added back."""

    def __init__(self, config, layer_idx):
        super().__init__()
        self.ln_1 = _norm(config)
        self.attn = GroupedQueryAttention(config.n_embd, config.n_head, config.n_kv_head,
                                          bias=config.bias, dropout=config.dropout,
                                          qk_norm=config.qk_norm, window=config.window,
                                          layer_idx=layer_idx)
        self.ln_2 = _norm(config)
        if config.mlp == "swiglu":
            self.mlp = SwiGLU(config.n_embd, bias=config.bias, dropout=config.dropout)
        else:
            self.mlp = MLP(config)

    def forward(self, x, rope=None, kv_cache=None):
        x = x + self.attn(self.ln_1(x), rope, kv_cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only transformer LM.  ``model(idx)`` -> logits (B, T, vocab_size);
    ``model(idx, targets)`` -> (logits, mean cross-entropy loss), where targets
    (B, T) holds the next token ids (-1 = ignore)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        parts = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if config.pos == "learned":
            parts["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        parts.update(drop=nn.Dropout(config.dropout),
                     h=nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
                     ln_f=_norm(config))
        self.transformer = nn.ModuleDict(parts)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.transformer.wte.weight
        if config.pos == "rope":
            cos, sin = precompute_rope_cache(config.n_embd // config.n_head, config.block_size,
                                             config.rope_base)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("down_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=True):
        """Parameter count (shared weights once); without position embeddings by default."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        return n

    def forward(self, idx, targets=None, kv_cache=None):
        B, T = idx.shape
        past = 0 if kv_cache is None else len(kv_cache)
        if past + T > self.config.block_size:
            raise ValueError(f"GPT: cannot run {past + T} positions, block_size is "
                             f"{self.config.block_size}")
        tr = self.transformer
        x = tr.wte(idx)
        if "wpe" in tr:
            x = x + tr.wpe(ember.arange(past, past + T, device=idx.device))
        x = tr.drop(x)
        rope = (self.rope_cos, self.rope_sin) if self.config.pos == "rope" else None
        for block in tr.h:
            x = block(x, rope, kv_cache)
        logits = self.lm_head(tr.ln_f(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    # ---- generation ---------------------------------------------------------------------

    def new_kv_cache(self, batch_size, max_len=None):
        """An empty KV cache for this model (one buffer per layer)."""
        c = self.config
        return KVCache(c.n_layer, batch_size, c.n_kv_head, c.n_embd // c.n_head,
                       max_len or c.block_size, dtype=self.transformer.wte.weight.dtype,
                       device=self.transformer.wte.weight.device)

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 do_sample=False, use_cache=True):
        """Append ``max_new_tokens`` tokens to idx (B, T); returns (B, T + max_new_tokens).

        Greedy (argmax) unless ``do_sample``; sampling divides the logits by
        ``temperature`` and keeps the ``top_k`` most likely tokens and/or the
        smallest set whose probability reaches ``top_p``.  With ``use_cache``
        the prompt is run once (prefill) and each new token attends to the
        cached keys/values; the result equals recomputing the whole context
        each step.  Runs in eval mode without gradients.
        """
        block = self.config.block_size
        was_training = self.training
        self.eval()
        cache = None
        try:
            with ember.no_grad():
                for _ in range(max_new_tokens):
                    if not use_cache:
                        logits = self(idx[:, -block:])
                    elif cache is None or len(cache) + 1 > block:
                        # (re)fill: the first step, or the context outgrew block_size
                        cache = self.new_kv_cache(idx.shape[0])
                        logits = self(idx[:, -block:], kv_cache=cache)
                    else:
                        logits = self(idx[:, -1:], kv_cache=cache)
                    nxt = self._next_token(logits[:, -1, :], temperature, top_k, top_p, do_sample)
                    idx = ember.cat([idx, nxt], dim=1)
        finally:
            self.train(was_training)
        return idx

    @staticmethod
    def _next_token(logits, temperature, top_k, top_p, do_sample):
        """(B, vocab) logits -> (B, 1) next token ids."""
        if not do_sample or temperature == 0:
            return logits.argmax(dim=-1, keepdim=True)
        logits = logits / temperature
        if top_k is not None:
            kth = ember.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = F.softmax(logits, dim=-1)
        if top_p is not None:
            sorted_p, order = ember.sort(probs, dim=-1, descending=True)
            # drop a token when the more likely ones already reach top_p (keeps at least one)
            drop = (ember.cumsum(sorted_p, dim=-1) - sorted_p) >= top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = ember.zeros_like(probs).scatter(-1, order, sorted_p)
        return ember.multinomial(probs, 1)

    # ---- loading GPT-2 --------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path, dtype=None):
        """Load a Hugging Face GPT-2 checkpoint directory (config.json + model.safetensors).

        HF GPT-2 stores its projections as Conv1D weights (in, out); they are
        transposed into Linear's (out, in).  ``dtype`` converts the parameters.
        """
        from ember.serialization import load_safetensors
        with open(os.path.join(path, "config.json")) as fh:
            hf = json.load(fh)
        act = hf.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu", "gelu_pytorch_tanh"):
            raise ValueError(f"GPT.from_pretrained: unsupported activation_function {act!r}")
        drop = hf.get("resid_pdrop", 0.0)
        config = GPTConfig(vocab_size=hf["vocab_size"], block_size=hf["n_positions"],
                           n_layer=hf["n_layer"], n_head=hf["n_head"], n_embd=hf["n_embd"],
                           dropout=drop, bias=True, pos="learned",
                           tie_weights=hf.get("tie_word_embeddings", True),
                           gelu_approximate="none" if act == "gelu" else "tanh",
                           norm_eps=hf.get("layer_norm_epsilon", 1e-5))
        weights = os.path.join(path, "model.safetensors")
        if not os.path.exists(weights):
            raise FileNotFoundError(f"GPT.from_pretrained: no model.safetensors in {path} (only "
                                    "safetensors checkpoints are supported)")
        model = cls(config)
        model.load_state_dict(_from_hf_gpt2(load_safetensors(weights), config))
        if dtype is not None:
            model.to(dtype)
        return model


_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def _from_hf_gpt2(state, config):
    """HF GPT-2 tensor names/layouts -> this model's state dict."""
    out = {}
    for name, t in state.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # old checkpoints store the causal mask as a buffer
        if not name.startswith(("transformer.", "lm_head.")):
            name = "transformer." + name
        if name.endswith(_CONV1D):
            t = t.t().contiguous()
        out[name] = t
    if "lm_head.weight" not in out:
        if not config.tie_weights:
            raise RuntimeError("GPT.from_pretrained: checkpoint has no lm_head.weight and "
                               "tie_word_embeddings is false")
        out["lm_head.weight"] = out["transformer.wte.weight"]
    return out
