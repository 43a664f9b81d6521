"""The backend registry: device type and array type -> Backend (see ember.backends)."""
import contextlib
import threading


def _same(x):
    return x


class Backend:
    """One device type: its array namespace, its kernel table, its array types.

    ``from_host(ndarray)`` makes one of its arrays from a NumPy array (a copy
    to the device, or a view where the memory is the host's); ``to_host(arr)``
    the reverse.  ``host``: whether its arrays live in host memory, so that
    ``Tensor.numpy()`` may share them.

    ``runtime``: for an accelerator with numbered devices (CUDA), the object
    that answers device questions: ``device_count()``, ``current_device()``,
    ``index_of(array)``, ``using(index)`` (a context placing new arrays on
    device ``index``), ``make_rng(seed)`` (a generator drawing device arrays),
    and what ``ember.cuda`` reports (memory, names, synchronize).  None for
    the CPU and the test backends without device numbers."""

    __slots__ = ("name", "xp", "kernels", "array_types", "host", "from_host", "to_host",
                 "runtime")

    def __init__(self, name, xp, kernels, array_types, host=True, from_host=_same, to_host=_same,
                 runtime=None):
        self.name = name
        self.xp = xp
        self.kernels = kernels
        self.array_types = tuple(array_types)
        self.host = host
        self.from_host = from_host
        self.to_host = to_host
        self.runtime = runtime

    def __repr__(self):
        return f"<ember backend '{self.name}'>"


class DefaultBackend(threading.local):
    """The backend factories put new tensors on when no ``device=`` is given
    (``ember.set_default_device``): None for the CPU.  Per thread, as torch's
    default device is: a new thread starts on the CPU whatever its parent
    set.  Read and written as ``d[0]``, like the one-item list it replaced
    in ember._tensor_base."""
    backend = None      # (the class attribute: every thread's starting value)

    def __getitem__(self, i):
        return self.backend

    def __setitem__(self, i, backend):
        self.backend = backend


_BY_NAME = {}
_BY_TYPE = {}       # exact array type -> Backend (the hot lookup)
ARRAY_TYPES = set()  # every backend's array types (not scalars)


def register(backend):
    """Make ``backend`` the one for device type ``backend.name``."""
    _BY_NAME[backend.name] = backend
    for t in backend.array_types:
        _BY_TYPE[t] = backend
        ARRAY_TYPES.add(t)
    XP.clear()      # (types resolved before this backend came may be its own)
    return backend


class _NamespaceByType(dict):
    """``XP[type(x)]`` is ``namespace(x)`` for an array or scalar ``x`` (never a
    Tensor), spelled as one dict lookup: no Python call.  The forwards and
    backwards that run on every step of a small model use it (op_overhead
    calls ``namespace`` ~50 times a step; each call is ~0.5% of the step).
    A type not seen yet (a scalar type, an array subclass, a Python number)
    is resolved here once, as ``namespace`` would, and remembered."""

    def __missing__(self, t):
        b = _BY_TYPE.get(t)
        if b is None:
            b = next((b for at, b in list(_BY_TYPE.items()) if issubclass(t, at)), _BY_NAME["cpu"])
        self[t] = b.xp
        return b.xp


XP = _NamespaceByType()


def is_array(x):
    """Whether ``x`` is some backend's array (not a Tensor, scalar or list)."""
    return type(x) in ARRAY_TYPES


def asarray(x, dtype=None):
    """``x`` as an array of its own backend: arrays stay where they are (cast
    to ``dtype`` if given); NumPy scalars, Python numbers and lists become
    CPU arrays."""
    if type(x) in ARRAY_TYPES:
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    return backend_of(x).xp.asarray(x, dtype=dtype)


def writeable(a):
    """Whether array ``a`` may be written.  NumPy marks some views read-only
    (an expanded tensor's, a cached mask); CuPy's arrays have no such flag
    (``a.flags`` has no ``writeable``) and are always writeable, so there an
    expanded array (a zero stride) reads as not writeable, as NumPy marks it."""
    w = getattr(a.flags, "writeable", None)
    if w is None:
        # (no flag: a device's array.  An expanded one, a zero stride over more than
        # one element, is what NumPy marks read-only: torch refuses to write it too)
        return not any(st == 0 and n > 1 for st, n in zip(a.strides, a.shape))
    return w


def make_readonly(a):
    """Mark ``a`` read-only where its array library can (NumPy); a no-op on CuPy."""
    try:
        a.flags.writeable = False
    except AttributeError:
        pass
    return a


def placed(backend, index):
    """A context in which ``backend`` makes new arrays on its device number
    ``index`` (None: the current device; a backend without device numbers
    has nothing to place)."""
    if index is None or backend.runtime is None:
        return contextlib.nullcontext()
    return backend.runtime.using(index)


def get(name):
    """The backend of device type ``name`` ('cpu', ...), or None."""
    return _BY_NAME.get(name)


def unregister(backend):
    """Undo ``register`` (tests register a stand-in backend for a while)."""
    if _BY_NAME.get(backend.name) is backend:
        del _BY_NAME[backend.name]
    for t in backend.array_types:
        if _BY_TYPE.get(t) is backend:
            del _BY_TYPE[t]
        ARRAY_TYPES.discard(t)
    for t, b in list(_BY_TYPE.items()):     # (subclasses resolved to it on the slow path)
        if b is backend:
            del _BY_TYPE[t]
    XP.clear()


def backend_of(x):
    """The backend whose array ``x`` is; Python numbers and NumPy scalars are the CPU's."""
    b = _BY_TYPE.get(type(x))
    if b is not None:
        return b
    return _slow_backend_of(x)


def _slow_backend_of(x):
    data = getattr(x, "_data", None)        # (an ember.Tensor)
    if data is not None:
        return backend_of(data)
    for t, b in list(_BY_TYPE.items()):
        if isinstance(x, t):
            _BY_TYPE[type(x)] = b
            return b
    return _BY_NAME["cpu"]


def namespace(x=None, *more):
    """The array namespace (``xp``) of the first array among the arguments."""
    b = _BY_TYPE.get(type(x))          # (the common case: the first is an array)
    if b is not None:
        return b.xp
    return _first_backend((x,) + more).xp


def kernels(x=None, *more):
    """The kernel table of the first array's backend."""
    b = _BY_TYPE.get(type(x))
    if b is not None:
        return b.kernels
    return _first_backend((x,) + more).kernels


def _first_backend(arrays):
    for x in arrays:
        b = _BY_TYPE.get(type(x))
        if b is not None:
            return b
    for x in arrays:
        if x is not None and not isinstance(x, (int, float, complex, bool)):
            return _slow_backend_of(x)
    return _BY_NAME["cpu"]
