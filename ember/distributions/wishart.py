"""Wishart(df, covariance_matrix | precision_matrix | scale_tril): the law of
sum_i x_i x_i^T for df Gaussian vectors x_i ~ N(0, Sigma) (df real > p - 1).

Samples use Bartlett's decomposition: X = L A A^T L^T with L the Cholesky
factor of Sigma and A lower-triangular, A_ii = sqrt(chi2(df - i)) and
standard normals below the diagonal, so rsample is differentiable in df
(through the chi-squared draws) and in Sigma.
"""
import math
import numbers
import warnings

import ember as _e
from ember import Size
from . import constraints
from .chi2 import Chi2
from .exp_family import ExponentialFamily
from .multivariate_normal import _precision_to_scale_tril
from .utils import lazy_property

__all__ = ["Wishart"]

_LOG_2 = math.log(2)


def _mvdigamma(x, p):
    """The multivariate digamma: sum_{i < p} digamma(x - i / 2)."""
    if not bool((x > (p - 1) / 2).all()):
        raise AssertionError("Wrong domain for multivariate digamma function.")
    half_steps = _e.arange(p, dtype=x.dtype, device=x.device) / 2
    return _e.digamma(x.unsqueeze(-1) - half_steps).sum(-1)


class Wishart(ExponentialFamily):
    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self):
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self.event_shape[-1] - 1),
        }

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        given = [(n, m) for n, m in (("covariance_matrix", covariance_matrix),
                                      ("precision_matrix", precision_matrix),
                                      ("scale_tril", scale_tril)) if m is not None]
        if len(given) != 1:
            raise AssertionError("Exactly one of covariance_matrix or precision_matrix or "
                                 "scale_tril may be specified.")
        name, param = given[0]
        if param.dim() < 2:
            raise ValueError("scale_tril must be at least two-dimensional, with optional leading "
                             "batch dimensions")
        if isinstance(df, numbers.Number):
            batch_shape = Size(param.shape[:-2])
            self.df = _e.tensor(df, dtype=param.dtype, device=param.device)
        else:
            batch_shape = Size(_e.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape)))
            self.df = df.expand(batch_shape)
        event_shape = Size(param.shape[-2:])
        p = event_shape[-1]
        if bool((self.df <= p - 1).any()):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
        setattr(self, name, param.expand(tuple(batch_shape) + (-1, -1)))
        if bool((self.df < p).any()):
            warnings.warn("Low df values detected. Singular samples are highly likely to occur "
                          "for ndim - 1 < df < ndim.", stacklevel=2)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = _e.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)
        self._dist_chi2 = self._bartlett_chi2(self.df, batch_shape, p)

    @staticmethod
    def _bartlett_chi2(df, batch_shape, p):
        """Chi2(df - i) for i = 0..p-1: the squared diagonal of Bartlett's factor."""
        steps = _e.arange(p, dtype=df.dtype, device=df.device).expand(tuple(batch_shape) + (-1,))
        return Chi2(df.unsqueeze(-1) - steps)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = Size(batch_shape)
        cov_shape = tuple(batch_shape) + tuple(self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(batch_shape)
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        new._dist_chi2 = self._bartlett_chi2(new.df, batch_shape, self.event_shape[-1])
        super(Wishart, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self):
        return tuple(self._batch_shape) + tuple(self._event_shape)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        return self._sigma_inv_times(
            _e.eye(self._event_shape[-1], dtype=self.df.dtype, device=self.df.device)
        ).expand(self._matrix_shape())

    def _sigma_inv_times(self, B):
        """Sigma^-1 B through the Cholesky factor (two triangular solves)."""
        L = self._unbroadcasted_scale_tril
        n = L.shape[-1]
        batch = _e.broadcast_shapes(tuple(L.shape[:-2]), tuple(B.shape[:-2]))
        L = L.expand(tuple(batch) + (n, n))
        B = B.expand(tuple(batch) + tuple(B.shape[-2:]))
        Y = _e.linalg.solve_triangular(L, B, upper=False)
        return _e.linalg.solve_triangular(L.mT, Y, upper=True)

    def _df_matrix(self, t):
        return t.reshape(tuple(self._batch_shape) + (1, 1))

    @property
    def mean(self):
        return self._df_matrix(self.df) * self.covariance_matrix

    @property
    def mode(self):
        factor = self.df - self.covariance_matrix.shape[-1] - 1
        factor = _e.where(factor <= 0, math.nan, factor)       # no mode for df <= p + 1
        return self._df_matrix(factor) * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        d = V.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix(self.df) * (V.pow(2) + d.unsqueeze(-1) * d.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape):
        p = self._event_shape[-1]
        diag = self._dist_chi2.rsample(sample_shape).sqrt()
        shape = tuple(Size(sample_shape)) + tuple(self._batch_shape) + (p, p)
        below = _e.randn(shape, dtype=diag.dtype, device=diag.device).tril(-1)
        A = below + _e.diag_embed(diag)
        chol = self._unbroadcasted_scale_tril @ A
        return chol @ chol.mT

    def rsample(self, sample_shape=Size(), max_try_correction=None):
        """A differentiable sample.  A draw that is numerically singular (possible for
        df near p - 1) is redrawn up to ``max_try_correction`` (default 10) times; a
        warning says if one remains singular."""
        if max_try_correction is None:
            max_try_correction = 10
        sample_shape = Size(sample_shape)
        sample = self._bartlett_sampling(sample_shape)
        for _ in range(max_try_correction):
            singular = ~self.support.check(sample.detach())
            if not bool(singular.any()):
                return sample
            fresh = self._bartlett_sampling(sample_shape)
            sample = _e.where(singular.reshape(tuple(singular.shape) + (1, 1)), fresh, sample)
        if bool((~self.support.check(sample.detach())).any()):
            warnings.warn("Singular sample detected.", stacklevel=2)
        return sample

    def _half_log_det(self):
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        trace = self._sigma_inv_times(value).diagonal(dim1=-2, dim2=-1).sum(-1)
        return (-nu * (p * _LOG_2 / 2 + self._half_log_det()) - _e.mvlgamma(nu / 2, p)
                + (nu - p - 1) / 2 * _e.linalg.slogdet(value)[1] - trace / 2)

    def entropy(self):
        nu = self.df
        p = self._event_shape[-1]
        return ((p + 1) * (p * _LOG_2 / 2 + self._half_log_det()) + _e.mvlgamma(nu / 2, p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p) + nu * p / 2)

    @property
    def _natural_params(self):
        p = self._event_shape[-1]
        return -0.5 * self.precision_matrix, 0.5 * (self.df - p - 1)

    def _log_normalizer(self, x, y):
        # with n/2 = y + (p + 1)/2 and Sigma^-1 = -2 x:
        # log Z = (n/2) log det Sigma + (n p / 2) log 2 + mvlgamma(n/2, p)
        #       = -(n/2) log det(-x) + mvlgamma(n/2, p)
        p = self._event_shape[-1]
        half_n = y + (p + 1) / 2
        return -half_n * _e.linalg.slogdet(-x)[1] + _e.mvlgamma(half_n, p)
