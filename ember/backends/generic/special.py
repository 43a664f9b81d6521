"""SciPy's special functions as kernels: erfc, erfinv (expit and erf, which
the activations use, are in ``activation``).

SciPy computes on NumPy arrays, in host memory.  The generic kernels take
any backend's array there and bring the result back (a copy each way on a
device; a GPU backend registers its own, e.g. from ``cupyx.scipy.special``).
The CPU's arrays are SciPy's own: its table uses the ``*_host`` formulas
below directly (ember.backends.cpu._special).

Each keeps its input's shape and floating dtype.
"""
import numpy as np

from .._registry import backend_of
from .._table import GENERIC
from .activation import scipy_special


# ---- the formulas, on NumPy arrays -----------------------------------------------------

def erfc_host(x):
    """1 - erf of a NumPy float array, in its dtype."""
    return scipy_special().erfc(x).astype(x.dtype, copy=False)


def erfinv_host(x):
    """Inverse erf of a NumPy float array, in its dtype (an array even for 0-d)."""
    return scipy_special().erfinv(x, out=...).astype(x.dtype, copy=False)


# ---- the kernels: any backend's arrays, through host memory ------------------------------

def _via_host(fn, x):
    b = backend_of(x)
    return b.from_host(fn(b.to_host(x)))


@GENERIC.register
def erfc(x):
    """1 - erf(x), accurate for large x; any shape, x's float dtype."""
    return _via_host(erfc_host, x)


@GENERIC.register
def erfinv(x):
    """Inverse of erf on (-1, 1) (+-inf at +-1, nan outside); any shape, x's float dtype."""
    return _via_host(erfinv_host, x)


# ---- gamma-family functions (the distributions' log-densities, entropies, KLs) ---------
# SciPy computes in float64 for float32 input; each result is cast back to x's dtype.

def _host_f(fn, *xs):
    """``fn`` over the host copies of ``xs`` (NumPy arrays), back on the first one's
    backend in its dtype."""
    b = backend_of(xs[0])
    out = fn(*(b.to_host(x) for x in xs))
    return b.from_host(out.astype(xs[0].dtype, copy=False))


def _lgamma_host(x):
    out = scipy_special().gammaln(x)
    # log|Gamma| at -inf: SciPy says -inf, torch (and the limit of |Gamma|) +inf
    return out if not (x == -float("inf")).any() else np.where(x == -float("inf"), np.inf, out)


@GENERIC.register
def lgamma(x):
    """log|Gamma(x)| of a float array, in x's dtype."""
    return _host_f(_lgamma_host, x)


@GENERIC.register
def digamma(x):
    """psi(x) = d/dx lgamma(x) of a float array, in x's dtype (-inf at +0, nan at
    the negative integers, as torch)."""
    return _host_f(scipy_special().psi, x)


@GENERIC.register
def polygamma(n, x):
    """The n-th derivative of digamma (n >= 0) of a float array, in x's dtype."""
    return _host_f(lambda h: scipy_special().polygamma(n, h), x)


@GENERIC.register
def gammainc(a, x):
    """The regularised lower incomplete gamma P(a, x), broadcast; a's float dtype."""
    return _host_f(scipy_special().gammainc, a, x)


@GENERIC.register
def gammaincc(a, x):
    """The regularised upper incomplete gamma Q(a, x) = 1 - P(a, x), broadcast."""
    return _host_f(scipy_special().gammaincc, a, x)


def _standard_gamma_grad_host(x, alpha):
    """dx/dalpha of a Gamma(alpha, 1) sample x drawn by inverting its cdf P(alpha, x).

    Implicit differentiation of P(alpha, x) = u (u fixed) gives
        dx/dalpha = -(dP/dalpha)(alpha, x) / pdf(x; alpha).
    SciPy has no dP/dalpha, so it is a five-point central difference of
    gammainc in alpha (error O(h^4), here ~1e-10 relative), and 1/pdf is
    exp(-log pdf) so that tiny samples of small alpha do not overflow.
    """
    sp = scipy_special()
    x64, a64 = np.broadcast_arrays(x.astype(np.float64), alpha.astype(np.float64))
    h = 1e-3 * a64
    P = sp.gammainc
    dP = (8 * (P(a64 + h, x64) - P(a64 - h, x64)) - (P(a64 + 2 * h, x64) - P(a64 - 2 * h, x64))) / (12 * h)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_pdf = (a64 - 1) * np.log(x64) - x64 - sp.gammaln(a64)
        grad = -dP * np.exp(-log_pdf)
    # a sample of exactly 0 (float underflow for tiny alpha) cannot move
    grad = np.where(x64 > 0, grad, 0.0)
    return grad


@GENERIC.register
def standard_gamma_grad(x, alpha):
    """The reparameterisation gradient dx/dalpha of Gamma(alpha, 1) samples x; x's dtype."""
    return _host_f(_standard_gamma_grad_host, x, alpha)


# ---- modified Bessel functions of the first kind (the von Mises normaliser) -------------

@GENERIC.register
def bessel_i(x, order, scaled):
    """I0 or I1 (``order``) of a float array, times exp(-|x|) when ``scaled``; x's dtype."""
    sp = scipy_special()
    fn = {(0, False): sp.i0, (0, True): sp.i0e, (1, False): sp.i1, (1, True): sp.i1e}
    return _host_f(fn[order, scaled], x)
