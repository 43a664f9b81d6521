"""Linear algebra: matmul in all its 1-D/2-D/batched/broadcast forms (mm, bmm,
mv, dot), the fused add-products (addmm, baddbmm, addmv, addbmm), einsum,
tensordot, outer, kron, trace, cross, matrix_power, and the matrix functions
behind ``ember.linalg`` (inv, det, slogdet, solve).

Backwards are matrix products written once for ndarrays and Tensors (``_bw``),
so create_graph=True records them and higher-order gradients work.
"""
import functools
import operator
import string

import numpy as np

from .. import _dtype as D
from .._errors import not_a_tensor
from .._tensor_base import TensorBase, _wrap, _dim
from ..autograd.function import Op
from ..backends import namespace, is_array as _is_backend_array
from . import _bw
from . import sparse as _sparse
from ..backends._sparse import SparseData as _SparseData
from .shape import (reshape, permute, unsqueeze, squeeze, diagonal, expand, _dtype_word,
                    _is_int)
from .._bfloat16 import is_float as _isf
from .._autocast import autocast_op

__all__ = [
    "matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "einsum", "tensordot",
    "kron", "trace", "addmm", "addmv", "baddbmm", "addbmm", "matrix_power", "cross",
    "inverse", "det", "logdet", "slogdet", "chain_matmul", "spmm", "matrix_exp", "orgqr",
]

def _shape_str(s):
    return "x".join(str(k) for k in s)


def _prod(s):
    n = 1
    for k in s:
        n *= k
    return n


def _need_tensor(x, fn, arg, pos):
    if not isinstance(x, TensorBase):
        raise not_a_tensor(fn, arg, x, pos)


# ---- matmul ----------------------------------------------------------------------------

_mm = _bw.matmul   # (..., k) @ (k, n) on arrays runs as one GEMM there


class _ShapeOf:
    """Stands in for an operand whose values backward doesn't need."""
    __slots__ = ("shape", "ndim")

    def __init__(self, a):
        self.shape, self.ndim = a.shape, a.ndim


class MatMul(Op):
    """matmul semantics (NumPy's, torch's): 1-D operands are promoted to a
    row/column and the added dim removed again; batch dims broadcast."""
    _node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        need = ctx.needs_input_grad
        if need:
            # Keep only what the needed gradients use (as torch: x @ w with a
            # frozen w doesn't keep x, and x may then change in place).
            ctx.save_for_backward(a if need[1] else _ShapeOf(a), b if need[0] else _ShapeOf(b))
        return _mm(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # (complex operands: the products below take conj(a), conj(b), torch's convention)
        a, b = _bw.conj(a), _bw.conj(b)
        need = ctx.needs_input_grad
        ad, bd = a.ndim, b.ndim
        ga = gb = None
        if ad == 1 and bd == 1:                     # dot product
            return (g * b if need[0] else None), (g * a if need[1] else None)
        if ad == 1:                                 # (k) @ (..., k, n) -> (..., n)
            k = a.shape[0]
            if need[0]:                             # sum over batch and n in one product
                ga = _bw.matmul(_bw.swap_last(_bw.reshape(_bw.swap_last(b), (-1, k))),
                                _bw.reshape(g, (-1,)))
            if need[1]:                             # outer product a g, batched
                gb = _bw.matmul(_bw.expand_dims(a, (1,)), _bw.expand_dims(g, (g.ndim - 1,)))
            return ga, gb
        if bd == 1:                                 # (..., m, k) @ (k) -> (..., m)
            k = b.shape[0]
            if need[0]:
                ga = _bw.matmul(_bw.expand_dims(g, (g.ndim,)), _bw.expand_dims(b, (0,)))
            if need[1]:
                gb = _bw.matmul(_bw.swap_last(_bw.reshape(a, (-1, k))), _bw.reshape(g, (-1,)))
            return ga, gb
        if need[0]:
            if ad == 2 and bd > 2:
                # a was broadcast over b's batch: fold the batch into one product
                nb = g.ndim - 2
                gp = _bw.reshape(_bw.transpose(g, (nb,) + tuple(range(nb)) + (nb + 1,)),
                                 (g.shape[-2], -1))                      # (m, B*n)
                ga = _bw.matmul(gp, _bw.reshape(_bw.swap_last(b), (-1, b.shape[-2])))
            else:
                ga = _mm(g, _bw.swap_last(b))
        if need[1]:
            if bd == 2 and ad > 2:
                # b was broadcast over a's batch: one (k, B*m) @ (B*m, n) product
                gb = _bw.matmul(_bw.swap_last(_bw.reshape(a, (-1, a.shape[-1]))),
                                _bw.reshape(g, (-1, g.shape[-1])))
            else:
                gb = _bw.matmul(_bw.swap_last(a), g)
        return ga, gb


class Dot(MatMul):
    _node_name = "DotBackward0"


class Mv(MatMul):
    _node_name = "MvBackward0"


class Bmm(MatMul):
    _node_name = "BmmBackward0"


class _UnsafeView(MatMul):
    _node_name = "UnsafeViewBackward0"


def _matmul_dtype_error(a, b):
    ad, bd = a._data.ndim, b._data.ndim
    x, y = a._data.dtype, b._data.dtype
    if ad == 1 and bd == 1:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{_dtype_word(x)} and {_dtype_word(y)}")
    if bd == 1:
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got "
                           f"{_dtype_word(y)}, {_dtype_word(x)}, and {_dtype_word(y)}")
    if bd == 2:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{D.c_name_of(x)} != {D.c_name_of(y)}")
    raise RuntimeError(f"expected scalar type {_dtype_word(x)} but found {_dtype_word(y)}")


def _matmul_shape_error(sa, sb):
    """Raise torch's message for operands whose shapes don't multiply."""
    ad, bd = len(sa), len(sb)
    if ad == 1 and bd == 1:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] "
                           f"to have the same number of elements, but got {sa[0]} and {sb[0]} "
                           "elements respectively")
    if bd == 1:
        m = _prod(sa[:-1])
        raise RuntimeError(f"size mismatch, got input ({m}), mat ({m}x{sa[-1]}), vec ({sb[0]})")
    if bd == 2:
        m = _prod(sa[:-1])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{sa[-1]} and "
                           f"{_shape_str(sb)})")
    from ._util import check_broadcast
    batch = check_broadcast(tuple(sa[:-2]), tuple(sb[:-2]))
    n = _prod(batch)
    raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                       f"[{n}, {sa[-1]}] but got: [{n}, {sb[-2]}].")


def _check_matmul(a, b, fn="matmul"):
    _need_tensor(a, fn, "input", 1)
    _need_tensor(b, fn, "other", 2)
    ad, bd = a._data.ndim, b._data.ndim
    if ad == 0 or bd == 0:
        raise RuntimeError(f"both arguments to {fn} need to be at least 1D, but they are "
                           f"{ad}D and {bd}D")
    if a._data.dtype != b._data.dtype:
        _matmul_dtype_error(a, b)


def _apply_mm(cls, a, b):
    try:
        return cls.apply(a, b)
    except ValueError:
        _matmul_shape_error(a._data.shape, b._data.shape)
        raise


@autocast_op("lower")
def matmul(input, other, *, out=None):
    """Matrix product with torch semantics for 1-D, 2-D and batched (broadcast) inputs:
    (k)@(k) -> (), (m,k)@(k) -> (m), (k)@(...,k,n) -> (...,n), (...,m,k)@(...,k,n) -> (...,m,n)."""
    if _is_backend_array(input):    # ndarray @ Tensor reaches here through __rmatmul__
        input = _wrap(input)
    if _is_backend_array(other):
        other = _wrap(other)
    _check_matmul(input, other)
    try:
        res = _apply_mm(MatMul, input, other)
    except NotImplementedError:
        # A sparse operand (its data refuses dense kernels): the sparse product.
        # Found here, where it failed, so the dense path pays nothing for it.
        if _has_sparse(input, other):
            return _out(_sparse.sparse_mm(input, other), out)
        raise
    return _out(res, out)


def _has_sparse(*tensors):
    return any(type(t._data) is _SparseData for t in tensors)


def _out(res, out):
    if out is None:
        return res
    from .elementwise import _out as o
    return o(res, out)


def spmm(input, mat2):
    """torch.spmm, a sparse (or dense) matrix times a dense one: :func:`mm`."""
    return mm(input, mat2)


@autocast_op("lower")
def mm(input, mat2, *, out=None):
    """(n, m) @ (m, p) -> (n, p)."""
    _need_tensor(input, "mm", "input", 1)
    _need_tensor(mat2, "mm", "mat2", 2)
    if input._data.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2._data.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if input._data.dtype != mat2._data.dtype:
        _matmul_dtype_error(input, mat2)
    try:
        return _out(_apply_mm(MatMul, input, mat2), out)
    except NotImplementedError:
        if _has_sparse(input, mat2):      # (see matmul)
            return _out(_sparse.sparse_mm(input, mat2), out)
        raise


@autocast_op("lower")
def bmm(input, mat2, *, out=None):
    """(b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting."""
    _need_tensor(input, "bmm", "input", 1)
    _need_tensor(mat2, "bmm", "mat2", 2)
    if input._data.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2._data.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    s1, s2 = input._data.shape, mat2._data.shape
    if s1[0] != s2[0] or s1[2] != s2[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{s1[0]}, {s1[2]}] but got: [{s2[0]}, {s2[1]}].")
    if input._data.dtype != mat2._data.dtype:
        raise RuntimeError(f"expected scalar type {_dtype_word(input._data.dtype)} but found "
                           f"{_dtype_word(mat2._data.dtype)}")
    return _out(Bmm.apply(input, mat2), out)


def mv(input, vec, *, out=None):
    """(n, m) @ (m) -> (n)."""
    _need_tensor(input, "mv", "input", 1)
    _need_tensor(vec, "mv", "vec", 2)
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input._data.ndim}, "
                           f"{vec._data.ndim}")
    if input._data.dtype != vec._data.dtype:
        _matmul_dtype_error(input, vec)
    return _out(_apply_mm(Mv, input, vec), out)


def dot(input, other, *, out=None):
    """Inner product of two 1-D tensors of the same dtype and length."""
    _need_tensor(input, "dot", "input", 1)
    _need_tensor(other, "dot", "tensor", 2)
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and "
                           f"{other._data.ndim}D tensors")
    if input._data.dtype != other._data.dtype:
        _matmul_dtype_error(input, other)
    return _out(_apply_mm(Dot, input, other), out)


def vdot(input, other, *, out=None):
    """The dot product of conj(input) and other (dot itself for real tensors)."""
    _need_tensor(input, "vdot", "input", 1)
    if input._data.dtype.kind == "c":
        input = input.conj()
    return dot(input, other, out=out)


def inner(input, other, *, out=None):
    """Sum over the last dim of both: (..., k) x (..., k) -> (a..., b...)."""
    if input._data.ndim == 0 or other._data.ndim == 0:
        from .elementwise import mul
        return _out(mul(input, other), out)
    return _out(tensordot(input, other, ([-1], [-1])), out)


def outer(input, vec2, *, out=None):
    """(n) x (m) -> (n, m) with entries input[i] * vec2[j] (types promoted)."""
    for name, v in (("self", input), ("vec2", vec2)):
        if v._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v._data.ndim}-D")
    from .elementwise import mul
    return _out(mul(unsqueeze(input, 1), vec2), out)


ger = outer


@autocast_op("lower")
def vecdot(x, y, *, dim=-1, out=None):
    """Sum of x * y over ``dim`` (inputs broadcast): torch.linalg.vecdot."""
    from .elementwise import mul
    from .reduction import sum as rsum
    if isinstance(x, TensorBase) and x._data.dtype.kind == "c":
        x = x.conj()            # (torch: sum of conj(x) * y)
    return _out(rsum(mul(x, y), dim), out)


def _linalg_diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """torch.linalg.diagonal: the diagonals of the matrices in A (a view)."""
    return diagonal(A, offset, dim1, dim2)


def chain_matmul(*matrices, out=None):
    return _out(_multi_dot(list(matrices)), out)


def _multi_dot(tensors):
    if len(tensors) == 0:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got 0")
    if len(tensors) == 1:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got 1")
    r = tensors[0]
    for m in tensors[1:]:
        r = matmul(r, m)
    return r


# ---- fused add-products ---------------------------------------------------------------------

class AddMm(Op):
    """beta * c + alpha * (a @ b), c broadcast to the product (one node, as torch)."""
    _ctx_fields = ("beta", "alpha")
    _node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, c, a, b, beta, alpha):
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, b)
            ctx.beta, ctx.alpha = beta, alpha
        out = _mm(a, b)
        if alpha != 1:
            out *= alpha
        if beta != 0:
            out += c if beta == 1 else beta * c
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a, b = _bw.conj(a), _bw.conj(b)        # (complex operands: torch's convention)
        beta, alpha = ctx.beta, _bw.conj(ctx.alpha)
        need = ctx.needs_input_grad
        gc = ga = gb = None
        if need[0]:
            gc = g if beta == 1 else g * _bw.conj(beta)   # the engine sums it to c's shape
        ga_g = g if alpha == 1 else g * alpha
        if need[1]:
            ga = _mm(ga_g, _bw.swap_last(b))
        if need[2]:
            gb = _bw.matmul(_bw.swap_last(a), ga_g)
        return gc, ga, gb


class BaddBmm(AddMm):
    _node_name = "BaddbmmBackward0"


def _check_add_dtype(input, m1, m2, fn):
    if m1._data.dtype != m2._data.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                           f"{_dtype_word(m1._data.dtype)} and {_dtype_word(m2._data.dtype)}")
    if input._data.dtype != m1._data.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                           f"{_dtype_word(input._data.dtype)} and {_dtype_word(m2._data.dtype)}")


def _check_add_shape(input, shape):
    """input must broadcast to the product's shape (torch reports it as expand)."""
    if input._data.shape != shape:
        expand(input.detach(), *shape)


@autocast_op("lower")
def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * (mat1 @ mat2); mat1 (n, m), mat2 (m, p), input
    broadcastable to (n, p).  With beta=0 input is ignored (nan not propagated)."""
    for v, name, pos in ((input, "input", 1), (mat1, "mat1", 2), (mat2, "mat2", 3)):
        _need_tensor(v, "addmm", name, pos)
    if mat1._data.ndim != 2:
        raise RuntimeError(f"mat1 must be a matrix, got {mat1._data.ndim}-D tensor")
    if mat2._data.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {mat2._data.ndim}-D tensor")
    s1, s2 = mat1._data.shape, mat2._data.shape
    if s1[1] != s2[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(s1)} and "
                           f"{_shape_str(s2)})")
    _check_add_dtype(input, mat1, mat2, "addmm")
    _check_add_shape(input, (s1[0], s2[1]))
    try:
        return _out(AddMm.apply(input, mat1, mat2, beta, alpha), out)
    except NotImplementedError:
        if _has_sparse(mat1):             # (see matmul)
            return _out(_sparse.sparse_addmm(input, mat1, mat2, beta=beta, alpha=alpha,
                                             masked=False), out)
        raise


@autocast_op("lower")
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * bmm(batch1, batch2), input broadcastable to (b, n, p)."""
    for v, name, pos in ((input, "input", 1), (batch1, "batch1", 2), (batch2, "batch2", 3)):
        _need_tensor(v, "baddbmm", name, pos)
    if batch1._data.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if batch2._data.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    s1, s2 = batch1._data.shape, batch2._data.shape
    if s1[0] != s2[0] or s1[2] != s2[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{s1[0]}, {s1[2]}] but got: [{s2[0]}, {s2[1]}].")
    _check_add_dtype(input, batch1, batch2, "baddbmm")
    _check_add_shape(input, (s1[0], s1[1], s2[2]))
    return _out(BaddBmm.apply(input, batch1, batch2, beta, alpha), out)


@autocast_op("lower")
def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * sum_b batch1[b] @ batch2[b]: one (n, b*m) @ (b*m, p) product."""
    for v, name, pos in ((input, "input", 1), (batch1, "batch1", 2), (batch2, "batch2", 3)):
        _need_tensor(v, "addbmm", name, pos)
    if batch1._data.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if batch2._data.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    s1, s2 = batch1._data.shape, batch2._data.shape
    if s1[0] != s2[0] or s1[2] != s2[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{s1[0]}, {s1[2]}] but got: [{s2[0]}, {s2[1]}].")
    _check_add_dtype(input, batch1, batch2, "addbmm")
    _check_add_shape(input, (s1[1], s2[2]))
    b, n, m = s1
    m1 = reshape(permute(batch1, 1, 0, 2), n, b * m)
    m2 = reshape(batch2, b * m, s2[2])
    return _out(AddMm.apply(input, m1, m2, beta, alpha), out)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * (mat @ vec); mat (n, m), vec (m), input broadcastable to (n)."""
    for v, name, pos in ((input, "input", 1), (mat, "mat", 2), (vec, "vec", 3)):
        _need_tensor(v, "addmv", name, pos)
    if mat._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input._data.ndim}, "
                           f"{mat._data.ndim}, {vec._data.ndim}")
    if not (input._data.dtype == mat._data.dtype == vec._data.dtype):
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got "
                           f"{_dtype_word(input._data.dtype)}, {_dtype_word(mat._data.dtype)}, "
                           f"and {_dtype_word(vec._data.dtype)}")
    sm, sv = mat._data.shape, vec._data.shape
    if sm[1] != sv[0]:
        raise RuntimeError(f"size mismatch, got input ({sm[0]}), mat ({_shape_str(sm)}), "
                           f"vec ({sv[0]})")
    _check_add_shape(input, (sm[0],))
    prod = mv(mat, vec)
    from .elementwise import add, mul
    if alpha != 1:
        prod = mul(prod, alpha)
    if beta == 0:
        return _out(prod, out)
    return _out(add(prod, input if beta == 1 else mul(input, beta)), out)


# ---- einsum -----------------------------------------------------------------------------------

# label order for implicit outputs and sublists: torch sorts A-Z before a-z
_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _einsum_arrays(eq, arrays):
    """einsum of raw arrays, routed through matrix products (a contraction
    path: ``optimize``) when the contraction is big."""
    xp = namespace(*arrays)
    if len(arrays) >= 2 and _big(eq, tuple(a.shape for a in arrays)):
        return xp.asarray(xp.einsum(eq, *arrays, optimize="greedy"))
    return xp.asarray(xp.einsum(eq, *arrays))


@functools.lru_cache(maxsize=1024)
def _big(eq, shapes):
    """Is the naive loop over all labels big enough to pay for a contraction path?"""
    sizes = {}
    for term, shp in zip(eq.split("->")[0].split(","), shapes):
        for c, n in zip(term, shp):
            sizes[c] = max(sizes.get(c, 1), n)
    return _prod(sizes.values()) > 4096


class Einsum(Op):
    """einsum with an explicit equation and no label repeated within an
    operand; the gradient of each operand is another einsum."""
    _ctx_fields = ("eq",)
    _node_name = "EinsumBackward0"
    _view = True  # 'ij->ji' and the like come back as views, as torch's

    @staticmethod
    def forward(ctx, *arrays, eq):
        if ctx.needs_input_grad:
            ctx.eq = eq
            ctx.save_for_backward(*arrays)
        return _einsum_arrays(eq, arrays)

    @staticmethod
    def backward(ctx, g):
        xs = [_bw.conj(x) for x in ctx.saved_tensors]    # (complex: torch's convention)
        lhs, out = ctx.eq.split("->")
        terms = lhs.split(",")
        need = ctx.needs_input_grad
        grads = []
        for i, x in enumerate(xs):
            if not need[i]:
                grads.append(None)
                continue
            li = terms[i]
            others = [terms[j] for j in range(len(xs)) if j != i]
            avail = set(out).union(*others)
            keep = "".join(c for c in li if c in avail)
            gi = _bw.einsum(",".join([out] + others) + "->" + keep, g,
                            *[xs[j] for j in range(len(xs)) if j != i])
            # labels only operand i had were summed away: bring them back by broadcasting;
            # size-1 labels broadcast against others come back summed by the engine
            gshape = tuple(gi.shape[keep.index(c)] if c in keep else 1 for c in li)
            if keep != li:
                gi = _bw.reshape(gi, gshape)
            target = tuple(q if p == 1 else p for p, q in zip(gshape, x.shape))
            if target != gshape:
                gi = _bw.broadcast_to(gi, target)
            grads.append(gi)
        return tuple(grads)


def _sublist_equation(args):
    """einsum(op0, sub0, op1, sub1, ..., [out]) -> (equation, operands)."""
    ops = list(args[0::2])
    subs = list(args[1::2])
    out = None
    if len(ops) > len(subs):
        out = ops.pop()

    def conv(sub):
        s = ""
        for v in sub:
            if v is Ellipsis:
                s += "..."
            else:
                v = operator.index(v)
                if not 0 <= v < 52:
                    raise RuntimeError(f"einsum(): subscript in subscript list is not within the "
                                       f"valid range [0, 52), got {v}")
                s += _LETTERS[v]
        return s
    eq = ",".join(conv(s) for s in subs)
    if out is not None:
        eq += "->" + conv(out)
    return eq, ops


def _parse_term(term, k, start, what="operand"):
    """Labels of one term; '...' becomes None.  ``start`` is its index in the equation."""
    labels = []
    j = 0
    while j < len(term):
        c = term[j]
        if c == ".":
            if term[j:j + 3] != "...":
                raise RuntimeError(f"einsum(): found '.' for {what} {k} that is not part of any "
                                   "ellipsis")
            if None in labels:
                raise RuntimeError(f"einsum(): found '.' for {what} {k} for which an ellipsis was "
                                   "already found")
            labels.append(None)
            j += 3
        elif c in _LETTERS:
            labels.append(c)
            j += 1
        else:
            raise RuntimeError(f"einsum(): invalid subscript given at index {start + j} in the "
                               "equation string, subscripts must be in [a-zA-Z]")
    return labels


def einsum(*args):
    """Einstein summation: ``einsum('ij,jk->ik', a, b)``, with '...' for broadcast
    dims and an implicit output (labels seen once, sorted) when '->' is absent.
    Also accepts the operands as one list, and the sublist format."""
    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand, "
                        "or at least one operand and its subscripts list")
    if isinstance(args[0], str):
        eq, ops = args[0], list(args[1:])
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
    else:
        eq, ops = _sublist_equation(args)
    for i, o in enumerate(ops):
        if not isinstance(o, TensorBase):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(o).__name__}")
    steps, equation = _einsum_plan(eq, tuple(o._data.shape for o in ops))
    dt = ops[0]._data.dtype
    for o in ops:
        if o._data.dtype != dt:
            raise RuntimeError(f"expected scalar type {_dtype_word(dt)} but found "
                               f"{_dtype_word(o._data.dtype)}")
    for k, p, q in steps:
        ops[k] = diagonal(ops[k], 0, p, q)
    return Einsum.apply(*ops, eq=equation)


@functools.lru_cache(maxsize=1024)
def _einsum_plan(eq, shapes):
    """Check an equation against the operand shapes and make it explicit: the
    ellipsis becomes letters, the implicit output is spelled out.  Returns
    (diagonal steps (operand, dim1, dim2) that remove repeated labels, equation)."""
    eq = eq.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->", 1)
    else:
        lhs, rhs = eq, None
    raw_terms = lhs.split(",")
    if len(raw_terms) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(raw_terms) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    terms = []
    pos = 0
    for k, term in enumerate(raw_terms):
        terms.append(_parse_term(term, k, pos))
        pos += len(term) + 1
    out_labels = _parse_term(rhs, 0, len(lhs) + 2, "output") if rhs is not None else None

    # the ellipsis becomes fresh letters, right-aligned across operands
    used = set(c for t in terms for c in t if c is not None)
    ell_nd = 0
    for k, (t, shp) in enumerate(zip(terms, shapes)):
        n_lab = len(t) - (None in t)
        nd = len(shp)
        if None in t:
            if n_lab > nd:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n_lab}) "
                                   f"is more than the number of dimensions ({nd}) for operand {k}")
            ell_nd = max(ell_nd, nd - n_lab)
        elif n_lab != nd:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n_lab}) does "
                               f"not match the number of dimensions ({nd}) for operand {k} and no "
                               "ellipsis was given")
    fresh = [c for c in _LETTERS if c not in used][:ell_nd]
    if len(fresh) < ell_nd:
        raise RuntimeError("einsum(): too many subscripts: the equation and the ellipsis "
                           "dimensions need more than 52 labels")
    expanded = []
    sizes = {}
    for k, (t, shp) in enumerate(zip(terms, shapes)):
        if None in t:
            e = len(shp) - (len(t) - 1)
            p = t.index(None)
            t = t[:p] + fresh[ell_nd - e:] + t[p + 1:]
        seen = {}
        for c, s in zip(t, shp):
            if c in seen and seen[c] != s:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the "
                                   f"sizes don't match, {s} != {seen[c]}")
            seen[c] = s
            prev = sizes.get(c)
            if prev is None or prev == 1:
                sizes[c] = s
            elif s != 1 and s != prev:
                if c in fresh:
                    raise RuntimeError(
                        f"einsum(): dimension {fresh.index(c)} covered by ellipsis in operand {k} "
                        f"has size {s} which does not broadcast with previously seen ellipsis "
                        f"with size {prev} for the respective dimension")
                raise RuntimeError(f"einsum(): subscript {c} has size {s} for operand {k} which "
                                   f"does not broadcast with previously seen size {prev}")
        expanded.append(t)

    if out_labels is None:
        counts = {}
        for t in terms:
            for c in t:
                if c is not None:
                    counts[c] = counts.get(c, 0) + 1
        out = fresh + sorted(c for c, n in counts.items() if n == 1)
    else:
        out = []
        for c in out_labels:
            if c is None:
                out += fresh
                continue
            if c not in used:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   "equation for any input operand")
            if c in out:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the "
                                   "output")
            out.append(c)

    # a label repeated within an operand takes that operand's diagonal (a view)
    steps = []
    for k, t in enumerate(expanded):
        while len(set(t)) != len(t):
            c = next(c for c in t if t.count(c) > 1)
            p = t.index(c)
            q = t.index(c, p + 1)
            steps.append((k, p, q))
            t = [x for i, x in enumerate(t) if i != p and i != q] + [c]
        expanded[k] = t
    return tuple(steps), ",".join("".join(t) for t in expanded) + "->" + "".join(out)


# ---- tensordot / kron / trace / cross ---------------------------------------------------------

def tensordot(a, b, dims=2, out=None):
    """Contract dims ``dims[0]`` of a with ``dims[1]`` of b (or the last ``dims``
    of a with the first ``dims`` of b); one matrix product after a permute."""
    if isinstance(dims, TensorBase):
        dims = dims._data.tolist()
    if _is_int(dims):
        n = operator.index(dims)
        if n < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={n}")
        if n > a._data.ndim or n > b._data.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={n}")
        da = list(range(-n, 0))
        db = list(range(n))
    else:
        if len(dims) != 2:
            raise RuntimeError("tensordot expects dims to be a pair of lists of dims")
        da = [dims[0]] if _is_int(dims[0]) else list(dims[0])
        db = [dims[1]] if _is_int(dims[1]) else list(dims[1])
        if len(da) != len(db):
            raise RuntimeError(f"both dimension lists should have same length, got {len(da)} and "
                               f"{len(db)}")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError("both inputs should have same dtype")
    sa, sb = a._data.shape, b._data.shape
    na, nb = len(sa), len(sb)
    ca = [_dim(d, na) for d in da]
    cb = [_dim(d, nb) for d in db]
    for x, y, ra, rb in zip(ca, cb, da, db):
        if sa[x] != sb[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {sa[x]} "
                               f"in dim {ra} and second has size {sb[y]} in dim {rb}")
    fa = [i for i in range(na) if i not in ca]
    fb = [i for i in range(nb) if i not in cb]
    k = _prod(sa[i] for i in ca)
    am = reshape(permute(a, *(fa + ca)), _prod(sa[i] for i in fa), k)
    bm = reshape(permute(b, *(cb + fb)), k, _prod(sb[i] for i in fb))
    res = reshape(mm(am, bm), *([sa[i] for i in fa] + [sb[i] for i in fb]))
    return _out(res, out)


def kron(input, other, *, out=None):
    """Kronecker product: block (i...) of the result is input[i...] * other."""
    from .elementwise import mul
    sa, sb = input._data.shape, other._data.shape
    n = max(len(sa), len(sb))
    sa = (1,) * (n - len(sa)) + sa
    sb = (1,) * (n - len(sb)) + sb
    a = reshape(input, *[v for s in sa for v in (s, 1)])
    b = reshape(other, *[v for s in sb for v in (1, s)])
    return _out(reshape(mul(a, b), *[x * y for x, y in zip(sa, sb)]), out)


class Trace(Op):
    """Sum of the main diagonal of a matrix (ints sum as int64)."""
    _ctx_fields = ("x_shape", "x_dtype")

    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.x_dtype = x.shape, x.dtype
        dt = np.int64 if x.dtype.kind in "iub" else x.dtype
        xp = namespace(x)
        return xp.asarray(xp.trace(x, dtype=dt))

    @staticmethod
    def backward(ctx, g):
        shape = ctx.x_shape
        return g * namespace(g).eye(shape[0], shape[1], dtype=ctx.x_dtype)


@autocast_op("fp32")
def trace(input):
    """Sum of the main diagonal of a 2-D tensor."""
    nd = input._data.ndim
    if nd != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {nd}")
    if input._data.dtype == np.bool_:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return Trace.apply(input)


class Cross(Op):
    """The 3-vector cross product along ``axis`` (inputs broadcast)."""
    _ctx_fields = ("axis",)
    _node_name = "LinalgCrossBackward0"

    @staticmethod
    def forward(ctx, a, b, axis):
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, b)
            ctx.axis = axis
        return namespace(a).cross(a, b, axis=axis)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        ax = ctx.axis
        a, b = _bw.conj(a), _bw.conj(b)        # (complex: torch's convention)
        return (_cross(b, g, ax) if need[0] else None), (_cross(g, a, ax) if need[1] else None)


def _cross(a, b, axis):
    if _bw.is_array(a) and _bw.is_array(b):
        return namespace(a).cross(a, b, axis=axis)
    return Cross.apply(_bw._t(a), _bw._t(b), axis)


def _linalg_cross(input, other, dim=-1, fn="linalg.cross"):
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(f"expected scalar type {_dtype_word(input._data.dtype)} but found "
                           f"{_dtype_word(other._data.dtype)}")
    sa, sb = input._data.shape, other._data.shape
    if len(sa) != len(sb):
        raise RuntimeError(f"{fn}: inputs must have the same number of dimensions.")
    from ._util import check_broadcast
    shape = check_broadcast(sa, sb)
    ax = _dim(dim, len(shape))
    if sa[ax] != 3 or sb[ax] != 3:
        raise RuntimeError(f"{fn}: inputs dimension {dim} must have length 3. Got {sa[ax]} and "
                           f"{sb[ax]}")
    return Cross.apply(input, other, ax - len(shape))


def cross(input, other, dim=None, *, out=None):
    """Cross product of 3-vectors along ``dim`` (default: the first dim of size 3)."""
    if dim is None:
        import warnings
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease "
                      "either pass the dim explicitly or simply use torch.linalg.cross.\nThe "
                      "default value of dim will change to agree with that of linalg.cross in a "
                      "future release.", UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(input._data.shape) if s == 3), -1)
    return _out(_linalg_cross(input, other, dim), out)


# ---- matrix functions: inv, det, slogdet, solve, matrix_power ------------------------------------

class LinAlgError(RuntimeError):
    """A matrix function failed (e.g. a singular matrix): torch.linalg.LinAlgError."""


def _check_square(A, fn, float_only=True):
    if not isinstance(A, TensorBase):
        raise not_a_tensor(fn, "A", A, 1)
    s = A._data.shape
    if len(s) < 2:
        raise RuntimeError(f"{fn}: The input tensor A must have at least 2 dimensions.")
    if s[-1] != s[-2]:
        raise RuntimeError(f"{fn}: A must be batches of square matrices, but they are {s[-2]} by "
                           f"{s[-1]} matrices")
    if float_only and A._data.dtype.kind == "c":
        raise NotImplementedError(f"{fn}: complex matrices are not supported by Ember")
    if float_only and not _isf(A._data.dtype):
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got "
                           f"{_dtype_word(A._data.dtype)}")


class Inv(Op):
    """Batched matrix inverse; d(A^-1) = -A^-1 dA A^-1."""
    _node_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, A):
        xp = namespace(A)
        try:
            out = xp.linalg.inv(A)
        except xp.linalg.LinAlgError:
            raise LinAlgError("linalg.inv: The diagonal element is zero, the inversion could not "
                              "be completed because the input matrix is singular.") from None
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        inv, = ctx.saved_tensors
        it = _bw.swap_last(inv)
        return -_bw.matmul(_bw.matmul(it, g), it)


def _inv(A):
    if _bw.is_array(A):
        return namespace(A).linalg.inv(A)
    return Inv.apply(A)


@autocast_op("fp32")
def inverse(input, *, out=None):
    """The inverse of each square matrix in the (batched) input."""
    _check_square(input, "linalg.inv")
    return _out(Inv.apply(input), out)


def _expand_last2(x):
    """(...,) -> (..., 1, 1) so a per-matrix scalar broadcasts over matrices."""
    return _bw.expand_dims(x, (x.ndim, x.ndim + 1))


class Det(Op):
    """Batched determinant; d det(A) = det(A) A^-T (the adjugate for singular A)."""
    _node_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, A):
        xp = namespace(A)
        out = xp.asarray(xp.linalg.det(A))
        if ctx.needs_input_grad:
            ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, det = ctx.saved_tensors
        if _bw.is_array(A):
            return _expand_last2(g) * _adjugate_t(A, det)
        # recorded path: det * A^-T with differentiable ops (needs an invertible A)
        return _expand_last2(g * det) * _bw.swap_last(_inv(A))


def _adjugate_t(A, det):
    """adj(A)^T = det(A) A^-T of raw arrays, valid for singular A too (via the SVD)."""
    xp = namespace(A)
    n = A.shape[-1]
    if n == 0:
        return xp.zeros_like(A)
    scale = xp.abs(A).max(axis=(-2, -1)) if A.size else 0
    ok = xp.abs(det) > (xp.maximum(scale, 1e-300) ** n * (np.finfo(A.dtype).eps * 10))
    if xp.all(ok):
        return det[..., None, None] * xp.swapaxes(xp.linalg.inv(A), -1, -2)
    # A = U S Vh  =>  adj(A)^T = det(U) det(Vh) U diag(prod_{j != i} s_j) Vh
    U, s, Vh = xp.linalg.svd(A)
    prods = xp.empty_like(s)
    for i in range(n):
        prods[..., i] = xp.prod(xp.delete(s, i, axis=-1), axis=-1)
    sign = xp.linalg.det(U) * xp.linalg.det(Vh)
    return sign[..., None, None] * (U * prods[..., None, :]) @ Vh


def det(input):
    """The determinant of each square matrix in the (batched) input."""
    _check_square(input, "linalg.det")
    return Det.apply(input)


class SlogDet(Op):
    """(sign, log|det|) of each matrix; only log|det| is differentiable (A^-T)."""
    _node_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, A):
        xp = namespace(A)
        sign, logabs = xp.linalg.slogdet(A)
        if ctx.needs_input_grad:
            ctx.save_for_backward(A)
        ctx.mark_non_differentiable(0)
        return xp.asarray(sign), xp.asarray(logabs)

    @staticmethod
    def backward(ctx, gsign, glog):
        A, = ctx.saved_tensors
        return _expand_last2(glog) * _bw.swap_last(_inv(A))


def slogdet(input):
    """(sign, logabsdet) of the determinant; both with the batch shape."""
    _check_square(input, "linalg.slogdet")
    sign, logabs = SlogDet.apply(input)
    return _SlogdetResult(sign, logabs)


class _SlogdetResult(tuple):
    """A (sign, logabsdet) pair, also reachable by name as torch's result."""

    def __new__(cls, sign, logabsdet):
        return tuple.__new__(cls, (sign, logabsdet))

    @property
    def sign(self):
        return self[0]

    @property
    def logabsdet(self):
        return self[1]


def logdet(input):
    """log det(A): nan for a negative determinant, -inf for a singular matrix."""
    sign, logabs = slogdet(input)
    from .elementwise import where
    s = sign._data
    if (s >= 0).all():
        return where(_wrap(s == 0), float("-inf"), logabs)
    return where(_wrap(s < 0), float("nan"), where(_wrap(s == 0), float("-inf"), logabs))


class Solve(Op):
    """X with A X = B (B a batch of matrices; vectors are handled by the wrapper).
    dB = A^-T g,  dA = -dB X^T."""
    _node_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, A, B):
        xp = namespace(A)
        try:
            X = xp.linalg.solve(A, B)
        except xp.linalg.LinAlgError:
            raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is "
                              "singular.") from None
        if ctx.needs_input_grad:
            ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        need = ctx.needs_input_grad
        gB = _solve(_bw.swap_last(A), g)
        gA = -_bw.matmul(gB, _bw.swap_last(X)) if need[0] else None
        return gA, gB


def _solve(A, B):
    if _bw.is_array(A) and _bw.is_array(B):
        return namespace(A).linalg.solve(A, B)
    return Solve.apply(_bw._t(A), _bw._t(B))


def _linalg_solve(A, B, *, left=True, out=None):
    """Solve A X = B for X.  B is a batch of vectors when B.ndim == 1, or when it
    has A's batch shape plus one dim (torch's rule)."""
    _check_square(A, "linalg.solve")
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A "
                           f"of type {_dtype_word(A._data.dtype)} and B of type "
                           f"{_dtype_word(B._data.dtype)} instead")
    if not left:
        from .shape import transpose
        return _out(transpose(_linalg_solve(transpose(A, -2, -1), transpose(B, -2, -1)), -2, -1),
                    out)
    sa, sb = A._data.shape, B._data.shape
    vector = len(sb) == 1 or (len(sb) == len(sa) - 1 and sb == sa[:-1])
    n = sa[-1]
    if vector:
        if sb[-1] != n:
            raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                               f"AX = B ({_shape_str(sa)} and {_shape_str(sb)})")
        return _out(squeeze(Solve.apply(A, unsqueeze(B, -1)), -1), out)
    if len(sb) < 2 or sb[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({_shape_str(sa)} and {_shape_str(sb)})")
    return _out(Solve.apply(A, B), out)


class _EyeLike(Op):
    """Identity matrices shaped like A (A**0): constant, so a zero gradient."""
    _ctx_fields = ("A_shape", "A_dtype")

    @staticmethod
    def forward(ctx, A):
        if ctx.needs_input_grad:
            ctx.A_shape, ctx.A_dtype = A.shape, A.dtype
        xp = namespace(A)
        return xp.broadcast_to(xp.eye(A.shape[-1], dtype=A.dtype), A.shape).copy()

    @staticmethod
    def backward(ctx, g):
        return namespace(g).zeros(ctx.A_shape, ctx.A_dtype)


def matrix_power(input, n):
    """A**n for square (batched) A by repeated squaring; n < 0 uses the inverse."""
    _check_square(input, "linalg.matrix_power", float_only=False)
    n = operator.index(n)
    if n == 0:
        return _EyeLike.apply(input)
    A = input
    if n < 0:
        _check_square(input, "linalg.inv")
        A = Inv.apply(input)
        n = -n
    result = None
    while True:
        if n & 1:
            result = A if result is None else matmul(result, A)
        n >>= 1
        if not n:
            return result
        A = matmul(A, A)




# ---- Cholesky factor and triangular solves (MultivariateNormal's algebra) --------------

def _tri(x, upper, k=0):
    return _bw.triu(x, k) if upper else _bw.tril(x, k)


def _solve_tri(A, B, upper, unit=False):
    """A X = B with only A's lower (upper) triangle read: on arrays a plain
    solve of that triangle (NumPy has no batched triangular solver), on Tensors
    the recorded op."""
    if _bw.is_array(A) and _bw.is_array(B):
        xp = namespace(A, B)
        T = xp.triu(A) if upper else xp.tril(A)
        if unit:
            n = A.shape[-1]
            T = T - T * xp.eye(n, dtype=A.dtype) + xp.eye(n, dtype=A.dtype)
        return xp.linalg.solve(T, B)
    return SolveTriangular.apply(_bw._t(A), _bw._t(B), upper, unit)


class SolveTriangular(Op):
    """X = A^-1 B for triangular A (left=True form; the public function transposes
    for left=False).  gB = A^-T g; gA = -gB X^T, kept to A's triangle."""
    _node_name = "LinalgSolveTriangularBackward0"
    _ctx_fields = ("upper", "unit")

    @staticmethod
    def forward(ctx, A, B, upper, unit):
        X = _solve_tri(A, B, upper, unit)
        if ctx.needs_input_grad:
            ctx.save_for_backward(A, X)
            ctx.upper, ctx.unit = upper, unit
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        upper, unit = ctx.upper, ctx.unit
        gB = _solve_tri(_bw.swap_last(A), g, not upper, unit)
        gA = None
        if ctx.needs_input_grad[0]:
            gA = _tri(-_bw.matmul(gB, _bw.swap_last(X)), upper, (1 if upper else -1) if unit else 0)
        return gA, gB, None, None


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    """Solve A X = B (left) or X A = B for triangular A, reading only A's upper
    (``upper=True``) or lower triangle; ``unitriangular`` takes its diagonal as ones.
    Batch dims broadcast; B must have at least 2 dims."""
    fn = "linalg.solve_triangular"
    _check_square(A, fn)
    if not isinstance(B, TensorBase):
        raise not_a_tensor(fn, "B", B, 2)
    if B._data.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor B must have at least 2 dimensions.")
    A, B = _promote_float(A, B)
    sa, sb = A._data.shape, B._data.shape
    if (sb[-2] if left else sb[-1]) != sa[-1]:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{fn}: Incompatible shapes of A and B for the equation {eq} "
                           f"({_shape_str(sa[-2:])} and {_shape_str(sb[-2:])})")
    if left:
        return _out(SolveTriangular.apply(A, B, bool(upper), bool(unitriangular)), out)
    from .shape import transpose
    X = SolveTriangular.apply(transpose(A, -2, -1), transpose(B, -2, -1), not upper,
                              bool(unitriangular))
    return _out(transpose(X, -2, -1), out)


def _promote_float(A, B):
    if A._data.dtype != B._data.dtype:
        from ._util import promote
        A, B = promote(A, B)
    return A, B


class Cholesky(Op):
    """L with A = L L^T (lower), from A's lower triangle.

    Backward (Murray 2016's form): with Phi(X) = tril(X) with its diagonal
    halved, S = L^-T Phi(L^T gL) L^-1 and gA = (S + S^T) / 2, symmetric as
    torch's."""
    _node_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, A):
        xp = namespace(A)
        try:
            L = xp.linalg.cholesky(A)
        except xp.linalg.LinAlgError:
            raise _not_pd(A) from None
        if bool(xp.isnan(L).any()) and not bool(xp.isnan(A).any()):
            raise _not_pd(A)
        if ctx.needs_input_grad:
            ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, g):
        L, = ctx.saved_tensors
        P = _bw.tril(_bw.matmul(_bw.swap_last(L), g))
        P = P - 0.5 * _bw.tril(_bw.triu(P))              # halve the diagonal
        S = _solve_tri(_bw.swap_last(L), P, True)          # L^-T P
        S = _bw.swap_last(_solve_tri(_bw.swap_last(L), _bw.swap_last(S), True))  # S L^-1
        return 0.5 * (S + _bw.swap_last(S))


def _not_pd(A):
    """torch's error for a matrix (batch) that is not positive-definite: which
    batch element, and the order of its first leading minor that is not (found
    by factoring growing leading blocks: only on this error path)."""
    xp = namespace(A)
    n = A.shape[-1]
    mats = A.reshape((-1, n, n))
    for b in range(mats.shape[0]):
        for k in range(1, n + 1):
            try:
                ok = not bool(xp.isnan(xp.linalg.cholesky(mats[b, :k, :k])).any())
            except xp.linalg.LinAlgError:
                ok = False
            if not ok:
                where = f"(Batch element {b}): " if A.ndim > 2 else ""
                return LinAlgError(f"linalg.cholesky: {where}The factorization could not be "
                                   f"completed because the input is not positive-definite (the "
                                   f"leading minor of order {k} is not positive-definite).")
    return LinAlgError("linalg.cholesky: The factorization could not be completed because the "
                       "input is not positive-definite.")


@autocast_op("fp32")
def cholesky(A, *, upper=False, out=None):
    """The Cholesky factor of each symmetric positive-definite matrix in A: lower
    L with A = L L^T (or upper U = L^T with ``upper=True``).  Reads A's lower triangle."""
    _check_square(A, "linalg.cholesky")
    L = Cholesky.apply(A)
    if upper:
        from .shape import transpose
        L = transpose(L, -2, -1)
    return _out(L, out)


# ---- matrix functions written with differentiable ops (gradients by composition) --------

def matrix_exp(A):
    """exp(A) of square matrices (..., n, n), by scaling and squaring: a
    Taylor polynomial of degree 18 of A / 2^s, where s brings the largest
    1-norm in the batch to at most 1/2 (truncation error < 1e-20 relative),
    then s squarings.  Written with matmuls, so it is differentiable to any
    order; the gradient is that of the approximant, equal to the exact one
    to rounding."""
    import math
    if not isinstance(A, TensorBase):
        raise not_a_tensor("linalg_matrix_exp", "self", A, 1)
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError("linalg.matrix_exp: A must be batches of square matrices, "
                           f"but they are {A.shape[-2] if A.dim() > 1 else A.shape[-1]} by "
                           f"{A.shape[-1]} matrices")
    if not A.is_floating_point():
        raise RuntimeError(f"linalg.matrix_exp: Expected a floating point tensor as input. "
                           f"Got {str(A.dtype).replace('ember.', '').capitalize()}")
    n = A.shape[-1]
    if A.numel() == 0:
        return A.clone()
    norm = float(A.detach().abs().sum(-2).max()) if n else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    X = A / (2 ** s) if s else A
    eye = _eye_like(A)
    # Horner: I + X (I + X/2 (I + X/3 (...)))
    E = eye
    for k in range(18, 0, -1):
        E = eye + (X @ E) / k
    for _ in range(s):
        E = E @ E
    return E


def householder_product(A, tau):
    """The first n columns of the product of Householder reflectors
    H_i = I - tau_i v_i v_i^T, where v_i is column i of A (..., m, n) below
    the diagonal with a 1 on it (LAPACK's orgqr).  Differentiable in A and tau."""
    for name, t in (("input", A), ("tau", tau)):
        if not isinstance(t, TensorBase):
            raise not_a_tensor("linalg_householder_product", name, t, 1 if name == "input" else 2)
    if A.dim() < 2:
        raise RuntimeError("torch.linalg.householder_product: input must have at least 2 "
                           "dimensions.")
    m, n = A.shape[-2], A.shape[-1]
    if m < n:
        raise RuntimeError("torch.linalg.householder_product: input.shape[-2] must be greater "
                           "than or equal to input.shape[-1]")
    k = tau.shape[-1]
    if k > n:
        raise RuntimeError("torch.linalg.householder_product: input.shape[-1] must be greater "
                           "than or equal to tau.shape[-1]")
    if tau.dim() != A.dim() - 1:
        raise RuntimeError("torch.linalg.householder_product: Expected tau to have one "
                           "dimension less than input, but got tau.ndim equal to "
                           f"{tau.dim()} and input.ndim is equal to {A.dim()}")
    from .._creation import arange
    rows = arange(m, device=A.device)
    Q = _eye_like(A, m)
    for i in range(k):
        below = (rows > i).to(A.dtype)
        unit = (rows == i).to(A.dtype)
        v = A[..., :, i] * below + unit                      # (..., m)
        Qv = (Q @ v.unsqueeze(-1))                           # (..., m, 1)
        Q = Q - (tau[..., i, None, None] * Qv) * v.unsqueeze(-2)
    return Q[..., :, :n]


def _eye_like(A, m=None):
    """The identity of A's matrix size (or m), A's dtype and device, broadcastable over its batch."""
    from .._creation import eye
    m = A.shape[-1] if m is None else m
    return eye(m, dtype=A.dtype, device=A.device)


def orgqr(input, tau):
    """torch.orgqr: ``householder_product``."""
    return householder_product(input, tau)
