"""linear and bilinear: the affine maps behind nn.Linear and nn.Bilinear."""
import math

import numpy as np

from ..._errors import not_a_tensor
from ..._tensor import Tensor
from ...autograd import function as _fn
from ...autograd.function import Op
from ...autograd.grad_mode import state as _gm
from ...backends import kernels
from ...ops import _bw
from ..._autocast import autocast_op

__all__ = ["linear", "bilinear"]


def _dtype_name(t):
    return t.dtype.name.capitalize() if hasattr(t.dtype, "name") else str(t.dtype)


class _Linear(Op):
    """y = x @ W.T + b for x (..., in), W (out, in), b (out,) or None -> (..., out).

    One node instead of transpose + matmul + add: the hot path of every MLP.
    """
    _node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
        if b is None:
            return kernels(x).linear_matmul(x, w)
        return kernels(x).linear_addmm(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        x, w = _bw.conj(x), _bw.conj(w)        # (complex: torch's convention; free on reals)
        need = ctx.needs_input_grad
        gx = gw = gb = None
        if need[0]:
            gx = _bw.matmul(g, w)
        if need[1] or need[2]:
            out_f, in_f = w.shape
            g2 = _bw.reshape(g, (-1, out_f)) if g.ndim != 2 else g
            if need[1]:
                x2 = _bw.reshape(x, (-1, in_f)) if x.ndim != 2 else x
                gw = _bw.matmul(_bw.swap_last(g2), x2)
            if need[2]:
                gb = _bw.sum(g2, axis=0) if isinstance(g2, Tensor) else kernels(g2).sum_rows(g2)
        return gx, gw, gb


def _shape_str(s):
    return "x".join(str(k) for k in s)


@autocast_op("lower")
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``: input (*, in_features), weight
    (out_features, in_features), bias (out_features,) -> (*, out_features)."""
    try:
        xd, wd = input._data, weight._data
    except AttributeError:
        _check_linear(input, weight, bias)
    if wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != wd.shape[1] or xd.dtype != wd.dtype \
            or (bias is not None and (bias._data.dtype != xd.dtype
                                      or bias._data.shape != wd.shape[:1])):
        _check_linear(input, weight, bias)
    if not (_gm.enabled and (input.requires_grad or weight.requires_grad
                             or (bias is not None and bias.requires_grad))) \
            and _fn._tracer is None and xd.dtype.kind == "f":
        # Nothing to record (no_grad, inference): the forward on the arrays,
        # wrapped, without apply's general argument handling (a GPT step makes
        # 17 of these).  bfloat16 (not kind "f"), ONNX tracing and any failure
        # take apply, which words the error.
        out = _fn.forward_unrecorded(_Linear, xd, wd, None if bias is None else bias._data)
        if out is not None:
            return out
    return _Linear.apply(input, weight, bias)


def _check_linear(input, weight, bias):
    """Raise torch's error for a linear() call that can't run."""
    for i, (name, t) in enumerate((("input", input), ("weight", weight), ("bias", bias))):
        if not isinstance(t, Tensor) and not (name == "bias" and t is None):
            raise not_a_tensor("linear", name, t, i + 1)
    xd, wd = input._data, weight._data
    if xd.ndim == 0 or wd.ndim == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are "
                           f"{xd.ndim}D and {wd.ndim}D")
    if wd.ndim == 1:
        raise RuntimeError("linear(): weight must be 2-D (out_features, in_features), got 1-D")
    if wd.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {wd.ndim}D")
    if xd.shape[-1] != wd.shape[1]:
        rows = math.prod(xd.shape[:-1]) if xd.ndim > 1 else 1
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({rows}x{xd.shape[-1]} and {wd.shape[1]}x{wd.shape[0]})")
    if xd.dtype != wd.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                           f"{_dtype_name(input)} and {_dtype_name(weight)}")
    if bias is not None and bias._data.dtype != xd.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{input.dtype} != {bias.dtype}")
    if bias is not None:
        target = xd.shape[:-1] + wd.shape[:1]
        bs = bias._data.shape
        try:
            ok = np.broadcast_shapes(bs, target) == target  # host
        except ValueError:
            ok = False
        if not ok:
            bad = next((i for i in range(1, len(bs) + 1)
                        if bs[-i] != 1 and (i > len(target) or bs[-i] != target[-i])), 1)
            raise RuntimeError(
                f"The expanded size of the tensor ({target[-bad] if bad <= len(target) else 1}) "
                f"must match the existing size ({bs[-bad]}) at non-singleton dimension "
                f"{len(target) - bad}.  Target sizes: {list(target)}.  Tensor sizes: {list(bs)}")


def bilinear(input1, input2, weight, bias=None):
    """``y[..., k] = input1 @ weight[k] @ input2 + bias[k]``: input1 (*, in1),
    input2 (*, in2), weight (out, in1, in2), bias (out,) -> (*, out).

    Built from matmul/mul/sum, whose gradients compose to any order.
    """
    d1, d2, wd = input1._data, input2._data, weight._data
    if wd.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be three-dimensional, got {wd.ndim}-D")
    if d1.shape[:-1] != d2.shape[:-1]:
        raise RuntimeError(f"bilinear(): input batch dimensions do not match: got "
                           f"{list(d1.shape[:-1])} and {list(d2.shape[:-1])}")
    if d1.shape[-1] != wd.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got "
                           f"{d1.shape[-1]} but expected {wd.shape[1]}")
    if d2.shape[-1] != wd.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got "
                           f"{d2.shape[-1]} but expected {wd.shape[2]}")
    lead = d1.shape[:-1]
    x1 = input1.reshape(-1, wd.shape[1])                 # (N, in1)
    x2 = input2.reshape(-1, wd.shape[2])                 # (N, in2)
    t = x1.unsqueeze(0) @ weight                         # (out, N, in2)
    y = (t * x2.unsqueeze(0)).sum(-1).transpose(0, 1)    # (N, out)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, wd.shape[0])
