"""SciPy's special functions as kernels: erfc, erfinv (expit and erf, which
the activations use, are in ``activation``).

SciPy computes on NumPy arrays, in host memory.  The generic kernels take
any backend's array there and bring the result back (a copy each way on a
device; a GPU backend registers its own, e.g. from ``cupyx.scipy.special``).
The CPU's arrays are SciPy's own: its table uses the ``*_host`` formulas
below directly (ember.backends.cpu._special).

Each keeps its input's shape and floating dtype.
"""
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
