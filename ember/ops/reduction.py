"""Reductions: sum, mean, var/std, prod, max/min, logsumexp, cumsum, norms, sort...

A reduction's backward re-inserts the reduced axes (``keepdim=False``) and
lets broadcasting spread the gradient back over the input.  Ops that pick
elements (max(dim), sort, topk, median, cummax...) compute their indices
with NumPy outside autograd and share one differentiable ``_Select`` op,
whose backward scatters the gradient back to the picked positions.

Results that pair values with indices are named tuples from
``ember.return_types`` (``values, indices = x.max(1)`` or ``x.max(1).values``).
"""
import collections
import sys
import types
import warnings

import numpy as np

from .. import _dtype as D
from .._errors import not_a_tensor
from .._tensor_base import TensorBase, _wrap, _dim
from ..autograd.function import Op, once_differentiable
from ..autograd.grad_mode import state as _gm
from ..backends import namespace, kernels, is_array, XP
from ..backends._sparse import SparseData
from .sparse import sparse_sum
from . import _bw
from .elementwise import _out
from .._bfloat16 import is_float as _isf
from .._autocast import autocast_op

_inf = float("inf")
_nan = float("nan")

# ---- ember.return_types: (values, indices) named tuples as torch.return_types -------------

return_types = types.ModuleType(
    "ember.return_types", "Named tuples returned by max(dim), sort, topk, median, ...")
sys.modules["ember.return_types"] = return_types


def _rt_repr(self):
    body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
    return f"ember.return_types.{type(self).__name__}(\n{body})"


def _return_type(name, fields=("values", "indices")):
    cls = collections.namedtuple(name, fields)
    cls.__module__ = "ember.return_types"
    cls.__repr__ = _rt_repr
    setattr(return_types, name, cls)
    return cls


_RT = {n: _return_type(n) for n in (
    "max", "min", "sort", "topk", "median", "nanmedian", "mode", "kthvalue", "cummax", "cummin")}
_RT["aminmax"] = _return_type("aminmax", ("min", "max"))


# ---- argument helpers -----------------------------------------------------------------------

_tname = D.scalar_name_of           # torch's scalar-type name of a NumPy dtype ("Float")


def _check_tensor(x, name):
    if not isinstance(x, TensorBase):
        raise not_a_tensor(name, "input", x, 1)


def _axes(dim, ndim, name="reduction"):
    """A ``dim`` argument (None, int, tuple/list of ints) -> sorted tuple of
    non-negative axes, or None to reduce everything (also for 0-d inputs)."""
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool):
        d = _dim(int(dim), ndim)
        return (d,) if ndim else None
    if isinstance(dim, (tuple, list)):
        if len(dim) == 0:
            return None
        seen = []
        for d in dim:
            if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
                raise TypeError(f"{name}(): argument 'dim' must be tuple of ints, but found "
                                f"element of type {type(d).__name__}")
            a = _dim(int(d), ndim)
            if a in seen:
                raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
            seen.append(a)
        return tuple(sorted(seen)) if ndim else None
    raise TypeError(f"{name}(): argument 'dim' must be int or tuple of ints, not "
                    f"{type(dim).__name__}")


def _axis(dim, ndim, name):
    """A single ``dim`` argument -> non-negative axis (0 for a 0-d input)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    return _dim(int(dim), ndim)


def _count(shape, axes):
    n = 1
    for a in (range(len(shape)) if axes is None else axes):
        n *= shape[a]
    return n


def _keep(g, axes, keepdim):
    """Give a reduction's output (or its gradient) back its reduced axes (size 1)."""
    if keepdim or axes is None:
        return g  # a full reduction's 0-d result broadcasts as it is
    return _bw.expand_dims(g, axes)


def _squeeze(a, axes, keepdim):
    """A keepdims=True NumPy result in the requested keepdim form."""
    if keepdim:
        return a
    if axes is None:
        return a.reshape(())
    return a.squeeze(axis=axes)


def _ones_shape(ndim):
    return (1,) * ndim


def _quiet():
    """Silence NumPy's divide/invalid warnings where torch quietly gives inf/nan.
    (NumPy's own warning switch: other backends' arrays do not warn.)"""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")  # host


def _c(r, xp):
    """torch allocates a reduction's result contiguous; NumPy keeps the order
    of a permuted input (then ``.view`` of the result would fail).  ``xp``:
    the input's namespace, to make an array of a full reduction's scalar."""
    if not is_array(r):
        return xp.asarray(r)
    return r if r.ndim < 2 or r.flags.c_contiguous else xp.ascontiguousarray(r)


# ---- sum / mean / nansum / nanmean ------------------------------------------------------------

# Float sums of up to this many terms are taken as the namespace adds them
# (even one after another the error stays near 1e-5 of the sum in float32);
# longer ones go to the backend's cascade_sum, as accurate as torch's
# cascaded sum: 10^7 float32 copies of 0.1 sum to 10^6, not 1,087,937.
# (float64 in a plain running sum of 65536 terms is still off by ~1e-11 only)
_SHORT_SUM = 256
_SHORT_SUM_64 = 1 << 16


def _fsum(x, axes, acc, keepdim, n=None, xp=None):
    """``add.reduce(x, axes, acc, keepdims=keepdim)`` with torch's accuracy for
    long float sums.  ``acc``: the accumulation and result dtype (None: x's);
    ``n`` (the number of terms) and ``xp``, when the caller has them already."""
    if x.dtype.kind == "f" and (acc is None or issubclass(acc, np.floating)):
        if n is None:
            n = x.size if axes is None else _count(x.shape, axes)
        if n > (_SHORT_SUM_64 if (acc or x.dtype.type) is np.float64 else _SHORT_SUM):
            return kernels(x).cascade_sum(x, axes, acc, keepdim)
        if acc is None and n <= _SHORT_SUM and x.size >= _MANY_ROWS:
            r = _trailing_sum(x, axes, n, keepdim)
            if r is not None:
                return r
    # (add.reduce is x.sum without NumPy's Python-level wrapper)
    return (xp or namespace(x)).add.reduce(x, axes, acc, None, keepdim)


# From this many elements a short trailing-axes float sum goes through the
# backend's ``sum_along`` (on the CPU a BLAS product with ones: 56 -> 9 us for
# a (32, 64, 8, 8) global average pool); below, NumPy's own reduce is as fast.
_MANY_ROWS = 4096


def _trailing_sum(x, axes, n, keepdim):
    """The sum over ``axes`` when they are x's last axes (at least 2-D,
    C-contiguous, float32/64; ``n`` terms each): the backend's row sum of
    ``x`` seen as (rows, n); else None."""
    nd = x.ndim
    if axes is None or nd < 2 or axes[0] != nd - len(axes) or x.dtype.char not in "fd" \
            or not x.flags.c_contiguous:
        return None
    r = kernels(x).sum_along(x.reshape(-1, n), 1)
    kept = x.shape[:nd - len(axes)]
    return r.reshape(kept + (1,) * len(axes) if keepdim else kept)


class Sum(Op):
    _ctx_fields = ("x_shape", "axes", "keepdim")
    @staticmethod
    def forward(ctx, x, axes, keepdim, acc):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        xp = XP[type(x)]    # (namespace(x) without a call: see XP)
        if acc is None and x.size <= _SHORT_SUM:
            # A short float sum (most sums in a small model): one reduce, no
            # accuracy detour (_fsum's own test, decided here without its call).
            r = xp.add.reduce(x, axes, None, None, keepdim)
        elif acc is np.float16:  # torch accumulates half in float32
            r = xp.asarray(_fsum(x, axes, np.float32, keepdim)).astype(np.float16)
        else:
            r = _fsum(x, axes, acc, keepdim, None, xp)
        return _c(r, xp)

    @staticmethod
    def backward(ctx, g):
        return _bw.broadcast_to(_keep(g, ctx.axes, ctx.keepdim), ctx.x_shape)


def _acc_dtype(d, dtype, t=None):
    """The NumPy accumulation dtype for sum-like ops: ``dtype=`` when given,
    int64 for bool/int inputs, float32-then-half for half, else None.
    ``t``: the input Tensor, to refuse an integer ``dtype=`` under autograd."""
    if dtype is not None:
        dt = D.to_dtype(dtype)
        if t is not None and dt.category < D._FLOAT and t.requires_grad and _gm.enabled:
            raise RuntimeError(f"Autograd not support dtype: {_tname(dt.np)}")
        return dt.np.type  # host  (the scalar type of the dtype: not a call)
    k = d.dtype
    if k.kind in "iub":
        return np.int64
    if k == np.float16:
        return np.float16
    return None


class SumDims(Sum):
    """``sum`` over the dims given: the same op under the node name torch
    gives it, SumBackward1 (the sum of every element is SumBackward0)."""
    _node_name = "SumBackward1"


class _NoDim:
    """The default of ``dim`` in sum and mean.  torch has two overloads: one
    without ``dim`` (node SumBackward0 / MeanBackward0) and one with it, where
    ``dim=None`` given means every dim but records SumBackward1 / MeanBackward1.
    A Python default of None could not tell the two calls apart."""
    __slots__ = ()

    def __repr__(self):
        return "<every dim>"


_NO_DIM = _NoDim()


def sum(input, dim=_NO_DIM, keepdim=False, *, dtype=None, out=None):
    """Sum over ``dim`` (int, tuple, None or left out: all); bool/int inputs sum as int64."""
    op = SumDims
    if dim is _NO_DIM:
        op, dim = Sum, None
    if not isinstance(input, TensorBase):
        _check_tensor(input, "sum")
    d = input._data
    # (kind "f" is tested first, here and in mean: no is_float call for the common dtypes)
    acc = None if dtype is None and (d.dtype.kind == "f" or _isf(d.dtype)) and d.dtype.char != "e" \
        else _acc_dtype(d, dtype, input)
    axes = None if dim is None else _axes(dim, d.ndim, "sum")
    try:
        r = op.apply(input, axes, keepdim, acc)
    except NotImplementedError:
        # A sparse tensor (its data refuses dense kernels; found here, so a
        # dense sum pays nothing): torch.sparse.sum's result.
        if type(d) is not SparseData:
            raise
        return sparse_sum(input, dim, dtype)
    return r if out is None else _out(r, out)


class Mean(Op):
    _ctx_fields = ("x_shape", "axes", "keepdim", "n")
    @staticmethod
    def forward(ctx, x, axes, keepdim, acc):
        n = _count(x.shape, axes)
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.axes, ctx.keepdim, ctx.n = x.shape, axes, keepdim, n
        xp = XP[type(x)]    # (namespace(x) without a call: see XP)
        if n == 0:
            with _quiet(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = x.mean(axis=axes, keepdims=keepdim, dtype=acc)
        elif acc is None and x.dtype.char == "e":   # torch accumulates half in float32
            r = xp.asarray(_fsum(x, axes, np.float32, keepdim) / n).astype(np.float16)
        else:
            # sum / n is what mean computes, without its Python-level overhead
            # (and a short sum without _fsum's call: see Sum)
            if acc is None and n <= _SHORT_SUM:
                r = _trailing_sum(x, axes, n, keepdim) if x.size >= _MANY_ROWS else None
                if r is None:
                    r = xp.add.reduce(x, axes, None, None, keepdim)
            else:
                r = _fsum(x, axes, acc, keepdim, n, xp)
            if type(r) is np.ndarray or is_array(r):
                r /= n
                # (reducing a 1-D or 2-D array leaves one axis longer than 1:
                # contiguous whatever the input's layout)
                return r if x.ndim < 3 else _c(r, xp)
            r = r / n
        return _c(r, xp)

    @staticmethod
    def backward(ctx, g):
        shape, n = ctx.x_shape, ctx.n
        g = _keep(g, ctx.axes, ctx.keepdim)
        if n and (type(g) is np.ndarray or is_array(g)) and g.dtype.kind == "f":
            xp = XP[type(g)]
            axes = ctx.axes
            if axes is not None and axes[0] == len(shape) - len(axes) and g.size > 1:
                # Trailing axes (a global average pool's H, W): each mean's
                # gradient repeated over its row; NumPy broadcasts onto short
                # rows 2-3x slower.  (g / n: the divide below, element for element.)
                # (the array's own repeat: xp.repeat is a Python-level wrapper around it)
                return (g / n).reshape(-1).repeat(n).reshape(shape)
            out = xp.empty(shape, g.dtype)   # divide and broadcast in one pass
            return xp.divide(g, n, out=out)
        return _bw.broadcast_to(g / n if n else g * _nan, shape)


class MeanDims(Mean):
    """``mean`` over the dims given (torch's MeanBackward1; over every
    element, MeanBackward0)."""
    _node_name = "MeanBackward1"


def mean(input, dim=_NO_DIM, keepdim=False, *, dtype=None, out=None):
    """Mean over ``dim`` (int, tuple, None or left out: all); the input (or
    ``dtype``) must be floating point, as torch."""
    if type(dim) is int and isinstance(input, TensorBase) and dtype is None and out is None:
        d = input._data   # (the common call, mean(x, dim=k), without the general checks)
        nd = d.ndim
        if (d.dtype.kind == "f" or _isf(d.dtype)) and nd and -nd <= dim < nd:
            return MeanDims.apply(input, (dim % nd,), keepdim, None)
    if not isinstance(input, TensorBase):
        _check_tensor(input, "mean")
    d = input._data
    acc = None
    if dtype is not None:
        dt = D.to_dtype(dtype)
        if dt.category < D._FLOAT:
            raise RuntimeError(f"mean(): could not infer output dtype. Optional dtype must be "
                               f"either a floating point or complex dtype. Got: {_tname(dt.np)}")
        acc = dt.np.type  # host  (the scalar type of the dtype: not a call)
    elif d.dtype.kind not in "fc" and not _isf(d.dtype):
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {_tname(d.dtype)}")
    op = MeanDims
    if dim is _NO_DIM:
        op, dim = Mean, None
    axes = None if dim is None else _axes(dim, d.ndim, "mean")
    r = op.apply(input, axes, keepdim, acc)
    return r if out is None else _out(r, out)


class NanSum(Op):
    _ctx_fields = ("axes", "keepdim", "nan")
    @staticmethod
    def forward(ctx, x, axes, keepdim, acc):
        if ctx.needs_input_grad:
            ctx.axes, ctx.keepdim = axes, keepdim
        xp = namespace(x)
        nan = xp.isnan(x)
        if ctx.needs_input_grad:  # only when recording
            ctx.nan = nan
        if _isf(x.dtype) and nan.any():
            x = xp.where(nan, x.dtype.type(0), x)
        half = acc is np.float16
        r = _fsum(x, axes, np.float32 if half else acc, keepdim)
        return xp.asarray(r, dtype=x.dtype if acc is None or half else acc)

    @staticmethod
    def backward(ctx, g):
        return _bw.where(ctx.nan, 0.0, _keep(g, ctx.axes, ctx.keepdim))


def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Sum treating NaN as zero."""
    _check_tensor(input, "nansum")
    axes = None if dim is None else _axes(dim, input._data.ndim, "nansum")
    r = NanSum.apply(input, axes, keepdim, _acc_dtype(input._data, dtype, input))
    return r if out is None else _out(r, out)


class NanMean(Op):
    _ctx_fields = ("axes", "keepdim", "nan", "cnt")
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = namespace(x)
        nan = xp.isnan(x)
        cnt = xp.sum(~nan, axis=axes, keepdims=True)
        half = x.dtype == np.float16
        s = _fsum(xp.where(nan, x.dtype.type(0), x) if nan.any() else x, axes,
                  np.float32 if half else None, True)          # (half: as torch's nansum)
        with _quiet():
            r = (s / cnt).astype(x.dtype, copy=False)
        if ctx.needs_input_grad:
            ctx.axes, ctx.keepdim, ctx.nan, ctx.cnt = axes, keepdim, nan, cnt
        return _squeeze(r, axes, keepdim)

    @staticmethod
    def backward(ctx, g):
        cnt = ctx.cnt
        with _quiet():
            w = namespace(cnt).where(ctx.nan, 0, 1 / cnt).astype(_bw.data(g).dtype, copy=False)
        return _keep(g, ctx.axes, ctx.keepdim) * w


def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean of the non-NaN elements (NaN where there are none)."""
    _check_tensor(input, "nanmean")
    if dtype is not None:
        input = _cast(input, dtype)
    if not _isf(input._data.dtype):
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype "
                           f"but got {_tname(input._data.dtype)}")
    axes = None if dim is None else _axes(dim, input._data.ndim, "nanmean")
    r = NanMean.apply(input, axes, keepdim)
    return r if out is None else _out(r, out)


def _cast(t, dtype):
    from ._util import cast
    return cast(t, D.to_dtype(dtype))


# ---- var / std / var_mean / std_mean ---------------------------------------------------------

class _Moments(Op):
    """Variance (or std) over ``axes`` with Bessel-style ``correction``;
    optionally also the mean (var_mean / std_mean)."""
    _ctx_fields = ("axes", "keepdim", "n", "den", "m")
    take_sqrt = False
    with_mean = False

    @classmethod
    def forward(cls, ctx, x, axes, correction, keepdim):
        n = _count(x.shape, axes)
        den = n - correction
        ctx.axes, ctx.keepdim, ctx.n, ctx.den = axes, keepdim, n, den
        # torch's CPU var/std with a single output (not var_mean/std_mean)
        # take the deviations from the mean rounded to float32/64
        rounded = not cls.with_mean and n == x.size and x.dtype.itemsize >= 4
        if den > 0:
            m, out = _moments(x, axes, keepdim, n, den, cls.take_sqrt, rounded)
        else:  # torch clamps the divisor to 0 here (inf/nan), not in the gradient
            with _quiet():
                m, out = _moments(x, axes, keepdim, n, 0, cls.take_sqrt, rounded)
        ctx.m = m
        # (std's gradient needs its output; var's doesn't, and torch's doesn't save it)
        ctx.save_for_backward(x, out if cls.take_sqrt else None)
        if cls.with_mean:
            return out, _squeeze(m, axes, keepdim).copy()
        return out

    @classmethod
    def backward(cls, ctx, g, gm=None):
        x, out = ctx.saved_tensors
        axes, keepdim, n, den = ctx.axes, ctx.keepdim, ctx.n, ctx.den
        m = ctx.m if is_array(x) else _bw.sum(x, axes, keepdims=True) / (n or _inf)
        scale = 2.0 / den if den else _inf  # den = n - correction, may be < 0
        if cls.take_sqrt:
            # d std = d var / (2 std); torch defines it as 0 where std == 0
            zero = _bw.data(out) == 0
            if zero.any():
                g = _bw.where(zero, 0.0, g / _bw.where(zero, 1.0, out))
            else:
                g = g / out
            scale = scale / 2
        gx = _keep(g, axes, keepdim) * scale
        if den:
            gx = gx * (x - m)
        else:
            with _quiet():
                gx = gx * (x - m)
        if gm is not None:
            gx = gx + _keep(gm, axes, keepdim) / (n or _nan)
        return gx


def _moments(x, axes, keepdim, n, den, take_sqrt, rounded):
    """(mean with keepdims, var or std) of array ``x``; ``den`` may be 0.
    Two passes in float64 whatever the float dtype, as torch's CPU kernels
    accumulate (in float32 data offset by 1e8 the float32 mean is off by
    units of 8, and the variance by their square).  ``rounded``: deviations
    from the mean rounded to x's dtype, as torch's var/std of all elements
    (it differs from the exact variance where that rounding is comparable
    to the spread)."""
    xp = namespace(x)
    if x.dtype == np.float32 and x.size >= _BIG_MOMENTS and n and not rounded:
        return _moments32(x, axes, keepdim, n, den, take_sqrt)
    w = x if x.dtype == np.float64 else x.astype(np.float64)
    if n == 0:  # the mean of nothing is NaN
        m = xp.full(tuple(1 if axes is None or i in axes else s for i, s in enumerate(x.shape)),
                    _nan, dtype=np.float64)
    elif rounded:   # (the sum rounded once to x's dtype, as an exact float32 sum would be)
        m = xp.asarray(_fsum(w, axes, None, True)).astype(x.dtype)
        m /= n
        m = m.astype(np.float64)
    else:
        m = xp.asarray(_fsum(w, axes, None, True))
        m /= n
    d = xp.asarray(w - m) if w is x else xp.subtract(w, m, out=w)  # (w: our own copy)
    xp.multiply(d, d, out=d)
    v = _fsum(d, axes, None, keepdim)
    v = v / den if den else v / xp.zeros((), dtype=v.dtype)
    v = xp.asarray(xp.sqrt(v) if take_sqrt else v, dtype=x.dtype)
    return m.astype(x.dtype, copy=False), _c(v, xp)


# From this size on a float64 copy of a float32 input costs more than the
# extra passes of _moments32; below it, the float64 path has fewer calls.
_BIG_MOMENTS = 1 << 16


def _moments32(x, axes, keepdim, n, den, take_sqrt):
    """_moments of float32 ``x`` without a float64 copy, as accurate: the
    deviations d from a first (cascaded) mean c are exact where it matters
    (x close to c), and var = (sum d^2 - (sum d)^2 / n) / den corrects for
    c being off by an ulp; the mean is c + (sum d) / n, rounded once."""
    xp = namespace(x)
    c = xp.asarray(_fsum(x, axes, None, True))
    c /= n
    d = x - c
    s1 = xp.asarray(_fsum(d, axes, None, True))
    xp.multiply(d, d, out=d)
    s2 = xp.asarray(_fsum(d, axes, None, True), dtype=np.float64)
    s1 = s1.astype(np.float64)
    m = (c + s1 / n).astype(np.float32)
    v = s2 - s1 * s1 / n
    xp.maximum(v, 0.0, out=v)               # (rounding must not make it negative)
    v = v / den if den else v / xp.zeros((), dtype=v.dtype)
    v = xp.asarray(xp.sqrt(v) if take_sqrt else v, dtype=np.float32)
    return m, _c(_squeeze(v, axes, keepdim), xp)


class Var(_Moments):
    pass


class Std(_Moments):
    take_sqrt = True


class VarMean(_Moments):
    with_mean = True


class StdMean(_Moments):
    take_sqrt = True
    with_mean = True


def _var_args(name, input, dim, unbiased, correction):
    """Sort out torch's overloads: var(x, unbiased), var(x, dim, unbiased, keepdim),
    var(x, dim, *, correction, keepdim)."""
    _check_tensor(input, name)
    if isinstance(dim, bool):  # var(x, True): the bool is `unbiased`
        if unbiased is not None:
            raise TypeError(f"{name}(): argument 'dim' must be tuple of ints, not bool")
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise TypeError(f"{name}() received an invalid combination of arguments: give "
                            f"either unbiased or correction, not both")
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{name}(): argument 'unbiased' must be bool, not "
                            f"{type(unbiased).__name__}")
        correction = 1 if unbiased else 0
    elif correction is None:
        correction = 1
    d = input._data
    if d.dtype.kind not in "fc" and not _isf(d.dtype):
        raise RuntimeError("std and var only support floating point and complex dtypes")
    axes = _axes(dim, d.ndim, name)
    n = _count(d.shape, axes)
    try:
        if n - correction <= 0:
            warnings.warn(f"{name.split('_')[0]}(): degrees of freedom is <= 0. Correction should "
                          f"be strictly less than the reduction factor (input numel divided by "
                          f"output numel).", UserWarning, stacklevel=3)
    except TypeError:  # (the error path only: correction is not a number)
        raise TypeError(f"{name}(): argument 'correction' must be Number, not "
                        f"{type(correction).__name__}") from None
    return axes, correction


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Variance over ``dim`` divided by ``N - correction`` (``unbiased=True``
    means correction 1).  N <= correction gives inf/nan with a warning."""
    axes, c = _var_args("var", input, dim, unbiased, correction)
    if input._data.dtype.kind == "c":
        return _out(_complex_var(input, axes, c, keepdim), out)
    return _out(Var.apply(input, axes, c, keepdim), out)


def _complex_var(x, axes, c, keepdim):
    """Var of complex numbers: the mean squared distance from the mean, which is the sum
    of the variances of the real and imaginary parts (a real tensor, as torch's)."""
    return Var.apply(x.real, axes, c, keepdim) + Var.apply(x.imag, axes, c, keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """Standard deviation: sqrt(var) with var's arguments."""
    axes, c = _var_args("std", input, dim, unbiased, correction)
    if input._data.dtype.kind == "c":
        return _out(_complex_var(input, axes, c, keepdim).sqrt(), out)
    return _out(Std.apply(input, axes, c, keepdim), out)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """(var, mean) in one pass; arguments as :func:`var`."""
    axes, c = _var_args("var_mean", input, dim, unbiased, correction)
    if input._data.dtype.kind == "c":
        return _complex_var(input, axes, c, keepdim), _complex_mean(input, axes, keepdim)
    return VarMean.apply(input, axes, c, keepdim)


def _complex_mean(x, axes, keepdim):
    return Mean.apply(x, axes, keepdim, None)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """(std, mean) in one pass; arguments as :func:`var`."""
    axes, c = _var_args("std_mean", input, dim, unbiased, correction)
    if input._data.dtype.kind == "c":
        return _complex_var(input, axes, c, keepdim).sqrt(), _complex_mean(input, axes, keepdim)
    return StdMean.apply(input, axes, c, keepdim)


# ---- prod -------------------------------------------------------------------------------------

class Prod(Op):
    _ctx_fields = ("axis", "keepdim")
    @staticmethod
    def forward(ctx, x, axis, keepdim, acc):
        xp = namespace(x)
        r = _c(xp.prod(x, axis=axis, keepdims=keepdim, dtype=acc), xp)
        if ctx.needs_input_grad:
            ctx.axis, ctx.keepdim = axis, keepdim
            ctx.save_for_backward(x, r)
        return r

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axis, keepdim = ctx.axis, ctx.keepdim
        xd = _bw.data(x)
        if xd.ndim == 0:
            return g
        axes = None if axis is None else (axis,)
        g = _keep(g, axes, keepdim)
        if not (xd == 0).any():
            return g * _bw.conj(_keep(out, axes, keepdim) / x)
        # with zeros, out / x is 0/0: use the product of the *other* elements
        if is_array(x):
            return g * _bw.conj(_prod_others(xd, axis))
        return g * _bw.conj(_prod_others_graph(x, axis))


def _prod_others(x, axis):
    """For each element, the product of the others along ``axis`` (None: all),
    from exclusive cumulative products from both ends -- exact with zeros."""
    if axis is None:
        return _prod_others(x.reshape(-1), 0).reshape(x.shape)
    xp = namespace(x)
    xm = xp.moveaxis(x, axis, -1)
    ones = xp.ones(xm.shape[:-1] + (1,), dtype=x.dtype)
    left = xp.cumprod(xp.concatenate([ones, xm[..., :-1]], -1), -1)
    right = xp.cumprod(xp.concatenate([ones, xm[..., :0:-1]], -1), -1)[..., ::-1]
    return xp.moveaxis(left * right, -1, axis)


def _to_last(x, axis):
    """Move ``axis`` of a Tensor to the end; returns (moved, inverse permutation)."""
    nd = x.ndim
    perm = [i for i in range(nd) if i != axis] + [axis]
    inverse = tuple(sorted(range(nd), key=perm.__getitem__))  # (argsort of perm)
    return _bw.transpose(x, perm), inverse


def _prod_others_graph(x, axis):
    """Product of the other elements, built from recorded ops so that it can be
    differentiated again (create_graph).  Costs n^2 per slice: only used when
    the input has zeros."""
    if axis is None:
        return _prod_others_graph(x.reshape(-1), 0).reshape(x.shape)
    xm, inv = _to_last(x, axis)
    n = xm.shape[-1]
    rows = xm.unsqueeze(-2).expand(*xm.shape[:-1], n, n)      # [..., i, j] = x_j
    others = prod(_bw.where(namespace(x).eye(n, dtype=bool), 1.0, rows), -1)
    return _bw.transpose(others, inv)


@autocast_op("fp32")
def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Product of all elements, or along one ``dim``; bool/int inputs give int64.
    The gradient is exact where the input has zeros."""
    _check_tensor(input, "prod")
    d = input._data
    acc = _acc_dtype(d, dtype, input)
    if acc is np.float16:
        acc = None
    if dim is None:
        if keepdim:
            raise TypeError("prod(): argument 'dim' must be int when keepdim is given")
        axis = None
    else:
        axis = _axis(dim, d.ndim, "prod")
        if d.ndim == 0:
            axis, keepdim = None, False
    return _out(Prod.apply(input, axis, keepdim, acc), out)


# ---- picking elements: one differentiable op for max(dim), sort, topk, median... ---------

class _Select(Op):
    """values = x[idx] along ``axis`` (idx computed outside autograd).  The
    gradient goes back to the picked positions; ``accumulate`` when an index
    can repeat (cummax)."""
    _ctx_fields = ("x_shape", "idx", "axis", "squeeze", "accumulate")

    @staticmethod
    def forward(ctx, x, idx, axis, squeeze, accumulate, vals=None):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.idx, ctx.axis = x.shape, idx, axis
            ctx.squeeze, ctx.accumulate = squeeze, accumulate
        v = _bw.take_along(x, idx, axis) if vals is None else vals
        return _c(v.squeeze(axis) if squeeze else v, namespace(x))

    @staticmethod
    def backward(ctx, g):
        axis = ctx.axis
        if ctx.squeeze:
            g = _bw.expand_dims(g, (axis,))
        return _bw.put_along(g, ctx.idx, axis, ctx.x_shape, ctx.accumulate)


def _sel_class(name):
    return type(name, (_Select,), {"_node_name": name + "Backward0"})


_SEL = {n: _sel_class(n.capitalize()) for n in (
    "max", "min", "sort", "topk", "median", "nanmedian", "mode", "kthvalue", "cummax",
    "cummin", "gather")}


def _select(kind, x, idx, axis, squeeze, accumulate=False, vals=None):
    """Pick ``idx`` from Tensor ``x`` along ``axis`` (``squeeze`` drops that
    axis, size 1, from the result); returns the return_types named tuple
    (values, indices).  ``vals``: the picked values when already known."""
    if x._data.ndim == 0:
        # a 0-d input is its own value; index 0
        vals = _SEL[kind].apply(x.reshape(1), idx.reshape(1), 0, True, accumulate)
        return _RT[kind](vals, _wrap(namespace(x).zeros((), dtype=np.int64)))
    vals = _SEL[kind].apply(x, idx, axis, squeeze, accumulate, vals)
    i = idx.squeeze(axis) if squeeze else idx
    i = i.astype(np.int64, copy=vals.requires_grad)  # backward keeps idx: no shared memory
    return _RT[kind](vals, _wrap(i))


class _Gather(Op):
    """take_along_axis as a graph op (for backward formulas under create_graph)."""
    _ctx_fields = ("x_shape", "idx", "axis")
    _node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, x, idx, axis):
        if ctx.needs_input_grad:
            ctx.x_shape, ctx.idx, ctx.axis = x.shape, idx, axis
        return _bw.take_along(x, idx, axis)

    @staticmethod
    def backward(ctx, g):
        return _bw.put_along(g, ctx.idx, ctx.axis, ctx.x_shape, True)


class _Scatter(Op):
    """Zeros with ``g`` put (or added) at ``idx`` along ``axis``: the adjoint of _Gather."""
    _ctx_fields = ("idx", "axis")
    _node_name = "ScatterAddBackward0"

    @staticmethod
    def forward(ctx, g, idx, axis, shape, accumulate):
        if ctx.needs_input_grad:
            ctx.idx, ctx.axis = idx, axis
        return _bw.put_along(g, idx, axis, shape, accumulate)

    @staticmethod
    def backward(ctx, gg):
        return _bw.take_along(gg, ctx.idx, ctx.axis)


class _PickAll(Op):
    """A full reduction that picks a value (max(), min(), median()): the
    gradient is split evenly among the elements equal to it, as torch does."""

    @staticmethod
    def forward(ctx, x, value):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, value)
        return value

    @staticmethod
    def backward(ctx, g):
        x, value = ctx.saved_tensors
        w = _evenly(_bw.data(x), _bw.data(value))
        # torch fills the picked elements into zeros: the others get exactly 0,
        # even for a NaN or inf gradient (which g * w would spread as NaN)
        if isinstance(g, TensorBase):
            return (g * w).masked_fill(_wrap(w == 0), 0.0)
        r = namespace(g).asarray(g * w)          # (0-d operands give a NumPy scalar)
        r[w == 0] = 0
        return r


def _pick_class(name):
    return type(name, (_PickAll,), {"_node_name": name + "Backward1"})


_PICK = {n: _pick_class(n) for n in ("Max", "Min", "Median", "Nanmedian")}


def _evenly(xd, v, axes=None, nan_equal=True):
    """Weights 1/count on the elements equal to ``v`` (NaN counts as equal to a
    NaN ``v`` when ``nan_equal``), 0 elsewhere."""
    mask = xd == v
    if nan_equal and _isf(xd.dtype):
        xp = namespace(xd)
        vn = xp.isnan(v)
        if vn.any():
            mask |= xp.isnan(xd) & vn
    cnt = mask.sum(axis=axes, keepdims=axes is not None)
    with _quiet():
        return (mask / cnt).astype(xd.dtype, copy=False)


def _reduce_dim(input, dim, keepdim, name):
    """Validate a single-dim reduction that has no identity (max, argmax...):
    returns (axis, keepdim) with 0-d inputs mapped to axis 0."""
    d = input._data
    axis = _axis(dim, d.ndim, name)
    if d.ndim == 0:
        return 0, False
    if d.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    return axis, keepdim


def _as1d(d):
    return d.reshape(1) if d.ndim == 0 else d


def _extreme(input, dim, keepdim, out, name, ufunc, arg):
    """max/min: ``ufunc`` ('maximum'/'minimum') reduces, ``arg`` ('argmax'/'argmin')
    finds the index, both from the input's namespace."""
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): argument 'dim' must be int when keepdim is given")
        _check_tensor(input, name)
        d = input._data
        if d.size == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                               f"input.numel() == 0. Specify the reduction dim with the 'dim' "
                               f"argument.")
        xp = namespace(d)
        value = xp.asarray(d.max() if ufunc == "maximum" else d.min())
        return _out(_PICK[name.capitalize()].apply(input, value), out)
    if isinstance(dim, TensorBase):  # max(a, b): elementwise
        if keepdim:
            raise TypeError(f"{name}(): keepdim is not valid with a Tensor 'other'")
        return _binary_extreme(input, dim, "maximum" if name == "max" else "minimum", out)
    _check_tensor(input, name)
    axis, keepdim = _reduce_dim(input, dim, keepdim, name)
    x = _as1d(input._data)
    xp = namespace(x)
    idx = getattr(xp, arg)(x, axis=axis, keepdims=True)
    # (cheaper than gathering at idx; the array's method, as CuPy's ufuncs reduce
    # only for add and multiply)
    vals = x.max(axis, keepdims=True) if ufunc == "maximum" else x.min(axis, keepdims=True)
    return _out_tuple(_select(name, input, idx, axis, not keepdim, vals=vals), out)


def max(input, dim=None, keepdim=False, *, out=None):
    """max(x): the largest element (NaN propagates).  max(x, dim, keepdim):
    named tuple (values, indices), first index among ties.  max(x, other):
    elementwise maximum."""
    return _extreme(input, dim, keepdim, out, "max", "maximum", "argmax")


def min(input, dim=None, keepdim=False, *, out=None):
    """min(x), min(x, dim, keepdim) -> (values, indices), or min(x, other)."""
    return _extreme(input, dim, keepdim, out, "min", "minimum", "argmin")


def _out_tuple(res, out):
    if out is None:
        return res
    if not isinstance(out, (tuple, list)) or len(out) != len(res):
        raise TypeError(f"out must be a tuple of {len(res)} Tensors")
    return type(res)(*(_out(r, o) for r, o in zip(res, out)))


def _binary_extreme(a, b, name, out=None):
    """max(a, b) / min(a, b): torch.maximum / torch.minimum from ember.ops.math."""
    from . import math as _math  # imported here: math is loaded after this module
    fn = getattr(_math, name)
    return fn(a, b) if out is None else fn(a, b, out=out)


# ---- amax / amin / aminmax / argmax / argmin --------------------------------------------------

class Amax(Op):
    _ctx_fields = ("axes", "keepdim")
    largest = True      # (reduced with the array's max method; Amin: min)

    @classmethod
    def forward(cls, ctx, x, axes, keepdim):
        xp = namespace(x)
        r = x.max(axis=axes, keepdims=keepdim) if cls.largest else \
            x.min(axis=axes, keepdims=keepdim)
        r = _c(r, xp)
        ctx.axes, ctx.keepdim = axes, keepdim
        ctx.save_for_backward(x, r)
        return r

    @classmethod
    def backward(cls, ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdim = ctx.axes, ctx.keepdim
        # ties split the gradient evenly; a NaN result gives NaN, as torch
        w = _evenly(_bw.data(x), _bw.data(_keep(out, axes, keepdim)),
                    axes if axes is not None else tuple(range(_bw.data(x).ndim)), False)
        return _keep(g, axes, keepdim) * w


class Amin(Amax):
    largest = False


def _amax_axes(input, dim, name):
    _check_tensor(input, name)
    d = input._data
    axes = _axes(dim, d.ndim, name)
    if d.size == 0:
        if axes is None:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                               f"input.numel() == 0. Specify the reduction dim with the 'dim' "
                               f"argument.")
        for a in axes:
            if d.shape[a] == 0:
                raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")
    return axes


def amax(input, dim=(), keepdim=False, *, out=None):
    """Largest value over ``dim`` (all when empty); ties share the gradient."""
    return _out(Amax.apply(input, _amax_axes(input, dim, "amax"), keepdim), out)


def amin(input, dim=(), keepdim=False, *, out=None):
    """Smallest value over ``dim`` (all when empty); ties share the gradient."""
    return _out(Amin.apply(input, _amax_axes(input, dim, "amin"), keepdim), out)


def aminmax(input, *, dim=None, keepdim=False, out=None):
    """Named tuple (min, max) over ``dim`` (or all)."""
    _check_tensor(input, "aminmax")
    d = input._data
    axes = None if dim is None else (_axis(dim, d.ndim, "aminmax"),)
    if d.ndim == 0:
        axes = None
    if d.size == 0 and (axes is None or d.shape[axes[0]] == 0):
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    return _out_tuple(_RT["aminmax"](Amin.apply(input, axes, keepdim),
                                     Amax.apply(input, axes, keepdim)), out)


def _arg_extreme(input, dim, keepdim, name):
    """argmax/argmin (``name``) as int64, with torch's checks."""
    _check_tensor(input, name)
    d = input._data
    xp = namespace(d)
    arg = getattr(xp, name)
    if d.dtype == np.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")
    if dim is None:
        if d.size == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for "
                             f"input.numel() == 0.")
        r = xp.asarray(arg(d), dtype=np.int64)
        return _wrap(r.reshape(_ones_shape(d.ndim)) if keepdim else r)
    axis, keepdim = _reduce_dim(input, dim, keepdim, name)
    # (the array's own method: the namespace's function wraps the same call,
    # ~1 us more; a greedy decoder takes an argmax every token)
    r = getattr(_as1d(d), name)(axis=axis, keepdims=keepdim)
    if d.ndim == 0:
        r = r.reshape(())
    return _wrap(r if r.dtype == np.int64 else xp.asarray(r, dtype=np.int64))


def argmax(input, dim=None, keepdim=False, *, out=None):
    """Index of the largest element (flattened when ``dim`` is None); first among ties."""
    return _out(_arg_extreme(input, dim, keepdim, "argmax"), out)


def argmin(input, dim=None, keepdim=False, *, out=None):
    """Index of the smallest element (flattened when ``dim`` is None); first among ties."""
    return _out(_arg_extreme(input, dim, keepdim, "argmin"), out)


# ---- logsumexp -------------------------------------------------------------------------------

class LogSumExp(Op):
    _ctx_fields = ("axes", "keepdim")
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = namespace(x)
        m = kernels(x).max_kept(x, axes)
        # shift by the max for stability, except where it is infinite (torch's rule)
        if not xp.isfinite(m).all():
            m = xp.where(xp.isinf(m), 0, m).astype(x.dtype, copy=False)
        e = xp.exp(x - m)
        # (half: accumulated in float32, the sum rounded to half as torch's)
        s = xp.asarray(_fsum(e, axes, np.float32 if x.dtype == np.float16 else None, True),
                       dtype=x.dtype)
        if s.all():
            r = xp.log(s) + m
        else:
            with _quiet():
                r = xp.log(s) + m
        r = _c(_squeeze(r, axes, keepdim), xp)
        if ctx.needs_input_grad:
            ctx.axes, ctx.keepdim = axes, keepdim
            ctx.save_for_backward(x, r)
        return r

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdim = ctx.axes, ctx.keepdim
        out = _keep(out, axes, keepdim)
        od = _bw.data(out)
        if namespace(od).isfinite(od).all():
            return _keep(g, axes, keepdim) * _bw.exp(x - out)
        with _quiet():
            return _keep(g, axes, keepdim) * _bw.exp(x - out)


def logsumexp(input, dim, keepdim=False, *, out=None):
    """log(sum(exp(x))) over ``dim``, computed stably; ints become the default float."""
    _check_tensor(input, "logsumexp")
    if input._data.dtype.kind == "c":
        raise NotImplementedError("logsumexp of complex tensors is not supported by Ember")
    if not _isf(input._data.dtype):
        input = _cast(input, D.get_default_dtype())
    axes = _axes(dim, input._data.ndim, "logsumexp")
    return _out(LogSumExp.apply(input, axes, keepdim), out)


# ---- cumulative ops -----------------------------------------------------------------------------

def _revcumsum(g, axis):
    return _bw.flip(_bw.cumsum(_bw.flip(g, axis), axis), axis)


# torch's CPU scans accumulate float32 in double and half in float32: a
# float32 running sum of 10^7 copies of 0.1 would end at 1,087,937.
_SCAN_ACC = {np.float16: np.float32, np.float32: np.float64}


def _scan(fn, x, axis, acc):
    """``fn`` ('cumsum'/'cumprod') of array ``x`` along ``axis`` with result
    dtype ``acc`` (None: x's), accumulated as torch's CPU scans do."""
    out = x.dtype.type if acc is None else acc
    wide = _SCAN_ACC.get(out)
    r = getattr(namespace(x), fn)(x, axis, dtype=wide or out)
    return r if wide is None else r.astype(out)


class Cumsum(Op):
    _ctx_fields = ("axis",)
    @staticmethod
    def forward(ctx, x, axis, acc):
        if ctx.needs_input_grad:
            ctx.axis = axis
        if x.ndim == 0:
            return x.astype(acc) if acc is not None else x.copy()
        return _scan("cumsum", x, axis, acc)

    @staticmethod
    def backward(ctx, g):
        if _bw.data(g).ndim == 0:
            return g
        return _revcumsum(g, ctx.axis)


def cumsum(input, dim, *, dtype=None, out=None):
    """Running sum along ``dim``; bool/int inputs give int64."""
    _check_tensor(input, "cumsum")
    d = input._data
    axis = _axis(dim, d.ndim, "cumsum")
    return _out(Cumsum.apply(input, axis, _acc_dtype(d, dtype, input)), out)


class Cumprod(Op):
    _ctx_fields = ("axis",)
    @staticmethod
    def forward(ctx, x, axis, acc):
        if ctx.needs_input_grad:
            ctx.axis = axis
        if x.ndim == 0:
            r = x.astype(acc) if acc is not None else x.copy()
        else:
            r = _scan("cumprod", x, axis, acc)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, r)
        return r

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axis = ctx.axis
        xd = _bw.data(x)
        if xd.ndim == 0:
            return g
        if not (xd == 0).any():
            # d out_k / d x_i = out_k / x_i for k >= i (conjugated for complex x)
            return _revcumsum(g * _bw.conj(out), axis) / _bw.conj(x)
        # (both formulas are products of x's: conjugated for complex x)
        if is_array(x):
            return _cumprod_grad_zeros(_bw.conj(xd), _bw.conj(out), g, axis)
        return _cumprod_grad_graph(_bw.conj(x), g, axis)


def _cumprod_grad_zeros(x, out, g, axis):
    """Exact cumprod gradient with zeros in O(n): before the first zero of a
    slice the usual out/x formula holds; after it the gradient is 0; at the
    zero itself it is out[z-1] * sum_{k>=z} g_k prod_{z<j<=k} x_j."""
    xp = namespace(x)
    x, out, g = (xp.moveaxis(xp.asarray(a), axis, -1) for a in (x, out, g))
    n = x.shape[-1]
    pos = xp.arange(n)
    zero = x == 0
    has = zero.any(-1, keepdims=True)
    z = xp.where(has, zero.argmax(-1)[..., None], n)
    before = pos < z
    with _quiet():
        grad = xp.where(before, xp.flip(xp.cumsum(xp.flip(g * out, -1), -1), -1)
                        / xp.where(before, x, 1), 0)
    after = xp.cumprod(xp.where(pos > z, x, 1), -1)
    tail = xp.sum(xp.where(pos >= z, g * after, 0), -1, keepdims=True)
    zc = xp.clip(z - 1, 0, n - 1)
    left = xp.where(z > 0, _bw.take_along(out, zc, -1), 1)
    grad = xp.where(pos == z, left * tail, grad)
    return xp.moveaxis(grad.astype(x.dtype, copy=False), -1, axis)


def _cumprod_grad_graph(x, g, axis):
    """cumprod's gradient from recorded ops (create_graph) when x has zeros:
    grad_i = sum_{k>=i} g_k prod_{j<=k, j!=i} x_j, via an n x n expansion."""
    xm, inv = _to_last(x, axis)
    gm, _ = _to_last(g if isinstance(g, TensorBase) else _wrap(g), axis)
    n = xm.shape[-1]
    rows = xm.unsqueeze(-2).expand(*xm.shape[:-1], n, n)
    xp = namespace(x)
    c = cumprod(_bw.where(xp.eye(n, dtype=bool), 1.0, rows), -1)    # [..., i, k]
    upper = xp.triu(xp.ones((n, n), dtype=_bw.data(x).dtype))       # k >= i
    grad = sum(c * (gm.unsqueeze(-2) * upper), -1)
    return _bw.transpose(grad, inv)


def cumprod(input, dim, *, dtype=None, out=None):
    """Running product along ``dim``; bool/int inputs give int64.  The gradient
    is exact where the input has zeros."""
    _check_tensor(input, "cumprod")
    d = input._data
    axis = _axis(dim, d.ndim, "cumprod")
    return _out(Cumprod.apply(input, axis, _acc_dtype(d, dtype, input)), out)


def _cum_extreme(input, dim, name, ufunc):
    """cummax/cummin: the running ``ufunc`` ('maximum'/'minimum') and its indices."""
    _check_tensor(input, name)
    d = input._data
    axis = _axis(dim, d.ndim, name)
    x = _as1d(d)
    xp = namespace(x)
    K = kernels(x)
    vals = K.cum_extreme(x, axis, ufunc == "maximum")
    # index of the latest element that set (or tied) the running extreme; NaN sticks
    hit = x == vals
    if _isf(x.dtype):
        hit |= xp.isnan(x)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    pos = xp.arange(x.shape[axis]).reshape(shape)
    idx = K.cum_extreme(xp.where(hit, pos, 0), axis, True) if x.size else \
        xp.zeros(x.shape, dtype=np.int64)
    return _select(name, input, idx, axis, False, accumulate=True)


def cummax(input, dim, *, out=None):
    """Named tuple (values, indices) of the running maximum along ``dim``."""
    return _out_tuple(_cum_extreme(input, dim, "cummax", "maximum"), out)


def cummin(input, dim, *, out=None):
    """Named tuple (values, indices) of the running minimum along ``dim``."""
    return _out_tuple(_cum_extreme(input, dim, "cummin", "minimum"), out)


# ---- sorting ------------------------------------------------------------------------------------

def _argsort(x, axis, descending):
    """Stable argsort; NaN sorts as the largest value (last ascending, first descending)."""
    xp = namespace(x)
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable")
    # reversing a stable ascending sort of the reversed input gives a stable
    # descending order (equal elements keep their original order)
    n = x.shape[axis]
    rev = (slice(None),) * axis + (slice(None, None, -1),)
    return (n - 1) - xp.argsort(x[rev], axis=axis, kind="stable")[rev]


def sort(input, dim=-1, descending=False, *, stable=False, out=None):
    """Named tuple (values, indices) sorted along ``dim``; always stable."""
    _check_tensor(input, "sort")
    d = input._data
    axis = _axis(dim, d.ndim, "sort")
    idx = _argsort(_as1d(d), axis, descending)
    return _out_tuple(_select("sort", input, idx, axis, False), out)


def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim``."""
    _check_tensor(input, "argsort")
    d = input._data
    axis = _axis(dim, d.ndim, "argsort")
    if d.ndim == 0:
        return _wrap(namespace(d).zeros((), dtype=np.int64))
    return _wrap(_argsort(d, axis, descending).astype(np.int64, copy=False))


def msort(input, *, out=None):
    """Sort along the first dimension (values only)."""
    return _out(sort(input, 0).values, out)


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    """Named tuple (values, indices) of the ``k`` largest (or smallest) entries
    along ``dim``, in sorted order.  NaN counts as the largest value."""
    _check_tensor(input, "topk")
    d = input._data
    axis = _axis(dim, d.ndim, "topk")
    x = _as1d(d)
    xp = namespace(x)
    n = x.shape[axis]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"topk(): argument 'k' (position 2) must be int, not {type(k).__name__}")
    if k < 0 or k > n:
        raise RuntimeError("selected index k out of range")
    k = int(k)
    if 0 < k and k * 4 < n and n > 256:
        # partition first (O(n)), then sort only the k picked
        part = xp.argpartition(x, n - k if largest else k - 1, axis=axis)
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(n - k, None) if largest else slice(0, k)
        cand = part[tuple(sl)]
        cvals = _bw.take_along(x, cand, axis)
        order = _argsort(cvals, axis, largest)
        idx = _bw.take_along(cand, order, axis)
        vals = _bw.take_along(cvals, order, axis)
    else:
        idx = _argsort(x, axis, largest)
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(0, k)
        idx = idx[tuple(sl)]
        vals = None
    if d.ndim == 0 and k == 0:
        res = _RT["topk"](_wrap(xp.zeros((0,), dtype=d.dtype)), _wrap(xp.zeros((0,), np.int64)))
        return _out_tuple(res, out)
    return _out_tuple(_select("topk", input, idx, axis, False, vals=vals), out)


def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):
    """Named tuple (values, indices) of the k-th smallest entry along ``dim``."""
    _check_tensor(input, "kthvalue")
    d = input._data
    axis = _axis(dim, d.ndim, "kthvalue")
    x = _as1d(d)
    n = x.shape[axis]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {axis}")
    order = _argsort(x, axis, False)
    idx = namespace(order).take(order, [k - 1], axis=axis)
    return _out_tuple(_select("kthvalue", input, idx, axis, not keepdim), out)


def _median_index(x, axis, ignore_nan):
    """Index (keepdims form) of the lower median along ``axis``.  With NaN
    present the result is the first NaN (median) or NaN is skipped (nanmedian)."""
    xp = namespace(x)
    order = xp.argsort(x, axis=axis, kind="stable")  # NaN last
    n = x.shape[axis]
    if _isf(x.dtype):
        nan = xp.isnan(x)
        if ignore_nan:
            cnt = n - nan.sum(axis=axis, keepdims=True)
            k = xp.maximum(cnt - 1, 0) // 2
            return _bw.take_along(order, k, axis)
        idx = xp.take(order, [(n - 1) // 2], axis=axis)
        anynan = nan.any(axis=axis, keepdims=True)
        if anynan.any():
            idx = xp.where(anynan, nan.argmax(axis=axis, keepdims=True), idx)
        return idx
    return xp.take(order, [(n - 1) // 2], axis=axis)


def _median(input, dim, keepdim, out, name, ignore_nan):
    _check_tensor(input, name)
    d = input._data
    if dim is None:
        if d.size == 0:
            if not _isf(d.dtype):
                raise RuntimeError(f"{name}() input tensor cannot be empty")
            v = namespace(d).asarray(_nan, dtype=d.dtype)
        else:
            flat = d.reshape(-1)
            v = namespace(d).asarray(flat[_median_index(flat, 0, ignore_nan)[0]])
        return _out(_PICK[name.capitalize()].apply(input, v), out)
    axis, keepdim = _reduce_dim(input, dim, keepdim, name)
    idx = _median_index(_as1d(d), axis, ignore_nan)
    return _out_tuple(_select(name, input, idx, axis, not keepdim), out)


def median(input, dim=None, keepdim=False, *, out=None):
    """Lower median: median(x) is a value (NaN if any NaN); median(x, dim)
    is a named tuple (values, indices)."""
    return _median(input, dim, keepdim, out, "median", False)


def nanmedian(input, dim=None, keepdim=False, *, out=None):
    """Lower median ignoring NaN (NaN only where a slice is all NaN)."""
    return _median(input, dim, keepdim, out, "nanmedian", True)


def mode(input, dim=-1, keepdim=False, *, out=None):
    """Named tuple (values, indices): the most frequent value along ``dim``
    (the smallest among equally frequent ones) and its last index."""
    _check_tensor(input, "mode")
    d = input._data
    axis, keepdim = _reduce_dim(input, dim, keepdim, "mode")
    xp = namespace(d)
    x = xp.moveaxis(_as1d(d), axis, -1)
    n = x.shape[-1]
    s = xp.sort(x, axis=-1)
    pos = xp.arange(n)
    start = xp.ones(s.shape, dtype=bool)
    start[..., 1:] = s[..., 1:] != s[..., :-1]
    first = kernels(s).cum_extreme(xp.where(start, pos, 0), -1, True)
    run = pos - first + 1                                   # length of the run so far
    best = xp.argmax(run == run.max(-1, keepdims=True), axis=-1)[..., None]  # smallest value
    val = _bw.take_along(s, best, -1)
    last = (n - 1) - xp.argmax(xp.flip(x == val, -1), axis=-1)[..., None]
    idx = xp.moveaxis(last, -1, axis)
    return _out_tuple(_select("mode", input, idx, axis, not keepdim), out)


def _quantile(input, q, dim, keepdim, interpolation, name, ignore_nan):
    _check_tensor(input, name)
    d = input._data
    xp = namespace(d)
    if not _isf(d.dtype):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if d.size == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"{name}() interpolation must be one of linear, lower, higher, "
                         f"midpoint or nearest. Got {interpolation}")
    if isinstance(q, TensorBase):
        if q._data.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
        if q._data.dtype != d.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
        qs = q._data.astype(np.float64)
        scalar_q = q._data.ndim == 0
    else:
        qs = xp.asarray(q, dtype=np.float64)
        scalar_q = True
    if ((qs < 0) | (qs > 1)).any():
        if isinstance(q, TensorBase):
            raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
        raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {q}")
    qs = qs.reshape(-1)
    if dim is None:
        x, axis = input.reshape(-1), 0
        out_keep = _ones_shape(d.ndim)
    else:
        axis = _axis(dim, d.ndim, name)
        x = input.reshape(1) if d.ndim == 0 else input
        out_keep = tuple(1 if i == axis else s for i, s in enumerate(d.shape))
    xm, _ = _to_last(x, axis)                       # (..., n)
    srt = sort(xm, -1).values                        # NaN last
    sd = srt._data
    n = sd.shape[-1]
    nan = xp.isnan(sd)
    cnt = (n - nan.sum(-1, keepdims=True)) if ignore_nan else xp.full(sd.shape[:-1] + (1,), n)
    rank = qs * (xp.maximum(cnt, 1) - 1)             # (..., Q)
    if interpolation == "nearest":
        rank = xp.round(rank)
    lo = xp.floor(rank).astype(np.int64)
    hi = xp.ceil(rank).astype(np.int64)
    vlo = _SEL["gather"].apply(srt, lo, srt.ndim - 1, False, True)
    vhi = _SEL["gather"].apply(srt, hi, srt.ndim - 1, False, True)
    if interpolation in ("lower", "nearest"):
        r = vlo
    elif interpolation == "higher":
        r = vhi
    else:
        w = 0.5 if interpolation == "midpoint" else (rank - lo).astype(sd.dtype)
        r = vlo + (vhi - vlo) * w
    # quantile: any NaN in a slice makes it NaN; nanquantile: only an all-NaN slice
    bad = (cnt == 0) if ignore_nan else nan.any(-1, keepdims=True)
    if bad.any():
        r = _bw.where(xp.broadcast_to(bad, r.shape), _nan, r)
    # (..., Q) -> (Q, *reduced) with keepdim handled
    r = _bw.transpose(r, (r.ndim - 1,) + tuple(range(r.ndim - 1)))
    shape = out_keep if keepdim else tuple(s for i, s in enumerate(out_keep)
                                           if dim is not None and i != axis)
    if dim is not None and d.ndim == 0:
        shape = ()
    r = r.reshape(((len(qs),) if not scalar_q else ()) + tuple(shape))
    return r


@autocast_op("fp32")
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    """q-th quantiles along ``dim`` (flattened when None); ``q`` a float or 1-D
    tensor (its length becomes the first output dim)."""
    return _out(_quantile(input, q, dim, keepdim, interpolation, "quantile", False), out)


@autocast_op("fp32")
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    """quantile ignoring NaN."""
    return _out(_quantile(input, q, dim, keepdim, interpolation, "nanquantile", True), out)


# ---- logical reductions, counting, unique ------------------------------------------------------

def all(input, dim=None, keepdim=False, *, out=None):
    """True where every element over ``dim`` is nonzero (uint8 in, uint8 out)."""
    _check_tensor(input, "all")
    d = input._data
    xp = namespace(d)
    r = xp.asarray(xp.all(d, axis=_axes(dim, d.ndim, "all"), keepdims=keepdim))
    return _out(_wrap(r.astype(np.uint8) if d.dtype == np.uint8 else r), out)


def any(input, dim=None, keepdim=False, *, out=None):
    """True where some element over ``dim`` is nonzero (uint8 in, uint8 out)."""
    _check_tensor(input, "any")
    d = input._data
    xp = namespace(d)
    r = xp.asarray(xp.any(d, axis=_axes(dim, d.ndim, "any"), keepdims=keepdim))
    return _out(_wrap(r.astype(np.uint8) if d.dtype == np.uint8 else r), out)


def count_nonzero(input, dim=None):
    """Number of nonzero elements over ``dim`` (int64)."""
    _check_tensor(input, "count_nonzero")
    d = input._data
    xp = namespace(d)
    return _wrap(xp.asarray(xp.count_nonzero(d, axis=_axes(dim, d.ndim, "count_nonzero")),
                            dtype=np.int64))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Distinct elements (sorted), optionally with the inverse map and counts.
    NaNs are not merged, as torch."""
    _check_tensor(input, "unique")
    d = input._data
    xp = namespace(d)
    if dim is None:
        flat = d.reshape(-1)
        res = xp.unique(flat, return_inverse=True, return_counts=True, equal_nan=False)
        vals, inv, cnt = res
        inv = inv.reshape(d.shape)
    else:
        axis = _axis(dim, d.ndim, "unique")
        vals, inv, cnt = xp.unique(_as1d(d), return_inverse=True, return_counts=True, axis=axis)
        inv = inv.reshape(-1)
    out = [_wrap(vals)]
    if return_inverse:
        out.append(_wrap(inv.astype(np.int64, copy=False)))
    if return_counts:
        out.append(_wrap(cnt.astype(np.int64, copy=False)))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal consecutive elements (along ``dim``, or flattened)."""
    _check_tensor(input, "unique_consecutive")
    d = input._data
    xp = namespace(d)
    if dim is None:
        x = d.reshape(-1)
        n = x.shape[0]
        start = xp.ones(n, dtype=bool)
        start[1:] = x[1:] != x[:-1]
        vals = x[start]
        inv_shape = d.shape
    else:
        axis = _axis(dim, d.ndim, "unique_consecutive")
        x = xp.moveaxis(_as1d(d), axis, 0)
        n = x.shape[0]
        start = xp.ones(n, dtype=bool)
        if n > 1:
            start[1:] = (x[1:] != x[:-1]).reshape(n - 1, -1).any(1)
        vals = xp.moveaxis(x[start], 0, axis)
        inv_shape = (n,)
    out = [_wrap(xp.ascontiguousarray(vals))]
    if return_inverse:
        out.append(_wrap((xp.cumsum(start) - 1).astype(np.int64).reshape(inv_shape)))
    if return_counts:
        pos = xp.flatnonzero(start)
        out.append(_wrap(xp.diff(xp.append(pos, n)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


# ---- norms --------------------------------------------------------------------------------------

class VectorNorm(Op):
    """(sum |x|^p)^(1/p) over ``axes``; p may be 0, inf, -inf or any number."""
    _ctx_fields = ("p", "axes", "keepdim")
    _node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, p, axes, keepdim):
        xp = namespace(x)
        acc = x.astype(np.float32) if x.dtype == np.float16 else x
        # (sums as accurate as torch's: see _fsum)
        if p == 2:
            if axes is None and not keepdim:
                r = xp.sqrt(kernels(acc).sum_squares(acc))
            else:
                r = xp.sqrt(_fsum(acc * acc, axes, None, keepdim))
        else:
            a = xp.abs(acc)
            if p == 1:
                r = _fsum(a, axes, None, keepdim)
            elif p == _inf:
                r = xp.amax(a, axis=axes, keepdims=keepdim)
            elif p == -_inf:
                r = xp.amin(a, axis=axes, keepdims=keepdim)
            elif p == 0:
                r = xp.sum(a != 0, axis=axes, keepdims=keepdim)
            else:
                with _quiet():
                    r = _fsum(a ** p, axes, None, keepdim) ** (1.0 / p)
        r = xp.asarray(r, dtype=x.dtype)
        if ctx.needs_input_grad:
            ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
            ctx.save_for_backward(x, r)
        return r

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        p, axes, keepdim = ctx.p, ctx.axes, ctx.keepdim
        if p == 0:
            return None  # piecewise constant: torch leaves the gradient undefined
        g = _keep(g, axes, keepdim)
        out = _keep(out, axes, keepdim)
        od = _bw.data(out)
        if p == 1:
            return g * _bw.sign(x)
        xd = _bw.data(x)
        if p == _inf or p == -_inf:
            w = _evenly(namespace(xd).abs(xd), od, axes if axes is not None else tuple(range(xd.ndim)), False)
            return _bw.sign(x) * (g * w)
        zero = od == 0
        if zero.any():  # a zero norm has zero gradient (torch's convention)
            g = _bw.where(zero, 0.0, g)
            out = _bw.where(zero, 1.0, out)
        if p == 2:
            return x * (g / out)
        # d/dx_i = sign(x_i) |x_i|^(p-1) / norm^(p-1); 0 where x_i == 0
        xz = xd == 0
        ax = _bw.abs(x)
        if xz.any():
            scaled = _bw.where(xz, 0.0, _bw.sign(x) * _bw.where(xz, 1.0, ax) ** (p - 1))
        else:
            scaled = _bw.sign(x) * ax ** (p - 1)
        return scaled * (g / out ** (p - 1))


def _norm_ord(name, ord):
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}(): argument 'ord' must be Number, not {type(ord).__name__}")
    return float(ord)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """Vector p-norm of ``x`` over ``dim`` (all elements when None)."""
    _check_tensor(x, "linalg.vector_norm")
    p = _norm_ord("linalg_vector_norm", ord)
    if dtype is not None:
        x = _cast(x, dtype)
    if x._data.dtype.kind == "c":
        x = x.abs()         # (a complex vector's norm is its moduli's)
    d = x._data
    if not _isf(d.dtype):
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_tname(d.dtype)}")
    axes = _axes(dim, d.ndim, "linalg.vector_norm")
    if (p < 0 or p == _inf) and _count(d.shape, axes) == 0 and d.ndim:
        o = int(p) if p.is_integer() else p
        raise RuntimeError(f"linalg.vector_norm cannot compute the {o} norm on an empty tensor "
                           f"because the operation does not have an identity")
    return _out(VectorNorm.apply(x, p, axes, keepdim), out)


class _SvdNorm(Op):
    """Matrix norms from singular values over the last two axes: 'nuc' (sum),
    2 (largest), -2 (smallest)."""
    _ctx_fields = ("u", "vh", "kind")
    _node_name = "LinalgMatrixNormBackward0"

    @staticmethod
    def forward(ctx, a, kind):
        u, s, vh = namespace(a).linalg.svd(a, full_matrices=False)
        if ctx.needs_input_grad:
            ctx.u, ctx.vh, ctx.kind = u, vh, kind   # (the singular vectors, for backward)
        if kind == "nuc":
            return s.sum(-1)
        return s[..., 0] if kind == 2 else s[..., -1]

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        u, vh, kind = ctx.u, ctx.vh, ctx.kind
        g = namespace(u).asarray(g)[..., None, None]
        if kind == "nuc":
            return g * (u @ vh)
        k = slice(0, 1) if kind == 2 else slice(-1, None)  # the largest / smallest pair
        return g * (u[..., :, k] @ vh[..., k, :])


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """Matrix norm over the two dims ``dim``: 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."""
    _check_tensor(A, "linalg.matrix_norm")
    if dtype is not None:
        A = _cast(A, dtype)
    d = A._data
    if d.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                           f"dimensions.")
    if d.dtype.kind == "c":
        raise NotImplementedError("linalg.matrix_norm: complex matrices are not supported by Ember")
    if not _isf(d.dtype):
        raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_tname(d.dtype)}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        n = len(dim) if isinstance(dim, (tuple, list)) else 1
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {n}")
    d0, d1 = _dim(int(dim[0]), d.ndim), _dim(int(dim[1]), d.ndim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, out=out)
    kept = tuple(1 if i in (d0, d1) else s for i, s in enumerate(d.shape))
    final = kept if keepdim else tuple(s for i, s in enumerate(d.shape) if i not in (d0, d1))
    if ord in ("nuc", 2, -2) and not isinstance(ord, bool):
        moved = A.permute(*[i for i in range(d.ndim) if i not in (d0, d1)], d0, d1)
        r = _SvdNorm.apply(moved, ord)
        return _out(r.reshape(final), out)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord in (1, -1, _inf, -_inf):
        # 1 / -1: max / min column sum of |A|; inf / -inf: the same over rows
        sum_dim, ext_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = vector_norm(A, 1, sum_dim, keepdim=True)
        r = (amax if ord > 0 else amin)(s, ext_dim, keepdim=True)
        return _out(r.reshape(final), out)
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    """``ember.linalg.norm``: vector norm for a 1-D ``dim`` (or 1-D input),
    matrix norm for a 2-tuple ``dim`` (or 2-D input); 2-norm of all when both
    ``ord`` and ``dim`` are None."""
    _check_tensor(A, "linalg.norm")
    if dim is not None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got 1")
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype, out=out)
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype, out=out)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype, out=out)
    nd = A._data.ndim
    if nd == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype, out=out)
    if nd == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype, out=out)
    raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or "
                       f"2D. Got {nd}D.")


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm: 'fro' (2-norm over ``dim`` or all), 'nuc', or a number p
    (vector p-norm over ``dim``)."""
    _check_tensor(input, "norm")
    if isinstance(p, str):
        if p == "fro":
            dims = None if dim is None else ((dim,) if isinstance(dim, (int, np.integer))
                                             else tuple(dim))
            if dims is None or len(dims) <= 2:
                return vector_norm(input, 2, dims, keepdim, dtype=dtype, out=out)
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {len(dims)}")
        if p == "nuc":
            return matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim,
                               dtype=dtype, out=out)
        raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    if p is None:
        p = 2
    return vector_norm(input, p, dim, keepdim, dtype=dtype, out=out)


__all__ = [
    "sum", "mean", "nansum", "nanmean", "var", "std", "var_mean", "std_mean", "prod",
    "max", "min", "amax", "amin", "aminmax", "argmax", "argmin", "logsumexp",
    "cumsum", "cumprod", "cummax", "cummin", "sort", "argsort", "msort", "topk",
    "kthvalue", "median", "nanmedian", "mode", "quantile", "nanquantile",
    "all", "any", "count_nonzero", "unique", "unique_consecutive", "norm", "return_types",
]

