"""Shape ops: views (reshape, permute, expand, ...) and copies (cat, stack, ...).

View ops return NumPy views, so the result shares memory and the version
counter with its input, as torch's views share storage.
"""
import numpy as np

from .._tensor import Tensor, _wrap, _dim
from ..autograd.function import Op
from . import _bw
from ._util import ensure_tensor

_nd = np.ndarray


def _shape_args(shape):
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and f(Size)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _infer_shape(shape, numel, t_shape):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = list(shape)
        shape[neg[0]] = numel // known
        return tuple(shape)
    if known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Op):
    _node_name = "ViewBackward0"
    _view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return _bw.reshape(g, ctx.in_shape)


def reshape(input, *shape):
    shape = _shape_args(shape)
    d = input._data
    if shape == d.shape:
        return Reshape.apply(input, shape) if input.requires_grad else _alias(input)
    return Reshape.apply(input, _infer_shape(shape, d.size, d.shape))


def _alias(t):
    out = _wrap(t._data)
    out._vc = t._vc
    out._base = t if t._base is None else t._base
    return out


def view(input, *shape):
    """Like reshape, but refuses when the result can't share memory (torch's rule)."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and shape[0] is not None \
            and not isinstance(shape[0], np.integer):
        from .elementwise import _cast
        from .. import _dtype as D
        dt = D.to_dtype(shape[0])
        if dt.itemsize != input._data.itemsize:
            raise RuntimeError("view(dtype) with a different element size is not supported")
        return _alias_as(input, input._data.view(dt.np))
    shape = _infer_shape(_shape_args(shape), input._data.size, input._data.shape)
    d = input._data
    if not d.flags.c_contiguous and d.size > 1:
        try:
            v = d.view()
            v.shape = shape  # raises if impossible without a copy
        except AttributeError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead.") \
                from None
    return Reshape.apply(input, shape)


def _alias_as(t, arr):
    out = _wrap(arr)
    out._vc = t._vc
    out._base = t if t._base is None else t._base
    return out


def view_as(input, other):
    return view(input, other._data.shape)


def reshape_as(input, other):
    return reshape(input, other._data.shape)


def flatten(input, start_dim=0, end_dim=-1):
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, 1)
    s, e = _dim(start_dim, nd), _dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input._data.shape
    if s == e:
        return input
    n = 1
    for k in shp[s:e + 1]:
        n *= k
    return reshape(input, shp[:s] + (n,) + shp[e + 1:])


def unflatten(input, dim, sizes):
    nd = input._data.ndim
    d = _dim(dim, nd)
    shp = input._data.shape
    sizes = tuple(sizes)
    if -1 in sizes:
        sizes = _infer_shape(sizes, shp[d], None)
    n = 1
    for k in sizes:
        n *= k
    if n != shp[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size "
                           f"of dim {dim} ({shp[d]}) in the input tensor")
    return reshape(input, shp[:d] + sizes + shp[d + 1:])


class Permute(Op):
    _view = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return _bw.transpose(g, tuple(np.argsort(ctx.axes)))


def permute(input, *dims):
    dims = _shape_args(dims)
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does "
                           f"not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {nd} is not equal to len(dims) = {len(dims)}")
    axes = tuple(_dim(d, nd) for d in dims)
    if len(set(axes)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, axes)


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return _alias(input)
    a, b = _dim(dim0, nd), _dim(dim1, nd)
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute.apply(input, tuple(axes))


swapaxes = swapdims = transpose


def t(input):
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return transpose(input, 0, 1) if nd == 2 else _alias(input)


def adjoint(input):
    return transpose(input, -2, -1)


def movedim(input, source, destination):
    nd = input._data.ndim
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) "
                           f"should contain the same number of dims as destination ({list(dst)} dims)")
    src = [_dim(s, nd) for s in src]
    dst = [_dim(d, nd) for d in dst]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, tuple(order))


moveaxis = movedim


class Expand(Op):
    _view = True

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums it back to the input's shape


def expand(input, *sizes):
    sizes = _shape_args(sizes)
    shp = input._data.shape
    if len(sizes) < len(shp):
        raise RuntimeError(f"expand(ember.{input.dtype.name.capitalize()}Tensor{{{list(shp)}}}, "
                           f"size={list(sizes)}): the number of sizes provided ({len(sizes)}) must "
                           f"be greater or equal to the number of dimensions in the tensor ({len(shp)})")
    lead = len(sizes) - len(shp)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            out.append(s)
            continue
        cur = shp[i - lead]
        if s == -1:
            out.append(cur)
        elif cur == 1 or cur == s:
            out.append(s)
        else:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing "
                               f"size ({cur}) at non-singleton dimension {i}.  Target sizes: "
                               f"{list(sizes)}.  Tensor sizes: {list(shp)}")
    out = tuple(out)
    if out == shp and not input.requires_grad:
        return _alias(input)
    return Expand.apply(input, out)


def expand_as(input, other):
    return expand(input, *other._data.shape)


def broadcast_to(input, size):
    return expand(input, *size)


def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    shape = broadcast_shapes(*(t._data.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)


def broadcast_shapes(*shapes):
    from ._util import check_broadcast
    out = ()
    for s in shapes:
        s = (s,) if isinstance(s, int) else tuple(s)
        out = check_broadcast(out, s)
    from .._tensor import Size
    return Size(out)


class Squeeze(Op):
    _view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return _bw.reshape(g, ctx.in_shape)


def squeeze(input, dim=None):
    shp = input._data.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        nd = input._data.ndim
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {_dim(d, nd) for d in dims} if nd else set()
        new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    if new == shp:
        return _alias(input) if not input.requires_grad else Squeeze.apply(input, new)
    return Squeeze.apply(input, new)


def unsqueeze(input, dim):
    nd = input._data.ndim
    if dim < -nd - 1 or dim > nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd - 1}, {nd}], "
                         f"but got {dim})")
    if dim < 0:
        dim += nd + 1
    shp = input._data.shape
    return Squeeze.apply(input, shp[:dim] + (1,) + shp[dim:])


class Contiguous(Op):
    _node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x):
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(input, memory_format=None):
    if input._data.flags.c_contiguous:
        return input
    return Contiguous.apply(input)


class Clone(Op):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def clone(input, *, memory_format=None):
    return Clone.apply(input)


METHODS = [
    "reshape", "view", "view_as", "reshape_as", "flatten", "unflatten", "permute", "transpose",
    "swapaxes", "swapdims", "t", "adjoint", "movedim", "moveaxis", "expand", "expand_as",
    "broadcast_to", "squeeze", "unsqueeze", "contiguous", "clone",
]
INPLACE = []
