"""Generic loss kernels: formulas over the array namespace (see ember.backends)."""
import numpy as np

from .._registry import backend_of
from .._table import GENERIC

# Below this spread of logits, exp(x - max(x)) stays a normal float for every
# entry, so one shift by the global max is as exact as a per-row one.
_SAFE_SPREAD = {np.dtype(np.float32): 60.0, np.dtype(np.float64): 600.0}


@GENERIC.register
def log_softmax_rows(x2, with_probs):
    """Row-wise log-softmax of the float (M, C) ``x2`` and, with
    ``with_probs``, the softmax from the same exp pass: ``(logp, p or None)``.

    (cross_entropy's own formulation, not ``softmax``'s: it shifts by the
    global max when the spread allows and needs both results from one exp.)"""
    b = backend_of(x2)
    xp = b.xp
    spread = _SAFE_SPREAD.get(x2.dtype)
    if spread is not None and x2.size and x2.max() - x2.min() < spread:
        s = x2 - x2.max()
    else:
        s = x2 - x2.max(axis=1, keepdims=True)
    e = xp.exp(s)
    se = b.kernels.sum_along(e, 1)
    s -= xp.log(se)
    if with_probs:
        e /= se
        return s, e
    return s, None
