"""``SparseData``: what a sparse tensor holds in place of a dense array.

A sparse ember.Tensor is an ordinary Tensor whose ``_data`` is a SparseData:
the layout (COO or CSR), the shape and dtype, and the component arrays of
the values' backend (COO: ``indices`` (sparse_dim, nnz) int64 and ``values``
(nnz, *dense_shape); CSR: ``crow``, ``col``, ``values``).  It is registered
among the backends' array types, so the autograd machinery carries it as it
carries arrays (an op may take and return one, a gradient may be one), and
its backend is its values' (``_data`` below).  Anything else -- NumPy
functions, ufuncs, array conversion -- raises a clear NotImplementedError,
as torch does for an op without a sparse kernel, rather than compute on it.
"""
from ._registry import ARRAY_TYPES, backend_of, kernels


class SparseData:
    __slots__ = ("layout", "shape", "dtype", "indices", "crow", "col", "values", "coalesced")

    def __init__(self, layout, shape, values, indices=None, crow=None, col=None, coalesced=False):
        self.layout = layout          # "sparse_coo" or "sparse_csr"
        self.shape = tuple(int(s) for s in shape)
        self.values = values
        self.dtype = values.dtype
        self.indices = indices
        self.crow = crow
        self.col = col
        self.coalesced = bool(coalesced)

    # ---- what the array machinery asks of an array ------------------------------------------
    @property
    def _data(self):
        """The values: ``backend_of`` finds a sparse tensor's backend through them."""
        return self.values

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def itemsize(self):
        return self.values.itemsize

    @property
    def nbytes(self):
        parts = (self.values, self.indices, self.crow, self.col)
        return sum(p.nbytes for p in parts if p is not None)

    base = None       # (its memory is its own: the profiler's allocation count asks)

    @property
    def nnz(self):
        return int(self.values.shape[0])

    @property
    def sparse_dim(self):
        return 2 if self.layout == "sparse_csr" else int(self.indices.shape[0])

    def _with_values(self, values, coalesced=None):
        return SparseData(self.layout, self.shape, values, self.indices, self.crow, self.col,
                          self.coalesced if coalesced is None else coalesced)

    def astype(self, dtype, copy=True):
        return self._with_values(self.values.astype(dtype))

    def copy(self):
        return SparseData(self.layout, self.shape, self.values.copy(),
                          None if self.indices is None else self.indices.copy(),
                          None if self.crow is None else self.crow.copy(),
                          None if self.col is None else self.col.copy(), self.coalesced)

    def __neg__(self):
        return self._with_values(-self.values)

    def __mul__(self, k):
        """Times a Python number (a backward's scaling)."""
        if isinstance(k, (int, float)):
            return self._with_values(self.values * k)
        return NotImplemented

    __rmul__ = __mul__

    def __add__(self, other):
        """Gradient accumulation: sparse + sparse stays sparse (uncoalesced,
        as torch's); sparse + dense is dense."""
        return kernels(self.values).sparse_add(self, other)

    __radd__ = __add__

    # ---- anything else: a clear error, never a computation on the wrong thing ---------------
    def _refuse(self, what):
        raise NotImplementedError(
            f"{what} is not supported for sparse tensors (layout torch.{self.layout}); "
            "convert with .to_dense() first")

    def __array__(self, *a, **k):
        self._refuse("converting to a dense array")

    def __array_ufunc__(self, ufunc, method, *args, **kwargs):
        # dense + sparse (a dense gradient meeting a sparse one) is dense;
        # every other ufunc is refused.
        if ufunc.__name__ == "add" and method == "__call__" and len(args) == 2:
            a, b = args
            res = sparse_add_any(a, b)
            out = kwargs.get("out")
            if out:
                out[0][...] = res
                return out[0]
            return res
        self._refuse(f"'{ufunc.__name__}'")

    def __array_function__(self, func, types, args, kwargs):
        self._refuse(f"'{func.__name__}'")

    def __getattr__(self, name):
        # (array methods and attributes a dense op reaches for: reshape, sum, T ...)
        self._refuse(f"'{name}'")

    def __getitem__(self, key):
        self._refuse("indexing")

    def __iter__(self):
        self._refuse("iterating")

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"SparseData({self.layout}, shape={self.shape}, nnz={self.nnz})"


ARRAY_TYPES.add(SparseData)


def sparse_add_any(a, b):
    s, other = (a, b) if type(a) is SparseData else (b, a)
    return kernels(s.values).sparse_add(s, other)


def is_sparse_data(x):
    return type(x) is SparseData


def sparse_backend(s):
    return backend_of(s.values)
