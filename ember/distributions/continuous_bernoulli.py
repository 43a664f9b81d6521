"""ContinuousBernoulli(probs | logits): on [0, 1], density C(l) l^x (1 - l)^(1 - x),
with the normaliser C(l) = 2 atanh(1 - 2 l) / (1 - 2 l).

Near l = 1/2 the closed forms are 0/0: inside ``lims`` (default (0.499, 0.501))
the log normaliser, mean and variance use their Taylor expansions around 1/2
instead, as torch does.  Reparameterised samples invert the cdf of a uniform.
"""
import math
import numbers

import ember as _e
from ember import Size
from ember.nn.functional import binary_cross_entropy_with_logits
from . import constraints
from .exp_family import ExponentialFamily
from .utils import broadcast_all, clamp_probs, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(ExponentialFamily):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _mean_carrier_measure = 0
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            is_scalar = isinstance(probs, numbers.Number)
            (self.probs,) = broadcast_all(probs)
            # (checked before the clamp below hides a value outside [0, 1])
            if validate_args is not None:
                if not bool(self.arg_constraints["probs"].check(self.probs).all()):
                    raise ValueError("The parameter probs has invalid values")
            self.probs = clamp_probs(self.probs)
        else:
            is_scalar = isinstance(logits, numbers.Number)
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        batch_shape = Size() if is_scalar else self._param.size()
        self._lims = lims
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expand_params(ContinuousBernoulli, batch_shape, _instance, ("probs", "logits"))
        new._lims = self._lims
        return new

    def _outside_unstable_region(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        """probs, with those in the unstable region replaced by a safe value (the
        Taylor branch is taken there, so its value never shows)."""
        return _e.where(self._outside_unstable_region(), self.probs,
                        self._lims[0] * _e.ones_like(self.probs))

    def _cont_bern_log_norm(self):
        """log C(probs)."""
        cut = self._cut_probs()
        below = _e.where(cut <= 0.5, cut, _e.zeros_like(cut))
        above = _e.where(cut >= 0.5, cut, _e.ones_like(cut))
        log_norm = (_e.log(_e.abs(_e.log1p(-cut) - _e.log(cut)))
                    - _e.where(cut <= 0.5, _e.log1p(-2.0 * below), _e.log(2.0 * above - 1.0)))
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return _e.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        cut = self._cut_probs()
        mus = cut / (2.0 * cut - 1.0) + 1.0 / (_e.log1p(-cut) - _e.log(cut))
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return _e.where(self._outside_unstable_region(), mus, taylor)

    @property
    def stddev(self):
        return _e.sqrt(self.variance)

    @property
    def variance(self):
        cut = self._cut_probs()
        var = (cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2)
               + 1.0 / (_e.log1p(-cut) - _e.log(cut)).pow(2))
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return _e.where(self._outside_unstable_region(), var, taylor)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    @property
    def param_shape(self):
        return self._param.size()

    def sample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = _e.rand(shape, dtype=self.probs.dtype, device=self.probs.device)
        with _e.no_grad():
            return self.icdf(u)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = _e.rand(shape, dtype=self.probs.dtype, device=self.probs.device)
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return (-binary_cross_entropy_with_logits(logits, value, reduction="none")
                + self._cont_bern_log_norm())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        cut = self._cut_probs()
        cdfs = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        unbounded = _e.where(self._outside_unstable_region(), cdfs, value)
        return _e.where(value <= 0.0, _e.zeros_like(value),
                        _e.where(value >= 1.0, _e.ones_like(value), unbounded))

    def icdf(self, value):
        cut = self._cut_probs()
        inv = ((_e.log1p(-cut + value * (2.0 * cut - 1.0)) - _e.log1p(-cut))
               / (_e.log(cut) - _e.log1p(-cut)))
        return _e.where(self._outside_unstable_region(), inv, value)

    def entropy(self):
        log_probs0 = _e.log1p(-self.probs)
        log_probs1 = _e.log(self.probs)
        return (self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm()
                - log_probs0)

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        """log of the normaliser as a function of the natural parameter x (the logits)."""
        outside = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut = _e.where(outside, x, (self._lims[0] - 0.5) * _e.ones_like(x))
        log_norm = _e.log(_e.abs(_e.exp(cut) - 1.0)) - _e.log(_e.abs(cut))
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return _e.where(outside, log_norm, taylor)
