"""SciPy's special functions behind torch.special, as kernels (the gamma family
and i0/i1 are in ``special``): Bessel functions, the normal distribution's cdf and its
inverse, erfcx, Hurwitz zeta, the classical orthogonal polynomials.

Each kernel takes arrays of any backend, computes on their host copies with
``scipy.special`` and brings the result back in the first input's dtype (a
device backend registers its own under the same names, e.g. from
``cupyx.scipy.special``).  Kernel names are torch's function names; the
SciPy function each calls is in ``_SCIPY``.
"""
import numpy as np

from .._table import GENERIC
from .activation import scipy_special
from .special import _host_f


def _unary(name, scipy_fn):
    """Register kernel ``name(x)`` computing ``scipy_fn(x)``."""
    def kernel(x):
        return _host_f(scipy_fn, x)
    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"torch.special.{name} of a float array (SciPy), in x's dtype."
    GENERIC.register(kernel)


def _sp(name):
    return lambda *xs: getattr(scipy_special(), name)(*xs)


# torch's name -> SciPy's function, for the one-argument functions
_SCIPY = {
    "erfcx": _sp("erfcx"),
    "ndtr": _sp("ndtr"), "ndtri": _sp("ndtri"), "log_ndtr": _sp("log_ndtr"),
    "airy_ai": lambda x: scipy_special().airy(x)[0],
    "bessel_j0": _sp("j0"), "bessel_j1": _sp("j1"), "bessel_y0": _sp("y0"), "bessel_y1": _sp("y1"),
    "modified_bessel_i0": _sp("i0"), "modified_bessel_i1": _sp("i1"),
    "modified_bessel_k0": _sp("k0"), "modified_bessel_k1": _sp("k1"),
    "scaled_modified_bessel_k0": _sp("k0e"), "scaled_modified_bessel_k1": _sp("k1e"),
    "spherical_bessel_j0": lambda x: scipy_special().spherical_jn(0, x),
}

for _name, _fn in _SCIPY.items():
    _unary(_name, _fn)
del _name, _fn


@GENERIC.register
def zeta(x, q):
    """The Hurwitz zeta function sum_k (k + q)^-x, broadcast; x's float dtype."""
    return _host_f(_sp("zeta"), x, q)


# ---- orthogonal polynomials of integer degree n -------------------------------------------
# torch truncates a float degree to an integer and gives 0 for a negative one.

_POLY = {"t": "eval_chebyt", "u": "eval_chebyu", "h": "eval_hermite", "he": "eval_hermitenorm",
         "l": "eval_laguerre", "p": "eval_legendre"}


def _poly_host(kind, x, n):
    deg = np.trunc(n).astype(np.int64)
    neg = deg < 0
    if kind in ("v", "w"):
        out = _chebyshev_vw(kind, x, np.where(neg, 0, deg))
    else:
        out = getattr(scipy_special(), _POLY[kind])(np.where(neg, 0, deg), x)
    return np.where(neg, 0.0, out)


def _chebyshev_vw(kind, x, deg):
    """Chebyshev polynomials of the third (V) and fourth (W) kind, which SciPy
    lacks: P0 = 1, P1 = 2x -+ 1, then P(k+1) = 2x P(k) - P(k-1)."""
    x, deg = np.broadcast_arrays(x, deg)
    prev = np.ones_like(x, dtype=np.float64)
    cur = 2 * x - 1 if kind == "v" else 2 * x + 1
    out = np.where(deg == 0, prev, cur)
    top = int(deg.max()) if deg.size else 0
    for k in range(2, top + 1):
        prev, cur = cur, 2 * x * cur - prev
        out = np.where(deg == k, cur, out)
    return out


@GENERIC.register
def orthogonal_polynomial(kind, x, n):
    """Polynomial ``kind`` ("t", "u", "v", "w": Chebyshev; "h", "he": Hermite;
    "l": Laguerre; "p": Legendre) of degree n at x, broadcast; x's dtype."""
    return _host_f(lambda a, b: _poly_host(kind, a, b), x, n)
