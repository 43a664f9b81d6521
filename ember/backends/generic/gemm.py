"""Matrix products: the generic formula is the namespace's matmul."""
from .._registry import namespace
from .._table import GENERIC


@GENERIC.register
def matmul(a, b, out=None):
    """``a @ b`` with NumPy's broadcasting rules (``out=`` as NumPy's)."""
    return namespace(a).matmul(a, b, out=out)
