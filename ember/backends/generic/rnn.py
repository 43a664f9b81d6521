"""Recurrent layers' kernels: the generic formulas."""
from .._table import GENERIC


@GENERIC.register
def col_sums(a2):
    """Column sums ``a2.sum(axis=0)`` of a 2-D (steps * batch, gates) array
    (the recurrent layers' bias gradients)."""
    return a2.sum(axis=0)
