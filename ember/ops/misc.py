"""The rest of torch's everyday Tensor methods and functions: differences and
sliding windows (diff, unfold), covariance (cov, corrcoef), counting
(bincount, histc), integer helpers (gcd, lcm, frexp, ldexp, nextafter),
scatters into copies (select/slice/diagonal_scatter), renorm, addr,
logcumsumexp, and the small metadata methods real-dtype code calls (conj,
is_neg, get_device ...).

Most are built from other differentiable Ember ops, so their gradients
come for free and match torch's; ``logcumsumexp`` is one Op (its backward
needs the log-domain sums torch uses); counting and integer functions are
not differentiable, as in torch.
"""
import builtins
import itertools
import math as _m
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from .._tensor_base import TensorBase, _wrap, _dim
from ..autograd.function import Op
from ..autograd.grad_mode import no_grad
from ..backends import namespace, kernels
from . import _bw
from .elementwise import _out, where as _where, logical_xor as _xor
from .linalg import outer as _outer
from .reduction import vector_norm as _vector_norm, sum as _sum
from .shape import cat as _cat, narrow as _narrow, diag as _diag, split as _split
from .indexing import index_select as _index_select
from .math import _not_tensor, _as_float
from .._bfloat16 import is_float as _isf
from .._autocast import autocast_op


_range = builtins.range          # (histogram's ``range`` argument shadows it there)
_builtin_max = builtins.max      # (histc's ``max`` argument shadows it there)


def _check(x, fname, arg="input", pos=1):
    if not isinstance(x, TensorBase):
        raise _not_tensor(fname, x, arg, pos)
    return x


# ---- differences and windows ----------------------------------------------------------------

def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along ``dim`` (xor for bool), after
    concatenating ``prepend``/``append`` there."""
    _check(input, "diff")
    if input._data.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _dim(dim, input._data.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    x = _cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        length = x.shape[d]
        if length == 0:
            break
        hi, lo = _narrow(x, d, 1, length - 1), _narrow(x, d, 0, length - 1)
        x = _xor(hi, lo) if x._data.dtype == np.bool_ else hi - lo
    return x


def unfold(input, dimension, size, step):
    """Every window of ``size`` elements along ``dimension``, ``step`` apart:
    that dimension becomes the window count and a new last dimension of
    ``size`` is added.  (torch returns a view; Ember a copy, gathered with
    index_select, whose gradient adds overlapping windows.)"""
    _check(input, "unfold")
    nd = input._data.ndim
    d = _dim(dimension, nd)
    n = input.shape[d] if nd else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    x = input.reshape(1) if nd == 0 else input
    count = (n - size) // step + 1
    xp = namespace(input._data)
    idx = (xp.arange(count)[:, None] * step + xp.arange(size)[None, :]).reshape(-1)
    g = _index_select(x, d, _wrap(idx.astype(D.int64.np)))
    shape = list(x.shape)
    shape[d:d + 1] = [count, size]
    return g.reshape(shape).movedim(d + 1, -1)


# ---- covariance -------------------------------------------------------------------------------

def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance of the variables in the rows of ``input`` (observations in
    columns; a 1-D input is one variable), optionally weighted by integer
    frequency weights and float observation weights."""
    _check(input, "cov")
    if input._data.ndim > 2:
        raise ValueError(f"cov(): expected input to have two or fewer dimensions but got an "
                         f"input with {input._data.ndim} dimensions")
    x = input if input._data.ndim == 2 else input.reshape(1, -1)
    if not _isf(x._data.dtype):
        x = x.to(D.get_default_dtype())
    n_obs = x.shape[1]
    w = None
    if fweights is not None:
        if fweights._data.dtype.kind not in "iu":
            raise RuntimeError("cov(): expected fweights to have integral dtype but got "
                               f"fweights with {fweights.dtype.scalar_name} dtype")
        w = fweights
    if aweights is not None:
        if not _isf(aweights._data.dtype):
            raise RuntimeError("cov(): expected aweights to have floating point dtype but got "
                               f"aweights with {aweights.dtype.scalar_name} dtype")
        w = aweights if w is None else w * aweights
    if w is None:
        avg = x.mean(1, keepdim=True)
        w_sum = float(n_obs)
        norm = w_sum - correction
        xc = x - avg
        c = xc @ xc.t()
    else:
        w = w.to(x.dtype)
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        if aweights is None:
            norm = w_sum - correction
        else:
            norm = w_sum - correction * (w * aweights.to(x.dtype)).sum() / w_sum
        xc = x - avg
        c = (xc * w) @ xc.t()
    c = c / (norm if not isinstance(norm, float) else max(norm, 0.0))
    return c.reshape(()) if input._data.ndim < 2 else c


def corrcoef(input):
    """Pearson correlation coefficients of the rows of ``input``, clipped to [-1, 1]."""
    _check(input, "corrcoef")
    c = cov(input)
    if c._data.ndim == 0:
        return c / c
    sd = c.diagonal().sqrt()
    c = c / sd[:, None] / sd[None, :]
    return c.clamp(-1, 1)


# ---- linear algebra helpers -----------------------------------------------------------------

def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * outer(vec1, vec2); with beta = 0, input is ignored
    (its nan/inf do not propagate)."""
    _check(input, "addr")
    o = _outer(vec1, vec2)
    if alpha != 1:
        o = o * alpha
    if beta == 0:
        _broadcast(input.shape, o.shape)       # (input must still fit the result)
        r = o
    else:
        r = (input if beta == 1 else input * beta) + o
    return _out(r, out)


def _broadcast(a, b):
    """The broadcast of two shapes (ValueError if they don't broadcast)."""
    a, b = tuple(a), tuple(b)
    n = _builtin_max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes {a} and {b} do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def dist(input, other, p=2):
    """The p-norm of input - other (both broadcast), flattened."""
    _check(input, "dist")
    _check(other, "dist", "other", 2)
    return _vector_norm(input - other, p)


def diagflat(input, offset=0):
    """A 2-D matrix with ``input`` flattened on its ``offset`` diagonal."""
    _check(input, "diagflat")
    return _diag(input.reshape(-1), offset)


def renorm(input, p, dim, maxnorm):
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to
    norm ``maxnorm`` (torch's 1e-7 guard in the divisor included)."""
    _check(input, "renorm")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    nd = input._data.ndim
    d = _dim(dim, nd)
    others = tuple(i for i in range(nd) if i != d)
    norms = _vector_norm(input, p, others, keepdim=True) if others else input.abs()
    with no_grad():
        big = norms > maxnorm
    factor = _where(big, maxnorm / (norms + 1e-7), 1.0)
    return input * factor


def ldexp(input, other, *, out=None):
    """input * 2 ** other (a float result).  Its gradient is 2 ** other also for
    negative integer exponents, where torch's (an integer power) gives 0."""
    _check(input, "ldexp")
    x = _as_float(input, "ldexp") if not _isf(input._data.dtype) else input
    return _out(x * (2.0 ** other), out)


class Logcumsumexp(Op):
    _ctx_fields = ("axis",)

    @staticmethod
    def forward(ctx, x, axis):
        if ctx.needs_input_grad:
            ctx.axis = axis
        out = kernels(x).log_cum_sum_exp(x, axis) if x.ndim else x.copy()
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if _bw.data(x).ndim == 0:
            return g, None
        # d out_i / d x_j = exp(x_j - out_i) for j <= i (each factor <= 1)
        if not _bw.is_array(g):
            return _grad_recorded(g, x, out, ctx.axis), None
        # The sum over i >= j is taken in the log domain, separately for the
        # positive and the negative parts of g, so nothing overflows.
        ax = ctx.axis
        xp = namespace(g)
        pos, neg = xp.where(g > 0, g, 0.0), xp.where(g < 0, -g, 0.0)
        return _part(pos, x, out, ax) - _part(neg, x, out, ax), None


def _grad_recorded(g, x, out, ax):
    """The same gradient from differentiable ops (under create_graph): the
    (i, j) matrix of exp(x_j - out_i), zero above the diagonal, summed
    against g.  O(n^2) in the scanned dim's length, used only for
    higher-order gradients."""
    xm, om, gm = x.movedim(ax, -1), out.movedim(ax, -1), g.movedim(ax, -1)
    n = xm.shape[-1]
    xp = namespace(x._data)
    lower = _wrap(xp.tril(xp.ones((n, n), dtype=bool)))
    z = _where(lower, xm.unsqueeze(-2) - om.unsqueeze(-1), float("-inf"))
    grad = (gm.unsqueeze(-1) * z.exp()).sum(-2)
    return grad.movedim(-1, ax)


def _part(gpart, x, out, ax):
    """sum_{i >= j} gpart_i exp(x_j - out_i), for gpart >= 0 (arrays)."""
    xp = namespace(gpart)
    log_terms = _log_or_ninf(gpart) - out
    rev = _lcse(xp.flip(log_terms, ax), ax)
    return xp.exp(xp.flip(rev, ax) + x)


def _log_or_ninf(v):
    return namespace(v).log(v)


def _lcse(v, ax):
    return kernels(v).log_cum_sum_exp(v, ax)


def logcumsumexp(input, dim, *, out=None):
    """log(cumsum(exp(input))) along ``dim``, without overflow."""
    _check(input, "logcumsumexp")
    x = input if _isf(input._data.dtype) else _as_float(input, "logcumsumexp")
    axis = _dim(dim, x._data.ndim)
    return _out(Logcumsumexp.apply(x, axis), out)


# ---- scatters into a copy ---------------------------------------------------------------------

def _scatter_into(input, src, view):
    out = input.clone()
    target = view(out)
    if tuple(target.shape) != tuple(src.shape):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size "
                           f"= {list(src.shape)}, slice size = {list(target.shape)}")
    target.copy_(src)
    return out


def select_scatter(input, src, dim, index):
    """A copy of input with ``src`` written at ``input.select(dim, index)``."""
    _check(input, "select_scatter")
    return _scatter_into(input, src, lambda t: t.select(dim, index))


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """A copy of input with ``src`` written at ``input[..., start:end:step, ...]`` (along dim)."""
    _check(input, "slice_scatter")
    d = _dim(dim, input._data.ndim)
    key = (slice(None),) * d + (slice(start, end, step),)
    return _scatter_into(input, src, lambda t: t[key])


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """A copy of input with ``src`` written on its diagonal(offset, dim1, dim2)."""
    _check(input, "diagonal_scatter")
    return _scatter_into(input, src, lambda t: t.diagonal(offset, dim1, dim2))


# ---- counting ---------------------------------------------------------------------------------

def bincount(input, weights=None, minlength=0):
    """How often each value 0..max occurs in a 1-D tensor of non-negative
    integers (summing ``weights`` instead of ones when given)."""
    _check(input, "bincount")
    d = input._data
    if _isf(d.dtype):
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{input.dtype.scalar_name}'")
    if d.ndim != 1 or (d.size and int(d.min()) < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    w = None
    out_dtype = D.int64.np
    if weights is not None:
        w = weights._data
        if w.ndim != 1 or w.shape[0] != d.shape[0]:
            raise RuntimeError("weights should be 1-d and have the same length as input")
        out_dtype = w.dtype if _isf(w.dtype) else D.float64.np
    return _wrap(kernels(d).bincount(d, w, minlength, out_dtype))


def histc(input, bins=100, min=0, max=0, *, out=None):
    """A histogram of ``bins`` equal bins over [min, max] (the data's range
    when both are 0); values outside are ignored."""
    _check(input, "histc")
    d = input._data
    if not _isf(d.dtype):
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for "
                                  f"'{input.dtype.scalar_name}'")
    if bins <= 0:
        raise RuntimeError("torch.histc: bins must be > 0, but got " + str(bins))
    lo, hi = float(min), float(max)
    if lo == hi and d.size:
        lo, hi = float(d.min()), float(d.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    if not (_m.isfinite(lo) and _m.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    return _out(_wrap(kernels(d).histc(d, int(bins), lo, hi)), out)


histogram_result = namedtuple("histogram", ["hist", "bin_edges"])


def histogram(input, bins=100, *, range=None, weight=None, density=False, out=None):
    """(hist, bin_edges): a histogram of ``input`` over ``bins`` equal bins
    (on ``range``, or the data's) or over the given edges (a 1-D tensor)."""
    _check(input, "histogram")
    d = input._data
    if not _isf(d.dtype):
        name = input.dtype.scalar_name.lower()
        raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the "
                           f"same dtype, but got input {name} and bins {name}")
    edges, lo, hi, n = None, 0.0, 0.0, 0
    if isinstance(bins, TensorBase):
        edges = bins._data
    else:
        n = int(bins)
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
        elif d.size:
            lo, hi = float(d.min()), float(d.max())
        if lo > hi:
            raise RuntimeError("torch.histogram(): max must be larger than min")
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
    w = None if weight is None else weight._data
    hist, e = kernels(d).histogram(d, n, lo, hi, edges, w, density)
    return histogram_result(_wrap(hist), _wrap(e))


# ---- integers and floating-point representation ---------------------------------------------

def _int_binary(name, np_name):
    def f(input, other, *, out=None):
        _check(input, name)
        a = input._data
        b = other._data if isinstance(other, TensorBase) else other
        if a.dtype.kind not in "iub" or getattr(b, "dtype", np.dtype(np.int64)).kind not in "iub":
            bad = input.dtype if a.dtype.kind not in "iub" else other.dtype
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{bad.scalar_name}'")
        return _out(_wrap(getattr(namespace(a), np_name)(a, b)), out)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise {np_name} of integer tensors (broadcast); not differentiable."
    return f


gcd = _int_binary("gcd", "gcd")
lcm = _int_binary("lcm", "lcm")

frexp_result = namedtuple("frexp", ["mantissa", "exponent"])


def frexp(input, *, out=None):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1)."""
    _check(input, "frexp")
    d = input._data
    if not _isf(d.dtype):
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, e = namespace(d).frexp(d)
    return frexp_result(_wrap(m), _wrap(e.astype(np.int32)))


def nextafter(input, other, *, out=None):
    """The next representable value after input towards other."""
    _check(input, "nextafter")
    _check(other, "nextafter", "other", 2)
    a, b = input._data, other._data
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected self and other to have the same dtype, but got "
                           f"{input.dtype} and {other.dtype}")
    return _out(_wrap(namespace(a).nextafter(a, b)), out)


def positive(input):
    """input itself (torch refuses bool)."""
    _check(input, "positive")
    if input._data.dtype == np.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def _real_angle(input, out):
    """The argument of a real number: 0 for x >= 0, pi for x < 0 (nan kept); no gradient
    flows.  (``ember.angle``, in ops/complex.py, calls this for real tensors.)"""
    x = input if _isf(input._data.dtype) else _as_float(input, "angle")
    with no_grad():
        r = _where(x < 0, x.new_full((), _m.pi), x.new_zeros(()))
        r = _where(x != x, x, r)
    if x.requires_grad:
        # connected to x with a zero gradient, as torch's angle on reals
        r = _where(x.new_ones((), dtype=D.bool), r, x)
    return _out(r, out)


def sum_to_size(self, *size):
    """Sum this tensor down to ``size``, which it must be expandable to."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(self.shape)
    try:
        if _broadcast(size, shape) != shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size "
                           f"{{{list(shape)}}}.") from None
    lead = len(shape) - len(size)
    x = _sum(self, tuple(range(lead))) if lead else self
    dims = tuple(i for i, s in enumerate(size) if s == 1 and x.shape[i] != 1)
    return _sum(x, dims, keepdim=True) if dims else x


def split_with_sizes(self, split_sizes, dim=0):
    """Split into pieces of the given sizes, which must add up to the dim's size."""
    d = _dim(dim, self._data.ndim)
    if sum(split_sizes) != self.shape[d]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                           f"{self.shape[d]} (input tensor's size at dimension {d}), but got "
                           f"split_sizes={list(split_sizes)}")
    return _split(self, list(split_sizes), d)


def nonzero_static(input, *, size, fill_value=-1):
    """nonzero's indices, cut or padded with ``fill_value`` to exactly ``size`` rows."""
    from .indexing import nonzero
    idx = nonzero(input)
    n = idx.shape[0]
    if n >= size:
        return idx[:size]
    pad = idx.new_full((size - n, idx.shape[1]), fill_value)
    return _cat([idx, pad], 0)


__all__ = ["diff", "cov", "corrcoef", "addr", "dist", "diagflat", "renorm", "ldexp",
           "logcumsumexp", "select_scatter", "slice_scatter", "diagonal_scatter", "bincount",
           "histc", "histogram", "gcd", "lcm", "frexp", "nextafter", "positive",
           "nonzero_static"]


# ---- methods only (ember.Tensor lists them) -----------------------------------------------------

def narrow_copy(self, dim, start, length):
    """narrow(), copied."""
    return _narrow(self, dim, start, length).clone()


def fill_diagonal_(self, fill_value, wrap=False):
    """Write ``fill_value`` on the main diagonal (every dim equal, or a 2-D
    matrix; with ``wrap``, a tall matrix's diagonal restarts below each square)."""
    d = self._data
    if d.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if d.ndim > 2 and len(set(d.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    xp = namespace(d)
    flat = xp.zeros(d.size, dtype=bool)
    if d.ndim == 2:
        rows, cols = d.shape
        end = rows * cols if wrap else min(rows, cols) * cols
        flat[0:end:cols + 1] = True
    else:
        # element (i, i, ..., i) sits at i * (1 + n + n^2 + ...) in the flat order
        n = d.shape[0]
        flat[0::sum(n ** k for k in _range(d.ndim))] = True
    return self.masked_fill_(_wrap(flat.reshape(d.shape)), fill_value)


def _element_loop(self, fn, others):
    """Write fn(element, *matching elements of others) into each element (CPU)."""
    if self.device.type != "cpu":
        raise RuntimeError("apply_ is only implemented on CPU tensors")
    d = self._data
    xp = namespace(d)
    srcs = [xp.broadcast_to(o._data, d.shape) for o in others]
    flat = d.reshape(-1) if d.flags.c_contiguous else None
    for i, idx in enumerate(itertools.product(*[_range(n) for n in d.shape])):
        v = fn(d[idx].item(), *[s[idx].item() for s in srcs])
        if flat is not None:
            flat[i] = v
        else:
            d[idx] = v
    self._vc[0] += 1
    return self


def apply_(self, callable):
    """Replace each element x by callable(x), in place (CPU only, slow: a Python call each)."""
    return _element_loop(self, callable, [])


def map_(self, tensor, callable):
    """self[i] = callable(self[i], tensor[i]) with tensor broadcast to self (CPU only)."""
    return _element_loop(self, callable, [tensor])


def resize_(self, *sizes, memory_format=None):
    """Give the tensor a new shape, keeping its leading elements in order;
    new elements are uninitialised."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    d = self._data
    shape = tuple(int(s) for s in sizes)
    n = _m.prod(shape)
    if n == d.size:
        new = d.reshape(shape) if d.flags.c_contiguous else d.copy().reshape(shape)
    else:
        xp = namespace(d)
        new = xp.empty(shape, dtype=d.dtype)
        k = min(n, d.size)
        new.reshape(-1)[:k] = d.reshape(-1)[:k]
    self._data = new
    self._vc[0] += 1
    return self


def resize_as_(self, the_template, memory_format=None):
    return resize_(self, tuple(the_template.shape))


def dim_order(self, *, ambiguity_check=False):
    """The dims from outermost to innermost in memory (by stride, ties in order)."""
    st = self.stride()
    return tuple(sorted(range(len(st)), key=lambda i: -st[i]))


def is_set_to(self, tensor):
    """Whether both tensors view the same memory with the same shape and strides."""
    return (self.data_ptr() == tensor.data_ptr() and self.shape == tensor.shape
            and self.stride() == tensor.stride() and self.dtype == tensor.dtype)


def get_device(self):
    """-1 for a CPU tensor, else the device index (0 when it has none)."""
    dev = self.device
    return -1 if dev.type == "cpu" else (dev.index or 0)


def new(self, *args, **kwargs):
    """The legacy constructor with this tensor's dtype: ``x.new(2, 3)``
    (uninitialised), ``x.new(data)``, ``x.new()`` (empty)."""
    from .. import _tensor_base
    Tensor = _tensor_base.Tensor            # (ember.Tensor, registered when it loads)
    dev = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"new() got unexpected keyword arguments {sorted(kwargs)}")
    return Tensor(*args, dtype=self.dtype, device=dev if dev is not None else self.device) \
        if not (len(args) == 1 and isinstance(args[0], TensorBase)) else args[0]


def as_subclass(self, cls):
    """This tensor (same data, same autograd history) as an instance of ``cls``,
    a subclass of ember.Tensor."""
    from .. import _tensor_base
    if not (isinstance(cls, type) and issubclass(cls, _tensor_base.Tensor)):
        raise TypeError(f"as_subclass expects a subclass of ember.Tensor, got {cls!r}")
    t = object.__new__(cls)
    t._data, t.requires_grad, t.grad_fn, t._vc = self._data, self.requires_grad, self.grad_fn, \
        self._vc
    if self._out_nr:
        t._out_nr = self._out_nr
    return t


def set_(self, source=None, *args):
    """Make this tensor use ``source``'s memory (shape included); with no
    source, an empty tensor.  (Storage offsets and strides are not taken.)"""
    if args:
        raise NotImplementedError("set_(source, storage_offset, size, stride) is not supported: "
                                  "Ember tensors do not expose storages")
    if source is None:
        self._data = namespace(self._data).empty((0,), dtype=self._data.dtype)
    else:
        if source._data.dtype != self._data.dtype:
            raise RuntimeError(f"Could not set tensor of type {source.dtype.c_name} to a tensor "
                               f"of type {self.dtype.c_name}")
        self._data = source._data
        self._vc = source._vc
    return self


@autocast_op("fp32")
def cholesky(self, upper=False):
    """Deprecated in torch for torch.linalg.cholesky (which this calls)."""
    import warnings
    from .linalg import cholesky as _chol
    warnings.warn("torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be "
                  "removed in a future PyTorch release.", UserWarning, stacklevel=2)
    return _chol(self, upper=upper)
