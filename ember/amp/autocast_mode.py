"""ember.autocast / ember.amp.autocast: torch's automatic mixed precision on the CPU.

Inside ``with ember.autocast("cpu", dtype=ember.bfloat16):`` the ops on
torch's CPU lower-precision list (linear, matmul, conv ...) run in bfloat16
and the ops on its float32 list (the losses, 3-d pooling, linalg ...) in
float32; all other ops run on what they are given.  The lists and the
casting live in ember/_autocast.py, next to the ``@autocast_op`` marks on
the ops' functions.  The state is per thread, as torch's.
"""
import functools
import warnings

from .. import _dtype as D
from .._autocast import state as _state

__all__ = ["autocast", "is_autocast_available", "is_autocast_enabled", "get_autocast_dtype",
           "set_autocast_enabled", "set_autocast_dtype"]

# torch's list of device types a device string may start with (its error names them)
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                 "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                 "privateuseone")
_CPU_DTYPES = ("bfloat16", "float16")


def _check_device_type(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError(f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start of "
                           f"device string: {device_type}")


def is_autocast_available(device_type):
    """True for "cpu", the one device type Ember's autocast runs on."""
    _check_device_type(device_type)
    return device_type == "cpu"


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for ``device_type`` in this thread (torch: no argument
    means "cuda", which Ember never has)."""
    if device_type is None:
        device_type = "cuda"
    _check_device_type(device_type)
    return device_type in _state.types


def get_autocast_dtype(device_type):
    """The lower-precision dtype autocast uses on ``device_type`` (bfloat16 on the CPU
    until set otherwise, float16 elsewhere, as torch)."""
    _check_device_type(device_type)
    return _state.dtypes.get(device_type) or (D.bfloat16 if device_type == "cpu" else D.float16)


def set_autocast_enabled(device_type, enabled):
    _check_device_type(device_type)
    _set(device_type, bool(enabled), get_autocast_dtype(device_type))


def set_autocast_dtype(device_type, dtype):
    _check_device_type(device_type)
    dtypes = dict(_state.dtypes)
    dtypes[device_type] = D.to_dtype(dtype)
    _state.dtypes = dtypes
    if device_type in _state.types:
        _set(device_type, True, dtypes[device_type])


def _set(device_type, enabled, dtype):
    """Turn autocast on/off for ``device_type`` in this thread.  (The state's dicts are
    replaced, never changed in place, so they stay per thread.)"""
    types = dict(_state.types)
    if enabled:
        types[device_type] = dtype
    else:
        types.pop(device_type, None)
    _state.types = types
    _state.enabled = bool(types)


class autocast:
    """``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a
    context manager (and decorator) running the listed ops in ``dtype``.

    On "cpu" the dtype may be bfloat16 (the default) or float16; another dtype warns
    and leaves autocast off, as torch.  "cuda" and other device types Ember has no
    tensors on warn and leave it off too.  Nesting restores the outer state on exit;
    ``enabled=False`` turns autocast off inside.  ``cache_enabled`` is accepted: Ember
    keeps no cast cache (each listed op casts its arguments again)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        _check_device_type(device_type)
        self.device = device_type
        self.fast_dtype = D.to_dtype(dtype) if dtype is not None else get_autocast_dtype(device_type)
        self._enabled = bool(enabled)
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        if self._enabled and device_type == "cpu" and self.fast_dtype.name not in _CPU_DTYPES:
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                          "autocast.\nCPU Autocast only supports dtypes of ember.bfloat16, "
                          "ember.float16 currently.")
            self._enabled = False
        elif self._enabled and device_type != "cpu":
            warnings.warn(f"User provided device_type of '{device_type}', but Ember runs on the "
                          "CPU only. Disabling autocast for it.")
            self._enabled = False
        if self._enabled and self.fast_dtype is D.bfloat16:
            D.to_dtype(D.bfloat16)      # (loads ml_dtypes, or says to install it)
        self._prev = []

    def __enter__(self):
        self._prev.append((_state.types, _state.dtypes, _state.enabled))
        dtypes = dict(_state.dtypes)
        dtypes[self.device] = self.fast_dtype
        _state.dtypes = dtypes
        _set(self.device, self._enabled, self.fast_dtype)
        return self

    def __exit__(self, *exc):
        _state.types, _state.dtypes, _state.enabled = self._prev.pop()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorated
