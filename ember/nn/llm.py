"""Building blocks of modern decoder-only language models.

- Rotary position embeddings: ``precompute_rope_cache`` + ``apply_rope``
  (the half-split layout of GPT-NeoX / LLaMA / Hugging Face: the first half
  of each head's features pairs with the second half).
- ``GroupedQueryAttention``: causal self-attention with ``n_kv_head`` key/value
  heads shared by groups of query heads (``n_kv_head == 1``: multi-query;
  ``n_kv_head == n_head``: ordinary multi-head), optional QK normalisation
  (``'l2'`` or ``'rms'``), rotary embeddings and sliding-window attention.
- ``causal_mask`` / ``sliding_window_mask``: boolean masks (True = may attend)
  for queries at the END of the key sequence, as in decoding with a cache.
- ``RMSNorm`` (nn.RMSNorm), ``SwiGLU`` feed-forward block.
- ``KVCache``: per-layer keys and values for prefill-then-decode generation.
"""
import math

import numpy as np

from .._creation import full, zeros
from .._dtype import float32
from .._tensor_base import _wrap
from ..autograd.function import Op
from ..autograd.grad_mode import state as _gm
from ..ops import _bw
from . import functional as F
from .modules.linear import Linear
from .modules.dropout import Dropout
from .modules.module import Module
from .modules.normalization import RMSNorm
from .modules.utils import _from_host
from .parameter import Parameter

__all__ = ["precompute_rope_cache", "apply_rope", "causal_mask", "sliding_window_mask",
           "GroupedQueryAttention", "MultiQueryAttention", "L2Norm", "SwiGLU", "KVCache", "RMSNorm"]


# ---- rotary position embeddings ---------------------------------------------------------

def precompute_rope_cache(head_dim, max_len, base=10000, dtype=None, device=None):
    """cos and sin tables, each (max_len, head_dim), for positions 0..max_len-1,
    on ``device`` (default: the default device).

    Frequency i (of head_dim / 2) is base ** (-2i / head_dim); both halves of
    a row repeat the same frequencies (the half-split layout).  The angles
    are computed on the host in float64, so every device gets the same tables.
    """
    if head_dim % 2:
        raise ValueError(f"precompute_rope_cache: head_dim must be even, got {head_dim}")
    from .. import _dtype as D
    dt = (D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()).np
    inv_freq = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    angles = np.outer(np.arange(max_len, dtype=np.float64), inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    return (_from_host(np.cos(angles).astype(dt), device),
            _from_host(np.sin(angles).astype(dt), device))


class _Rope(Op):
    """y = x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1) on the
    last dim.  The map is linear in x with constant tables, so the backward is
    its transpose: g * cos + cat(g2 * sin2, -g1 * sin1)."""
    _ctx_fields = ("cos", "sin")
    _node_name = "RopeBackward0"

    @staticmethod
    def forward(ctx, x, cos, sin):
        h = x.shape[-1] // 2
        out = x * cos
        out[..., :h] -= x[..., h:] * sin[..., :h]
        out[..., h:] += x[..., :h] * sin[..., h:]
        if ctx.needs_input_grad:
            ctx.cos, ctx.sin = cos, sin
        return out

    @staticmethod
    def backward(ctx, g, *_):
        cos, sin = ctx.cos, ctx.sin
        h = cos.shape[-1] // 2
        gs = g * sin
        rot = _bw.concatenate([_bw.take(gs, (Ellipsis, slice(h, None))),
                               -_bw.take(gs, (Ellipsis, slice(None, h)))], -1)
        return g * cos + rot, None, None


def apply_rope(x, cos, sin, offset=0):
    """Rotate x (..., T, head_dim) by the angles of positions offset..offset+T-1.

    ``cos``/``sin`` come from ``precompute_rope_cache`` (max_len, head_dim);
    ``offset`` is the number of positions already seen (the KV-cache length
    when decoding), so a token gets the same rotation however it is batched.
    """
    T, hd = x.shape[-2], x.shape[-1]
    c, s = cos._data, sin._data
    if c.shape[-1] != hd:
        raise RuntimeError(f"apply_rope: tables have head_dim {c.shape[-1]} but x has {hd}")
    if offset + T > c.shape[0]:
        raise RuntimeError(f"apply_rope: positions up to {offset + T} need a rope cache of at least "
                           f"that length, got max_len={c.shape[0]}")
    c, s = c[offset:offset + T], s[offset:offset + T]
    dt = x._data.dtype
    if c.dtype != dt:
        c, s = c.astype(dt), s.astype(dt)
    return _Rope.apply(x, c, s)


# ---- masks ----------------------------------------------------------------------------------

_MASKS = {}


def _mask_array(L, S, window):
    key = (L, S, window)
    m = _MASKS.get(key)
    if m is None:
        q_pos = np.arange(S - L, S)[:, None]   # queries are the last L positions
        k_pos = np.arange(S)[None, :]
        m = k_pos <= q_pos
        if window is not None:
            m &= k_pos > q_pos - window
        m.flags.writeable = False
        if len(_MASKS) > 256:
            _MASKS.clear()
        _MASKS[key] = m
    return m


def causal_mask(L, S=None, device=None):
    """(L, S) bool, True where query i (at position S - L + i) may see key j:
    j <= S - L + i.  Bottom-right aligned, so it fits a prefill after cached
    tokens (with S == L it is the usual lower triangle).  On ``device``
    (default: the default device)."""
    S = L if S is None else S
    return _from_host(_mask_array(L, S, None), device)


def sliding_window_mask(L, window, S=None, device=None):
    """Like ``causal_mask`` but each query sees only its last ``window`` keys
    (itself included): S - L + i - window < j <= S - L + i."""
    if window is None or window < 1:
        raise ValueError(f"sliding_window_mask: window must be a positive int, got {window}")
    S = L if S is None else S
    return _from_host(_mask_array(L, S, int(window)), device)


# ---- normalisation and feed-forward -----------------------------------------------------------

class L2Norm(Module):
    """x / ||x|| over the last dim, times a learnable per-head gain (n_head, 1, 1)
    initialised to ``init_gain`` (QK-norm: attention logits become gain * cosine)."""

    def __init__(self, n_head, init_gain=1.0, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.init_gain = init_gain
        self.gain = Parameter(full((n_head, 1, 1), init_gain, dtype=float32))

    def forward(self, x):
        return F.normalize(x, dim=-1, eps=self.eps) * self.gain

    def extra_repr(self):
        return f"n_head={self.gain.shape[0]}, eps={self.eps}"


class SwiGLU(Module):
    """down_proj(silu(gate_proj(x)) * up_proj(x)): the LLaMA feed-forward block.
    (*, dim) -> (*, dim); ``hidden`` defaults to 8/3 * dim rounded up to a multiple of 8."""

    def __init__(self, dim, hidden=None, bias=False, dropout=0.0):
        super().__init__()
        if hidden is None:
            hidden = -(-int(8 * dim / 3) // 8) * 8
        self.gate_proj = Linear(dim, hidden, bias=bias)
        self.up_proj = Linear(dim, hidden, bias=bias)
        self.down_proj = Linear(hidden, dim, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x)))


# ---- attention --------------------------------------------------------------------------------

class GroupedQueryAttention(Module):
    """Causal self-attention with ``n_head`` query heads and ``n_kv_head`` key/value heads.

    x (B, T, n_embd) -> (B, T, n_embd).  ``c_attn`` projects to queries
    (n_head * hd), keys and values (n_kv_head * hd each) in one matmul;
    ``c_proj`` projects back (GPT-2's parameter names).  Options:
    ``qk_norm`` None | 'l2' | 'rms' (normalise q and k per head before the
    dot product), ``window`` (sliding-window attention over the last
    ``window`` positions).  Rotary embeddings are applied when ``forward``
    gets the (cos, sin) tables; ``kv_cache`` makes it incremental.
    """

    def __init__(self, n_embd, n_head, n_kv_head=None, bias=True, dropout=0.0, qk_norm=None,
                 window=None, layer_idx=0):
        super().__init__()
        n_kv_head = n_head if n_kv_head is None else n_kv_head
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        if n_head % n_kv_head:
            raise ValueError(f"n_head ({n_head}) must be divisible by n_kv_head ({n_kv_head})")
        if qk_norm not in (None, "l2", "rms"):
            raise ValueError(f"qk_norm must be None, 'l2' or 'rms', got {qk_norm!r}")
        self.n_head, self.n_kv_head = n_head, n_kv_head
        self.head_dim = hd = n_embd // n_head
        self.n_embd = n_embd
        self.dropout = dropout
        self.window = window
        self.layer_idx = layer_idx
        self.qk_norm = qk_norm
        self.c_attn = Linear(n_embd, (n_head + 2 * n_kv_head) * hd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = Dropout(dropout)
        self.scale = None
        if qk_norm == "l2":
            # unit q and k, so the logits are gain * cosine: start the gain at sqrt(hd),
            # the range of q.k / sqrt(hd) when |q|, |k| ~ sqrt(hd)
            self.q_norm = L2Norm(n_head, math.sqrt(hd))
            self.k_norm = L2Norm(n_kv_head, 1.0)
            self.scale = 1.0
        elif qk_norm == "rms":
            self.q_norm = RMSNorm(hd, eps=1e-6)
            self.k_norm = RMSNorm(hd, eps=1e-6)

    def forward(self, x, rope=None, kv_cache=None):
        """x (B, T, C); ``rope`` = (cos, sin) tables or None; ``kv_cache`` a KVCache."""
        B, T, C = x.shape
        H, Hkv, hd = self.n_head, self.n_kv_head, self.head_dim
        qkv = self.c_attn(x)
        if H == Hkv:
            q, k, v = qkv.reshape(B, T, 3, H, hd).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q, k, v = qkv.split([H * hd, Hkv * hd, Hkv * hd], dim=2)
            q = q.reshape(B, T, H, hd).transpose(1, 2)
            k = k.reshape(B, T, Hkv, hd).transpose(1, 2)
            v = v.reshape(B, T, Hkv, hd).transpose(1, 2)
        if self.qk_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        past = 0 if kv_cache is None else kv_cache.length(self.layer_idx)
        if rope is not None:
            q = apply_rope(q, rope[0], rope[1], past)
            k = apply_rope(k, rope[0], rope[1], past)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer_idx, k, v)
        S = k.shape[2]
        mask, causal = None, False
        if self.window is not None and S > 1:
            mask = sliding_window_mask(T, self.window, S, q.device)
        elif T > 1:
            if S == T:
                causal = True
            else:
                mask = causal_mask(T, S, q.device)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=causal, scale=self.scale, enable_gqa=Hkv != H)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self):
        return (f"n_head={self.n_head}, n_kv_head={self.n_kv_head}, head_dim={self.head_dim}, "
                f"qk_norm={self.qk_norm}, window={self.window}")


class MultiQueryAttention(GroupedQueryAttention):
    """GroupedQueryAttention with a single key/value head shared by all query heads."""

    def __init__(self, n_embd, n_head, **kwargs):
        super().__init__(n_embd, n_head, 1, **kwargs)


# ---- KV cache -------------------------------------------------------------------------------------

class KVCache:
    """Keys and values of the positions seen so far, one buffer per layer.

    cache = KVCache(n_layer, batch_size, n_kv_head, head_dim, max_len)
    Each attention layer calls ``k_all, v_all = cache.update(layer, k, v)``
    with its new keys/values (B, n_kv_head, T, head_dim) and attends to the
    returned (B, n_kv_head, past + T, head_dim).  Prefill passes the whole
    prompt (T > 1), decoding one token at a time (T = 1).  Buffers are
    preallocated (no concatenation per token) on ``device`` (default: the
    default device; pass the model's); when gradients are being recorded,
    tensors are concatenated instead so backward still works.
    """

    def __init__(self, n_layer, batch_size, n_kv_head, head_dim, max_len, dtype=None,
                 device=None):
        from .. import _dtype as D
        self.dtype = (D.to_dtype(dtype) if dtype is not None else D.get_default_dtype())
        self.n_layer, self.max_len = n_layer, max_len
        self.shape = (batch_size, n_kv_head, max_len, head_dim)
        self.k = [zeros(self.shape, dtype=self.dtype, device=device)._data for _ in range(n_layer)]
        self.v = [zeros(self.shape, dtype=self.dtype, device=device)._data for _ in range(n_layer)]
        self._lengths = [0] * n_layer
        self._graph = [None] * n_layer   # (k, v) Tensors while recording gradients

    def length(self, layer=0):
        """Positions cached for ``layer`` (all layers agree between forward passes)."""
        return self._lengths[layer]

    def __len__(self):
        return self._lengths[0]

    def update(self, layer, k, v):
        """Append k, v (B, n_kv_head, T, head_dim) to ``layer``; return all keys and values."""
        n = self._lengths[layer]
        T = k.shape[2]
        if n + T > self.max_len:
            raise RuntimeError(f"KVCache: {n} cached + {T} new positions exceed max_len={self.max_len}")
        kd, vd = k._data, v._data
        if kd.shape[:2] != self.shape[:2] or kd.shape[3] != self.shape[3]:
            raise RuntimeError(f"KVCache: expected keys of shape (B={self.shape[0]}, "
                               f"n_kv_head={self.shape[1]}, T, head_dim={self.shape[3]}), "
                               f"got {tuple(kd.shape)}")
        self._lengths[layer] = n + T
        if _gm.enabled and (k.requires_grad or v.requires_grad or self._graph[layer] is not None):
            from ..ops.shape import cat
            if self._graph[layer] is None:
                past = (_wrap(self.k[layer][:, :, :n]), _wrap(self.v[layer][:, :, :n]))
            else:
                past = self._graph[layer]
            out = (cat([past[0], k], 2), cat([past[1], v], 2))
            self._graph[layer] = out
            self.k[layer][:, :, n:n + T] = kd
            self.v[layer][:, :, n:n + T] = vd
            return out
        self.k[layer][:, :, n:n + T] = kd
        self.v[layer][:, :, n:n + T] = vd
        return _wrap(self.k[layer][:, :, :n + T]), _wrap(self.v[layer][:, :, :n + T])

    def crop(self, length):
        """Forget every position from ``length`` on (e.g. to re-run from there)."""
        self._lengths = [min(n, length) for n in self._lengths]
        self._graph = [None] * self.n_layer

    def reset(self):
        self.crop(0)

    def __repr__(self):
        B, H, M, hd = self.shape
        return (f"KVCache(n_layer={self.n_layer}, batch_size={B}, n_kv_head={H}, head_dim={hd}, "
                f"max_len={M}, length={len(self)})")
