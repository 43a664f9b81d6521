"""Shape ops: views (reshape, permute, expand, narrow, diagonal, split...) and
copies that rearrange elements (cat, stack, flip, roll, repeat, tril...).

View ops return NumPy views, so the result shares memory and the version
counter with its input, as torch's views share storage: an in-place write to
``x.diagonal()`` or ``x.split(2)[1]`` shows through in ``x``.

Every backward is written once for ndarrays and Tensors (see ``_bw``).  Ops
whose gradient is "scatter into zeros" come in pairs whose backwards call
each other (``SliceView``/``SliceScatter``, ``Diagonal``/``DiagonalScatter``,
``Split``/``Cat``, ``Unbind``/``Stack``, ``RepeatInterleave``/``SegmentSum``),
so gradients of any order are recorded.
"""
import operator
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor_base import TensorBase, Size, _wrap, _dim, _type_name
from ..autograd import function as _fn
from ..autograd.function import Op, apply_view as _apply_view, _NULL_CTX
from ..autograd.grad_mode import state as _gm
from .._bfloat16 import state as _bf16
from ..backends import namespace, kernels
from . import _bw

__all__ = [
    "reshape", "view", "view_as", "reshape_as", "flatten", "unflatten", "ravel", "permute",
    "transpose", "swapaxes", "swapdims", "t", "adjoint", "movedim", "moveaxis", "expand",
    "expand_as", "broadcast_to", "broadcast_tensors", "broadcast_shapes", "squeeze",
    "unsqueeze", "contiguous", "clone", "narrow", "select", "split", "tensor_split", "hsplit",
    "vsplit", "dsplit", "chunk", "unbind", "cat", "concat", "concatenate", "stack", "hstack",
    "vstack", "row_stack", "dstack", "column_stack", "flip", "fliplr", "flipud", "roll",
    "rot90", "repeat_interleave", "tile", "meshgrid", "tril", "triu", "diag", "diagonal",
    "diag_embed", "atleast_1d", "atleast_2d", "atleast_3d",
]


# ---- small helpers -------------------------------------------------------------------

def _ints(seq, fn, arg):
    """A sequence of ints (ints, NumPy ints, 0-d integer tensors) as a tuple."""
    try:
        return tuple(operator.index(s) for s in seq)
    except TypeError:
        bad = next(s for s in seq if not _is_int(s))
        raise TypeError(f"{fn}(): argument '{arg}' must be tuple of ints, but found element of "
                        f"type {type(bad).__name__}") from None


def _is_int(s):
    try:
        operator.index(s)
        return True
    except TypeError:
        return False


def _int_type_error(fn, arg, value, want="int"):
    """torch's TypeError for a non-int argument (built on the error path only)."""
    return TypeError(f"{fn}(): argument '{arg}' must be {want}, not {type(value).__name__}")


def _diagonal_arg(fn, diagonal):
    """``diagonal`` as an int, or torch's TypeError naming it."""
    try:
        return operator.index(diagonal)
    except TypeError:
        raise _int_type_error(fn, "diagonal", diagonal) from None


def _shape_args(shape, fn="reshape", arg="shape"):
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and f(Size)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for s in shape:
        if type(s) is not int:
            return _ints(shape, fn, arg)
    return tuple(shape)


def _dims_arg(dims, fn, arg="dims"):
    """A dims argument given as an int, a sequence, or varargs, as a tuple."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return _ints(dims, fn, arg)


def _dim_of(d, nd):
    """Normalise a dim that needs a real dimension (refused on 0-d tensors)."""
    if nd == 0:
        raise IndexError(f"Dimension specified as {d} but tensor has no dimensions")
    return _dim(d, nd)


def _unique_dims(dims, nd):
    axes = tuple(_dim(d, nd) for d in dims)
    if len(set(axes)) != len(axes):
        dup = next(a for a in axes if axes.count(a) > 1)
        raise RuntimeError(f"dim {dup} appears multiple times in the list of dims")
    return axes


def _mark_views(outs, src):
    """Make every tensor in ``outs`` (NumPy views of src's data) a view of src:
    same version counter and base, as ``_view`` does for single outputs."""
    vc = src._vc
    base = src if src._base is None else src._base
    for o in outs:
        o._vc = vc
        o._base = base
    return outs


def _tensor_list(tensors, fn):
    if isinstance(tensors, TensorBase):
        raise TypeError(f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        "not Tensor")
    if not isinstance(tensors, (list, tuple)):
        # (torch takes a list or tuple only: a generator, an iterator, a deque,
        # None... are refused, named as torch names them)
        raise TypeError(f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        f"not {_type_name(tensors)}")
    for i, t in enumerate(tensors):
        if not isinstance(t, TensorBase):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    return tensors


def _common_dtype(tensors):
    """torch's promotion over a list of tensors (None when all already agree)."""
    dt = tensors[0]._data.dtype
    mixed = False
    for t in tensors:
        if t._data.dtype != dt:
            mixed = True
            break
    if not mixed:
        return None
    r = D._FROM_NP[dt]
    for t in tensors:
        r = D._promote_np(r.np, t._data.dtype)
    return r.np


_dtype_word = D.scalar_name_of      # torch's scalar-type name of a NumPy dtype ("Float")


# ---- reshape and friends ---------------------------------------------------------------

def _infer_shape(shape, numel):
    """Resolve one -1 in ``shape`` for a tensor of ``numel`` elements, raising
    torch's errors for impossible shapes."""
    known = 1
    neg = -1
    for i, s in enumerate(shape):
        if s == -1:
            if neg >= 0:
                raise RuntimeError("only one dimension can be inferred")
            neg = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {list(shape)}")
        else:
            known *= s
    if neg >= 0:
        if known == 0:
            if numel == 0:
                raise RuntimeError(
                    f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                    "unspecified dimension size -1 can be any value and is ambiguous")
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        if numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = list(shape)
        shape[neg] = numel // known
        return tuple(shape)
    if known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Op):
    """x with a new shape: a view when the strides allow, else a copy."""
    _ctx_fields = ("in_shape",)
    _node_name = "ViewBackward0"
    _view = True

    @staticmethod
    def forward(ctx, x, shape):
        if ctx.needs_input_grad:
            ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return _bw.reshape(g, ctx.in_shape)


def reshape(input, *shape):
    """The same elements in ``shape`` (one entry may be -1); a view if possible."""
    shape = _shape_args(shape)
    d = input._data
    if shape != d.shape:
        shape = _infer_shape(shape, d.size)
    return _apply_view(Reshape, input, shape)


def view(input, *shape):
    """Like reshape, but refuses when the result can't share memory (torch's
    rule); ``view(dtype)`` reinterprets the bytes as another dtype."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list)) and not _is_int(shape[0]):
        return _view_dtype(input, shape[0])
    shape = _shape_args(shape, "view", "size")
    d = input._data
    if shape != d.shape:
        shape = _infer_shape(shape, d.size)
    out = _apply_view(Reshape, input, shape)
    # Reshape shares memory when the strides allow, else copies; a copy is
    # what view refuses.  (Asking after the fact costs one identity test; a
    # trial reshape first cost every non-contiguous view a second reshape.)
    if out._vc is not input._vc and d.size > 1:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return out


def _view_dtype(input, dtype):
    """Reinterpret the bytes (torch's ``view(dtype)``): never differentiable."""
    dt = D.to_dtype(dtype)
    d = input._data
    new = dt.np
    if new.itemsize != d.itemsize:
        src, dst = _dtype_word(d.dtype), _dtype_word(new)
        if d.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 to view {src} as {dst} (different "
                               "element sizes)")
        if d.strides[-1] != d.itemsize and d.shape[-1] != 1:
            raise RuntimeError(f"self.stride(-1) must be 1 to view {src} as {dst} (different "
                               "element sizes)")
        if new.itemsize > d.itemsize and (d.shape[-1] * d.itemsize) % new.itemsize:
            ratio = new.itemsize // d.itemsize
            raise RuntimeError(f"self.size(-1) must be divisible by {ratio} to view {src} as "
                               f"{dst} (different element sizes), but got {d.shape[-1]}")
    out = _wrap(d.view(new))
    return _mark_views((out,), input)[0]


def view_as(input, other):
    return view(input, other._data.shape)


def reshape_as(input, other):
    return reshape(input, other._data.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one (the input itself when that is one dim)."""
    nd = input._data.ndim
    try:
        if nd == 0:
            _dim(start_dim, 1)  # (a 0-d tensor takes dims in [-1, 0], as torch)
            _dim(end_dim, 1)
            return reshape(input, 1)
        s, e = _dim(start_dim, nd), _dim(end_dim, nd)
    except TypeError:
        raise _int_type_error("flatten", "start_dim" if not _is_int(start_dim) else "end_dim",
                              start_dim if not _is_int(start_dim) else end_dim) from None
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    shp = input._data.shape
    n = 1
    for k in shp[s:e + 1]:
        n *= k
    return Reshape.apply(input, shp[:s] + (n,) + shp[e + 1:])


def ravel(input):
    """The elements as a 1-D tensor (a view when the input is contiguous)."""
    return Reshape.apply(input, (input._data.size,))


def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes`` (one entry may be -1)."""
    nd = input._data.ndim
    d = _dim(dim, nd)
    shp = input._data.shape
    sizes = _ints(sizes, "unflatten", "sizes")
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if -1 in sizes:
        sizes = _infer_shape(sizes, shp[d])
    n = 1
    for k in sizes:
        n *= k
    if n != shp[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size "
                           f"of dim {dim} ({shp[d]}) in the input tensor")
    return Reshape.apply(input, shp[:d] + sizes + shp[d + 1:])


# ---- permutations ------------------------------------------------------------------------

class Permute(Op):
    """x with its axes reordered: a view."""
    _ctx_fields = ("axes",)
    _view = True

    @staticmethod
    def forward(ctx, x, axes):
        if ctx.needs_input_grad:
            ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        axes = ctx.axes
        inv = [0] * len(axes)
        for i, a in enumerate(axes):
            inv[a] = i
        return _bw.transpose(g, tuple(inv))


class Transpose(Permute):
    """``Permute`` that swaps two dims, its node named as torch names
    transpose's (``TransposeBackward0``)."""
    _node_name = "TransposeBackward0"


class MatrixT(Permute):
    """``Permute`` of ``t()``, its node named ``TBackward0`` as torch's."""
    _node_name = "TBackward0"


def permute(input, *dims):
    dims = _dims_arg(dims, "permute")
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {nd} is not equal to len(dims) = {len(dims)}")
    axes = tuple(_dim(d, nd) for d in dims)
    if len(set(axes)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _apply_view(Permute, input, axes)


# transpose's axis orders, per (ndim, dim0, dim1) of int dims: attention code
# swaps the same two dims of every q, k, v and output, token after token.
_SWAPS = {}


def transpose(input, dim0, dim1):
    """Swap two dims: a view."""
    nd = input._data.ndim
    key = (nd, dim0, dim1) if type(dim0) is int and type(dim1) is int else None
    axes = _SWAPS.get(key) if key is not None else None
    if axes is None:
        a, b = _dim(dim0, nd), _dim(dim1, nd)
        axes = list(range(nd))
        if nd:
            axes[a], axes[b] = axes[b], axes[a]
        axes = tuple(axes)
        if key is not None and len(_SWAPS) < 256:
            _SWAPS[key] = axes
    return _apply_view(Transpose, input, axes)


swapaxes = swapdims = transpose


def t(input):
    """Transpose a matrix; 0-d and 1-D tensors come back as views of themselves."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return MatrixT.apply(input, (1, 0) if nd == 2 else tuple(range(nd)))


def adjoint(input):
    return transpose(input, -2, -1)


def movedim(input, source, destination):
    """Move dims ``source`` to positions ``destination``; the rest keep their order."""
    nd = input._data.ndim
    src = (source,) if _is_int(source) else tuple(source)
    dst = (destination,) if _is_int(destination) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    s = [_dim(x, nd) for x in src]
    d = [_dim(x, nd) for x in dst]
    if len(set(s)) != len(s):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(src)})")
    if len(set(d)) != len(d):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(dst)})")
    order = [n for n in range(nd) if n not in s]
    for dd, ss in sorted(zip(d, s)):
        order.insert(dd, ss)
    return Permute.apply(input, tuple(order))


moveaxis = movedim


# ---- expand / squeeze / unsqueeze ----------------------------------------------------------

class Expand(Op):
    """x broadcast to a larger shape: a read-only view (stride 0 on new dims)."""
    _view = True

    @staticmethod
    def forward(ctx, x, shape):
        n = 1
        for k in shape:
            n *= k
        if n == x.size and n:
            # only size-1 dims added or kept: a plain (writable) view will do
            return x.reshape(shape)
        return namespace(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums it back to the input's shape


def expand(input, *sizes):
    """Broadcast to ``sizes`` (-1 keeps a dim); new dims may only be leading."""
    sizes = _shape_args(sizes, "expand", "size")
    shp = input._data.shape
    if len(sizes) < len(shp):
        raise RuntimeError(f"expand({D.tensor_type_name(input._data.dtype)}{{{list(shp)}}}, size={list(sizes)}): the "
                           f"number of sizes provided ({len(sizes)}) must be greater or equal to "
                           f"the number of dimensions in the tensor ({len(shp)})")
    lead = len(sizes) - len(shp)
    out = list(sizes)
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            continue
        cur = shp[i - lead]
        if s == -1:
            out[i] = cur
        elif cur != s and cur != 1:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing "
                               f"size ({cur}) at non-singleton dimension {i}.  Target sizes: "
                               f"{list(sizes)}.  Tensor sizes: {list(shp)}")
        elif s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(sizes)}")
    return Expand.apply(input, tuple(out))


def expand_as(input, other):
    return expand(input, *other._data.shape)


def broadcast_to(input, size):
    return expand(input, *size)


def broadcast_tensors(*tensors):
    """Expand all tensors to their common broadcast shape (views)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    shape = broadcast_shapes(*(t._data.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)


def broadcast_shapes(*shapes):
    from ._util import check_broadcast
    out = ()
    for s in shapes:
        s = (s,) if _is_int(s) else tuple(s)
        out = check_broadcast(out, s)
    return Size(out)


class Squeeze(Reshape):
    """x with size-1 dims removed: a view (Reshape's computation, under torch's
    node name SqueezeBackward0)."""


class Unsqueeze(Squeeze):
    """x with a size-1 dim inserted: a view."""


def squeeze(input, dim=None):
    """Remove size-1 dims: all of them, or those among ``dim`` (int or tuple)."""
    shp = input._data.shape
    nd = len(shp)
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        try:
            dims = _unique_dims((dim,) if _is_int(dim) else tuple(dim), nd)
        except TypeError:
            raise _int_type_error("squeeze", "dim", dim, "int or tuple of ints") from None
        new = tuple(s for i, s in enumerate(shp) if not (s == 1 and i in dims))
    return Squeeze.apply(input, new)


def unsqueeze(input, dim):
    """Insert a size-1 dim at ``dim`` (in [-ndim-1, ndim])."""
    nd = input._data.ndim
    shp = input._data.shape
    try:
        if dim < -nd - 1 or dim > nd:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-nd - 1}, {nd}], but got {dim})")
        if dim < 0:
            dim += nd + 1
        new = shp[:dim] + (1,) + shp[dim:]
    except TypeError:  # (a str, None or a float: not a dim)
        raise _int_type_error("unsqueeze", "dim", dim) from None
    return Unsqueeze.apply(input, new)


class Contiguous(Op):
    _node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x):
        return namespace(x).ascontiguousarray(x)

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(input, memory_format=None):
    """The input itself when already C-contiguous, else a contiguous copy."""
    if input._data.flags.c_contiguous:
        return input
    return Contiguous.apply(input)


class Clone(Op):
    @staticmethod
    def forward(ctx, x):
        # order "K": keep a transposed/permuted tensor's layout, as torch's
        # default memory_format=preserve_format does
        return x.copy(order="K")

    @staticmethod
    def backward(ctx, g):
        return g


def clone(input, *, memory_format=None):
    return Clone.apply(input)


# ---- slicing views: narrow, select, split, chunk, unbind --------------------------------

class SliceView(Op):
    """``x[key]`` for a basic index (ints, slices, Ellipsis): a view.  Its
    gradient scatters into zeros (``SliceScatter``), whose gradient is this."""
    _ctx_fields = ("x_shape", "key")
    _node_name = "SliceBackward0"
    _view = True

    @staticmethod
    def forward(ctx, x, key):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.key = x.shape, key
        return x[key]

    @staticmethod
    def backward(ctx, g):
        return _slice_scatter(g, ctx.x_shape, ctx.key)


class Select(SliceView):
    """``x`` indexed by one int along a dim: a view."""


class SliceScatter(Op):
    """zeros(shape) with ``[key]`` set to g (the gradient of ``SliceView``)."""
    _ctx_fields = ("key",)

    @staticmethod
    def forward(ctx, g, shape, key):
        if ctx.needs_input_grad:
            ctx.key = key
        out = namespace(g).zeros(shape, g.dtype)
        out[key] = g
        return out

    @staticmethod
    def backward(ctx, gg):
        return _bw.take(gg, ctx.key)


def _slice_scatter(g, shape, key):
    if _bw.is_array(g):
        out = namespace(g).zeros(shape, g.dtype)
        out[key] = g
        return out
    return SliceScatter.apply(g, shape, key)


def narrow(input, dim, start, length):
    """Elements start..start+length-1 along ``dim``: a view."""
    d = input._data
    if d.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    ax = _dim(dim, d.ndim)
    size = d.shape[ax]
    start = operator.index(start)
    length = operator.index(length)
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but "
                         f"got {start})")
    if start < 0:
        start += size
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return SliceView.apply(input, (slice(None),) * ax + (slice(start, start + length),))


def select(input, dim, index):
    """The slice at ``index`` along ``dim``, that dim removed: a view."""
    d = input._data
    if d.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    ax = _dim(dim, d.ndim)
    index = operator.index(index)
    size = d.shape[ax]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(d.shape)} at dimension {ax}")
    if index < 0:
        index += size
    # the trailing Ellipsis makes NumPy return a 0-d view rather than a scalar
    return Select.apply(input, (slice(None),) * ax + (index, Ellipsis))


class Split(Op):
    """The pieces ``x[start:stop]`` along ``axis``, one per (start, stop) in
    ``bounds``: views, all from one node (torch's SplitBackward0)."""
    _ctx_fields = ("x_shape", "bounds", "axis")

    @staticmethod
    def forward(ctx, x, bounds, axis):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.bounds, ctx.axis = x.shape, bounds, axis
        pre = (slice(None),) * axis
        pieces = []     # (a plain loop: a generator resumes once per piece, a call each)
        for a, b in bounds:
            pieces.append(x[pre + (slice(a, b),)])
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *gs):
        shape, bounds, axis = ctx.x_shape, ctx.bounds, ctx.axis
        if _tiles(bounds, shape[axis]):
            whole = _joined(gs, axis)
            return _bw.concatenate(gs, axis) if whole is None else whole
        # tensor_split with unordered indices: pieces may overlap or be missing
        pre = (slice(None),) * axis
        total = None
        for g, (a, b) in zip(gs, bounds):
            part = _slice_scatter(g, shape, pre + (slice(a, b),))
            total = part if total is None else total + part
        return total


def _joined(gs, axis):
    """The pieces as one array without a copy, when the backend finds them
    side by side in one buffer (attention's q, k, v gradients), else None."""
    return kernels(gs[0]).joined_view(gs, axis)


def _tiles(bounds, n):
    """Do the (start, stop) pieces cover 0..n in order without overlap?"""
    pos = 0
    for a, b in bounds:
        if a != pos:
            return False
        pos = b
    return pos == n


def _split_bounds(input, bounds, ax):
    if not (_gm.enabled and input.requires_grad) and _fn._tracer is None \
            and (not _bf16.on or input._data.dtype is not _bf16.dtype):
        # Nothing to record (no_grad: a GPT layer's q, k, v split): the pieces
        # made and marked views here, without apply's argument handling and
        # its wrapping of a tuple.  ONNX tracing, any failure (apply words the
        # error) and bfloat16 input (apply's dispatch) take apply.
        try:
            pieces = Split.forward(_NULL_CTX, input._data, bounds, ax)
        except Exception:
            pieces = None
        if pieces is not None:
            vc = input._vc
            base = input if input._base is None else input._base
            outs = []
            for piece in pieces:
                t = _wrap(piece)
                t._vc = vc
                t._base = base
                outs.append(t)
            return tuple(outs)
    out = Split.apply(input, bounds, ax)
    return _mark_views(out, input)


def _sizes_to_bounds(sizes):
    bounds = []
    pos = 0
    for s in sizes:
        bounds.append((pos, pos + s))
        pos += s
    return bounds


def split(tensor, split_size_or_sections=None, dim=0, *, split_size=None):
    """Views of ``tensor`` along ``dim``: equal pieces of ``split_size_or_sections``
    (the last may be smaller), or pieces of the listed sizes."""
    if split_size_or_sections is None:
        split_size_or_sections = split_size
    d = tensor._data
    if d.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    ax = _dim(dim, d.ndim)
    n = d.shape[ax]
    ss = split_size_or_sections
    if isinstance(ss, (list, tuple)) or isinstance(ss, TensorBase) and ss.ndim == 1:
        sizes = _ints(ss, "split_with_sizes", "split_sizes")
        if any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative "
                               f"entries, but got split_sizes={list(sizes)}")
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                               f"tensor's size at dimension {ax}), but got "
                               f"split_sizes={list(sizes)}")
        return _split_bounds(tensor, _sizes_to_bounds(sizes), ax)
    ss = operator.index(ss)
    if ss < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={ss}")
    if ss == 0 and n != 0:
        raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension "
                           f"size of {n}")
    if n == 0:
        return _split_bounds(tensor, [(0, 0)], ax)
    return _split_bounds(tensor, [(a, a + ss if a + ss < n else n) for a in range(0, n, ss)], ax)


def chunk(input, chunks, dim=0):
    """At most ``chunks`` views of equal size (the last may be smaller)."""
    chunks = operator.index(chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = input._data
    if d.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    ax = _dim(dim, d.ndim)
    n = d.shape[ax]
    if n == 0:
        return _split_bounds(input, [(0, 0)] * chunks, ax)
    return split(input, -(-n // chunks), ax)


def tensor_split(input, indices_or_sections, dim=0):
    """Views: ``n`` near-equal sections (the first ``size % n`` one longer), or
    the pieces between the given indices (Python slicing rules)."""
    d = input._data
    if d.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    ax = _dim(dim, d.ndim)
    n = d.shape[ax]
    ios = indices_or_sections
    if isinstance(ios, TensorBase):
        if ios._data.dtype.kind not in "iu":
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to have integer "
                               f"dtype, but got {_dtype_word(ios._data.dtype)}")
        if ios.ndim > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a "
                               f"zero-dimensional or one-dimensional tensor, but got a tensor "
                               f"with {ios.ndim} dims")
        ios = ios._data.tolist()
    if isinstance(ios, (list, tuple)):
        idx = _ints(ios, "tensor_split", "indices")
        edges = [0] + list(idx) + [n]
        bounds = []
        for a, b in zip(edges[:-1], edges[1:]):
            s, e, _ = slice(a, b).indices(n)
            bounds.append((s, max(s, e)))
        return _split_bounds(input, bounds, ax)
    sections = operator.index(ios)
    if sections <= 0:
        raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
    q, r = divmod(n, sections)
    return _split_bounds(input, _sizes_to_bounds([q + 1] * r + [q] * (sections - r)), ax)


def _nsplit(fn, input, ios, ax, min_dim):
    nd = input._data.ndim
    if nd < min_dim:
        raise RuntimeError(f"torch.{fn} requires a tensor with at least {min_dim} dimension, but "
                           f"got a tensor with {nd} dimensions!")
    if _is_int(ios) and not isinstance(ios, TensorBase):
        size = input._data.shape[ax]
        if ios == 0 or size % ios:
            raise RuntimeError(f"torch.{fn} attempted to split along dimension {ax}, but the size "
                               f"of the dimension {size} is not divisible by the split_size "
                               f"{ios}!")
    return tensor_split(input, ios, ax)


def hsplit(input, indices_or_sections):
    """tensor_split along dim 1 (dim 0 for 1-D tensors)."""
    return _nsplit("hsplit", input, indices_or_sections, 1 if input._data.ndim > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    return _nsplit("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    return _nsplit("dsplit", input, indices_or_sections, 2, 3)


class Unbind(Op):
    """Every slice along ``axis`` (that dim removed): views from one node."""
    _ctx_fields = ("axis",)

    @staticmethod
    def forward(ctx, x, axis):
        if ctx.needs_input_grad:
            ctx.axis = axis
        pre = (slice(None),) * axis
        return tuple(x[pre + (i, Ellipsis)] for i in range(x.shape[axis]))

    @staticmethod
    def backward(ctx, *gs):
        return _bw.stack(gs, ctx.axis)


def unbind(input, dim=0):
    """The slices along ``dim`` as a tuple of views."""
    ax = _dim_of(dim, input._data.ndim)
    return _mark_views(Unbind.apply(input, ax), input)


# ---- joining: cat, stack and the *stack family ------------------------------------------

class Cat(Op):
    """Concatenate along ``axis`` in ``dtype``; inputs flagged in ``skip`` (the
    legacy empty 1-D tensors) take no part.  The gradient splits back."""
    _ctx_fields = ("axis", "sizes", "skip")

    @staticmethod
    def forward(ctx, *arrays, axis, dtype=None, skip=None):
        parts = arrays if skip is None else [a for a, s in zip(arrays, skip) if not s]
        xp = namespace(*parts)
        if dtype is None:   # (one dtype already: concatenate without the cast arguments, faster)
            out = xp.concatenate(parts, axis)
        else:
            out = xp.concatenate(parts, axis, dtype=dtype, casting="unsafe")
        if ctx.needs_input_grad:
            ctx.axis, ctx.sizes, ctx.skip = axis, [a.shape[axis] for a in parts], skip
        return out

    @staticmethod
    def backward(ctx, g):
        skip = ctx.skip
        pieces = _split_grad(g, ctx.sizes, ctx.axis)
        if skip is None:
            return pieces
        it = iter(pieces)
        data = _bw.data(g)
        xp = namespace(data)
        return tuple(xp.zeros(0, data.dtype) if s else next(it) for s in skip)


def _split_grad(g, sizes, axis):
    if _bw.is_array(g):
        pre = (slice(None),) * axis
        out = []
        pos = 0
        for s in sizes:
            out.append(g[pre + (slice(pos, pos + s),)])
            pos += s
        return tuple(out)
    return Split.apply(g, _sizes_to_bounds(sizes), axis)


def cat(tensors, dim=0, *, out=None):
    """Concatenate along ``dim`` (types promoted as torch does).  1-D empty
    tensors are skipped, torch's legacy rule."""
    # (one pass over the list checks types, shapes and dtypes: a KV-cache
    # decoder concatenates twice per layer and token)
    if type(tensors) is not list and type(tensors) is not tuple:
        tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    skip = ref = None
    mixed = False
    dt = None
    i = 0
    for t in tensors:
        if not isinstance(t, TensorBase):
            _tensor_list(tensors, "cat")        # (raises torch's TypeError)
        d = t._data
        sh = d.shape
        if not sh:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
        if dt is None:
            dt = d.dtype
        elif d.dtype != dt:
            mixed = True
        if sh == (0,):
            if skip is None:
                skip = [False] * len(tensors)
            skip[i] = True
        elif ref is None:
            ref = t
        i += 1
    if ref is None:
        ref, skip = tensors[0], None  # all are empty 1-D: nothing to skip
    ax = _dim(dim, ref._data.ndim)
    dtype = _common_dtype(tensors) if mixed else None
    try:
        res = Cat.apply(*tensors, axis=ax, dtype=dtype, skip=skip)
    except ValueError:
        _cat_check(tensors, skip, ref, ax)
        raise
    if out is not None:
        from .elementwise import _out
        return _out(res, out)
    return res


def _cat_check(tensors, skip, ref, ax):
    """Raise torch's message for tensors that don't fit together."""
    rs = ref._data.shape
    for i, t in enumerate(tensors):
        if skip is not None and skip[i]:
            continue
        sh = t._data.shape
        if len(sh) != len(rs):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(rs)} and "
                               f"{len(sh)}")
        for k, (a, b) in enumerate(zip(rs, sh)):
            if k != ax and a != b:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {ax}. "
                                   f"Expected size {a} but got size {b} for tensor number {i} in "
                                   "the list.")


concat = concatenate = cat


class Stack(Op):
    """Join equal-shaped arrays along a new ``axis`` in ``dtype``."""
    _ctx_fields = ("axis",)

    @staticmethod
    def forward(ctx, *arrays, axis, dtype=None):
        if ctx.needs_input_grad:
            ctx.axis = axis
        return namespace(*arrays).stack(arrays, axis, dtype=dtype, casting="unsafe")

    @staticmethod
    def backward(ctx, g):
        return _bw.unbind(g, ctx.axis)


def stack(tensors, dim=0, *, out=None):
    """Join equal-shaped tensors along a new dim ``dim``."""
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(s0)} at "
                               f"entry 0 and {list(t._data.shape)} at entry {i}")
    ax = _dim(dim, len(s0) + 1)
    res = Stack.apply(*tensors, axis=ax, dtype=_common_dtype(tensors))
    if out is not None:
        from .elementwise import _out
        return _out(res, out)
    return res


def hstack(tensors, *, out=None):
    """Concatenate along dim 1 (dim 0 when the inputs are 1-D)."""
    ts = atleast_1d(*_tensor_list(tensors, "hstack"))
    ts = (ts,) if isinstance(ts, TensorBase) else ts
    return cat(ts, 0 if ts and ts[0]._data.ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None):
    """Concatenate along dim 0 after making every input at least 2-D."""
    ts = atleast_2d(*_tensor_list(tensors, "vstack"))
    return cat((ts,) if isinstance(ts, TensorBase) else ts, 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None):
    """Concatenate along dim 2 after making every input at least 3-D."""
    ts = atleast_3d(*_tensor_list(tensors, "dstack"))
    return cat((ts,) if isinstance(ts, TensorBase) else ts, 2, out=out)


def column_stack(tensors, *, out=None):
    """0-d and 1-D inputs become columns; then concatenate along dim 1."""
    ts = [reshape(t, t._data.size, 1) if t._data.ndim <= 1 else t
          for t in _tensor_list(tensors, "column_stack")]
    return cat(ts, 1, out=out)


# ---- flip / roll / rot90 ---------------------------------------------------------------------

class Flip(Op):
    """x reversed along ``axes`` (a copy, as torch)."""
    _ctx_fields = ("axes",)

    @staticmethod
    def forward(ctx, x, axes):
        if ctx.needs_input_grad:
            ctx.axes = axes
        return namespace(x).flip(x, axes).copy()

    @staticmethod
    def backward(ctx, g):
        return _bw.flip(g, ctx.axes)


def flip(input, *args, dims=None):
    """Reverse the order of elements along ``dims`` (a copy): ``flip(x, (0, 1))``,
    ``flip(x, dims=(0, 1))``, ``x.flip(0, 1)``."""
    dims = _dims_arg(args if dims is None else (dims,), "flip")
    nd = input._data.ndim
    axes = _unique_dims(dims, nd) if nd else ()
    return Flip.apply(input, axes)


def fliplr(input):
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return Flip.apply(input, (1,))


def flipud(input):
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return Flip.apply(input, (0,))


class Roll(Op):
    """x rolled by ``shifts`` along ``axes`` (None: over the flattened tensor)."""
    _ctx_fields = ("shifts", "axes")

    @staticmethod
    def forward(ctx, x, shifts, axes):
        if ctx.needs_input_grad:
            ctx.shifts, ctx.axes = shifts, axes
        if x.size == 0:
            return x.copy()
        return namespace(x).roll(x, shifts, axes)

    @staticmethod
    def backward(ctx, g):
        shifts, axes = ctx.shifts, ctx.axes
        neg = -shifts if axes is None else tuple(-s for s in shifts)
        return _bw.roll(g, neg, axes)


def roll(input, shifts, dims=None):
    """Shift elements cyclically; with no dims the tensor is rolled flattened."""
    sh = (shifts,) if _is_int(shifts) else _ints(shifts, "roll", "shifts")
    dm = () if dims is None else ((dims,) if _is_int(dims) else _ints(dims, "roll", "dims"))
    nd = input._data.ndim
    if not dm:
        if len(sh) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:0")
        return Roll.apply(input, sh[0], None)
    if len(sh) != len(dm):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:{len(dm)}")
    axes = tuple(_dim_of(d, nd) for d in dm)
    return Roll.apply(input, sh, axes)


class Rot90(Op):
    """x rotated by k quarter turns in the plane of ``axes`` (a copy)."""
    _ctx_fields = ("k", "axes")

    @staticmethod
    def forward(ctx, x, k, axes):
        if ctx.needs_input_grad:
            ctx.k, ctx.axes = k, axes
        return namespace(x).rot90(x, k, axes).copy()

    @staticmethod
    def backward(ctx, g):
        k, axes = ctx.k, ctx.axes
        if _bw.is_array(g):
            return namespace(g).rot90(g, -k, axes)
        return Rot90.apply(g, -k, axes)


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times, from the first dim towards the second."""
    dims = tuple(dims)
    nd = input._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if nd < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {nd}")
    a, b = _dim(dims[0], nd), _dim(dims[1], nd)
    if a == b:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {a} and "
                           f"dim1 = {b}")
    return Rot90.apply(input, operator.index(k) % 4, (a, b))


# ---- repeat / repeat_interleave / tile ---------------------------------------------------------

class Repeat(Op):
    """x tiled ``reps`` times along each dim (``len(reps) >= x.ndim``)."""
    _ctx_fields = ("x_shape", "padded_shape", "reps")

    @staticmethod
    def forward(ctx, x, reps):
        xs = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.padded_shape, ctx.reps = x.shape, xs.shape, reps
        return namespace(xs).tile(xs, reps)

    @staticmethod
    def backward(ctx, g):
        in_shape, padded, reps = ctx.x_shape, ctx.padded_shape, ctx.reps
        # view the output as (r0, s0, r1, s1, ...) and sum the repeat axes
        inter = []
        for r, s in zip(reps, padded):
            inter += [r, s]
        g = _bw.reshape(g, tuple(inter))
        g = _bw.sum(g, axis=tuple(range(0, 2 * len(reps), 2)))
        return _bw.reshape(g, in_shape)


def _repeat(input, *sizes):
    """Tensor.repeat: tile the tensor ``sizes`` times along each dim."""
    reps = _shape_args(sizes, "repeat", "repeats")
    shp = input._data.shape
    if len(reps) < len(shp):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    if any(r < 0 for r in reps):
        padded = (1,) * (len(reps) - len(shp)) + shp
        sizes = [a * b for a, b in zip(padded, reps)]
        bad = next((s for s in sizes if s < 0), min(reps))
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {sizes}")
    return Repeat.apply(input, reps)


def tile(input, *dims):
    """Like Tensor.repeat, but ``dims`` shorter than ndim are padded with ones."""
    dims = _dims_arg(dims, "tile")
    nd = input._data.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return _repeat(input, dims)


class RepeatInterleave(Op):
    """Each element along ``axis`` repeated ``reps`` times (an int, or one
    count per element); the gradient sums each run back (``SegmentSum``)."""
    _ctx_fields = ("reps", "axis", "n")
    _node_name = "RepeatInterleaveBackward0"

    @staticmethod
    def forward(ctx, x, reps, axis):
        if ctx.needs_input_grad:
            ctx.reps, ctx.axis, ctx.n = reps, axis, x.shape[axis]
        return namespace(x).repeat(x, reps, axis)

    @staticmethod
    def backward(ctx, g):
        return _segment_sum(g, ctx.reps, ctx.axis, ctx.n)


class SegmentSum(Op):
    """Sums of consecutive runs of ``reps`` elements along ``axis``."""
    _ctx_fields = ("reps", "axis")

    @staticmethod
    def forward(ctx, g, reps, axis, n):
        if ctx.needs_input_grad:
            ctx.reps, ctx.axis = reps, axis
        return _segment_sum_arrays(g, reps, axis, n)

    @staticmethod
    def backward(ctx, gg):
        reps, axis = ctx.reps, ctx.axis
        if _bw.is_array(gg):
            return namespace(gg).repeat(gg, reps, axis)
        return RepeatInterleave.apply(gg, reps, axis)


def _segment_sum_arrays(g, reps, axis, n):
    if isinstance(reps, int):
        shp = g.shape
        return g.reshape(shp[:axis] + (n, reps) + shp[axis + 1:]).sum(axis + 1)
    xp = namespace(g)
    ends = xp.cumsum(reps)
    starts = xp.concatenate((xp.zeros(1, ends.dtype), ends[:-1]))
    out_shape = g.shape[:axis] + (n,) + g.shape[axis + 1:]
    out = xp.zeros(out_shape, g.dtype)
    nz = reps > 0
    if nz.any():
        # reduceat sums g[starts[i]:starts[i+1]]; empty runs are filled with 0 separately
        sums = xp.add.reduceat(g, starts[nz], axis)
        out[(slice(None),) * axis + (nz,)] = sums
    return out


def _segment_sum(g, reps, axis, n):
    if _bw.is_array(g):
        return _segment_sum_arrays(g, reps, axis, n)
    return SegmentSum.apply(g, reps, axis, n)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times (an int or one count per element)
    along ``dim``; with dim=None the input is flattened first.
    ``repeat_interleave(counts)`` alone gives ``arange(len(counts))`` repeated."""
    if repeats is None:
        if input._data.ndim != 1 or input._data.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave: repeats must be a 1-dim integer tensor")
        counts = input._data
        if (counts < 0).any():
            raise RuntimeError("repeats can not be negative")
        xp = namespace(counts)
        return _wrap(xp.repeat(xp.arange(counts.size, dtype=counts.dtype), counts))
    if dim is None:
        input = Reshape.apply(input, (input._data.size,))
        ax = 0
    else:
        ax = _dim(dim, input._data.ndim)
        if input._data.ndim == 0:
            input = Reshape.apply(input, (1,))
    n = input._data.shape[ax]
    if isinstance(repeats, TensorBase):
        r = repeats._data
        if r.dtype.kind not in "iu":
            raise NotImplementedError(f"\"repeat_interleave_cpu\" not implemented for "
                                      f"'{_dtype_word(r.dtype)}'")
        if r.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        if (r < 0).any():
            raise RuntimeError("repeats can not be negative")
        if r.size == 1:
            repeats = int(r.reshape(()))
        elif r.size != n:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {r.size} and input.size({ax}) = {n}")
        else:
            repeats = r.astype(np.int64)
    else:
        repeats = operator.index(repeats)
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
    return RepeatInterleave.apply(input, repeats, ax)


# ---- triangles and diagonals ---------------------------------------------------------------

class Tril(Op):
    """The lower triangle (below diagonal k) of the last two dims."""
    _ctx_fields = ("k",)

    @staticmethod
    def forward(ctx, x, k):
        if ctx.needs_input_grad:
            ctx.k = k
        return namespace(x).tril(x, k)

    @staticmethod
    def backward(ctx, g):
        return _bw.tril(g, ctx.k)


class Triu(Op):
    """The upper triangle (above diagonal k) of the last two dims."""
    _ctx_fields = ("k",)

    @staticmethod
    def forward(ctx, x, k):
        if ctx.needs_input_grad:
            ctx.k = k
        return namespace(x).triu(x, k)

    @staticmethod
    def backward(ctx, g):
        return _bw.triu(g, ctx.k)


def tril(input, diagonal=0, *, out=None):
    if input._data.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    res = Tril.apply(input, _diagonal_arg("tril", diagonal))
    if out is not None:
        from .elementwise import _out
        return _out(res, out)
    return res


def triu(input, diagonal=0, *, out=None):
    if input._data.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    res = Triu.apply(input, _diagonal_arg("triu", diagonal))
    if out is not None:
        from .elementwise import _out
        return _out(res, out)
    return res


class Diagonal(Op):
    """The diagonal ``offset`` of the (axis1, axis2) planes, as the last dim: a view."""
    _ctx_fields = ("x_shape", "offset", "a1", "a2")
    _view = True

    @staticmethod
    def forward(ctx, x, offset, a1, a2):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.offset, ctx.a1, ctx.a2 = x.shape, offset, a1, a2
        return kernels(x).diagonal_view(x, offset, a1, a2)

    @staticmethod
    def backward(ctx, g):
        return _diagonal_scatter(g, ctx.x_shape, ctx.offset, ctx.a1, ctx.a2)


class DiagonalCopy(Diagonal):
    """torch.diag of a matrix: the diagonal as a new tensor."""
    _ctx_fields = ("x_shape", "offset", "a1", "a2")
    _node_name = "DiagonalBackward0_copy"
    _view = False

    @staticmethod
    def forward(ctx, x, offset, a1, a2):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.offset, ctx.a1, ctx.a2 = x.shape, offset, a1, a2
        return namespace(x).diagonal(x, offset, a1, a2).copy()


class DiagonalScatter(Op):
    """zeros(shape) with ``g`` on a diagonal (the gradient of ``Diagonal``)."""
    _ctx_fields = ("offset", "a1", "a2")

    @staticmethod
    def forward(ctx, g, shape, offset, a1, a2):
        if ctx.needs_input_grad:
            ctx.offset, ctx.a1, ctx.a2 = offset, a1, a2
        out = namespace(g).zeros(shape, g.dtype)
        kernels(out).diagonal_view(out, offset, a1, a2)[...] = g
        return out

    @staticmethod
    def backward(ctx, gg):
        offset, a1, a2 = ctx.offset, ctx.a1, ctx.a2
        if _bw.is_array(gg):
            return namespace(gg).diagonal(gg, offset, a1, a2)
        return Diagonal.apply(gg, offset, a1, a2)


class DiagEmbed(DiagonalScatter):
    """A new tensor whose (dim1, dim2) planes carry the input's last dim on a diagonal."""


def _diagonal_scatter(g, shape, offset, a1, a2):
    if _bw.is_array(g):
        out = namespace(g).zeros(shape, g.dtype)
        kernels(out).diagonal_view(out, offset, a1, a2)[...] = g
        return out
    return DiagonalScatter.apply(g, shape, offset, a1, a2)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal ``offset`` of the (dim1, dim2) planes as the last dim: a view."""
    nd = input._data.ndim
    a1, a2 = _dim(dim1, nd), _dim(dim2, nd)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, operator.index(offset), a1, a2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Place the last dim of ``input`` on diagonal ``offset`` of new (dim1, dim2) planes."""
    shp = input._data.shape
    nd = len(shp) + 1
    a1, a2 = _dim(dim1, nd), _dim(dim2, nd)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    offset = operator.index(offset)
    n = shp[-1] + abs(offset)
    out_shape = list(shp[:-1])
    lo, hi = min(a1, a2), max(a1, a2)
    out_shape.insert(lo, n)
    out_shape.insert(hi, n)
    return DiagEmbed.apply(input, tuple(out_shape), offset, a1, a2)


def diag(input, diagonal=0, *, out=None):
    """1-D input: a square matrix with it on diagonal ``diagonal``; 2-D input:
    that diagonal as a new 1-D tensor."""
    nd = input._data.ndim
    diagonal = _diagonal_arg("diag", diagonal)
    if nd == 1:
        res = diag_embed(input, diagonal, 0, 1)
    elif nd == 2:
        res = DiagonalCopy.apply(input, diagonal, 0, 1)
    else:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")
    if out is not None:
        from .elementwise import _out
        return _out(res, out)
    return res


# ---- meshgrid and atleast_nd -------------------------------------------------------------------

def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 0-D/1-D tensors, as expanded views of the inputs.
    ``indexing='ij'`` gives shape (len0, len1, ...); ``'xy'`` swaps the first two."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: '
                           f'{indexing}')
    dt = tensors[0]._data.dtype
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got a {t._data.ndim}-D tensor of shape {list(t._data.shape)}")
        if t._data.dtype != dt:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    n = len(tensors)
    pos = list(range(n))
    if indexing == "xy" and n >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * n
    for t, p in zip(tensors, pos):
        shape[p] = t._data.size
    out = []
    for t, p in zip(tensors, pos):
        s = [1] * n
        s[p] = t._data.size
        out.append(Expand.apply(Reshape.apply(t, tuple(s)), tuple(shape)))
    return tuple(out)


def _atleast(tensors, fn):
    if len(tensors) == 1:
        a = tensors[0]
        if isinstance(a, TensorBase):
            return fn(a)
        return tuple(fn(t) for t in a)
    return tuple(fn(t) for t in tensors)


def _atleast1(t):
    return Reshape.apply(t, (1,)) if t._data.ndim == 0 else t


def _atleast2(t):
    nd = t._data.ndim
    if nd >= 2:
        return t
    return Unsqueeze.apply(t, (1,) + t._data.shape if nd else (1, 1))


def _atleast3(t):
    nd = t._data.ndim
    shp = t._data.shape
    if nd >= 3:
        return t
    new = (1, 1, 1) if nd == 0 else ((1,) + shp + (1,) if nd == 1 else shp + (1,))
    return Unsqueeze.apply(t, new)


def atleast_1d(*tensors):
    """Each input viewed with at least one dim (a tensor, or a tuple for several)."""
    return _atleast(tensors, _atleast1)


def atleast_2d(*tensors):
    """0-d -> (1, 1), 1-D (n) -> (1, n); others unchanged."""
    return _atleast(tensors, _atleast2)


def atleast_3d(*tensors):
    """0-d -> (1, 1, 1), (n) -> (1, n, 1), (m, n) -> (m, n, 1); others unchanged."""
    return _atleast(tensors, _atleast3)


def _inplace_view(fn, name):
    """``x.unsqueeze_(0)`` and friends: x takes the view's shape and strides (and,
    when recorded, its grad_fn), as torch's in-place view ops do."""
    def method(self, *args, **kwargs):
        if self.requires_grad and self.grad_fn is None and _gm.enabled:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        r = fn(self, *args, **kwargs)
        self._data = r._data
        if r.requires_grad:
            self.grad_fn = r.grad_fn
            self._out_nr = r._out_nr
        self._vc[0] += 1
        return self
    method.__name__ = name
    method.__doc__ = f"In-place version of :meth:`{name[:-1]}` (changes this tensor's shape)."
    return method


squeeze_ = _inplace_view(squeeze, "squeeze_")
unsqueeze_ = _inplace_view(unsqueeze, "unsqueeze_")
t_ = _inplace_view(t, "t_")
transpose_ = swapaxes_ = swapdims_ = _inplace_view(transpose, "transpose_")


# Tensor.repeat (there is no torch.repeat function)
repeat = _repeat

