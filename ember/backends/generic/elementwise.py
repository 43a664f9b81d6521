"""Elementwise arithmetic that a backend may run faster than its operator."""
from .._table import GENERIC


@GENERIC.register
def add(a, b):
    """``a + b`` of an array and an array or number (the namespace's
    broadcasting and promotion).
    The ops ask for it only for large arrays (``LARGE``): the residual sums
    of a CNN's forward and of its gradients, which the CPU splits over its
    threads."""
    return a + b


@GENERIC.register
def add_into(a, b):
    """``a += b``, returning ``a``: the engine's sum of two gradients of one
    input when ``a`` is a fresh array that nothing else holds (the sum then
    lands in memory just written, and no new array is made).  Same shape and
    dtype."""
    a += b
    return a


# Elements from which ``a + b`` of arrays is worth the kernel table's look-up
# (below it the operator runs directly: the look-up is a small sum's whole time).
LARGE = 1 << 17
