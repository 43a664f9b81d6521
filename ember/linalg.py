"""ember.linalg: torch.linalg's functions.

The norms (vector_norm, matrix_norm, norm) live with the other reductions in
``ember.ops.reduction``; the matrix functions (inv, det, solve, ...) with
matmul in ``ember.ops.linalg``.
"""
from .ops import linalg as _ops_linalg
from .ops.reduction import vector_norm, matrix_norm, linalg_norm as norm

__all__ = ["vector_norm", "matrix_norm", "norm"]

# torch.linalg name -> the implementing name in ember.ops.linalg (taken when present)
_FROM_OPS = {
    "inv": "inverse", "det": "det", "slogdet": "slogdet", "solve": "_linalg_solve",
    "cross": "_linalg_cross", "vecdot": "vecdot", "matrix_power": "matrix_power",
    "matmul": "matmul", "LinAlgError": "LinAlgError", "multi_dot": "_multi_dot",
    "diagonal": "_linalg_diagonal", "cholesky": "cholesky",
    "solve_triangular": "solve_triangular",
}
for _name, _impl in _FROM_OPS.items():
    if hasattr(_ops_linalg, _impl):
        globals()[_name] = getattr(_ops_linalg, _impl)
        __all__.append(_name)
del _name, _impl


# ---- matrix functions written with differentiable ops (gradients by composition) --------

def matrix_exp(A):
    """exp(A) of square matrices (..., n, n), by scaling and squaring: a
    Taylor polynomial of degree 18 of A / 2^s, where s brings the largest
    1-norm in the batch to at most 1/2 (truncation error < 1e-20 relative),
    then s squarings.  Written with matmuls, so it is differentiable to any
    order; the gradient is that of the approximant, equal to the exact one
    to rounding."""
    from ._tensor import Tensor
    from ._errors import not_a_tensor
    import math
    if not isinstance(A, Tensor):
        raise not_a_tensor("linalg_matrix_exp", "self", A, 1)
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError("linalg.matrix_exp: A must be batches of square matrices, "
                           f"but they are {A.shape[-2] if A.dim() > 1 else A.shape[-1]} by "
                           f"{A.shape[-1]} matrices")
    if not A.is_floating_point():
        raise RuntimeError(f"linalg.matrix_exp: Expected a floating point tensor as input. "
                           f"Got {str(A.dtype).replace('ember.', '').capitalize()}")
    n = A.shape[-1]
    if A.numel() == 0:
        return A.clone()
    norm = float(A.detach().abs().sum(-2).max()) if n else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    X = A / (2 ** s) if s else A
    eye = _eye_like(A)
    # Horner: I + X (I + X/2 (I + X/3 (...)))
    E = eye
    for k in range(18, 0, -1):
        E = eye + (X @ E) / k
    for _ in range(s):
        E = E @ E
    return E


def householder_product(A, tau):
    """The first n columns of the product of Householder reflectors
    H_i = I - tau_i v_i v_i^T, where v_i is column i of A (..., m, n) below
    the diagonal with a 1 on it (LAPACK's orgqr).  Differentiable in A and tau."""
    from ._tensor import Tensor
    from ._errors import not_a_tensor
    for name, t in (("input", A), ("tau", tau)):
        if not isinstance(t, Tensor):
            raise not_a_tensor("linalg_householder_product", name, t, 1 if name == "input" else 2)
    if A.dim() < 2:
        raise RuntimeError("torch.linalg.householder_product: input must have at least 2 "
                           "dimensions.")
    m, n = A.shape[-2], A.shape[-1]
    if m < n:
        raise RuntimeError("torch.linalg.householder_product: input.shape[-2] must be greater "
                           "than or equal to input.shape[-1]")
    k = tau.shape[-1]
    if k > n:
        raise RuntimeError("torch.linalg.householder_product: input.shape[-1] must be greater "
                           "than or equal to tau.shape[-1]")
    if tau.dim() != A.dim() - 1:
        raise RuntimeError("torch.linalg.householder_product: Expected tau to have one "
                           "dimension less than input, but got tau.ndim equal to "
                           f"{tau.dim()} and input.ndim is equal to {A.dim()}")
    from ._creation import arange
    rows = arange(m, device=A.device)
    Q = _eye_like(A, m)
    for i in range(k):
        below = (rows > i).to(A.dtype)
        unit = (rows == i).to(A.dtype)
        v = A[..., :, i] * below + unit                      # (..., m)
        Qv = (Q @ v.unsqueeze(-1))                           # (..., m, 1)
        Q = Q - (tau[..., i, None, None] * Qv) * v.unsqueeze(-2)
    return Q[..., :, :n]


def _eye_like(A, m=None):
    """The identity of A's matrix size (or m), A's dtype and device, broadcastable over its batch."""
    from ._creation import eye
    m = A.shape[-1] if m is None else m
    return eye(m, dtype=A.dtype, device=A.device)


__all__ += ["matrix_exp", "householder_product"]
