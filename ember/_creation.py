"""Tensor factories: tensor, as_tensor, from_numpy, zeros/ones/full/empty,
arange, linspace, logspace, eye, and their ``_like`` forms."""
import math

import numpy as np

from . import _dtype as D
from ._errors import not_a_tensor, allocates
from . import backends as _backends
from ._tensor_base import TensorBase, _wrap, _check_device, _index_of, get_default_device, _DEFAULT, \
    _type_name, _on_device

_pyscalar = (bool, int, float)


def _to_array(data):
    """Python data -> ndarray, unwrapping Tensors nested in lists."""
    if isinstance(data, TensorBase):
        return data.numpy(force=True)    # (a device's tensor: its host copy, as torch reads it)
    if isinstance(data, (list, tuple)):
        if any(isinstance(x, TensorBase) for x in data):
            return np.stack([_to_array(x) for x in data]) if data else np.array(data)
        if data and isinstance(data[0], (list, tuple)):
            return np.array([_to_array(x) for x in data]) if any(
                isinstance(y, TensorBase) for x in data for y in (x if isinstance(x, (list, tuple)) else ())) \
                else np.array(data)
    return np.asarray(data)


def _infer_dtype(arr):
    k = arr.dtype.kind
    if k == "f":
        return D.get_default_dtype() if arr.dtype == np.float64 and not isinstance(arr, np.ndarray) \
            else D.get_default_dtype()
    if k == "b":
        return D.bool
    if k in "iu":
        return D.int64
    if k == "c":       # (Python complex numbers: the default dtype's complex, as torch)
        return D.get_default_dtype().to_complex()
    if k in "US":
        raise TypeError("new(): invalid data type 'str'")
    if k == "O":
        raise RuntimeError(f"Could not infer dtype of "
                           f"{type(arr.flat[0]).__name__ if arr.size else 'object'}")
    raise TypeError(f"unsupported data type {arr.dtype}")


@allocates
def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (scalar, nested lists, ndarray, Tensor).

    dtype inference as torch: Python floats -> default dtype, ints -> int64,
    bools -> bool; an ndarray keeps its own dtype.
    """
    _check_device(device)
    t = type(data)
    if t is float:
        dt = (D.to_dtype(dtype, "tensor") or D.get_default_dtype()).np
        arr = np.array(D.checked_scalar(data, dt, fill=False, check_floats=False), dtype=dt)
    elif t is int:
        if not -2 ** 63 <= data < 2 ** 63:
            raise ValueError(f"Overflow when unpacking long long: {data} does not fit in int64")
        dt = (D.to_dtype(dtype, "tensor") or D.int64).np
        arr = np.array(D.checked_scalar(data, dt, fill=False, check_floats=False), dtype=dt)
    elif _on_device(data):
        # a device's array (CuPy's): copied on that device, as torch.tensor copies an
        # array with __cuda_array_interface__ (np.array would refuse it there)
        dt = D.to_dtype(dtype, "tensor") if dtype is not None else D.from_numpy_dtype(data.dtype)
        if device is None and _DEFAULT[0] is None:
            device = _wrap(data).device
        arr = np.array(_backends.backend_of(data).to_host(data), dtype=dt.np)
    elif isinstance(data, np.ndarray):
        dt = D.to_dtype(dtype, "tensor") if dtype is not None else D.from_numpy_dtype(data.dtype)
        arr = np.array(data, dtype=dt.np)
    elif isinstance(data, TensorBase):
        dt = D.to_dtype(dtype, "tensor") if dtype is not None else data.dtype
        if device is None and _DEFAULT[0] is None:
            device = data.device        # (torch: a tensor's copy stays on its device)
        arr = np.array(data.numpy(force=True), dtype=dt.np)
    else:
        try:
            raw = _to_array(data)
        except ValueError:
            msg = _ragged(data)
            if msg is None:
                raise
            raise ValueError(msg) from None
        if isinstance(data, np.generic):
            dt = D.from_numpy_dtype(raw.dtype)
        elif raw.dtype.kind in "iu" and isinstance(data, (list, tuple)) and _has_numpy_items(data):
            dt = D.from_numpy_dtype(raw.dtype)
        else:
            dt = _infer_dtype(raw)
        if dtype is not None:
            dt = D.to_dtype(dtype, "tensor")
            if not isinstance(data, np.generic):
                D.check_array_fits(raw, dt.np)     # (torch refuses [300] as uint8)
        try:
            arr = np.array(raw, dtype=dt.np)
        except OverflowError:  # a Python int beyond int64
            raise ValueError("Overflow when unpacking long long") from None
    return _finish(arr, requires_grad, device)


def _nested_shape(x):
    return (len(x),) + (_nested_shape(x[0]) if x else ()) if isinstance(x, (list, tuple)) else ()


def _ragged(data, dim=0, expect=None):
    """torch's message for a ragged nested sequence (None if it isn't one)."""
    if expect is None:
        expect = _nested_shape(data)
    is_seq = isinstance(data, (list, tuple))
    if not expect:
        return (f"expected a number at dim {dim} (got a sequence of length {len(data)})"
                if is_seq else None)
    if not is_seq:
        return f"expected sequence of length {expect[0]} at dim {dim} (got a number)"
    if len(data) != expect[0]:
        return f"expected sequence of length {expect[0]} at dim {dim} (got {len(data)})"
    for x in data:
        msg = _ragged(x, dim + 1, expect[1:])
        if msg:
            return msg
    return None


def _has_numpy_items(data):
    x = data
    while isinstance(x, (list, tuple)) and x:
        x = x[0]
    return isinstance(x, np.generic)


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with an ndarray/Tensor when no cast is
    needed and it is on the device asked for (``device``, else a tensor's own,
    else the default device); otherwise a copy there."""
    b = _check_device(device)
    t = _as_tensor_here(data, dtype)
    if device is None and (b is None or isinstance(data, TensorBase)):
        return t
    return t.to(device if device is not None else get_default_device())


def _as_tensor_here(data, dtype):
    dt = D.to_dtype(dtype, "as_tensor") if dtype is not None else None
    if isinstance(data, TensorBase):
        return data if dt is None or dt.np == data._data.dtype else data.to(dt)
    if isinstance(data, np.ndarray) or _backends.is_array(data):   # (a CuPy array too: shared)
        if dt is None:
            D.from_numpy_dtype(data.dtype)
            return _wrap(data)
        return _wrap(data if data.dtype == dt.np else data.astype(dt.np))
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing memory with ``ndarray`` (changes show in both)."""
    if not isinstance(ndarray, np.ndarray) or _on_device(ndarray):
        raise TypeError(f"expected np.ndarray (got {_type_name(ndarray)})")
    D.from_numpy_dtype(ndarray.dtype)
    return _wrap(ndarray)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, TensorBase):
            s = s.item()
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"expected a sequence of integers for size, but got {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    n = 1
    for s in out:
        n *= s
    if n >= _MAX_NUMEL:      # (NumPy would raise a ValueError, "array is too big")
        raise RuntimeError(f"Storage size calculation overflowed with sizes={out}")
    return tuple(out)


# Elements past which a tensor's byte size (of Ember's widest dtypes, 8 bytes) overflows
# int64, where torch refuses the size before allocating.
_MAX_NUMEL = 2 ** 60


def _finish(arr, requires_grad, device=None):
    """Wrap a new host array as a tensor on ``device`` (the default device when None)."""
    b = _check_device(device)
    t = _wrap(arr if b is None else _from_host_at(b, arr, device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _from_host_at(b, arr, device):
    """``arr`` copied to backend ``b``, on the device number ``device`` names
    ("cuda:1"; the current device when it names none)."""
    with _backends.placed(b, _index_of(device, b)):
        return b.from_host(arr)


def _made(device, make, requires_grad):
    """The tensor ``make(xp)`` builds (zeros, ones, empty) on ``device`` (the
    default device when None): on a backend with numbered devices (CUDA)
    built there directly, no host array and copy; elsewhere built on the
    host and moved (``_finish``)."""
    b = _check_device(device)
    if b is None or b.runtime is None:
        return _finish(make(np), requires_grad, device)
    with _backends.placed(b, _index_of(device, b)):
        t = _wrap(make(b.xp))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _like_device(input, device):
    """``*_like`` factories put the result on the input's device unless told."""
    return device if device is not None else input.device


def _float_dt(dtype, fn):
    return (D.to_dtype(dtype, fn) or D.get_default_dtype()).np


def _size_arg(args, size, name):
    """The shape a factory was given: positionally (``zeros(2, 3)``,
    ``zeros((2, 3))``) or as torch's keyword (``zeros(size=(2, 3))``)."""
    if size is None:
        return _size(args)
    if args:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{name}(): argument 'size' must be tuple of ints, not "
                        f"{type(size).__name__}")
    return _size((size,))


@allocates
def zeros(*args, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False):
    _check_device(device)
    shape, dt = _size_arg(args, size, "zeros"), _float_dt(dtype, "zeros")
    return _made(device, lambda xp: xp.zeros(shape, dtype=dt), requires_grad)


@allocates
def ones(*args, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False):
    _check_device(device)
    shape, dt = _size_arg(args, size, "ones"), _float_dt(dtype, "ones")
    return _made(device, lambda xp: xp.ones(shape, dtype=dt), requires_grad)


@allocates
def empty(*args, size=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None):
    _check_device(device)
    shape, dt = _size_arg(args, size, "empty"), _float_dt(dtype, "empty")
    return _made(device, lambda xp: xp.empty(shape, dtype=dt), requires_grad)


@allocates
def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """Filled with ``fill_value``; dtype inferred from it (bool/int64/default float)."""
    _check_device(device)
    if isinstance(fill_value, TensorBase):
        fill_value = fill_value.item()
    try:
        if dtype is None:
            dt = D.result_type(fill_value)
        else:
            dt = D.to_dtype(dtype, "full")
        shape = _size((size,) if isinstance(size, int) else (size,))
        arr = np.full(shape, D.checked_fill(fill_value, dt.np, math.prod(shape)), dtype=dt.np)
    except (TypeError, ValueError):
        # (only now, on the error path: a fill value that is not a number)
        if not isinstance(fill_value, (int, float, bool, complex, np.generic)):
            raise TypeError(f"full(): argument 'fill_value' (position 2) must be Number, not "
                            f"{type(fill_value).__name__}") from None
        raise
    return _finish(arr, requires_grad, device)


def _like_dtype(input, dtype, name="zeros_like"):
    if not isinstance(input, TensorBase):
        raise not_a_tensor(name, "input", input, 1)
    return D.to_dtype(dtype, name).np if dtype is not None else input._data.dtype


@allocates
def zeros_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device)
    dt = _like_dtype(input, dtype, "zeros_like")
    dev = _like_device(input, device)
    return _made(dev, lambda xp: xp.zeros(input._data.shape, dtype=dt), requires_grad)


@allocates
def ones_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device)
    dt = _like_dtype(input, dtype, "ones_like")
    dev = _like_device(input, device)
    return _made(dev, lambda xp: xp.ones(input._data.shape, dtype=dt), requires_grad)


@allocates
def empty_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    _check_device(device)
    dt = _like_dtype(input, dtype, "empty_like")
    dev = _like_device(input, device)
    return _made(dev, lambda xp: xp.empty(input._data.shape, dtype=dt), requires_grad)


@allocates
def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    _check_device(device)
    dt = _like_dtype(input, dtype, "full_like")
    if not isinstance(fill_value, (int, float, bool, complex, np.generic, TensorBase)):
        raise TypeError(f"full_like(): argument 'fill_value' (position 2) must be Number, not "
                        f"{type(fill_value).__name__}")
    if isinstance(fill_value, TensorBase):
        fill_value = fill_value.item()
    return _finish(np.full(input._data.shape, D.checked_fill(fill_value, dt, input._data.size), dtype=dt),
                   requires_grad, _like_device(input, device))


def _num(x):
    return x.item() if isinstance(x, TensorBase) else x


@allocates
def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    """[start, end) by step; int64 when all arguments are ints, else default float."""
    if type(start) is int and type(end) is int and type(step) is int and dtype is None \
            and step and (end - start) * step >= 0:
        # Python ints (positions in a decoding loop, every token): NumPy's own
        # int64 arange gives the same values, without the general path's checks
        return _finish(np.arange(start, end, step, dtype=np.int64), requires_grad, device)
    _check_device(device)
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                     for v in (start, end, step))
        dt = D.int64 if is_int else D.get_default_dtype()
    else:
        dt = D.to_dtype(dtype, "arange")
    n = max(0, math.ceil((end - start) / step))
    # Compute in float64 (or int64) then cast, as torch does, so the count
    # and values don't depend on float32 rounding of the bounds.
    if dt.is_floating_point:
        arr = (start + step * np.arange(n, dtype=np.float64)).astype(dt.np)
    else:
        arr = (start + step * np.arange(n, dtype=np.int64)).astype(dt.np)
    return _finish(arr, requires_grad, device)


@allocates
def range_(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Deprecated torch.range: includes ``end``; default float."""
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    dt = D.to_dtype(dtype, "range") or D.get_default_dtype()
    return _finish((start + step * np.arange(n, dtype=np.float64)).astype(dt.np), requires_grad, device)


@allocates
def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _check_device(device)
    start, end = _num(start), _num(end)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    dt = D.to_dtype(dtype, "linspace") or D.get_default_dtype()
    arr = np.linspace(start, end, int(steps), dtype=np.float64)
    if not dt.is_floating_point:
        arr = np.trunc(arr)
    return _finish(arr.astype(dt.np), requires_grad, device)


@allocates
def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _check_device(device)
    dt = D.to_dtype(dtype, "logspace") or D.get_default_dtype()
    if int(steps) < 0:
        raise RuntimeError(f"number of steps must be non-negative, got steps={steps}")
    arr = np.power(float(base), np.linspace(_num(start), _num(end), int(steps), dtype=np.float64))
    return _finish(arr.astype(dt.np), requires_grad, device)


@allocates
def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    _check_device(device)
    if n < 0 or (m is not None and m < 0):
        raise RuntimeError(f"n must be greater or equal to 0, got {n if n < 0 else m}")
    return _finish(np.eye(n, n if m is None else m, dtype=_float_dt(dtype, "eye")), requires_grad, device)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    if not isinstance(s, (int, float, bool, np.generic)) and not (
            isinstance(s, TensorBase) and s._data.size == 1):
        raise TypeError(f"scalar_tensor(): argument 's' (position 1) must be Number, not "
                        f"{type(s).__name__}")
    if isinstance(s, TensorBase):
        s = s.item()
    dt = _float_dt(dtype, "scalar_tensor")
    return _finish(np.array(D.checked_fill(s, dt, 1), dtype=dt), requires_grad, device)


# ---- Tensor.new_*: new tensors with this one's dtype and device ----------------------------

def _new_opts(self, dtype, device):
    dt = D.to_dtype(dtype) if dtype is not None else self.dtype
    return dt, (device if device is not None else self.device)


def new_zeros(self, *args, size=None, dtype=None, device=None, requires_grad=False, layout=None,
              pin_memory=False):
    """Zeros of the given size, with this tensor's dtype and device unless told."""
    dt, dev = _new_opts(self, dtype, device)
    return zeros(_size_arg(args, size, "new_zeros"), dtype=dt, device=dev,
                 requires_grad=requires_grad)


def new_ones(self, *args, size=None, dtype=None, device=None, requires_grad=False, layout=None,
             pin_memory=False):
    """Ones of the given size, with this tensor's dtype and device unless told."""
    dt, dev = _new_opts(self, dtype, device)
    return ones(_size_arg(args, size, "new_ones"), dtype=dt, device=dev,
                requires_grad=requires_grad)


def new_empty(self, *args, size=None, dtype=None, device=None, requires_grad=False, layout=None,
              pin_memory=False):
    """Uninitialised, of the given size, with this tensor's dtype and device unless told."""
    dt, dev = _new_opts(self, dtype, device)
    return empty(_size_arg(args, size, "new_empty"), dtype=dt, device=dev,
                 requires_grad=requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
             pin_memory=False):
    """Filled with ``fill_value``, with this tensor's dtype (not the value's) and device."""
    dt, dev = _new_opts(self, dtype, device)
    return full(size, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None,
               pin_memory=False):
    """A copy of ``data`` with this tensor's dtype and device unless told (torch
    does not infer the dtype from data here)."""
    dt, dev = _new_opts(self, dtype, device)
    if isinstance(data, TensorBase):
        data = data.detach()
    return tensor(data, dtype=dt, device=dev, requires_grad=requires_grad)
