"""Scaled dot-product attention: softmax(q @ k^T * scale + mask) @ v as ONE Op.

Shapes (torch's): query (*, Hq, L, E), key (*, Hk, S, E), value (*, Hv, S, Ev)
-> (*, Hq, L, Ev); any leading batch dims broadcast, 2-d inputs (L, E) work
too.  The forward builds the (*, Hq, L, S) score matrix once and turns it
into the attention weights in place (mask, max-shift, exp, normalise); the
backward is derived by hand, with the softmax backward inline, so no chain
of small ops and no second score-sized buffer beyond the one the gradient
itself needs.

Grouped-query attention (``enable_gqa``) never copies key/value: query head
h uses key head h // (Hq / Hk), so the query is viewed as
(*, Hk, G * L, E) and one matmul per key head serves its whole group; the
same merge sums the group's gradients into dK / dV inside the matmul.
"""
import math
import warnings

import numpy as np

from ... import _dtype as D
from ..._errors import not_a_tensor
from ..._tensor import Tensor
from ..._tensor_base import _wrap
from ...autograd import function as _fn
from ...autograd.function import Op
from ...autograd.grad_mode import state as _gm
from ...backends import namespace, kernels, backend_of, make_readonly
from ...random import uniform_array
from ...ops.elementwise import where as _where
from ...autograd.function import is_tracing as _is_tracing
from ..._bfloat16 import is_float as _isf
from ..._autocast import autocast_op

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_NEG_INF = float("-inf")


class _SDPA(Op):
    """out = dropout(softmax(q @ k^T * scale + add + bias)) @ v.

    ``add`` is a float mask (an input: it gets a gradient when it requires
    one), ``bias`` a constant array of 0 / -inf (causal or boolean masks).
    Rows with every key masked by -inf give zero output (torch's safe
    softmax), and zero gradient.  With ``weights`` the attention weights
    (after dropout) are a second, differentiable output.

    The arrays are the backend's business: ``attention_weights`` (scores
    and softmax, E possibly unnormalised with rd = 1 / row sums),
    ``attention_output`` and ``attention_backward``, whose formulas are in
    ember.backends.generic.attention; a backend's fused path hands back a
    ``plan`` that its output and backward kernels follow.  Dropout, drawn
    from Ember's generator, happens here between the weights and the
    output.  ``causal``: ``bias`` is the (cached) causal mask.
    """
    _ctx_fields = ("scale", "dropout_scale", "gk", "gv", "bias", "plan")
    _node_name = "ScaledDotProductAttentionBackward0"

    @staticmethod
    def forward(ctx, q, k, v, add, bias, causal, scale, p, gk, gv, weights):
        K = kernels(q)
        E, rd, out, plan = K.attention_weights(q, k, v, add, bias, scale, gk, gv, weights, p == 0,
                                               causal)
        keep, c = None, 1.0
        if p > 0:
            xp = namespace(q)
            # (Ember's global stream: on the host and moved to E's device, or CUDA's own)
            keep = uniform_array(backend_of(E), E.shape) >= p
            c = 1.0 / (1.0 - p) if p < 1 else 0.0
            ed = E * keep
            ed *= xp.asarray(c, dtype=ed.dtype)
        else:
            ed = E
        if out is None:     # (a fused forward computed it already unless there is dropout)
            out = K.attention_output(ed, v, rd, gv, plan)
        if ctx.needs_input_grad:
            ctx.save_for_backward(q, k, v, add, E, keep, rd)
            ctx.scale, ctx.dropout_scale, ctx.gk, ctx.gv = scale, c, gk, gv
            ctx.bias, ctx.plan = bias, plan
        if weights:
            ctx.set_materialize_grads(False)
            return out, ed
        return out

    @staticmethod
    def backward(ctx, g, gw=None):
        q, k, v, add, E, keep, rd = ctx.saved_tensors
        scale, c, gk, gv = ctx.scale, ctx.dropout_scale, ctx.gk, ctx.gv
        need = ctx.needs_input_grad
        if isinstance(q, Tensor) or isinstance(g, Tensor) or isinstance(gw, Tensor):
            P = E if rd is None else E * rd
            return _graph_backward(q, k, v, add, P, keep, g, gw, scale, c, gk, gv, ctx.bias, need)
        xp = namespace(E)
        if g is None:
            g = xp.zeros(E.shape[:-1] + (v.shape[-1],), dtype=E.dtype)
        elif rd is not None:
            g = g * rd                               # g' = g / d
        ed = E
        if keep is not None:
            ed = E * keep
            ed *= xp.asarray(c, dtype=E.dtype)
        return kernels(E).attention_backward(q, k, v, E, ed, keep, c, g, gw, rd, scale, gk, gv,
                                             ctx.plan, need)


def _graph_backward(q, k, v, add, P, keep, g, gw, scale, c, gk, gv, bias, need):
    """The same gradient built from Ember ops on Tensors (``create_graph=True``),
    recomputing the weights from q and k so that they too are differentiated."""
    t = [x if isinstance(x, Tensor) else (None if x is None else _wrap(x)) for x in (q, k, v, add)]
    q, k, v, add = t
    L = q.shape[-2]
    s = (_tgroup(q, gk) * scale) @ k.transpose(-1, -2)
    s = _tungroup(s, gk, L)
    if add is not None:
        s = s + add
    Pa = P._data if isinstance(P, Tensor) else P
    xp = namespace(Pa)
    if bias is not None:
        s = s.masked_fill(_wrap(xp.broadcast_to(xp.isneginf(bias), s.shape)), _NEG_INF)
    # rows where nothing may be attended: weights are exactly zero there
    dead = _wrap(xp.broadcast_to(Pa.sum(axis=-1, keepdims=True) == 0, s.shape))
    w = s.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)
    km = None if keep is None else _wrap((keep * c).astype(Pa.dtype))
    wd = w if km is None else w * km
    if g is None:
        g = _wrap(xp.zeros(Pa.shape[:-1] + (v.shape[-1],), dtype=Pa.dtype))
    elif not isinstance(g, Tensor):
        g = _wrap(g)
    gr = _tgroup(g, gv)
    dv = _tgroup(wd, gv).transpose(-1, -2) @ gr if need[2] else None
    dP = _tungroup(gr @ v.transpose(-1, -2), gv, L)
    if gw is not None:
        dP = dP + (gw if isinstance(gw, Tensor) else _wrap(gw))
    if km is not None:
        dP = dP * km
    dS = w * (dP - (dP * w).sum(-1, keepdim=True))
    dSr = _tgroup(dS, gk)
    dq = _tungroup(dSr @ k, gk, L) * scale if need[0] else None
    dk = (dSr.transpose(-1, -2) @ _tgroup(q, gk)) * scale if need[1] else None
    return dq, dk, dv, (dS if need[3] else None)


def _tgroup(x, g):
    if g == 1:
        return x
    s = tuple(x.shape)
    return x.reshape(s[:-3] + (s[-3] // g, g * s[-2], s[-1]))


def _tungroup(x, g, L):
    if g == 1:
        return x
    s = tuple(x.shape)
    return x.reshape(s[:-3] + (s[-3] * g, L, s[-1]))


# ---- masks ---------------------------------------------------------------------------------

_CAUSAL = {}


def _causal_bias(xp, L, S, dtype):
    """(L, S) additive mask of namespace ``xp``, -inf above the diagonal and 0
    elsewhere: torch's top-left aligned causal mask (query i may see keys
    0..i), built once per namespace, size and dtype and kept read-only."""
    key = (xp, L, S, dtype)
    m = _CAUSAL.get(key)
    if m is None:
        m = xp.where(xp.triu(xp.ones((L, S), dtype=bool), 1), _NEG_INF, 0.0).astype(dtype)
        make_readonly(m)
        if len(_CAUSAL) > 64:
            _CAUSAL.clear()
        _CAUSAL[key] = m
    return m


# ---- argument checks ------------------------------------------------------------------------

def _dtype_name(a):
    return D.c_name_of(a.dtype)


def _check(query, key, value, attn_mask, is_causal, enable_gqa):
    if not (isinstance(query, Tensor) and isinstance(key, Tensor) and isinstance(value, Tensor)):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise not_a_tensor("scaled_dot_product_attention", name, t)
    q, k, v = query._data, key._data, value._data
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(f"Expected query, key, and value to all be  at least 2 dimensional, but got "
                           f"query.dim: {q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead.")
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{_dtype_name(q)} key.dtype: {_dtype_name(k)} and value.dtype: "
                           f"{_dtype_name(v)} instead.")
    if not _isf(q.dtype):
        raise RuntimeError(f"scaled_dot_product_attention: expected a floating point query, key and "
                           f"value, but got {_dtype_name(q)}")
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query and key must have the same embedding "
                           f"size (last dim), but got query {list(q.shape)} and key {list(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key and value must have the same sequence "
                           f"length (dim -2), but got key {list(k.shape)} and value {list(v.shape)}")
    gk = gv = 1
    if enable_gqa:
        if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
            raise IndexError("Dimension out of range (expected to be in range of [-2, 1], but got -3)")
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(f"Number of heads in key and value must divide the number of heads in "
                               f"query, but got query heads {hq}, key heads {hk}, value heads {hv}")
        gk, gv = hq // hk, hq // hv
    # batch (and head) dims must broadcast, as the matmuls will
    qb = q.shape[:-2]
    kb = k.shape[:-2] if gk == 1 else k.shape[:-3] + (k.shape[-3] * gk,)
    vb = v.shape[:-2] if gv == 1 else v.shape[:-3] + (v.shape[-3] * gv,)
    try:
        sb = qb if qb == kb == vb else np.broadcast_shapes(qb, kb, vb)  # host
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: the batch dims of query {list(q.shape)}, "
                           f"key {list(k.shape)} and value {list(v.shape)} do not broadcast"
                           + ("" if enable_gqa or q.ndim < 3 else
                              " (set enable_gqa=True for grouped-query attention)")) from None
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                               "when is_causal=True")
        if not isinstance(attn_mask, Tensor):
            raise not_a_tensor("scaled_dot_product_attention", "attn_mask", attn_mask)
        m = attn_mask._data
        if m.dtype != np.bool_ and m.dtype != q.dtype and m.dtype != np.float32:
            raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query dtype, "
                               f"but got attn_mask.dtype: {_dtype_name(m)} and  query.dtype: "
                               f"{_dtype_name(q)} instead.")
        scores = sb + (q.shape[-2], k.shape[-2])
        try:
            if m.shape != scores[-m.ndim:] or m.ndim > len(scores):
                np.broadcast_shapes(scores, m.shape)  # host
        except ValueError:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {list(m.shape)} does "
                               f"not broadcast to the attention weights' shape {list(scores)}") from None
    return gk, gv


def _prepare(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    gk, gv = _check(query, key, value, attn_mask, is_causal, enable_gqa)
    if scale is None:
        E = query._data.shape[-1]
        scale = 1.0 / math.sqrt(E) if E else float("inf")
    add = bias = None
    dt = query._data.dtype
    xp = namespace(query._data)
    if is_causal:
        bias = _causal_bias(xp, query._data.shape[-2], key._data.shape[-2], dt)
    elif attn_mask is not None:
        if attn_mask._data.dtype == np.bool_ and not _is_tracing():
            bias = xp.where(attn_mask._data, xp.asarray(0, dtype=dt), xp.asarray(_NEG_INF, dtype=dt))
        elif attn_mask._data.dtype == np.bool_:
            # (ONNX export: the same mask as an Ember op, so the recorder sees it
            # come from the mask tensor, which may come from the inputs)
            add = _where(attn_mask, 0.0, _NEG_INF).to(query.dtype)
        else:
            add = attn_mask
            if add._data.dtype != query._data.dtype:  # a float32 mask serves any query dtype
                add = add.to(query.dtype)
    return add, bias, bool(is_causal), float(scale), float(dropout_p), gk, gv


@autocast_op("lower")
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, with dropout on the weights.

    query (*, Hq, L, E), key (*, Hk, S, E), value (*, Hv, S, Ev) -> (*, Hq, L, Ev).
    ``attn_mask``: bool (True = may attend) or float (added to the scores),
    broadcastable to (*, Hq, L, S).  ``is_causal``: query i sees keys 0..i
    (top-left aligned when L != S).  ``scale`` defaults to 1 / sqrt(E).
    ``enable_gqa``: Hk and Hv may divide Hq; query head h uses key/value
    head h // (Hq / Hk).  Rows that may attend to nothing are zero.
    """
    add, bias, causal, scale, p, gk, gv = _prepare(query, key, value, attn_mask, dropout_p,
                                                   is_causal, scale, enable_gqa)
    if not (_gm.enabled and (query.requires_grad or key.requires_grad or value.requires_grad
                             or (add is not None and add.requires_grad))) \
            and _fn._tracer is None and query._data.dtype.kind == "f":
        # Nothing to record (no_grad, inference, decoding): the forward on the
        # arrays, wrapped, without apply's handling of eleven arguments.
        # bfloat16 (not kind "f": apply runs its widened twin), ONNX tracing
        # and any failure take apply, which words the error.
        out = _fn.forward_unrecorded(_SDPA, query._data, key._data, value._data,
                                     None if add is None else add._data, bias, causal, scale,
                                     p, gk, gv, False)
        if out is not None:
            return out
    return _SDPA.apply(query, key, value, add, bias, causal, scale, p, gk, gv, False)


def _attention_with_weights(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                            scale=None, enable_gqa=False):
    """Like ``scaled_dot_product_attention`` but also returns the attention
    weights (*, Hq, L, S), after dropout, as a differentiable second output
    (what nn.MultiheadAttention returns with need_weights=True)."""
    add, bias, causal, scale, p, gk, gv = _prepare(query, key, value, attn_mask, dropout_p,
                                                   is_causal, scale, enable_gqa)
    return _SDPA.apply(query, key, value, add, bias, causal, scale, p, gk, gv, True)


# ---- multi-head attention (what nn.MultiheadAttention runs) -----------------------------------

def _canonical_mask(mask, name, other, other_name, dtype, check_other=True):
    """A bool mask (True = blocked) as a float mask (-inf where blocked, 0
    elsewhere) in ``dtype``; float masks pass through unchanged."""
    if mask is None:
        return None
    m = mask._data
    if m.dtype != np.bool_ and not _isf(m.dtype):
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if check_other and other is not None and other._data.dtype != m.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type "
                      "for both instead.", stacklevel=3)
    if m.dtype == np.bool_ and _is_tracing():    # (ONNX export: see _prepare)
        return _where(mask, _NEG_INF, 0.0).to(D._FROM_NP[np.dtype(dtype)])
    if m.dtype == np.bool_:
        xp = namespace(m)
        return _wrap(xp.where(m, xp.asarray(_NEG_INF, dtype=dtype), xp.asarray(0, dtype=dtype)))
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """True for batched (3-d) input, False for unbatched (2-d); torch's checks."""
    qd, kd, vd = query.dim(), key.dim(), value.dim()
    if qd == 3:
        if kd != 3 or vd != 3:
            raise AssertionError(f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but "
                                 f"found {kd}-D and {vd}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` "
                                 f"or 2-D but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                                 f"3-D but found {attn_mask.dim()}-D tensor instead")
        return True
    if qd == 2:
        if kd != 2 or vd != 2:
            raise AssertionError(f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but "
                                 f"found {kd}-D and {vd}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` "
                                 f"or 1-D but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, "
                                     f"2-D or 3-D but found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                         f"{tuple(attn_mask.shape)}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {qd}-D query "
                         "tensor")


def _linear(x, w, b):
    from .linear import linear
    return linear(x, w, b)


def _pad_last(m, n=1):
    """Append ``n`` zero columns (attend freely to an appended key)."""
    from ...ops.shape import cat
    z = _wrap(namespace(m._data).zeros(tuple(m.shape[:-1]) + (n,), dtype=m._data.dtype))
    return cat([m, z], -1)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                                 out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, use_separate_proj_weight=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                                 static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention, sequence-first as torch: query (L, N, E), key (S, N, kdim),
    value (S, N, vdim) (or unbatched (L, E)...) -> (output (L, N, E), weights).

    Weights are (N, L, S) averaged over heads (``average_attn_weights``) or
    (N, num_heads, L, S), or None when ``need_weights`` is False.  Masks:
    ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N * num_heads, L, S);
    a bool mask is True where attention is NOT allowed, a float mask is added.
    """
    from ...ops.shape import cat
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    # work batch-first: (N, L, E), so heads split with one reshape
    if batched:
        q_in, k_in, v_in = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    else:
        q_in, k_in, v_in = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    N, L, E = q_in.shape
    S = k_in.shape[1]
    dtype = query._data.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", attn_mask, "attn_mask",
                                       dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint stands for the mask: SDPA's causal path
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if E != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {E}")
    hd = E // num_heads
    if hd * num_heads != E:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match "
                                 f"value's {tuple(value.shape[:2])}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape "
                             f"{tuple(value.shape)}")

    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        w, b = in_proj_weight, in_proj_bias
        if query is key and key is value:  # self-attention: one matmul for q, k and v
            qkv = _linear(q_in, w, b).reshape(N, L, 3, num_heads, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
        else:
            bq = bk = bv = None
            if b is not None:
                bq, bk, bv = b[:E], b[E:2 * E], b[2 * E:]
            q = _linear(q_in, w[:E], bq)
            k = _linear(k_in, w[E:2 * E], bk)
            v = _linear(v_in, w[2 * E:], bv)
    else:
        for name, t in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if t is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight is None")
        bq = bk = bv = None
        if in_proj_bias is not None:
            bq, bk, bv = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
        q = _linear(q_in, q_proj_weight, bq)
        k = _linear(k_in, k_proj_weight, bk)
        v = _linear(v_in, v_proj_weight, bv)

    # masks to (N or 1, heads or 1, L, S)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(L, S)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (N * num_heads, L, S):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(N * num_heads, L, S)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        if q.dim() == 4:  # packed self-attention: back to (N, S, E) for the extra key
            k = k.transpose(1, 2).reshape(N, S, E)
            v = v.transpose(1, 2).reshape(N, S, E)
        k = cat([k, bias_k.reshape(1, 1, E).expand(N, 1, E)], 1)
        v = cat([v, bias_v.reshape(1, 1, E).expand(N, 1, E)], 1)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # heads: (N, H, L, hd)
    if q.dim() == 3:
        q = q.reshape(N, L, num_heads, hd).transpose(1, 2)
    if static_k is not None:
        if static_k.shape[0] != N * num_heads:
            raise AssertionError(f"expecting static_k.size(0) of {N * num_heads}, but got "
                                 f"{static_k.shape[0]}")
        if static_k.shape[2] != hd:
            raise AssertionError(f"expecting static_k.size(2) of {hd}, but got {static_k.shape[2]}")
        k = static_k.reshape(N, num_heads, -1, hd)
    elif k.dim() == 3:
        k = k.reshape(N, k.shape[1], num_heads, hd).transpose(1, 2)
    if static_v is not None:
        if static_v.shape[0] != N * num_heads:
            raise AssertionError(f"expecting static_v.size(0) of {N * num_heads}, but got "
                                 f"{static_v.shape[0]}")
        if static_v.shape[2] != hd:
            raise AssertionError(f"expecting static_v.size(2) of {hd}, but got {static_v.shape[2]}")
        v = static_v.reshape(N, num_heads, -1, hd)
    elif v.dim() == 3:
        v = v.reshape(N, v.shape[1], num_heads, hd).transpose(1, 2)
    if add_zero_attn:
        z = _wrap(namespace(k._data).zeros((N, num_heads, 1, hd), dtype=k._data.dtype))
        k = cat([k, z], 2)
        v = cat([v, z], 2)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    S = k.shape[2]
    if attn_mask is not None:
        attn_mask = attn_mask.reshape(N, num_heads, L, S) if attn_mask.shape[0] != 1 \
            else attn_mask.reshape(1, 1, L, S)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise AssertionError(f"Expected key_padded_mask.shape to be {(N, S)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(N, 1, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        out, w = _attention_with_weights(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    else:
        out, w = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal), None
    out = _linear(out.transpose(1, 2).reshape(N, L, E), out_proj_weight, out_proj_bias)
    out = out.transpose(0, 1) if batched else out.squeeze(0)
    if w is not None:
        if average_attn_weights:
            w = w.mean(dim=1)
        if not batched:
            w = w.squeeze(0)
    return out, w
