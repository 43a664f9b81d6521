"""ember.cuda: Ember runs on the CPU, so CUDA is never available."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    pass


def manual_seed_all(seed):
    pass


def synchronize(device=None):
    pass


def empty_cache():
    pass


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
