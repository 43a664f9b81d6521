"""Loss functions (torch.nn.functional's mse_loss, cross_entropy, ...).

The losses on the hot path of training loops are single fused Ops with a
hand-derived backward:

* ``cross_entropy``: log_softmax + NLL in one node.  Its gradient is
  ``coef * (softmax * sum(B) - B)`` per row, where ``B`` is the row's target
  weighting (a weighted one-hot, plus the label-smoothing share, or the
  class probabilities).
* ``nll_loss``, ``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``,
  ``binary_cross_entropy`` and ``binary_cross_entropy_with_logits``.

Their backward is written once for ndarrays and Tensors (``ember.ops._bw``)
or, for cross_entropy, falls back under ``create_graph=True`` to recomputing
the loss from differentiable ops (log_softmax + nll) so gradients of
gradients are exact.  The rarer losses are compositions of Ember ops, which
are differentiable to any order for free.

Arguments follow torch, including the deprecated ``size_average`` and
``reduce`` (which warn and map to ``reduction``), and the errors torch
raises for bad targets.
"""
import math
import warnings

import numpy as np

from ..._tensor import Tensor

from ..._tensor_base import _wrap
from ...autograd.function import Op, once_differentiable
from ...ops import _bw
from ...backends import namespace, kernels
from ...ops._util import cast, check_broadcast
from ...ops.elementwise import where
from ... import _dtype as D
from ..._errors import not_a_tensor
from ..._bfloat16 import is_float as _isf
from ..._autocast import autocast_op

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss",
           "multilabel_soft_margin_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss", "poisson_nll_loss", "gaussian_nll_loss", "ctc_loss"]

_NONE, _MEAN, _SUM = 0, 1, 2


def _tname(arr):
    """torch's scalar-type name of an array's dtype ('Float', 'Long', ...)."""
    return D.scalar_name_of(arr.dtype)


_dtype_tname = D.scalar_name_of     # torch's scalar-type name of a NumPy dtype


# ---- reduction arguments (torch.nn._reduction) ------------------------------------------

def legacy_get_string(size_average, reduce, emit_warning=True):
    """Map the deprecated ``size_average`` / ``reduce`` flags to a reduction string."""
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{ret}' instead.", stacklevel=4)
    return ret


def get_enum(reduction):
    """'none' -> 0, 'mean' -> 1, 'sum' -> 2; anything else raises ValueError."""
    if reduction == "none":
        return _NONE
    if reduction == "mean":
        return _MEAN
    if reduction == "sum":
        return _SUM
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=4)
        return _MEAN
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _red(size_average, reduce, reduction):
    """The reduction code, honouring the legacy flags when given."""
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    return get_enum(reduction)


def _reduce(loss, red):
    """Apply a reduction code to an elementwise loss Tensor."""
    if red == _MEAN:
        return loss.mean()
    if red == _SUM:
        return loss.sum()
    return loss


def _finish(l, red):
    """Reduce an elementwise loss array (forward of the fused ops)."""
    if red == _NONE:
        return l
    # (float16: sum in float32, as torch does; a float16 sum overflows at 65504)
    s = l.sum(dtype=np.float32) if l.dtype == np.float16 else l.sum()
    xp = namespace(l)
    if red == _SUM:
        return xp.asarray(s, dtype=l.dtype)
    n = l.size
    return xp.asarray(s / n if n else math.nan, dtype=l.dtype)


def _check_float(x, name):
    if not _isf(x._data.dtype):
        raise NotImplementedError(f"\"{name}\" not implemented for '{_tname(x._data)}'")


def _promote_pair(a, b):
    """Cast two tensors to their common dtype (torch's promotion)."""
    da, db = a._data.dtype, b._data.dtype
    if da == db:
        return a, b
    rt = D.result_type(a, b)
    return cast(a, rt), cast(b, rt)


def _as_tensor(x, name):
    if isinstance(x, Tensor):
        return x
    raise not_a_tensor(name, None, x)


# ---- elementwise regression losses: one Op --------------------------------------------

_MSE, _L1, _SMOOTH_L1, _HUBER = 0, 1, 2, 3


class _PointwiseLoss(Op):
    """mse / l1 / smooth_l1 (param = beta) / huber (param = delta) of x - t,
    reduced.  x and t broadcast; the engine sums the gradients back.  (One
    subclass per loss below, for the grad_fn names.)"""
    _ctx_fields = ("kind", "param", "reduction", "numel")

    @staticmethod
    def forward(ctx, x, t, kind, param, red):
        xp = namespace(x)
        d = x - t
        if kind == _MSE:
            l = d * d
        elif kind == _L1:
            l = xp.abs(d)
        else:
            a = xp.abs(d)
            if kind == _SMOOTH_L1:
                l = xp.where(a < param, (0.5 / param) * d * d, a - 0.5 * param)
            else:
                l = xp.where(a < param, 0.5 * d * d, param * (a - 0.5 * param))
            l = l.astype(d.dtype, copy=False)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, t, d)
            ctx.kind, ctx.param, ctx.reduction, ctx.numel = kind, param, red, d.size
        return _finish(l, red)

    @staticmethod
    def backward(ctx, g):
        x, t, d = ctx.saved_tensors
        kind, param, red, n = ctx.kind, ctx.param, ctx.reduction, ctx.numel
        if not _bw.is_array(g):
            d = x - t                   # recorded: the gradient depends on x and t
        dd = _bw.data(d)
        xp = namespace(dd)
        if kind == _MSE:
            gl = d * 2
        elif kind == _L1:
            gl = xp.sign(dd)
        elif _bw.is_array(d):
            if kind == _SMOOTH_L1:
                gl = xp.where(xp.abs(dd) < param, dd * (1.0 / param), xp.sign(dd))
            else:
                gl = xp.clip(dd, -param, param)
            gl = gl.astype(dd.dtype, copy=False)
        else:
            inside = (xp.abs(dd) < param).astype(dd.dtype)
            outside = xp.sign(dd) * (1 - inside)
            if kind == _SMOOTH_L1:
                gl = d * (inside / param) + outside
            else:
                gl = d * inside + outside * param
        if red == _MEAN:
            g = g / n if n else g
        gx = gl * g
        need = ctx.needs_input_grad
        return (gx if need[0] else None), (-gx if need[1] else None)


class _MSELoss(_PointwiseLoss):
    _node_name = "MseLossBackward0"


class _L1Loss(_PointwiseLoss):
    _node_name = "L1LossBackward0"


class _SmoothL1Loss(_PointwiseLoss):
    _node_name = "SmoothL1LossBackward0"


class _HuberLoss(_PointwiseLoss):
    _node_name = "HuberLossBackward0"


_POINTWISE_OPS = (_MSELoss, _L1Loss, _SmoothL1Loss, _HuberLoss)


def _pointwise(name, input, target, kind, param, red):
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        bad = "input" if not isinstance(input, Tensor) else "target"
        v = input if bad == "input" else target
        raise not_a_tensor(name, bad, v)
    xs, ts = input._data.shape, target._data.shape
    if xs != ts:
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input "
                      f"size ({input.size()}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", stacklevel=3)
        check_broadcast(xs, ts)
    x, t = _promote_pair(input, target)
    if not _isf(x._data.dtype):
        if name == "mse_loss":
            raise NotImplementedError(f"\"mse_cpu\" not implemented for '{_tname(x._data)}'")
        raise RuntimeError(f"{name}(): expected a floating point input, got {x.dtype}")
    return _POINTWISE_OPS[kind].apply(x, t, kind, param, red)


@autocast_op("fp32")
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (x - y)^2, reduced; shapes broadcast (with a warning)."""
    red = _red(size_average, reduce, reduction)
    if weight is not None:
        return _weighted(input, target, weight, red, lambda d: d * d)
    return _pointwise("mse_loss", input, target, _MSE, None, red)


@autocast_op("fp32")
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error |x - y|, reduced."""
    red = _red(size_average, reduce, reduction)
    if weight is not None:
        return _weighted(input, target, weight, red, lambda d: d.abs())
    return _pointwise("l1_loss", input, target, _L1, None, red)


@autocast_op("fp32")
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - y)."""
    red = _red(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return _pointwise("smooth_l1_loss", input, target, _L1, None, red)
    return _pointwise("smooth_l1_loss", input, target, _SMOOTH_L1, float(beta), red)


@autocast_op("fp32")
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = x - y)."""
    red = get_enum(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is not None:
        dl = float(delta)

        def f(d):
            a = d.abs()
            return (a < dl).where(0.5 * d * d, dl * (a - 0.5 * dl))
        return _weighted(input, target, weight, red, f)
    return _pointwise("huber_loss", input, target, _HUBER, float(delta), red)


def _weighted(input, target, weight, red, fn):
    """The weighted variants (torch 2.6+ ``weight=``): fn(x - y) * weight, reduced."""
    if input.shape != target.shape:
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input "
                      f"size ({input.size()}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", stacklevel=3)
    return _reduce(fn(input - target) * weight, red)


# ---- cross entropy and NLL -------------------------------------------------------------

def _rows(a, cls_last=False):
    """(N, C, d1, ...) -> (N*d1*..., C); (N, C) as is; (C,) -> (1, C)."""
    if a.ndim == 2:
        return a
    if a.ndim == 1:
        return a.reshape(1, -1)
    return namespace(a).moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _unrows(g2, shape):
    """Inverse of ``_rows`` for a gradient (M, C) -> ``shape``."""
    if len(shape) == 2:
        return g2
    if len(shape) == 1:
        return g2.reshape(shape)
    lead = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return namespace(g2).moveaxis(g2.reshape(lead), -1, 1)


def _class_targets(t, C, ignore_index):
    """Flat targets -> (safe indices, valid mask or None); raises for out-of-range ones."""
    # fast path: viewed as unsigned, negatives are huge, so one maximum
    # finds any target outside [0, C) (ignored ones included)
    u = t.view(np.uint64) if t.dtype == np.int64 else t
    if not 0 <= ignore_index < C and (not t.size or u.max() < C):
        return t, None
    ign = t == ignore_index
    if ign.any():
        valid = ~ign
        ts = namespace(t).where(ign, 0, t)
    else:
        valid = None
        ts = t
    if ts.size and (ts.min() < 0 or ts.max() >= C):
        bad = (ts < 0) | (ts >= C)
        if valid is not None:
            bad &= valid
        raise IndexError(f"Target {int(t[bad.argmax()])} is out of bounds.")
    return ts, valid


def _target_cells(ts, M, C):
    """The flat positions of the target cells (row i, class ts[i]) of a
    C-contiguous (M, C) array: one 1-D gather or scatter costs half of the
    2-D one by (arange(M), ts) at loss sizes."""
    xp = namespace(ts)
    return (xp.arange(0, M * C, C) if C else xp.zeros(M, ts.dtype)) + ts


class _CrossEntropy(Op):
    """log_softmax + NLL over the class axis (1, or 0 for unbatched input) in one node.

    ``target`` holds class indices (shape of input without the class axis) or
    class probabilities (input's shape, ``probs=True``).  ``weight`` is a
    constant (C,) array or None.
    """
    _ctx_fields = ("weight", "reduction", "ignore_index", "label_smoothing", "probs", "denom")
    _node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, target, weight, red, ignore_index, ls, probs):
        rec = bool(ctx.needs_input_grad)
        x2 = _rows(x)
        if not x2.flags.c_contiguous:   # (the target cells are found by flat position)
            x2 = namespace(x2).ascontiguousarray(x2)
        M, C = x2.shape
        logp, p = kernels(x2).log_softmax_rows(x2, rec)
        if probs:
            tt = _rows(target)
            if ls > 0:
                tt = tt * (1 - ls) + ls / C
            B = tt * weight if weight is not None else tt
            rows = -(B * logp).sum(axis=1)
            denom = M
            info = (B, logp, None)
        else:
            t = target if target.ndim == 1 else target.reshape(-1)
            ts, valid = _class_targets(t, C, ignore_index)
            cells = _target_cells(ts, M, C)
            picked = logp.reshape(-1)[cells]
            if weight is not None:
                rw = weight[ts]
                if valid is not None:
                    rw = rw * valid
            elif valid is not None:
                rw = valid.astype(x.dtype)
            else:
                rw = None
            if rw is not None:
                rows = -picked * rw
            elif ls > 0 or red == _NONE:
                rows = -picked
            else:
                rows = None     # (only their sum is wanted: see below)
            if ls > 0:
                sm = -(logp @ weight) if weight is not None else -logp.sum(axis=1)
                if valid is not None:
                    sm *= valid
                rows = (1 - ls) * rows + (ls / C) * sm
            denom = rw.sum() if rw is not None else M
            info = (cells, valid, rw)
        if red == _NONE:
            if x.ndim == 1:
                out = rows.reshape(())
            else:
                out = rows.reshape(x.shape[:1] + x.shape[2:])
        else:
            if rows is None:    # (-sum(picked): the same bits as summing -picked)
                s, dt = -picked.sum(), picked.dtype
            else:
                s, dt = rows.sum(), rows.dtype
            if red == _MEAN:
                s = s / denom if denom else math.nan
            out = namespace(logp).asarray(s, dtype=dt)
        if rec:
            ctx.save_for_backward(x, target, p, *info)
            ctx.weight, ctx.reduction, ctx.ignore_index = weight, red, ignore_index
            ctx.label_smoothing, ctx.probs, ctx.denom = ls, probs, denom
        return out

    @staticmethod
    def backward(ctx, g):
        x, target, p, a1, a2, a3 = ctx.saved_tensors
        weight, red, ignore_index = ctx.weight, ctx.reduction, ctx.ignore_index
        ls, probs, denom = ctx.label_smoothing, ctx.probs, ctx.denom
        if not _bw.is_array(g):
            return _bw.recompute_vjp(
                lambda xx, tt: _cross_entropy_composed(xx, tt, weight, red, ignore_index, ls,
                                                       probs), (x, target), (g,))
        shape = x.shape
        M, C = p.shape
        if red == _NONE:
            coef = g.reshape(M, 1)
        elif red == _MEAN:
            if not denom:
                gt = namespace(target).zeros(target.shape, target.dtype) \
                    if probs and ctx.needs_input_grad[1] else None
                return _zero_denominator_grad(p, a2 if not probs else None, shape), gt
            coef = g / denom
        else:
            coef = g
        gt = None
        if probs:
            B, logp = a1, a2
            gx = (p * B.sum(axis=1, keepdims=True) - B) * coef
            if ctx.needs_input_grad[1]:
                gt = logp * (-(1 - ls) if ls > 0 else -1)
                if weight is not None:
                    gt = gt * weight
                gt = _unrows(gt * coef, target.shape)
            return _unrows(gx, shape), gt
        cells, valid, rw = a1, a2, a3
        xp = namespace(p)
        # per-row factor of the one-hot part, and of the softmax
        one = coef * rw.reshape(M, 1) if rw is not None else coef
        if ls > 0:
            vcol = valid.reshape(M, 1).astype(p.dtype) if valid is not None else 1
            wsum = weight.sum() if weight is not None else C
            one = one * (1 - ls)
            spread = coef * vcol * (ls / C)        # times weight[c] for every class
            gx = p * (one + spread * wsum)
            gx -= spread * weight if weight is not None else spread
        else:
            gx = p * one    # (C-contiguous, as p: its flat view is gx itself)
        if one.ndim == 0:
            gx.reshape(-1)[cells] -= one
        else:
            gx.reshape(-1)[cells] -= xp.broadcast_to(one, (M, 1))[:, 0]
        return _unrows(gx, shape), None


class _NLLLoss(Op):
    """Negative log-likelihood of log-probabilities ``x`` (class axis 1, or 0
    when unbatched) at class-index ``target``; weights and ignore_index as torch."""
    _ctx_fields = ("x_shape", "classes", "row_weight", "reduction", "denom", "valid")
    _node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, target, weight, red, ignore_index):
        x2 = _rows(x)
        M, C = x2.shape
        t = target.reshape(-1)
        ts, valid = _class_targets(t, C, ignore_index)
        picked = x2[namespace(ts).arange(M), ts]
        if weight is not None:
            rw = weight[ts]
            if valid is not None:
                rw = rw * valid
        elif valid is not None:
            rw = valid.astype(x.dtype)
        else:
            rw = None
        rows = -picked * rw if rw is not None else -picked
        denom = rw.sum() if rw is not None else M
        if red == _NONE:
            out = rows.reshape(target.shape if x.ndim > 1 else ())
        else:
            s = rows.sum()
            if red == _MEAN:
                s = s / denom if denom else math.nan
            out = namespace(x).asarray(s, dtype=x.dtype)
        if ctx.needs_input_grad:
            # (classes: the targets made safe to index with; row_weight: each row's weight)
            ctx.x_shape, ctx.classes, ctx.row_weight = x.shape, ts, rw
            ctx.reduction, ctx.denom, ctx.valid = red, denom, valid
        return out

    @staticmethod
    def backward(ctx, g):
        shape, ts, rw = ctx.x_shape, ctx.classes, ctx.row_weight
        red, denom = ctx.reduction, ctx.denom
        M = ts.shape[0]
        C = shape[1] if len(shape) > 1 else shape[0]
        xp = namespace(ts)
        ar = xp.arange(M)
        if red == _MEAN:
            if not denom:
                # torch: 0 for ignored targets, nan (0 / 0) for zero-weight ones
                gx = xp.zeros((M, C), dtype=_bw.data(g).dtype)
                gx[ar, ts] = math.nan
                if ctx.valid is not None:
                    gx[ar, ts] = xp.where(ctx.valid, math.nan, 0.0)
                return _unrows(gx, shape)
            g = g / denom
        if _bw.is_array(g):
            gx = xp.zeros((M, C), dtype=g.dtype)
            v = -(g.reshape(M) if red == _NONE else g)
            gx[ar, ts] = v * rw if rw is not None else v
            return _unrows(gx, shape)
        # recorded: a constant pattern times the (differentiable) incoming gradient
        pat = xp.zeros((M, C), dtype=g._data.dtype)
        pat[ar, ts] = -rw if rw is not None else -1
        pat = _unrows(pat, shape)
        if red == _NONE:
            cdim = 1 if len(shape) > 1 else 0
            g = _bw.expand_dims(g, (cdim,)) if len(shape) > 1 else g
        return g * pat


def _zero_denominator_grad(p, valid, shape):
    """cross_entropy's 'mean' gradient when the summed target weight is 0:
    rows of ignored targets get 0, other rows nan (0 / 0), as torch."""
    gx = namespace(p).zeros(p.shape, p.dtype)
    if valid is None:
        gx[:] = math.nan
    else:
        gx[valid] = math.nan
    return _unrows(gx, shape)


def _check_nll_args(name, x, t, weight, ignore_index):
    """torch's checks for class-index targets (shapes, dtype, weight); returns C."""
    xd, td = x._data, t._data
    if xd.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {xd.ndim})")
    if xd.ndim != 1:
        if td.ndim == 0:
            raise IndexError("dimension specified as 0 but tensor has no dimensions")
        if xd.shape[0] != td.shape[0]:
            raise ValueError(f"Expected input batch_size ({xd.shape[0]}) to match target "
                             f"batch_size ({td.shape[0]}).")
    if xd.ndim <= 2:
        if td.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if xd.ndim == 1 and td.ndim == 1 and td.shape[0] != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: "
                             f"{td.shape[0]}")
    elif xd.ndim == 4:
        if td.ndim != 3:
            raise RuntimeError(f"only batches of spatial targets supported (3D tensors) but got "
                               f"targets of dimension: {td.ndim}")
        if td.shape[1:] != xd.shape[2:]:
            raise RuntimeError(f"size mismatch (got input: {list(xd.shape)} , target: "
                               f"{list(td.shape)}")
    elif td.shape[1:] != xd.shape[2:]:
        raise RuntimeError(f"Expected target size {[xd.shape[0]] + list(xd.shape[2:])}, got "
                           f"{list(td.shape)}")
    if td.dtype != np.int64 and td.dtype != np.uint8:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_tname(td)}")
    C = xd.shape[1] if xd.ndim > 1 else xd.shape[0]
    return C, _weight_array(weight, C, xd)


def _weight_array(weight, C, xd):
    """The class weights as an array beside the input array ``xd``, checked
    against C classes and xd's dtype."""
    if weight is None:
        return None
    w = weight._data if isinstance(weight, Tensor) else namespace(xd).asarray(weight)
    if w.ndim != 1 or w.shape[0] != C:
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no "
                           f"classes but got weight tensor of shape: {list(w.shape)}")
    if w.dtype != xd.dtype:
        raise RuntimeError(f"expected scalar type {_dtype_tname(xd.dtype)} but found "
                           f"{_tname(w)}")
    return w


@autocast_op("fp32")
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C), (C,) or
    (N, C, d1, ...) at class indices ``target`` (N,), () or (N, d1, ...).

    ``weight`` (C,) rescales classes; 'mean' divides by the summed weights of
    the non-ignored targets; targets equal to ``ignore_index`` contribute 0.
    """
    red = _red(size_average, reduce, reduction)
    input = _as_tensor(input, "nll_loss")
    C, w = _check_nll_args("nll_loss", input, target, weight, ignore_index)
    _check_float(input, "nll_loss")
    return _NLLLoss.apply(input, target, w, red, int(ignore_index))


@autocast_op("fp32")
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Cross entropy between logits ``input`` and ``target``.

    input: (N, C), (C,) or (N, C, d1, ...) logits.  target: class indices
    (N,), () or (N, d1, ...) in [0, C) (int64), or class probabilities with
    input's shape (float).  ``weight`` (C,) rescales classes, ``ignore_index``
    marks targets to skip, ``label_smoothing`` mixes the target with the
    uniform distribution.  One fused op: log_softmax + NLL.
    """
    red = _red(size_average, reduce, reduction)
    input = _as_tensor(input, "cross_entropy")
    xd, td = input._data, target._data
    ls = float(label_smoothing)
    if xd.shape == td.shape:
        # class probabilities
        if not _isf(td.dtype):
            raise RuntimeError(f"Expected floating point type for target with class "
                               f"probabilities, got {_tname(td)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if xd.ndim < 1:
            raise ValueError(f"Expected 1 or more dimensions (got {xd.ndim})")
        if ls > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {ls:g}")
        _check_float(input, "log_softmax_lastdim_kernel_impl")
        # (log_softmax runs in the input's dtype; a wider target promotes the rest)
        C = xd.shape[1] if xd.ndim > 1 else xd.shape[0]
        w = _weight_array(weight, C, xd)
        return _CrossEntropy.apply(input, target, w, red, -100, ls, True)
    C, w = _check_nll_args("cross_entropy", input, target, weight, ignore_index)
    _check_float(input, "log_softmax_lastdim_kernel_impl")
    if ls > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {ls:g}")
    return _CrossEntropy.apply(input, target, w, red, int(ignore_index), max(ls, 0.0), False)


def _cross_entropy_composed(x, target, weight, red, ignore_index, ls, probs):
    """cross_entropy from log_softmax and nll_loss (differentiable to any order);
    used by the fused op's backward under create_graph."""
    from .activation import log_softmax
    cdim = 1 if x.dim() > 1 else 0
    C = x.shape[cdim]
    logp = log_softmax(x, cdim)
    wb = None
    if weight is not None:
        shape = [1] * x.dim()
        shape[cdim] = C
        wb = _wrap(weight.reshape(shape))
    if probs:
        tt = target * (1 - ls) + ls / C if ls > 0 else target
        prod = logp * tt
        if wb is not None:
            prod = prod * wb
        rows = -prod.sum(cdim)
        if red == _NONE:
            return rows
        s = rows.sum()
        M = x._data.size // C if C else 0
        return s / M if (red == _MEAN and M) else (s * math.nan if red == _MEAN else s)
    nll = _NLLLoss.apply(logp, target, weight, red, ignore_index)
    if ls <= 0:
        return nll
    sm = -(logp * wb).sum(cdim) if wb is not None else -logp.sum(cdim)
    t = target._data
    valid = (t != ignore_index)
    if not valid.all():
        sm = sm * _wrap(valid.astype(x._data.dtype))
    if red == _SUM:
        sm = sm.sum()
    elif red == _MEAN:
        ts = namespace(t).where(valid, t, 0)
        den = (weight[ts] * valid).sum() if weight is not None else valid.sum()
        sm = sm.sum() / float(den) if den else sm.sum() * math.nan
    return nll * (1 - ls) + sm * (ls / C)


# ---- binary cross entropy ---------------------------------------------------------------

def _clamp_min(x, lo):
    if _bw.is_array(x):
        return namespace(x).maximum(x, lo)
    return x.clamp_min(lo)


def _logsigmoid_any(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), on arrays or Tensors."""
    if _bw.is_array(x):
        xp = namespace(x)
        return (xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)
    from .activation import logsigmoid
    return logsigmoid(x)


class _BCE(Op):
    """-w (t log x + (1 - t) log(1 - x)), each log clamped to >= -100 (as torch)."""
    _ctx_fields = ("weight", "reduction", "numel")
    _node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, weight, red):
        xp = namespace(x)
        lx = xp.maximum(xp.log(x), -100)
        l1x = xp.maximum(xp.log1p(-x), -100)
        l = (t - 1) * l1x - t * lx
        if weight is not None:
            l = l * weight
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, t)
            ctx.weight, ctx.reduction, ctx.numel = weight, red, l.size
        return _finish(l.astype(x.dtype, copy=False), red)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        weight, red, n = ctx.weight, ctx.reduction, ctx.numel
        if red == _MEAN:
            g = g / n if n else g
        if weight is not None:
            g = g * weight
        need = ctx.needs_input_grad
        gx = gt = None
        if need[0]:
            gx = g * (x - t) / _clamp_min((1 - x) * x, 1e-12)
        if need[1]:
            gt = g * (_bw.log(1 - x) - _bw.log(x))
        return gx, gt


@autocast_op("fp32")
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x in [0, 1]; logs
    are clamped to >= -100 so x = 0 or 1 gives a finite loss, as torch."""
    red = _red(size_average, reduce, reduction)
    input = _as_tensor(input, "binary_cross_entropy")
    xd, td = input._data, target._data
    if td.shape != xd.shape:
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input "
                         f"size ({input.size()}) is deprecated. Please ensure they have the same "
                         "size.")
    if td.dtype != xd.dtype:
        raise RuntimeError(f"Found dtype {_tname(td)} but expected {_tname(xd)}")
    if not ((xd >= 0) & (xd <= 1)).all():
        raise RuntimeError("all elements of input should be between 0 and 1")
    if not ((td >= 0) & (td <= 1)).all():      # (NaN fails too, as in torch)
        raise RuntimeError("all elements of target should be between 0 and 1")
    w = None
    if weight is not None:
        xp = namespace(xd)
        w = weight._data if isinstance(weight, Tensor) else xp.asarray(weight, dtype=xd.dtype)
        try:
            xp.broadcast_to(w, xd.shape)
        except ValueError:
            raise RuntimeError(
                f"Attempting to broadcast a dimension of length {w.shape[-1]} at -1! Mismatching "
                f"argument at index 1 had {weight.size()}; but expected shape should be "
                f"broadcastable to {list(xd.shape)}") from None
        w = w.astype(xd.dtype, copy=False)
    return _BCE.apply(input, target, w, red)


class _BCEWithLogits(Op):
    """(1 - t) x - lw * logsigmoid(x), lw = 1 + (pos_weight - 1) t, times weight.

    Stable for any |x|: logsigmoid is computed as min(x, 0) - log1p(exp(-|x|)).
    """
    _ctx_fields = ("weight", "pos_weight", "reduction", "numel")
    _node_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, x, t, weight, pos_weight, red):
        ls = _logsigmoid_any(x)
        if pos_weight is not None:
            l = (1 - t) * x - ((pos_weight - 1) * t + 1) * ls
        else:
            l = (1 - t) * x - ls
        if weight is not None:
            l = l * weight
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, t)
            ctx.weight, ctx.pos_weight = weight, pos_weight
            ctx.reduction, ctx.numel = red, l.size
        return _finish(l.astype(namespace(x).result_type(x, t), copy=False), red)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        weight, pw, red, n = ctx.weight, ctx.pos_weight, ctx.reduction, ctx.numel
        if red == _MEAN:
            g = g / n if n else g
        if weight is not None:
            g = g * weight
        need = ctx.needs_input_grad
        gx = gt = None
        if need[0]:
            s = _bw.sigmoid(x)
            if pw is not None:
                gx = g * (((pw - 1) * t + 1) * s - pw * t)
            else:
                gx = g * (s - t)
        if need[1]:
            if pw is not None:
                gt = g * (-x - (pw - 1) * _logsigmoid_any(x))
            else:
                gt = g * -x
        return gx, gt


@autocast_op("fp32")
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """Binary cross entropy of logits: -w [pw y log s(x) + (1 - y) log(1 - s(x))],
    computed stably.  ``weight`` broadcasts to input; ``pos_weight`` weighs the
    positive term per class (broadcast along the last dimension)."""
    red = _red(size_average, reduce, reduction)
    input = _as_tensor(input, "binary_cross_entropy_with_logits")
    xd, td = input._data, target._data
    if td.shape != xd.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size "
                         f"({input.size()})")
    if not _isf(td.dtype):
        raise RuntimeError(f"result type {_tname(xd)} can't be cast to the desired output type "
                           f"{_tname(td)}")
    input, target = _promote_pair(input, target)
    dt = input._data.dtype
    xp = namespace(xd)
    w = pw = None
    if weight is not None:
        w = weight._data if isinstance(weight, Tensor) else xp.asarray(weight)
        w = w.astype(dt, copy=False)
        check_broadcast(xd.shape, w.shape)
    if pos_weight is not None:
        pw = (pos_weight._data if isinstance(pos_weight, Tensor)
              else xp.asarray(pos_weight)).astype(dt, copy=False)
        check_broadcast(pw.shape, xd.shape)
    return _BCEWithLogits.apply(input, target, w, pw, red)


# ---- divergences and likelihoods (composed from Ember ops) -------------------------------

@autocast_op("fp32")
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || input) pointwise: target * (log target - input), with
    ``input`` given as log-probabilities (and ``target`` too if ``log_target``).
    'batchmean' divides the sum by the batch size (the true KL divergence)."""
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    if reduction == "batchmean":
        red = "batchmean"
    else:
        red = get_enum(reduction)
    input, target = _promote_pair(input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = target.xlogy(target) - target * input
    if red == "batchmean":
        return loss.sum() / input.size(0) if input.dim() != 0 else loss.sum()
    return _reduce(loss, red)


@autocast_op("fp32")
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: exp(x) - y x (``log_input``) or
    x - y log(x + eps); ``full`` adds the Stirling term y log y - y + log(2 pi y)/2
    where y > 1."""
    red = _red(size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        t = target
        stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
        loss = loss + stirling.masked_fill(t <= 1, 0)
    return _reduce(loss, red)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood 0.5 (log var + (x - y)^2 / var) (+ 0.5
    log 2 pi when ``full``).  var has input's shape, or one fewer trailing
    dimension, or a trailing 1; it is clamped to >= eps without blocking its
    gradient, as torch."""
    from ..._tensor_base import _wrap as wrap
    if isinstance(var, (int, float)):
        xd = input._data
        var = wrap(namespace(xd).full(xd.shape, float(var), dtype=xd.dtype))
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.size(-1) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction != "none" and reduction != "mean" and reduction != "sum":
        raise ValueError(reduction + " is not valid")
    if (var._data < 0).any():
        raise ValueError("var has negative entry/entries")
    # clamp the value only: the gradient flows as if var were unclamped
    vd = var._data
    var = var + wrap(namespace(vd).maximum(vd, eps) - vd)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, get_enum(reduction))


# ---- margin and embedding losses (composed) -----------------------------------------------

@autocast_op("fp32")
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -y (x1 - x2) + margin) for y in {1, -1}."""
    red = _red(size_average, reduce, reduction)
    if not (input1.dim() == input2.dim() == target.dim()):
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {input1.size()}, input2: {input2.size()}, "
                           f"target: {target.size()} ")
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), red)


@autocast_op("fp32")
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x where y == 1, max(0, margin - x) where y == -1."""
    red = _red(size_average, reduce, reduction)
    zeros = input * 0
    margin_part = where(target != 1, (margin - input).clamp_min(0), zeros)
    self_part = where(target != -1, input, zeros)
    return _reduce(margin_part + self_part, red)


@autocast_op("fp32")
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x)), averaged over elements."""
    from .activation import softplus
    red = _red(size_average, reduce, reduction)
    return _reduce(softplus(-target * input), red)


@autocast_op("fp32")
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1.

    Inputs (N, D) with target (N,), or (D,) with a 0-d target."""
    red = _red(size_average, reduce, reduction)
    td = target.dim()
    if td == 1 and (input1.dim() != 2 or input2.dim() != 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with "
                           f"sizes {list(input1.shape)} and {list(input2.shape)}.")
    if td == 0 and (input1.dim() != 1 or input2.dim() != 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with "
                           f"sizes {list(input1.shape)} and {list(input2.shape)}.")
    if td > 1:
        raise RuntimeError(f"0D or 1D target tensor expected, multi-target not supported")
    eps = 1e-12
    dim = td
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + eps
    m2 = (input2 * input2).sum(dim) + eps
    cos = prod / (m1 * m2).sqrt()
    zeros = cos * 0
    pos = where(target == 1, 1 - cos, zeros)
    neg = where(target == -1, (cos - margin).clamp_min(0), zeros)
    return _reduce(pos + neg, red)


@autocast_op("fp32")
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """sum_{j != y} max(0, margin - x[y] + x[j])^p / C per sample (times weight[y])."""
    red = _red(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    x = input if input.dim() > 1 else input.unsqueeze(0)
    C = x.shape[1]
    t = target.reshape(-1)
    td = t._data
    if td.size != x.shape[0]:
        raise RuntimeError(f"inconsistent target size, expected {x.shape[0]} but got "
                           f"{list(target.shape)}")
    if td.size and (td.min() < 0 or td.max() >= C):
        raise RuntimeError("target out of range")
    xy = x.gather(1, t.unsqueeze(1))
    z = (margin - xy + x).clamp_min(0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight[t].unsqueeze(1)
    notself = _wrap((namespace(td).arange(C)[None, :] != td[:, None]).astype(x._data.dtype))
    loss = (z * notself).sum(1) / C
    if input.dim() == 1:
        loss = loss.reshape(())
    return _reduce(loss, red)


@autocast_op("fp32")
def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes j (listed in target until the first -1) and
    non-target classes i of max(0, 1 - (x[j] - x[i])) / C."""
    red = _red(size_average, reduce, reduction)
    x = input if input.dim() > 1 else input.unsqueeze(0)
    td = target._data.reshape(x.shape)
    N, C = x.shape
    if td.size and (td.min() < -1 or td.max() >= C):    # (every entry, even after a -1)
        raise RuntimeError("argument #2 'target' is out of range")
    xp = namespace(td)
    is_t = xp.zeros((N, C), dtype=bool)
    tmask = xp.zeros((N, C), dtype=bool)   # target slots before the first -1
    for n in range(N):
        for k in range(C):
            j = int(td[n, k])
            if j < 0:
                break
            tmask[n, k] = True
            is_t[n, j] = True
    tsafe = xp.where(tmask, td, 0)
    xj = x.gather(1, _wrap(tsafe.astype(np.int64)))            # (N, C): x at target slots
    diff = (1 - (xj.unsqueeze(2) - x.unsqueeze(1))).clamp_min(0)   # (N, slot, class)
    pair = (tmask[:, :, None] & ~is_t[:, None, :]).astype(x._data.dtype)
    loss = (diff * _wrap(pair)).sum((1, 2)) / C
    if input.dim() == 1:
        loss = loss.reshape(())
    return _reduce(loss, red)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """-(y log s(x) + (1 - y) log s(-x)), weighted, averaged over classes."""
    from .activation import logsigmoid
    red = _red(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(input.dim() - 1) / input.size(-1)
    return _reduce(loss, red)


@autocast_op("fp32")
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin) with d the pairwise p-norm distance;
    ``swap`` uses min(d(a, n), d(p, n)) as the negative distance."""
    from .distance import pairwise_distance
    red = _red(size_average, reduce, reduction)
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim == n_dim):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the "
                           f"same number of dimensions, but got: anchor {a_dim}D, positive "
                           f"{p_dim}D, and negative {n_dim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        from ... import minimum
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp_min(0), red)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """triplet_margin_loss with any ``distance_function(x, y)`` (default:
    pairwise_distance)."""
    from .distance import pairwise_distance
    from ... import minimum
    red = get_enum(reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: expected margin to be greater "
                         f"than 0, got {margin} instead")
    dist = distance_function if distance_function is not None else pairwise_distance
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, dist(positive, negative))
    return _reduce((margin + d_pos - d_neg).clamp_min(0), red)


# ---- CTC ----------------------------------------------------------------------------------

class _CTCLoss(Op):
    """Per-sequence CTC negative log-likelihoods (N,) of log_probs (T, N, C).

    The forward-backward recursion runs in the kernel ``ctc_loss``
    (ember/backends/generic/loss.py), which also returns the gradient, kept
    for backward.  Like torch's, that gradient is the one for the logits
    under a log_softmax, and backward cannot be differentiated again."""
    _ctx_fields = ("grad",)

    @staticmethod
    def forward(ctx, lp, ext, in_len, tgt_len, zero_infinity):
        xp = namespace(lp)
        need = ctx.needs_input_grad
        nll, grad = kernels(lp).ctc_loss(lp, ext, in_len, tgt_len, bool(need) and need[0])
        if zero_infinity:
            bad = nll == math.inf
            nll = xp.where(bad, 0, nll).astype(lp.dtype)
            if grad is not None:
                grad = xp.where(bad[None, :, None], 0, grad).astype(lp.dtype)
        if need:
            ctx.grad = grad
        return nll

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        return ctx.grad * g[None, :, None], None, None, None, None


def _ctc_lengths(v, name, xp):
    """input_lengths / target_lengths (a Tensor, or a sequence or int) as int64 (N,)."""
    if isinstance(v, Tensor):
        if v._data.dtype.kind not in "iu":
            raise RuntimeError(f"{name} must be integral")
        return v._data.reshape(-1).astype(np.int64)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return xp.asarray([int(v)], dtype=np.int64)
    if isinstance(v, (list, tuple)) and all(isinstance(i, (int, np.integer)) for i in v):
        return xp.asarray([int(i) for i in v], dtype=np.int64)
    raise TypeError(f"ctc_loss(): argument '{name}' must be a Tensor or a tuple of ints, "
                    f"not {type(v).__name__}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist Temporal Classification loss (Graves et al. 2006).

    ``log_probs`` (T, N, C) or unbatched (T, C): log-softmax outputs over C
    classes including ``blank``.  ``targets``: (N, S) padded, or 1-D holding
    all N targets end to end (their lengths summing to sum(target_lengths)).
    ``input_lengths``, ``target_lengths``: (N,) tensors or tuples of ints.
    'mean' divides each loss by its target length, then averages over the
    batch, as torch does.  ``zero_infinity`` zeroes infinite losses (targets
    no alignment can produce) and their gradients.
    """
    red = get_enum(reduction)
    x = _as_tensor(log_probs, "log_probs")
    tg = _as_tensor(targets, "targets")
    _check_float(x, "ctc_loss")
    xp = namespace(x._data)
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(1)
        if tg.dim() == 1:
            tg = tg.unsqueeze(0)
    if x.dim() != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs to be 2-D or 3-D (T, [N,] C), "
                           f"got {x.dim()}-D")
    T, N, C = x.shape
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    il = _ctc_lengths(input_lengths, "input_lengths", xp)
    tl = _ctc_lengths(target_lengths, "target_lengths", xp)
    if il.shape[0] != N:
        raise RuntimeError("input_lengths must be of size batch_size")
    if tl.shape[0] != N:
        raise RuntimeError("target_lengths must be of size batch_size")
    where_ = "(while checking arguments for ctc_loss_allocate_outputs)"
    for name, v, hi in (("input_lengths", il, T), ("target_lengths", tl, None)):
        if N and int(v.min()) < 0:
            raise RuntimeError(f"Expected {name} to have value at least 0, but got value "
                               f"{int(v.min())} {where_}")
        if hi is not None and N and int(v.max()) > hi:
            raise RuntimeError(f"Expected {name} to have value at most {hi}, but got value "
                               f"{int(v.max())} {where_}")
    t = tg._data
    if t.dtype.kind not in "iuf":
        raise RuntimeError(f"ctc_loss: targets must be integers, got {tg.dtype}")
    t = t.astype(np.int64)
    max_len = int(tl.max()) if N else 0
    if t.ndim == 1:                        # concatenated targets: cut them per sequence
        total = int(tl.sum())
        if t.shape[0] != total:
            raise RuntimeError(f"Expected tensor to have size {total} at dimension 0, but got "
                               f"size {t.shape[0]} for argument #2 'targets' {where_}")
        starts = xp.cumsum(tl) - tl
        cols = xp.arange(max_len)
        inside = cols[None] < tl[:, None]
        lab = t[xp.where(inside, starts[:, None] + cols[None], 0)] if total else \
            xp.zeros((N, max_len), dtype=np.int64)
    elif t.ndim == 2:
        if t.shape[1] < max_len:
            raise RuntimeError(f"Expected tensor to have size at least {max_len} at dimension 1,"
                               f" but got size {t.shape[1]} for argument #2 'targets' {where_}")
        if t.shape[0] != N:
            raise RuntimeError(f"Expected tensor to have size {N} at dimension 0, but got size "
                               f"{t.shape[0]} for argument #2 'targets' {where_}")
        lab = t[:, :max_len]
        inside = xp.arange(max_len)[None] < tl[:, None]
    else:
        raise RuntimeError(f"ctc_loss: targets must be 1-D (concatenated) or 2-D (padded), "
                           f"got {t.ndim}-D")
    used = lab[inside]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= C):
        raise RuntimeError(f"ctc_loss: target labels must be in [0, {C}), got values from "
                           f"{int(used.min())} to {int(used.max())}")
    lab = xp.where(inside, lab, blank)
    ext = xp.full((N, 2 * max_len + 1), blank, dtype=np.int64)
    ext[:, 1::2] = lab
    nll = _CTCLoss.apply(x, ext, il, tl, bool(zero_infinity))
    if red == _MEAN:
        denom = _wrap(xp.maximum(tl, 1).astype(x._data.dtype))
        return (nll / denom).mean()
    if red == _SUM:
        return nll.sum()
    return nll.squeeze(0) if unbatched else nll
