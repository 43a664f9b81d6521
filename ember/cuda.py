"""ember.cuda: torch.cuda's API over Ember's CUDA backend (CuPy).

Nothing here imports CuPy until a question needs the GPU: ``is_available()``
registers the backend (ember/backends/gpu) on first call.  Without CuPy or a
device, each function answers as a CPU-only torch build does:
``is_available()`` False, ``device_count()`` 0, the seeds, ``empty_cache`` and
the memory counters no-ops or 0, and the ones that need a device
(``current_device``, ``synchronize``, ``get_device_name`` ...) raise
``DeviceUnavailableError``, an AssertionError like torch's "Torch not
compiled with CUDA enabled" (and a RuntimeError), saying why.

What differs from torch: ``is_bf16_supported()`` is False (CuPy has no
bfloat16 arrays, so Ember computes no bfloat16 on the GPU); streams are CuPy's
and ops run on CuPy's current stream (``with ember.cuda.stream(s):``).
"""
from . import random as _random
from ._tensor_base import (DeviceUnavailableError, _cuda_backend, _unavailable,
                           device as _device_cls, _check_index)


def _runtime():
    """The CUDA backend's runtime; raises torch's error without a device."""
    b = _cuda_backend()
    if b is None:
        raise DeviceUnavailableError(_unavailable(_device_cls("cuda")))
    if b.runtime is None:
        raise RuntimeError(f"the backend registered as 'cuda' ({b!r}) has no device runtime")
    return b.runtime


def _index(device):
    """The device number ``device`` names (None: the current one)."""
    rt = _runtime()
    if device is None:
        return rt.current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        d = _device_cls("cuda", device)
    elif isinstance(device, str):
        d = _device_cls(device)
    elif isinstance(device, _device_cls):
        d = device
    else:
        raise ValueError(f"Expected a cuda device, but got: {device!r}")
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    if d.index is None:
        return rt.current_device()
    _check_index(_cuda_backend(), d)
    return d.index


# ---- availability and device numbers -------------------------------------------------

def is_available():
    """Whether Ember can compute on a CUDA device (CuPy installed, a device found)."""
    return _cuda_backend() is not None


def is_initialized():
    return _cuda_backend() is not None


def init():
    _runtime()


def device_count():
    b = _cuda_backend()
    if b is None:
        return 0
    return b.runtime.device_count() if b.runtime is not None else 1


def current_device():
    return _runtime().current_device()


def set_device(device):
    """Make ``device`` the current CUDA device (a negative number: no-op, as torch)."""
    if isinstance(device, int) and device < 0:
        return
    rt = _runtime()
    rt.set_device(_index(device))


class device:
    """Context manager making ``device`` the current CUDA device (torch.cuda.device);
    None or a negative number changes nothing."""

    def __init__(self, device):
        self.idx = device if device is None or isinstance(device, int) else _device_cls(device).index
        self.prev_idx = -1

    def __enter__(self):
        if self.idx is None or self.idx < 0:
            return self
        rt = _runtime()
        self.prev_idx = rt.current_device()
        if self.idx != self.prev_idx:
            rt.set_device(_index(self.idx))
        return self

    def __exit__(self, *exc):
        if self.prev_idx >= 0 and self.prev_idx != self.idx:
            _runtime().set_device(self.prev_idx)
        return False


def synchronize(device=None):
    """Wait for every kernel queued on ``device`` (the current one) to finish."""
    rt = _runtime()
    rt.synchronize(_index(device))


def get_device_properties(device=None):
    return _runtime().properties(_index(device))


def get_device_name(device=None):
    return get_device_properties(device).name


def get_device_capability(device=None):
    p = get_device_properties(device)
    return p.major, p.minor


def is_bf16_supported(including_emulation=True):
    """False: CuPy has no bfloat16 arrays, so Ember's CUDA backend computes none
    (a program choosing bfloat16 by this check takes float16 or float32)."""
    return False


def mem_get_info(device=None):
    """(free, total) bytes of ``device``'s memory."""
    return _runtime().mem_get_info(_index(device))


# ---- random numbers ---------------------------------------------------------------------
# The seeds are kept in ember.random without touching CuPy (ember.manual_seed
# seeds CUDA too, as torch's does); a device's generator is made from its seed
# on its first draw.

def manual_seed(seed):
    """Seed the current CUDA device's generator (a no-op record without CUDA)."""
    seed = int(seed)
    b = _cuda_backend() if _random.device_generators_made("cuda") else None
    idx = b.runtime.current_device() if b is not None and b.runtime is not None else None
    _random.seed_device("cuda", seed, idx)


def manual_seed_all(seed):
    """Seed every CUDA device's generator."""
    _random.seed_device("cuda", int(seed), None)


def seed():
    """Seed the current device's generator with a random number (no-op without CUDA)."""
    if _cuda_backend() is None:
        return None
    manual_seed(_random.fresh_seed())


def seed_all():
    if _cuda_backend() is None:
        return None
    manual_seed_all(_random.fresh_seed())


def initial_seed():
    """The seed of the current device's generator."""
    rt = _runtime()
    return _random.device_seed("cuda", rt.current_device())


def get_rng_state(device="cuda"):
    raise NotImplementedError("ember.cuda.get_rng_state: CuPy's generator state cannot be "
                              "saved; reseed with ember.cuda.manual_seed instead")


# ---- memory -------------------------------------------------------------------------------

def memory_allocated(device=None):
    """Bytes held by tensors on ``device`` (CuPy's pool in use); 0 without CUDA."""
    if _cuda_backend() is None:
        return 0
    return _runtime().memory_allocated(_index(device))


def max_memory_allocated(device=None):
    """The most bytes held by tensors since the start or ``reset_peak_memory_stats``."""
    if _cuda_backend() is None:
        return 0
    return _runtime().max_memory_allocated(_index(device))


def memory_reserved(device=None):
    """Bytes CuPy's pool holds on ``device`` (in use or cached)."""
    if _cuda_backend() is None:
        return 0
    return _runtime().memory_reserved(_index(device))


def max_memory_reserved(device=None):
    return memory_reserved(device)


def reset_peak_memory_stats(device=None):
    _runtime().reset_peak_memory_stats(_index(device))


def reset_max_memory_allocated(device=None):
    reset_peak_memory_stats(device)


def empty_cache():
    """Give the memory CuPy's pools cache back to the driver; a no-op without CUDA."""
    if _cuda_backend() is not None:
        _runtime().empty_cache()


# ---- streams and events ---------------------------------------------------------------

class Stream:
    """A CUDA stream (torch.cuda.Stream): CuPy's.  Ops run on the current
    stream: ``with ember.cuda.stream(s):`` (or ``with s:``)."""

    def __init__(self, device=None, priority=0, **kwargs):
        rt = _runtime()
        self._stream = kwargs.pop("_stream", None) or rt.stream(
            None if device is None else _index(device), priority)

    def synchronize(self):
        self._stream.synchronize()

    def query(self):
        return self._stream.done

    def wait_event(self, event):
        self._stream.wait_event(event._event)

    def wait_stream(self, stream):
        self._stream.wait_event(stream.record_event()._event)

    def record_event(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    @property
    def cuda_stream(self):
        return self._stream.ptr

    def __enter__(self):
        self._stream.__enter__()
        return self

    def __exit__(self, *exc):
        return self._stream.__exit__(*exc)

    def __eq__(self, other):
        return isinstance(other, Stream) and self._stream.ptr == other._stream.ptr

    def __hash__(self):
        return hash(self._stream.ptr)


class Event:
    """A CUDA event (torch.cuda.Event): ``record()`` on a stream,
    ``synchronize()``, ``elapsed_time(end)`` in milliseconds."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self._event = _runtime().event(enable_timing, blocking, interprocess)

    def record(self, stream=None):
        self._event.record(None if stream is None else stream._stream)

    def wait(self, stream=None):
        (stream or current_stream())._stream.wait_event(self._event)

    def query(self):
        return self._event.done

    def synchronize(self):
        self._event.synchronize()

    def elapsed_time(self, end_event):
        return _runtime().elapsed_ms(self._event, end_event._event)


def current_stream(device=None):
    return Stream(_stream=_runtime().current_stream())


def default_stream(device=None):
    return Stream(_stream=_runtime().default_stream())


def stream(stream):
    """Context manager making ``stream`` the current one (None: no change)."""
    import contextlib
    return contextlib.nullcontext() if stream is None else stream


# the legacy CUDA tensor types (ember.cuda.FloatTensor ...): never instances,
# and calling one raises, as under a CPU-only torch
from ._legacy import cuda_types as _cuda_types  # noqa: E402
globals().update(_cuda_types())
del _cuda_types



# torch.cuda.amp's names (deprecated there for torch.amp's): without CUDA, autocast warns
# and stays off, and GradScaler warns and passes through, as under a CPU-only torch.
# ember.cuda is one module, so ember.cuda.amp is registered the way os.path is, for
# ``from ember.cuda.amp import GradScaler, autocast`` to work.
def _amp_autocast(enabled=True, dtype=None, cache_enabled=True):
    """ember.cuda.amp.autocast: ``ember.amp.autocast("cuda", ...)``."""
    from .amp import autocast
    from ._dtype import float16
    return autocast("cuda", dtype=dtype or float16, enabled=enabled, cache_enabled=cache_enabled)


def _amp_grad_scaler(init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                     growth_interval=2000, enabled=True):
    """ember.cuda.amp.GradScaler: ``ember.amp.GradScaler("cuda", ...)``."""
    from .amp import GradScaler
    return GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


def _make_amp():
    import sys
    import types
    mod = types.ModuleType(__name__ + ".amp", "ember.cuda.amp: autocast and GradScaler for "
                                              "device \"cuda\" (off without CUDA).")
    mod.autocast, mod.GradScaler = _amp_autocast, _amp_grad_scaler
    for fn, name in ((_amp_autocast, "autocast"), (_amp_grad_scaler, "GradScaler")):
        fn.__name__ = fn.__qualname__ = name
        fn.__module__ = mod.__name__
    sys.modules[mod.__name__] = mod
    return mod


amp = _make_amp()
