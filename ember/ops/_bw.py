"""Helpers that backward formulas call, working on raw arrays *and* Tensors.

A backward is written once.  On the ordinary path it is handed raw arrays
(any backend's) and these helpers compute with the arrays' namespace (``xp``)
and kernel table; under ``create_graph=True`` it is handed Tensors and the
same helpers call Ember ops, so the backward is recorded and can be
differentiated again.  Operators (+ - * / **, unary -) already work on both,
so only functions need a helper.
"""
import numpy as np

from .._tensor_base import TensorBase as _T  # (dispatch: Tensor or anything an array namespace takes)
from .._creation import zeros_like as _zeros_like
from ..backends import namespace, kernels
from ..autograd._sum_to import sum_to  # noqa: F401  (backward formulas call it as _bw.sum_to)


def is_array(x):
    """Whether ``x`` takes the plain path: not a Tensor (any backend's array, a scalar)."""
    return not isinstance(x, _T)


_ONES0 = {}


def one_minus(x):
    """``1 - x``.  On arrays the 1 is a cached 0-d array of x's dtype (and
    array type: one per backend): NumPy 2 spends ~0.3 us converting a
    Python-scalar operand, as long as the subtraction itself on a small array."""
    if isinstance(x, _T):
        return 1 - x
    key = (type(x), x.dtype)
    one = _ONES0.get(key)
    if one is None:
        one = _ONES0[key] = namespace(x).ones((), x.dtype)
    return one - x


def sum(x, axis=None, keepdims=False):
    if not isinstance(x, _T):
        return x.sum(axis=axis, keepdims=keepdims)
    if axis is None:
        return x.sum() if not keepdims else x.sum(dim=tuple(range(x.ndim)), keepdim=True)
    return x.sum(dim=axis, keepdim=keepdims)


def reshape(x, shape):
    if -1 in shape:
        xs = tuple(x.shape)
        if _prod(xs) == 0:
            # -1 can't be inferred for an empty array.  Backwards use
            # (-1, *tail) to fold leading dims: that fixes it; else the others do.
            tail, head = tuple(shape[1:]), tuple(shape[:-1])
            if shape[0] == -1 and -1 not in tail and xs[len(xs) - len(tail):] == tail:
                shape = (_prod(xs[:len(xs) - len(tail)]),) + tail
            elif shape[-1] == -1 and -1 not in head and xs[:len(head)] == head:
                shape = head + (_prod(xs[len(head):]),)   # (*head, -1) folds trailing dims
            elif _prod([s for s in shape if s != -1]):
                shape = tuple(0 if s == -1 else s for s in shape)
    return x.reshape(shape)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``: a read-only view, or (arrays) a small copy
    where the backend finds that cheaper."""
    if not isinstance(x, _T):
        return kernels(x).broadcast_to(x, shape)
    return x.expand(*shape)


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def expand_dims(x, axes):
    """Re-insert reduced axes (sorted, non-negative) so a reduction's grad broadcasts."""
    if not isinstance(x, _T):
        return namespace(x).expand_dims(x, axes)
    for a in sorted(axes):
        x = x.unsqueeze(a)
    return x


def transpose(x, axes):
    if not isinstance(x, _T):
        return x.transpose(axes)
    return x.permute(*axes)


def swap_last(x):
    if not isinstance(x, _T):
        return x.swapaxes(-1, -2)
    return x.transpose(-1, -2)


def matmul(a, b):
    """``a @ b`` for operands of any rank (batched, broadcast)."""
    if not isinstance(a, _T) and not isinstance(b, _T):
        return kernels(a).matmul_nd(a, b)
    return _t(a) @ _t(b)


def _t(x):
    if not isinstance(x, _T):
        from .._tensor_base import _wrap
        return _wrap(x)
    return x


def where(c, a, b):
    if isinstance(a, _T) or isinstance(b, _T):
        from .elementwise import where as ewhere
        return ewhere(_t(c), _t(a), _t(b))
    return namespace(c, a, b).where(c, a, b)


def _unary(name, method):
    """A helper calling ``xp.<name>`` on arrays (NumPy scalars included: ufuncs
    on 0-d arrays return them) and ``Tensor.<method>`` on Tensors."""
    def f(x):
        if not isinstance(x, _T):
            return getattr(namespace(x), name)(x)
        return getattr(x, method)()
    f.__name__ = method
    return f


exp = _unary("exp", "exp")
log = _unary("log", "log")
sqrt = _unary("sqrt", "sqrt")
sin = _unary("sin", "sin")
cos = _unary("cos", "cos")
tanh = _unary("tanh", "tanh")
sinh = _unary("sinh", "sinh")
cosh = _unary("cosh", "cosh")
sign = _unary("sign", "sign")
abs = _unary("abs", "abs")
reciprocal = _unary("reciprocal", "reciprocal")


def sigmoid(x):
    if not isinstance(x, _T):
        from .elementwise import _np_sigmoid
        return _np_sigmoid(x)
    return x.sigmoid()


# ---- complex helpers: free on real input, so one formula serves real and complex --------
# (torch's convention: for holomorphic f the gradient is g * conj(f'(z)))

def conj(x):
    """The complex conjugate; ``x`` itself when it is real."""
    t = type(x)
    if t is _nd:                        # (the common case first: a NumPy array)
        return x.conj() if x.dtype.kind == "c" else x
    if t is float or t is int:
        return x
    if isinstance(x, _T):
        return x.conj() if x._data.dtype.kind == "c" else x
    if t is complex:                    # (a Python-number operand)
        return x.conjugate()
    return x.conj() if getattr(x, "dtype", None) is not None and x.dtype.kind == "c" else x


_nd = np.ndarray


def real(x):
    """The real part; ``x`` itself when it is real."""
    if not isinstance(x, _T):
        return x.real if getattr(x, "dtype", None) is not None and x.dtype.kind == "c" else x
    return x.real


def sgn(x):
    """z / |z| (0 at 0) for complex x, sign(x) for real."""
    if not isinstance(x, _T):
        from .math import _complex_sgn, _np_sign
        return _complex_sgn(x) if x.dtype.kind == "c" else _np_sign(x)
    return x.sgn()


def zeros_like(x):
    if not isinstance(x, _T):
        return namespace(x).zeros_like(x)
    return _zeros_like(x)


def astype(x, dtype):
    """Cast to a NumPy dtype."""
    if not isinstance(x, _T):
        return x.astype(dtype, copy=False)
    from .._dtype import from_numpy_dtype
    return x.to(from_numpy_dtype(np.dtype(dtype)))


def to_float(mask, like):
    """A boolean mask as 0/1 in ``like``'s float dtype (an array: never recorded)."""
    return mask.astype(like.dtype if not isinstance(like, _T) else like._data.dtype)


def data(x):
    """The raw array of a Tensor or array (for masks and shapes, never for values
    that must stay differentiable)."""
    if not isinstance(x, _T):
        return x
    return x._data


def mask(cond, like):
    """Boolean ``cond`` as 0/1 in ``like``'s dtype: a constant factor on either path."""
    return namespace(cond).asarray(cond).astype(data(like).dtype)




# ---- along-an-axis helpers (sort, topk, max(dim), cumsum...; ops in reduction.py) ------
# (flip is defined with the shape helpers below)

def cumsum(x, axis):
    if not isinstance(x, _T):
        xp = namespace(x)
        if x.dtype == np.float16:  # accumulate in float32, as torch does
            return xp.cumsum(x, axis, dtype=np.float32).astype(np.float16)
        if x.dtype == np.float32:  # and float32 in double
            return xp.cumsum(x, axis, dtype=np.float64).astype(np.float32)
        return xp.cumsum(x, axis)
    from .reduction import cumsum as _cumsum
    return _cumsum(x, axis)


def along_index(idx, axis):
    """The fancy-index tuple that picks ``idx`` along ``axis`` (what
    NumPy's ``take_along_axis`` builds, with less overhead)."""
    nd = idx.ndim
    if nd == 1:
        return (idx,)
    if axis < 0:
        axis += nd
    xp = namespace(idx)
    ind = []
    for d, n in enumerate(idx.shape):
        if d == axis:
            ind.append(idx)
        else:
            s = [1] * nd
            s[d] = n
            ind.append(xp.arange(n).reshape(s))
    return tuple(ind)


def take_along(x, idx, axis):
    """``take_along_axis``: pick ``idx`` (int array, same ndim) along ``axis``."""
    if not isinstance(x, _T):
        return x[along_index(idx, axis)]
    from .reduction import _Gather
    return _Gather.apply(x, idx, axis)


def put_along(g, idx, axis, shape, accumulate=False):
    """Zeros of ``shape`` with ``g`` written (or, with ``accumulate``, added) at
    ``idx`` along ``axis`` -- the adjoint of ``take_along``."""
    if isinstance(g, _T):
        from .reduction import _Scatter
        return _Scatter.apply(g, idx, axis, tuple(shape), accumulate)
    xp = namespace(g)
    if not accumulate:
        out = xp.zeros(shape, dtype=g.dtype)
        out[along_index(idx, axis)] = g
        return out
    # bincount adds repeated indices (put_along_axis would keep only one)
    n = shape[axis]
    gm = xp.moveaxis(xp.broadcast_to(g, idx.shape), axis, -1)
    im = xp.moveaxis(idx, axis, -1)
    lead = gm.shape[:-1]
    m = _prod(lead)
    flat = (im.reshape(m, -1) + (xp.arange(m) * n)[:, None]).reshape(-1)
    res = xp.bincount(flat, weights=gm.reshape(-1), minlength=m * n)
    return xp.moveaxis(res.astype(g.dtype, copy=False).reshape(lead + (n,)), -1, axis)


# ---- shape and linear-algebra helpers (Tensor branch: ember.ops.shape / linalg) ----

def _tensors(xs):
    """A sequence as Tensors when any member is one (else None: all arrays)."""
    if all(not isinstance(x, _T) for x in xs):
        return None
    return [_t(x) for x in xs]


def take(x, key):
    """``x[key]`` for a basic index ``key`` (a tuple of ints, slices and at
    most one Ellipsis); a view on both branches."""
    if not isinstance(x, _T):
        return x[key]
    from .shape import SliceView
    return SliceView.apply(x, key)


def concatenate(xs, axis):
    ts = _tensors(xs)
    if ts is None:
        return namespace(*xs).concatenate(xs, axis)
    from .shape import cat
    return cat(ts, axis)


def stack(xs, axis):
    ts = _tensors(xs)
    if ts is None:
        return namespace(*xs).stack(xs, axis)
    from .shape import stack as st
    return st(ts, axis)


def unbind(x, axis):
    """The slices of ``x`` along ``axis``, as a tuple of views."""
    if not isinstance(x, _T):
        pre = (slice(None),) * axis
        return tuple(x[pre + (i, Ellipsis)] for i in range(x.shape[axis]))
    return x.unbind(axis)


def flip(x, axes):
    if not isinstance(x, _T):
        return namespace(x).flip(x, axes)
    return x.flip(axes)


def roll(x, shifts, axes):
    if not isinstance(x, _T):
        return namespace(x).roll(x, shifts, axes) if x.size else x
    return x.roll(shifts, axes)


def tril(x, k=0):
    if not isinstance(x, _T):
        return namespace(x).tril(x, k)
    return x.tril(k)


def triu(x, k=0):
    if not isinstance(x, _T):
        return namespace(x).triu(x, k)
    return x.triu(k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    if not isinstance(x, _T):
        return namespace(x).diagonal(x, offset, axis1, axis2)
    return x.diagonal(offset, axis1, axis2)


def einsum(equation, *xs):
    """einsum with an explicit equation whose operands have no repeated labels."""
    ts = _tensors(xs)
    if ts is None:
        from .linalg import _einsum_arrays
        return _einsum_arrays(equation, xs)
    from .linalg import einsum as es
    return es(equation, *ts)


# ---- recorded backward by recomputation (for fused ops with hand-written loops) -------

_Alias = None


def recompute_vjp(fn, inputs, grads):
    """Vector-Jacobian product of ``fn`` at ``inputs``, recorded (create_graph).

    For a fused op whose plain backward is a NumPy loop (an RNN's BPTT, a
    fused loss): under ``create_graph=True`` its backward calls this with the
    graph-connected inputs from ``ctx.saved_tensors``.  ``fn(*inputs)`` must
    recompute the op's outputs (a Tensor or tuple) from differentiable Ember
    ops; the returned gradients (one per input, None for non-Tensors or
    inputs that don't require grad) are then functions of the inputs and of
    ``grads``, so they can be differentiated again.
    """
    global _Alias
    if _Alias is None:
        from ..autograd.function import Op

        class _RecomputeInput(Op):
            """Identity: gives the recomputation inputs of its own, so the
            gradient stops there even when one input depends on another."""

            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g
        _Alias = _RecomputeInput
    from ..autograd.engine import grad as _grad
    from ..autograd.grad_mode import enable_grad
    with enable_grad():
        leaves = [_Alias.apply(x) if isinstance(x, _T) and x.requires_grad else x for x in inputs]
        outs = fn(*leaves)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    pick = [(o, g) for o, g in zip(outs, grads)
            if g is not None and isinstance(o, _T) and o.requires_grad]
    idx = [i for i, x in enumerate(leaves) if isinstance(x, _T) and x.requires_grad]
    res = [None] * len(inputs)
    if not pick or not idx:
        return tuple(res)
    gs = _grad([o for o, _ in pick], [leaves[i] for i in idx], [_t(g) for _, g in pick],
               create_graph=True, allow_unused=True)
    for i, g in zip(idx, gs):
        res[i] = g
    return tuple(res)
