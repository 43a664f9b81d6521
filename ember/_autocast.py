"""Autocast's state and its argument casts (the public API is ember/amp).

torch's CPU autocast runs the ops on one list in the lower precision
(``"lower"``: linear, matmul, conv ...) and the ops on another in float32
(``"fp32"``: the losses, 3-d pooling, linalg ...), by casting their floating
tensor arguments on entry; every other op runs on what it is given.  An op
joins a list by ``@autocast_op("lower")`` on its public function; the cast
goes into the graph like any cast, so gradients flow back to each argument
in its own dtype.

The state is per thread, as torch's: a ``threading.local`` subclass whose
class attributes are the defaults, so a new thread starts with autocast off.
"""
import functools
import threading


class _AutocastState(threading.local):
    enabled = False     # autocast is on for some device type (read on every listed op)
    types = {}          # device type -> the lower-precision Ember dtype, while on
    dtypes = {}         # device type -> the dtype set for it (set_autocast_dtype, autocast)


state = _AutocastState()


def cast(policy, a):
    """One argument under autocast: a floating Ember tensor on a device type autocast
    is on for (see _autocast_type), other than float64 (torch leaves double alone), becomes that type's
    lower-precision dtype (``policy == "lower"``) or float32 (``"fp32"``); lists and
    tuples of tensors are looked into; anything else passes unchanged."""
    from ._tensor_base import TensorBase
    from . import _dtype as D
    if isinstance(a, TensorBase):
        dt = a.dtype
        if not dt.is_floating_point or dt is D.float64:
            return a
        lower = state.types.get(_autocast_type(a))
        if lower is None:
            return a
        target = lower if policy == "lower" else D.float32
        return a if dt is target else a.to(target)
    if isinstance(a, (list, tuple)) and a and any(isinstance(x, TensorBase) for x in a):
        return type(a)(cast(policy, x) for x in a)
    return a


def _autocast_type(t):
    """The device type autocast files tensor ``t`` under: its device's, except that a
    backend whose arrays live in host memory counts as "cpu" (the test suite's guard
    backend is the CPU under another name; a GPU backend keeps its own type)."""
    dev = t.device.type
    if dev != "cpu":
        from .backends import backend_of
        if backend_of(t._data).host:
            return "cpu"
    return dev


def autocast_op(policy):
    """Put a public function on autocast's ``policy`` list ("lower" or "fp32"): under
    autocast its tensor arguments (positional and keyword) are cast on entry, and the
    ops it runs inside are not cast again (as torch's autocast runs a listed op's
    kernel with autocast excluded).  Outside autocast a call costs one thread-local
    read more."""
    def wrap(fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            if not state.enabled:
                return fn(*args, **kwargs)
            args = tuple(cast(policy, a) for a in args)
            if kwargs:
                kwargs = {k: cast(policy, v) for k, v in kwargs.items()}
            state.enabled = False
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = True
        op._autocast = policy
        return op
    return wrap
