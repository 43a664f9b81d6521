"""Parameter and Buffer: the tensor kinds a Module registers when assigned.

``Parameter`` is a Tensor subclass that requires grad by default; assigning
one to a Module attribute registers it in ``module._parameters``.  ``Buffer``
marks a tensor to be registered in ``module._buffers`` (state that is saved
but not trained, e.g. running statistics).
"""
from .._creation import empty
from .._tensor import Tensor
from .._tensor_base import _new

__all__ = ["Parameter", "Buffer", "is_lazy"]


def _init_from(t, src, requires_grad):
    """Make ``t`` share ``src``'s memory and version counter, as a fresh leaf."""
    Tensor.__init__(t)
    t._data = src._data
    t._vc = src._vc
    if requires_grad:
        t.requires_grad_(True)


class Parameter(Tensor):
    """A trainable tensor of a Module (torch.nn.Parameter).

    ``Parameter(data)`` shares ``data``'s memory; ``Parameter()`` is an empty
    float tensor on the default device.  Only floating-point parameters can require grad.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        t = _new(cls)
        _init_from(t, data, requires_grad)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass  # all set up in __new__

    def __reduce_ex__(self, proto):
        from .._tensor_base import _rebuild
        return (_rebuild, (type(self), self._data, self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to become a buffer when assigned to a Module attribute.

    ``module.stats = Buffer(t, persistent=False)`` is ``module.register_buffer(
    "stats", t, persistent=False)``; the module stores a plain tensor sharing
    ``t``'s memory.
    """

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = empty(0)
        t = _new(cls)
        _init_from(t, data, data.requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass


def is_lazy(param):
    """Ember has no uninitialized (lazy) parameters."""
    return False
