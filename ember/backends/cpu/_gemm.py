"""Matrix products on the CPU: large ones split over the intra-op threads."""
from .._table import CPU as KERNELS
from . import _pool


@KERNELS.register
def matmul(a, b, out=None):
    """``a @ b`` (``out=`` as NumPy's), split over the pool when large."""
    return _pool.matmul(a, b, out=out)
