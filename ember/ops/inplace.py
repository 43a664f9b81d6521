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
from .._tensor_base import TensorBase, _wrap
from ..backends import namespace, writeable, ARRAY_TYPES
from ..autograd.function import Op
from ..autograd import function as _function
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
            b = np.broadcast_shapes(res_arr.shape, t._data.shape)  # host
        except ValueError:
            b = None
        if b != t._data.shape:
            raise RuntimeError(f"output with shape {list(t._data.shape)} doesn't match the "
                               f"broadcast shape {list(b if b is not None else res_arr.shape)}")
    check_writable(t)
    if t._data.size:  # (an empty expanded tensor is read-only, and needs nothing)
        namespace(t._data).copyto(t._data, res_arr, casting="unsafe")


OVERLAP_MSG = ("unsupported operation: more than one element of the written-to tensor refers to "
               "a single memory location. Please clone() the tensor before performing the "
               "operation.")


def check_writable(t):
    """torch refuses to write an op's result through a tensor whose elements
    share memory (an expanded one: NumPy hands those out read-only)."""
    d = t._data
    if not writeable(d) and d.size:
        raise RuntimeError(OVERLAP_MSG)


def writable_alias(d):
    """A writable array on the same memory as read-only view ``d`` (an
    expanded tensor), for ops torch allows there (fill_, zero_: every alias of
    an element gets the same value).  Raises torch's error when there is none.

    Read-only views are NumPy's (host memory), so this walks NumPy's views."""
    if writeable(d) or not d.size:
        return d
    if getattr(d.flags, "writeable", None) is None:
        return d        # (a device's array: no read-only flag, written as it is)
    root = d
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.flags.writeable and root.flags.c_contiguous:
        off = d.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        alias = np.ndarray(d.shape, d.dtype, buffer=root.reshape(-1), offset=off,
                           strides=d.strides)
        return alias.view(type(d))  # (of d's own array type: its backend's, if not NumPy's)
    raise RuntimeError(OVERLAP_MSG)


# ---- inputs that overlap the written-to tensor --------------------------------------------
# torch refuses an in-place write whose input shares memory with the output in part
# (``a[1:].copy_(a[:-1])``: its result would depend on the order elements are visited),
# but allows the very same memory (``a.add_(a)``); ops that gather or scatter by index
# (index_copy_, scatter_, put_, ``a[idx] = v``) refuse any overlap.  Like torch's
# get_overlap_status, arrays whose layout is not dense (expanded, strided slices) are
# "too hard" to judge and pass.

PARTIAL_OVERLAP_MSG = ("unsupported operation: some elements of the input tensor and the "
                       "written-to tensor refer to a single memory location. Please clone() the "
                       "tensor before performing the operation.")


def _root(a):
    """The array owning ``a``'s memory (NumPy and CuPy point views at it)."""
    b = a.base
    while isinstance(b, np.ndarray) or type(b) in ARRAY_TYPES:
        a, b = b, b.base
    return a


def _dense(a):
    """torch's is_non_overlapping_and_dense: some order of the dims is contiguous."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return True
    expect = a.itemsize
    for st, n in sorted((st, n) for st, n in zip(a.strides, a.shape) if n != 1):
        if st != expect:
            return False
        expect *= n
    return True


def overlap(out, src):
    """How arrays ``out`` and ``src`` share memory: "full" (the same elements in the same
    layout), "partial", or None (disjoint, or too hard to tell)."""
    if out is src:
        return "full"
    if not (isinstance(out, np.ndarray) and isinstance(src, np.ndarray)) and \
            not (type(out) is type(src) and type(out) in ARRAY_TYPES):
        return None                     # (two kinds of array: two devices' memory)
    if not out.size or not src.size or _root(out) is not _root(src):
        return None
    if not (_dense(out) and _dense(src)):
        return None
    try:
        a0 = out.__array_interface__["data"][0]
        b0 = src.__array_interface__["data"][0]
    except AttributeError:              # (device memory: CuPy's arrays describe it so)
        a0 = out.__cuda_array_interface__["data"][0]
        b0 = src.__cuda_array_interface__["data"][0]
    a1, b1 = a0 + out.nbytes, b0 + src.nbytes
    if a0 == b0 and a1 == b1:
        return "full" if out.strides == src.strides and out.shape == src.shape else "partial"
    return "partial" if a0 < b1 and b0 < a1 else None


def check_overlap(t, args, full_too=False):
    """Raise torch's error when a Tensor among ``args`` shares memory in part with ``t``
    (written in place); with ``full_too``, when it shares any."""
    d = t._data
    for a in args:
        if isinstance(a, TensorBase):
            s = a._data
            if s is not d and d.base is None and s.base is None:
                continue                # (two separate allocations: the common case)
            o = overlap(d, s)
            if o == "partial" or (o and full_too):
                raise RuntimeError(PARTIAL_OVERLAP_MSG)


def _cat_name(np_dtype):
    if np_dtype.kind == "c":
        return D.scalar_name_of(np_dtype)       # ("ComplexFloat", as torch names it)
    return {"f": "Float", "i": "Long", "u": "Byte", "b": "Bool"}[np_dtype.kind]


def apply_inplace(t, fn, *args, **kwargs):
    """Compute ``fn(t, *args)`` and store it in ``t``; returns ``t``."""
    if kwargs.pop("_overlap_ok", False):
        if not writeable(t._data) and t._data.size:
            t._data = writable_alias(t._data)  # (fill_/zero_ write one value to each alias)
    else:
        check_writable(t)
    record = _gm.enabled and (t.requires_grad or any(
        isinstance(a, TensorBase) and a.requires_grad for a in args))
    if not record:
        prev = _gm.enabled
        _gm.enabled = False
        try:
            res = fn(t, *args, **kwargs)
        finally:
            _gm.enabled = prev
        _result_into(t, res._data, getattr(fn, "__name__", "op") + "_")
        t._vc[0] += 1
        if _function._tracer is not None:   # (ONNX export: t now holds res's value)
            _function._tracer.assign(t, res)
        return t
    check_inplace(t)
    old = _snapshot(t)
    res = fn(old, *args, **kwargs)
    if res._data.dtype != t._data.dtype:
        _result_into(t, res._data, fn.__name__)  # raises if the cast is not allowed
        res = res.to(t.dtype)
    if res._data.shape != t._data.shape:
        if np.broadcast_shapes(res._data.shape, t._data.shape) != t._data.shape:  # host
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
        # (an empty view shares nothing but is still a view: the base joins the graph)
        if t._data.size:
            namespace(t._data).copyto(t._data, res._data)
        t._vc[0] += 1
        _adopt_saved(res, t)
        t.grad_fn = res.grad_fn
        t._out_nr = res._out_nr
        t.requires_grad = res.requires_grad
        _refresh_views(t, t)
        return
    # t is a view: rebase its base, then make t a slice of the new base.
    region = _region(base._data, t._data)
    new_base = CopySlices.apply(base, res, region)
    base.grad_fn = new_base.grad_fn
    base._out_nr = 0
    base.requires_grad = True
    base._vc[0] += 1
    _adopt_saved(res, t)
    view = AsStridedView.apply(base, region)
    t.grad_fn = view.grad_fn
    t._out_nr = 0
    t.requires_grad = True
    _refresh_views(base, t)


def _adopt_saved(res, t):
    """If the op that made ``res`` saved its output (exp_, sigmoid_, tanh_ ...
    do), save ``t`` instead: its memory now holds the same values, so res's
    copy can be freed, and its version counter makes a later in-place change
    to ``t`` raise in backward, as torch does."""
    node = res.grad_fn
    info = node._saved_info if node is not None else None
    if info is None or not node._fn._raw:
        return
    saved = list(node._saved)
    for j, e in enumerate(info):
        if e is not None and e[0] == "out" and saved[j] is res._data:
            saved[j] = t._data
            info[j] = ("out", e[1], t._vc, t._vc[0])
    node._saved = tuple(saved)


def _refresh_views(base, changed):
    """Other live views of ``base`` now read the new values: re-derive their
    grad_fn from the base's new node (torch regenerates it the same way)."""
    views = base._views
    if not views:
        return
    for v in views.live():
        if v is changed or not _shares(base, v):
            continue
        fresh = AsStridedView.apply(base, _region(base._data, v._data))
        v.grad_fn = fresh.grad_fn
        v._out_nr = 0
        v.requires_grad = True


def _shares(base, t):
    """Whether ``t`` (a view of ``base``) still lies in base's memory; an
    empty view always does."""
    if not t._data.size:
        return True
    if not base._data.size:
        return False
    return namespace(base._data).shares_memory(base._data, t._data)


def _region(base_arr, view_arr):
    """Where ``view_arr`` lies inside ``base_arr`` (which shares its memory)."""
    isz = base_arr.itemsize
    try:
        off = view_arr.__array_interface__["data"][0] - base_arr.__array_interface__["data"][0]
    except AttributeError:      # (device memory: CuPy's arrays describe it so)
        off = (view_arr.__cuda_array_interface__["data"][0]
               - base_arr.__cuda_array_interface__["data"][0])
    if base_arr.flags.c_contiguous:
        return _Strided(off // isz, view_arr.shape, tuple(st // isz for st in view_arr.strides))
    return _Indexed(base_arr, view_arr, off)


class _Strided:
    """A region of a C-contiguous base: element offset, shape and element
    strides into its flat memory (a stride 0 -- an expanded view -- overlaps)."""

    def __init__(self, offset, shape, strides):
        self.offset, self.shape, self.strides = offset, tuple(shape), tuple(strides)

    def _of(self, arr):
        """The region as a view of ``arr`` (C-contiguous, the base's shape)."""
        isz = arr.itemsize
        return namespace(arr).lib.stride_tricks.as_strided(
            arr.reshape(-1)[self.offset:], shape=self.shape,
            strides=tuple(st * isz for st in self.strides))

    def write(self, base, src):
        namespace(base).copyto(self._of(base), src)

    def read(self, g):
        return self._of(namespace(g).ascontiguousarray(g)).copy()

    def peek(self, arr):
        """The region's values, a view when ``arr`` is C-contiguous."""
        return self._of(namespace(arr).ascontiguousarray(arr))

    def zeroed(self, g):
        out = namespace(g).array(g, order="C")
        self._of(out)[...] = 0
        return out

    def scatter(self, g, bshape):
        xp = namespace(g)
        out = xp.zeros(bshape, dtype=g.dtype)
        if any(st == 0 and n > 1 for n, st in zip(self.shape, self.strides)):
            # an overlapping (expanded) region: elements sharing a place accumulate
            idx = xp.full((), self.offset, np.int64)
            for k, (n, st) in enumerate(zip(self.shape, self.strides)):
                idx = idx + (xp.arange(n, dtype=np.int64) * st).reshape(
                    (n,) + (1,) * (len(self.shape) - k - 1))
            xp.add.at(out.reshape(-1), idx.reshape(-1), xp.ascontiguousarray(g).reshape(-1))
        else:
            self._of(out)[...] = g
        return out


class _Indexed:
    """A region of a base that is not C-contiguous (a transposed tensor, say):
    the index, in the base's logical (C) order, of every element of the view,
    found by matching memory positions."""

    def __init__(self, base_arr, view_arr, off):
        xp = namespace(base_arr)
        isz = base_arr.itemsize
        pos_b = _positions(xp, 0, base_arr.shape, base_arr.strides, isz).reshape(-1)
        pos_v = _positions(xp, off // isz, view_arr.shape, view_arr.strides, isz)
        order = xp.argsort(pos_b, kind="stable")
        at = xp.searchsorted(pos_b[order], pos_v).clip(0, max(pos_b.size - 1, 0))
        if pos_v.size and (pos_b.size == 0 or not xp.array_equal(pos_b[order][at], pos_v)):
            raise RuntimeError("in-place operation on a view whose memory is not inside its "
                               "base's elements is not supported; call .clone() first")
        self.shape = view_arr.shape
        self.index = xp.unravel_index(order[at], base_arr.shape)

    def write(self, base, src):
        base[self.index] = src

    def read(self, g):
        return namespace(g).asarray(g)[self.index]

    peek = read

    def zeroed(self, g):
        out = namespace(g).array(g, order="C")
        out[self.index] = 0
        return out

    def scatter(self, g, bshape):
        out = namespace(g).zeros(bshape, dtype=g.dtype)
        out[self.index] = g    # (no repeats: a view of a tensor is one-to-one here)
        return out


def _positions(xp, offset, shape, byte_strides, isz):
    """Element offsets in memory of every position of an array (an ``xp`` array)."""
    pos = xp.full((), offset, np.int64)
    for k, (n, st) in enumerate(zip(shape, byte_strides)):
        pos = pos + (xp.arange(n, dtype=np.int64) * (st // isz)).reshape(
            (n,) + (1,) * (len(shape) - k - 1))
    return xp.broadcast_to(pos, shape)


class CopySlices(Op):
    """base with a region (a view's elements) replaced by ``src``, written in place."""
    _ctx_fields = ("region",)

    @staticmethod
    def forward(ctx, base, src, region):
        region.write(base, src)
        ctx.region = region
        return base

    @staticmethod
    def backward(ctx, g):
        region = ctx.region
        if not isinstance(g, TensorBase):
            return region.zeroed(g), region.read(g)
        # create_graph: the same maps, recorded (both are linear)
        return _ZeroRegion.apply(g, region), AsStridedView.apply(g, region)


class _ZeroRegion(Op):
    """``g`` with a (non-overlapping) region set to zero: its own adjoint."""
    _ctx_fields = ("region",)
    _node_name = "CopySlicesBackward0"

    @staticmethod
    def forward(ctx, g, region):
        ctx.region = region
        return region.zeroed(g)

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, TensorBase):
            return ctx.region.zeroed(gg)
        return _ZeroRegion.apply(gg, ctx.region)


class AsStridedView(Op):
    """The elements of a region of ``base`` (the gradient scatters back,
    accumulating where the region overlaps itself, as an expanded view does)."""
    _ctx_fields = ("base_shape", "region")
    _node_name = "AsStridedBackward0"

    @staticmethod
    def forward(ctx, base, region):
        ctx.base_shape, ctx.region = base.shape, region
        return region.peek(base)

    @staticmethod
    def backward(ctx, g):
        bshape, region = ctx.base_shape, ctx.region
        if not isinstance(g, TensorBase):
            return region.scatter(g, bshape)
        return _AsStridedScatter.apply(g, bshape, region)


class _AsStridedScatter(Op):
    """The adjoint of AsStridedView: scatter-add ``g`` into zeros of the base's shape."""
    _ctx_fields = ("region",)
    _node_name = "AsStridedBackwardBackward0"

    @staticmethod
    def forward(ctx, g, bshape, region):
        ctx.region = region
        return region.scatter(g, bshape)

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, TensorBase):
            return ctx.region.read(gg)
        return AsStridedView.apply(gg, ctx.region)
