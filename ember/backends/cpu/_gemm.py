"""Matrix products on the CPU: large ones split over the intra-op threads."""
import numpy as np

from .._table import CPU as KERNELS
from . import _pool


@KERNELS.register
def matmul(a, b, out=None):
    """``a @ b`` (``out=`` as NumPy's), split over the pool when large."""
    return _pool.matmul(a, b, out=out)


@KERNELS.register
def matmul_nd(a, b):
    """``a @ b`` for operands of any rank, laid out so NumPy runs as few
    (threaded) GEMMs as it can."""
    if a.ndim > 2 and b.ndim == 2 and a.shape[-1]:
        # (..., k) @ (k, n) as one (rows, k) @ (k, n) GEMM: NumPy would otherwise
        # run one small GEMM per leading index (2-3x slower for typical shapes)
        k = a.shape[-1]
        return _pool.matmul(a.reshape(a.size // k, k), b).reshape(a.shape[:-1] + b.shape[-1:])
    if b.ndim > 2 and b.strides[-2] == b.itemsize != b.strides[-1] \
            and b.shape[-1] * b.shape[-2] <= 4096:
        # a stack of small transposed matrices (attention's k^T): NumPy's
        # batched loop is ~1.5x slower on them than one copy + the product
        b = np.ascontiguousarray(b)
    return _pool.matmul(a, b)
