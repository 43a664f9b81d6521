"""Embedding lookups and one-hot encoding."""
import math

import numpy as np

from ...backends import namespace, kernels
from ..._tensor import Tensor
from ..._tensor_base import _wrap
from ..._errors import not_a_tensor
from ...autograd.function import Op
from ...autograd.grad_mode import state as _gm

__all__ = ["embedding", "embedding_bag", "one_hot"]


# Two Ops that are each other's adjoint, so gradients of any order are exact:
#   take: rows of a (num, D) table at ``idx``         -> idx.shape + (D,)
#   put:  rows of g added into a zero (num, D) table at ``idx``, scaled by ``s``
# ``s`` (None or idx.shape + (1,)) carries embedding's padding / frequency scaling.

class _Take(Op):
    _ctx_fields = ("num",)
    _node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, w, idx, s):
        if ctx.needs_input_grad:
            ctx.save_for_backward(idx, s)
            ctx.num = w.shape[0]
        return kernels(w).embedding_rows(w, idx)

    @staticmethod
    def backward(ctx, g):
        idx, s = ctx.saved_tensors
        return _put(g, idx, s, ctx.num), None, None


class _Put(Op):
    _node_name = "EmbeddingDenseBackward0"

    @staticmethod
    def forward(ctx, g, idx, s, num):
        if ctx.needs_input_grad:
            ctx.save_for_backward(idx, s)
        return kernels(g).embedding_scatter(g, idx, s, num)

    @staticmethod
    def backward(ctx, gg):
        idx, s = ctx.saved_tensors
        r = _take(gg, idx)
        if s is not None:
            r = r * s
        return r, None, None, None


def _put(g, idx, s, num):
    if not isinstance(g, Tensor):
        return kernels(g).embedding_scatter(g, idx, s, num)
    return _Put.apply(g, idx, s, num)


def _take(w, idx):
    if not isinstance(w, Tensor):
        return kernels(w).embedding_rows(w, idx)
    return _Take.apply(w, idx, None)


def _check_indices(input, fname="embedding"):
    if not isinstance(input, Tensor):
        raise not_a_tensor(fname, "indices", input, 1)
    dt = input._data.dtype
    if dt != np.int64 and dt != np.int32:
        name = input.type() if dt != np.bool_ else "CPUBoolType"
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following "
                           f"scalar types: Long, Int; but got {name} instead (while checking "
                           f"arguments for {fname})")


def _renorm_(weight, idx, max_norm, norm_type):
    """Scale (in place, untracked) the rows used by ``idx`` whose norm exceeds max_norm."""
    w = weight._data
    xp = namespace(w)
    rows = xp.unique(idx)
    if norm_type == float("inf"):
        norms = xp.abs(w[rows]).max(axis=1)
    else:
        norms = (xp.abs(w[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    over = norms > max_norm
    if over.any():
        r = rows[over]
        w[r] *= (max_norm / (norms[over] + 1e-7)).astype(w.dtype)[:, None]
        weight._vc[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (num_embeddings, D) at integer ``input`` -> input.shape + (D,).

    The ``padding_idx`` row gets no gradient; ``max_norm`` renormalises the
    rows looked up (in place); ``scale_grad_by_freq`` divides each row's
    gradient by its count in the batch.
    """
    _check_indices(input)
    w = weight._data
    if w.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got {w.ndim}-D")
    if sparse:
        raise NotImplementedError("Ember has no sparse tensors: embedding(sparse=True) is not "
                                  "supported; use sparse=False")
    num = w.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num, \
                (f"Padding_idx must be within num_embeddings (padding_idx={padding_idx}, "
                 f"num_embeddings={num})")
        elif padding_idx < 0:
            assert padding_idx >= -num, \
                (f"Padding_idx must be within num_embeddings (padding_idx={padding_idx}, "
                 f"num_embeddings={num})")
            padding_idx = num + padding_idx
    idx = input._data
    if idx.size:
        # (indexing raises for an index past the end, caught below: only
        # negatives, which indexing would wrap, take a reduction here)
        if idx.min() < 0 or max_norm is not None and idx.max() >= num:
            raise IndexError("index out of range in self")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    s = None
    if weight.requires_grad and _gm.enabled and (padding_idx is not None or scale_grad_by_freq):
        xp = namespace(w)
        s = xp.ones(idx.shape, dtype=w.dtype)
        if scale_grad_by_freq:
            counts = xp.bincount(idx.reshape(-1), minlength=num)
            s = s / counts[idx]
        if padding_idx is not None:
            s = xp.where(idx == padding_idx, 0, s).astype(w.dtype)
        s = s[..., None]
    try:
        return _Take.apply(weight, idx, s)
    except IndexError:
        raise IndexError("index out of range in self") from None


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxes of embedding rows per bag.

    ``input`` (B, N) is B bags of N indices; or 1-D with ``offsets`` (B,)
    giving each bag's start.  -> (B, D).
    """
    _check_indices(input, "embedding_bag")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. "
                                  "per_sample_weights is only supported for mode='sum' "
                                  f"(got mode='{mode}'). Please open a feature request on GitHub.")
    idx = input._data
    xp = namespace(idx)
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is "
                             "a mini-batch of fixed length sequences. However, found offsets of "
                             f"type {type(offsets)}")
        nb, n = idx.shape
        starts = xp.arange(nb) * n
        flat = idx.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        starts = xp.asarray(offsets._data if isinstance(offsets, Tensor) else offsets,
                            dtype=np.int64)
        if starts.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        if include_last_offset:
            starts = starts[:-1]
        nb = starts.shape[0]
        flat = idx
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    L = flat.shape[0]
    ends = xp.concatenate((starts[1:], xp.asarray([L], dtype=starts.dtype))) if nb else starts
    bag = xp.repeat(xp.arange(nb), xp.maximum(ends - starts, 0))   # bag id of each position
    keep = xp.ones(L, dtype=bool)
    if padding_idx is not None:
        num = weight._data.shape[0]
        if padding_idx < 0:
            padding_idx += num
        keep = flat != padding_idx
    rows = embedding(_wrap(flat), weight, padding_idx, max_norm, norm_type, scale_grad_by_freq)
    dt = weight._data.dtype
    if mode == "max":
        return _BagMax.apply(rows, bag[keep] if not keep.all() else bag, keep, nb)
    # sum / mean: a (B, L) membership matrix times the rows (B, L) @ (L, D)
    member = xp.zeros((nb, L), dtype=dt)
    member[bag[keep], xp.nonzero(keep)[0]] = 1
    if mode == "mean":
        cnt = member.sum(axis=1, keepdims=True)
        member = member / xp.maximum(cnt, 1)
    m = _wrap(member)
    if per_sample_weights is not None:
        return m @ (rows * per_sample_weights.unsqueeze(-1))
    return m @ rows


class _BagMax(Op):
    """Per-bag elementwise max of rows (L, D) -> (B, D); empty bags give 0."""
    _ctx_fields = ("arg", "L", "empty")

    @staticmethod
    def forward(ctx, rows, bag, keep, nb):
        xp = namespace(rows)
        d = rows.shape[1]
        out = xp.full((nb, d), -math.inf, dtype=rows.dtype)
        r = rows[keep]
        xp.maximum.at(out, bag, r)
        out[xp.isneginf(out)] = 0
        # argmax position (in the original rows) for each output element
        pos = xp.nonzero(keep)[0]
        arg = xp.zeros((nb, d), dtype=np.int64)
        hit = r == out[bag]
        for j in range(r.shape[0] - 1, -1, -1):  # first occurrence wins, as torch
            arg[bag[j], hit[j]] = pos[j]
        if ctx.needs_input_grad:
            ctx.arg, ctx.L = arg, rows.shape[0]
            ctx.empty = xp.bincount(bag, minlength=nb) == 0
        return out

    @staticmethod
    def backward(ctx, g):
        gd = g._data if isinstance(g, Tensor) else g
        xp = namespace(gd)
        out = xp.zeros((ctx.L, gd.shape[1]), dtype=gd.dtype)
        cols = xp.broadcast_to(xp.arange(gd.shape[1]), gd.shape)
        valid = ~ctx.empty
        xp.add.at(out, (ctx.arg[valid], cols[valid]), gd[valid])
        return (_wrap(out) if isinstance(g, Tensor) else out), None, None, None


def one_hot(tensor, num_classes=-1):
    """int64 indices (*) -> int64 (*, num_classes) with a 1 at each index."""
    if not isinstance(tensor, Tensor) or tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    idx = tensor._data
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    if idx.size:
        if idx.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if idx.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    return _wrap((idx[..., None] == namespace(idx).arange(num_classes)).astype(np.int64))
