"""Turning a list of samples into a batch (torch.utils.data._utils.collate).

``default_collate`` stacks along a new first dimension, recursively:

* Ember tensors -> one stacked tensor (sizes must agree);
* NumPy arrays -> a stacked tensor; NumPy scalars -> a 1-d tensor of their dtype;
* Python floats -> float64 tensor; ints -> int64 tensor; bools -> bool tensor;
* str / bytes -> the list unchanged;
* mappings -> the same mapping type with each key collated;
* named tuples -> the same named tuple type with each field collated;
* other sequences (tuples included) -> transposed and collated per position
  (a tuple sample gives a *list* of batched fields, as in torch).

``default_convert`` does the non-batching part only (NumPy -> tensors) and is
what the DataLoader uses when ``batch_size=None``.
"""
import collections.abc
import copy
import re

import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor
from ..._tensor_base import _wrap
from ...autograd.grad_mode import state as _gm

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]

# NumPy dtypes strings/bytes/objects cannot become tensors
_np_str_obj = re.compile(r"[SaUO]")

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _check_same_shape(shapes):
    first = shapes[0]
    for i, s in enumerate(shapes):
        if s != first:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(first)} at entry 0 and {list(s)} at entry {i}")


def _stack_arrays(arrays):
    """np.stack with torch's dtype promotion and a native byte order."""
    _check_same_shape([a.shape for a in arrays])
    dt = arrays[0].dtype
    if any(a.dtype != dt for a in arrays):
        dt = arrays[0].dtype
        for a in arrays[1:]:
            dt = D._promote_np(D.from_numpy_dtype(dt).np, D.from_numpy_dtype(a.dtype).np).np
        out = np.stack(arrays, dtype=dt)
    else:
        out = np.stack(arrays)
    if not out.dtype.isnative:
        out = out.astype(out.dtype.newbyteorder("="))
    D.from_numpy_dtype(out.dtype)  # unsupported dtypes raise a clear TypeError
    return out


def collate_tensor_fn(batch, *, collate_fn_map=None):
    if (_gm.enabled and any(t.requires_grad for t in batch)) or \
            any(t.device.type != "cpu" for t in batch):
        # Keep the batch in the autograd graph, and on the samples' device
        # (whose arrays NumPy may not handle), as torch.stack would.
        from ... import stack
        _check_same_shape([t._data.shape for t in batch])
        return stack(list(batch), 0)
    return _wrap(_stack_arrays([t._data for t in batch]))


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    elem = batch[0]
    if _np_str_obj.search(elem.dtype.str) is not None:
        raise TypeError(_ERR.format(elem.dtype))
    return _wrap(_stack_arrays([np.asarray(b) for b in batch]))


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    from ... import as_tensor
    arr = np.array(batch)
    if arr.dtype.kind in "SaUO":
        raise TypeError(_ERR.format(arr.dtype))
    return as_tensor(arr)


def collate_float_fn(batch, *, collate_fn_map=None):
    from ... import tensor, float64
    return tensor(batch, dtype=float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    from ... import tensor
    return tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch, *, collate_fn_map=None):
    """Collate ``batch`` (a list of samples) using ``collate_fn_map``: a dict
    from a type (or tuple of types) to ``fn(batch, *, collate_fn_map)``, looked
    up by exact type first, then by isinstance in insertion order; containers
    are handled here and recurse."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        fn = collate_fn_map.get(elem_type)
        if fn is not None:
            return fn(batch, collate_fn_map=collate_fn_map)
        for typ, fn in collate_fn_map.items():
            if isinstance(elem, typ):
                return fn(batch, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        fields = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                  for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                # a shallow copy keeps the mapping's type and any attributes
                out = copy.copy(elem)
                out.update(fields)
                return out
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # named tuple
        return elem_type(*(collate(list(s), collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [collate(list(s), collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                out = copy.copy(elem)
                for i, c in enumerate(columns):
                    out[i] = c
                return out
            return elem_type(columns)
        except TypeError:
            return columns
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch):
    """Stack a list of samples into a batch; see the module docstring."""
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data):
    """NumPy arrays/scalars inside ``data`` become tensors; everything else is
    kept (tuples become lists, as in torch).  No batch dimension is added."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "bytes_", "string_"):
        if isinstance(data, np.ndarray) and _np_str_obj.search(data.dtype.str) is not None:
            return data
        from ... import as_tensor
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        fields = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                out = copy.copy(data)
                out.update(fields)
                return out
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        items = [default_convert(d) for d in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                out = copy.copy(data)
                for i, d in enumerate(items):
                    out[i] = d
                return out
            return elem_type(items)
        except TypeError:
            return items
    return data
