"""Small shared helpers for op wrappers: argument normalisation and promotion."""
import numbers

import numpy as np

from .. import _dtype as D
from .._creation import scalar_tensor
from .._tensor_base import TensorBase, _wrap, _dim
from ..backends import ARRAY_TYPES
from .._bfloat16 import is_float as _isf

_pyscalar = (bool, int, float, complex)


def _is_array(x):
    """Whether ``x`` is some backend's array (or an instance of a subclass)."""
    return isinstance(x, tuple(ARRAY_TYPES))


def as_tensor_arg(x, name="other"):
    """Turn an array (any backend's) / NumPy scalar into something ops accept;
    keep Tensors and Python scalars; refuse everything else with torch's
    TypeError."""
    if type(x) in _pyscalar or isinstance(x, TensorBase):
        return x
    if _is_array(x):
        return _wrap(x)
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, numbers.Number):
        return complex(x) if isinstance(x, complex) else x
    raise TypeError(f"unsupported operand type for {name}: '{type(x).__name__}'")


def cast(t, dt):
    """Tensor ``t`` as Ember dtype ``dt`` (differentiable; no-op when equal)."""
    if t._data.dtype == dt.np:
        return t
    from .elementwise import _cast
    return _cast(t, dt)


def promote(a, b):
    """Bring a binary op's operands to torch's common dtype.

    Returns (a, b) where Tensors are cast when needed and Python scalars are
    kept (NumPy's weak-scalar rule then matches torch's) unless the scalar's
    category is higher than the tensor's, in which case the tensor is cast.
    """
    a = as_tensor_arg(a, "input")
    b = as_tensor_arg(b)
    if type(b) is int and not _I64_MIN <= b < _U64_END:
        D.wrap_int(b, _I64)        # (raises torch's OverflowError: beyond 64 bits)
    if type(a) is int and not _I64_MIN <= a < _U64_END:
        D.wrap_int(a, _I64)
    ta, tb = isinstance(a, TensorBase), isinstance(b, TensorBase)
    if ta and tb:
        if a._data.dtype == b._data.dtype:
            return a, b
        rt = D.result_type(a, b)
        return cast(a, rt), cast(b, rt)
    if ta:
        if D._scalar_category(b) > D._FROM_NP[a._data.dtype].category:
            return cast(a, D.result_type(a, b)), b
        return a, b
    if tb:
        if D._scalar_category(a) > D._FROM_NP[b._data.dtype].category:
            return a, cast(b, D.result_type(a, b))
        return a, b
    # two scalars (e.g. ember.add(2, 3)): make the first a tensor (on the default device)
    return scalar_tensor(a, dtype=D.result_type(a, b)), b


# torch reads a Python int operand as a 64-bit C integer: signed or, above, unsigned
_I64_MIN, _U64_END, _I64 = -(1 << 63), 1 << 64, np.dtype(np.int64)


def to_float(t):
    """Integer/bool tensors become the default float dtype (for exp, log, ...)."""
    if _isf(t._data.dtype):
        return t
    return cast(t, D.get_default_dtype())


def ensure_tensor(x, name="input"):
    if isinstance(x, TensorBase):
        return x
    if _is_array(x):
        return _wrap(x)
    if isinstance(x, (np.generic, bool, int, float, complex)):
        return scalar_tensor(x, dtype=D.result_type(x))
    raise TypeError(f"{name} (argument 1) must be Tensor, not {type(x).__name__}")


def norm_dim(dim, ndim):
    return _dim(dim, ndim)


def norm_dims(dim, ndim):
    """dim argument (None, int, or sequence) -> sorted tuple of non-negative axes,
    or None for all."""
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):
        return (_dim(int(dim), ndim),)
    dims = tuple(_dim(int(d), ndim) for d in dim)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return tuple(sorted(dims))


def check_broadcast(a_shape, b_shape):
    """Raise torch's message when two shapes don't broadcast."""
    try:
        return np.broadcast_shapes(a_shape, b_shape)  # host (shapes, not data)
    except ValueError:
        # find the first failing dim from the right, as torch reports it
        la, lb = len(a_shape), len(b_shape)
        for i in range(1, max(la, lb) + 1):
            x = a_shape[-i] if i <= la else 1
            y = b_shape[-i] if i <= lb else 1
            if x != y and x != 1 and y != 1:
                nd = max(la, lb) - i
                raise RuntimeError(
                    f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                    f"non-singleton dimension {nd}") from None
        raise
