"""Saving and loading without pickle: ``save``/``load`` and safetensors interop.

``ember.save(obj, f)`` writes a self-describing file that ``ember.load``
reads back; loading never runs code from the file (there is no pickle, so
``weights_only`` is always effectively True).  What can be saved: Ember
tensors of every dtype (0-d and non-contiguous ones too; ``requires_grad``
and ``nn.Parameter``-ness are kept), NumPy arrays and scalars, ``None``,
bools, ints, floats, strings, bytes, dicts (``OrderedDict`` with its
``_metadata`` too), lists, tuples, named tuples, sets, Ember dtypes,
``ember.Size`` and devices, nested arbitrarily.  Anything else raises
TypeError naming where it sits in ``obj``, before any file is touched.

File layout (all integers little-endian)::

    8 bytes   magic  b"\\x89EMBER\\r\\n"
    4 bytes   format version (1)
    4 bytes   CRC32 of the header
    8 bytes   header length H
    H bytes   header: UTF-8 JSON, {"payload_nbytes": P, "blobs": [...], "root": node}
    padding   to a multiple of 64
    P bytes   payload: the raw bytes of every array ("blob"), each 64-byte aligned

Each blob entry records ``dtype`` (a NumPy little-endian type string),
``shape``, ``offset`` and ``nbytes`` within the payload and the ``crc32`` of
its bytes.  ``root`` describes the object: JSON scalars stand for
themselves, every JSON object is a tagged node (``{"T": "dict", ...}``,
``{"T": "tensor", "blob": 3, ...}``).  Every length, offset, dtype and
checksum is validated against the file before anything is returned, so a
truncated, corrupted or foreign file raises ``SerializationError`` naming
the file and nothing half-loaded escapes.

Saving to a path is atomic: the data goes to a temporary file in the same
directory, which is flushed, fsync'ed and then renamed over the target, so
a crash mid-save leaves the previous file intact.  The temporary file's name
carries the writer's process id; a later save into the directory removes
those a killed writer left behind.

Sizes a header declares are checked against the file before anything is
allocated; from a pipe, whose size is unknown, arrays grow with the bytes
that actually arrive, so a crafted header declaring terabytes is reported as
a truncated file rather than exhausting memory.

Tensors are stored by value.  The same tensor object saved twice is stored
once and loads as one object; distinct tensors that share memory (views of
one another) are saved separately and no longer share memory after loading.

``save_safetensors`` / ``load_safetensors`` read and write the safetensors
format (the optional ``safetensors`` package), including files written by
``safetensors.torch.save_file``; ``ember.load`` recognises them too.

torch's own checkpoints (``torch.save``'s zip and legacy formats) are read and, with
``save(..., format="torch")``, written by ``ember/_torch_format.py``, which runs their
pickle in a restricted unpickler (torch's ``weights_only=True`` rules).
"""
import collections
import io
import json
import os
import struct
import tempfile
import zlib

import numpy as np

from . import _dtype as D
from ._errors import SerializationError  # (defined low: the torch reader raises it too)
from ._tensor import Tensor
from ._tensor_base import Size, device, _wrap, _check_device, _backend_for, DeviceUnavailableError
from ._creation import _from_host_at

__all__ = ["save", "load", "SerializationError", "save_safetensors", "load_safetensors",
           "load_torch_safetensors"]

MAGIC = b"\x89EMBER\r\n"
VERSION = 1
_PREAMBLE = struct.Struct("<IIQ")  # version, header crc32, header length
_ALIGN = 64
# A header larger than this is certainly not ours (it only holds structure).
_MAX_HEADER = 1 << 30
# Reads from a stream of unknown size go in pieces of this many bytes.
_CHUNK = 1 << 24


# ---- saving --------------------------------------------------------------------------------

def _parameter_type():
    try:
        from .nn.parameter import Parameter
        return Parameter
    except ImportError:  # nn not importable: nothing is a Parameter
        return None


def _le(arr):
    """``arr`` as a C-contiguous little-endian array (a copy only if needed)."""
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not _LITTLE):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


_LITTLE = np.little_endian
_SCALARS = (type(None), bool, int, float, str)


class _Encoder:
    """Turns an object into a JSON-able node tree plus a list of arrays."""

    def __init__(self):
        self.blobs = []          # contiguous little-endian arrays
        self.memo = {}           # id(array-like object) -> blob index
        self.keep = []           # keeps memoised objects alive while encoding
        self.Parameter = _parameter_type()

    def blob(self, obj, arr):
        i = self.memo.get(id(obj))
        if i is None:
            i = len(self.blobs)
            self.blobs.append(_le(arr))
            self.memo[id(obj)] = i
            self.keep.append(obj)
        return i

    def encode(self, obj, where):
        t = type(obj)
        if t in _SCALARS:
            return obj
        if isinstance(obj, Tensor):
            d = obj._data
            node = {"T": "tensor", "requires_grad": bool(obj.requires_grad)}
            if type(d) is not np.ndarray:       # (another device's: its host copy, and where)
                node["device"] = str(obj.device)
                d = obj.numpy(force=True)
            node["blob"] = self.blob(obj, d)
            if self.Parameter is not None and isinstance(obj, self.Parameter):
                node["parameter"] = True
            return node
        if isinstance(obj, np.ndarray):
            _check_array_dtype(obj.dtype, where)
            return {"T": "ndarray", "blob": self.blob(obj, obj)}
        if isinstance(obj, np.generic):
            arr = np.asarray(obj)
            _check_array_dtype(arr.dtype, where)
            return {"T": "npscalar", "blob": self.blob(arr, arr)}
        if isinstance(obj, (bool, int, float, str)):  # subclasses (IntEnum, ...) -> plain
            return (bool if isinstance(obj, bool) else int if isinstance(obj, int)
                    else float if isinstance(obj, float) else str)(obj)
        if isinstance(obj, (bytes, bytearray)):
            arr = np.frombuffer(bytes(obj), dtype=np.uint8)
            return {"T": "bytes", "blob": self.blob(arr, arr)}
        if isinstance(obj, dict):
            items = [[self.encode(k, f"{where} (a key)"), self.encode(v, f"{where}[{k!r}]")]
                     for k, v in obj.items()]
            if isinstance(obj, collections.OrderedDict):
                node = {"T": "odict", "items": items}
                meta = getattr(obj, "_metadata", None)
                if meta is not None:
                    node["meta"] = self.encode(meta, f"{where}._metadata")
                return node
            return {"T": "dict", "items": items}
        if isinstance(obj, Size):
            return {"T": "size", "items": [int(s) for s in obj]}
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return {"T": "namedtuple", "name": t.__name__, "fields": list(obj._fields),
                    "items": [self.encode(v, f"{where}.{f}") for f, v in zip(obj._fields, obj)]}
        if isinstance(obj, (list, tuple, set, frozenset)):
            kind = ("list" if isinstance(obj, list) else "tuple" if isinstance(obj, tuple)
                    else "set" if isinstance(obj, set) else "frozenset")
            return {"T": kind, "items": [self.encode(v, f"{where}[{i}]")
                                         for i, v in enumerate(obj)]}
        if isinstance(obj, D.dtype):
            return {"T": "dtype", "name": obj.name}
        if isinstance(obj, device):
            return {"T": "device", "name": str(obj)}
        raise TypeError(f"ember.save: cannot save an object of type {t.__module__}.{t.__qualname__} "
                        f"at {where}; supported: tensors, NumPy arrays, None, bool, int, float, "
                        f"str, bytes, dict, list, tuple, set, named tuples, dtypes")


_BLOB_DTYPES = {"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8",
                "<f2", "<f4", "<f8", "<c8", "<c16"}


# bfloat16 (ml_dtypes' type, whose NumPy type string "<V2" says nothing) is stored
# under this name, little-endian, and read back as ember.bfloat16.
_BF16_NAME = "bf16"


def _dtype_str(dt):
    """The little-endian type string a blob of dtype ``dt`` is stored as."""
    if dt.name == "bfloat16":
        return _BF16_NAME
    return dt.newbyteorder("<").str if dt.byteorder in "=><" and dt.itemsize > 1 else dt.str


def _blob_np_dtype(s):
    """The NumPy dtype of a blob's type string (bfloat16 loads ml_dtypes)."""
    return D.to_dtype(D.bfloat16).np if s == _BF16_NAME else np.dtype(s)


def _blob_dtype_ok(s):
    if s in _BLOB_DTYPES or s == _BF16_NAME:
        return True
    # fixed-width text: "<U12" (UCS-4) or "|S12" (bytes)
    return (len(s) > 2 and s[:2] in ("<U", "|S") and s[2:].isdigit() and int(s[2:]) > 0
            and len(s) < 12)


def _check_array_dtype(dt, where):
    if not _blob_dtype_ok(_dtype_str(dt)):
        raise TypeError(f"ember.save: cannot save a NumPy array of dtype {dt} at {where} "
                        f"(object and structured arrays are not supported)")


def _build(obj):
    """Encode ``obj``: the header bytes and the blobs with their offsets."""
    enc = _Encoder()
    root = enc.encode(obj, "obj")
    entries, offset = [], 0
    for arr in enc.blobs:
        raw = arr.reshape(-1).view(np.uint8)
        entries.append({"dtype": _dtype_str(arr.dtype), "shape": list(arr.shape),
                        "offset": offset, "nbytes": raw.nbytes, "crc32": zlib.crc32(raw)})
        offset += -(-raw.nbytes // _ALIGN) * _ALIGN
    header = {"format": "ember.save", "version": VERSION, "payload_nbytes": offset,
              "blobs": entries, "root": root}
    return json.dumps(header, separators=(",", ":")).encode("utf-8"), enc.blobs


def _write_payload(fh, header, blobs):
    """Write the whole file to the binary file object ``fh``."""
    fh.write(MAGIC)
    fh.write(_PREAMBLE.pack(VERSION, zlib.crc32(header), len(header)))
    fh.write(header)
    start = len(MAGIC) + _PREAMBLE.size + len(header)
    fh.write(b"\0" * (-start % _ALIGN))
    for arr in blobs:
        raw = arr.reshape(-1).view(np.uint8)
        fh.write(raw)
        fh.write(b"\0" * (-raw.nbytes % _ALIGN))


def _is_path(f):
    return isinstance(f, (str, os.PathLike))


# A save's temporary file is named after its target, this host and the writing process:
# ".model.pt.ember-3f2a9c01-12345-k2j4h1.tmp".  A writer killed mid-save (SIGKILL, power
# loss) cannot remove its own; the next save into the directory removes those whose
# process is gone.  Only this host's: a process id means nothing on another machine
# sharing the directory.
_TMP_MARK = ".ember-"


def _host_tag():
    import socket
    return format(zlib.crc32(socket.gethostname().encode()), "08x")


def _tmp_prefix(base, pid):
    return f".{base}{_TMP_MARK}{_host_tag()}-{pid}-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True                     # (it exists, owned by someone else)
    return True


def _remove_stale_temporaries(directory):
    """Delete this host's save temporaries in ``directory`` whose writer has died."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    tag = _TMP_MARK + _host_tag() + "-"
    for name in names:
        i = name.find(tag)
        if not (name.startswith(".") and name.endswith(".tmp") and i > 0):
            continue
        pid = name[i + len(tag):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass                        # (another saver removed it first, or no permission)


def _atomic_write(path, write):
    """Call ``write(fh)`` on a temporary file next to ``path``, then rename it
    over ``path`` once it is safely on disk.  On any error the temporary file
    is removed and ``path`` is untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {directory} does not exist.")
    _remove_stale_temporaries(directory)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(os.path.basename(path), os.getpid()),
                               suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; give it the mode a plain open() would.
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False, *, format="ember"):
    """Save ``obj`` to ``f``, a path (written atomically) or a binary file object
    opened for writing.

    ``format="ember"`` (the default) writes Ember's pickle-free format (see the module
    docstring for what ``obj`` may contain).  ``format="torch"`` writes torch's zip
    checkpoint, which ``torch.load(f, weights_only=True)`` reads: tensors (views of one
    buffer share one storage), parameters, dtypes, devices, ``Size`` and plain
    containers and scalars.  Anything else raises TypeError before the file is touched.
    The pickle-related arguments exist for torch compatibility and are ignored."""
    if format == "torch":
        from . import _torch_format
        encoded = _torch_format.encode(obj)
        write = lambda fh: _torch_format.write_zip(encoded, fh)  # noqa: E731
    elif format == "ember":
        header, blobs = _build(obj)
        write = lambda fh: _write_payload(fh, header, blobs)  # noqa: E731
    else:
        raise ValueError(f"ember.save: format must be 'ember' or 'torch', got {format!r}")
    if _is_path(f):
        _atomic_write(f, write)
    else:
        if not hasattr(f, "write"):
            raise TypeError(f"ember.save: f must be a path or a writable binary file object, "
                            f"got {type(f).__name__}")
        if isinstance(f, io.TextIOBase):
            raise TypeError("ember.save: f is a text-mode file; open it in binary mode ('wb')")
        write(f)


# ---- loading -------------------------------------------------------------------------------

def _fail(name, msg):
    raise SerializationError(f"{name}: {msg}")


class _Reader:
    """Exact-size reads from a binary stream, naming the file on a short read."""

    def __init__(self, fh, name):
        self.fh, self.name = fh, name

    def read(self, n, what):
        if n > _CHUNK:                  # (in pieces: a corrupt length must not allocate)
            parts, got = [], 0
            while got < n:
                part = self.fh.read(min(_CHUNK, n - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
            data = b"".join(parts)
        else:
            data = self.fh.read(n)
        if data is None or len(data) != n:
            _fail(self.name, f"file is truncated (ended while reading {what}); "
                             f"the save was probably interrupted")
        return data

    def read_array(self, dtype, shape, nbytes, what, bounded):
        """The next ``nbytes`` as an array.  ``bounded``: the stream's size is known and
        was checked against the header; otherwise (a pipe) a header could declare any
        size, so the array grows with the bytes that actually arrive, and a stream that
        ends early is reported as truncated before a declared terabyte is allocated."""
        if bounded or nbytes <= _CHUNK:
            arr = np.empty(shape, dtype=dtype)
            self.readinto(arr.reshape(-1).view(np.uint8), what)
            return arr
        buf = bytearray()
        while len(buf) < nbytes:
            chunk = self.fh.read(min(_CHUNK, nbytes - len(buf)))
            if not chunk:
                _fail(self.name, f"file is truncated (ended while reading {what}); "
                                 f"the save was probably interrupted")
            buf += chunk
        return np.frombuffer(buf, dtype=dtype).reshape(shape)

    def readinto(self, buf, what):
        view = memoryview(buf)
        got = 0
        while got < len(view):
            n = self.fh.readinto(view[got:]) if hasattr(self.fh, "readinto") else None
            if n is None:  # no readinto: fall back to read
                chunk = self.fh.read(len(view) - got)
                n = len(chunk) if chunk else 0
                view[got:got + n] = chunk if chunk else b""
            if not n:
                _fail(self.name, f"file is truncated (ended while reading {what}); "
                                 f"the save was probably interrupted")
            got += n


def _remaining_size(fh):
    """Bytes from the current position to the end, or None if not seekable."""
    try:
        if not fh.seekable():
            return None
        here = fh.tell()
        end = fh.seek(0, os.SEEK_END)
        fh.seek(here)
        return end - here
    except (AttributeError, OSError, ValueError):
        return None


def _describe_foreign(prefix):
    return (f"is not an Ember checkpoint, a torch checkpoint or a safetensors file (it starts "
            f"with {bytes(prefix[:8])!r})")


def _is_tar(fh, start, size):
    """Whether the seekable ``fh`` holds a tar archive from ``start`` (torch < 0.4's format)."""
    if size is None or size < 512:
        return False
    here = fh.tell()
    try:
        fh.seek(start + 257)
        return fh.read(5) == b"ustar"
    finally:
        fh.seek(here)


def _load_torch(fh, prefix, name, map_location, exact, remaining, mmap):
    """A torch checkpoint (zip or legacy stream) whose first bytes ``prefix`` were read."""
    from . import _torch_format
    mmap_path = None
    if mmap:
        if not exact:                                # (torch maps paths only, too)
            raise ValueError("f must be a file path in order to use the mmap argument")
        mmap_path = fh.name
        if not prefix.startswith(b"PK"):
            raise RuntimeError(f"mmap can only be used with files saved with `torch.save("
                               f"{name}, _use_new_zipfile_serialization=True), please "
                               f"torch.save your checkpoint with this option in order to use "
                               f"mmap.")
    if exact:                                        # a path: rewind the real file
        fh.seek(-len(prefix), os.SEEK_CUR)
    else:                                            # a stream: take the rest of it
        fh = io.BytesIO(bytes(prefix) + (fh.read() or b""))
        remaining = len(fh.getbuffer())
    if prefix.startswith(b"PK"):
        return _torch_format.load_zip(fh, name, map_location, mmap_path)
    return _torch_format.load_legacy(fh, name, map_location, remaining)


def _looks_like_safetensors(prefix, size):
    if len(prefix) < 9:
        return False
    (n,) = struct.unpack("<Q", prefix[:8])
    return prefix[8:9] == b"{" and n >= 2 and (size is None or 8 + n <= size)


def _nonneg_int(v):
    return type(v) is int and v >= 0


def _validate_header(h, name, payload_size, exact):
    if not isinstance(h, dict) or h.get("format") != "ember.save":
        _fail(name, "header is not an Ember header")
    if h.get("version") != VERSION:
        _fail(name, f"unsupported format version {h.get('version')!r} (this Ember reads {VERSION})")
    total = h.get("payload_nbytes")
    blobs = h.get("blobs")
    if not _nonneg_int(total) or not isinstance(blobs, list) or "root" not in h:
        _fail(name, "malformed header")
    if payload_size is not None and (payload_size < total or (exact and payload_size != total)):
        what = "truncated" if payload_size < total else "longer than its header says"
        _fail(name, f"file is {what}: the header describes {total} bytes of tensor data, the "
                    f"file holds {payload_size}")
    end = 0
    specs = []
    for i, b in enumerate(blobs):
        try:
            dt, shape, off, nb, crc = b["dtype"], b["shape"], b["offset"], b["nbytes"], b["crc32"]
        except (TypeError, KeyError):
            _fail(name, f"malformed entry for array {i} in the header")
        if not isinstance(dt, str) or not _blob_dtype_ok(dt):
            _fail(name, f"array {i} has an unsupported dtype {dt!r}")
        if not isinstance(shape, list) or not all(_nonneg_int(s) for s in shape) or len(shape) > 64:
            _fail(name, f"array {i} has an invalid shape {shape!r}")
        if not (_nonneg_int(off) and _nonneg_int(nb) and _nonneg_int(crc)):
            _fail(name, f"array {i} has an invalid offset/length/checksum")
        dtype = _blob_np_dtype(dt)
        count = 1
        for s in shape:
            count *= s
        if count * dtype.itemsize != nb:
            _fail(name, f"array {i}: {nb} bytes do not hold shape {shape} of {dt}")
        if off < end or off + nb > total:
            _fail(name, f"array {i}: bytes [{off}, {off + nb}) overlap another array or lie "
                        f"outside the {total}-byte payload")
        end = off + nb
        specs.append((dtype, tuple(shape), off, nb, crc))
    return total, specs


_NAMEDTUPLES = {}


class _Decoder:
    """Builds objects from header nodes; only the fixed set of node types exists."""

    def __init__(self, arrays, name, map_fn, place=None):
        self.arrays, self.name, self.map_fn = arrays, name, map_fn
        self.place = place or (lambda saved: saved)   # saved location -> where it loads
        self.tensors = {}
        self.Parameter = None

    def array(self, node):
        i = node["blob"]
        if type(i) is not int or not 0 <= i < len(self.arrays):
            raise ValueError(f"array index {i!r} out of range")
        return self.arrays[i]

    def decode(self, node):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise ValueError(f"unexpected {type(node).__name__} node")
        kind = node["T"]
        if kind == "tensor":
            i = node["blob"]
            t = self.tensors.get(i)
            if t is None:
                t = self.tensor(node)
                self.tensors[i] = t
            return t
        if kind in ("list", "tuple", "set", "frozenset"):
            items = [self.decode(v) for v in self._items(node)]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
        if kind in ("dict", "odict"):
            out = {} if kind == "dict" else collections.OrderedDict()
            for pair in self._items(node):
                if type(pair) is not list or len(pair) != 2:
                    raise ValueError("malformed dict item")
                out[self.decode(pair[0])] = self.decode(pair[1])
            if "meta" in node and kind == "odict":
                out._metadata = self.decode(node["meta"])
            return out
        if kind == "ndarray":
            return self.array(node)
        if kind == "npscalar":
            arr = self.array(node)
            if arr.ndim != 0:
                raise ValueError("NumPy scalar with a shape")
            return arr[()]
        if kind == "bytes":
            arr = self.array(node)
            if arr.dtype != np.uint8:
                raise ValueError("bytes stored with a non-byte dtype")
            return arr.tobytes()
        if kind == "namedtuple":
            cls = self._namedtuple(node["name"], node["fields"])
            return cls(*[self.decode(v) for v in self._items(node)])
        if kind == "size":
            items = self._items(node)
            if not all(_nonneg_int(s) for s in items):
                raise ValueError("malformed Size")
            return Size(items)
        if kind == "dtype":
            return D._BY_NAME[node["name"]]
        if kind == "device":
            return device(str(node["name"]))
        raise ValueError(f"unknown node type {kind!r}")

    @staticmethod
    def _items(node):
        items = node["items"]
        if type(items) is not list:
            raise ValueError("malformed container")
        return items

    def _namedtuple(self, name, fields):
        # A fresh namedtuple class with the saved name and fields (the original
        # class is never imported); identifiers are validated by namedtuple.
        if not isinstance(name, str) or not isinstance(fields, list) \
                or not all(isinstance(f, str) for f in fields):
            raise ValueError("malformed named tuple")
        key = (name, tuple(fields))
        cls = _NAMEDTUPLES.get(key)
        if cls is None:
            cls = collections.namedtuple(name, fields)
            if len(_NAMEDTUPLES) < 1024:  # repeated loads give the same class
                _NAMEDTUPLES[key] = cls
        return cls

    def tensor(self, node):
        arr = self.array(node)
        D.from_numpy_dtype(arr.dtype)  # a tensor of a dtype Ember lacks is malformed
        rg = node.get("requires_grad", False) is True
        t = _wrap(arr)
        if node.get("parameter") is True:
            if self.Parameter is None:
                self.Parameter = _parameter_type()
            if self.Parameter is not None:
                t = self.Parameter(t, requires_grad=rg)
                rg = None
        if rg:
            t.requires_grad_(True)
        saved = node.get("device", "cpu")
        if not isinstance(saved, str):
            raise ValueError("malformed tensor device")
        if self.map_fn is not None:
            mapped = self.map_fn(t, saved)
            if isinstance(mapped, Tensor):
                return mapped
        return _placed(t, self.place(saved))


def _map_function(map_location):
    """The user's ``map_location`` function (torch's ``fn(tensor, location)``), or None."""
    if callable(map_location) and not isinstance(map_location, (str, device, dict)):
        return map_location
    return None


def _placement(map_location):
    """Where a tensor saved on location ``saved`` ('cpu', 'cuda:0') loads, as
    torch decides from ``map_location``: None restores it where it was saved; a
    device (or its string) puts everything there; a dict maps saved locations
    (others stay); a function decides itself (its None: where it was saved).
    Devices are checked when used: loading onto CUDA without it raises torch's
    error, and ``map_location='cpu'`` is the way out."""
    if map_location is None or callable(map_location) and not isinstance(
            map_location, (str, device, dict)):
        return lambda saved: saved
    if isinstance(map_location, dict):
        table = {str(k): v for k, v in map_location.items()}
        return lambda saved: table.get(saved, saved)
    if isinstance(map_location, (str, device)):
        _check_device(map_location)
        return lambda saved: map_location
    _check_device(str(map_location))  # e.g. a torch.device
    return lambda saved: str(map_location)


def _placed(t, where):
    """Tensor ``t`` (just read, on the CPU) on device ``where``; a Parameter stays one."""
    dev = where if isinstance(where, device) else device(str(where))
    if dev.type == "cpu":
        return t
    try:
        b = _backend_for(dev)
    except DeviceUnavailableError:
        if dev.type != "cuda":
            raise
        raise DeviceUnavailableError(
            "Attempting to deserialize object on a CUDA device but ember.cuda.is_available() "
            "is False. If you are running on a CPU-only machine, please use ember.load with "
            "map_location=ember.device('cpu') to map your storages to the CPU.") from None
    moved = t._data if b is None else _from_host_at(b, t._data, dev)
    if type(t) is Tensor:
        out = _wrap(moved)
        if t.requires_grad:
            out.requires_grad_(True)
        return out
    t._data = moved         # (a Parameter: keeps its class, now on the device)
    return t


def _load_stream(fh, name, map_location, exact, mmap=None):
    """Read one saved object from ``fh``.  ``exact``: the object must fill the
    rest of the stream (a path); a file object may hold more after it."""
    r = _Reader(fh, name)
    remaining = _remaining_size(fh)
    start = fh.tell() if remaining is not None else None
    prefix = fh.read(len(MAGIC))
    if not prefix:
        _fail(name, "file is empty (0 bytes), not an Ember checkpoint; was a save interrupted?")
    if prefix.startswith(b"PK") or prefix[:1] == b"\x80":   # a zip archive or a pickle
        return _load_torch(fh, prefix, name, map_location, exact, remaining, mmap)
    map_fn = _map_function(map_location)
    place = _placement(map_location)
    if prefix != MAGIC:
        # safetensors is recognised by content whatever the file is called
        more = fh.read(1) if len(prefix) == 8 else b""
        if _looks_like_safetensors(prefix + more, remaining):
            rest = fh.read()
            return _apply_map(_safetensors_from_bytes(bytes(prefix + more + (rest or b"")), name),
                              map_fn, place)
        if _is_tar(fh, start, remaining):
            _fail(name, "is a tar archive: torch's format before version 0.4, which Ember does "
                        "not read (torch.load refuses it under weights_only=True too); load "
                        "it with torch and save it again")
        _fail(name, _describe_foreign(prefix))
    version, header_crc, header_len = _PREAMBLE.unpack(r.read(_PREAMBLE.size, "the preamble"))
    if version != VERSION:
        _fail(name, f"unsupported format version {version} (this Ember reads {VERSION})")
    start = len(MAGIC) + _PREAMBLE.size
    if header_len > _MAX_HEADER or (remaining is not None and start + header_len > remaining):
        _fail(name, f"file is truncated or corrupted (header length {header_len} exceeds the file)")
    raw = r.read(header_len, "the header")
    if zlib.crc32(raw) != header_crc:
        _fail(name, "header checksum mismatch: the file is corrupted")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        _fail(name, f"header is not valid JSON ({e})")
    pad = -(start + header_len) % _ALIGN
    data_start = start + header_len + pad
    payload_size = None if remaining is None else remaining - data_start
    total, specs = _validate_header(header, name, payload_size, exact)
    r.read(pad, "the header padding")
    arrays, pos = [], 0
    for i, (dtype, shape, off, nb, crc) in enumerate(specs):
        if off > pos:
            r.read(off - pos, "padding")
        arr = r.read_array(dtype, shape, nb, f"array {i}", bounded=remaining is not None)
        if zlib.crc32(arr.reshape(-1).view(np.uint8)) != crc:
            _fail(name, f"checksum mismatch in array {i} (shape {list(shape)}, {dtype}): "
                        f"the file is corrupted")
        if not dtype.isnative:
            arr = arr.astype(dtype.newbyteorder("="))
        arrays.append(arr)
        pos = off + nb
    if total > pos:
        r.read(total - pos, "the final padding")
    try:
        return _Decoder(arrays, name, map_fn, place).decode(header["root"])
    except SerializationError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as e:
        _fail(name, f"malformed object description in the header ({type(e).__name__}: {e})")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Load what ``save`` wrote, a safetensors file or a torch checkpoint (``torch.save``'s
    zip format, or its legacy non-zip format) from a path or a binary file object.

    Ember files and safetensors hold no code.  torch checkpoints are read as
    ``torch.load(f, weights_only=True)`` reads them, whatever ``weights_only`` says:
    only tensors, parameters, dtypes, devices, ``Size``, ``OrderedDict`` and plain
    containers and scalars are rebuilt; any other global raises
    ``pickle.UnpicklingError`` naming it, and nothing from the file runs.

    ``map_location``: for Ember files the CPU (or ``fn(tensor, 'cpu') -> tensor``);
    for torch checkpoints as torch takes it (a device, a dict from saved location to
    location, or ``fn(storage, location)`` returning a storage, here a 1-D tensor, or
    None); storages saved on 'cuda' need ``map_location='cpu'``.  ``mmap=True`` maps a
    torch zip checkpoint's tensor data from the file (copy-on-write, as torch does)
    instead of reading it; for Ember's own files it is ignored, as are the pickle
    arguments.

    Raises FileNotFoundError for a missing path and ``SerializationError`` (a
    RuntimeError) naming the file when it is empty, truncated, corrupted or none of
    these formats.
    """
    if _is_path(f):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            out = _load_stream(fh, str(name), map_location, exact=True, mmap=mmap)
    else:
        if not hasattr(f, "read"):
            raise TypeError(f"ember.load: f must be a path or a readable binary file object, "
                            f"got {type(f).__name__}")
        if isinstance(f, io.TextIOBase):
            raise TypeError("ember.load: f is a text-mode file; open it in binary mode ('rb')")
        name = getattr(f, "name", None) or repr(f)
        out = _load_stream(f, str(name), map_location, exact=False, mmap=mmap)
    return out


def _apply_map(tensors, map_fn, place=None):
    """safetensors' tensors (read on the CPU) where ``map_location`` puts them."""
    for k, t in tensors.items():
        m = map_fn(t, "cpu") if map_fn is not None else None
        if isinstance(m, Tensor):
            tensors[k] = m
        elif place is not None:
            tensors[k] = _placed(t, place("cpu"))
    return tensors


# ---- safetensors -----------------------------------------------------------------------------

def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
        return safetensors
    except ImportError:
        raise ImportError("safetensors support needs the 'safetensors' package: "
                          "pip install safetensors (or ember[extras])") from None


def save_safetensors(tensors, path, metadata=None):
    """Write ``{name: tensor}`` to ``path`` in the safetensors format (atomically).

    Values may be Ember tensors or NumPy arrays of Ember's dtypes; ``metadata``
    is an optional ``{str: str}`` stored in the file's header.
    """
    st = _safetensors()
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors: tensors must be a dict of name -> tensor, "
                        f"got {type(tensors).__name__}")
    arrays = {}
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise TypeError(f"save_safetensors: keys must be str, got {k!r}")
        if isinstance(v, Tensor):
            arr = v.numpy(force=True)     # (a device's tensor: its host copy)
        elif isinstance(v, np.ndarray):
            arr = v
        else:
            raise TypeError(f"save_safetensors: value of {k!r} must be a tensor, "
                            f"got {type(v).__name__}")
        D.from_numpy_dtype(arr.dtype)
        arrays[k] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(a, str) and isinstance(b, str) for a, b in metadata.items())):
        raise TypeError("save_safetensors: metadata must be a dict of str -> str")
    bf16 = [k for k, a in arrays.items() if a.dtype.name == "bfloat16"]
    for k in bf16:      # (safetensors' NumPy writer knows no bfloat16: its bits as uint16)
        arrays[k] = arrays[k].view(np.uint16)
    data = st.numpy.save(arrays, metadata=metadata)
    if bf16:
        data = _retype_safetensors(data, bf16, "BF16")
    _atomic_write(path, lambda fh: fh.write(data))


def _retype_safetensors(data, keys, dtype):
    """A safetensors file's bytes with the header's dtype of ``keys`` set to ``dtype``
    (the header is JSON after its 8-byte little-endian length, padded with spaces to
    a multiple of 8 bytes; the data offsets it holds are relative to the data, which
    stays as it is)."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    for k in keys:
        header[k]["dtype"] = dtype
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def _bf16_array(raw, shape):
    """A safetensors BF16 tensor's bytes as a bfloat16 array; without ml_dtypes,
    widened exactly to float32 (bfloat16 is the high half of a float32)."""
    try:
        bf16 = D.to_dtype(D.bfloat16).np
    except ImportError:
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype="<u2").astype("=u2", copy=False).view(bf16).reshape(shape)


# safetensors dtype -> NumPy dtype Ember keeps it as
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "|i1", "U8": "|u1", "BOOL": "|b1"}
# widened losslessly to int64 (Ember has no unsigned types beyond uint8)
_ST_WIDEN = {"U16": "<u2", "U32": "<u4"}


def _safetensors_from_bytes(data, name):
    st = _safetensors()
    try:
        flat = st.numpy.deserialize(data)
    except Exception as e:  # SafetensorError: a malformed file
        _fail(name, f"not a valid safetensors file ({e})")
    out = {}
    for key, info in flat:
        kind, shape, raw = info["dtype"], tuple(info["shape"]), info["data"]
        if kind in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=_ST_DTYPES[kind]).reshape(shape)
        elif kind == "BF16":
            arr = _bf16_array(raw, shape)
        elif kind in _ST_WIDEN:
            arr = np.frombuffer(raw, dtype=_ST_WIDEN[kind]).reshape(shape).astype(np.int64)
        else:
            _fail(name, f"tensor {key!r} has dtype {kind}, which Ember cannot represent")
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if not arr.flags.writeable:
            arr = arr.copy()
        out[key] = _wrap(arr)
    return out


def load_safetensors(path):
    """Read a safetensors file into ``{name: ember tensor}``.

    Files written by any framework work (``safetensors.torch.save_file``
    included); bfloat16 tensors load as ember.bfloat16 (widened exactly to float32
    when ml_dtypes is not installed), and uint16/uint32 as int64, since Ember lacks
    those dtypes.  The metadata is
    available from ``safetensors.safe_open(path, "np").metadata()``.
    """
    name = os.fspath(path)
    with open(name, "rb") as fh:
        data = fh.read()
    if not data:
        _fail(name, "file is empty (0 bytes), not a safetensors file")
    return _safetensors_from_bytes(data, name)


def load_torch_safetensors(path):
    """Load a safetensors file written by PyTorch (``safetensors.torch.save_file``,
    e.g. a Hugging Face checkpoint) as ``{name: ember tensor}``: the same as
    ``load_safetensors``, named for discoverability."""
    return load_safetensors(path)
