"""A test-only backend whose arrays refuse NumPy unless asked through its xp.

It proves the backend seam without a GPU.  Its device type is ``guard``; its
arrays are ``GuardArray``s, host memory like NumPy's, and:

* any NumPy *function* or ufunc called on them directly (``np.exp(a)``,
  ``np.where(m, a, b)``, ``np.add.at(a, i, v)``) raises ``SeamError``, unless
  the call came through the guard's own namespace ``GUARD.xp`` -- which is
  what ``ember.backends.namespace(a)`` hands an op for such an array;
* array methods and operators work (``a.sum()``, ``a + b``, ``a[i]``), as
  they do on every backend's arrays (CuPy's too);
* mixing a guard array with a plain NumPy array in one computation raises
  too (a GPU backend could not do it either);
* results come back as guard arrays (NumPy scalars as 0-d arrays, as CuPy
  returns them), so a value that left the device is noticed downstream.

Its kernel table is the generic one: no compiled CPU kernel can run here, so
every op goes through the formulas written against ``xp``.

Run any op test file on it::

    EMBER_TEST_DEVICE=guard python -m pytest tests/test_elementwise.py

(``tests/conftest.py`` registers the backend and makes ``guard`` the default
device, so every tensor a test makes lives there; ``helpers.assert_close``
then also checks each result is still on ``guard``.)
"""
import types

import numpy as np

from ember import backends
from ember.backends._table import KernelTable, GENERIC

_allowed = 0        # > 0 while a call made through GUARD.xp (or a method) runs
_depth = 0          # > 0 inside NumPy's own implementation of a dispatched call


class SeamError(AssertionError):
    """An op computed around the backend seam."""


def wrap_as(cls, r):
    """NumPy results as arrays of ``cls`` (a test backend's ndarray subclass),
    NumPy scalars as 0-d arrays, as CuPy returns them; recursively in tuples
    and lists.  tests/fake_cuda.py wraps its results with it too."""
    t = type(r)
    if t is np.ndarray:
        return r.view(cls)
    if isinstance(r, np.generic) and not isinstance(r, (np.str_, np.bytes_, np.void)):
        return np.asarray(r).view(cls)
    if t is list:
        return [wrap_as(cls, x) for x in r]
    if isinstance(r, tuple):        # (named tuples too: linalg.svd's, eigh's ...)
        items = [wrap_as(cls, x) for x in r]
        return tuple(items) if t is tuple else t(*items)
    return r


def _wrap(r):
    """Results of an allowed call as guard arrays."""
    return wrap_as(GuardArray, r)


def _check_mixing(args, what):
    for a in args:
        if type(a) is np.ndarray and a.ndim > 0:
            raise SeamError(f"{what} mixes a guard array with a CPU array of shape {a.shape}: "
                            "a value crossed devices without .to()")
        if type(a) in (tuple, list):
            _check_mixing(a, what)


def _inside(fn, args, kwargs):
    """Run NumPy's own implementation: the host arrays it makes internally
    (masks, index lists) are its business, not a device crossing."""
    global _depth
    _depth += 1
    try:
        return fn(*args, **kwargs)
    finally:
        _depth -= 1


class GuardArray(np.ndarray):
    """A NumPy array that only NumPy calls made through GUARD.xp may touch."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        if not _allowed:
            raise SeamError(f"{what} called on a guard array outside its backend's namespace")
        if not _depth:
            _check_mixing(inputs, what)
        args = tuple(x.view(np.ndarray) if isinstance(x, GuardArray) else x for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, GuardArray) else o
                                  for o in out)
        r = _inside(getattr(ufunc, method), args, kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(r)

    def __array_function__(self, func, types_, args, kwargs):
        what = f"np.{func.__name__}"
        if not _allowed:
            raise SeamError(f"{what} called on a guard array outside its backend's namespace")
        if not _depth:
            _check_mixing(args, what)
        return _wrap(_inside(super().__array_function__, (func, types_, args, kwargs), {}))


def _allow(fn):
    def call(*a, **k):
        global _allowed
        _allowed += 1
        try:
            return _wrap(fn(*a, **k))
        finally:
            _allowed -= 1
    call.__name__ = getattr(fn, "__name__", "call")
    call.__wrapped__ = fn
    return call


# Methods and operators are every backend's array API: allowed.
_METHODS = [n for n in dir(np.ndarray) if not n.startswith("_") and callable(getattr(np.ndarray, n))]
_OPERATORS = [f"__{p}{n}__" for n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                      "matmul", "and", "or", "xor", "lshift", "rshift")
              for p in ("", "r", "i")] + \
    ["__neg__", "__pos__", "__abs__", "__invert__", "__lt__", "__le__", "__gt__", "__ge__",
     "__eq__", "__ne__", "__divmod__", "__rdivmod__", "__getitem__", "__setitem__", "__bool__",
     "__float__", "__int__", "__index__", "__complex__", "__copy__", "__deepcopy__",
     "__contains__", "__iter__", "__len__", "__repr__", "__str__", "__format__"]
for _n in _METHODS + _OPERATORS:
    if _n in ("view",):      # (a view keeps its type by itself; _wrap uses it)
        continue
    _m = getattr(np.ndarray, _n, None)
    if _m is not None:
        setattr(GuardArray, _n, _allow(_m))
del _n, _m


class _UfuncNamespace:
    """``xp.add`` and friends: the call and the ufunc methods, allowed."""

    def __init__(self, uf):
        self._uf = uf
        self._call = _allow(uf)

    def __call__(self, *a, **k):
        return self._call(*a, **k)

    def __getattr__(self, name):
        v = getattr(self._uf, name)
        return _allow(v) if callable(v) else v


class GuardNamespace:
    """NumPy, seen through the guard: every function called through it may
    touch guard arrays, and returns guard arrays."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        v = getattr(self._module, name)
        if isinstance(v, type):                     # dtypes, ndarray, errstate ...
            r = v
        elif isinstance(v, types.ModuleType):       # xp.linalg, xp.lib.stride_tricks ...
            r = GuardNamespace(v)
        elif isinstance(v, np.ufunc):
            r = _UfuncNamespace(v)
        elif callable(v):
            r = _allow(v)
        else:                                       # pi, inf, newaxis ...
            r = v
        setattr(self, name, r)
        return r

    def __repr__(self):
        return f"<guarded namespace of {self._module.__name__}>"


def _from_host(a):
    return np.array(a, copy=True).view(GuardArray)     # (a copy, as a move to a device is)


def _to_host(a):
    return a.view(np.ndarray)


GUARD = backends.Backend("guard", GuardNamespace(np), KernelTable("guard", fallback=GENERIC),
                         (GuardArray,), host=True, from_host=_from_host, to_host=_to_host)


def register():
    """Register the guard backend (idempotent)."""
    if backends.get("guard") is None:
        backends.register(GUARD)
    return GUARD
