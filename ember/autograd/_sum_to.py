"""Undoing broadcasting: the gradient of a broadcast input is summed back to its shape.

The engine applies it to every gradient whose shape differs from its input's
(so no backward formula has to), and backward formulas call it through
``ember.ops._bw``.  It works on raw arrays (the backend's namespace and
kernels) and on Tensors (``Tensor.sum``, recorded under ``create_graph``).
"""
from .._tensor_base import TensorBase
from ..backends import XP, kernels


_SUM_PLANS = {}


def _sum_plan(gshape, shape):
    """How to sum a gradient of ``gshape`` down to ``shape``: the axes, and
    whether to keep them (only when some inner size-1 axis is reduced;
    leading broadcast axes are simply dropped).  Cached: the same few shape
    pairs recur every training step."""
    key = (gshape, shape)
    plan = _SUM_PLANS.get(key)
    if plan is None:
        lead = len(gshape) - len(shape)
        inner = tuple(i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
        plan = (tuple(range(lead)) + inner, bool(inner))
        if len(_SUM_PLANS) < 4096:
            _SUM_PLANS[key] = plan
    return plan


def sum_to(g, shape):
    """Sum a broadcast gradient down to ``shape`` (NumPy broadcasting undone)."""
    gshape = tuple(g.shape)
    shape = tuple(shape)
    if gshape == shape:
        return g
    axes, keep = _SUM_PLANS.get((gshape, shape)) or _sum_plan(gshape, shape)   # (cached: no call)
    if not axes:
        return g.reshape(shape)
    if not isinstance(g, TensorBase):
        if axes == (0,) and g.ndim == 2:
            r = kernels(g).sum_rows(g)      # (a bias gradient: the backend's fastest column sum)
        else:
            r = XP[type(g)].add.reduce(g, axes, None, None, keep)   # (namespace(g), no call)
        return r.reshape(shape) if r.shape != shape else r
    r = g.sum(dim=axes, keepdim=keep)
    return r.reshape(shape) if tuple(r.shape) != shape else r
