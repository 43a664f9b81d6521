"""ember.nn.utils: gradient clipping, parameter <-> vector conversion,
weight and spectral normalisation (hook-based, and as ``parametrizations``),
``parametrize``, and the RNN sequence-packing helpers in ``ember.nn.utils.rnn``."""
from .clip_grad import (clip_grad_norm_, clip_grad_norm, clip_grad_value_,  # noqa: F401
                        get_total_norm, clip_grads_with_norm_)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from . import clip_grad, convert_parameters, rnn, stateless  # noqa: F401
from . import parametrize, parametrizations  # noqa: F401
from .weight_norm import weight_norm, remove_weight_norm  # noqa: F401
from .spectral_norm import spectral_norm, remove_spectral_norm  # noqa: F401


def skip_init(module_cls, *args, **kwargs):
    """Construct a module without running its parameter initialisation
    (Ember initialises anyway: allocation is the costly part either way)."""
    return module_cls(*args, **kwargs)
