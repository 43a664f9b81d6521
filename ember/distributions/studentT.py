"""StudentT(df, loc=0, scale=1): Student's t, heavy-tailed; a Normal divided by
sqrt(Chi2(df) / df)."""
import math

import ember as _e
from ember import Size
from . import constraints
from .chi2 import Chi2
from .distribution import Distribution
from .utils import _standard_normal, broadcast_all

__all__ = ["StudentT"]


class StudentT(Distribution):
    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        super().__init__(self.df.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(StudentT, batch_shape, _instance, ("df", "loc", "scale", "_chi2"))

    @property
    def mean(self):
        # undefined (nan) for df <= 1
        return _e.where(self.df <= 1, float("nan"), self.loc)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df, scale = self.df, self.scale
        finite = scale.pow(2) * df / (df - 2)
        # infinite for 1 < df <= 2, undefined for df <= 1
        out = _e.where(df > 2, finite, float("inf"))
        return _e.where(df <= 1, float("nan"), out)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        X = _standard_normal(shape, dtype=self.df.dtype, device=self.df.device)
        Z = self._chi2.rsample(sample_shape)
        Y = X * _e.rsqrt(Z / self.df)
        return self.loc + self.scale * Y

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        log_norm = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi)
                    + _e.lgamma(0.5 * self.df) - _e.lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * _e.log1p(y ** 2.0 / self.df) - log_norm

    def entropy(self):
        df = self.df
        lbeta = _e.lgamma(0.5 * df) + math.lgamma(0.5) - _e.lgamma(0.5 * (df + 1))
        return (self.scale.log() + 0.5 * (df + 1) * (_e.digamma(0.5 * (df + 1))
                                                      - _e.digamma(0.5 * df))
                + 0.5 * df.log() + lbeta)
