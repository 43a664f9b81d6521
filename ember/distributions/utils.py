"""Helpers the distributions share: broadcasting parameters, probs <-> logits,
lazily computed parameters, and summing rightmost dims."""
import numbers

import ember as _e
from ember import Tensor

__all__ = ["broadcast_all", "logits_to_probs", "probs_to_logits", "clamp_probs", "lazy_property",
           "tril_matrix_to_vec", "vec_to_tril_matrix"]

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant


def broadcast_all(*values):
    """Numbers and tensors broadcast to one shape; numbers become tensors of the
    first tensor's dtype and device (the default dtype when there is none)."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor "
                         "or objects implementing __torch_function__.")
    if not all(isinstance(v, Tensor) for v in values):
        like = next((v for v in values if isinstance(v, Tensor)), None)
        dtype = like.dtype if like is not None else _e.get_default_dtype()
        device = like.device if like is not None else None
        values = [v if isinstance(v, Tensor) else _e.tensor(v, dtype=dtype, device=device)
                  for v in values]
    return _e.broadcast_tensors(*values)


def _standard_normal(shape, dtype, device):
    return _e.randn(shape, dtype=dtype, device=device)


def _sum_rightmost(value, dim):
    """Sum out the ``dim`` rightmost dims of ``value`` (none when dim == 0)."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


def clamp_probs(probs):
    """Probabilities clamped into [eps, 1 - eps] of their dtype, so logs stay finite."""
    eps = _e.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits, is_binary=False):
    """Sigmoid of binary logits, else softmax over the last dim."""
    if is_binary:
        return _e.sigmoid(logits)
    return _e.softmax(logits, dim=-1)


def probs_to_logits(probs, is_binary=False):
    """Log-odds of binary probabilities, else log-probabilities (clamped first)."""
    p = clamp_probs(probs)
    if is_binary:
        return _e.log(p) - _e.log1p(-p)
    return _e.log(p)


class lazy_property:
    """A parameter computed from another on first access (``probs`` from
    ``logits``), then stored on the instance so later reads are plain attributes.
    It is computed with grad enabled, so it stays differentiable even when first
    read inside ``no_grad`` (e.g. by ``sample``)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with _e.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def tril_matrix_to_vec(mat, diag=0):
    """The lower triangle (below diagonal ``diag``) of each matrix, row by row."""
    n = mat.shape[-1]
    if not -n <= diag < n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    rows, cols = zip(*_tril_indices(n, diag))
    return mat[..., list(rows), list(cols)]


def _tril_indices(n, diag):
    return [(i, j) for i in range(n) for j in range(n) if j - i <= diag]


def vec_to_tril_matrix(vec, diag=0):
    """Inverse of tril_matrix_to_vec: the vector's entries into a lower-triangular matrix."""
    m = vec.shape[-1]
    n = 1
    while len(_tril_indices(n, diag)) < m:     # the matrix size whose triangle holds m entries
        n += 1
    idx = _tril_indices(n, diag)
    if len(idx) != m:
        raise ValueError(f"size of vec ({m}) does not form a lower triangle")
    rows, cols = zip(*idx)
    out = _e.zeros(tuple(vec.shape[:-1]) + (n, n), dtype=vec.dtype, device=vec.device)
    out[..., list(rows), list(cols)] = vec
    return out
