"""ember.nn.utils: gradient clipping, parameter <-> vector conversion, and
(when present) the RNN sequence-packing helpers in ``ember.nn.utils.rnn``."""
import importlib

from .clip_grad import (clip_grad_norm_, clip_grad_norm, clip_grad_value_,  # noqa: F401
                        get_total_norm, clip_grads_with_norm_)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from . import clip_grad, convert_parameters  # noqa: F401

# Submodules written by other work; each is imported when its file exists.
for _name in ("rnn", "parametrize", "parametrizations", "stateless", "weight_norm",
              "spectral_norm", "fusion", "prune", "init"):
    try:
        globals()[_name] = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
del _name


def skip_init(module_cls, *args, **kwargs):
    """Construct a module without running its parameter initialisation
    (Ember initialises anyway: allocation is the costly part either way)."""
    return module_cls(*args, **kwargs)
