"""torch's checkpoint formats (``torch.save``'s ``.pt`` files), read safely and written
without torch.

Reading is what ``torch.load(f, weights_only=True)`` does, and nothing more: the
pickle inside a checkpoint is run by a restricted unpickler whose ``find_class``
knows a fixed list of torch's names (the tensor and parameter rebuild functions, the
storage types, dtypes, ``torch.Size``, ``torch.device``, ``OrderedDict``, ``set`` ...)
and refuses every other global with ``pickle.UnpicklingError`` naming it.  What it
returns for those names are Ember's own small callables, never the real objects, so
a malicious ``__reduce__`` (``os.system``, ``builtins.exec``) can never be called.
Unpickling yields placeholders (tuples); ``_Resolver`` then turns them into Ember
tensors, dtypes, devices.  The placeholders are immutable and have no ``__dict__``,
so a crafted ``BUILD`` opcode cannot change them (nor Ember's dtype singletons).

Two container layouts are read:

* zip (torch >= 1.6): ``<name>/data.pkl`` is the pickle, ``<name>/data/<key>`` the
  raw bytes of each storage, ``<name>/byteorder`` their byte order.
* legacy (``_use_new_zipfile_serialization=False``): one stream of pickles (a magic
  number, the protocol version, system info, the object, the storage keys), then each
  storage as an int64 element count and its raw bytes.

A tensor is ``(storage, offset, size, stride)``; tensors over one storage become
NumPy views of one buffer, so they share memory after loading as they did in torch.

Writing (``ember.save(obj, f, format="torch")``) emits the zip layout with a pickle
built opcode by opcode here (so torch need not be installed): tensors as
``torch._utils._rebuild_tensor_v2`` over ``torch.<Type>Storage`` persistent ids, views
of one Ember buffer over one storage.
"""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from . import _dtype as D
from ._tensor import Tensor
from ._tensor_base import Size, device, _wrap


from .serialization import SerializationError


def _fail(name, msg):
    raise SerializationError(f"{name}: {msg}")


# ---- dtypes --------------------------------------------------------------------------------

# torch's legacy storage class name -> torch dtype name
_STORAGE_TYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
_STORAGE_OF = {v: k for k, v in _STORAGE_TYPES.items()}

# torch dtype name (and its aliases) -> the canonical name
_DTYPE_ALIASES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16",
    "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
    "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
    "complex64": "complex64", "cfloat": "complex64", "complex128": "complex128",
    "cdouble": "complex128",
}
# dtypes torch has and Ember never will through NumPy alone: known, so the error can say so
_FOREIGN_DTYPES = ("uint16", "uint32", "uint64", "complex32", "chalf", "float8_e4m3fn",
                   "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
                   "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
                   "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2")

# NumPy byte layout of each storage dtype (bfloat16: raw 16-bit words, see _bf16)
_RAW_NP = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "bfloat16": "<u2",
           "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "|i1", "uint8": "|u1",
           "bool": "|b1", "complex64": "<c8", "complex128": "<c16"}


def _ember_bf16():
    """Ember's bfloat16 dtype when it has one (through ml_dtypes), else None."""
    bf = getattr(D, "bfloat16", None)
    if not isinstance(bf, D.dtype):
        return None
    if getattr(bf, "np", None) is None:          # (its NumPy type may load on first use)
        load = getattr(D, "_load_bfloat16", None)
        try:
            if load is not None:
                load()
        except ImportError:
            return None
    return bf if getattr(bf, "np", None) is not None else None


def _ember_dtype(name):
    """The Ember dtype of canonical torch dtype ``name``, or None if Ember lacks it."""
    if name == "bfloat16":
        return _ember_bf16()
    d = D._BY_NAME.get(name)
    if d is None:
        d = getattr(D, name, None)       # (complex dtypes, where Ember has them)
    return d if isinstance(d, D.dtype) else None


def _host_dtype(name):
    """The NumPy dtype a storage of torch dtype ``name`` is loaded as: Ember's own, or
    float32 for bfloat16 when Ember has no bfloat16 (widened exactly)."""
    if name == "bfloat16":
        bf = _ember_bf16()
        return bf.np if bf is not None else np.dtype(np.float32)
    d = _ember_dtype(name)
    return d.np if d is not None else None


def _typed(raw, name, big_endian):
    """The uint8 buffer ``raw`` as a 1-D array of torch dtype ``name`` (a view of it,
    except for byte-swapped data and for bfloat16 widened to float32)."""
    dt = np.dtype(_RAW_NP[name])
    arr = raw.view(dt.newbyteorder(">") if big_endian else dt)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if name == "bfloat16":
        bf = _ember_bf16()
        if bf is not None:
            return arr.view(bf.np)
        # bfloat16 is the high half of a float32: widen exactly
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


# ---- what unpickling may produce ----------------------------------------------------------
# Every global a checkpoint may name maps to an instance of one of these slot-less
# classes (no __dict__, nothing a BUILD opcode could set), and every call returns a
# tuple placeholder.  _Resolver turns placeholders into Ember objects afterwards.

class _Placeholder(tuple):
    __slots__ = ()


class _StorageRef(_Placeholder):
    """(key, dtype name, 1-D host array or None until legacy data is read, location)"""
    __slots__ = ()


class _TensorRef(_Placeholder):
    """(storage, offset, size, stride, requires_grad, is_parameter, attrs, dtype or None)"""
    __slots__ = ()


class _DeviceRef(_Placeholder):
    __slots__ = ()


class _SizeRef(_Placeholder):
    __slots__ = ()


class _Global:
    """A name from the checkpoint that may be called; subclasses define ``call``."""
    __slots__ = ()
    qualname = "?"

    def __call__(self, *args):
        try:
            return self.call(*args)
        except pickle.UnpicklingError:
            raise
        except (TypeError, ValueError) as e:
            raise pickle.UnpicklingError(f"bad arguments to {self.qualname}: {e}") from None

    def call(self, *args):
        raise pickle.UnpicklingError(f"{self.qualname} cannot be called here")


def _is_shape(v):
    return type(v) in (tuple, list, _SizeRef) and all(type(s) is int and s >= 0 for s in v)


def _tensor_ref(storage, offset, size, stride, requires_grad, metadata=None, dtype=None):
    if type(storage) is not _StorageRef:
        raise pickle.UnpicklingError(f"a tensor's storage is a {type(storage).__name__}, "
                                     f"not a storage")
    if type(size) is _SizeRef:
        size = tuple(size[0])
    if type(offset) is not int or offset < 0 or not _is_shape(size) or not _is_shape(stride) \
            or len(size) != len(stride):
        raise pickle.UnpicklingError(f"malformed tensor geometry (offset {offset!r}, size "
                                     f"{size!r}, stride {stride!r})")
    if type(requires_grad) is not bool:
        raise pickle.UnpicklingError(f"requires_grad must be a bool, got {requires_grad!r}")
    flags = metadata.values() if isinstance(metadata, dict) else [metadata]
    if any(flags):
        raise pickle.UnpicklingError(f"tensor metadata {metadata!r} (a conjugate or negative "
                                     f"bit) is not supported by Ember")
    return _TensorRef((storage, offset, tuple(size), tuple(stride), requires_grad, False,
                       None, dtype))


class _RebuildTensor(_Global):
    __slots__ = ()
    qualname = "torch._utils._rebuild_tensor"

    def call(self, storage, offset, size, stride):
        return _tensor_ref(storage, offset, size, stride, False)


class _RebuildTensorV2(_Global):
    __slots__ = ()
    qualname = "torch._utils._rebuild_tensor_v2"

    def call(self, storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
        return _tensor_ref(storage, offset, size, stride, requires_grad, metadata)


class _RebuildTensorV3(_Global):
    __slots__ = ()
    qualname = "torch._utils._rebuild_tensor_v3"

    def call(self, storage, offset, size, stride, requires_grad, backward_hooks, dtype,
             metadata=None):
        if type(dtype) is not _DtypeGlobal:
            raise pickle.UnpicklingError(f"_rebuild_tensor_v3: dtype must be a torch dtype, "
                                         f"got {type(dtype).__name__}")
        return _tensor_ref(storage, offset, size, stride, requires_grad, metadata, dtype[0])


def _state_attrs(state):
    """A parameter's or tensor's extra Python attributes, as (name, value) pairs."""
    if state is None:
        return None
    if isinstance(state, tuple) and len(state) == 2:     # (__dict__, slots)
        pairs = []
        for part in state:
            if part is not None:
                pairs += _state_attrs(part) or []
        return pairs or None
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"malformed tensor state {type(state).__name__}")
    for k in state:
        if type(k) is not str or not k.isidentifier() or k.startswith("_") \
                or hasattr(Tensor, k):
            raise pickle.UnpicklingError(f"tensor attribute {k!r} cannot be restored")
    return list(state.items()) or None


def _with(ref, is_parameter=None, requires_grad=None, attrs=None):
    if type(ref) is not _TensorRef:
        raise pickle.UnpicklingError(f"expected a tensor, got {type(ref).__name__}")
    s, off, size, stride, rg, param, old_attrs, dt = ref
    if requires_grad is not None:
        if type(requires_grad) is not bool:
            raise pickle.UnpicklingError(f"requires_grad must be a bool, got {requires_grad!r}")
        rg = requires_grad
    return _TensorRef((s, off, size, stride, rg, param if is_parameter is None else is_parameter,
                       attrs if attrs is not None else old_attrs, dt))


class _RebuildParameter(_Global):
    __slots__ = ()
    qualname = "torch._utils._rebuild_parameter"

    def call(self, data, requires_grad, backward_hooks):
        return _with(data, True, requires_grad)


class _RebuildParameterWithState(_Global):
    __slots__ = ()
    qualname = "torch._utils._rebuild_parameter_with_state"

    def call(self, data, requires_grad, backward_hooks, state):
        return _with(data, True, requires_grad, _state_attrs(state))


class _TensorType(_Global):
    __slots__ = ()
    qualname = "torch.Tensor"


class _ParameterType(_Global):
    __slots__ = ()
    qualname = "torch.nn.parameter.Parameter"


_REBUILDERS = (_RebuildTensor, _RebuildTensorV2, _RebuildTensorV3, _RebuildParameter,
               _RebuildParameterWithState)


class _RebuildFromType(_Global):
    """torch._tensor._rebuild_from_type_v2(func, type, args, state): a tensor with
    Python attributes, or of a subclass (only Tensor and Parameter exist here)."""
    __slots__ = ()
    qualname = "torch._tensor._rebuild_from_type_v2"

    def call(self, func, new_type, args, state):
        if not isinstance(func, _REBUILDERS) or not isinstance(args, tuple):
            raise pickle.UnpicklingError("_rebuild_from_type_v2 must rebuild a tensor")
        if not isinstance(new_type, (_TensorType, _ParameterType)):
            raise pickle.UnpicklingError("_rebuild_from_type_v2: only torch.Tensor and "
                                         "torch.nn.Parameter can be rebuilt")
        ref = func(*args)
        return _with(ref, True if isinstance(new_type, _ParameterType) else None,
                     attrs=_state_attrs(state))


class _StorageType(_Global):
    """torch.FloatStorage ... (a persistent id names one; never called)."""
    __slots__ = ("_dtype",)   # (a slot BUILD could set: _Unpickler checks its class too)

    def __init__(self, dtype_name, qualname):
        object.__setattr__(self, "_dtype", (dtype_name, qualname))

    def __setattr__(self, k, v):
        raise AttributeError("read-only")

    @property
    def qualname(self):
        return self._dtype[1]


class _DtypeGlobal(_Placeholder):
    """torch.float32 ...: a value, resolved to an Ember dtype afterwards."""
    __slots__ = ()


class _DeviceType(_Global):
    __slots__ = ()
    qualname = "torch.device"

    def call(self, *args):
        if len(args) == 1 and type(args[0]) is str:
            return _DeviceRef((args[0],))
        if len(args) == 2 and type(args[0]) is str and type(args[1]) is int:
            return _DeviceRef((f"{args[0]}:{args[1]}",))
        raise pickle.UnpicklingError(f"torch.device{args!r}: unexpected arguments")


class _SizeType(_Global):
    __slots__ = ()
    qualname = "torch.Size"

    def call(self, dims=()):
        if not _is_shape(dims):
            raise pickle.UnpicklingError(f"torch.Size({dims!r}): not a shape")
        return _SizeRef((tuple(dims),))


class _Encode(_Global):
    """_codecs.encode(text, 'latin1'): how protocol-2 pickles spell ``bytes``."""
    __slots__ = ()
    qualname = "_codecs.encode"

    def call(self, text, encoding="utf-8"):
        if type(text) is not str or encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError("_codecs.encode is allowed only as bytes "
                                         "(a str encoded as latin1)")
        return text.encode("latin1")


class _Bytearray(_Global):
    __slots__ = ()
    qualname = "builtins.bytearray"

    def call(self, data=b"", encoding=None):
        if type(data) is str and encoding in ("latin1", "latin-1"):
            return bytearray(data, "latin1")
        if type(data) is bytes and encoding is None:
            return bytearray(data)
        raise pickle.UnpicklingError("bytearray is allowed only from bytes or latin1 text")


class _Set(_Global):
    __slots__ = ()
    qualname = "builtins.set"

    def call(self, items=()):
        if type(items) not in (list, tuple):
            raise pickle.UnpicklingError("set is allowed only from a list")
        return set(items)


class _Complex(_Global):
    __slots__ = ()
    qualname = "builtins.complex"

    def call(self, re=0.0, im=0.0):
        if type(re) not in (int, float) or type(im) not in (int, float):
            raise pickle.UnpicklingError("complex is allowed only from two numbers")
        return complex(re, im)


class _ODict(_Global):
    __slots__ = ()
    qualname = "collections.OrderedDict"

    def call(self, items=()):
        if type(items) not in (list, tuple):
            raise pickle.UnpicklingError("OrderedDict is allowed only from a list of pairs")
        return collections.OrderedDict(items)


class _Counter(_Global):
    __slots__ = ()
    qualname = "collections.Counter"

    def call(self, items=()):
        if type(items) is not dict:
            raise pickle.UnpicklingError("Counter is allowed only from a dict")
        return collections.Counter(items)


def _allowed_globals():
    g = {}
    for cls in (_RebuildTensor, _RebuildTensorV2, _RebuildTensorV3, _RebuildParameter,
                _RebuildParameterWithState, _RebuildFromType, _TensorType, _ParameterType,
                _DeviceType, _SizeType, _Encode, _Bytearray, _Set, _Complex, _ODict, _Counter):
        g[cls.qualname] = cls()
    for stype, dname in _STORAGE_TYPES.items():
        g["torch." + stype] = _StorageType(dname, "torch." + stype)
    g["torch.UntypedStorage"] = _StorageType("uint8", "torch.UntypedStorage")
    g["torch.storage.UntypedStorage"] = g["torch.UntypedStorage"]
    for alias in list(_DTYPE_ALIASES) + list(_FOREIGN_DTYPES):
        g["torch." + alias] = _DtypeGlobal((_DTYPE_ALIASES.get(alias, alias),))
    return g


_ALLOWED = _allowed_globals()

# names torch allows that Ember knows but cannot represent: a clearer refusal
_UNSUPPORTED = {
    "torch._utils._rebuild_qtensor": "a quantized tensor",
    "torch._utils._rebuild_sparse_tensor": "a sparse tensor",
    "torch._utils._rebuild_nested_tensor": "a nested tensor",
    "torch._utils._rebuild_meta_tensor_no_storage": "a meta tensor",
    "torch._utils._rebuild_wrapper_subclass": "a tensor subclass",
    "torch._utils._rebuild_device_tensor_from_numpy": "a device tensor built from NumPy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": "a device tensor",
    "torch.serialization._get_layout": "a sparse tensor layout",
}
# protocol-2 pickles name Python 2 modules
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Unpickler(pickle.Unpickler):
    """The restricted unpickler: only the names in _ALLOWED exist."""

    def __init__(self, fh, name, storage_fn):
        super().__init__(fh, encoding="utf-8")
        self._name = name
        self._storage_fn = storage_fn

    def find_class(self, module, name):
        qual = f"{_PY2_MODULES.get(module, module)}.{name}"
        found = _ALLOWED.get(qual)
        if found is not None:
            return found
        if qual in _UNSUPPORTED:
            raise pickle.UnpicklingError(
                f"ember.load: {self._name} holds {_UNSUPPORTED[qual]} ({qual}), which Ember "
                f"cannot represent")
        raise pickle.UnpicklingError(
            f"ember.load: {self._name}: refused to load global {qual}. Ember reads torch "
            f"checkpoints as torch.load(weights_only=True) does: only tensors, storages, "
            f"dtypes, torch.Size, torch.device, OrderedDict and plain containers and scalars "
            f"are rebuilt, and nothing from the file is ever run")

    def persistent_load(self, pid):
        if type(pid) is not tuple or len(pid) not in (5, 6) or pid[0] != "storage":
            raise pickle.UnpicklingError(f"ember.load: {self._name}: unexpected persistent id "
                                         f"{_short(pid)}")
        stype, key, location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if type(stype) is not _StorageType or type(key) is not str \
                or type(location) is not str or type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError(f"ember.load: {self._name}: malformed storage "
                                         f"reference {_short(pid)}")
        return self._storage_fn(key, stype._dtype[0], location, numel, view)


def _short(v):
    r = repr(v)
    return r if len(r) < 200 else r[:200] + "..."


# ---- from placeholders to Ember objects ----------------------------------------------------

class _Resolver:
    """Walks the unpickled object, replacing placeholders with Ember objects.  Shared
    (and cyclic) containers stay shared; tensors are views of their storage's array."""

    def __init__(self, name, storage_array):
        self.name = name
        self.storage_array = storage_array   # _StorageRef -> final host array
        self.memo = {}
        self.Parameter = None

    def __call__(self, obj):
        try:
            return self.walk(obj)
        except RecursionError:
            _fail(self.name, "the checkpoint's object is nested too deeply")
        except (TypeError, ValueError) as e:       # (an unhashable key, a bad shape ...)
            _fail(self.name, f"malformed object in the checkpoint ({e})")

    def walk(self, obj):
        t = type(obj)
        if t in (type(None), bool, int, float, str, bytes, complex):
            return obj
        hit = self.memo.get(id(obj))
        if hit is not None:
            return hit[1]
        if t is _TensorRef:
            out = self.tensor(obj)
        elif t is _DtypeGlobal:
            d = _ember_dtype(obj[0])
            if d is None:
                _fail(self.name, f"holds the dtype torch.{obj[0]}, which Ember does not have")
            out = d
        elif t is _DeviceRef:
            out = device(obj[0])
        elif t is _SizeRef:
            out = Size(obj[0])
        elif t is tuple:
            out = tuple(self.walk(v) for v in obj)
        elif t is list:
            out = []
            self.memo[id(obj)] = (obj, out)
            out.extend(self.walk(v) for v in obj)
        elif t in (dict, collections.OrderedDict, collections.Counter):
            out = t()
            self.memo[id(obj)] = (obj, out)
            for k, v in obj.items():
                out[self.walk(k)] = self.walk(v)
            meta = obj.__dict__.get("_metadata") if t is not dict else None
            if meta is not None:
                out._metadata = self.walk(meta)
        elif t in (set, frozenset):
            out = t(self.walk(v) for v in obj)
        elif t is bytearray:
            out = obj
        elif t is _StorageRef:
            _fail(self.name, "a bare storage (not inside a tensor) cannot be loaded by Ember")
        else:
            _fail(self.name, f"unexpected object of type {t.__name__} in the checkpoint")
        self.memo[id(obj)] = (obj, out)       # (obj kept alive so its id stays unique)
        return out

    def tensor(self, ref):
        storage, offset, size, stride, requires_grad, is_param, attrs, dtype_name = ref
        base, backend = self.storage_array(storage)
        if dtype_name is not None and dtype_name != storage[1]:
            # _rebuild_tensor_v3 over an untyped (byte) storage: reinterpret the bytes
            if dtype_name not in _RAW_NP or _host_dtype(dtype_name) is None:
                _fail(self.name, f"holds torch.{dtype_name} tensors, which Ember cannot "
                                 f"represent")
            if storage[1] != "uint8":
                _fail(self.name, f"cannot view a {storage[1]} storage as torch.{dtype_name}")
            if base.nbytes % np.dtype(_RAW_NP[dtype_name]).itemsize:
                _fail(self.name, f"storage {storage[0]!r} does not hold whole "
                                 f"torch.{dtype_name} elements")
            base = _typed(base, dtype_name, False)
        itemsize = base.itemsize
        numel = 1
        for s in size:
            numel *= s
        if numel == 0:
            arr = np.empty(size, dtype=base.dtype)
        else:
            last = offset + sum((n - 1) * st for n, st in zip(size, stride))
            if last >= base.size:
                _fail(self.name, f"a tensor of size {list(size)} and stride {list(stride)} at "
                                 f"offset {offset} reaches past its storage {storage[0]!r} "
                                 f"of {base.size} elements")
            arr = np.ndarray(size, dtype=base.dtype, buffer=base, offset=offset * itemsize,
                             strides=tuple(st * itemsize for st in stride))
        if backend is not None:
            arr = backend.from_host(arr)     # (a copy: memory is shared on the CPU only)
        t = _wrap(arr)
        if is_param:
            if self.Parameter is None:
                from .nn.parameter import Parameter
                self.Parameter = Parameter
            try:
                t = self.Parameter(t, requires_grad=requires_grad)
            except RuntimeError as e:
                _fail(self.name, f"cannot rebuild a parameter: {e}")
        elif requires_grad:
            try:
                t.requires_grad_(True)
            except RuntimeError as e:
                _fail(self.name, f"cannot rebuild a tensor: {e}")
        for k, v in attrs or ():
            setattr(t, k, self.walk(v))
        return t


# ---- map_location ---------------------------------------------------------------------------

_CUDA_MSG = ("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() "
             "is False. If you are running on a CPU-only machine, please use torch.load with "
             "map_location=torch.device('cpu') to map your storages to the CPU.")


def _device_name(loc):
    """A location as a string: 'cpu', 'cuda:0', or an Ember device's name."""
    if isinstance(loc, str):
        return loc
    if isinstance(loc, device):
        return str(loc)
    if type(loc).__name__ == "device":    # torch.device, without importing torch
        return str(loc)
    raise TypeError(f"map_location should be a str, a device, a dict or a callable, "
                    f"got {type(loc).__name__}")


def _restore(arr, location):
    """(``arr``, the backend it goes to: None for the CPU) for a storage saved at
    ``location`` (torch's default_restore_location)."""
    loc = _device_name(location)
    kind = loc.split(":", 1)[0]
    if kind == "cpu":
        return arr, None
    if kind == "cuda":
        raise RuntimeError(_CUDA_MSG)
    from ._tensor_base import _check_device
    return arr, _check_device(loc)        # (raises for a device Ember does not have)


def _is_device(v):
    return isinstance(v, (str, device)) or type(v).__name__ == "device"  # (torch.device too)


def _placer(map_location):
    """fn(host array, saved location) -> (array, backend or None), per torch's
    map_location: None, a device (str, ember or torch device), a dict from saved
    location to location, or fn(storage, location) returning a storage or None."""
    if map_location is None:
        return _restore
    if isinstance(map_location, dict):
        table = {_device_name(k): v for k, v in map_location.items()}
        return lambda arr, loc: _restore(arr, table.get(loc, loc))
    if _is_device(map_location):
        target = _device_name(map_location)
        return lambda arr, loc: _restore(arr, target)
    if callable(map_location):
        def call(arr, loc):
            # the storage is handed over as a 1-D tensor sharing the loaded bytes
            got = map_location(_wrap(arr), loc)
            if got is None:
                return _restore(arr, loc)
            if not isinstance(got, Tensor) or got.dim() != 1 or got.dtype.np != arr.dtype \
                    or got.numel() != arr.size:
                raise TypeError("map_location must return the storage it was given (a 1-D "
                                "tensor, possibly moved) or None")
            if got.device.type == "cpu":
                return got._data, None
            return arr, _restore(arr, str(got.device))[1]
        return call
    raise TypeError(f"map_location should be a str, a device, a dict or a callable, "
                    f"got {type(map_location).__name__}")


# ---- reading ---------------------------------------------------------------------------------

_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
                IndexError, AttributeError, struct.error, UnicodeDecodeError, OverflowError,
                MemoryError, RecursionError)


def _unpickle(data, name, storage_fn):
    """Run the restricted unpickler over ``data`` (bytes or a stream)."""
    fh = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        return _Unpickler(fh, name, storage_fn).load()
    except SerializationError:
        raise
    except _LOAD_ERRORS as e:
        if isinstance(e, pickle.UnpicklingError) and str(e).startswith("ember.load:"):
            raise                               # (a refusal of ours, already explained)
        raise pickle.UnpicklingError(f"ember.load: {name}: bad pickle in the checkpoint "
                                     f"({type(e).__name__}: {e})") from None


def _check_bytes(name, key, dtype_name, numel, nbytes):
    itemsize = np.dtype(_RAW_NP[dtype_name]).itemsize
    if numel * itemsize != nbytes:
        _fail(name, f"storage {key!r} should hold {numel} torch.{dtype_name} elements "
                    f"({numel * itemsize} bytes) but its record has {nbytes} bytes")


def _need_dtype(name, dtype_name):
    if _host_dtype(dtype_name) is None:
        _fail(name, f"holds torch.{dtype_name} tensors, which Ember cannot represent")


def load_zip(fh, name, map_location):
    """Load a torch zip checkpoint from the seekable binary file ``fh``."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        _fail(name, f"is a damaged zip archive, not a readable torch checkpoint ({e}); "
                    f"the file is truncated or corrupted")
    archive_size = fh.seek(0, os.SEEK_END)
    with zf:
        pkls = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkls) != 1:
            what = ("a TorchScript archive (torch.jit.save)" if any(
                n.endswith("/constants.pkl") for n in zf.namelist()) else "a zip archive")
            _fail(name, f"is {what} without exactly one '<name>/data.pkl' record, not a "
                        f"torch.save checkpoint")
        prefix = pkls[0][:-len("data.pkl")]
        big = False
        if prefix + "byteorder" in zf.NameToInfo:
            order = _read_record(zf, prefix + "byteorder", name)
            if order not in (b"little", b"big"):
                _fail(name, f"unknown byte order {order[:20]!r}")
            big = order == b"big"
        place = _placer(map_location)
        storages = {}                 # key -> (raw uint8 array, {dtype name: _StorageRef})

        def storage(key, dtype_name, location, numel, view):
            if view is not None:
                raise pickle.UnpicklingError(f"ember.load: {name}: storage views belong to "
                                             f"the legacy format, not a zip checkpoint")
            _need_dtype(name, dtype_name)
            entry = storages.get(key)
            if entry is None:
                rec = f"{prefix}data/{key}"
                info = zf.NameToInfo.get(rec)
                if info is None:
                    _fail(name, f"storage {key!r} is missing: the archive has no record {rec}")
                _check_bytes(name, key, dtype_name, numel, info.file_size)
                if info.compress_type != zipfile.ZIP_STORED or info.compress_size != \
                        info.file_size or info.file_size > archive_size:
                    _fail(name, f"record {rec} is compressed or larger than the file: torch "
                                f"stores tensor data uncompressed")
                raw = np.empty(info.file_size, dtype=np.uint8)
                _read_record_into(zf, info, raw, name)
                entry = storages[key] = (raw, {}, location)
            raw, typed, _ = entry
            if raw.nbytes != numel * np.dtype(_RAW_NP[dtype_name]).itemsize:
                _check_bytes(name, key, dtype_name, numel, raw.nbytes)
            ref = typed.get(dtype_name)
            if ref is None:
                ref = typed[dtype_name] = _StorageRef((key, dtype_name,
                                                       _typed(raw, dtype_name, big), location))
            return ref

        obj = _unpickle(_read_record(zf, pkls[0], name), name, storage)
    # placed after unpickling, so map_location's own errors reach the caller unchanged
    placed = {id(ref): place(ref[2], ref[3])
              for _raw, typed, _loc in storages.values() for ref in typed.values()}
    return _Resolver(name, lambda ref: placed[id(ref)])(obj)


def _read_record(zf, rec, name):
    try:
        return zf.read(rec)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        _fail(name, f"record {rec} is damaged ({e}): the file is truncated or corrupted")


def _read_record_into(zf, info, out, name):
    """Read zip member ``info`` into the uint8 array ``out`` (checked against its CRC)."""
    view = memoryview(out)
    try:
        with zf.open(info) as src:
            got = 0
            while got < len(view):
                chunk = src.read(min(1 << 24, len(view) - got))
                if not chunk:
                    break
                view[got:got + len(chunk)] = chunk
                got += len(chunk)
            if got != len(view) or src.read(1):
                raise EOFError(f"{got} bytes instead of {len(view)}")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        _fail(name, f"record {info.filename} is damaged ({e}): the file is truncated or "
                    f"corrupted")


# torch.save's legacy stream starts with this number and this protocol version
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001


class _PlainUnpickler(pickle.Unpickler):
    """For the legacy header pickles: numbers, strings and containers only."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load global "
                                     f"{_PY2_MODULES.get(module, module)}.{name} in a "
                                     f"checkpoint's header")


def _plain(fh, name, what):
    try:
        return _PlainUnpickler(fh, encoding="utf-8").load()
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"ember.load: {name}: {e}") from None
    except _LOAD_ERRORS as e:
        _fail(name, f"malformed {what} ({type(e).__name__}: {e})")


def load_legacy(fh, name, map_location, size):
    """Load a legacy (non-zip) torch checkpoint from binary stream ``fh``; ``size``:
    the bytes from here to the end, or None if unknown."""
    if _plain(fh, name, "magic number") != _LEGACY_MAGIC:
        _fail(name, "is a Python pickle but not a torch checkpoint (wrong magic number); "
                    "Ember never runs arbitrary pickles")
    if _plain(fh, name, "protocol version") != _LEGACY_PROTOCOL:
        _fail(name, "unsupported legacy torch protocol version")
    info = _plain(fh, name, "system information")
    little = info.get("little_endian", True) if isinstance(info, dict) else True
    place = _placer(map_location)
    roots = {}                    # key -> (dtype name, numel, location, uint8 array)
    views = {}                    # (key, dtype or view key) -> _StorageRef

    def storage(key, dtype_name, location, numel, view):
        _need_dtype(name, dtype_name)
        itemsize = np.dtype(_RAW_NP[dtype_name]).itemsize
        root = roots.get(key)
        if root is None:
            if size is not None and numel * itemsize > size:
                _fail(name, f"storage {key!r} declares {numel * itemsize} bytes, more than "
                            f"the whole file holds: the file is truncated or corrupted")
            root = roots[key] = (dtype_name, numel, location, None)
        elif root[0] != dtype_name or root[1] != numel:
            _fail(name, f"storage {key!r} is described twice, differently")
        vkey = (key, None)
        if view is not None:
            if type(view) is not tuple or len(view) != 3 or type(view[0]) is not str \
                    or any(type(v) is not int or v < 0 for v in view[1:]) \
                    or view[1] + view[2] > numel:
                raise pickle.UnpicklingError(f"ember.load: {name}: malformed storage view "
                                             f"{_short(view)}")
            vkey = (key, view)
        ref = views.get(vkey)
        if ref is None:
            ref = views[vkey] = _StorageRef((key, dtype_name, vkey, location))
        return ref

    obj = _unpickle(fh, name, storage)
    keys = _plain(fh, name, "storage key list")
    if type(keys) is not list or not all(type(k) is str for k in keys):
        _fail(name, "malformed storage key list")
    if sorted(keys) != sorted(roots):
        _fail(name, f"the storage key list {_short(keys)} does not match the storages the "
                    f"object uses {_short(sorted(roots))}")
    arrays = {}
    for key in keys:
        dtype_name, numel, location, _ = roots[key]
        head = fh.read(8)
        if len(head) != 8:
            _fail(name, f"file is truncated (ended before storage {key!r})")
        count = struct.unpack("<q" if little else ">q", head)[0]
        if count != numel:
            _fail(name, f"storage {key!r} should hold {numel} elements, its data says {count}")
        nbytes = numel * np.dtype(_RAW_NP[dtype_name]).itemsize
        raw = np.empty(nbytes, dtype=np.uint8)
        view = memoryview(raw)
        got = 0
        while got < nbytes:
            n = fh.readinto(view[got:]) if hasattr(fh, "readinto") else None
            if not n:
                break
            got += n
        if got != nbytes:
            _fail(name, f"file is truncated (ended inside storage {key!r})")
        arrays[key] = place(_typed(raw, dtype_name, not little), location)  # (arr, backend)

    def storage_array(ref):
        key, dtype_name, vkey, _ = ref
        arr, backend = arrays[key]
        if vkey[1] is not None:
            _, off, n = vkey[1]
            arr = arr[off:off + n]
        return arr, backend

    return _Resolver(name, storage_array)(obj)


# ---- writing ---------------------------------------------------------------------------------

class _PickleWriter:
    """Writes a protocol-2 pickle of Ember objects that torch's weights_only unpickler
    reads: the opcodes torch's own pickler would emit for the same state dict."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")          # PROTO 2
        self.memo = {}                             # id(obj) -> memo index
        self.n = 0                                 # next memo index
        self.keep = []                             # memoised objects, alive while writing
        self.globals = {}                          # "module\nname" -> memo index
        self.storages = {}                         # (id(root), dtype str) -> (key, array)
        self.Parameter = None
        try:
            from .nn.parameter import Parameter
            self.Parameter = Parameter
        except ImportError:
            pass

    # opcodes
    def put(self):
        """BINPUT the top of the stack; its memo index."""
        i = self.n
        self.n += 1
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)
        return i

    def get(self, i):
        self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)

    def glob(self, module, name):
        k = f"{module}\n{name}\n"
        i = self.globals.get(k)
        if i is not None:
            return self.get(i)
        self.out += b"c" + k.encode("ascii")
        self.globals[k] = self.put()

    def memoize(self, obj):
        self.memo[id(obj)] = self.put()
        self.keep.append(obj)

    def int(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        elif -2 ** 31 <= v < 2 ** 31:
            self.out += b"J" + struct.pack("<i", v)
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(raw)]) + raw if len(raw) < 256 \
                else b"\x8b" + struct.pack("<i", len(raw)) + raw

    def str(self, s):
        raw = s.encode("utf-8", "surrogatepass")
        self.out += b"X" + struct.pack("<I", len(raw)) + raw

    def tuple(self, items, where):
        if len(items) <= 3:
            for i, v in enumerate(items):
                self.save(v, f"{where}[{i}]")
            self.out += (b")", b"\x85", b"\x86", b"\x87")[len(items)]
        else:
            self.out += b"("
            for i, v in enumerate(items):
                self.save(v, f"{where}[{i}]")
            self.out += b"t"

    def reduce(self, module, name, args, where):
        self.glob(module, name)
        self.tuple(args, where)
        self.out += b"R"

    # objects
    def save(self, obj, where):
        t = type(obj)
        if obj is None:
            self.out += b"N"
        elif t is bool:
            self.out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, bool):
            self.save(bool(obj), where)
        elif isinstance(obj, int):
            self.int(int(obj))
        elif isinstance(obj, float):
            self.out += b"G" + struct.pack(">d", float(obj))
        elif isinstance(obj, str):
            self.str(str(obj))
        elif isinstance(obj, complex):
            self.reduce("__builtin__", "complex", (obj.real, obj.imag), where)
        elif id(obj) in self.memo:
            self.get(self.memo[id(obj)])
        elif isinstance(obj, Tensor):
            self.tensor(obj, where)
            self.memoize(obj)
        elif isinstance(obj, (bytes, bytearray)):
            if isinstance(obj, bytearray):
                self.glob("__builtin__", "bytearray")
            self.reduce("_codecs", "encode", (bytes(obj).decode("latin1"), "latin1"), where)
            if isinstance(obj, bytearray):
                self.out += b"\x85R"
        elif isinstance(obj, D.dtype):
            self.glob("torch", obj.name)
        elif isinstance(obj, device):
            self.reduce("torch", "device", (str(obj),), where)
        elif isinstance(obj, Size):
            self.reduce("torch", "Size", (tuple(int(s) for s in obj),), where)
        elif isinstance(obj, tuple) and not hasattr(obj, "_fields"):
            self.tuple(obj, where)
        elif isinstance(obj, list):
            self.out += b"]"
            self.memoize(obj)
            self.items(obj, where, b"e")
        elif isinstance(obj, collections.OrderedDict):
            self.glob("collections", "OrderedDict")
            self.out += b")R"
            self.memoize(obj)
            self.pairs(obj, where)
            meta = getattr(obj, "_metadata", None)
            if meta is not None:
                self.out += b"}"
                self.str("_metadata")
                self.save(meta, f"{where}._metadata")
                self.out += b"sb"                  # SETITEM, BUILD
        elif isinstance(obj, dict):
            self.out += b"}"
            self.memoize(obj)
            self.pairs(obj, where)
        elif isinstance(obj, set):
            self.glob("__builtin__", "set")
            self.out += b"]"
            self.items(sorted(obj, key=repr) if _sortable(obj) else list(obj), where, b"e")
            self.out += b"\x85R"
        else:
            kind = ("a NumPy array or scalar (wrap it with ember.from_numpy / ember.tensor)"
                    if isinstance(obj, (np.ndarray, np.generic)) else
                    "a named tuple" if isinstance(obj, tuple) else
                    f"an object of type {t.__module__}.{t.__qualname__}")
            raise TypeError(f"ember.save(format='torch'): cannot save {kind} at {where}: "
                            f"torch.load(weights_only=True) would refuse it. Supported: "
                            f"tensors, None, bool, int, float, complex, str, bytes, dict, "
                            f"OrderedDict, list, tuple, set, dtypes, devices, Size")

    def items(self, seq, where, op):
        if seq:
            self.out += b"("
            for i, v in enumerate(seq):
                self.save(v, f"{where}[{i}]")
            self.out += op

    def pairs(self, d, where):
        if d:
            self.out += b"("
            for k, v in d.items():
                self.save(k, f"{where} (a key)")
                self.save(v, f"{where}[{k!r}]")
            self.out += b"u"

    def tensor(self, t, where):
        param = self.Parameter is not None and isinstance(t, self.Parameter)
        if param:
            self.glob("torch._utils", "_rebuild_parameter")
            self.out += b"("
        arr = t._data if isinstance(t._data, np.ndarray) else np.asarray(t._data)
        name = _STORAGE_OF.get(arr.dtype.name)
        if name is None:
            raise TypeError(f"ember.save(format='torch'): cannot save a tensor of dtype "
                            f"{arr.dtype} at {where}")
        key, storage, offset, stride = self.storage_of(arr)
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.out += b"(("
        self.str("storage")
        self.glob("torch", name)
        self.str(key)
        self.str("cpu")
        self.int(storage.size)
        self.out += b"tQ"                              # TUPLE, BINPERSID
        self.int(offset)
        self.tuple(tuple(int(s) for s in arr.shape), where)
        self.tuple(stride, where)
        self.out += b"\x88" if (t.requires_grad and not param) else b"\x89"
        self.glob("collections", "OrderedDict")
        self.out += b")Rt"                             # OrderedDict(), TUPLE
        self.out += b"R"
        if param:
            self.out += b"\x88" if t.requires_grad else b"\x89"
            self.glob("collections", "OrderedDict")
            self.out += b")RtR"

    def storage_of(self, arr):
        """(key, 1-D storage array, element offset, element strides) for ``arr``: a view
        of the buffer that owns its memory when the layout allows, so tensors sharing
        memory in Ember share one storage in the file; else a contiguous copy of its own."""
        root = arr
        while isinstance(root.base, np.ndarray):
            root = root.base
        isz = arr.itemsize
        found = None
        if arr.size and root.flags.c_contiguous and root.nbytes % isz == 0:
            off = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
            strides = []
            for n, st in zip(arr.shape, arr.strides):
                if n == 1:
                    st = isz if st % isz or st < 0 else st
                strides.append(st)
            ok = off >= 0 and off % isz == 0 and all(st >= 0 and st % isz == 0
                                                     for st in strides)
            if ok:
                last = off + sum((n - 1) * st for n, st in zip(arr.shape, strides)) + isz
                if last <= root.nbytes:
                    found = (root, off // isz, tuple(st // isz for st in strides))
        if found is None:                            # its own contiguous copy
            own = np.ascontiguousarray(arr).reshape(-1)
            root, offset = own, 0
            stride, acc = [], 1
            for n in reversed(arr.shape):
                stride.append(acc)
                acc *= max(n, 1)
            stride = tuple(reversed(stride))
        else:
            root, offset, stride = found
        gk = (id(root), arr.dtype.str)
        hit = self.storages.get(gk)
        if hit is None:
            flat = root.reshape(-1).view(np.uint8).view(arr.dtype)
            if not flat.dtype.isnative or flat.dtype.byteorder == ">":
                flat = flat.astype(flat.dtype.newbyteorder("<"))
            hit = self.storages[gk] = (str(len(self.storages)), flat, root)
        return hit[0], hit[1], offset, stride


def _sortable(s):
    try:
        sorted(s)
        return True
    except TypeError:
        return False


_ALIGN = 64


def encode(obj):
    """The pickle of ``obj`` and its storages [(key, 1-D array, owner)]: raises TypeError
    for what torch.load(weights_only=True) could not read, before any file is touched."""
    w = _PickleWriter()
    w.save(obj, "obj")
    w.out += b"."                                     # STOP
    return bytes(w.out), sorted(w.storages.values(), key=lambda s: int(s[0]))


def write_zip(encoded, fh, archive_name="archive"):
    """Write ``encode(obj)``'s result to binary file ``fh`` in torch's zip format."""
    pkl, storages = encoded
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        def record(name, data):
            # torch aligns each record's data to 64 bytes (so it can be mapped in place);
            # pad the local header's extra field to get there
            full = f"{archive_name}/{name}"
            info = zipfile.ZipInfo(full, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            nbytes = data.nbytes if isinstance(data, np.ndarray) else len(data)
            info.file_size = nbytes
            zip64 = nbytes * 1.05 > zipfile.ZIP64_LIMIT
            start = zf.fp.tell() + 30 + len(full.encode()) + (20 if zip64 else 0)
            pad = -start % _ALIGN
            if pad and pad < 4:
                pad += _ALIGN
            if pad:
                info.extra = struct.pack("<HH", 0x4246, pad - 4) + b"Z" * (pad - 4)
            with zf.open(info, "w", force_zip64=zip64) as dst:
                if isinstance(data, np.ndarray):
                    # (as bytes: a buffer cannot describe every dtype, bfloat16's among them)
                    dst.write(memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8)))
                else:
                    dst.write(data)
        record("data.pkl", pkl)
        record(".format_version", b"1")
        record(".storage_alignment", b"64")
        record("byteorder", b"little")
        for key, flat, _root in storages:
            record(f"data/{key}", flat)
        record("version", b"3\n")
