"""Sparse tensors: COO and CSR layouts, their conversions, and sparse @ dense.

A sparse tensor is an ember.Tensor whose ``_data`` is a ``SparseData``
(``ember/backends/_sparse.py``); the computing is done by the backend's
sparse kernels (``ember/backends/generic/sparse.py``: NumPy and SciPy's
sparse matrices on the CPU).  Every op here is differentiable for the values
it moves and for the dense operand of a product, as torch's:

* a sparse tensor made from ``values`` passes gradient back to them (the
  gradient at each stored entry);
* ``ember.sparse.mm``/``addmm`` give a sparse operand a gradient of its own
  pattern (torch's ``sparse_mask``); ``mm``/``matmul``/``@`` give a sparse leaf
  a dense one, as torch's ``mm`` does.
Backwards are first-order only (``once_differentiable``).
"""
from .. import _dtype as D
from .._errors import not_a_tensor
from .._layout import sparse_coo, sparse_csr
from .._tensor_base import TensorBase, _wrap
from ..autograd.function import AccumulateGrad, Op, once_differentiable
from ..backends import kernels, namespace
from ..backends._sparse import SparseData

__all__ = ["sparse_coo_tensor", "sparse_csr_tensor"]

def is_sparse(t):
    return type(t._data) is SparseData


# ---- the ops ---------------------------------------------------------------------------------

def _in_pattern(s, g):
    """Gradient ``g`` (dense, or sparse) as a sparse tensor with the entries of s
    (coalesced, so that its dense meaning is g's at those entries: an
    uncoalesced pattern would count a repeated entry twice)."""
    K = kernels(s.values)
    if not s.coalesced:
        s = K.sparse_coalesce(s)
    return s._with_values(K.sparse_gather(s, g))


class _SameValuesOp(Op):
    """An op that changes how a sparse tensor is stored, not what it holds
    (coalesce, COO <-> CSR): the gradient passes through."""

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        return (g,)


class SparseCooTensor(Op):
    _ctx_fields = ("pattern",)
    _node_name = "SparseCooTensorWithDimsAndTensorsBackward0"     # (torch's grad_fn)

    @staticmethod
    def forward(ctx, values, indices, shape, coalesced):
        out = SparseData("sparse_coo", shape, values, indices=indices, coalesced=coalesced)
        ctx.pattern = out
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        # (g: dense from mm and to_dense, sparse from sparse.mm and sparse.sum)
        return kernels(ctx.pattern.values).sparse_gather(ctx.pattern, g), None, None, None


class SparseCsrTensor(SparseCooTensor):
    """As SparseCooTensor (the same backward: the gradient at the entries), for CSR."""
    _node_name = "SparseCompressedTensorBackward0"

    @staticmethod
    def forward(ctx, values, crow, col, shape):
        out = SparseData("sparse_csr", shape, values, crow=crow, col=col, coalesced=True)
        ctx.pattern = out
        return out


class SparseToDense(Op):
    _node_name = "ToDenseBackward0"
    _ctx_fields = ("pattern",)

    @staticmethod
    def forward(ctx, s):
        ctx.pattern = s
        return kernels(s.values).sparse_to_dense(s)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        return (_in_pattern(ctx.pattern, g),)      # (torch's: the gradient masked to s)


class DenseToSparse(Op):
    _node_name = "ToSparseBackward0"

    @staticmethod
    def forward(ctx, a, sparse_dim, layout):
        return kernels(a).sparse_from_dense(a, sparse_dim, layout)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        if type(g) is SparseData:
            g = kernels(g.values).sparse_to_dense(g)
        return g, None, None


class SparseCoalesce(_SameValuesOp):
    _node_name = "CoalesceBackward0"

    @staticmethod
    def forward(ctx, s):
        return kernels(s.values).sparse_coalesce(s)


class SparseToCsr(_SameValuesOp):
    @staticmethod
    def forward(ctx, s):
        return kernels(s.values).sparse_to_csr(s)


class SparseToCoo(_SameValuesOp):
    @staticmethod
    def forward(ctx, s):
        return kernels(s.values).sparse_to_coo(s)


class SparseValues(Op):
    """``values()``: the stored values (an alias, as torch's)."""
    _ctx_fields = ("pattern",)
    _view = True
    _node_name = "ValuesBackward0"

    @staticmethod
    def forward(ctx, s):
        ctx.pattern = s
        return s.values

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        return (ctx.pattern._with_values(g),)


class SparseMM(Op):
    """``s @ d`` for a 2-D sparse s and a dense 2-D d.  ``masked``: s's
    gradient has s's pattern (torch.sparse.mm); otherwise a leaf s gets the
    dense gradient (torch.mm), any other s the same values in its pattern
    (the only ones its producer uses)."""
    _ctx_fields = ("masked",)
    _node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, s, d, masked):
        ctx.masked = masked
        ctx.save_for_backward(s, d)
        return kernels(s.values).sparse_mm(s, d)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        s, d = ctx.saved_tensors
        need = ctx.needs_input_grad
        K = kernels(g)
        gs = gd = None
        if need[0]:
            edge = ctx._next[0]
            if not ctx.masked and type(edge[0]) is AccumulateGrad:
                gs = K.matmul(g, d.T)                      # (torch.mm: a leaf's is dense)
            else:
                gs = K.sparse_sampled_mm(s, g, d)
        if need[1]:
            gd = K.sparse_mm(s, g, transpose=True)
        return gs, gd, None


class SparseAddmm(Op):
    """``beta * input + alpha * (s @ d)``, torch.sparse.addmm (s's gradient
    in s's pattern)."""
    _ctx_fields = ("beta", "alpha", "masked")
    _node_name = "SparseAddmmBackward0"

    @staticmethod
    def forward(ctx, input, s, d, beta, alpha, masked):
        ctx.beta, ctx.alpha, ctx.masked = beta, alpha, masked
        ctx.save_for_backward(s, d)
        prod = kernels(s.values).sparse_mm(s, d)
        if alpha != 1:
            prod = prod * alpha
        if beta == 0:
            return prod
        return prod + (input * beta if beta != 1 else input)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        s, d = ctx.saved_tensors
        need = ctx.needs_input_grad
        K = kernels(g)
        a = ctx.alpha
        gi = (g * ctx.beta if ctx.beta != 1 else g) if need[0] and ctx.beta != 0 else None
        ga = g * a if a != 1 else g
        gs = gd = None
        if need[1]:
            if not ctx.masked and type(ctx._next[1][0]) is AccumulateGrad:
                gs = K.matmul(ga, d.T)                     # (torch.addmm: a leaf's is dense)
            else:
                gs = K.sparse_sampled_mm(s, ga, d)
        if need[2]:
            gd = K.sparse_mm(s, ga, transpose=True)
        return gi, gs, gd, None, None, None


class SparseMaskedMM(SparseMM):
    """torch.sparse.mm: SparseMM whose sparse operand's gradient keeps its pattern."""
    _node_name = "SparseAddmmBackward0"


class DenseSparseMM(Op):
    """``d @ s``: dense (n, m) times sparse (m, p), as ``(s.T @ d.T).T``."""
    _node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, d, s):
        ctx.save_for_backward(d, s)
        return kernels(s.values).sparse_mm(s, d.T, transpose=True).T

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        d, s = ctx.saved_tensors
        need = ctx.needs_input_grad
        K = kernels(g)
        gd = K.sparse_mm(s, g.T).T if need[0] else None       # g @ s.T
        gs = None
        if need[1]:
            if type(ctx._next[1][0]) is AccumulateGrad:
                gs = K.matmul(d.T, g)                          # (a leaf's: dense)
            else:
                gs = K.sparse_sampled_mm(s, d.T, g.T)
        return gd, gs


class SparseSum(Op):
    """Sum of a COO over ``dims``: sparse over the remaining dims, or dense
    when none remains.  Its gradient has the input's pattern."""
    _ctx_fields = ("pattern", "dims")

    @staticmethod
    def forward(ctx, s, dims):
        ctx.pattern, ctx.dims = s, dims
        return kernels(s.values).sparse_sum(s, dims)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        s = ctx.pattern
        K = kernels(s.values)
        xp = namespace(s.values)
        if not s.coalesced:
            s = K.sparse_coalesce(s)
        if type(g) is SparseData or g.ndim:     # (g over the kept dims: look each entry up)
            keep = [i for i in range(s.sparse_dim) if i not in ctx.dims]
            vals = K.sparse_gather(_drop_dims(s, keep), g)
        else:                                   # (a full sum: every entry gets g)
            vals = xp.zeros(s.values.shape, dtype=s.dtype) + g
        return s._with_values(vals), None


def _drop_dims(s, keep):
    """A COO with s's entries, indexed by the sparse dims ``keep`` only (for looking
    each of s's entries up in a gradient over those dims)."""
    return SparseData("sparse_coo", tuple(s.shape[i] for i in keep), s.values,
                      indices=s.indices[keep] if s.layout == "sparse_coo"
                      else kernels(s.values).sparse_to_coo(s).indices[keep])


# ---- constructors ----------------------------------------------------------------------------

def _as_tensor(x, dtype=None, device=None):
    from .._creation import as_tensor
    return x if isinstance(x, TensorBase) and dtype is None and device is None \
        else as_tensor(x, dtype=dtype, device=device)


def _int_indices(t, what):
    """Index data as int64 (torch casts other dtypes too)."""
    if t.dtype is D.bool:
        raise RuntimeError(f"{what} must be an int64 tensor")
    return t._data if t.dtype is D.int64 else t._data.astype(D.int64.np)


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """A COO sparse tensor: ``values[k]`` at index ``indices[:, k]`` (indices
    (sparse_dim, nnz) int64, values (nnz, *dense_shape)).  ``size`` defaults
    to the smallest that holds every index.  Repeated indices are allowed
    (their values add up; see ``coalesce``).  Differentiable for ``values``."""
    idx_t = _as_tensor(indices, device=device)
    vals = _as_tensor(values, dtype=dtype, device=device)
    if dtype is not None and vals.dtype is not D.to_dtype(dtype):
        vals = vals.to(dtype)
    idx = _int_indices(idx_t, "indices")
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(idx.shape)}")
    sd, nnz = idx.shape
    if vals._data.ndim == 0 or vals._data.shape[0] != nnz:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: "
                           f"{nnz}, nnz from values: "
                           f"{vals._data.shape[0] if vals._data.ndim else 0}")
    dense_shape = tuple(vals._data.shape[1:])
    maxes = [int(m) + 1 for m in idx.max(axis=1)] if nnz else [0] * sd
    if nnz and int(idx.min()) < 0:
        mins = idx.min(axis=1)
        d = int((mins < 0).argmax())
        raise RuntimeError(f"found negative index {int(mins[d])} for dim {d}")
    if size is None:
        shape = tuple(maxes) + dense_shape
    else:
        shape = tuple(int(s) for s in size)
        if len(shape) != sd + len(dense_shape):
            raise RuntimeError(f"number of dimensions must be sparse_dim ({sd}) + dense_dim "
                               f"({len(dense_shape)}), but got {len(shape)}")
        for d in range(sd):
            if maxes[d] > shape[d]:
                raise RuntimeError(f"size is inconsistent with indices: for dim {d}, size is "
                                   f"{shape[d]} but found index {maxes[d] - 1}")
        if shape[sd:] != dense_shape:
            raise RuntimeError(f"values has incorrect size, expected {list((nnz,) + shape[sd:])}, "
                               f"got {list(vals._data.shape)}")
    out = SparseCooTensor.apply(vals, idx, shape, bool(is_coalesced) or nnz <= 1)
    if requires_grad:
        out.requires_grad_(True)
    return out


def sparse_csr_tensor(crow_indices, col_indices, values, size=None, *, dtype=None, device=None,
                      pin_memory=False, requires_grad=False, check_invariants=None):
    """A CSR sparse matrix: the values of row i are ``values[crow[i]:crow[i+1]]``
    at columns ``col_indices[crow[i]:crow[i+1]]``.  Differentiable for ``values``."""
    crow = _int_indices(_as_tensor(crow_indices, device=device), "crow_indices")
    col = _int_indices(_as_tensor(col_indices, device=device), "col_indices")
    vals = _as_tensor(values, dtype=dtype, device=device)
    if dtype is not None and vals.dtype is not D.to_dtype(dtype):
        vals = vals.to(dtype)
    if crow.ndim != 1 or col.ndim != 1 or vals._data.ndim != 1:
        raise RuntimeError("crow_indices, col_indices and values must be 1-D for a sparse CSR "
                           "matrix (batched and hybrid CSR are not supported)")
    nnz = col.shape[0]
    if vals._data.shape[0] != nnz:
        raise RuntimeError(f"col_indices and values must have the same number of elements, but "
                           f"got col_indices.numel(): {nnz}, values.numel(): {vals._data.shape[0]}")
    if crow.shape[0] < 1 or int(crow[0]) != 0 or int(crow[-1]) != nnz or \
            (crow.shape[0] > 1 and bool((crow[1:] < crow[:-1]).any())):
        raise RuntimeError("crow_indices must start at 0, end at nnz and never decrease")
    ncols = int(col.max()) + 1 if nnz else 0
    if size is None:
        shape = (crow.shape[0] - 1, ncols)
    else:
        shape = tuple(int(s) for s in size)
        if len(shape) != 2 or shape[0] != crow.shape[0] - 1 or ncols > shape[1]:
            raise RuntimeError(f"size {list(shape)} does not fit crow_indices of "
                               f"{crow.shape[0]} entries and column indices up to {ncols - 1}")
    out = SparseCsrTensor.apply(vals, crow, col, shape)
    if requires_grad:
        out.requires_grad_(True)
    return out


# ---- Tensor methods --------------------------------------------------------------------------

def _need_sparse(t, what, layouts=("sparse_coo", "sparse_csr")):
    d = t._data
    if type(d) is not SparseData or d.layout not in layouts:
        have = "torch.strided" if type(d) is not SparseData else f"torch.{d.layout}"
        raise RuntimeError(f"{what} expected a tensor of layout "
                           f"{' or '.join('torch.' + x for x in layouts)}, got {have}")
    return d


def to_dense(self, dtype=None, *, masked_grad=None):
    """A sparse tensor as a dense one (a dense tensor: itself)."""
    out = SparseToDense.apply(self) if is_sparse(self) else self
    return out.to(dtype) if dtype is not None else out


def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """COO (default) or ``layout=ember.sparse_csr`` form of this tensor."""
    if layout is not None and layout is not sparse_coo:
        if layout is sparse_csr:
            return to_sparse_csr(self)
        raise NotImplementedError(f"to_sparse: layout {layout} is not supported "
                                  "(Ember has torch.sparse_coo and torch.sparse_csr)")
    if is_sparse(self):
        return self if self._data.layout == "sparse_coo" else SparseToCoo.apply(self)
    nd = self._data.ndim
    sd = nd if sparse_dim is None else int(sparse_dim)
    if not 0 < sd <= nd:
        raise RuntimeError(f"sparse_dim argument must be in [1, {nd}] but got {sd}")
    return DenseToSparse.apply(self, sd, "sparse_coo")


def to_sparse_coo(self):
    return to_sparse(self)


def to_sparse_csr(self, dense_dim=None):
    """CSR form of a 2-D tensor (dense or COO)."""
    if self._data.ndim != 2:
        raise RuntimeError(f"to_sparse_csr: only 2-D tensors are supported, got "
                           f"{self._data.ndim}-D")
    if is_sparse(self):
        return self if self._data.layout == "sparse_csr" else SparseToCsr.apply(self)
    return DenseToSparse.apply(self, 2, "sparse_csr")


def coalesce(self):
    """The same sparse tensor with its indices sorted and repeats summed."""
    d = _need_sparse(self, "coalesce", ("sparse_coo",))
    return self if d.coalesced else SparseCoalesce.apply(self)


def is_coalesced(self):
    return _need_sparse(self, "is_coalesced", ("sparse_coo",)).coalesced


def _indices(self):
    return _wrap(_need_sparse(self, "_indices", ("sparse_coo",)).indices)


def indices(self):
    d = _need_sparse(self, "indices", ("sparse_coo",))
    if not d.coalesced:
        raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call "
                           ".coalesce() first")
    return _wrap(d.indices)


def _values(self):
    _need_sparse(self, "_values", ("sparse_coo", "sparse_csr"))
    return SparseValues.apply(self)


def values(self):
    d = _need_sparse(self, "values", ("sparse_coo", "sparse_csr"))
    if not d.coalesced:
        raise RuntimeError("Cannot get values on an uncoalesced tensor, please call "
                           ".coalesce() first")
    return SparseValues.apply(self)


def crow_indices(self):
    return _wrap(_need_sparse(self, "crow_indices", ("sparse_csr",)).crow)


def col_indices(self):
    return _wrap(_need_sparse(self, "col_indices", ("sparse_csr",)).col)


def _nnz(self):
    return _need_sparse(self, "_nnz").nnz


def sparse_dim(self):
    d = self._data
    return d.sparse_dim if type(d) is SparseData else 0


def dense_dim(self):
    d = self._data
    return d.ndim - d.sparse_dim if type(d) is SparseData else d.ndim


# ---- products and sums -----------------------------------------------------------------------

def _check_mm(s, d, fn, swapped=False):
    """Checks for sparse ``s`` times dense ``d`` (``d @ s`` when swapped)."""
    if not isinstance(d, TensorBase):
        raise not_a_tensor(fn, "input" if swapped else "mat2", d, 1 if swapped else 2)
    if s._data.ndim != 2 or d._data.ndim != 2:
        raise RuntimeError(f"{fn}: expected 2-D matrices, got {s._data.ndim}-D and "
                           f"{d._data.ndim}-D")
    if type(d._data) is SparseData:
        raise NotImplementedError(f"{fn}: a product of two sparse tensors is not supported; "
                                  "make one dense (.to_dense())")
    a, b = (d._data.shape, s._data.shape) if swapped else (s._data.shape, d._data.shape)
    if a[1] != b[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({a[0]}x{a[1]} and {b[0]}x{b[1]})")
    if s._data.dtype != d._data.dtype:
        raise RuntimeError(f"expected mat1 and mat2 to have the same dtype, but got: "
                           f"{s.dtype} != {d.dtype}")


def sparse_mm(mat1, mat2, masked=False):
    """sparse (n, m) @ dense (m, p) -> dense (n, p); dense @ sparse too."""
    if type(mat1._data) is not SparseData:
        _check_mm(mat2, mat1, "mm", swapped=True)
        return DenseSparseMM.apply(mat1, mat2)
    _check_mm(mat1, mat2, "mm")
    return (SparseMaskedMM if masked else SparseMM).apply(mat1, mat2, masked)


def sparse_addmm(input, mat1, mat2, *, beta=1, alpha=1, masked=True):
    """beta * input + alpha * (mat1 @ mat2), mat1 sparse."""
    if not isinstance(input, TensorBase):
        raise not_a_tensor("addmm", "input", input, 1)
    _need_sparse(mat1, "sparse.addmm")
    _check_mm(mat1, mat2, "addmm")
    n, p = mat1._data.shape[0], mat2._data.shape[1]
    if type(input._data) is SparseData:
        input = to_dense(input)
    try:
        namespace(input._data).broadcast_shapes(input._data.shape, (n, p))
    except ValueError:
        raise RuntimeError(f"addmm: input of shape {list(input.shape)} does not broadcast to "
                           f"the product's shape {[n, p]}") from None
    return SparseAddmm.apply(input, mat1, mat2, beta, alpha, masked)


def sparse_sum(input, dim=None, dtype=None):
    """Sum of a sparse tensor: all of it (a dense scalar), or over ``dim``
    (a sparse tensor of the remaining dims)."""
    d = _need_sparse(input, "sparse.sum")
    if d.layout == "sparse_csr":
        input = to_sparse(input)
        d = input._data
    if dtype is not None:
        raise NotImplementedError("sparse.sum: dtype= is not supported")
    nd = d.ndim
    if dim is None:
        dims = tuple(range(nd))
    else:
        dims = tuple(sorted({(x if x >= 0 else x + nd) for x in
                             ((dim,) if isinstance(dim, int) else dim)}))
        if any(not 0 <= x < nd for x in dims):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, "
                             f"{nd - 1}], but got {dim})")
    if any(x >= d.sparse_dim for x in dims) and len(dims) != nd:
        raise NotImplementedError("sparse.sum over dense dimensions of a hybrid tensor is not "
                                  "supported")
    return SparseSum.apply(input, dims)
