"""Generic indexing kernels: formulas over the array namespace (see ember.backends)."""
import numpy as np

from .._registry import namespace
from .._table import GENERIC


@GENERIC.register
def masked_fill(x, mask, value):
    """``where(mask, value, x)``: ``value`` (0-d, x's dtype) where bool ``mask``
    (broadcasting against ``x``) is True."""
    xp = namespace(x)
    if mask.shape == x.shape or np.broadcast_shapes(mask.shape, x.shape) == x.shape:  # host
        # a copy written through the mask: faster than where's per-element select
        out = x.copy()
        xp.copyto(out, value, where=mask)
        return out
    return xp.where(mask, value, x)


@GENERIC.register
def scatter_multiply(target, where, values):
    """``target[where] *= values`` in place, repeated indices multiplying in
    one after another (``multiply.at``); ``where`` is an index as
    ``target[where]`` takes it, ``values`` an array or number broadcasting
    against ``target[where]``."""
    namespace(target).multiply.at(target, where, values)
