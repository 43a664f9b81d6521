"""Indexing: ``x[...]`` reads and writes, and the gather / scatter / index_* / masked_* ops.

Reading ``x[index]``
  Ints, slices, ``None`` and ``...`` are *basic* indexing: the result is a
  NumPy view, so it shares memory and the version counter with ``x`` (torch's
  views share storage).  Integer / bool tensors, lists and arrays are
  *advanced* indexing and copy.  As in torch, the basic part is applied first
  (ints select, so they never count as advanced indices) and the advanced
  indices then index that view with NumPy's rules, which are torch's: when
  advanced indices are separated by a slice, their dims go first.
Writing ``x[index] = value``
  Without autograd recording it writes straight into the array and bumps the
  version counter; otherwise it runs an index_put out of place through
  ``apply_inplace``, which also rebases views (CopySlices).
Gradients
  A gather's backward scatter-adds into zeros.  Repeated indices accumulate:
  ``add.at`` on *flat* indices hits NumPy's fast 1-D path, several times
  faster than ``add.at`` on an n-d array.  Each gather and its scatter-add
  are two Ops that are each other's backward, so double backward works.
"""
import math
import operator
import warnings

import numpy as np

from .. import _dtype as D
from .._errors import not_a_tensor
from ..backends import namespace, kernels, is_array, writeable, ARRAY_TYPES, XP
from .._tensor_base import TensorBase, _wrap, _dim, _on_device
from ..autograd.function import Op, once_differentiable
from ..autograd.grad_mode import state as _gm
from . import _bw
from ._util import cast, check_broadcast
from .elementwise import _out
from .inplace import apply_inplace, check_overlap
from .._bfloat16 import is_float as _isf

_FULL = slice(None)
_ELL = (Ellipsis,)
_INT_IDX = (np.dtype(np.int64), np.dtype(np.int32))
_I64 = np.dtype(np.int64)

def _own(a):
    """A private copy of an index or mask array kept for backward.  It may be
    a user tensor's memory; changing that tensor in place afterwards must not
    change the gradient (torch raises there; a copy gives the right answer)."""
    if is_array(a):
        return a.copy() if writeable(a) or a.base is not None else a
    if type(a) is tuple:
        return tuple(_own(c) for c in a)
    return a


def _tn(arr):
    """torch's short dtype name (Float, Long...) for messages."""
    return D.scalar_name_of(arr.dtype)


def _np_msg(e):
    """A NumPy indexing error message in torch's words."""
    msg = str(e).replace("for axis", "for dimension")
    return msg.replace("indexing arrays", "indexing tensors")


# ======================================================================================
# parsing an index
# ======================================================================================

def _seq_as_tuple(seq):
    """torch's legacy rule: a short list holding tensors, sequences, slices, None or
    ... is read as a tuple (``x[[0, 1], [2, 3]]`` written as ``x[[[0, 1], [2, 3]]]``)."""
    if len(seq) >= 32:
        return False
    for it in seq:
        if isinstance(it, (TensorBase, list, tuple, slice)) or is_array(it) or it is None \
                or it is Ellipsis:
            return True
    return False


def _check_slice(s):
    step = s.step
    if step is not None:
        step = operator.index(step)
        if step == 0:
            raise ValueError("slice step cannot be zero")
        if step < 0:
            raise ValueError("step must be greater than zero")


def _index_array(it, xp):
    """One non-basic index item -> ('i', int) | ('b', bool) | ('a', int array) | ('m', mask);
    a list becomes an array of namespace ``xp`` (the indexed tensor's)."""
    if isinstance(it, TensorBase):
        a = it._data
        if namespace(a) is not xp:
            a = _index_on_device(a, xp)
    elif is_array(it) or isinstance(it, np.ndarray):  # (NumPy subclasses too: memmap ...)
        # (a host array indexes a device tensor, as a list does; a device's array only
        # its own device's tensors, as an index tensor there: np.asarray refuses CuPy's)
        a = xp.asarray(it) if XP[type(it)] is xp or not _on_device(it) else _index_on_device(it, xp)
    elif isinstance(it, np.integer):
        return "i", int(it)
    elif isinstance(it, (list, tuple, range)):   # (torch reads a range as the list it spans)
        try:
            a = xp.asarray([x._data if isinstance(x, TensorBase) else x for x in it])
        except ValueError:
            raise IndexError("an index list must be rectangular (all rows the same "
                             "length)") from None
        if a.size == 0:
            a = a.astype(np.int64)
        elif _isf(a.dtype):
            a = a.astype(np.int64)  # torch turns a list of floats into a long index, too
    elif isinstance(it, int) or hasattr(type(it), "__index__") and not isinstance(it, float):
        return "i", operator.index(it)  # int subclasses (IntEnum...) and index-like objects
    else:
        mod = type(it).__module__
        name = type(it).__name__ if mod == "builtins" else f"{mod}.{type(it).__name__}"
        if isinstance(it, str):
            raise TypeError(f"new(): invalid data type '{name}'")
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                         f"Variables are valid indices (got {name})")
    dt = a.dtype
    if dt in _INT_IDX:
        if a.ndim == 0:
            return "i", int(a)
        return "a", a
    if dt.kind == "b" or dt == np.uint8:
        if dt == np.uint8:
            warnings.warn("indexing with dtype uint8 is now deprecated, please use a dtype bool "
                          "instead.", UserWarning, stacklevel=4)
            a = a.astype(np.bool_)
        if a.ndim == 0:
            return "b", bool(a)
        return "m", a
    raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


def _index_on_device(a, xp):
    """An index tensor's array on another device than the indexed tensor's: as
    torch, CPU indices may index a tensor on any device (copied there, as a
    list would be); indices on an accelerator may index only that device."""
    if type(a) is np.ndarray:
        return xp.asarray(a)
    raise RuntimeError("indices should be either on cpu or on the same device as the "
                       "indexed tensor (cpu)" if xp is np else
                       "indices should be either on cpu or on the same device as the "
                       "indexed tensor")


def _basic_tuple(index, shape):
    """The fast path for a tuple of ints and slices (``x[:, 1:3]``, ``x[0, 1]``):
    the NumPy basic index, or None when the tuple holds anything else."""
    if len(index) > len(shape):
        return None
    for k, it in enumerate(index):
        t = type(it)
        if t is int:
            n = shape[k]
            if it < -n or it >= n:
                return None
        elif t is not slice or it.step is not None:
            return None
    return index + _ELL


def _parse(index, shape, xp):
    """torch's index -> (basic, adv), for a tensor of ``shape`` whose arrays
    are of namespace ``xp``.

    ``basic``: a tuple for NumPy basic indexing (a view; it ends in ``...`` so
    even an all-int index gives a 0-d view, not a NumPy scalar), or None when
    the basic part is the identity.  ``adv``: None, or a tuple over the dims
    of the basic result holding full slices and index arrays / bool masks.
    """
    if not isinstance(index, tuple):
        if type(index) is list and _seq_as_tuple(index):
            warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated; "
                          "use x[tuple(seq)] instead of x[seq].", UserWarning, stacklevel=3)
            index = tuple(index)
        else:
            index = (index,)
    ndim = len(shape)
    items = []
    used = 0
    for it in index:
        t = type(it)
        if t is int:
            items.append(("i", it))
            used += 1
        elif t is slice:
            _check_slice(it)
            items.append(("s", it))
            used += 1
        elif it is None:
            items.append(("n", None))
        elif it is Ellipsis:
            items.append(("e", None))
        elif t is bool:
            items.append(("b", it))
        else:
            kind, v = _index_array(it, xp)
            items.append((kind, v))
            if kind == "m":
                used += v.ndim
            elif kind != "b":
                used += 1
    if used > ndim:
        if ndim == 0 and any(k == "i" for k, _ in items):
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    basic = []
    adv = []            # (dim in the basic result, array, dims it covers)
    plain = True        # the basic part is the identity
    sd = rd = 0         # source dim, result dim
    ell_done = False
    for j, (kind, v) in enumerate(items):
        if kind == "s":
            basic.append(v)
            sd += 1
            rd += 1
            if v.start is not None or v.stop is not None or v.step is not None:
                plain = False
        elif kind == "i":
            n = shape[sd]
            if v < -n or v >= n:
                raise IndexError(f"index {v} is out of bounds for dimension {sd} with size {n}")
            basic.append(v)
            sd += 1
            plain = False
        elif kind == "a":
            basic.append(_FULL)
            adv.append((rd, v, 1))
            sd += 1
            rd += 1
        elif kind == "m":
            k = v.ndim
            for j in range(k):
                if v.shape[j] != shape[sd + j]:
                    raise IndexError(f"The shape of the mask {list(v.shape)} at index {j} does not "
                                     f"match the shape of the indexed tensor {list(shape)} at "
                                     f"index {sd + j}")
            basic.extend([_FULL] * k)
            adv.append((rd, v, k))
            sd += k
            rd += k
        elif kind == "n":
            basic.append(None)
            rd += 1
            plain = False
        elif kind == "b":
            # a Python bool: an unsqueezed dim indexed by [0] or [] (torch's rule)
            basic.append(None)
            adv.append((rd, xp.zeros(1 if v else 0, np.int64), 1))
            rd += 1
            plain = False
        else:  # Ellipsis: the first one takes the dims nobody else claims
            if ell_done:
                # torch tolerates a trailing repeat (x[..., ...]) and fails on the rest
                if all(kk == "e" for kk, _ in items[j:]):
                    continue
                raise IndexError("an index can only have a single ellipsis ('...')")
            k = ndim - used
            ell_done = True
            basic.extend([_FULL] * k)
            sd += k
            rd += k
    if adv:
        a = []
        r = 0
        for pos, arr, k in adv:
            a.extend([_FULL] * (pos - r))
            a.append(arr)
            r = pos + k
        adv = tuple(a)
    else:
        adv = None
    return (None if plain else tuple(basic) + _ELL), adv


# ======================================================================================
# scatter-add kernels (the gradient of every gather)
# ======================================================================================

def _cstrides(shape):
    st = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        st[k] = st[k + 1] * shape[k + 1]
    return st


def _wrap_neg(idx, n):
    """Negative indices as positive ones (flat index arithmetic needs them)."""
    if idx.size and idx.min() < 0:
        return namespace(idx).where(idx < 0, idx + n, idx)
    return idx


def _add_at_dim(out, dim, idx, src):
    """``out[..., idx[j], ...] += src[..., j, ...]`` along ``dim`` (idx 1-D);
    repeated indices accumulate."""
    if out.size == 0:
        return  # (then src is empty too; the flat indexing below can't say so)
    xp = namespace(out)
    if src.dtype != out.dtype:
        src = src.astype(out.dtype)
    if out.ndim == 1:
        xp.add.at(out, idx, src)
        return
    if not out.flags.c_contiguous:
        xp.add.at(out, (_FULL,) * dim + (idx,), src)
        return
    shape = out.shape
    n = shape[dim]
    post = math.prod(shape[dim + 1:])
    pre = out.size // (n * post) if n * post else 0
    lin = _wrap_neg(idx, n).astype(np.int64, copy=False) * post
    if post > 1:
        lin = lin[:, None] + xp.arange(post)
    if pre > 1:
        lin = (xp.arange(pre) * (n * post)).reshape((pre,) + (1,) * lin.ndim) + lin
    xp.add.at(out.reshape(-1), lin.reshape(-1), xp.ascontiguousarray(src).reshape(-1))


def _lin(shape, dim, idx):
    """Flat positions, in a C-contiguous array of ``shape``, of the elements a
    gather / scatter along ``dim`` with ``idx`` touches (shape of idx)."""
    xp = namespace(idx)
    st = _cstrides(shape)
    lin = xp.multiply(idx, st[dim], dtype=np.int64)
    nd = idx.ndim
    for k in range(nd):
        if k != dim and idx.shape[k] > 1:
            lin += (xp.arange(idx.shape[k]) * st[k]).reshape((-1,) + (1,) * (nd - 1 - k))
    return lin


def _grid(dim, idx):
    """The n-d fancy index of the elements a gather / scatter along ``dim`` touches:
    ``idx`` at ``dim`` and an open grid of aranges elsewhere."""
    xp = namespace(idx)
    shp = idx.shape
    nd = len(shp)
    out = []
    for k in range(nd):
        if k == dim:
            out.append(idx)
        else:
            a = xp.arange(shp[k])
            out.append(a if k == nd - 1 else a.reshape((shp[k],) + (1,) * (nd - 1 - k)))
    return tuple(out)


def _where_in(out, dim, idx):
    """(target, where) so that ``target[where]`` are the elements a scatter along
    ``dim`` writes, as a flat vector when ``out`` is contiguous."""
    if out.flags.c_contiguous:
        return out.reshape(-1), _lin(out.shape, dim, idx).reshape(-1)
    return out, _grid(dim, idx)


def _scatter_add_zeros(shape, dim, idx, g):
    xp = namespace(g)
    z = xp.zeros(shape, g.dtype)
    xp.add.at(z.reshape(-1), _lin(shape, dim, idx).reshape(-1), xp.ascontiguousarray(g).reshape(-1))
    return z


# ======================================================================================
# x[index]
# ======================================================================================

class Slice(Op):
    """Basic indexing (ints, slices, None): a view of the input."""
    _ctx_fields = ("x_shape", "basic")
    _node_name = "SliceBackward0"
    _view = True

    @staticmethod
    def forward(ctx, x, basic):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.basic = x.shape, basic
        return x[basic]

    @staticmethod
    def backward(ctx, g):
        shape, basic = ctx.x_shape, ctx.basic
        if not isinstance(g, TensorBase):
            z = namespace(g).zeros(shape, g.dtype)
            z[basic] = g
            return z
        return _SliceBackward.apply(g, shape, basic)


class Select(Slice):
    _node_name = "SelectBackward0"


class _SliceBackward(Op):
    """Zeros of ``shape`` with ``g`` written at a basic index (Slice's adjoint)."""
    _ctx_fields = ("basic",)
    _node_name = "SliceBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, basic):
        if ctx.needs_input_grad:
            ctx.basic = basic
        z = namespace(g).zeros(shape, g.dtype)
        z[basic] = g
        return z

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, TensorBase):
            return gg[ctx.basic]
        return Slice.apply(gg, ctx.basic)


def _adv_get(x, adv):
    if len(adv) == 1:
        a = adv[0]
        if a.dtype.kind != "b":
            return namespace(x).take(x, a, axis=0)
    return x[adv]


def _single_int(adv):
    """Position of the only index array in ``adv`` when it is an integer array."""
    p = len(adv) - 1
    a = adv[p]
    if a.dtype.kind == "b":
        return -1
    for s in adv[:p]:
        if type(s) is not slice:
            return -1
    return p


def _adv_put_zeros(shape, adv, g):
    """Zeros of ``shape`` with ``g`` scatter-added at advanced index ``adv``."""
    xp = namespace(g)
    z = xp.zeros(shape, g.dtype)
    p = _single_int(adv)
    if p >= 0:
        a = adv[p]
        _add_at_dim(z, p, a.reshape(-1), g.reshape(shape[:p] + (a.size,) + shape[p + 1:]))
    elif sum(type(s) is not slice for s in adv) == 1:
        z[adv] = g  # a lone mask: every position is hit once
    else:
        xp.add.at(z, adv, g)
    return z


class AdvIndex(Op):
    """Advanced indexing with NumPy's rules (a copy).  ``index_tensors`` are
    the tensors the index was written with (a mask, an index tensor): saved,
    so that changing one in place before backward raises, as in torch."""
    _ctx_fields = ("x_shape", "adv")
    _node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x, adv, *index_tensors):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.adv = x.shape, _own(adv)
            ctx.save_for_backward(*index_tensors)
        return _adv_get(x, adv)

    @staticmethod
    def backward(ctx, g):
        ctx.saved_tensors           # (raises if an index tensor was changed in place)
        shape, adv = ctx.x_shape, ctx.adv
        if not isinstance(g, TensorBase):
            return _adv_put_zeros(shape, adv, g)
        return _AdvIndexBackward.apply(g, shape, adv)


class _AdvIndexBackward(Op):
    _ctx_fields = ("adv",)
    _node_name = "IndexBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, adv):
        if ctx.needs_input_grad:
            ctx.adv = adv
        return _adv_put_zeros(shape, adv, g)

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, TensorBase):
            return _adv_get(gg, ctx.adv)
        return _adv(gg, ctx.adv)


def _adv(x, adv, index_tensors=()):
    try:
        return AdvIndex.apply(x, adv, *index_tensors)
    except IndexError as e:
        raise IndexError(_np_msg(e)) from None


def _tensors_in(index):
    """The tensors an index expression holds (``x[m]``, ``x[:, i]``)."""
    if isinstance(index, TensorBase):
        return (index,)
    if type(index) is tuple or type(index) is list:
        return tuple(i for i in index if isinstance(i, TensorBase))
    return ()


def getitem(self, index):
    """``self[index]``: a view for basic indices, a copy for advanced ones."""
    t = type(index)
    if t is int:
        shp = self._data.shape
        if shp and -shp[0] <= index < shp[0]:
            return Select.apply(self, (index, Ellipsis))
    elif t is slice:
        if index.step is None and self._data.ndim:
            return Slice.apply(self, (index,))
    elif t is tuple:
        basic = _basic_tuple(index, self._data.shape)
        if basic is not None:
            return Slice.apply(self, basic)
    elif isinstance(index, TensorBase):
        d = index._data
        if d.ndim and d.dtype in _INT_IDX and self._data.ndim and type(d) is type(self._data):
            return _adv(self, (d,), (index,))
    basic, adv = _parse(index, self._data.shape, namespace(self._data))
    if basic is None:
        if adv is None:
            return Slice.apply(self, _ELL)
        return _adv(self, adv, _tensors_in(index))
    out = Slice.apply(self, basic)
    return out if adv is None else _adv(out, adv, _tensors_in(index))


# ======================================================================================
# x[index] = value, index_put
# ======================================================================================

def _adv_add(region, adv, v):
    """``region[adv] += v`` with repeated indices accumulating."""
    xp = namespace(region)
    p = _single_int(adv)
    if p >= 0:
        a = adv[p]
        shp = region.shape
        rshape = shp[:p] + a.shape + shp[p + 1:]
        v = xp.broadcast_to(_strip_ones(xp.asarray(v, dtype=region.dtype), len(rshape)), rshape)
        _add_at_dim(region, p, a.reshape(-1), v.reshape(shp[:p] + (a.size,) + shp[p + 1:]))
    elif sum(type(s) is not slice for s in adv) == 1:
        region[adv] += _strip_ones(xp.asarray(v), region[adv].ndim)
    else:
        xp.add.at(region, adv, _strip_ones(xp.asarray(v), region[adv].ndim))


def _strip_ones(v, ndim):
    """Drop leading size-1 dims beyond ``ndim`` (torch and NumPy allow them in a value)."""
    while v.ndim > ndim and v.shape[0] == 1:
        v = v[0]
    return v


def _put_into(out, basic, adv, v, accumulate):
    """Write (or add) ``v`` into ``out`` at ``out[basic][adv]``."""
    xp = namespace(out)
    region = out if basic is None else out[basic]
    if adv is None:
        if accumulate:
            region += _strip_ones(xp.asarray(v), region.ndim)
        else:
            region[...] = v
    elif accumulate:
        _adv_add(region, adv, v)
    else:
        region[adv] = _strip_ones(xp.asarray(v), 0)  # (NumPy refuses (1, 1) for a mask)


def _put_error(e, arr, basic, adv, v):
    """Turn NumPy's assignment errors into torch's."""
    msg = str(e)
    if "read-only" in msg:
        return RuntimeError("unsupported operation: more than one element of the written-to tensor "
                            "refers to a single memory location. Please clone() the tensor before "
                            "performing the operation.")
    if isinstance(e, IndexError):
        return IndexError(_np_msg(e))
    if "broadcast" not in msg and "shape" not in msg and "values" not in msg:
        return e  # not a shape problem (a value NumPy can't convert, ...): keep it
    region = arr if basic is None else arr[basic]
    if adv is not None:
        region = region[adv]
    return RuntimeError(f"shape mismatch: value tensor of shape {list(_shape_of(v))} cannot be "
                        f"broadcast to indexing result of shape {list(region.shape)}")


def _shape_of(v):
    """The shape of a value: an array's, or a number's / nested list's."""
    return v.shape if hasattr(v, "shape") else np.shape(v)  # host (a number or a list)


def _reduce_to(r, vshape):
    """The value's gradient: ``r`` (the indexed region's) summed to ``vshape``."""
    if tuple(r.shape) == tuple(vshape):
        return r
    k = len(vshape) - r.ndim
    if k <= 0:
        return _bw.sum_to(r, vshape)
    return _bw.sum_to(r, vshape[k:]).reshape(vshape)


class IndexPut(Op):
    """``x`` with ``v`` written (or added) at ``[basic][adv]``; out of place."""
    _ctx_fields = ("basic", "adv", "accumulate", "v_shape")
    _node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, v, basic, adv, accumulate, *index_tensors):
        out = x.copy()
        _put_into(out, basic, adv, v, accumulate)
        if ctx.needs_input_grad:
            ctx.basic, ctx.adv, ctx.accumulate = basic, _own(adv), accumulate
            ctx.v_shape = _shape_of(v)
            ctx.save_for_backward(*index_tensors)   # (as AdvIndex's)
        return out

    @staticmethod
    def backward(ctx, g):
        ctx.saved_tensors           # (raises if an index tensor was changed in place)
        basic, adv, acc, vshape = ctx.basic, ctx.adv, ctx.accumulate, ctx.v_shape
        need = ctx.needs_input_grad
        gx = gv = None
        nd = not isinstance(g, TensorBase)
        if need[0]:
            if acc:
                gx = g
            elif nd:
                gx = g.copy()
                _put_into(gx, basic, adv, 0, False)
            else:
                gx = IndexPut.apply(g, 0, basic, adv, False)
        if need[1]:
            r = g
            if basic is not None:
                r = r[basic] if nd else Slice.apply(r, basic)
            if adv is not None:
                r = _adv_get(r, adv) if nd else _adv(r, adv)
            gv = _reduce_to(r, vshape)
        return gx, gv


class _CopySlices(IndexPut):
    """Setitem with a basic index (torch names the node CopySlices)."""
    _node_name = "CopySlices"


def _leaf_check(t, view_msg):
    if t.requires_grad and t.grad_fn is None and _gm.enabled:
        raise RuntimeError(("a view of a leaf Variable" if view_msg else "a leaf Variable") +
                           " that requires grad is being used in an in-place operation.")


def setitem(self, index, value):
    """``self[index] = value``: value is a number, a Tensor (broadcast and cast to
    self's dtype), a list or an array."""
    t = type(index)
    d = self._data
    if t is int and d.ndim and -d.shape[0] <= index < d.shape[0]:
        basic, adv = (index, Ellipsis), None
    elif t is slice and index.step is None and d.ndim:
        basic, adv = (index,), None
    else:
        basic = _basic_tuple(index, d.shape) if t is tuple else None
        if basic is None:
            basic, adv = _parse(index, d.shape, namespace(d))
        else:
            adv = None
    vt = isinstance(value, TensorBase)
    if vt and adv is not None and value._data.dtype != d.dtype:
        _adv_value_dtype(d, adv, value._data)
    if vt:
        _setitem_overlap(self, basic, adv, value)
    if _gm.enabled and (self.requires_grad or vt and value.requires_grad):
        _setitem_recorded(self, basic, adv, value, _tensors_in(index))
        return
    v = value._data if vt else value
    if type(v) in _PYNUM:
        v = _setitem_scalar(v, d.dtype)
    try:
        if adv is None:
            d[_ELL if basic is None else basic] = v
        else:
            # (torch drops a value's leading 1s; NumPy may not)
            w = _strip_ones(namespace(d).asarray(v), 0)
            if basic is None:
                d[adv] = w
            else:
                d[basic][adv] = w
    except (ValueError, IndexError) as e:
        raise _put_error(e, d, basic, adv, v) from None
    self._vc[0] += 1


_PYNUM = (bool, int, float)


def _setitem_scalar(v, np_dtype):
    """A number stored by ``t[i] = v``: torch reads an int as int64, then refuses a
    value ``t``'s dtype cannot hold (200 for int8)."""
    if type(v) is int and not -(1 << 63) <= v < (1 << 63):
        raise ValueError("Overflow when unpacking long long")
    return D.checked_fill(v, np_dtype, 1)     # (as a one-element tensor: float16 unchecked)


def _setitem_overlap(self, basic, adv, value):
    """torch's overlap rules for ``self[index] = value``: a basic index copies into a
    view (the value may not overlap it in part); an advanced one is an index_put_ (the
    value may not overlap self at all), except a one-element value under a lone mask (a
    masked_fill_, which reads it as a number)."""
    d, v = self._data, value._data
    if (not isinstance(d, np.ndarray) or not isinstance(v, np.ndarray)) and \
            not (type(d) is type(v) and type(d) in ARRAY_TYPES):
        return                  # (two kinds of array: two devices' memory)
    if adv is None:
        check_overlap(_wrap(d[_ELL if basic is None else basic]), (value,))
    elif not (v.size == 1 and len(adv) == 1 and adv[0].dtype == np.bool_):
        check_overlap(self, (value,), full_too=True)


def _adv_value_dtype(d, adv, v):
    """torch's advanced setitem wants the value's dtype to match, except for a
    one-element value under a lone bool mask (a masked_fill)."""
    if v.size == 1 and len(adv) == 1 and adv[0].dtype == np.bool_:
        return
    raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                       f"{_tn(d)} for the destination and {_tn(v)} for the source.")


def _setitem_recorded(self, basic, adv, value, index_tensors=()):
    _leaf_check(self, adv is None)
    dt = self._data.dtype
    if isinstance(value, TensorBase):
        if value._data.dtype != dt:
            value = cast(value, D._FROM_NP[dt])
    else:
        if type(value) in _PYNUM:
            value = _setitem_scalar(value, dt)
        value = namespace(self._data).asarray(value, dtype=dt)
    op = _CopySlices if adv is None else IndexPut
    try:
        apply_inplace(self, op.apply, value, basic, adv, False, *index_tensors)
    except (ValueError, IndexError) as e:
        raise _put_error(e, self._data, basic, adv,
                         value._data if isinstance(value, TensorBase) else value) from None


def _put_indices(input, indices):
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): argument 'indices' must be tuple of Tensors, not "
                        f"{type(indices).__name__}")
    for k, i in enumerate(indices):
        if not isinstance(i, TensorBase):
            raise TypeError(f"expected Tensor as element {k} in argument 0, but got "
                            f"{type(i).__name__}")
    shape = input._data.shape
    n = len(indices)
    used = sum(i._data.ndim if i._data.dtype.kind == "b" else 1 for i in indices)
    if used > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)} (got {n})")
    return _parse(tuple(indices), shape, namespace(input._data))


def _check_values(input, values):
    if not isinstance(values, TensorBase):
        raise not_a_tensor("index_put", "values", values)
    if values._data.dtype != input._data.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{_tn(input._data)} for the destination and {_tn(values._data)} for "
                           "the source.")


def index_put(input, indices, values, accumulate=False):
    """``input`` with ``values`` put at ``input[indices]`` (a tuple of index tensors);
    ``accumulate=True`` adds instead, repeated indices accumulating."""
    basic, adv = _put_indices(input, indices)
    _check_values(input, values)
    op = _CopySlices if adv is None else IndexPut
    try:
        return op.apply(input, values, basic, adv, bool(accumulate))
    except (ValueError, IndexError) as e:
        raise _put_error(e, input._data, basic, adv, values._data) from None


def index_put_(input, indices, values, accumulate=False):
    """In-place :func:`index_put`."""
    if _gm.enabled and (input.requires_grad or values.requires_grad):
        return apply_inplace(input, index_put, indices, values, accumulate)
    basic, adv = _put_indices(input, indices)
    _check_values(input, values)
    try:
        _put_into(input._data, basic, adv, values._data, bool(accumulate))
    except (ValueError, IndexError) as e:
        raise _put_error(e, input._data, basic, adv, values._data) from None
    input._vc[0] += 1
    return input


# ======================================================================================
# gather / scatter
# ======================================================================================

def _index_dtype(index, op, allow32=True):
    if not isinstance(index, TensorBase):
        raise not_a_tensor(op, "index", index)
    dt = index._data.dtype
    if dt == _I64 or allow32 and dt == np.int32:
        return index._data
    raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index")


def _check_bounds(idx, n, dim, exc=RuntimeError, prefix=""):
    """Raise when an index is outside [0, n) (gather/scatter accept no negatives)."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise exc(f"{prefix}index {bad} is out of bounds for dimension {dim} with size {n}")


def _scalarish(input, index, src=None):
    """gather/scatter on a 0-d tensor or with a 0-d index work as 1-element 1-d."""
    return input._data.ndim <= 1 and index._data.ndim <= 1 and \
        (src is None or src._data.ndim <= 1) and \
        (input._data.ndim == 0 or index._data.ndim == 0 or src is not None and src._data.ndim == 0)


def _gather_np(x, dim, idx):
    # an open grid of aranges: faster than np.take_along_axis on small arrays, and
    # index may be smaller than x in the other dims
    return x[_grid(dim, idx)]


class Gather(Op):
    """``out[i][j] = x[idx[i][j]][j]`` (for dim 0), any number of dims."""
    _ctx_fields = ("x_shape", "dim", "idx")

    @staticmethod
    def forward(ctx, x, dim, idx):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.dim, ctx.idx = x.shape, dim, _own(idx)
            # Only x's shape is needed, but torch saves x itself: changing it in
            # place before backward raises there, so it must here too.
            ctx.save_for_backward(x)
        return _gather_np(x, dim, idx)

    @staticmethod
    def backward(ctx, g):
        ctx.saved_tensors           # (the version check)
        shape, dim, idx = ctx.x_shape, ctx.dim, ctx.idx
        if not isinstance(g, TensorBase):
            return _scatter_add_zeros(shape, dim, idx, g)
        return _GatherBackward.apply(g, shape, dim, idx)


class _GatherBackward(Op):
    """Zeros with ``g`` scatter-added along ``dim`` (Gather's adjoint)."""
    _ctx_fields = ("dim", "idx")
    _node_name = "GatherBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, dim, idx):
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx = dim, idx
        return _scatter_add_zeros(shape, dim, idx, g)

    @staticmethod
    def backward(ctx, gg):
        return _gather_any(gg, ctx.dim, ctx.idx)


def gather(input, dim, index, *, sparse_grad=False, out=None):
    """Values of ``input`` along ``dim`` at ``index`` (same ndim; result has index's shape)."""
    idx = _index_dtype(index, "gather")
    x = input._data
    if x.ndim != idx.ndim:
        if _scalarish(input, index):
            _dim(dim, 1)
            r = gather(input.reshape(-1), 0, index.reshape(-1))
            return _out(r.reshape(idx.shape), out)
        if idx.size == 0:  # torch takes an empty index of any rank
            _dim(dim, max(x.ndim, 1))
            return _out(input.reshape(-1)[:0].clone().reshape(idx.shape), out)
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    nd = x.ndim
    if nd == 0:
        _dim(dim, 0)
        return _out(gather(input.reshape(1), 0, index.reshape(1)).reshape(()), out)
    d = _dim(dim, nd)
    if idx.shape != x.shape:
        for k in range(nd):
            if k != d and idx.shape[k] > x.shape[k]:
                raise RuntimeError(f"Size does not match at dimension {k} expected index "
                                   f"{list(idx.shape)} to be no larger than self {list(x.shape)} "
                                   f"apart from dimension {d}")
    return _out(_checked(Gather, input, d, idx, x.shape[d]), out)


def _checked(op, input, d, idx, n, exc=RuntimeError, prefix=""):
    """``op.apply(input, d, idx)`` for a gather whose NumPy kernel raises IndexError
    for too-large indices; negative ones (which NumPy would wrap) are refused first.
    One reduction on the hot path instead of two."""
    if idx.size and idx.min() < 0:
        _check_bounds(idx, n, d, exc, prefix)
    try:
        return op.apply(input, d, idx)
    except IndexError:
        _check_bounds(idx, n, d, exc, prefix)
        raise


def _scatter_checks(input, dim, index, src):
    """Validate a scatter's arguments; returns (dim, idx array, src values)."""
    idx = _index_dtype(index, "scatter")
    x = input._data
    nd = x.ndim
    d = _dim(dim, nd)
    if idx.ndim != nd:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if isinstance(src, TensorBase):
        s = src._data
        if s.ndim != nd:
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
        if s.dtype != x.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        bad = any(idx.shape[k] > s.shape[k] or k != d and idx.shape[k] > x.shape[k]
                  for k in range(nd))
        if bad:
            raise RuntimeError(f"Expected index {list(idx.shape)} to be no larger than self "
                               f"{list(x.shape)} apart from dimension {d} and to be no larger size "
                               f"than src {list(s.shape)}")
        if s.shape != idx.shape:
            s = s[tuple(slice(0, n) for n in idx.shape)]
    else:
        if any(k != d and idx.shape[k] > x.shape[k] for k in range(nd)):
            raise RuntimeError(f"Expected index {list(idx.shape)} to be no larger than self "
                               f"{list(x.shape)} apart from dimension {d}")
        s = src
    _check_bounds(idx, x.shape[d], d)
    return d, idx, s


def _scatter_kernel(out, dim, idx, vals, reduce):
    """Write ``vals`` (index-shaped array or a number) into ``out`` along ``dim``."""
    tgt, where = _where_in(out, dim, idx)
    if is_array(vals) and tgt.ndim == 1:
        vals = vals.reshape(-1)
    if reduce is None:
        tgt[where] = vals
    elif reduce == "add":
        namespace(out).add.at(tgt, where, vals)
    else:
        kernels(out).scatter_multiply(tgt, where, vals)


def _gather_any(g, dim, idx):
    if not isinstance(g, TensorBase):
        return _gather_np(g, dim, idx)
    return Gather.apply(g, dim, idx)


class Scatter(Op):
    _ctx_fields = ("dim", "idx", "reduce")
    @staticmethod
    def forward(ctx, x, src, dim, idx, reduce):
        out = x.copy()
        _scatter_kernel(out, dim, idx, src, reduce)
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx, ctx.reduce = dim, _own(idx), reduce
        return out

    @staticmethod
    def backward(ctx, g):
        dim, idx = ctx.dim, ctx.idx
        if ctx.reduce is not None:
            raise RuntimeError("the derivative for 'scatter' with reduce is not implemented; "
                               "use scatter_reduce")
        need = ctx.needs_input_grad
        gx = gs = None
        if need[0]:
            if not isinstance(g, TensorBase):
                gx = g.copy()
                _scatter_kernel(gx, dim, idx, 0, None)
            else:
                gx = Scatter.apply(g, 0, dim, idx, None)
        if need[1]:
            gs = _gather_any(g, dim, idx)
        return gx, gs


def _scatter_apply(op, input, src, d, idx, s, *extra):
    """Run a scatter Op passing src as a Tensor (for its gradient) sliced to index shape."""
    if isinstance(src, TensorBase):
        if s is not src._data:
            src_t = Slice.apply(src, tuple(slice(0, n) for n in idx.shape) + _ELL)
        else:
            src_t = src
        return op.apply(input, src_t, d, idx, *extra)
    return op.apply(input, s, d, idx, *extra)


def scatter(input, dim, index, src=None, value=None, *, reduce=None, out=None):
    """``input`` with ``src`` (a tensor, or a number ``value``) written along ``dim``
    at ``index``; ``reduce='add'|'multiply'`` combines instead of overwriting."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing required argument 'src' or 'value'")
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    if _scalarish(input, index, src if isinstance(src, TensorBase) else None):
        _dim(dim, 1)
        s1 = src.reshape(-1) if isinstance(src, TensorBase) else src
        r = scatter(input.reshape(-1), 0, index.reshape(-1), s1, reduce=reduce)
        return _out(r.reshape(input._data.shape), out)
    d, idx, s = _scatter_checks(input, dim, index, src)
    if not isinstance(src, TensorBase):
        s = namespace(input._data).asarray(s).astype(input._data.dtype)
    return _out(_scatter_apply(Scatter, input, src, d, idx, s, reduce), out)


class ScatterAdd(Op):
    _ctx_fields = ("dim", "idx")
    @staticmethod
    def forward(ctx, x, src, dim, idx):
        out = x.copy()
        _scatter_kernel(out, dim, idx, src, "add")
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx = dim, _own(idx)
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        return (g if need[0] else None), (_gather_any(g, ctx.dim, ctx.idx) if need[1] else None)


def scatter_add(input, dim, index, src):
    """``input`` with ``src`` added along ``dim`` at ``index`` (repeats accumulate)."""
    if not isinstance(src, TensorBase):
        raise not_a_tensor("scatter_add", "src", src)
    if _scalarish(input, index, src):
        _dim(dim, 1)
        r = scatter_add(input.reshape(-1), 0, index.reshape(-1), src.reshape(-1))
        return r.reshape(input._data.shape)
    d, idx, s = _scatter_checks(input, dim, index, src)
    return _scatter_apply(ScatterAdd, input, src, d, idx, s)


_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce_fwd(out, dim, idx, src, reduce, include_self):
    """The scatter_reduce kernel, in place on ``out``; returns the per-position
    counts for 'mean' (None otherwise)."""
    xp = namespace(out)
    tgt, where = _where_in(out, dim, idx)
    vals = src.reshape(-1) if tgt.ndim == 1 else src
    dt = out.dtype
    if not include_self:
        if reduce in ("sum", "mean"):
            init = 0
        elif reduce == "prod":
            init = 1
        elif _isf(dt):
            init = -math.inf if reduce == "amax" else math.inf
        elif dt.kind == "b":
            init = reduce == "amin"
        else:
            info = np.iinfo(dt)
            init = info.min if reduce == "amax" else info.max
        tgt[where] = init
    if reduce in ("sum", "mean"):
        xp.add.at(tgt, where, vals)
    elif reduce == "prod":
        kernels(tgt).scatter_multiply(tgt, where, vals)
    elif reduce == "amax":
        xp.maximum.at(tgt, where, vals)
    else:
        xp.minimum.at(tgt, where, vals)
    if reduce != "mean":
        return None
    cnt = xp.zeros(out.shape, np.int64)
    ct, cw = _where_in(cnt, dim, idx)
    xp.add.at(ct, cw, 1)
    if include_self:
        cnt += 1
    div = xp.maximum(cnt, 1)
    if _isf(dt):
        out /= div
    else:
        xp.floor_divide(out, div, out=out, casting="unsafe")
    return cnt


class ScatterReduce(Op):
    _ctx_fields = ("x", "src", "out", "cnt", "dim", "idx", "reduce", "include_self")
    @staticmethod
    def forward(ctx, x, src, dim, idx, reduce, include_self):
        out = x.copy()
        cnt = _scatter_reduce_fwd(out, dim, idx, src, reduce, include_self)
        if ctx.needs_input_grad:
            # (copies of the arrays, not saved tensors: backward is once-differentiable)
            ctx.x, ctx.src, ctx.out, ctx.cnt = x.copy(), src.copy(), out, cnt
            ctx.dim, ctx.idx, ctx.reduce, ctx.include_self = dim, _own(idx), reduce, include_self
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, src, res, cnt = ctx.x, ctx.src, ctx.out, ctx.cnt
        dim, idx, reduce, inc = ctx.dim, ctx.idx, ctx.reduce, ctx.include_self
        g = _bw.data(g)
        xp = namespace(g)
        hit = xp.zeros(x.shape, bool)   # positions some src element was scattered to
        ht, hw = _where_in(hit, dim, idx)
        ht[hw] = True
        gat = lambda a: _gather_np(a, dim, idx)  # noqa: E731
        if reduce == "sum":
            gx = g if inc else xp.where(hit, 0, g)
            gs = gat(g)
        elif reduce == "mean":
            gn = g / xp.maximum(cnt, 1)
            gx = xp.where(hit, gn if inc else 0, g)
            gs = gat(gn)
        elif reduce in ("amax", "amin"):
            # torch counts self among the tied winners even when include_self=False
            # (its gradient there is then dropped); we share the gradient the same way
            self_is = x == res
            src_is = src == gat(res)
            n = self_is.astype(g.dtype)
            nt, nw = _where_in(n, dim, idx)
            xp.add.at(nt, nw, src_is.reshape(-1) if nt.ndim == 1 else src_is)
            gd = g / xp.maximum(n, 1)
            gx = xp.where(self_is & (~hit | inc), gd, 0)
            gs = xp.where(src_is, gat(gd), 0)
        else:  # prod: each element's gradient is the product of the others in its group
            zeros = xp.zeros(x.shape, np.int64)
            nzp = xp.ones(x.shape, g.dtype)
            if inc:
                zeros += (x == 0)
                nzp = xp.where(x == 0, 1, x).astype(g.dtype)
            zt, zw = _where_in(zeros, dim, idx)
            pt, pw = _where_in(nzp, dim, idx)
            flat = zt.ndim == 1
            xp.add.at(zt, zw, (src == 0).reshape(-1) if flat else (src == 0))
            sv = xp.where(src == 0, 1, src)
            kernels(pt).scatter_multiply(pt, pw, sv.reshape(-1) if flat else sv)

            def others(v, zc, p):
                safe = xp.where(v == 0, 1, v)
                return xp.where(v != 0, xp.where(zc == 0, p / safe, 0), xp.where(zc == 1, p, 0))
            gx = xp.where(hit, g * others(x, zeros, nzp) if inc else 0, g)
            gs = gat(g) * others(src, gat(zeros), gat(nzp))
        return gx, gs


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True, out=None):
    """Reduce ``src`` into ``input`` along ``dim`` at ``index`` with
    ``reduce`` in 'sum', 'prod', 'mean', 'amax', 'amin'."""
    if reduce not in _REDUCES:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    if not isinstance(src, TensorBase):
        raise not_a_tensor("scatter_reduce", "src", src)
    if _scalarish(input, index, src):
        _dim(dim, 1)
        r = scatter_reduce(input.reshape(-1), 0, index.reshape(-1), src.reshape(-1), reduce,
                           include_self=include_self)
        return _out(r.reshape(input._data.shape), out)
    d, idx, s = _scatter_checks(input, dim, index, src)
    src_t = src
    if s is not src._data:
        src_t = Slice.apply(src, tuple(slice(0, n) for n in idx.shape) + _ELL)
    return _out(ScatterReduce.apply(input, src_t, d, idx, reduce, bool(include_self)), out)


# ======================================================================================
# index_select / index_add / index_copy / index_fill
# ======================================================================================

def _vector_index(index, op, long_only=False):
    if not isinstance(index, TensorBase):
        raise not_a_tensor(op, "index", index)
    idx = index._data
    if idx.dtype != _I64 and (long_only or idx.dtype != np.int32):
        if long_only:
            raise RuntimeError(f"{op}(): Expected a long tensor for index, but got {_tn(idx)}")
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index but got: {_tn(idx)}")
    if idx.ndim > 1:
        if op == "index_copy_":
            raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {idx.ndim})")
        raise IndexError(f"{op}(): Index is supposed to be a vector, but got dim: {idx.ndim} with "
                         f"type: {_tn(idx)} and size: {list(idx.shape)}")
    return idx.reshape(-1)


def _index_add_zeros(shape, dim, idx, g):
    z = namespace(g).zeros(shape, g.dtype)
    _add_at_dim(z, dim, idx, g)
    return z


class IndexSelect(Op):
    _ctx_fields = ("x_shape", "dim", "idx")
    @staticmethod
    def forward(ctx, x, dim, idx):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.dim, ctx.idx = x.shape, dim, _own(idx)
        return namespace(x).take(x, idx, axis=dim)

    @staticmethod
    def backward(ctx, g):
        shape, dim, idx = ctx.x_shape, ctx.dim, ctx.idx
        if not isinstance(g, TensorBase):
            return _index_add_zeros(shape, dim, idx, g)
        return _IndexSelectBackward.apply(g, shape, dim, idx)


class _IndexSelectBackward(Op):
    _ctx_fields = ("dim", "idx")
    _node_name = "IndexSelectBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, dim, idx):
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx = dim, idx
        return _index_add_zeros(shape, dim, idx, g)

    @staticmethod
    def backward(ctx, gg):
        return _index_select_any(gg, ctx.dim, ctx.idx)


def _index_select_any(g, dim, idx):
    if not isinstance(g, TensorBase):
        return namespace(g).take(g, idx, axis=dim)
    return IndexSelect.apply(g, dim, idx)


def index_select(input, dim, index, *, out=None):
    """Slices of ``input`` along ``dim`` at the positions in 1-d ``index``."""
    x = input._data
    if not isinstance(index, TensorBase):
        raise not_a_tensor("index_select", "index", index)
    if index._data.dtype not in _INT_IDX:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    idx = index._data.reshape(-1)
    if x.ndim == 0:
        _dim(dim, 0)
        if idx.size and (idx.min() != 0 or idx.max() != 0):
            raise IndexError("index out of range in self")
        r = IndexSelect.apply(input.reshape(1), 0, idx)
        return _out(r.reshape(()) if idx.size == 1 else r, out)
    d = _dim(dim, x.ndim)
    return _out(_checked(IndexSelect, input, d, idx, x.shape[d],
                         # (torch's kernel for the last dim of a matrix raises RuntimeError)
                         RuntimeError if x.ndim == 2 and d == 1 else IndexError,
                         "index_select(): "),
                out)


def _index_op_checks(input, dim, index, source, op, long_only=False):
    """The checks of index_add / index_copy, in torch's order and words (the
    two differ); returns (dim, idx)."""
    x = input._data
    idx = _vector_index(index, op, long_only)
    if not isinstance(source, TensorBase):
        raise not_a_tensor(op, "source", source)
    s = source._data
    d = _dim(dim, x.ndim)
    if op == "index_copy_":
        _index_copy_checks(x, s, d, idx.size)
    else:
        _index_add_checks(x, s, d, idx.size, op)
    n = x.shape[d] if x.ndim else 1
    if op == "index_copy_":
        _check_bounds(idx, n, d, IndexError, "index_copy_(): ")
    elif x.ndim <= 1:       # (torch's vector path words it so)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError("index out of range in self")
    else:
        _check_bounds(idx, n, d)
    return d, idx


def _sliced(shape, d):
    """A shape without its dim ``d`` (a 0-d shape stays empty)."""
    return list(shape[:d]) + list(shape[d + 1:])


def _index_add_checks(x, s, d, count, op):
    if s.dtype != x.dtype:
        raise RuntimeError(f"{op}(): self ({_tn(x)}) and source ({_tn(s)}) must have the same "
                           "scalar type")
    if d != 0 and d >= s.ndim:
        raise RuntimeError(f"{op}(): Indexing dim {d} is out of bounds of the source tensor "
                           f"with dim {s.ndim}")
    ns = s.shape[d] if s.ndim else 1
    if count != ns:
        raise RuntimeError(f"{op}(): Number of indices ({count}) should be equal to "
                           f"source.size(dim): ({ns}), for dim: {d}")
    # the shapes but dim match; a 0-d self or source compares whole
    both = x.ndim and s.ndim
    if (_sliced(x.shape, d) if both else list(x.shape)) != \
            (_sliced(s.shape, d) if both else list(s.shape)):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(x.shape)} source.shape = "
                           f"{list(s.shape)}")


def _index_copy_checks(x, s, d, count):
    if s.ndim == 0 and count != 1:
        raise IndexError(f"index_copy_(): When source is scalar, index should have one element "
                         f"(got {count})")
    if s.ndim != x.ndim and s.ndim and x.ndim:
        raise IndexError(f"index_copy_(): When source and destination are not scalars, their "
                         f"dimensionality must match. Source dimensionality ({s.ndim}), "
                         f"destination dimensionality ({x.ndim})")
    if s.dtype != x.dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, "
                           f"but got (self) {_tn(x)} and (source) {_tn(s)}")
    xs, ss = _sliced(x.shape, d), _sliced(s.shape, d)
    if xs != ss:
        raise RuntimeError(f"index_copy_(): Source/destination tensor must have same slice "
                           f"shapes. Destination slice shape: {' '.join(map(str, xs))} at "
                           f"dimension {d} and source slice shape: {' '.join(map(str, ss))} at "
                           f"dimension 0.")
    if s.ndim and count != s.shape[d]:
        raise IndexError(f"index_copy_(): Number of indices ({count}) should be equal to "
                         f"source.size(dim) ({s.shape[d]})")


class IndexAdd(Op):
    _ctx_fields = ("dim", "idx", "alpha")
    @staticmethod
    def forward(ctx, x, src, dim, idx, alpha):
        out = x.copy()
        _add_at_dim(out, dim, idx, src * alpha if alpha != 1 else src)
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx, ctx.alpha = dim, _own(idx), alpha
        return out

    @staticmethod
    def backward(ctx, g):
        dim, idx, alpha = ctx.dim, ctx.idx, ctx.alpha
        need = ctx.needs_input_grad
        gs = None
        if need[1]:
            gs = _index_select_any(g, dim, idx)
            if alpha != 1:
                gs = gs * alpha
        return (g if need[0] else None), gs


def _as1d(input, source):
    """index_* ops treat a 0-d self / source as a 1-element vector; the last
    answer says whether self was 0-d (the result goes back to 0-d)."""
    s1 = source.reshape(1) if source._data.ndim == 0 else source
    if input._data.ndim == 0:
        return input.reshape(1), s1, True
    return input, s1, False


def index_add(input, dim, index, source, *, alpha=1, out=None):
    """``input`` with ``alpha * source`` added along ``dim`` at ``index`` (repeats accumulate)."""
    d, idx = _index_op_checks(input, dim, index, source, "index_add_")
    x1, s1, sq = _as1d(input, source)
    r = IndexAdd.apply(x1, s1, d, idx, alpha)
    return _out(r.reshape(()) if sq else r, out)


class IndexCopy(Op):
    _ctx_fields = ("dim", "idx")
    @staticmethod
    def forward(ctx, x, src, dim, idx):
        out = x.copy()
        out[(_FULL,) * dim + (idx,)] = src
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx = dim, _own(idx)
        return out

    @staticmethod
    def backward(ctx, g):
        dim, idx = ctx.dim, ctx.idx
        need = ctx.needs_input_grad
        gx = gs = None
        if need[0]:
            gx = _index_fill_any(g, dim, idx, 0)
        if need[1]:
            gs = _index_select_any(g, dim, idx)
        return gx, gs


def index_copy(input, dim, index, source, *, out=None):
    """``input`` with slices along ``dim`` at ``index`` replaced by ``source``'s."""
    d, idx = _index_op_checks(input, dim, index, source, "index_copy_", long_only=True)
    x1, s1, sq = _as1d(input, source)
    r = IndexCopy.apply(x1, s1, d, idx)
    return _out(r.reshape(()) if sq else r, out)


class IndexFill(Op):
    _ctx_fields = ("dim", "idx")
    @staticmethod
    def forward(ctx, x, value, dim, idx):
        out = x.copy()
        out[(_FULL,) * dim + (idx,)] = value
        if ctx.needs_input_grad:
            ctx.dim, ctx.idx = dim, _own(idx)
        return out

    @staticmethod
    def backward(ctx, g):
        dim, idx = ctx.dim, ctx.idx
        need = ctx.needs_input_grad
        gx = gv = None
        if need[0]:
            gx = _index_fill_any(g, dim, idx, 0)
        if need[1]:
            n = g.shape[dim]
            # a repeated index fills (and counts) once
            uniq = namespace(idx).unique(_wrap_neg(idx, n))
            gv = _bw.sum(_index_select_any(g, dim, uniq))
        return gx, gv


def _index_fill_any(g, dim, idx, v):
    if not isinstance(g, TensorBase):
        r = g.copy()
        r[(_FULL,) * dim + (idx,)] = v
        return r
    return IndexFill.apply(g, v, dim, idx)


def index_fill(input, dim, index, value):
    """``input`` with slices along ``dim`` at ``index`` set to ``value`` (a number or
    a 0-d tensor, which is differentiable)."""
    if not isinstance(index, TensorBase):
        raise not_a_tensor("index_fill", "index", index)
    idx = index._data
    if idx.dtype != _I64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if idx.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    idx = idx.reshape(-1)
    x = input._data
    if isinstance(value, TensorBase):
        if value._data.ndim != 0:
            raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value._data.ndim} dimension(s).")
        value = cast(value, D._FROM_NP[x.dtype])
    else:
        value = namespace(x).asarray(D.checked_scalar(value, x.dtype)).astype(x.dtype)
    if x.ndim == 0:
        _dim(dim, 0)
        _check_bounds(_wrap_neg(idx, 1), 1, 0, IndexError)
        return IndexFill.apply(input.reshape(1), value, 0, idx).reshape(())
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"index {bad} is out of bounds for dimension {d} with size {n}")
    return IndexFill.apply(input, value, d, idx)


# ======================================================================================
# masked_fill / masked_select / masked_scatter
# ======================================================================================

def _bool_mask(mask, msg):
    if not isinstance(mask, TensorBase):
        raise TypeError(f"mask must be a Tensor, not {type(mask).__name__}")
    m = mask._data
    if m.dtype != np.bool_:
        raise RuntimeError(msg.format(dtype=_tn(m)))
    return m


_MASKED_FILL_DTYPE = "masked_fill_ only supports boolean masks, but got mask with dtype {dtype}"


class MaskedFill(Op):
    @staticmethod
    def forward(ctx, x, mask, value):
        if ctx.needs_input_grad:
            ctx.save_for_backward(mask)     # (version-checked: torch raises if it changes)
        return kernels(x).masked_fill(x, mask, value)

    @staticmethod
    def backward(ctx, g):
        m, = ctx.saved_tensors
        need = ctx.needs_input_grad
        if not need[0]:
            gx = None
        elif not isinstance(g, TensorBase):
            gx = kernels(g).masked_fill(g, m, namespace(g).zeros((), g.dtype))
        else:
            gx = _bw.where(m, 0.0, g)
        gv = _bw.sum(_bw.where(m, g, 0.0)) if need[2] else None
        return gx, None, gv


def _fill_value(value, x):
    """masked_fill's value as a 0-d array / tensor of ``x``'s dtype."""
    if isinstance(value, TensorBase):
        if value._data.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value._data.ndim} dimension(s).")
        return cast(value, D._FROM_NP[x.dtype])
    value = D.checked_scalar(value, x.dtype)
    try:
        return namespace(x).asarray(value).astype(x.dtype)
    except (OverflowError, ValueError, TypeError):
        raise D.overflow_error(x.dtype) from None


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or 0-d tensor) where ``mask`` is True;
    mask broadcasts with input."""
    x = input._data
    m = _bool_mask(mask, _MASKED_FILL_DTYPE)
    v = _fill_value(value, x)
    if m.shape != x.shape:
        check_broadcast(m.shape, x.shape)
    return MaskedFill.apply(input, mask, v)


def masked_fill_(input, mask, value):
    """In-place :func:`masked_fill` (mask must broadcast to input's shape)."""
    x = input._data
    m = _bool_mask(mask, _MASKED_FILL_DTYPE)
    if m.shape != x.shape:
        b = check_broadcast(x.shape, m.shape)
        if tuple(b) != x.shape:
            raise RuntimeError(f"output with shape {list(x.shape)} doesn't match the broadcast "
                               f"shape {list(b)}")
    if _gm.enabled and (input.requires_grad or isinstance(value, TensorBase) and value.requires_grad):
        return apply_inplace(input, masked_fill, mask, value)
    v = _fill_value(value, x)
    if not writeable(x):
        raise _put_error(ValueError("read-only"), x, None, None, 0)
    v = v._data if isinstance(v, TensorBase) else v
    xp = namespace(x)
    if m.shape == x.shape:
        xp.putmask(x, m, v)  # faster than copyto(where=) when no broadcasting is needed
    else:
        xp.copyto(x, v, where=m)
    input._vc[0] += 1
    return input


class MaskedSelect(Op):
    _ctx_fields = ("shape",)
    @staticmethod
    def forward(ctx, x, mask, shape):
        if ctx.needs_input_grad:
            # (x only for the version check: torch saves it, so changing it raises)
            ctx.save_for_backward(mask, x)
            ctx.shape = shape
        xp = namespace(x)
        if x.shape != shape:
            x = xp.broadcast_to(x, shape)
        if mask.shape != shape:
            mask = xp.broadcast_to(mask, shape)
        return x[mask]

    @staticmethod
    def backward(ctx, g):
        mask, _ = ctx.saved_tensors
        shape = ctx.shape
        if mask.shape != shape:
            mask = _bw.broadcast_to(mask, shape) if isinstance(mask, TensorBase) else \
                namespace(mask).broadcast_to(mask, shape)
        if not isinstance(g, TensorBase):
            z = namespace(g).zeros(shape, g.dtype)
            z[mask] = g
            return z
        return _MaskedSelectBackward.apply(g, mask, shape)


class _MaskedSelectBackward(Op):
    _ctx_fields = ("mask", "shape")
    _node_name = "MaskedSelectBackwardBackward0"

    @staticmethod
    def forward(ctx, g, mask, shape):
        if ctx.needs_input_grad:
            ctx.mask, ctx.shape = mask, shape
        z = namespace(g).zeros(shape, g.dtype)
        z[mask] = g
        return z

    @staticmethod
    def backward(ctx, gg):
        mask, shape = ctx.mask, ctx.shape
        if not isinstance(gg, TensorBase):
            return gg[mask]
        return MaskedSelect.apply(gg, mask, shape)


def masked_select(input, mask, *, out=None):
    """The elements of ``input`` where ``mask`` (broadcast together) is True, as 1-d."""
    x = input._data
    m = _bool_mask(mask, "masked_select: expected BoolTensor for mask")
    shape = x.shape
    if m.shape != shape:
        shape = tuple(check_broadcast(x.shape, m.shape))
    return _out(MaskedSelect.apply(input, mask, shape), out)


class MaskedScatter(Op):
    _ctx_fields = ("mask", "n", "src_shape")
    @staticmethod
    def forward(ctx, x, mask, src):
        xp = namespace(x)
        out = xp.array(xp.broadcast_to(x, mask.shape)) if x.shape != mask.shape else x.copy()
        n = int(xp.count_nonzero(mask))
        out[mask] = src.reshape(-1)[:n]
        if ctx.needs_input_grad:
            ctx.mask, ctx.n, ctx.src_shape = _own(mask), n, src.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        mask, n, sshape = ctx.mask, ctx.n, ctx.src_shape
        need = ctx.needs_input_grad
        xp = namespace(g)
        gx = xp.where(mask, 0, g) if need[0] else None
        gs = None
        if need[2]:
            gs = xp.zeros(math.prod(sshape), g.dtype)
            gs[:n] = g[mask]
            gs = gs.reshape(sshape)
        return gx, None, gs


def _masked_scatter_args(input, mask, source):
    x = input._data
    m = _bool_mask(mask, "masked_scatter_ only supports boolean masks, but got mask with dtype "
                         "{dtype}")
    if not isinstance(source, TensorBase):
        raise not_a_tensor("masked_scatter", "source", source)
    if source._data.dtype != x.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got "
                           f"{_tn(x)} and {_tn(source._data)}")
    shape = tuple(check_broadcast(x.shape, m.shape)) if m.shape != x.shape else x.shape
    xp = namespace(m)
    if m.shape != shape:
        m = xp.broadcast_to(m, shape)
    if xp.count_nonzero(m) > source._data.size:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    return m, shape


def masked_scatter(input, mask, source):
    """``input`` with the elements where ``mask`` is True replaced, in order, by
    the first elements of ``source``."""
    m, _ = _masked_scatter_args(input, mask, source)
    return MaskedScatter.apply(input, m, source)


def masked_scatter_(input, mask, source):
    """In-place :func:`masked_scatter`."""
    m, shape = _masked_scatter_args(input, mask, source)
    if shape != input._data.shape:
        raise RuntimeError(f"output with shape {list(input._data.shape)} doesn't match the "
                           f"broadcast shape {list(shape)}")
    if _gm.enabled and (input.requires_grad or source.requires_grad):
        return apply_inplace(input, masked_scatter, mask, source)
    x = input._data
    x[m] = source._data.reshape(-1)[:int(namespace(m).count_nonzero(m))]
    input._vc[0] += 1
    return input


# ======================================================================================
# take / take_along_dim / put
# ======================================================================================

def _flat_index(index, n, op):
    if not isinstance(index, TensorBase):
        raise not_a_tensor(op, "index", index)
    idx = index._data
    if idx.dtype != _I64:
        raise RuntimeError(f"{op}(): Expected a long tensor for index, but got {_tn(idx)}")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    return idx


class Take(Op):
    _ctx_fields = ("x_shape", "idx")
    @staticmethod
    def forward(ctx, x, idx):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.idx = x.shape, _own(idx)
            ctx.save_for_backward(x)    # (only for the version check, as Gather's)
        return namespace(x).take(x, idx)

    @staticmethod
    def backward(ctx, g):
        ctx.saved_tensors
        shape, idx = ctx.x_shape, ctx.idx
        if not isinstance(g, TensorBase):
            return _take_backward(shape, idx, g)
        return _TakeBackward.apply(g, shape, idx)


def _take_backward(shape, idx, g):
    xp = namespace(g)
    z = xp.zeros(shape, g.dtype)
    n = z.size
    xp.add.at(z.reshape(-1), _wrap_neg(idx, n).reshape(-1), xp.ascontiguousarray(g).reshape(-1))
    return z


class _TakeBackward(Op):
    _ctx_fields = ("idx",)
    _node_name = "TakeBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, idx):
        if ctx.needs_input_grad:
            ctx.idx = idx
        return _take_backward(shape, idx, g)

    @staticmethod
    def backward(ctx, gg):
        if not isinstance(gg, TensorBase):
            return namespace(gg).take(gg, ctx.idx)
        return Take.apply(gg, ctx.idx)


def take(input, index):
    """``input`` read as 1-d at ``index`` (negative indices count from the end);
    the result has index's shape."""
    idx = _flat_index(index, input._data.size, "take")
    return Take.apply(input, idx)


def take_along_dim(input, indices, dim=None, *, out=None):
    """Gather along ``dim`` with ``indices`` broadcast against ``input`` in the other
    dims; ``dim=None`` works on both flattened."""
    if not isinstance(indices, TensorBase):
        raise not_a_tensor("take_along_dim", "indices", indices)
    idx = indices._data
    if idx.dtype != _I64:
        raise RuntimeError(f"ember.take_along_dim(): dtype of indices should be Long but got "
                           f"{_tn(idx)}")
    if dim is None:
        x = input.reshape(-1)
        idx = idx.reshape(-1)
        d = 0
    else:
        x = input
        nd = x._data.ndim
        if idx.ndim != nd:
            raise RuntimeError(f"ember.take_along_dim(): input and indices should have the same "
                               f"number of dimensions, but got {nd} dimensions for input, and "
                               f"{idx.ndim} dimensions for indices")
        d = _dim(dim, nd)
        if nd == 0:
            x, idx = x.reshape(1), idx.reshape(1)
        xs, ishp = x._data.shape, idx.shape
        if xs[:d] + xs[d + 1:] != ishp[:d] + ishp[d + 1:]:
            b = list(check_broadcast(xs[:d] + (1,) + xs[d + 1:], ishp[:d] + (1,) + ishp[d + 1:]))
            b[d] = xs[d]
            if tuple(b) != xs:
                x = x.expand(*b)
            b[d] = ishp[d]
            idx = namespace(idx).broadcast_to(idx, b)
    n = x._data.shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {n}")
    r = Gather.apply(x, d, _wrap_neg(idx, n))
    if dim is not None and input._data.ndim == 0:
        r = r.reshape(())
    return _out(r, out)


class Put(Op):
    _ctx_fields = ("idx", "accumulate", "src_shape")
    @staticmethod
    def forward(ctx, x, src, idx, accumulate):
        out = x.copy()
        _put_flat(out, idx, src, accumulate)
        if ctx.needs_input_grad:
            ctx.idx, ctx.accumulate, ctx.src_shape = _own(idx), accumulate, src.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        idx, acc, sshape = ctx.idx, ctx.accumulate, ctx.src_shape
        need = ctx.needs_input_grad
        gx = gs = None
        if need[0]:
            gx = g
            if not acc:
                gx = g.copy()
                gx.reshape(-1)[idx.reshape(-1)] = 0
        if need[1]:
            gs = namespace(g).take(g, idx).reshape(sshape)
        return gx, gs


def _put_flat(out, idx, src, accumulate):
    flat = out.reshape(-1)  # out is a fresh contiguous copy or checked contiguous
    i = idx.reshape(-1)
    s = src.reshape(-1)
    if accumulate:
        namespace(out).add.at(flat, i, s)
    else:
        flat[i] = s


def _put_args(input, index, source):
    idx = _flat_index(index, input._data.size, "put_")
    if not isinstance(source, TensorBase):
        raise not_a_tensor("put_", "source", source)
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got "
                           f"self.dtype = {_tn(input._data)} and source.dtype = "
                           f"{_tn(source._data)}")
    if source._data.size != idx.size:
        raise IndexError(f"put_(): Expected source and index to have the same number of "
                         f"elements, but got source.numel() = {source._data.size}, "
                         f"index.numel() = {idx.size}")
    return idx


def put(input, index, source, accumulate=False):
    """``input`` read as 1-d with ``source`` written (or added) at ``index``."""
    idx = _put_args(input, index, source)
    return Put.apply(input, source, idx, bool(accumulate))


def put_(input, index, source, accumulate=False):
    """In-place :func:`put`."""
    check_overlap(input, (index, source), full_too=True)
    if _gm.enabled and (input.requires_grad or source.requires_grad) or \
            not input._data.flags.c_contiguous:
        return apply_inplace(input, put, index, source, accumulate)
    idx = _put_args(input, index, source)
    _put_flat(input._data, idx, source._data, bool(accumulate))
    input._vc[0] += 1
    return input


# ======================================================================================
# in-place scatter / index ops
# ======================================================================================

def _needs_record(t, args, kwargs):
    if not _gm.enabled:
        return False
    if t.requires_grad:
        return True
    for a in args:
        if isinstance(a, TensorBase) and a.requires_grad:
            return True
    for a in kwargs.values():
        if isinstance(a, TensorBase) and a.requires_grad:
            return True
    return False


def _writable(t):
    if not writeable(t._data):
        raise _put_error(ValueError("read-only"), t._data, None, None, 0)


def scatter_(input, dim, index, src=None, value=None, *, reduce=None):
    """In-place :func:`scatter`."""
    if src is None:
        src = value
    check_overlap(input, (index, src), full_too=True)
    if _needs_record(input, (src,), {}) or _scalarish(input, index, src if isinstance(src, TensorBase)
                                                      else None):
        return apply_inplace(input, scatter, dim, index, src, reduce=reduce)
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    d, idx, s = _scatter_checks(input, dim, index, src)
    _writable(input)
    _scatter_kernel(input._data, d, idx, s, reduce)
    input._vc[0] += 1
    return input


def scatter_add_(input, dim, index, src):
    """In-place :func:`scatter_add`."""
    check_overlap(input, (index, src), full_too=True)
    if _needs_record(input, (src,), {}) or _scalarish(input, index, src):
        return apply_inplace(input, scatter_add, dim, index, src)
    d, idx, s = _scatter_checks(input, dim, index, src)
    _writable(input)
    _scatter_kernel(input._data, d, idx, s, "add")
    input._vc[0] += 1
    return input


def scatter_reduce_(input, dim, index, src, reduce, *, include_self=True):
    """In-place :func:`scatter_reduce`."""
    return apply_inplace(input, scatter_reduce, dim, index, src, reduce, include_self=include_self)


def index_add_(input, dim, index, source, *, alpha=1):
    """In-place :func:`index_add`."""
    check_overlap(input, (index, source), full_too=True)
    if _needs_record(input, (source,), {}) or input._data.ndim == 0:
        return apply_inplace(input, index_add, dim, index, source, alpha=alpha)
    d, idx = _index_op_checks(input, dim, index, source, "index_add_")
    _writable(input)
    s = source._data
    if s.ndim == 0:
        s = s.reshape(1)
    _add_at_dim(input._data, d, idx, s * alpha if alpha != 1 else s)
    input._vc[0] += 1
    return input


def index_copy_(input, dim, index, source):
    """In-place :func:`index_copy`."""
    check_overlap(input, (index, source), full_too=True)
    return apply_inplace(input, index_copy, dim, index, source)


def index_fill_(input, dim, index, value):
    """In-place :func:`index_fill`."""
    return apply_inplace(input, index_fill, dim, index, value)


# ======================================================================================
# nonzero / argwhere / searchsorted / bucketize
# ======================================================================================

def nonzero(input, *, out=None, as_tuple=False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or with
    ``as_tuple=True`` one 1-d tensor per dim."""
    x = input._data
    xp = namespace(x)
    if x.ndim == 0:
        hit = bool(x)
        if as_tuple:
            return (_wrap(xp.zeros(1 if hit else 0, np.int64)),)
        return _out(_wrap(xp.zeros((1 if hit else 0, 0), np.int64)), out)
    if as_tuple:
        return tuple(_wrap(a.astype(np.int64, copy=False)) for a in xp.nonzero(x))
    return _out(_wrap(xp.argwhere(x).astype(np.int64, copy=False)), out)


def argwhere(input):
    """Same as ``nonzero(input)``: an (n, ndim) int64 tensor of indices."""
    return nonzero(input)


def _values_array(values, xp):
    """searchsorted's values as an array (a number: of namespace ``xp``, the sequence's)."""
    if isinstance(values, TensorBase):
        return values._data
    if isinstance(values, (bool, int, float, np.generic)):
        return xp.asarray(values)
    raise TypeError(f"searchsorted(): argument 'input' must be Tensor or Number, not "
                    f"{type(values).__name__}")


def searchsorted(sorted_sequence, values=None, *, out_int32=False, right=False, side=None,
                 out=None, sorter=None, input=None):
    """For each value, the index at which inserting it keeps ``sorted_sequence``'s
    last dim sorted (leading dims, if any, must match values')."""
    if values is None:
        values = input
    seq = sorted_sequence._data
    xp = namespace(seq)
    v = _values_array(values, xp)
    if seq.ndim == 0:
        raise RuntimeError("ember.searchsorted(): boundaries tensor should have positive "
                           "dimension, but got 0 dimension")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"ember.searchsorted(): side can only be 'left' or 'right' but got "
                               f"{side}")
        if side == "left" and right:
            raise RuntimeError("ember.searchsorted(): side and right can't be set to opposites, "
                               "got side of left while right was True")
    sd = "right" if right or side == "right" else "left"
    srt = None
    if sorter is not None:
        srt = sorter._data
        if srt.dtype != _I64:
            raise RuntimeError(f"ember.searchsorted(): sorter must be a tensor of long dtype but "
                               f"got dtype {_tn(srt)}")
        if srt.shape != seq.shape:
            raise RuntimeError(f"ember.searchsorted(): boundary and sorter must have the same "
                               f"size, but got boundary tensor {list(seq.shape)}and got sorter "
                               f"tensor {list(srt.shape)}")
    if seq.ndim == 1:
        res = xp.searchsorted(seq, v, side=sd, sorter=srt)
    else:
        if v.ndim == 0:
            raise RuntimeError(f"ember.searchsorted(): input value can be a scalar only when "
                               f"boundaries tensor dimension is 1, but we got boundaries tensor "
                               f"dim({seq.ndim}) and input value's dim(0) numel(1)")
        if seq.shape[:-1] != v.shape[:-1]:
            raise RuntimeError(f"ember.searchsorted(): boundaries tensor should be 1 dimension or "
                               f"the first N-1 dimensions of boundaries tensor and input value "
                               f"tensor must match, but we got boundaries tensor "
                               f"{list(seq.shape)} and input value tensor {list(v.shape)}")
        s2 = seq.reshape(-1, seq.shape[-1])
        v2 = v.reshape(-1, v.shape[-1])
        o2 = srt.reshape(-1, seq.shape[-1]) if srt is not None else None
        res = xp.empty(v2.shape, np.int64)
        for r in range(s2.shape[0]):
            res[r] = xp.searchsorted(s2[r], v2[r], side=sd,
                                     sorter=o2[r] if o2 is not None else None)
        res = res.reshape(v.shape)
    res = xp.asarray(res).astype(np.int32 if out_int32 else np.int64, copy=False)
    return _out(_wrap(res), out)


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """For each element, the index of its bucket in the 1-d sorted ``boundaries``
    (``right=False``: boundaries[i-1] < x <= boundaries[i])."""
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got "
                           f"dim({boundaries._data.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)


__all__ = [
    "gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add",
    "index_copy", "index_fill", "index_put", "index_put_", "masked_fill", "masked_scatter",
    "masked_select", "take", "take_along_dim", "put", "nonzero", "argwhere", "searchsorted",
    "bucketize",
]

