"""torch.special's functions beyond those in ``special.py`` (the gamma family
and the modified Bessel functions i0/i1, which ember.distributions uses):
entropy, erfcx, the normal cdf ``ndtr``, its inverse and log, sinc, xlog1py, the
Hurwitz zeta, and the functions torch does not differentiate (Bessel J/Y/K,
Airy, the orthogonal polynomials).

Values come from SciPy through the kernel table
(``ember/backends/generic/special_functions.py``); the Ops' backwards use
operators, ``_bw`` helpers and these same ops (``_zeta`` calls the kernel
on arrays and the Op on Tensors), so they record under ``create_graph``.
``ember.special`` exports them under torch's names; ``sinc`` is also
``ember.sinc`` and a Tensor method, as in torch.
dtype rules (torch's): integer/bool input gives the default float dtype.
"""
import math as _m

from .. import _dtype as D
from .._tensor_base import TensorBase
from ..autograd.function import Op
from ..backends import namespace, kernels
from . import _bw
from ._util import promote, cast
from .elementwise import _out, _binary
from .math import _float_unary, _as_float, _not_tensor

_INV_SQRT_2PI = 1.0 / _m.sqrt(2.0 * _m.pi)
_SQRT_2PI = _m.sqrt(2.0 * _m.pi)
_2_SQRTPI = 2.0 / _m.sqrt(_m.pi)


# ---- entropy, erfcx -------------------------------------------------------------------------

class SpecialEntr(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        xp = namespace(x)
        out = -x * xp.log(xp.where(x > 0, x, 1))
        out = xp.where(x < 0, -xp.inf, xp.where(x == 0, 0.0, out))   # (+0 at 0, not -0)
        return xp.where(xp.isnan(x), x, out).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * -(_bw.log(x) + 1)


class SpecialErfcx(Op):
    @staticmethod
    def forward(ctx, x):
        out = kernels(x).erfcx(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return g * (2 * x * out - _2_SQRTPI)


# ---- the normal distribution ------------------------------------------------------------

class SpecialNdtr(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        return kernels(x).ndtr(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * _bw.exp(x * x * -0.5) * _INV_SQRT_2PI


class SpecialNdtri(Op):
    @staticmethod
    def forward(ctx, x):
        out = kernels(x).ndtri(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors
        return g * _bw.exp(out * out * 0.5) * _SQRT_2PI


class SpecialLogNdtr(Op):
    @staticmethod
    def forward(ctx, x):
        out = kernels(x).log_ndtr(x)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        # pdf / cdf, as exp(log pdf - log cdf): finite far into the left tail
        return g * _bw.exp(x * x * -0.5 - out) * _INV_SQRT_2PI


# ---- sinc, xlog1py, zeta ----------------------------------------------------------------

class Sinc(Op):
    @staticmethod
    def forward(ctx, x):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
        xp = namespace(x)
        px = x * _m.pi
        safe = xp.where(x == 0, 1.0, px)
        return xp.where(x == 0, 1.0, xp.sin(safe) / safe).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        zero = _bw.data(x) == 0
        px = x * _m.pi
        safe = _bw.where(zero, 1.0, px)
        d = (_bw.cos(safe) * safe - _bw.sin(safe)) / (safe * x)
        return g * _bw.where(zero, 0.0, d)


class SpecialXlog1py(Op):
    @staticmethod
    def forward(ctx, x, y):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, y)
        xp = namespace(x, y)
        out = x * xp.log1p(y)
        zero = (x == 0) & ~xp.isnan(y)      # 0 * log1p(y) is 0, unless y is nan
        if zero.any():
            out = xp.where(zero, 0.0, out).astype(out.dtype, copy=False)
        return out

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = gy = None
        if need[0]:
            xd, yd = _bw.data(x), _bw.data(y)
            gx = g * _log1p(y)
            m = (xd == 0) & (yd <= -1)
            if m.any():
                gx = _bw.where(m, 0.0, gx)
        if need[1]:
            gy = g * x / (y + 1)
        return gx, gy


def _log1p(y):
    if _bw.is_array(y):
        return namespace(y).log1p(y)
    return y.log1p()


class SpecialZeta(Op):
    @staticmethod
    def forward(ctx, x, q):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, q)
        return kernels(x).zeta(x, q)

    @staticmethod
    def backward(ctx, g):
        x, q = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        # d/dq zeta(x, q) = -x zeta(x + 1, q)
        return None, g * -x * _zeta(x + 1, q)


def _zeta(x, q):
    if _bw.is_array(x) and _bw.is_array(q):
        return kernels(x).zeta(x, q)
    return SpecialZeta.apply(_bw._t(x), _bw._t(q))


# ---- functions torch does not differentiate -----------------------------------------------

class _NoGrad(Op):
    """Base: a function whose output never requires grad (as torch's)."""
    _nondiff = True


class _NoGradUnary(_NoGrad):
    @staticmethod
    def forward(ctx, x, kernel):
        return getattr(kernels(x), kernel)(x)


def _nondiff_unary(kernel, name):
    def fn(input, *, out=None):
        if not isinstance(input, TensorBase):
            raise _not_tensor(name, input)
        return _out(_NoGradUnary.apply(_as_float(input, name), kernel), out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.special.{name} (SciPy's); any shape; no gradient, as in torch."
    return fn


class _Polynomial(_NoGrad):
    @staticmethod
    def forward(ctx, x, n, kind):
        return kernels(x).orthogonal_polynomial(kind, x, n)


def _polynomial(kind, name, shifted=False):
    def fn(input, n, *, out=None):
        if not isinstance(input, TensorBase) and not isinstance(n, TensorBase):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(input).__name__}")
        x, k = _float_pair_numbers(input, n, name)
        if shifted:
            x = x * 2 - 1
        try:
            r = _Polynomial.apply(x, k, kind)
        except ValueError:
            from ._util import check_broadcast
            check_broadcast(x.shape, k.shape)
            raise
        return _out(r, out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"torch.special.{name}(input, n): the polynomial of degree n (truncated to "
                  "an integer; 0 for n < 0) at input; no gradient, as in torch.")
    return fn


def _float_pair_numbers(a, b, name):
    """Two operands (tensors or numbers, one a tensor) as tensors of one
    floating dtype (ints -> default float), on the tensor's device."""
    a, b = promote(a, b)
    like = a if isinstance(a, TensorBase) else b
    rt = D.result_type(a, b)
    if rt.category != D._FLOAT:
        rt = D.get_default_dtype()
    xp = namespace(like._data)

    def as_t(v):
        if isinstance(v, TensorBase):
            return cast(v, rt)
        from .._tensor_base import _wrap
        return _wrap(xp.asarray(v, dtype=rt.np))
    return as_t(a), as_t(b)


# ---- public functions ----------------------------------------------------------------------

entr = _float_unary(SpecialEntr, "entr", "-x log(x) elementwise (0 at 0, -inf for x < 0).")
erfcx = _float_unary(SpecialErfcx, "erfcx", "The scaled complementary error function exp(x^2) erfc(x).")
ndtr = _float_unary(SpecialNdtr, "ndtr", "The standard normal cdf, Phi(x).")
ndtri = _float_unary(SpecialNdtri, "ndtri", "The inverse of the standard normal cdf (-inf at 0, "
                     "inf at 1, nan outside [0, 1]).")
log_ndtr = _float_unary(SpecialLogNdtr, "log_ndtr", "log Phi(x), accurate far into the left tail.")
sinc = _float_unary(Sinc, "sinc", "The normalised sinc, sin(pi x) / (pi x), 1 at 0.")


def xlog1py(input, other, *, out=None):
    """input * log1p(other), 0 where input == 0 (unless other is nan); either
    may be a number; broadcasts; ints -> default float."""
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        raise TypeError("xlog1py(): at least one of 'input' and 'other' must be a Tensor")
    a, b = _float_pair_numbers(input, other, "xlog1py")
    return _out(_binary(SpecialXlog1py, a, b), out)


def zeta(input, other, *, out=None):
    """The Hurwitz zeta function sum_k (k + other)^-input; either may be a
    number; differentiable in ``other`` only, as torch."""
    if not isinstance(input, TensorBase) and not isinstance(other, TensorBase):
        raise TypeError("zeta(): at least one of 'input' and 'other' must be a Tensor")
    a, b = _float_pair_numbers(input, other, "zeta")
    return _out(_binary(SpecialZeta, a, b), out)


airy_ai = _nondiff_unary("airy_ai", "airy_ai")
bessel_j0 = _nondiff_unary("bessel_j0", "bessel_j0")
bessel_j1 = _nondiff_unary("bessel_j1", "bessel_j1")
bessel_y0 = _nondiff_unary("bessel_y0", "bessel_y0")
bessel_y1 = _nondiff_unary("bessel_y1", "bessel_y1")
modified_bessel_i0 = _nondiff_unary("modified_bessel_i0", "modified_bessel_i0")
modified_bessel_i1 = _nondiff_unary("modified_bessel_i1", "modified_bessel_i1")
modified_bessel_k0 = _nondiff_unary("modified_bessel_k0", "modified_bessel_k0")
modified_bessel_k1 = _nondiff_unary("modified_bessel_k1", "modified_bessel_k1")
scaled_modified_bessel_k0 = _nondiff_unary("scaled_modified_bessel_k0", "scaled_modified_bessel_k0")
scaled_modified_bessel_k1 = _nondiff_unary("scaled_modified_bessel_k1", "scaled_modified_bessel_k1")
spherical_bessel_j0 = _nondiff_unary("spherical_bessel_j0", "spherical_bessel_j0")

chebyshev_polynomial_t = _polynomial("t", "chebyshev_polynomial_t")
chebyshev_polynomial_u = _polynomial("u", "chebyshev_polynomial_u")
chebyshev_polynomial_v = _polynomial("v", "chebyshev_polynomial_v")
chebyshev_polynomial_w = _polynomial("w", "chebyshev_polynomial_w")
shifted_chebyshev_polynomial_t = _polynomial("t", "shifted_chebyshev_polynomial_t", True)
shifted_chebyshev_polynomial_u = _polynomial("u", "shifted_chebyshev_polynomial_u", True)
shifted_chebyshev_polynomial_v = _polynomial("v", "shifted_chebyshev_polynomial_v", True)
shifted_chebyshev_polynomial_w = _polynomial("w", "shifted_chebyshev_polynomial_w", True)
hermite_polynomial_h = _polynomial("h", "hermite_polynomial_h")
hermite_polynomial_he = _polynomial("he", "hermite_polynomial_he")
laguerre_polynomial_l = _polynomial("l", "laguerre_polynomial_l")
legendre_polynomial_p = _polynomial("p", "legendre_polynomial_p")


def _inplace(name):
    def fn(input):
        return getattr(input, name + "_")()
    fn.__name__ = fn.__qualname__ = name + "_"
    fn.__doc__ = f"In-place :func:`{name}`."
    return fn


sinc_ = _inplace("sinc")

# ember.<name> (and Tensor methods) for what torch has at top level; the
# rest are reached through ember.special.
__all__ = ["sinc", "sinc_"]
