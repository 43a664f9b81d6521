"""GeneralizedPareto(loc, scale, concentration): the peaks-over-threshold law,
survival function (1 + c z)^(-1/c) with z = (x - loc) / scale (exp(-z) at c = 0).

As torch, a concentration within ``isclose`` of 0 takes the c = 0 forms, and
the formulas are not masked outside the support (validation guards it)."""
import math
import numbers

import ember as _e
from ember import Size
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["GeneralizedPareto"]


class GeneralizedPareto(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        if all(isinstance(v, numbers.Number) for v in (loc, scale, concentration)):
            batch_shape = Size()
        else:
            batch_shape = self.loc.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(GeneralizedPareto, batch_shape, _instance, ("loc", "scale", "concentration"))

    def _zero_and_safe(self):
        """(where c counts as 0, c with those entries replaced by 1 to keep 1/c finite)."""
        c = self.concentration
        zero = _e.isclose(c, _e.zeros_like(c))
        return zero, _e.where(zero, _e.ones_like(c), c)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        return self.icdf(_e.rand(shape, dtype=self.loc.dtype, device=self.loc.device))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._zero_and_safe()
        y = 1 / c + _e.ones_like(z)
        nonzero = _e.where(y == 0, y, y * _e.log1p(c * z))    # (c = -1: a flat density)
        return -self.scale.log() - _e.where(zero, z, nonzero)

    def log_survival_function(self, value):
        """log P(X > value)."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._zero_and_safe()
        return _e.where(zero, -z, -_e.log1p(c * z) / c)

    def log_cdf(self, value):
        return _e.log1p(-_e.exp(self.log_survival_function(value)))

    def cdf(self, value):
        return _e.exp(self.log_cdf(value))

    def icdf(self, value):
        zero, c = self._zero_and_safe()
        log_u = _e.log1p(-value)
        nonzero = self.loc + self.scale / c * _e.expm1(-c * log_u)
        return _e.where(zero, self.loc - self.scale * log_u, nonzero)

    @property
    def mean(self):
        valid = self.concentration < 1                       # (undefined otherwise: nan)
        c = _e.where(valid, self.concentration, 0.5)
        return _e.where(valid, self.loc + self.scale / (1 - c), math.nan)

    @property
    def variance(self):
        valid = self.concentration < 0.5
        c = _e.where(valid, self.concentration, 0.25)
        return _e.where(valid, self.scale.pow(2) / ((1 - c).pow(2) * (1 - 2 * c)), math.nan)

    def entropy(self):
        return _e.broadcast_to(self.scale.log() + self.concentration + 1, self._batch_shape)

    @property
    def mode(self):
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        lower = self.loc
        negative = self.concentration < 0      # bounded above only then (no 1/0 elsewhere)
        c = _e.where(negative, self.concentration, -1.0)
        upper = _e.where(negative, lower - self.scale / c, math.inf)
        return constraints.interval(lower, upper)
