"""Kumaraswamy(concentration1, concentration0): on (0, 1), cdf 1 - (1 - x^a)^b;
a Beta look-alike with a closed-form inverse cdf (so rsample is a transform of U)."""
import math

import ember as _e
from . import constraints
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, PowerTransform
from .uniform import Uniform
from .utils import broadcast_all, euler_constant

__all__ = ["Kumaraswamy"]


def _moments(a, b, n):
    """E[X^n] = b B(1 + n/a, b)."""
    arg1 = 1 + n / a
    log_value = _e.lgamma(arg1) + _e.lgamma(b) - _e.lgamma(arg1 + b)
    return b * _e.exp(log_value)


class Kumaraswamy(TransformedDistribution):
    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        base_dist = Uniform(_e.full_like(self.concentration0, 0),
                            _e.full_like(self.concentration0, 1), validate_args=validate_args)
        # x = (1 - (1 - u)^(1/b))^(1/a): the inverse cdf of a uniform u
        transforms = [PowerTransform(exponent=self.concentration0.reciprocal()),
                      AffineTransform(loc=1.0, scale=-1.0),
                      PowerTransform(exponent=self.concentration1.reciprocal())]
        super().__init__(base_dist, transforms, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Kumaraswamy, _instance)
        new.concentration1 = self.concentration1.expand(batch_shape)
        new.concentration0 = self.concentration0.expand(batch_shape)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return _moments(self.concentration1, self.concentration0, 1)

    @property
    def mode(self):
        a, b = self.concentration1, self.concentration0
        # ((a - 1) / (a b - 1))^(1/a), defined for a, b >= 1
        undefined = (a < 1) | (b < 1)
        a_safe = _e.where(undefined, 2.0, a)            # (no log of a negative number)
        b_safe = _e.where(undefined, 2.0, b)
        log_mode = ((a_safe - 1).log() - (a_safe * b_safe - 1).log()) / a_safe
        return _e.where(undefined, math.nan, log_mode.exp())

    @property
    def variance(self):
        return (_moments(self.concentration1, self.concentration0, 2)
                - self.mean.pow(2))

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        harmonic_b = _e.digamma(b + 1) + euler_constant
        return (1 - b.reciprocal()) + (1 - a.reciprocal()) * harmonic_b - (a * b).log()
