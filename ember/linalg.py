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


# matrix functions written with differentiable ops (in ember.ops.linalg)
matrix_exp = _ops_linalg.matrix_exp
householder_product = _ops_linalg.householder_product
_eye_like = _ops_linalg._eye_like

__all__ += ["matrix_exp", "householder_product"]
