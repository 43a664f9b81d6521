"""A stand-in CUDA device for tests on machines without a GPU.

``register()`` puts a backend named "cuda" in Ember's registry for the tests
that ask for it (``unregister()`` takes it out again); nothing else ever sees
it.  It behaves as the CuPy backend does where the device API can tell:

* its arrays are ``FakeCudaArray``s, NumPy arrays of their own type computed
  with NumPy, so every op runs (through the generic kernel table);
* ``host=False``: ``Tensor.numpy()`` refuses them and moves copy, so the
  paths that copy to and from a device are the ones exercised;
* like CuPy's, they refuse to compute with a NumPy array, even a 0-d one
  (CuPy raises "TypeError: Unsupported type <class 'numpy.ndarray'>"), so a
  value that crossed devices without ``.to()`` is noticed; Python numbers and
  NumPy scalars are accepted, as CuPy accepts them;
* results of computations are device arrays, NumPy scalars as 0-d arrays, as
  CuPy returns them; ``a.flags`` has CuPy's fields only (no ``writeable``),
  and the memory is described by ``__cuda_array_interface__`` only (no
  ``__array_interface__``); diagonals are writable views, as CuPy's;
* one device, number 0, and a generator of its own (NumPy's PCG64, its
  numbers again device arrays) made from the seed Ember keeps for "cuda".

What it cannot stand for: CuPy's kernels, memory, streams and timing (the
GPU-only tests check those).
"""
import contextlib
import types

import numpy as np

from ember import backends
from ember.backends._table import KernelTable, GENERIC
from guard_backend import wrap_as

_depth = 0          # > 0 while NumPy itself runs a call made on fake arrays


def _check_mixing(args, what):
    for a in args:
        if type(a) is np.ndarray:
            raise TypeError(f"Unsupported type {type(a)} ({what} on a fake cuda array and a NumPy "
                            "array: a value crossed devices without .to())")
        if type(a) in (tuple, list):
            _check_mixing(a, what)


def _wrap(r):
    """NumPy results as device arrays."""
    return wrap_as(FakeCudaArray, r)


def _run(fn, args, kwargs):
    global _depth
    _depth += 1
    try:
        return fn(*args, **kwargs)
    finally:
        _depth -= 1


class FakeCudaArray(np.ndarray):
    """A NumPy array standing for one in GPU memory."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if not _depth:
            _check_mixing(inputs, f"np.{ufunc.__name__}")
        args = tuple(x.view(np.ndarray) if isinstance(x, FakeCudaArray) else x for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, FakeCudaArray) else o
                                  for o in out)
        r = _run(getattr(ufunc, method), args, kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(r)

    def __array_function__(self, func, types_, args, kwargs):
        if not _depth:
            _check_mixing(args, f"np.{func.__name__}")
        return _wrap(_run(super().__array_function__, (func, types_, args, kwargs), {}))


class _CupyFlags:
    """What CuPy's ``a.flags`` has: no ``writeable`` (CuPy arrays are always
    writeable), so code reading it is noticed here as it would fail there."""
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, f):
        self.c_contiguous, self.f_contiguous, self.owndata = f.c_contiguous, f.f_contiguous, f.owndata


def _flags(self):
    f = np.ndarray.flags.__get__(self)
    return f if _depth else _CupyFlags(f)     # (NumPy's own code sees NumPy's flags)


FakeCudaArray.flags = property(_flags)


def _no_host_interface(self):
    if _depth:
        return np.ndarray.__array_interface__.__get__(self)
    raise AttributeError("'FakeCudaArray' object has no attribute '__array_interface__' (device "
                         "memory, as CuPy's arrays: use __cuda_array_interface__)")


def _cuda_interface(self):
    """CuPy's description of device memory (the fields Ember reads)."""
    face = np.ndarray.__array_interface__.__get__(self)
    return {"shape": face["shape"], "typestr": face["typestr"], "data": face["data"],
            "strides": face["strides"], "version": 3}


# Host memory's interface is not there, as on CuPy's arrays: code reading a pointer
# or walking memory through it is noticed here as it would fail on a GPU.
FakeCudaArray.__array_interface__ = property(_no_host_interface)
FakeCudaArray.__cuda_array_interface__ = property(_cuda_interface)


def _wrapped_method(m):
    def call(*a, **k):
        return _wrap(m(*a, **k))
    call.__name__ = m.__name__
    return call


def _writable_view(d):
    """CuPy's views are writable (NumPy hands out diagonals and broadcasts
    read-only, which CuPy does not, and the fake hides flags.writeable): the
    view and the read-only views between it and its memory's owner are made
    writable, when that owner is."""
    chain = [d]
    while isinstance(chain[-1].base, np.ndarray):
        chain.append(chain[-1].base)
    flags = [np.ndarray.flags.__get__(a) for a in chain]
    if flags[-1].writeable:
        for f in reversed(flags):
            f.writeable = True
    return d


def _diagonal_method(self, *a, **k):
    return _writable_view(_wrap(np.ndarray.diagonal(self, *a, **k)))


FakeCudaArray.diagonal = _diagonal_method


# Methods (a.sum(), a.argmax(), a[i]) return device arrays, never NumPy scalars.
for _n in ("__getitem__", "argmax", "argmin", "max", "min", "sum", "mean", "prod", "any", "all",
           "std", "var", "dot", "nonzero", "argsort", "cumsum", "trace"):
    setattr(FakeCudaArray, _n, _wrapped_method(getattr(np.ndarray, _n)))
del _n


class _Namespace:
    """NumPy as the fake device's ``xp``: results are device arrays; host
    arrays are refused, except by the functions that copy them to the device
    (``asarray``, ``array``), as CuPy's namespace does."""
    _COPIES_FROM_HOST = {"asarray", "array", "ascontiguousarray", "asanyarray"}

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        v = getattr(self._module, name)
        if isinstance(v, types.ModuleType):
            r = _Namespace(v)
        elif isinstance(v, type) or not callable(v):
            r = v
        elif isinstance(v, np.ufunc):
            r = _Ufunc(v)
        else:
            r = self._device_call(v, name in self._COPIES_FROM_HOST)
            if name in ("diagonal", "broadcast_to"):
                call = r
                r = lambda *a, **k: _writable_view(call(*a, **k))     # (as CuPy's)
        setattr(self, name, r)
        return r

    @staticmethod
    def _device_call(fn, takes_host):
        def call(*a, **k):
            if not takes_host and not _depth:
                _check_mixing(a, f"xp.{getattr(fn, '__name__', 'call')}")
            return _wrap(_run(fn, a, k))
        call.__name__ = getattr(fn, "__name__", "call")
        return call


class _Ufunc:
    """``xp.add`` and its methods (``xp.add.reduce``, ``.at``), on device arrays."""

    def __init__(self, uf):
        self._uf = uf
        self._call = _Namespace._device_call(uf, False)

    def __call__(self, *a, **k):
        return self._call(*a, **k)

    def __getattr__(self, name):
        v = getattr(self._uf, name)
        return _Namespace._device_call(v, False) if callable(v) else v


class _FakeGenerator:
    """The device's generator: NumPy's, handing out device arrays."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64):
        return _wrap(self._rng.random(size, dtype=dtype))

    def standard_normal(self, size=None, dtype=np.float64):
        return _wrap(self._rng.standard_normal(size, dtype=dtype))

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return _wrap(self._rng.integers(low, high, size=size, dtype=dtype))

    def uniform(self, low=0.0, high=1.0, size=None):
        return _wrap(self._rng.uniform(low, high, size))


class FakeRuntime:
    """One device, number 0 (what ember.cuda's device-number API reads)."""

    def device_count(self):
        return 1

    def current_device(self):
        return 0

    def set_device(self, index):
        pass

    def index_of(self, array):
        return 0

    def using(self, index):
        return contextlib.nullcontext()

    def synchronize(self, index):
        pass

    def make_rng(self, seed):
        return _FakeGenerator(seed)


def _from_host(a):
    return np.array(a, copy=True).view(FakeCudaArray)     # (a copy, as a move to a device is)


def _to_host(a):
    return np.array(a.view(np.ndarray), copy=True)


FAKE_CUDA = backends.Backend("cuda", _Namespace(np), KernelTable("fake-cuda", fallback=GENERIC),
                             (FakeCudaArray,), host=False, from_host=_from_host,
                             to_host=_to_host, runtime=FakeRuntime())


_for_session = False    # registered by conftest for the whole run (EMBER_TEST_DEVICE=fake-cuda)


def register(session=False):
    """Make the fake the "cuda" backend (refused if a real one is registered).
    ``session=True`` (conftest, EMBER_TEST_DEVICE=fake-cuda): it stays for the
    whole run, and the tests' own register/unregister pairs leave it there."""
    global _for_session
    _for_session = _for_session or session
    b = backends.get("cuda")
    if b is not None and b is not FAKE_CUDA:
        raise RuntimeError("a real CUDA backend is registered; the fake stays out")
    backends.register(FAKE_CUDA)
    _forget_generators()
    return FAKE_CUDA


def unregister():
    if _for_session:
        return
    backends.unregister(FAKE_CUDA)
    _forget_generators()


def _forget_generators():
    from ember import random
    for key in [k for k in random._device_rngs if k[0] == "cuda"]:
        del random._device_rngs[key]


def real_gpu():
    """Whether Ember has a real CUDA device (CuPy and a GPU) in this process."""
    import ember
    return backends.get("cuda") is not FAKE_CUDA and ember.cuda.is_available()


@contextlib.contextmanager
def cuda_device():
    """Where a CUDA test runs: yields "real" on a GPU, else "fake" with this
    stand-in registered for the duration.  CPU tensors stay the CPU's (the
    default device is the CPU inside), whatever EMBER_TEST_DEVICE says."""
    import ember
    ember.set_default_device(None)
    if real_gpu():
        yield "real"
        return
    register()
    try:
        yield "fake"
    finally:
        ember.set_default_device(None)
        unregister()
