"""CPU loss kernels: CTC's forward-backward recursion compiled (one loop per
sequence instead of a NumPy pass per time step), else the generic formula."""
import numpy as np

from .._table import CPU as KERNELS
from ..generic import loss as _generic
from . import _jit


@KERNELS.register
def ctc_loss(lp, ext, in_len, tgt_len, want_grad):
    """The generic ``ctc_loss``, compiled for float32/64 (same results to rounding)."""
    k = _jit.kernels_for(lp.dtype)
    if k is None:
        return _generic.ctc_loss(lp, ext, in_len, tgt_len, want_grad)
    lp = np.ascontiguousarray(lp)
    nll = np.empty(lp.shape[1], dtype=lp.dtype)
    grad = np.zeros(lp.shape if want_grad else (0, 0, 0), dtype=lp.dtype)
    k.ctc_loss_batch(lp, np.ascontiguousarray(ext, dtype=np.int64),
                     np.ascontiguousarray(in_len, dtype=np.int64),
                     np.ascontiguousarray(tgt_len, dtype=np.int64), bool(want_grad), nll, grad)
    return nll, (grad if want_grad else None)
