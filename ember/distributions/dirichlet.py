"""Dirichlet(concentration): distributions over the probability simplex.

Reparameterised samples normalise independent Gamma(concentration_i, 1)
draws; each carries its implicit gradient (ember.ops.special._standard_gamma),
so d sample / d concentration is a pathwise gradient through the normalisation
(torch differentiates its Dirichlet sampler by another implicit formula: the
two agree in expectation, not draw by draw).
"""
import ember as _e
from ember import Size
from ember.ops.special import _standard_gamma
from . import constraints
from .exp_family import ExponentialFamily
from .gamma import _clamp_tiny_

__all__ = ["Dirichlet"]


class Dirichlet(ExponentialFamily):
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = Size(batch_shape)
        new.concentration = self.concentration.expand(tuple(batch_shape) + tuple(self.event_shape))
        super(Dirichlet, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        gammas = _clamp_tiny_(_standard_gamma(self.concentration.expand(shape)))
        return _clamp_tiny_(gammas / gammas.sum(-1, keepdim=True))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (_e.xlogy(c - 1.0, value).sum(-1) + _e.lgamma(c.sum(-1))
                - _e.lgamma(c).sum(-1))

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        c = self.concentration
        excess = (c - 1).clamp(min=0.0)
        mode = excess / excess.sum(-1, keepdim=True)
        # with every concentration below 1 the density peaks at the corner of the largest
        corner = _e.nn.functional.one_hot(c.argmax(-1), c.shape[-1]).to(c.dtype)
        return _e.where((c < 1).all(-1, keepdim=True), corner, mode)

    @property
    def variance(self):
        c = self.concentration
        total = c.sum(-1, keepdim=True)
        return c * (total - c) / (total.pow(2) * (total + 1))

    def entropy(self):
        c = self.concentration
        k = c.size(-1)
        a0 = c.sum(-1)
        return (_e.lgamma(c).sum(-1) - _e.lgamma(a0) - (k - a0) * _e.digamma(a0)
                - ((c - 1.0) * _e.digamma(c)).sum(-1))

    @property
    def _natural_params(self):
        return (self.concentration,)

    def _log_normalizer(self, x):
        return x.lgamma().sum(-1) - _e.lgamma(x.sum(-1))
