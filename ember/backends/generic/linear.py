"""Generic linear-layer kernels: formulas over the array namespace (see ember.backends)."""
from .._registry import kernels
from .._table import GENERIC


@GENERIC.register
def linear_matmul(x, w):
    """``x @ w.T`` for x (..., in) and w (out, in) -> (..., out)."""
    return kernels(x).matmul_nd(x, w.T)


@GENERIC.register
def linear_bias_add(out, b):
    """``out += b`` in place for out (..., n) and b (n,); returns out."""
    out += b
    return out


@GENERIC.register
def linear_addmm(x, w, b):
    """``x @ w.T + b`` for x (..., in), w (out, in) and b (out,)."""
    K = kernels(x)
    return K.linear_bias_add(K.linear_matmul(x, w), b)
