"""A scalar autograd engine for teaching: the whole idea of backprop in one page.

Everything Ember's tensor engine does, this does for single numbers, in
plain Python you can read top to bottom:

    >>> from ember.scalar import Value
    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = a * b + a ** 2
    >>> c.backward()
    >>> a.grad, b.grad
    (1.0, 2.0)
"""
from .engine import Value
from .nn import Module, Neuron, Layer, MLP

__all__ = ["Value", "Module", "Neuron", "Layer", "MLP"]
