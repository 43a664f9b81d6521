"""Distances and similarity between vectors (torch.nn.functional's
pairwise_distance, cosine_similarity, pdist and normalize), composed from
Ember's norm ops so their gradients are exact to any order."""
from ...backends import namespace
from ..._tensor import Tensor
from ..._tensor_base import _wrap, _dim
from ...ops._util import check_broadcast, to_float, cast
from ...ops.reduction import vector_norm
from ... import _dtype as D
from ..._errors import not_a_tensor

__all__ = ["pairwise_distance", "cosine_similarity", "pdist", "normalize"]


def _common(x1, x2):
    """Bring two tensors to a common floating dtype (torch's promotion)."""
    if x1._data.dtype != x2._data.dtype:
        rt = D.result_type(x1, x2)
        x1, x2 = cast(x1, rt), cast(x2, rt)
    return to_float(x1), to_float(x2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dimension; x1 (N, D) or (D,), x2 likewise
    (broadcasting) -> (N,) or ()."""
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise not_a_tensor("pairwise_distance", name, t)
    check_broadcast(x1._data.shape, x2._data.shape)
    x1, x2 = _common(x1, x2)
    nd = max(x1.dim(), x2.dim())
    return vector_norm(x1 - x2 + eps, p, nd - 1, keepdim)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim``
    (inputs broadcast).  Each input is divided by its norm first, which keeps
    the result in [-1, 1]; the clamp to eps changes values only, not the
    gradient's path, as torch."""
    shape = check_broadcast(x1._data.shape, x2._data.shape)
    x1, x2 = _common(x1, x2)
    if x1._data.shape != shape:
        x1 = x1.expand(*shape)
    if x2._data.shape != shape:
        x2 = x2.expand(*shape)
    d = _dim(dim, len(shape))
    n1 = _clamp_value(vector_norm(x1, 2, d, True), eps)
    n2 = _clamp_value(vector_norm(x2, 2, d, True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(d)


def _clamp_value(n, eps):
    """n with values below eps raised to eps; the gradient passes as identity
    (torch clamps in place under no_grad)."""
    nd = n._data
    low = nd < eps
    if not low.any():
        return n
    return n + _wrap(namespace(nd).where(low, eps - nd, 0).astype(nd.dtype))


def pdist(input, p=2):
    """p-norm distances between all pairs of rows i < j of ``input`` (N, M),
    in row-major pair order -> (N (N - 1) / 2,)."""
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    n = input.shape[0]
    i, j = namespace(input._data).triu_indices(n, 1)
    x = to_float(input)
    return vector_norm(x[_wrap(i)] - x[_wrap(j)], p, 1, False)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p, eps) along ``dim``."""
    denom = vector_norm(input, p, dim, True).clamp_min(eps)
    r = input / denom
    if out is not None:
        out.copy_(r)
        return out
    return r
