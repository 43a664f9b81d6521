"""``Variable``: the pre-0.4 wrapper that old torch code still imports.

Since torch 0.4 tensors carry autograd state themselves; ``Variable(t)``
returns a tensor sharing ``t``'s data, detached, with ``requires_grad`` as
asked, and every tensor is an instance of ``Variable``.  Ember does the same.
"""
import warnings

from .._tensor_base import TensorBase


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, TensorBase)


class Variable(metaclass=_VariableMeta):
    """``Variable(data, requires_grad=False, volatile=False)`` -> a Tensor."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        if not isinstance(data, TensorBase):
            raise TypeError(f"Variable data has to be a tensor, but got "
                            f"{type(data).__name__}")
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with "
                          "torch.no_grad():` instead.", UserWarning, stacklevel=2)
        return data.detach().requires_grad_(requires_grad)
