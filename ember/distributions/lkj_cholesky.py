"""LKJCholesky(dim, concentration=1): Cholesky factors L of correlation matrices
L L^T with density proportional to det(L L^T)^(concentration - 1).

Samples come from the onion method: row i of L is sqrt(y_i) times a uniform
direction in its first i coordinates, with y_i ~ Beta(i/2, concentration +
(dim - 1 - i)/2), and the diagonal entry making the row unit-norm."""
import math

import ember as _e
from ember import Size
from . import constraints
from .beta import Beta
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["LKJCholesky"]


class LKJCholesky(Distribution):
    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim, concentration=1.0, validate_args=None):
        if dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. "
                             f"Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        batch_shape = self.concentration.size()
        event_shape = Size((dim, dim))
        # the onion method's Beta for each row i: y_i ~ Beta(i / 2, eta + (dim - 1 - i) / 2)
        # (Lewandowski, Kurowicka and Joe 2009, 3.2; row 0 has nothing to draw, its y is
        # unused).  torch 2.13 draws row i >= 2 from Beta(i - 1/2, ...), which makes its
        # correlations too spread (variance 0.30 instead of 0.25 for dim 4, eta 0.5)
        c = self.concentration
        rows = _e.arange(dim, dtype=c.dtype, device=c.device)
        conc1 = _e.where(rows == 0, 0.5, rows / 2)
        conc0 = c.unsqueeze(-1) + (dim - 1 - rows) / 2
        self._beta = Beta(conc1, conc0)
        super().__init__(batch_shape, event_shape, validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = Size(batch_shape)
        new.dim = self.dim
        new.concentration = self.concentration.expand(batch_shape)
        new._beta = self._beta.expand(tuple(batch_shape) + (self.dim,))
        super(LKJCholesky, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=Size()):
        with _e.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            shape = self._extended_shape(sample_shape)
            normals = _e.randn(shape, dtype=y.dtype, device=y.device).tril(-1)
            norms = normals.pow(2).sum(-1, keepdim=True).sqrt()
            # row 0 is all zeros (its norm too): its direction is 0, its diagonal 1
            directions = _e.where(norms > 0, normals / _e.where(norms > 0, norms, 1.0), 0.0)
            w = y.sqrt() * directions
            diag = (1 - w.pow(2).sum(-1)).clamp(min=_e.finfo(w.dtype).tiny).sqrt()
            return w + _e.diag_embed(diag)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diag = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = _e.arange(2, self.dim + 1, dtype=value.dtype, device=value.device)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag.log()).sum(-1)
        # the normaliser of the LKJ density over Cholesky factors
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        denominator = _e.lgamma(alpha) * dm1
        numerator = _e.mvlgamma(alpha - 0.5, dm1)
        normalize_term = 0.5 * dm1 * math.log(math.pi) + numerator - denominator
        return unnormalized - normalize_term
