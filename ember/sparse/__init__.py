"""torch.sparse: products and sums of sparse tensors (see ember/ops/sparse.py).

``mm(sparse, dense)`` and ``addmm(input, sparse, dense)`` give the sparse
operand a gradient in its own pattern (torch's semantics); ``sum`` returns a
dense scalar for a full sum, a sparse tensor otherwise.
"""
from ..ops.sparse import sparse_addmm as _addmm, sparse_mm as _mm, sparse_sum as _sum
from ..backends._sparse import SparseData as _SparseData

__all__ = ["mm", "addmm", "sum"]


def mm(mat1, mat2):
    """sparse (n, m) @ dense (m, p) -> dense (n, p); mat1's gradient keeps its pattern."""
    if type(mat1._data) is not _SparseData and type(getattr(mat2, "_data", None)) \
            is not _SparseData:
        from ..ops.linalg import mm as dense_mm        # (torch.sparse.mm takes dense too)
        return dense_mm(mat1, mat2)
    return _mm(mat1, mat2, masked=True)


def addmm(mat, mat1, mat2, *, beta=1.0, alpha=1.0):
    """beta * mat + alpha * (mat1 @ mat2), mat1 sparse, mat and mat2 dense."""
    return _addmm(mat, mat1, mat2, beta=beta, alpha=alpha)


def sum(input, dim=None, dtype=None):
    """Sum of a sparse tensor over ``dim`` (all dims: a dense scalar)."""
    return _sum(input, dim, dtype)
