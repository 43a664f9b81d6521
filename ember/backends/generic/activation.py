"""Generic activation kernels: formulas over the array namespace (see ember.backends).

SciPy's special functions (``expit``, ``erf``) are kernels of their own, so
that a backend with its own library (cupyx.scipy.special) replaces just
those and keeps every formula built on them (GELU ...).  Generically they
run on the host copy of the array; the CPU's table calls SciPy directly.
"""
import math

import numpy as np

from .._registry import namespace, kernels, backend_of
from .._table import GENERIC

_special = None


def scipy_special():
    """scipy.special, imported on first use (it is slow to import)."""
    global _special
    if _special is None:
        import scipy.special
        _special = scipy.special
    return _special


@GENERIC.register
def expit(x):
    """The logistic sigmoid 1 / (1 + exp(-x)) of a float array, in x's dtype
    (SciPy's, on the host)."""
    b = backend_of(x)
    return b.from_host(scipy_special().expit(b.to_host(x))).astype(x.dtype, copy=False)


@GENERIC.register
def erf(x):
    """The error function of a float array, in x's dtype (SciPy's, on the host)."""
    b = backend_of(x)
    return b.from_host(scipy_special().erf(b.to_host(x))).astype(x.dtype, copy=False)


# ---- ReLU ----------------------------------------------------------------------------------

@GENERIC.register
def relu_backward(g, out):
    """The ReLU gradient from its output: ``g`` where out > 0 (and where out is
    NaN: torch passes those), else 0.  (A multiply by the 0/1 mask: a select
    with a data-dependent mask is several times slower in NumPy.)"""
    keep = ~(out <= 0)
    return g * keep.astype(g.dtype)


# ---- GELU (exact, with erf) ----------------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)

# Abramowitz & Stegun 7.1.26 for erf: |error| < 1.5e-7, below float32's
# resolution (torch's vectorised float32 erf uses the same formula).  Written
# for Phi(x) = 0.5 * (1 + erf(x / sqrt 2)): with z = |x| / sqrt 2,
#     t = 1 / (1 + p z),   h = 0.5 * poly(t) * exp(-z^2)   (= 0.5 * erfc(z))
#     Phi(x) = 0.5 + sign(x) * (0.5 - h)
# exp(-z^2) = exp(-x^2 / 2) is also the normal pdf the backward needs.
_AS_P = np.float32(0.3275911 * _SQRT_HALF)
_AS_A = tuple(np.float32(0.5 * c) for c in (0.254829592, -0.284496736, 1.421413741,
                                             -1.453152027, 1.061405429))
_SIGN32 = np.int32(-2 ** 31)


def gelu_erf32_range(xp, xs, ys, c, d):
    """GELU of the flat float32 ``xs`` into ``ys``, with the cdf into ``c`` and
    the pdf into ``d`` (all of one size), in ~20 in-place passes."""
    a4, a3, a2, a1, a0 = _AS_A[::-1]
    xp.multiply(xs, xs, out=d)
    d *= np.float32(-0.5)
    xp.exp(d, out=d)                         # exp(-x^2/2)
    xp.abs(xs, out=ys)
    ys *= _AS_P
    ys += np.float32(1)
    xp.divide(np.float32(1), ys, out=ys)     # t
    xp.multiply(ys, a4, out=c)
    for a in (a3, a2, a1, a0):
        c += a
        c *= ys
    c *= d                                   # h = 0.5 erfc(|x|/sqrt 2)
    xp.subtract(np.float32(0.5), c, out=c)   # >= 0: takes x's sign bit
    ci = c.view(np.int32)
    xp.bitwise_or(ci, xp.bitwise_and(xs.view(np.int32), _SIGN32, out=ys.view(np.int32)),
                  out=ci)
    c += np.float32(0.5)                     # Phi(x)
    xp.multiply(xs, c, out=ys)
    d *= np.float32(_INV_SQRT_2PI)           # pdf(x)


def gelu_erf32(x, for_ranges=None):
    """GELU of a float32 array: (y, cdf, pdf), each of x's shape.
    ``for_ranges(kernel, n)`` runs ``kernel(lo, hi)`` over ranges covering
    ``range(n)`` (a backend's threads); by default one call does it all."""
    xp = namespace(x)
    x = xp.ascontiguousarray(x)
    flat = x.reshape(-1)
    y, cdf, pdf = xp.empty_like(flat), xp.empty_like(flat), xp.empty_like(flat)

    def kernel(lo, hi):
        gelu_erf32_range(xp, flat[lo:hi], y[lo:hi], cdf[lo:hi], pdf[lo:hi])

    if for_ranges is None:
        kernel(0, flat.size)
    else:
        for_ranges(kernel, flat.size)
    shape = x.shape
    return y.reshape(shape), cdf.reshape(shape), pdf.reshape(shape)


@GENERIC.register
def relu(x):
    """0 where x < 0, else x, in x's dtype (any real dtype; a 0-d array stays an
    array): torch's bits, -0.0 and NaN kept (NumPy's maximum(-0.0, 0) is +0.0)."""
    return namespace(x).where(x < 0, x.dtype.type(0), x)


@GENERIC.register
def gelu_erf(x):
    """Exact GELU x * Phi(x) of a float array: ``(y, cdf, pdf)``, the last two
    for the backward; pdf is None where it was not computed on the way."""
    if x.dtype == np.float32 and x.ndim:
        return gelu_erf32(x)
    cdf = 0.5 * (1 + kernels(x).erf(x * _SQRT_HALF)).astype(x.dtype, copy=False)
    return (x * cdf).astype(x.dtype, copy=False), cdf, None


@GENERIC.register
def gelu_erf_fused(x):
    """Exact GELU of a float array with its derivative in the same pass:
    ``(y, dy/dx)``, or None where the backend has no such kernel (here)."""
    return None


@GENERIC.register
def gelu_erf_value(x):
    """Exact GELU of a float array alone (no derivative: no_grad), or None
    where the backend has no faster kernel for it than ``gelu_erf_fused``'s
    and ``gelu_erf``'s (here)."""
    return None


@GENERIC.register
def gelu_tanh_fused(x):
    """Tanh-approximate GELU of a float array with its derivative in the same
    pass: ``(y, dy/dx)``, or None where the backend has no such kernel (here:
    the op's own formula runs, saving tanh for its backward)."""
    return None


@GENERIC.register
def gelu_erf_fused_backward(g, dydx):
    """``g * dydx``: the input gradient from ``gelu_erf_fused``'s derivative."""
    return g * dydx


# ---- softmax along one axis ----------------------------------------------------------------

def softmax_exp(x, dim):
    """``(e, s)``: e = exp(x - c), a new array, and its sums along ``dim``
    (kept), with c the row max, or 0 where the backend's ``exp_unshifted``
    finds the shift unneeded."""
    b = backend_of(x)
    K = b.kernels
    unshifted = K.exp_unshifted(x, dim)
    if unshifted is not None:
        return unshifted
    e = b.xp.subtract(x, K.max_along(x, dim))
    b.xp.exp(e, out=e)
    return e, K.sum_along(e, dim)


@GENERIC.register
def softmax(x, dim, log=False):
    """softmax of the float array ``x`` along the non-empty axis ``dim``
    (log_softmax with ``log``), of x's shape; shifted by the row max only
    when needed."""
    if not log:
        e, s = softmax_exp(x, dim)
        e *= 1 / s
        return e
    b = backend_of(x)
    K, xp = b.kernels, b.xp
    unshifted = K.exp_unshifted(x, dim)
    if unshifted is None:
        s = xp.subtract(x, K.max_along(x, dim))
        s -= xp.log(K.sum_along(xp.exp(s), dim))
        return s
    return xp.subtract(x, xp.log(unshifted[1]))


@GENERIC.register
def log_softmax_backward(g, y, dim):
    """The gradient of log_softmax (output ``y``) along ``dim`` for the output
    gradient ``g``: g - exp(y) * sum(g), a new array of y's shape."""
    return g - namespace(y).exp(y) * g.sum(axis=dim, keepdims=True)


@GENERIC.register
def softmax_backward(g, y, dim):
    """The gradient of softmax (output ``y``) along ``dim`` for the output
    gradient ``g``: y * (g - sum(g * y)), a new array of y's shape."""
    gx = g * y
    gx -= y * kernels(y).sum_along(g, dim, y)
    return gx
