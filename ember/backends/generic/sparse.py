"""Generic sparse kernels: formulas over the array namespace (see ember.backends)."""
import numpy as np

from .._registry import backend_of
from .._table import GENERIC


@GENERIC.register
def embedding_scatter(g, idx, scale, num):
    """Embedding's backward: a zero (num, D) table with the rows of ``g``
    (idx.shape + (D,)) added at the integer ``idx``, each first multiplied by
    ``scale`` (None, or idx.shape + (1,)), in g's dtype."""
    b = backend_of(g)
    d = g.shape[-1]
    rows = g.reshape(-1, d)
    flat = idx.reshape(-1)
    n = flat.shape[0]
    if g.dtype in (np.float32, np.float64) and n:
        # A sparse (num, n) selection matrix times the (n, D) rows: several
        # times faster than ``add.at`` for a language model's batch.  SciPy
        # computes on host arrays (a device backend registers its own kernel).
        import scipy.sparse
        w = (np.ones(n, dtype=g.dtype) if scale is None
             else b.to_host(scale).reshape(-1).astype(g.dtype, copy=False))
        sel = scipy.sparse.csr_matrix((w, (b.to_host(flat), np.arange(n))), shape=(num, n))
        return b.from_host(np.asarray(sel @ b.to_host(rows), dtype=g.dtype))
    if scale is not None:
        rows = rows * scale.reshape(-1, 1)
    out = b.xp.zeros((num, d), dtype=g.dtype)
    b.xp.add.at(out, flat, rows)
    return out
