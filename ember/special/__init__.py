"""ember.special: torch.special's functions, under torch's names.

Each is an Ember op (values from SciPy through the kernel table, see
docs/CONTRIBUTING.md); where an op already exists under another name it is
the same function (``expit`` is ``ember.sigmoid``, ``gammaln`` is
``ember.lgamma``, ``multigammaln`` is ``ember.mvlgamma`` ...).  Gradients
exist where torch has them: the Bessel J/Y/K, Airy and orthogonal
polynomial functions give results that do not require grad, as torch's,
and ``zeta`` and ``gammainc``/``gammaincc`` differentiate in their second
argument only.
"""
from ..ops import math as _math, reduction as _reduction, activation as _activation
from ..ops import special as _gamma, special_functions as _sf
from ..ops.special import i0, i0e, i1, i1e  # noqa: F401
from ..ops.special_functions import (  # noqa: F401
    entr, erfcx, ndtr, ndtri, log_ndtr, sinc, xlog1py, zeta, airy_ai,
    bessel_j0, bessel_j1, bessel_y0, bessel_y1, modified_bessel_i0, modified_bessel_i1,
    modified_bessel_k0, modified_bessel_k1, scaled_modified_bessel_k0, scaled_modified_bessel_k1,
    spherical_bessel_j0, chebyshev_polynomial_t, chebyshev_polynomial_u, chebyshev_polynomial_v,
    chebyshev_polynomial_w, shifted_chebyshev_polynomial_t, shifted_chebyshev_polynomial_u,
    shifted_chebyshev_polynomial_v, shifted_chebyshev_polynomial_w, hermite_polynomial_h,
    hermite_polynomial_he, laguerre_polynomial_l, legendre_polynomial_p)

# the same functions as ember.<name>, under torch.special's names
erf = _math.erf
erfc = _math.erfc
erfinv = _math.erfinv
expit = _math.sigmoid
logit = _math.logit
log1p = _math.log1p
expm1 = _math.expm1
exp2 = _math.exp2
round = _math.round
xlogy = _math.xlogy
gammaln = _gamma.lgamma
digamma = _gamma.digamma
psi = _gamma.digamma
polygamma = _gamma.polygamma
multigammaln = _gamma.mvlgamma
gammainc = _gamma.igamma
gammaincc = _gamma.igammac
logsumexp = _reduction.logsumexp


def softmax(input, dim, *, dtype=None):
    """torch.special.softmax: ember.softmax with ``dim`` required."""
    return _activation.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    """torch.special.log_softmax: ember.log_softmax with ``dim`` required."""
    return _activation.log_softmax(input, dim, dtype=dtype)


del _sf

__all__ = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t",
    "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w", "digamma",
    "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc",
    "gammaln", "hermite_polynomial_h", "hermite_polynomial_he", "i0", "i0e", "i1", "i1e",
    "laguerre_polynomial_l", "legendre_polynomial_p", "log1p", "log_ndtr", "log_softmax",
    "logit", "logsumexp", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
    "modified_bessel_k1", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round",
    "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w", "sinc", "softmax", "spherical_bessel_j0", "xlog1py",
    "xlogy", "zeta",
]
