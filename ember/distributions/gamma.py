"""Gamma(concentration, rate): density rate^a x^(a-1) e^(-rate x) / Gamma(a)."""
import numbers

import ember as _e
from ember import Size
from ember.ops.special import _standard_gamma
from . import constraints
from .exp_family import ExponentialFamily
from .utils import broadcast_all

__all__ = ["Gamma"]


def _clamp_tiny_(value):
    """Raise exact zeros (float underflow for tiny concentrations) to the smallest
    normal float, in place on the data: the sample's gradient is left as it is."""
    value.detach().clamp_(min=_e.finfo(value.dtype).tiny)
    return value


class Gamma(ExponentialFamily):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        if isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number):
            batch_shape = Size()
        else:
            batch_shape = self.concentration.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Gamma, batch_shape, _instance, ("concentration", "rate"))

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return _clamp_tiny_(value)

    def log_prob(self, value):
        value = _e.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            self._validate_sample(value)
        return (_e.xlogy(self.concentration, self.rate) + _e.xlogy(self.concentration - 1, value)
                - self.rate * value - _e.lgamma(self.concentration))

    def entropy(self):
        a = self.concentration
        return a - _e.log(self.rate) + _e.lgamma(a) + (1.0 - a) * _e.digamma(a)

    @property
    def _natural_params(self):
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x, y):
        return _e.lgamma(x + 1) + (x + 1) * _e.log(-y.reciprocal())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return _e.igamma(self.concentration, self.rate * value)
