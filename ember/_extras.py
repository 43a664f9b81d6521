"""torch.<name> functions that are compositions of Ember ops: combinatorics
(block_diag, cartesian_prod, combinations, tril/triu_indices,
unravel_index, isin), integration (trapezoid, cumulative_trapezoid), the
Kaiser window, cdist, vander, torch's top-level spellings of Tensor methods
(``torch.neg_(t)``, ``torch.fill_(t, v)``...) and of functional ops with
integer enums (``torch.grid_sampler``, ``torch.ctc_loss``), and the
mathematical constants.  ``install(namespace)`` adds them to ``ember``
where a name is not already taken.

Every function here is built from differentiable Ember ops, so gradients
come for free.
"""
import math

from ._errors import not_a_tensor
from ._tensor import Tensor

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _need_tensor(fname, x, name="input", pos=1):
    if not isinstance(x, Tensor):
        raise not_a_tensor(fname, name, x, pos)


# ---- combinatorics -------------------------------------------------------------------------

def block_diag(*tensors):
    """The block-diagonal matrix of 0-, 1- (a row) or 2-D tensors."""
    import ember
    mats = []
    for i, t in enumerate(tensors):
        _need_tensor("block_diag", t, "tensors", i + 1)
        if t.dim() > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {t.dim()} dimensions")
        mats.append(t.reshape(1, -1) if t.dim() < 2 else t)
    if not mats:
        return ember.empty(1, 0)
    dtype = mats[0].dtype
    for m in mats[1:]:
        dtype = ember.promote_types(dtype, m.dtype)
    rows = sum(m.shape[0] for m in mats)
    cols = sum(m.shape[1] for m in mats)
    out_rows = []
    c = 0
    for m in mats:
        left = ember.zeros(m.shape[0], c, dtype=dtype, device=m.device)
        right = ember.zeros(m.shape[0], cols - c - m.shape[1], dtype=dtype, device=m.device)
        out_rows.append(ember.cat([left, m.to(dtype), right], dim=1))
        c += m.shape[1]
    out = ember.cat(out_rows, dim=0)
    assert out.shape == (rows, cols)
    return out


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor: (prod of sizes, n),
    or the tensor itself for one input."""
    import ember
    for i, t in enumerate(tensors):
        _need_tensor("cartesian_prod", t, "tensors", i + 1)
        if t.dim() != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = ember.meshgrid(*tensors, indexing="ij")
    return ember.stack([g.reshape(-1) for g in grids], dim=1)


def combinations(input, r=2, with_replacement=False):
    """All length-``r`` combinations of the 1-D ``input``'s elements, as rows
    (itertools.combinations order)."""
    import itertools
    import ember
    _need_tensor("combinations", input)
    if input.dim() != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return ember.empty(0, dtype=input.dtype, device=input.device)
    n = input.shape[0]
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    idx = list(pick(range(n), r))
    if not idx:
        # (an empty result still hangs off input's graph, as torch's does)
        return input[:0].reshape(0, 1).expand(0, r)
    return input[ember.tensor(idx, device=input.device)]


def _tri_indices(fname, row, col, offset, dtype, device, upper):
    import ember
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    dtype = ember.int64 if dtype is None else dtype
    r = ember.arange(row, device=device).unsqueeze(1)
    c = ember.arange(col, device=device).unsqueeze(0)
    keep = (c - r >= offset) if upper else (c - r <= offset)
    rr, cc = keep.nonzero(as_tuple=True)
    return ember.stack([rr, cc]).to(dtype)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """Row and column indices (2, N) of the lower triangle (``offset`` above the diagonal)."""
    return _tri_indices("tril_indices", row, col, offset, dtype, device, False)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """Row and column indices (2, N) of the upper triangle."""
    return _tri_indices("triu_indices", row, col, offset, dtype, device, True)


def unravel_index(indices, shape):
    """Flat indices -> a tuple of coordinate tensors for ``shape`` (C order)."""
    import ember
    if not isinstance(indices, Tensor):
        indices = ember.tensor(indices)
    if indices.is_floating_point() or indices.dtype == ember.bool:
        raise TypeError(f"expected 'indices' to be integer dtype, but got "
                        f"{indices.dtype}")
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError("'shape' cannot have negative values, but got "
                         f"{tuple(shape)}")
    total = math.prod(shape)
    # (out-of-range indices wrap around, as torch's do)
    flat = indices.to(ember.int64) % total if total else indices.to(ember.int64)
    coords = []
    for s in reversed(shape):
        coords.append(flat % s)
        flat = flat // s
    return tuple(reversed(coords))


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each element of ``elements`` is among ``test_elements`` (bool, elements' shape)."""
    import ember
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin() received an invalid combination of arguments: at least one of "
                        "elements and test_elements must be a Tensor")
    e = elements if isinstance(elements, Tensor) else ember.tensor(elements)
    t = test_elements if isinstance(test_elements, Tensor) else ember.tensor(test_elements)
    t = t.reshape(-1)
    if t.numel() == 0:
        hit = ember.zeros(e.shape, dtype=ember.bool, device=e.device)
    else:
        hit = (e.unsqueeze(-1) == t).any(-1)
    return ~hit if invert else hit


# ---- integration ---------------------------------------------------------------------------

def _spacing(y, x, dx, dim, fname):
    """The interval widths along ``dim``: from ``x`` (samples or positions) or ``dx``."""
    if x is not None and dx is not None:
        raise TypeError(f"{fname}() received an invalid combination of arguments: "
                        "pass x or dx, not both")
    n = y.shape[dim]
    if x is None:
        return 1.0 if dx is None else dx
    if isinstance(x, Tensor):
        if x.dim() == 1:
            if x.shape[0] != n:
                raise RuntimeError(f"{fname}: There must be one `x` value for each sample point")
            d = x[1:] - x[:-1]
            shape = [1] * y.dim()
            shape[dim] = n - 1
            return d.reshape(shape)
        d = x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
        return d
    return float(x)


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal-rule integral of ``y`` along ``dim`` (sample positions
    ``x``, or uniform spacing ``dx``, default 1)."""
    _need_tensor("trapezoid", y, "y")
    dim = dim % y.dim() if y.dim() else 0
    n = y.shape[dim]
    if n == 0:
        return y.sum(dim)
    h = _spacing(y, x, dx, dim, "trapezoid")
    mid = (y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1)) * h
    return mid.sum(dim) / 2


def trapz(y, x=None, *, dx=None, dim=-1):
    """Alias of ``trapezoid``."""
    if x is not None and not isinstance(x, Tensor):     # torch.trapz(y, dx, dim=) form
        return trapezoid(y, dx=x, dim=dim)
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """Running trapezoidal integrals of ``y`` along ``dim`` (one fewer element)."""
    _need_tensor("cumulative_trapezoid", y, "y")
    dim = dim % y.dim() if y.dim() else 0
    n = y.shape[dim]
    if n == 0:
        return y
    h = _spacing(y, x, dx, dim, "cumulative_trapezoid")
    mid = (y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1)) * h
    return (mid / 2).cumsum(dim)


# ---- windows -------------------------------------------------------------------------------

def _window(fname, n, periodic, dtype, device, requires_grad, fn):
    import ember
    if n < 0:
        raise RuntimeError(f"{fname} requires non-negative window_length, got window_length={n}")
    dtype = ember.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise RuntimeError(f"{fname} expects floating point dtypes, got: {dtype}")
    if n == 0:
        w = ember.empty(0, dtype=dtype, device=device)
    elif n == 1:
        w = ember.ones(1, dtype=dtype, device=device)
    else:
        m = n if periodic else n - 1          # the period of the window's formula
        k = ember.arange(n, dtype=ember.float64, device=device)
        w = fn(k, m).to(dtype)
    return w.requires_grad_(requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None,
                  device=None, pin_memory=False, requires_grad=False):
    """I0(beta sqrt(1 - (2k / N - 1)^2)) / I0(beta)."""
    import ember

    def kaiser(k, m):
        r = (1 - (2 * k / m - 1) ** 2).clamp_min(0).sqrt()
        return ember.special.i0(beta * r) / float(ember.special.i0(ember.tensor(float(beta), dtype=ember.float64)))
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   kaiser)


# ---- distances and matrices ----------------------------------------------------------------

def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M) -> (..., P, R)."""
    import ember
    _need_tensor("cdist", x1, "x1")
    _need_tensor("cdist", x2, "x2", 2)
    if x1.dim() < 2 or x2.dim() < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.dim()}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: "
                           f"{str(x1.dtype).replace('ember.', '').capitalize()}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    if p == 0:
        # the count of differing coordinates; its gradient is zero, which torch
        # returns (rather than none), so keep the graph with a zero term
        return (diff != 0).sum(-1).to(diff.dtype) + (diff * 0).sum(-1)
    return ember.linalg.vector_norm(diff, p, dim=-1)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of 1-D ``x``: columns x^(N-1) ... x^0 (reversed
    with ``increasing``)."""
    import ember
    _need_tensor("vander", x, "x")
    if x.dim() != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if n == 0:
        return ember.empty(x.shape[0], 0, dtype=x.dtype if x.is_floating_point()
                           else ember.int64, device=x.device)
    if not x.is_floating_point():
        x = x.to(ember.int64)
    cols = [ember.ones_like(x)]
    for _ in range(1, n):
        cols.append(cols[-1] * x)
    if not increasing:
        cols = cols[::-1]
    return ember.stack(cols, dim=1)


# ---- top-level spellings ---------------------------------------------------------------------

# torch.<name>(input, ...) for these Tensor methods
_METHODS = ["square_", "neg_", "negative_", "zero_", "fill_", "addmv_", "i0_", "gcd_", "lcm_",
            "ldexp_", "detach", "detach_", "is_signed", "is_neg", "split_with_sizes",
            "unsafe_chunk", "unsafe_split", "resize_as_"]


def _method_function(name):
    def fn(input, *args, **kwargs):
        _need_tensor(name, input)
        attr = getattr(input, name)          # (a method, or a property)
        return attr(*args, **kwargs) if callable(attr) else attr
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``input.{name}(...)``, as a function (torch.{name})."
    return fn


def fill(input, value):
    """A new tensor of ``input``'s shape and dtype filled with ``value``."""
    _need_tensor("fill", input)
    return input.clone().fill_(value) if not input.requires_grad else \
        input * 0 + value


def rsub(input, other, *, alpha=1):
    """``other - alpha * input``."""
    _need_tensor("rsub", input)
    import ember
    return ember.sub(other, input, alpha=alpha) if isinstance(other, Tensor) else \
        (-alpha) * input + other


def norm_except_dim(v, pow=2, dim=0):
    from .nn.utils.weight_norm import norm_except_dim as f
    return f(v, pow, dim)


def _weight_norm(v, g, dim=0):
    from .nn.utils.weight_norm import _weight_norm as f
    return f(v, g, dim)


def affine_grid_generator(theta, size, align_corners):
    """F.affine_grid with ``align_corners`` required (torch's native spelling)."""
    from .nn.functional import affine_grid
    return affine_grid(theta, size, align_corners=align_corners)


def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    """F.grid_sample with torch's integer enums (mode 0 bilinear, 1 nearest,
    2 bicubic; padding 0 zeros, 1 border, 2 reflection)."""
    from .nn.functional import grid_sample
    modes = ("bilinear", "nearest", "bicubic")
    pads = ("zeros", "border", "reflection")
    return grid_sample(input, grid, modes[interpolation_mode], pads[padding_mode],
                       align_corners)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1,
             zero_infinity=False):
    """F.ctc_loss with torch's integer reduction (0 none, 1 mean, 2 sum)."""
    from .nn.functional import ctc_loss as f
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return f(log_probs, targets, input_lengths, target_lengths, blank, _REDUCTIONS[reduction],
             zero_infinity)


def constant_pad_nd(input, pad, value=0):
    """Constant padding (F.pad's 'constant' mode)."""
    from .nn.functional import pad as f
    return f(input, pad, "constant", value)


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    from .nn.functional import max_pool3d as f
    return f(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def adaptive_max_pool1d(input, output_size):
    """(values, indices) of the adaptive max pooling (torch's top-level form returns both)."""
    from .nn.functional import adaptive_max_pool1d as f
    return f(input, output_size, return_indices=True)


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False,
                  pin_memory=False):
    """An uninitialised tensor of ``size``.  Ember's tensors are always laid out
    contiguously, so ``stride`` only has to describe a valid layout."""
    import ember
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape")
    return ember.empty(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


_warn_always = False
_matmul_precision = "highest"


def set_warn_always(b):
    """torch.set_warn_always: Ember records the flag (its warnings are Python's)."""
    global _warn_always
    _warn_always = bool(b)


def is_warn_always_enabled():
    return _warn_always


def set_float32_matmul_precision(precision):
    """Recorded only: NumPy's float32 products are always full precision ('highest')."""
    global _matmul_precision
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid argument precision: {precision}")
    _matmul_precision = precision


def get_float32_matmul_precision():
    return _matmul_precision


_FUNCTIONS = [block_diag, cartesian_prod, combinations, tril_indices, triu_indices,
              unravel_index, isin, trapezoid, trapz, cumulative_trapezoid, kaiser_window, cdist,
              vander,
              fill, rsub, norm_except_dim, _weight_norm, affine_grid_generator, grid_sampler,
              ctc_loss, constant_pad_nd, max_pool3d, adaptive_max_pool1d, empty_strided,
              set_warn_always, is_warn_always_enabled, set_float32_matmul_precision,
              get_float32_matmul_precision]


def install(namespace):
    """Add these functions and constants to ``namespace`` (ember's), never
    replacing a name already there."""
    for f in _FUNCTIONS:
        namespace.setdefault(f.__name__, f)
    for name in _METHODS:
        namespace.setdefault(name, _method_function(name))
    for name, value in (("e", math.e), ("pi", math.pi), ("inf", math.inf), ("nan", math.nan),
                        ("newaxis", None)):
        namespace.setdefault(name, value)
