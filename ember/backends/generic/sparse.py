"""Generic sparse kernels: formulas over the array namespace (see ember.backends)."""
import numpy as np

from .._registry import backend_of
from .._sparse import SparseData
from .._table import GENERIC


@GENERIC.register
def embedding_rows(w, idx):
    """Embedding's forward: the rows of ``w`` (num, D) at the integer ``idx``
    -> idx.shape + (D,).  NumPy raises IndexError for an index past the end;
    the caller refuses negative ones, which indexing would wrap."""
    return w[idx]


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


# ---- sparse tensors (COO and CSR; see ember/backends/_sparse.py) ---------------------------
# Computed on host arrays with NumPy and SciPy's sparse kernels (a device
# backend registers its own); every result goes back to the values' backend.

def _host(s):
    """(backend, host values, host (sparse_dim, nnz) indices) of SparseData ``s``
    (a CSR's row of each stored value comes from its row pointers)."""
    b = backend_of(s.values)
    vals = b.to_host(s.values)
    if s.layout == "sparse_csr":
        crow = b.to_host(s.crow)
        rows = np.repeat(np.arange(len(crow) - 1, dtype=np.int64), np.diff(crow))
        idx = np.stack([rows, b.to_host(s.col).astype(np.int64)])
    else:
        idx = b.to_host(s.indices)
    return b, vals, idx


def _coo(b, shape, idx, vals, coalesced):
    return SparseData("sparse_coo", shape, b.from_host(np.ascontiguousarray(vals)),
                      indices=b.from_host(np.ascontiguousarray(idx, dtype=np.int64)),
                      coalesced=coalesced)


def _linear(idx, shape):
    """Each stored entry's position in the sparse dims, as one integer."""
    if idx.shape[0] == 0:
        return np.zeros(idx.shape[1], dtype=np.int64)
    return np.ravel_multi_index(tuple(idx), shape[:idx.shape[0]])


def _coalesced_host(s):
    """(backend, values, indices) with the entries sorted and duplicates summed."""
    b, vals, idx = _host(s)
    if s.coalesced:
        return b, vals, idx
    lin = _linear(idx, s.shape)
    uniq, inverse = np.unique(lin, return_inverse=True)
    out = np.zeros((len(uniq),) + vals.shape[1:], dtype=vals.dtype)
    np.add.at(out, inverse, vals)
    sd = idx.shape[0]
    new_idx = np.array(np.unravel_index(uniq, s.shape[:sd]), dtype=np.int64).reshape(sd, -1)
    return b, out, new_idx


@GENERIC.register
def sparse_coalesce(s):
    """``s`` as a coalesced COO: indices sorted (row-major), duplicates summed."""
    b, vals, idx = _coalesced_host(s)
    return _coo(b, s.shape, idx, vals, True)


@GENERIC.register
def sparse_to_dense(s):
    b, vals, idx = _host(s)
    out = np.zeros(s.shape, dtype=vals.dtype)
    np.add.at(out, tuple(idx), vals)         # (duplicates of an uncoalesced tensor add up)
    return b.from_host(out)


@GENERIC.register
def sparse_from_dense(a, sparse_dim, layout):
    """Dense ``a`` as a coalesced COO (its non-zero entries; with sparse_dim <
    ndim, its rows with any non-zero) or, for a 2-D ``a``, a CSR."""
    b = backend_of(a)
    h = b.to_host(a)
    if sparse_dim == h.ndim:
        idx = np.array(np.nonzero(h), dtype=np.int64).reshape(h.ndim, -1)
        vals = h[tuple(idx)]
    else:
        lead = h.reshape(h.shape[:sparse_dim] + (-1,))
        idx = np.array(np.nonzero(np.any(lead != 0, axis=-1)), dtype=np.int64)
        idx = idx.reshape(sparse_dim, -1)
        vals = h[tuple(idx)]
    coo = _coo(b, h.shape, idx, vals, True)
    return sparse_to_csr(coo) if layout == "sparse_csr" else coo


@GENERIC.register
def sparse_to_csr(s):
    """A 2-D sparse tensor as CSR (row pointers, column indices, values)."""
    b, vals, idx = _coalesced_host(s)
    crow = np.zeros(s.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx[0], minlength=s.shape[0]), out=crow[1:])
    return SparseData("sparse_csr", s.shape, b.from_host(vals), crow=b.from_host(crow),
                      col=b.from_host(np.ascontiguousarray(idx[1])), coalesced=True)


@GENERIC.register
def sparse_to_coo(s):
    """A CSR as a (coalesced) COO; a COO as itself."""
    if s.layout == "sparse_coo":
        return s
    b, vals, idx = _host(s)
    return _coo(b, s.shape, idx, vals, True)


def _scipy(s, vals=None, idx=None):
    """A 2-D sparse tensor as a SciPy CSR matrix (duplicates summed)."""
    import scipy.sparse
    if vals is None:
        _, vals, idx = _host(s)
    if s.layout == "sparse_csr":
        b = backend_of(s.values)
        return scipy.sparse.csr_matrix((vals, b.to_host(s.col), b.to_host(s.crow)), shape=s.shape)
    return scipy.sparse.csr_matrix((vals, (idx[0], idx[1])), shape=s.shape)


@GENERIC.register
def sparse_mm(s, d, transpose=False):
    """``s @ d`` (or ``s.T @ d``) for 2-D sparse ``s`` and dense 2-D ``d``, by SciPy."""
    b = backend_of(s.values)
    m = _scipy(s)
    if transpose:
        m = m.T
    out = np.asarray(m @ b.to_host(d), dtype=np.result_type(s.dtype, d.dtype))
    return b.from_host(np.ascontiguousarray(out))


@GENERIC.register
def sparse_sampled_mm(s, g, d):
    """``(g @ d.T)`` at s's stored entries only, with s's pattern (the gradient
    of ``s @ d`` for s, as torch's sparse_mask): value k is the dot product of
    row ``rows[k]`` of g with row ``cols[k]`` of d."""
    if not s.coalesced:        # (a repeated entry must hold the gradient once)
        s = sparse_coalesce(s)
    b, _, idx = _host(s)
    gh, dh = b.to_host(g), b.to_host(d)
    vals = np.einsum("kj,kj->k", gh[idx[0]], dh[idx[1]])
    return s._with_values(b.from_host(vals.astype(s.dtype, copy=False)))


@GENERIC.register
def sparse_gather(s, g):
    """The values of ``g`` (dense, or sparse of s's shape) at each entry ``s``
    stores, in s's order: (nnz, *dense_shape).  The gradient of anything that
    only moves, merges or masks s's values, for those values."""
    b, _, idx = _host(s)
    if type(g) is not type(s):
        return b.from_host(np.ascontiguousarray(b.to_host(g)[tuple(idx)]))
    gb, gvals, gidx = _coalesced_host(g if g.layout == "sparse_coo" else sparse_to_coo(g))
    keys = _linear(gidx, g.shape)
    want = _linear(idx, s.shape)
    at = np.searchsorted(keys, want)
    at_c = np.minimum(at, max(len(keys) - 1, 0))
    hit = (at < len(keys)) & (keys[at_c] == want) if len(keys) else np.zeros(len(want), bool)
    out = np.zeros((len(want),) + gvals.shape[1:], dtype=gvals.dtype)
    out[hit] = gvals[at_c[hit]]
    return b.from_host(out)


@GENERIC.register
def sparse_sum(s, dims):
    """Sum over ``dims`` (sparse dims of a COO): a COO of the remaining dims
    (coalesced), or a dense array when no sparse dim remains."""
    b, vals, idx = _host(s)
    sd = idx.shape[0]
    keep = [i for i in range(sd) if i not in dims]
    dense_dims = tuple(d - sd + 1 for d in dims if d >= sd)      # (axes of the values)
    if dense_dims:
        vals = vals.sum(axis=dense_dims)
    shape = tuple(n for i, n in enumerate(s.shape) if i not in dims)
    if not keep:
        return b.from_host(np.asarray(vals.sum(axis=0)))
    part = _coo(b, shape, idx[keep], vals, False)
    return sparse_coalesce(part)


@GENERIC.register
def sparse_add(a, other):
    """``a + other``: sparse + sparse (same shape) is the COO holding both
    sets of entries (uncoalesced, as torch's); with a dense array, dense."""
    if type(other) is not SparseData:
        return sparse_to_dense(a) + other
    b, va, ia = _host(a)
    _, vb, ib = _host(other)
    return _coo(b, a.shape, np.concatenate([ia, ib], axis=1), np.concatenate([va, vb]), False)
