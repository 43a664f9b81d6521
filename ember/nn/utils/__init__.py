"""ember.nn.utils: gradient clipping, parameter <-> vector conversion, and
the RNN sequence-packing helpers in ``ember.nn.utils.rnn``."""
from .clip_grad import (clip_grad_norm_, clip_grad_norm, clip_grad_value_,  # noqa: F401
                        get_total_norm, clip_grads_with_norm_)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from . import clip_grad, convert_parameters, rnn, stateless  # noqa: F401


def skip_init(module_cls, *args, **kwargs):
    """Construct a module without running its parameter initialisation
    (Ember initialises anyway: allocation is the costly part either way)."""
    return module_cls(*args, **kwargs)
