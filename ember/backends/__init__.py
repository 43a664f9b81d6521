"""Backends: an op says *what* to compute, its tensors' backend says *how*.

A backend is one kind of device (``cpu`` today; a GPU backend plugs in the
same way).  It owns three things:

* ``xp``: the array namespace its arrays are computed with (NumPy on the
  CPU; the array-API/``cupy`` pattern).  An op never imports NumPy to
  compute: it asks ``namespace(x)`` for the namespace of its input and
  writes ``xp.exp(x)``, ``xp.where(m, a, b)``.
* ``kernels``: its table of fused kernels (``K.softmax``, ``K.layer_norm``,
  ``K.matmul`` ...).  A name the backend has no special kernel for is
  answered by the generic formula in ``ember.backends.generic``, written
  against ``xp`` too, so every backend has every kernel.
* ``array_types``: the types of its arrays, by which ``backend_of`` finds
  the backend of any array an op is handed.

Ops import this package and nothing below it (no Numba, no threads, no
BLAS): those belong to ``ember.backends.cpu``.  Adding a backend is
``register(Backend(...))`` plus, where it pays, kernels in its own table.

The torch flags modules (``ember.backends.cudnn``, ``.mps``, ``.cuda``)
live here too, as in torch.
"""
from ._flags import cudnn, mps, cuda  # noqa: F401  (torch.backends.<name>)


class Backend:
    """One device type: its array namespace, its kernel table, its array types.

    ``host``: whether its arrays live in host memory (``Tensor.numpy()`` may
    hand them out without a copy)."""

    __slots__ = ("name", "xp", "kernels", "array_types", "host", "device")

    def __init__(self, name, xp, kernels, array_types, host=True):
        self.name = name
        self.xp = xp
        self.kernels = kernels
        self.array_types = tuple(array_types)
        self.host = host
        self.device = None      # the ember.device, set by ember._tensor

    def __repr__(self):
        return f"<ember backend '{self.name}'>"


_BY_NAME = {}
_BY_TYPE = {}       # exact array type -> Backend (the hot lookup)


def register(backend):
    """Make ``backend`` the one for device type ``backend.name``."""
    _BY_NAME[backend.name] = backend
    for t in backend.array_types:
        _BY_TYPE[t] = backend
    return backend


def get(name):
    """The backend of device type ``name`` ('cpu', ...), or None."""
    return _BY_NAME.get(name)


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


def namespace(*arrays):
    """The array namespace (``xp``) of the first array among ``arrays``."""
    for x in arrays:
        b = _BY_TYPE.get(type(x))
        if b is not None:
            return b.xp
    for x in arrays:
        if x is not None and not isinstance(x, (int, float, complex, bool)):
            return _slow_backend_of(x).xp
    return _BY_NAME["cpu"].xp


def kernels(*arrays):
    """The kernel table of the first array's backend."""
    for x in arrays:
        b = _BY_TYPE.get(type(x))
        if b is not None:
            return b.kernels
    for x in arrays:
        if x is not None and not isinstance(x, (int, float, complex, bool)):
            return _slow_backend_of(x).kernels
    return _BY_NAME["cpu"].kernels


from . import generic  # noqa: E402,F401  (the generic kernel table)
from . import cpu  # noqa: E402,F401  (registers the CPU backend)
