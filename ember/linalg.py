"""ember.linalg: norms and matrix functions (vector_norm, matrix_norm, ...)."""
from .ops.reduction import __dict__ as _r

vector_norm = _r.get("vector_norm")
matrix_norm = _r.get("matrix_norm")
norm = _r.get("linalg_norm")
