"""DLPack exchange (torch.utils.dlpack): tensors cross to and from NumPy, torch, JAX
and any other DLPack library without a copy.

Ember's CPU tensors hold NumPy arrays, so both directions go through NumPy's DLPack
support: ``from_dlpack`` is ``numpy.from_dlpack`` wrapped as a tensor (sharing the
producer's memory), and ``Tensor.__dlpack__`` is the array's own export.  What NumPy's
DLPack cannot carry Ember cannot either: bfloat16.  On a GPU, CUDA tensors cross the
same way through CuPy's DLPack (``from_dlpack`` of a CUDA array, ``__dlpack__`` with
the consumer's ``stream``).
"""
import numpy as np

from .. import _dtype as D
from .._dlpack_device import DLDeviceType
from .._tensor_base import TensorBase, _wrap, _cuda_backend

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


def to_dlpack(tensor):
    """A DLPack capsule over ``tensor``'s memory (the legacy interface: pass it to one
    ``from_dlpack``, once)."""
    if not isinstance(tensor, TensorBase):
        raise TypeError(f"to_dlpack(): argument 'tensor' must be Tensor, not "
                        f"{type(tensor).__name__}")
    return tensor.__dlpack__()


class _Capsule:
    """Gives a bare capsule (from a legacy ``to_dlpack``) the protocol NumPy consumes."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        capsule, self.capsule = self.capsule, None      # (a capsule is consumed once)
        if capsule is None:
            raise BufferError("this DLPack capsule was already consumed")
        return capsule

    def __dlpack_device__(self):
        return (DLDeviceType.kDLCPU, 0)                 # (a non-CPU capsule fails in NumPy)


class _WritableView:
    """The same memory as ``arr``, writable; holds ``arr`` (and so the capsule's owner)."""

    def __init__(self, arr):
        self.arr = arr
        iface = dict(arr.__array_interface__)
        iface["data"] = (iface["data"][0], False)          # (pointer, read-only flag)
        self.__array_interface__ = iface


def _is_capsule(x):
    return type(x).__name__ == "PyCapsule"


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor sharing ``ext_tensor``'s memory: any object with ``__dlpack__`` (a NumPy
    array, a torch or JAX CPU array, an Ember tensor) or a capsule from ``to_dlpack``.
    ``copy=True`` copies; ``device`` may name a device to move the result to."""
    if hasattr(ext_tensor, "__dlpack__"):
        src = ext_tensor
        where = getattr(ext_tensor, "__dlpack_device__", None)
        if where is not None:
            kind = int(where()[0])
            if kind == DLDeviceType.kDLCUDA and _cuda_backend() is not None:
                # (a GPU array, CuPy's or torch's: imported by the CUDA backend's array
                # library, sharing its memory)
                arr = _cuda_backend().xp.from_dlpack(src)
                return _finish(arr.copy() if copy else arr, device)
            if kind not in (DLDeviceType.kDLCPU, DLDeviceType.kDLCUDAHost):
                name = (DLDeviceType(kind).name if kind in DLDeviceType._value2member_map_
                        else str(kind))
                raise BufferError(f"from_dlpack: the array lives on a {name} device, which "
                                  f"Ember cannot use here (move it to the CPU first)")
    elif _is_capsule(ext_tensor):
        if device is not None or copy is not None:
            raise AssertionError("device and copy kwargs not supported when ext_tensor is "
                                 "already a DLPack capsule.")
        src = _Capsule(ext_tensor)
    else:
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack "
                        f"capsule, got {type(ext_tensor).__name__}")
    try:
        arr = np.from_dlpack(src, copy=copy) if copy is not None else np.from_dlpack(src)
    except (BufferError, TypeError, ValueError, RuntimeError) as e:
        raise BufferError(f"from_dlpack: cannot import this array through DLPack ({e})") from None
    if src is not ext_tensor and not arr.flags.writeable:
        # NumPy marks arrays from legacy (unversioned) capsules read-only, as that
        # format cannot say whether writing is allowed; torch treats them as writable
        arr = np.asarray(_WritableView(arr))
    return _finish(arr, device)


def _finish(arr, device):
    """The imported array as a tensor (moved to ``device`` when one is named)."""
    try:
        D.from_numpy_dtype(arr.dtype)
    except TypeError:
        raise TypeError(f"from_dlpack: arrays of dtype {arr.dtype} have no Ember "
                        f"dtype") from None
    t = _wrap(arr)
    if device is not None:
        t = t.to(device)
    return t
