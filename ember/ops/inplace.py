"""In-place operations (``add_``, ``x[i] = v`` ...) with torch's autograd rules.

Without recording, an in-place op writes into the tensor's array and bumps
its version counter (shared with its views), which is how a tensor saved for
backward notices it was overwritten.

With recording, the op runs out of place on a snapshot of the old value and
the result is written back; the tensor takes the new node as its grad_fn.
When the tensor is a view, its base is rebased instead (a ``CopySlices``
node: the base's old gradient with the view's region replaced), and the view
becomes a slice of the new base, as torch does.
"""
import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap
from ..autograd.function import Op
from ..autograd.grad_mode import state as _gm


def check_inplace(t):
    """Raise torch's errors for in-place ops autograd can't allow."""
    if t.requires_grad and t.grad_fn is None and _gm.enabled:
        if t._base is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
    b = t._base
    if b is not None and b.requires_grad and b.grad_fn is None and _gm.enabled:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")


def _result_into(t, res_arr, opname):
    """Write an op's result into ``t`` with torch's casting rule for outputs."""
    src = res_arr.dtype
    dst = t._data.dtype
    if src != dst and D._FROM_NP[src].category > D._FROM_NP[dst].category:
        raise RuntimeError(f"result type {_cat_name(src)} can't be cast to the desired output "
                           f"type {_cat_name(dst)}")
    if res_arr.shape != t._data.shape:
        try:
            b = np.broadcast_shapes(res_arr.shape, t._data.shape)
        except ValueError:
            b = None
        if b != t._data.shape:
            raise RuntimeError(f"output with shape {list(t._data.shape)} doesn't match the "
                               f"broadcast shape {list(b if b is not None else res_arr.shape)}")
    if not t._data.flags.writeable:
        raise RuntimeError(f"{opname}: unsupported operation: the tensor's memory is read-only "
                           "(an expanded tensor has overlapping elements; clone() it first)")
    np.copyto(t._data, res_arr, casting="unsafe")


def _cat_name(np_dtype):
    return {"f": "Float", "i": "Long", "u": "Byte", "b": "Bool"}[np_dtype.kind]


def apply_inplace(t, fn, *args, **kwargs):
    """Compute ``fn(t, *args)`` and store it in ``t``; returns ``t``."""
    record = _gm.enabled and (t.requires_grad or any(
        isinstance(a, Tensor) and a.requires_grad for a in args))
    if not record:
        prev = _gm.enabled
        _gm.enabled = False
        try:
            res = fn(t, *args, **kwargs)
        finally:
            _gm.enabled = prev
        _result_into(t, res._data, getattr(fn, "__name__", "op") + "_")
        t._vc[0] += 1
        return t
    check_inplace(t)
    old = _snapshot(t)
    res = fn(old, *args, **kwargs)
    if res._data.dtype != t._data.dtype:
        _result_into(t, res._data, fn.__name__)  # raises if the cast is not allowed
        res = res.to(t.dtype)
    if res._data.shape != t._data.shape:
        if np.broadcast_shapes(res._data.shape, t._data.shape) != t._data.shape:
            raise RuntimeError(f"output with shape {list(t._data.shape)} doesn't match the "
                               f"broadcast shape {list(res._data.shape)}")
        from .shape import expand
        res = expand(res, *t._data.shape)
    _commit(t, res)
    return t


def _snapshot(t):
    """A tensor with a copy of t's current value and t's place in the graph."""
    s = _wrap(t._data.copy(), t.grad_fn, t._out_nr)
    s.requires_grad = t.requires_grad
    if t.grad_fn is None and t.requires_grad:
        s = t  # only reached for leaves under no-record, kept for safety
    return s


def _commit(t, res):
    """Make ``res`` (recorded, same shape/dtype as t) the new value of ``t``."""
    base = t._base
    if base is None or not _shares(base, t):
        np.copyto(t._data, res._data)
        t._vc[0] += 1
        t.grad_fn = res.grad_fn
        t._out_nr = res._out_nr
        t.requires_grad = res.requires_grad
        _refresh_views(t, t)
        return
    # t is a view: rebase its base, then make t a slice of the new base.
    offset, shape, strides = _region(base._data, t._data)
    new_base = CopySlices.apply(base, res, offset, shape, strides)
    base.grad_fn = new_base.grad_fn
    base._out_nr = 0
    base.requires_grad = True
    base._vc[0] += 1
    view = AsStridedView.apply(base, offset, shape, strides)
    t.grad_fn = view.grad_fn
    t._out_nr = 0
    t.requires_grad = True
    _refresh_views(base, t)


def _refresh_views(base, changed):
    """Other live views of ``base`` now read the new values: re-derive their
    grad_fn from the base's new node (torch regenerates it the same way)."""
    views = base._views
    if not views or not base._data.flags.c_contiguous:
        return
    for v in list(views):
        if v is changed or not _shares(base, v):
            continue
        offset, shape, strides = _region(base._data, v._data)
        fresh = AsStridedView.apply(base, offset, shape, strides)
        v.grad_fn = fresh.grad_fn
        v._out_nr = 0
        v.requires_grad = True


def _shares(base, t):
    return np.shares_memory(base._data, t._data) if base._data.size and t._data.size else False


def _region(base_arr, view_arr):
    """Element offset, shape and element strides of ``view_arr`` inside ``base_arr``."""
    if not base_arr.flags.c_contiguous:
        raise RuntimeError("in-place operation on a view of a non-contiguous tensor that "
                           "requires grad is not supported; call .contiguous() first")
    isz = base_arr.itemsize
    off = (view_arr.__array_interface__["data"][0] - base_arr.__array_interface__["data"][0]) // isz
    return off, view_arr.shape, tuple(s // isz for s in view_arr.strides)


def _strided(flat, offset, shape, strides):
    isz = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[offset:], shape=shape,
                                           strides=tuple(s * isz for s in strides))


class CopySlices(Op):
    """base with a strided region replaced by ``src`` (written in place)."""

    @staticmethod
    def forward(ctx, base, src, offset, shape, strides):
        region = _strided(base.reshape(-1), offset, shape, strides)
        np.copyto(region, src)
        ctx.region = (offset, shape, strides)
        return base

    @staticmethod
    def backward(ctx, g):
        from ._bw import data
        g = np.ascontiguousarray(data(g))
        offset, shape, strides = ctx.region
        gsrc = _strided(g.reshape(-1), offset, shape, strides).copy()
        gbase = g.copy()
        _strided(gbase.reshape(-1), offset, shape, strides)[...] = 0
        return gbase, gsrc


class AsStridedView(Op):
    """A strided region of ``base`` as a view (the gradient scatters back)."""

    @staticmethod
    def forward(ctx, base, offset, shape, strides):
        ctx.meta = (base.shape, base.dtype, offset, shape, strides)
        return _strided(base.reshape(-1), offset, shape, strides)

    @staticmethod
    def backward(ctx, g):
        from ._bw import data
        bshape, dt, offset, shape, strides = ctx.meta
        out = np.zeros(bshape, dtype=dt)
        _strided(out.reshape(-1), offset, shape, strides)[...] += data(g)
        return out


def _once(cls):
    from ..autograd.function import once_differentiable
    cls.backward = staticmethod(once_differentiable(cls.backward))
    return cls


_once(CopySlices)
_once(AsStridedView)
