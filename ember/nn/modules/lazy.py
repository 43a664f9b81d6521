"""Lazy modules (torch.nn.modules.lazy): layers that learn their input size
from the first batch they see.

A lazy layer (``LazyLinear(out_features)``) starts with
``UninitializedParameter``s.  A forward pre-hook calls its
``initialize_parameters(*inputs)`` on the first forward, which materialises
the parameters from the input's shape and initialises them as the plain
layer would; the hook then removes itself and the module becomes its plain
class (``cls_to_become``: ``LazyLinear`` -> ``Linear``).  Loading a state
dict into a lazy module materialises its parameters at the stored shapes.
"""
from ...autograd.grad_mode import no_grad
from ..parameter import is_lazy

__all__ = ["LazyModuleMixin"]


class LazyModuleMixin:
    """Mix in before the plain layer class; subclasses define
    ``initialize_parameters(*inputs)`` and set ``cls_to_become``."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._hook_up()

    def _hook_up(self):
        """Install the hooks that materialise the parameters (first forward, or
        a state-dict load)."""
        self._load_hook = self._register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters,
                                                               with_kwargs=True)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        # uninitialized entries are saved as they are (they have no data to detach)
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if (keep_vars or is_lazy(p)) else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if (keep_vars or is_lazy(b)) else b.detach()

    def _lazy_load_hook(self, state_dict, prefix, local_metadata, strict, missing_keys,
                        unexpected_keys, error_msgs):
        """Materialise each uninitialized entry that the state dict gives a shape."""
        for table in (self._parameters, self._buffers):
            for name, t in table.items():
                key = prefix + name
                if t is not None and key in state_dict and is_lazy(t):
                    given = state_dict[key]
                    if not is_lazy(given):
                        with no_grad():
                            t.materialize(tuple(given.shape))

    def initialize_parameters(self, *args, **kwargs):
        raise NotImplementedError("initialize_parameters is not implemented for "
                                  f"{type(self).__name__}")

    def has_uninitialized_params(self):
        """Whether any parameter or buffer is still uninitialized."""
        return any(is_lazy(t) for table in (self._parameters, self._buffers)
                   for t in table.values())

    def _replicate_for_data_parallel(self):
        raise RuntimeError("Modules with uninitialized parameters can't be used with "
                           "`DataParallel`. Run a dummy forward pass to correctly initialize the "
                           "modules")


def _infer_parameters(module, args, kwargs=None):
    """The first-forward hook: size the parameters from the input, then turn
    ``module`` into its plain class."""
    kwargs = kwargs or {}
    module.initialize_parameters(*args, **kwargs)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
    module._initialize_hook.remove()
    module._load_hook.remove()
    del module._initialize_hook
    del module._load_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become
