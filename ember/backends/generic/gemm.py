"""Matrix products: the generic formula is the namespace's matmul."""
from .._registry import namespace
from .._table import GENERIC


@GENERIC.register
def matmul(a, b, out=None):
    """``a @ b`` with NumPy's broadcasting rules (``out=`` as NumPy's)."""
    return namespace(a).matmul(a, b, out=out)


@GENERIC.register
def matmul_nd(a, b):
    """``a @ b`` for operands of any rank (1-D, 2-D, batched, broadcast)."""
    return namespace(a).matmul(a, b)
