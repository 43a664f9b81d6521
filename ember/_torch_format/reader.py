"""Reading torch checkpoints: the restricted unpickler, the placeholders it builds, the
resolver that turns them into Ember objects, map_location, and the zip and legacy
containers."""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from .._tensor import Tensor
from .._tensor_base import Size, device, _wrap
from .._errors import SerializationError
from ._dtypes import _RAW_NP, _STORAGE_TYPES, _DTYPE_ALIASES, _FOREIGN_DTYPES, _ember_dtype, \
    _host_dtype, _typed


def _fail(name, msg):
    raise SerializationError(f"{name}: {msg}")


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
    __slots__ = ("_dtype",)   # (read-only: __setattr__ refuses, so BUILD cannot change it)

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
                from ..nn.parameter import Parameter
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
    from .._tensor_base import _check_device
    if kind == "cuda":
        from .. import cuda
        if not cuda.is_available():
            raise RuntimeError(_CUDA_MSG)
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


def load_zip(fh, name, map_location, mmap_path=None):
    """Load a torch zip checkpoint from the seekable binary file ``fh``.  ``mmap_path``:
    map the tensor data from this file (copy-on-write, as torch's ``mmap=True``)
    instead of reading it."""
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
                if mmap_path is not None:
                    raw = _map_record(fh, info, mmap_path, archive_size, name)
                else:
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


_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")   # a zip member's local file header


def _map_record(fh, info, path, archive_size, name):
    """Zip member ``info``'s bytes mapped copy-on-write from ``path``: writes to the
    loaded tensors stay in this process, as with torch's mmap=True (MAP_PRIVATE)."""
    fh.seek(info.header_offset)
    head = fh.read(_LOCAL_HEADER.size)
    if len(head) != _LOCAL_HEADER.size or _LOCAL_HEADER.unpack(head)[0] != 0x04034B50:
        _fail(name, f"record {info.filename} has a damaged local header")
    name_len, extra_len = _LOCAL_HEADER.unpack(head)[-2:]
    start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    if start + info.file_size > archive_size:
        _fail(name, f"record {info.filename} reaches past the end of the file")
    if info.file_size == 0:
        return np.empty(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="c", offset=start, shape=(info.file_size,))


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
