"""TensorBase: what a tensor *is*: an array plus the autograd fields torch keeps beside it.

The array lives in ``_data`` (``.data`` is torch's detached alias, a Tensor).
This is the bottom layer: autograd and every op import it, and it imports
none of them.  What a tensor *does* (``x.add(y)``, ``x.sum()``, ``x @ y``) is
ember.ops; ``ember.Tensor`` (_tensor.py) is this class plus those methods,
defined above ops, so the layers import downward only:

    _tensor_base -> autograd -> ops -> _tensor -> nn, optim ...

Ops make their results with ``_wrap``, as instances of ``ember.Tensor``, which
registers itself here when it loads (``_register_tensor_class``), as torch's
Python Tensor class does with its C++ core.
"""
import mmap as _mmap
import os as _os
import weakref as _weakref

import numpy as np

from . import _dtype as D
from . import backends as _backends
from . import _bfloat16 as _bf16
from .backends import ARRAY_TYPES as _ARRAY_TYPES, asarray as _asarray
from ._printing import tensor_repr as _tensor_repr
from ._dlpack_device import DLDeviceType
from . import _layout
from .backends._sparse import SparseData as _SparseData

_LAYOUTS = {"sparse_coo": _layout.sparse_coo, "sparse_csr": _layout.sparse_csr}

_new = object.__new__


class Size(tuple):
    """A tensor shape: a tuple that prints as ``ember.Size([2, 3])``."""

    def __repr__(self):
        return f"ember.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class device:
    """Where a tensor lives: a type ('cpu', 'cuda') and, for numbered devices,
    an index (``device('cuda:0')``, ``device('cuda', 0)``, ``device(0)``)."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool) and index is None:
            # torch.device(0): device 0 of the accelerator (CUDA here), when there is one
            type, index = _accelerator_type(), type
        if not isinstance(type, str):
            raise TypeError(f"device() expected a string like 'cpu', got {type!r}")
        if ":" in type:
            type, idx = type.split(":", 1)
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}:{idx}'")
            index = int(idx)
        if type not in ("cpu", "cuda", "mps", "meta") and _backends.get(type) is None:
            raise RuntimeError(f"Expected one of cpu, cuda, mps, meta device type at start of "
                               f"device string: {type}")
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool):
                raise TypeError(f"device(): argument 'index' (position 2) must be int, not "
                                f"{_type_name(index)}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
        self.type, self.index = type, index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"


_CPU = device("cpu")
_DEFAULT = _backends.DefaultBackend()  # the default device's backend for factories (per thread); None: the CPU


def _accelerator_type():
    """The device type a bare device number means (torch's "accelerator"): 'cuda'
    when CUDA is available; torch's error otherwise."""
    if _cuda_backend() is None:
        raise RuntimeError("Cannot access accelerator device when none is available.")
    return "cuda"


def _cuda_backend():
    """The "cuda" backend, registering it (importing CuPy) on first use; None
    when unavailable."""
    b = _backends.get("cuda")
    if b is None:
        from .backends import gpu
        b = gpu.load()
    return b


def _backend_for(dev):
    """The Backend of device ``dev`` (None, a string, an int or a device);
    None means the CPU.  An accelerator that is not available raises, as
    torch does; so does a device number past the device count."""
    if dev is None or dev is _CPU:
        return None
    d = dev if isinstance(dev, device) else device(dev)
    if d.type == "cpu" or d.type == "meta":
        return None
    b = _backends.get(d.type)
    if b is None:
        if d.type == "cuda":
            b = _cuda_backend()
        if b is None:
            raise DeviceUnavailableError(_unavailable(d))
    if d.index is not None and b.runtime is not None:
        _check_index(b, d)
    return b


def _unavailable(d):
    if d.type == "cuda":
        from .backends import gpu
        return f"device '{d}' is not available (ember.cuda.is_available() is False): {gpu.why()}"
    return f"device '{d}' is not available: Ember has no {d.type} backend"


def _check_index(b, d):
    n = b.runtime.device_count()
    if d.index >= n:
        raise RuntimeError(f"CUDA error: invalid device ordinal (device '{d}' was asked for; "
                           f"{n} {d.type} device{'s are' if n != 1 else ' is'} visible)")


def _index_of(dev, b):
    """The device number ``dev`` names on backend ``b`` (which numbers its
    devices), or None when it names none (then: the current device)."""
    if isinstance(dev, device):
        return dev.index
    if isinstance(dev, int):
        return dev
    if isinstance(dev, str) and ":" in dev:
        return device(dev).index
    return None


def _check_device(dev):
    """The Backend a factory's ``device=`` names (the default device when
    None); None for the CPU."""
    if dev is None:
        return _DEFAULT[0]
    return _backend_for(dev)


def set_default_device(dev):
    """Where factories (``zeros``, ``tensor``, ``randn`` ...) put new tensors
    when no ``device=`` is given (torch.set_default_device)."""
    _DEFAULT[0] = None if dev is None else _backend_for(dev)


def get_default_device():
    b = _DEFAULT[0]
    if b is None:
        return _CPU
    if b.runtime is not None:       # (torch: cuda's current device, as an index)
        return _numbered_device(b.name, b.runtime.current_device())
    return _device_of_backend(b)


_DEVICES = {}


def _device_of_backend(b):
    d = _DEVICES.get(b.name)
    if d is None:
        d = _DEVICES[b.name] = device(b.name)
    return d


def _numbered_device(name, index):
    key = (name, index)
    d = _DEVICES.get(key)
    if d is None:
        d = _DEVICES[key] = device(name, index)
    return d


def _device_of_array(d):
    """The device of a backend array: numbered (cuda:0) where its backend numbers devices."""
    b = _backends.backend_of(d)
    rt = b.runtime
    if rt is None:
        return _device_of_backend(b)
    return _numbered_device(b.name, rt.index_of(d))


class DeviceUnavailableError(RuntimeError, AssertionError):
    """Asking for an accelerator.  A RuntimeError, and an AssertionError as
    a CPU-only torch build raises ("Torch not compiled with CUDA enabled")."""


def _wrap(arr, grad_fn=None, out_nr=0):
    """Fast constructor: wrap an array (a NumPy scalar becomes 0-d) in an ember.Tensor."""
    t = _new(Tensor)
    if type(arr) is not np.ndarray and type(arr) not in _ARRAY_TYPES:
        arr = np.asarray(arr)
    t._data = arr
    t.grad_fn = grad_fn
    t.requires_grad = grad_fn is not None
    t._vc = [0]
    if out_nr:
        t._out_nr = out_nr
    return t


def _wrap_view(arr, src):
    """Wrap ``arr``, a NumPy view of ``src``'s data, sharing its version counter."""
    t = _wrap(arr)
    t._vc = src._vc
    t._base = src if src._base is None else src._base
    return t


class TensorBase:
    """A tensor's data and autograd state; ``ember.Tensor`` adds the methods."""

    # Hot fields are slots; rarely set ones are class-level defaults that an
    # instance overrides in its (lazily created) __dict__, so making a tensor
    # costs four attribute stores.
    __slots__ = ("_data", "requires_grad", "grad_fn", "_vc", "__dict__", "__weakref__")
    _grad = None         # .grad, checked when assigned (see the property)
    _out_nr = 0          # which output of grad_fn this tensor is
    _base = None         # for views: the tensor whose memory this one shares
    _hooks = None        # gradient hooks of a leaf
    _accum = None        # weakref to a leaf's AccumulateGrad node, made on first use
    _post_acc_hooks = None
    _views = None        # weak refs to views that may require grad, for in-place rebasing

    # NumPy must hand mixed expressions (ndarray * Tensor) to Tensor's
    # reflected operators rather than converting the tensor.
    __array_priority__ = 1000

    def __new__(cls, *args, **kwargs):
        return _new(cls)

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        """``Tensor(2, 3)`` is uninitialised (default dtype); ``Tensor(data)``
        copies data as the default float dtype, like torch's legacy constructor."""
        # (torch's legacy constructor makes CPU tensors whatever the default device)
        backend = None if device is None else _backend_for(device)
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        if len(args) == 0:
            arr = np.empty((0,), dtype=dt.np)
        elif all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            arr = np.empty(tuple(int(a) for a in args), dtype=dt.np)
        elif len(args) == 1 and isinstance(args[0], (tuple, Size)) and all(isinstance(a, int) for a in args[0]) \
                and isinstance(args[0], Size):
            arr = np.empty(tuple(args[0]), dtype=dt.np)
        elif len(args) == 1:
            src = args[0]
            arr = np.array(src.numpy(force=True) if isinstance(src, TensorBase) else src, dtype=dt.np)
        else:
            raise TypeError(f"Tensor(): invalid arguments {args!r}")
        self._data = arr if backend is None else backend.from_host(arr)
        self.grad_fn = None
        self.requires_grad = False
        self._vc = [0]
        if requires_grad:
            self.requires_grad_(True)

    # ---- metadata -----------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim)]

    @property
    def dtype(self):
        return D._FROM_NP[self._data.dtype]

    @property
    def device(self):
        d = self._data
        if type(d) is np.ndarray:
            return _CPU
        return _device_of_array(d)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    @property
    def is_meta(self):
        return False

    # Devices Ember has no backend for: a tensor is never on one.
    is_xpu = is_mps = is_xla = is_ipu = is_mtia = is_maia = is_vulkan = is_mkldnn = property(
        lambda self: False, doc="False: Ember has no such device.")

    @property
    def is_nested(self):
        return False

    @property
    def is_sparse_csr(self):
        d = self._data
        return type(d) is _SparseData and d.layout == "sparse_csr"

    @property
    def is_sparse(self):
        """True for a COO sparse tensor (as torch's; a CSR one is ``is_sparse_csr``)."""
        d = self._data
        return type(d) is _SparseData and d.layout == "sparse_coo"

    @property
    def is_quantized(self):
        return False

    @property
    def layout(self):
        d = self._data
        return _LAYOUTS[d.layout] if type(d) is _SparseData else _layout.strided

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return self._data.size

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    def is_floating_point(self):
        dt = self._data.dtype
        return dt.kind == "f" or dt is _bf16.state.dtype

    def is_complex(self):
        return self._data.dtype.kind == "c"

    def is_signed(self):
        return self.dtype.is_signed

    def stride(self, dim=None):
        isz = self._data.itemsize
        st = tuple(s // isz for s in self._data.strides)
        return st if dim is None else st[_dim(dim, self._data.ndim)]

    def is_contiguous(self, memory_format=None):
        return self._data.flags.c_contiguous

    def data_ptr(self):
        return _address(self._data)

    def storage_offset(self):
        off = self.data_ptr() - _address(_owner(self._data))
        return off // self._data.itemsize

    def untyped_storage(self):
        return _Storage(_owner(self._data))

    @property
    def _version(self):
        return self._vc[0]

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def output_nr(self):
        return self._out_nr

    @property
    def data(self):
        """A tensor sharing this one's memory, detached from the graph and
        invisible to the version counter (torch's ``.data``)."""
        return _wrap(self._data)

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, TensorBase) else _asarray(value)

    # ---- conversion -------------------------------------------------------------
    def numpy(self, *, force=False):
        """The underlying array, sharing memory (torch refuses when grad is
        required; so does Ember unless ``force=True``)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        d = self._data
        if d.dtype is _bf16.state.dtype and d.dtype is not None and not force:
            # (as torch: NumPy has no bfloat16.  force=True, Ember's own use, gives the
            # ml_dtypes array)
            raise TypeError("Got unsupported ScalarType BFloat16")
        if type(d) is np.ndarray:
            return d
        b = _backends.backend_of(d)       # (force: a copy to the host, as torch's .cpu())
        if not b.host and not force:
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        return b.to_host(d)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        d = self._data
        if d.dtype is _bf16.state.dtype:    # (a Python float, as torch: not ml_dtypes' scalar)
            d = d.astype(np.float32)
        return d.reshape(()).item()

    def tolist(self):
        d = self._data
        return (d if d.dtype is not _bf16.state.dtype else d.astype(np.float32)).tolist()

    def __array__(self, dtype=None, copy=None):
        d = self._data
        if type(d) is not np.ndarray and _on_device(d):    # (torch's numpy() refusal)
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        if dtype is not None and dtype != d.dtype:
            return d.astype(dtype)
        return d

    # DLPack: the array's own export, so consumers (NumPy, torch, JAX) share its memory
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule over this tensor's memory (torch's Tensor.__dlpack__; CPU
        tensors take ``stream`` None or -1).  A tensor requiring grad is refused, as torch
        refuses it: the consumer would lose the graph."""
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        if stream is not None and type(stream) is not int:
            raise TypeError("stream must be ``int`` or ``none``")
        d = self._data
        on_device = type(d) is not np.ndarray and _on_device(d)
        if stream is not None and stream != -1 and not on_device:
            raise AssertionError("stream should be None on cpu.")      # (torch's type)
        if not hasattr(d, "__dlpack__"):
            raise BufferError(f"tensors on {self.device} cannot be exported through DLPack")
        try:
            if on_device:   # (CuPy's export: the consumer's stream waits for this one's work)
                return d.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device,
                                    copy=copy)
            return d.__dlpack__(max_version=max_version, dl_device=dl_device, copy=copy)
        except TypeError as e:
            # NumPy's TypeError here means an element type DLPack cannot describe;
            # torch's consumers would retry without the arguments and lose the message
            raise BufferError(f"cannot export a {self.dtype} tensor through DLPack: {e}") from None

    def __dlpack_device__(self):
        """(device type, index) per DLPack: (kDLCPU, 0) for CPU tensors."""
        d = self._data
        if not hasattr(d, "__dlpack_device__"):
            raise BufferError(f"tensors on {self.device} cannot be exported through DLPack")
        kind, index = d.__dlpack_device__()
        return DLDeviceType(kind), index

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __float__(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(_real_item(self, "double"))

    def __int__(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(_real_item(self, "int64_t"))

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.reshape(()).item())

    def __complex__(self):
        return complex(self.item())

    def __hash__(self):
        return id(self)

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def pin_memory(self):
        return self

    def share_memory_(self):
        """Move this tensor's memory into shared memory, so that other processes
        write into the very same memory: Hogwild training.  A process forked
        afterwards inherits it; one started by 'spawn' or 'forkserver' and given
        the tensor (a ``Process`` argument, a multiprocessing ``Queue``) maps it
        too, where the system has memory files (Linux; elsewhere such a process
        gets a copy).  Views of the tensor made afterwards, its base when it is a
        view, and in-place updates (optimizers) all stay on the shared memory;
        views made before keep the old copy.  A no-op when already shared."""
        d = self._data
        if type(d) is not np.ndarray and (not isinstance(d, np.ndarray) or _on_device(d)):
            return self                 # (a device's memory: not the host's to share, as torch)
        _pickle_shared_by_reference(type(self))
        if _shared_root(d) is not None:
            return self
        root = _owner(d)
        base = self._base
        if root.flags.c_contiguous and base is not None and _spans(base._data, root):
            # move the whole allocation, so the base and this view keep sharing it
            new_root = _shared_copy(root)
            off = d.__array_interface__["data"][0] - root.__array_interface__["data"][0]
            view = np.ndarray(d.shape, d.dtype, buffer=new_root.base, offset=off,
                              strides=d.strides)
            self._data = view if type(d) is np.ndarray else view.view(type(d))
            bd = base._data
            base._data = new_root if type(bd) is np.ndarray else new_root.view(type(bd))
        else:
            new = _shared_copy(d)
            self._data = new if type(d) is np.ndarray else new.view(type(d))  # (same array type)
        return self

    def is_shared(self):
        """Whether the tensor's memory is shared memory (see ``share_memory_``)."""
        d = self._data
        if type(d) is not np.ndarray and _on_device(d):
            return True                 # (torch: "always True for CUDA tensors")
        return isinstance(d, np.ndarray) and _shared_root(d) is not None

    def is_pinned(self):
        return False

    # ---- autograd -----------------------------------------------------------------
    @property
    def grad(self):
        """The gradient backward accumulated into this tensor (None until then)."""
        return self._grad

    @grad.setter
    def grad(self, value):
        # torch checks an assigned gradient against the tensor, so an optimizer never
        # sees a gradient of another shape, dtype or device.  (The common case, a
        # tensor like this one, costs one type check and three comparisons.)
        if value is not None:
            d = self._data
            g = value._data if isinstance(value, TensorBase) else None
            if (g is None or g.dtype is not d.dtype or g.shape != d.shape
                    or type(g) is not type(d) or value is self):
                _check_grad(self, value)
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you "
                               "want to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind not in "fc" and not _bf16.is_float(self._data.dtype):
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """A tensor sharing memory (and version counter), cut from the graph."""
        t = _wrap(self._data)
        t._vc = self._vc
        return t

    def detach_(self):
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self.requires_grad = False
        return self

    # ---- copying, pickling ---------------------------------------------------------------
    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.")
        t = _new(type(self))
        TensorBase.__init__(t)
        t._data = self._data.copy()
        t.requires_grad = self.requires_grad
        if self.grad is not None:
            t.grad = _wrap(self.grad._data.copy())
        extra = {k: v for k, v in self.__dict__.items() if k not in _INTERNAL}
        if extra:
            import copy
            t.__dict__.update(copy.deepcopy(extra, memo))
        memo[id(self)] = t
        return t

    def __reduce_ex__(self, proto):
        return (_rebuild, (type(self), self._data, self.requires_grad))

    # ---- printing -------------------------------------------------------------------
    def __repr__(self):
        if type(self._data) is _SparseData:
            from ._printing import sparse_repr
            return sparse_repr(self)
        return _tensor_repr(self)

    __str__ = __repr__


def _real_item(t, c_type):
    """t's one value as a real number: a complex value only when its imaginary part is 0
    (torch's overflow error otherwise)."""
    v = t.item()
    if type(v) is complex:
        if v.imag != 0:
            raise RuntimeError(f"value cannot be converted to type {c_type} without overflow")
        return v.real
    return v


_INTERNAL = frozenset({"_grad", "_out_nr", "_base", "_hooks", "_accum", "_post_acc_hooks", "_views"})


def _check_grad(t, value):
    """Raise torch's error for ``value`` assigned as ``t.grad`` (when it is wrong)."""
    if not isinstance(value, TensorBase):
        raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                        f"type {_type_name(value)}")
    if value is t:
        raise RuntimeError("can't assign Variable as its own grad")
    d, g = t._data, value._data
    if g.dtype != d.dtype:
        raise RuntimeError(
            f"attempting to assign a gradient with dtype '{D.c_name_of(g.dtype)}' to a "
            f"tensor with grad_dtype '{D.scalar_name_of(d.dtype)}'. The gradient must "
            "match the tensor's grad_dtype (defaults to the tensor's dtype). You can set "
            "the tensor's grad_dtype attribute with a specific dtype, or None to allow "
            "any dtype. Set grad_dtype with caution. Diverging the dtypes of a tensor "
            "and its gradient may break downstream systems that assume they match.")
    if type(g) is not type(d) and value.device != t.device:
        raise RuntimeError(
            f"attempting to assign a gradient with device type '{value.device.type}' to "
            f"a tensor with device type '{t.device.type}'. Please ensure that the "
            "gradient and the tensor are on the same device")
    if g.shape != d.shape:
        raise RuntimeError(
            f"attempting to assign a gradient of size '{list(g.shape)}' to a tensor of "
            f"size '{list(d.shape)}'. Please ensure that the gradient and the tensor are "
            "the same size")


def _type_name(v):
    """A value's type as torch's messages print it: ``list``, ``numpy.ndarray``."""
    t = type(v)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _on_device(a):
    """Whether array ``a`` lives in a device's memory (CuPy's), not the host's."""
    return type(a) in _ARRAY_TYPES and not _backends.backend_of(a).host


def _address(a):
    """Where array ``a``'s first element lies, host or device memory (CuPy's
    arrays have no __array_interface__, only __cuda_array_interface__)."""
    face = getattr(a, "__array_interface__", None)
    if face is None:
        face = a.__cuda_array_interface__
    return face["data"][0]


def _owner(a):
    """The array owning ``a``'s memory, on any backend: views point at it through
    ``.base`` (a CuPy view's base is a CuPy array, no np.ndarray)."""
    b = a.base
    while b is not None and (isinstance(b, np.ndarray) or type(b) in _ARRAY_TYPES):
        a, b = b, b.base
    return a


def _spans(a, root):
    """Whether array ``a`` is all of ``root``'s memory, in its layout (a view of it
    as another array type counts)."""
    return (_owner(a) is root and a.shape == root.shape and a.strides == root.strides
            and a.__array_interface__["data"][0] == root.__array_interface__["data"][0])


def _shared_root(a):
    """The shared mapping under array ``a``, or None."""
    b = _owner(a).base
    return b if isinstance(b, _mmap.mmap) else None


def _shared_copy(a):
    """A C-contiguous copy of array ``a`` in a new shared mapping (MAP_SHARED: a
    forked child writes the same pages).  Its ``.base`` is the mapping."""
    buf = _new_mapping(a.nbytes)
    out = np.ndarray(a.shape, a.dtype, buffer=buf)     # (its base is the mapping itself)
    out[...] = a
    return out


class _FileMapping(_mmap.mmap):
    """A shared mapping of an in-memory file (Linux ``memfd_create``) that keeps
    the file's descriptor, ``fd``, open while it lives: another process that is
    handed a duplicate of the descriptor maps the same pages (torch's
    'file_descriptor' sharing strategy).  No file name exists, so nothing is
    left behind when the processes end."""


def _new_mapping(nbytes):
    size = max(nbytes, 1)
    make = getattr(_os, "memfd_create", None)
    if make is None:
        return _mmap.mmap(-1, size)     # anonymous: shared with forked children only
    fd = make("ember-shared", _os.MFD_CLOEXEC)
    try:
        _os.ftruncate(fd, size)
        return _map_file(fd, size)
    except BaseException:
        _os.close(fd)
        raise


def _map_file(fd, size):
    m = _FileMapping(fd, size)
    m.fd = fd
    _weakref.finalize(m, _os.close, fd)
    return m


# Tensor classes whose instances multiprocessing pickles with _reduce_for_processes.
_SHARED_REDUCERS = set()


def _pickle_shared_by_reference(cls):
    """Have multiprocessing (its ForkingPickler: Process arguments under 'spawn',
    Queues, Pipes) send tensors of class ``cls`` that live on a shared memory
    file as a reference to that memory.  Registered when a tensor is first
    shared, so that importing Ember changes nothing in multiprocessing."""
    for c in (cls, Tensor):
        if c not in _SHARED_REDUCERS:
            from multiprocessing.reduction import ForkingPickler
            ForkingPickler.register(c, _reduce_for_processes)
            _SHARED_REDUCERS.add(c)


def _reduce_for_processes(t):
    d = t._data
    m = _shared_root(d) if type(d) is np.ndarray else None
    if not isinstance(m, _FileMapping):
        return t.__reduce_ex__(4)       # not shared: pickled by value, as always
    from multiprocessing.reduction import DupFd
    offset = (d.__array_interface__["data"][0]
              - np.frombuffer(m, np.uint8).__array_interface__["data"][0])
    return (_rebuild_shared, (type(t), DupFd(m.fd), len(m), offset, d.shape, d.strides,
                              d.dtype, t.requires_grad))


def _rebuild_shared(cls, dup_fd, size, offset, shape, strides, dtype, requires_grad):
    """In the receiving process: map the sender's memory file and view it."""
    m = _map_file(dup_fd.detach(), size)
    data = np.ndarray(shape, dtype, buffer=m, offset=offset, strides=strides)
    _pickle_shared_by_reference(cls)    # (so that it can pass the tensor on)
    return _rebuild(cls, data, requires_grad)


def _rebuild(cls, data, requires_grad):
    t = _new(cls)
    TensorBase.__init__(t)
    t._data = data
    t.requires_grad = requires_grad
    return t


class _Storage:
    """Minimal stand-in for torch's untyped storage: identity and size only."""

    def __init__(self, arr):
        self._arr = arr

    def data_ptr(self):
        return _address(self._arr)

    def nbytes(self):
        return self._arr.nbytes

    def size(self):
        return self._arr.nbytes


def _dim(d, ndim):
    """Normalise a possibly negative dim, raising torch's IndexError (and
    torch's TypeError for a dim that is not an int, such as a str or None)."""
    try:  # (free on the normal path: only a failed comparison lands below)
        if d < 0:
            nd = ndim if ndim else 1
            if d < -nd:
                raise IndexError(f"Dimension out of range (expected to be in range of "
                                 f"[{-nd}, {nd - 1}], but got {d})")
            return d + nd if ndim else 0
        if d >= (ndim or 1):
            nd = ndim if ndim else 1
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-nd}, {nd - 1}], but got {d})")
    except TypeError:
        raise TypeError(f"argument 'dim' must be int, not {type(d).__name__}") from None
    return d


def is_tensor(obj):
    return isinstance(obj, TensorBase)


# The class ``_wrap`` (and autograd's op outputs) instantiate: ember.Tensor,
# once _tensor.py has loaded and registered it.
Tensor = TensorBase


def _register_tensor_class(cls):
    """Make ``cls`` (ember.Tensor) the class of every tensor Ember creates."""
    global Tensor
    Tensor = cls
