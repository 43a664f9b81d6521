"""Writing torch's zip checkpoint without torch: a protocol-2 pickle built opcode by
opcode, and the zip records with 64-byte-aligned tensor data."""
import collections
import struct
import zipfile

import numpy as np

from .. import _dtype as D, backends
from .._tensor import Tensor
from .._tensor_base import Size, device
from ._dtypes import _STORAGE_OF


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
            from ..nn.parameter import Parameter
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
        arr, location = t._data, "cpu"
        if type(arr) is not np.ndarray and not backends.backend_of(arr).host:
            # a device's tensor: its host copy, saved at torch's location ("cuda:0") so
            # torch.load puts it back there.  (Its own storage: views of one device
            # tensor are not stored as sharing one, as they are from the CPU.)
            arr, location = t.numpy(force=True), str(t.device)
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
        self.str(location)
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
