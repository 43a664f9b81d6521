"""Ready-made parametrizations (torch.nn.utils.parametrizations):
``weight_norm``, ``spectral_norm`` and ``orthogonal``, each registered with
``parametrize.register_parametrization`` (keys under
``parametrizations.<name>.``, as torch's)."""
from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ... import linalg as _linalg
from ..functional import normalize
from ..modules.module import Module
from . import parametrize
from .spectral_norm import _as_matrix, _conv_transpose_types
from .weight_norm import _weight_norm, norm_except_dim

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# ---- weight_norm -------------------------------------------------------------------------

class _WeightNorm(Module):
    """weight = g * v / ||v|| from (original0 = g, original1 = v)."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Parametrise ``module.<name>`` by its norm (``original0``, one value per
    slice along ``dim``; ``dim=None``: one for the whole tensor) and its
    direction (``original1``).  A state dict saved with the older
    ``nn.utils.weight_norm`` (keys ``<name>_g``, ``<name>_v``) still loads."""
    register = parametrize.register_parametrization
    register(module, name, _WeightNorm(dim), unsafe=True)

    def load_old_keys(state_dict, prefix, local_metadata, strict, missing_keys,
                      unexpected_keys, error_msgs):
        g, v = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g in state_dict and v in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v)

    module._register_load_state_dict_pre_hook(load_old_keys)
    return module


# ---- spectral_norm -----------------------------------------------------------------------

class _SpectralNorm(Module):
    """weight / sigma, sigma the largest singular value estimated by power
    iteration on the buffers ``_u`` and ``_v`` (advanced in training mode);
    1-D weights are just normalised."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, "
                             f"{ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            mat = _as_matrix(weight.detach(), self.dim)
            h, w = mat.shape
            u = normalize(mat.new_empty(h).normal_(0, 1), dim=0, eps=eps)
            v = normalize(mat.new_empty(w).normal_(0, 1), dim=0, eps=eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            # start from a good estimate, as torch does
            self._power_method(mat, 15)

    def _power_method(self, mat, steps):
        with no_grad():
            for _ in range(steps):
                self._u.copy_(normalize(mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(normalize(mat.t().mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.dim() == 1:
            return normalize(weight, dim=0, eps=self.eps)
        mat = _as_matrix(weight, self.dim)
        if self.training:
            self._power_method(mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        return weight / u.dot(mat.mv(v))

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm each time it is read
    (keys ``parametrizations.<name>.original`` and ``...0._u``/``_v``)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, _conv_transpose_types()) else 0
    parametrize.register_parametrization(module, name,
                                         _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ---- orthogonal --------------------------------------------------------------------------

_MAPS = ("matrix_exp", "cayley", "householder")


def _orthonormalise(A):
    """The Q of A's QR decomposition with R's diagonal made positive (unique), no grad."""
    from ..._tensor_base import _wrap
    from ...backends import namespace
    a = A.detach()._data
    xp = namespace(a)
    q, r = xp.linalg.qr(a)
    d = xp.sign(xp.diagonal(r, axis1=-2, axis2=-1))
    d = xp.where(d == 0, 1, d)
    return _wrap((q * d[..., None, :]).astype(a.dtype))


def _is_orthogonal(Q):
    """Q^T Q == I to within torch's tolerance (10 n eps)."""
    n = Q.shape[-2]
    eye = _linalg._eye_like(Q, Q.shape[-1])
    eps = 10.0 * n * (2.220446049250313e-16 if Q.dtype.itemsize == 8 else 1.1920928955078125e-07)
    return bool((Q.mT @ Q).allclose(eye, atol=eps))


class _Orthogonal(Module):
    """An orthogonal (n x k: orthonormal columns or rows) matrix from an
    unconstrained one, by the matrix exponential or Cayley map of a
    skew-symmetric matrix, or by a product of Householder reflectors.

    With ``use_trivialization`` (the default) the result is ``base @ map(X)``
    where ``base`` (a buffer) is the orthogonal matrix last assigned, and X
    starts at the point where map(X) is the identity, so optimisation moves
    around the assigned matrix."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:
                pad = X.new_zeros(*X.shape[:-2], n, n - k)
                X = _cat([X, pad], -1)
            A = X - X.mT                                     # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                Q = _linalg.matrix_exp(A)
            else:
                eye = _linalg._eye_like(A)
                Q = _linalg.solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = _linalg.householder_product(A, tau)
            # X's diagonal holds the signs (+-1) of the reflections' columns
            Q = Q * X.diagonal(dim1=-2, dim2=-1).detach().trunc().unsqueeze(-2)
        if "base" in self._buffers:
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q):
        if Q.shape != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {Q.shape}.")
        given = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transposed = n < k
        if transposed:
            Q = Q.mT
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map in ("matrix_exp", "cayley"):
                raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                          "or the Cayley parametrizations when "
                                          "use_trivialization=False.")
            A = _householder_form(Q)
            return A.mT if transposed else A
        if n == k:
            Q = Q.clone() if _is_orthogonal(Q) else _orthonormalise(Q)
        else:
            # complete the columns to a square orthogonal matrix with random ones
            from ...random import randn
            extra = randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
            Q = _orthonormalise(_cat([Q, extra], -1))
        self.base = Q
        # map(-I) is the identity for every map (the Householder one reads the
        # signs of the reflections from the diagonal)
        neg_eye = given.new_zeros(given.shape)
        neg_eye.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        return neg_eye


def _cat(ts, dim):
    from ...ops.shape import cat
    return cat(ts, dim)


def _householder_form(Q):
    """Reflectors (LAPACK's geqrf form) whose product is Q, with the signs of
    R's diagonal on the diagonal (no grad)."""
    from ..._tensor_base import _wrap
    from ...backends import namespace
    q = Q.detach()._data
    xp = namespace(q)
    batch = q.shape[:-2]
    flat = q.reshape((-1,) + q.shape[-2:])
    outs = []
    for mat in flat:
        h, tau = xp.linalg.qr(mat, mode="raw")
        a = h.T.copy()
        k = min(a.shape)
        diag = xp.sign(a[xp.arange(k), xp.arange(k)])
        diag = xp.where(tau[:k] == 0, -diag, diag)
        a[xp.arange(k), xp.arange(k)] = diag
        outs.append(a)
    return _wrap(xp.stack(outs).reshape(batch + q.shape[-2:]).astype(q.dtype))


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Keep ``module.<name>`` (a matrix or batch of matrices) orthogonal.
    ``orthogonal_map``: 'matrix_exp' (default for square matrices), 'cayley'
    or 'householder' (default otherwise)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise ValueError("Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.dim()} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module

