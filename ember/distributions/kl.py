"""kl_divergence(p, q) and its registry.

``@register_kl(P, Q)`` registers a function computing KL(p || q) for p of type
P and q of type Q (or of subclasses).  ``kl_divergence`` picks, among the
registered pairs matching the two types, the one closest to them in their
class hierarchies (warning when the closest for p and for q disagree), and
memoises the choice per pair of types.

The closed forms below are written out from the densities:
KL(p || q) = E_p[log p(x) - log q(x)]; a pair whose q has a smaller support
than p is infinite.
"""
import math
import warnings

import ember as _e
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .cauchy import Cauchy
from .continuous_bernoulli import ContinuousBernoulli
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .exponential import Exponential
from .gamma import Gamma
from .geometric import Geometric
from .gumbel import Gumbel
from .half_normal import HalfNormal
from .independent import Independent
from .laplace import Laplace
from .lowrank_multivariate_normal import (LowRankMultivariateNormal, _lowrank_logdet,
                                          _lowrank_mahalanobis)
from .multivariate_normal import MultivariateNormal, _batch_mahalanobis
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .pareto import Pareto
from .poisson import Poisson
from .transformed_distribution import TransformedDistribution
from .uniform import Uniform
from .utils import _sum_rightmost, euler_constant as _EULER

__all__ = ["register_kl", "kl_divergence"]

_KL_REGISTRY = {}   # (type_p, type_q) -> function
_KL_MEMOIZE = {}    # (type(p), type(q)) -> the function dispatch chose


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as KL(p || q) for these two Distribution types."""
    if not isinstance(type_p, type) or not issubclass(type_p, Distribution):
        raise TypeError(f"Expected type_p to be a Distribution subclass but got {type_p}")
    if not isinstance(type_q, type) or not issubclass(type_q, Distribution):
        raise TypeError(f"Expected type_q to be a Distribution subclass but got {type_q}")

    def decorator(fun):
        _KL_REGISTRY[type_p, type_q] = fun
        _KL_MEMOIZE.clear()           # a new pair may now be the closer match
        return fun
    return decorator


def _dispatch_kl(type_p, type_q):
    """The registered function for the closest matching pair, or NotImplemented."""
    matches = [(sp, sq) for sp, sq in _KL_REGISTRY
               if issubclass(type_p, sp) and issubclass(type_q, sq)]
    if not matches:
        return NotImplemented

    def depth(t, sup):
        return t.__mro__.index(sup)
    # closest in p first, then in q; and the other way round
    left = min(matches, key=lambda m: (depth(type_p, m[0]), depth(type_q, m[1])))
    right = min(matches, key=lambda m: (depth(type_q, m[1]), depth(type_p, m[0])))
    left_fun, right_fun = _KL_REGISTRY[left], _KL_REGISTRY[right]
    if left_fun is not right_fun:
        warnings.warn(f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}). Please "
                      f"register_kl({left[0].__name__}, {right[1].__name__})", RuntimeWarning)
    return left_fun


def kl_divergence(p, q):
    """KL(p || q) = E_p[log p - log q], one value per batch element."""
    key = type(p), type(q)
    fun = _KL_MEMOIZE.get(key)
    if fun is None:
        fun = _KL_MEMOIZE[key] = _dispatch_kl(*key)
    if fun is NotImplemented:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type "
                                  f"{p.__class__.__name__} and q type {q.__class__.__name__}")
    return fun(p, q)


# ---- helpers -------------------------------------------------------------------------------

def _infinite_like(t):
    return _e.full_like(t, math.inf)


def _x_log_x(t):
    return t * t.log()


def _inf_where(cond, value):
    return _e.where(cond, math.inf, value)


# ---- same-family pairs ---------------------------------------------------------------------

@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    sp = _e.nn.functional.softplus
    # p log(p/q) + (1-p) log((1-p)/(1-q)) written with logits; 0 log 0 = 0, x log(x/0) = inf
    t1 = p.probs * (sp(-q.logits) - sp(-p.logits))
    t1 = _e.where(p.probs == 0, 0.0, _inf_where(q.probs == 0, t1))
    t2 = (1 - p.probs) * (sp(q.logits) - sp(p.logits))
    t2 = _e.where(p.probs == 1, 0.0, _inf_where(q.probs == 1, t2))
    return t1 + t2


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    a1, b1, a2, b2 = p.concentration1, p.concentration0, q.concentration1, q.concentration0
    s1, s2 = a1 + b1, a2 + b2
    log_beta_ratio = (a2.lgamma() + b2.lgamma() + s1.lgamma()) - (a1.lgamma() + b1.lgamma()
                                                                   + s2.lgamma())
    return (log_beta_ratio + (a1 - a2) * _e.digamma(a1) + (b1 - b2) * _e.digamma(b1)
            + (s2 - s1) * _e.digamma(s1))


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p, q):
    if bool((p.total_count < q.total_count).any()):
        raise NotImplementedError("KL between Binomials where q.total_count > p.total_count is "
                                  "not implemented")
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p()
                          - (-q.probs).log1p())
    # p can take values q cannot
    return _inf_where(p.total_count > q.total_count, kl)


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = _e.where((p.probs == 0).expand_as(t), 0.0, _inf_where((q.probs == 0).expand_as(t), t))
    return t.sum(-1)


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p, q):
    return (((p.scale + q.scale).pow(2) + (p.loc - q.loc).pow(2)).log()
            - (4 * p.scale * q.scale).log())


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    a, b = p.concentration, q.concentration
    a0, b0 = a.sum(-1), b.sum(-1)
    t1 = a0.lgamma() - b0.lgamma()
    t2 = (a.lgamma() - b.lgamma()).sum(-1)
    t3 = ((a - b) * (a.digamma() - a0.digamma().unsqueeze(-1))).sum(-1)
    return t1 - t2 + t3


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    ratio = q.rate / p.rate
    return ratio - ratio.log() - 1


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p, q):
    """The Bregman divergence of the log normaliser F between the natural parameters:
    F(q) - F(p) - <theta_q - theta_p, grad F(p)>."""
    if not type(p) == type(q):
        raise NotImplementedError("The cross KL-divergence between different exponential "
                                  "families cannot                             be computed using "
                                  "Bregman divergences")
    p_params = [t.detach().requires_grad_() for t in p._natural_params]
    q_params = q._natural_params
    lg_normal = p._log_normalizer(*p_params)
    grads = _e.autograd.grad(lg_normal.sum(), p_params, create_graph=True)
    result = q._log_normalizer(*q_params) - lg_normal
    batch = tuple(result.shape)
    for pp, qp, g in zip(p_params, q_params, grads):
        # <theta_q - theta_p, grad F> per batch element, whatever the parameter's own event
        # dims (torch sums len(event_shape) dims, which for Wishart's scalar df term also
        # sums over the batch: a wrong value for batched Wisharts)
        result = result - ((qp - pp) * g).reshape(batch + (-1,)).sum(-1)
    return result


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    a1, r1, a2, r2 = p.concentration, p.rate, q.concentration, q.rate
    return (a2 * (r1 / r2).log() + a2.lgamma() - a1.lgamma() + (a1 - a2) * a1.digamma()
            + (r2 - r1) * (a1 / r1))


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p, q):
    ct1 = p.scale / q.scale
    ct2 = q.loc / q.scale
    ct3 = p.loc / q.scale
    t1 = -ct1.log() - ct2 + ct3
    t2 = ct1 * _EULER
    t3 = _e.exp(ct2 + (1 + ct1).lgamma() - ct3)
    return t1 + t2 + t3 - (1 + _EULER)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p, q):
    return -p.entropy() - _e.log1p(-q.probs) / p.probs - q.logits


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p, q):
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    return (-scale_ratio.log() + loc_abs_diff / q.scale
            + scale_ratio * _e.exp(-loc_abs_diff / p.scale) - 1)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehotcategorical_onehotcategorical(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p, q):
    scale_ratio = p.scale / q.scale
    alpha_ratio = q.alpha / p.alpha
    result = q.alpha * scale_ratio.log() - alpha_ratio.log() + alpha_ratio - 1
    return _inf_where(p.support.lower_bound < q.support.lower_bound, result)


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p, q):
    if p.transforms != q.transforms:
        raise NotImplementedError
    if p.event_shape != q.event_shape:
        raise NotImplementedError
    return kl_divergence(p.base_dist, q.base_dist)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


# ---- Gaussians with full and low-rank covariances ---------------------------------------------
# KL = (tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - n + log det Sq - log det Sp) / 2.
# Sp is written as F F^T + diag(d) (F = L, d = 0 for a full covariance; F = W, d = D for a
# low-rank one), so every trace is a sum of squares of a triangular solve.

def _gauss_parts(p):
    """(factor, diag or None, log det) of a Gaussian's covariance."""
    if isinstance(p, LowRankMultivariateNormal):
        W, D = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag
        return W, D, _lowrank_logdet(W, D, p._capacitance_tril)
    L = p._unbroadcasted_scale_tril
    return L, None, 2 * L.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def _frob2(m):
    return m.pow(2).sum((-2, -1))


def _trace_q_inv(q, F, d):
    """tr(Sq^-1 (F F^T + diag(d)))."""
    if isinstance(q, LowRankMultivariateNormal):
        # Sq^-1 = Dq^-1 - A^T A with A = C^-1 Wq^T Dq^-1 (Woodbury; C the capacitance factor)
        Wq, Dq = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag
        A = _e.linalg.solve_triangular(q._capacitance_tril, Wq.mT / Dq.unsqueeze(-2),
                                       upper=False)
        tr = _frob2(F / Dq.sqrt().unsqueeze(-1)) - _frob2(A @ F)
        if d is not None:
            tr = tr + (d / Dq).sum(-1) - (A.pow(2) * d.unsqueeze(-2)).sum((-2, -1))
        return tr
    Lq = q._unbroadcasted_scale_tril
    n = Lq.shape[-1]
    batch = _e.broadcast_shapes(tuple(Lq.shape[:-2]), tuple(F.shape[:-2]))
    tr = _frob2(_e.linalg.solve_triangular(Lq.expand(tuple(batch) + (n, n)),
                                           F.expand(tuple(batch) + tuple(F.shape[-2:])),
                                           upper=False))
    if d is not None:
        eye = _e.eye(n, dtype=d.dtype, device=d.device)
        tr = tr + _frob2(_e.linalg.solve_triangular(
            Lq.expand(tuple(batch) + (n, n)), eye * d.sqrt().unsqueeze(-2), upper=False))
    return tr


def _mahalanobis_q(q, x):
    if isinstance(q, LowRankMultivariateNormal):
        return _lowrank_mahalanobis(q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag, x,
                                    q._capacitance_tril)
    return _batch_mahalanobis(q._unbroadcasted_scale_tril, x)


def _kl_gaussians(p, q, what):
    if p.event_shape != q.event_shape:
        raise ValueError(f"KL-divergence between two {what} with                          "
                         f"different event shapes cannot be computed")
    F, d, logdet_p = _gauss_parts(p)
    _, _, logdet_q = _gauss_parts(q)
    n = p.event_shape[0]
    kl = 0.5 * (_trace_q_inv(q, F, d) + _mahalanobis_q(q, q.loc - p.loc) - n
                + logdet_q - logdet_p)
    batch = _e.broadcast_shapes(tuple(p.batch_shape), tuple(q.batch_shape))
    return kl.expand(batch)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_multivariatenormal_multivariatenormal(p, q):
    return _kl_gaussians(p, q, "Multivariate Normals")


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrankmultivariatenormal_lowrankmultivariatenormal(p, q):
    return _kl_gaussians(p, q, "Low Rank Multivariate Normals")


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrankmultivariatenormal_multivariatenormal(p, q):
    return _kl_gaussians(p, q, "(Low Rank) Multivariate Normals")


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_multivariatenormal_lowrankmultivariatenormal(p, q):
    return _kl_gaussians(p, q, "(Low Rank) Multivariate Normals")


# ---- cross-family pairs ----------------------------------------------------------------------

@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p, q):
    return -p.entropy() - (p.probs * q.rate.log() - q.rate)


@register_kl(Beta, Exponential)
def _kl_beta_exponential(p, q):
    mean = p.concentration1 / (p.concentration1 + p.concentration0)
    return -p.entropy() - q.rate.log() + q.rate * mean


@register_kl(Beta, Gamma)
def _kl_beta_gamma(p, q):
    a, b = p.concentration1, p.concentration0
    e_log_x = a.digamma() - (a + b).digamma()
    t2 = q.concentration.lgamma() - q.concentration * q.rate.log()
    return -p.entropy() + t2 - (q.concentration - 1) * e_log_x + q.rate * a / (a + b)


@register_kl(Beta, Normal)
def _kl_beta_normal(p, q):
    a, b = p.concentration1, p.concentration0
    mean = a / (a + b)
    var_normal = q.scale.pow(2)
    e_x2 = mean * (1 - mean) / (a + b + 1) + mean.pow(2)
    t2 = 0.5 * (var_normal * 2 * math.pi).log()
    return -p.entropy() + t2 + (0.5 * e_x2 - q.loc * mean + 0.5 * q.loc.pow(2)) / var_normal


@register_kl(Beta, Uniform)
def _kl_beta_uniform(p, q):
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where((q.low > p.support.lower_bound) | (q.high < p.support.upper_bound), result)


@register_kl(Exponential, Gamma)
def _kl_exponential_gamma(p, q):
    ratio = q.rate / p.rate
    a = q.concentration
    return -a * ratio.log() + ratio + a.lgamma() + a * _EULER - (1 + _EULER)


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p, q):
    srp = p.rate * q.scale
    lsr = q.loc / q.scale
    return srp.log() - 1 - lsr + _e.exp(lsr) * srp / (srp + 1) + srp.reciprocal()


@register_kl(Exponential, Normal)
def _kl_exponential_normal(p, q):
    var_normal = q.scale.pow(2)
    rate_sqr = p.rate.pow(2)
    t1 = 0.5 * (rate_sqr * var_normal * 2 * math.pi).log()
    return t1 - 1 + (rate_sqr.reciprocal() - q.loc / p.rate + 0.5 * q.loc.pow(2)) / var_normal


@register_kl(Gamma, Exponential)
def _kl_gamma_exponential(p, q):
    return -p.entropy() - q.rate.log() + q.rate * (p.concentration / p.rate)


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p, q):
    a = p.concentration
    bsp = p.rate * q.scale
    lsr = q.loc / q.scale
    t1 = (a - 1) * a.digamma() - a.lgamma() - a
    t2 = bsp.log() + a / bsp
    t3 = _e.exp(lsr) * (1 + bsp.reciprocal()).pow(-a) - lsr
    return t1 + t2 + t3


@register_kl(Gamma, Normal)
def _kl_gamma_normal(p, q):
    a = p.concentration
    var_normal = q.scale.pow(2)
    beta_sqr = p.rate.pow(2)
    t1 = 0.5 * (beta_sqr * var_normal * 2 * math.pi).log() - a - a.lgamma()
    t2 = 0.5 * (a.pow(2) + a) / beta_sqr
    t3 = q.loc * a / p.rate
    return t1 + (a - 1) * a.digamma() + (t2 - t3 + 0.5 * q.loc.pow(2)) / var_normal


@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p, q):
    ratio = p.scale / q.scale
    t1 = (ratio / math.sqrt(2 * math.pi)).log()
    t2 = (math.pi * ratio * 0.5).pow(2) / 3
    t3 = ((p.loc + p.scale * _EULER - q.loc) / q.scale).pow(2) * 0.5
    return -t1 + t2 + t3 - (_EULER + 1)


@register_kl(Laplace, Normal)
def _kl_laplace_normal(p, q):
    var_normal = q.scale.pow(2)
    ratio = p.scale.pow(2) / var_normal
    t1 = 0.5 * (2 * ratio / math.pi).log()
    t2 = 0.5 * p.loc.pow(2) - p.loc * q.loc + 0.5 * q.loc.pow(2)
    return -t1 + ratio + t2 / var_normal - 1


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p, q):
    mean_scale_ratio = p.loc / q.scale
    var_scale_sqr_ratio = (p.scale / q.scale).pow(2)
    loc_scale_ratio = q.loc / q.scale
    t1 = var_scale_sqr_ratio.log() * 0.5
    t2 = mean_scale_ratio - loc_scale_ratio
    t3 = _e.exp(-mean_scale_ratio + 0.5 * var_scale_sqr_ratio + loc_scale_ratio)
    return -t1 + t2 + t3 - (0.5 * (1 + math.log(2 * math.pi)))


@register_kl(Normal, Laplace)
def _kl_normal_laplace(p, q):
    loc_diff = p.loc - q.loc
    scale_ratio = p.scale / q.scale
    z = loc_diff / p.scale
    # E_p|x - q.loc| of a normal: the folded-normal mean
    e_abs = (math.sqrt(2 / math.pi) * p.scale * _e.exp(-0.5 * z.pow(2))
             + loc_diff * _e.erf(math.sqrt(0.5) * z))
    return -scale_ratio.log() + e_abs / q.scale - 0.5 * (1 + math.log(0.5 * math.pi))


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p, q):
    srp = p.scale * q.rate
    result = ((p.alpha / srp).log() - p.alpha.reciprocal() + p.alpha * srp / (p.alpha - 1) - 1)
    return _inf_where(p.alpha <= 1, result)


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p, q):
    common = p.scale.log() + p.alpha.reciprocal()        # E_p[log x]
    t1 = p.alpha.log() - common
    t2 = q.concentration.lgamma() - q.concentration * q.rate.log()
    t3 = (1 - q.concentration) * common
    t4 = q.rate * p.alpha * p.scale / (p.alpha - 1)
    return _inf_where(p.alpha <= 1, t1 + t2 + t3 + t4 - 1)


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p, q):
    var_normal = 2 * q.scale.pow(2)
    common = p.scale / (p.alpha - 1)
    t1 = (math.sqrt(2 * math.pi) * q.scale * p.alpha / p.scale).log()
    t2 = p.alpha.reciprocal()
    t3 = p.alpha * common.pow(2) / (p.alpha - 2)
    t4 = (p.alpha * common - q.loc).pow(2)
    return _inf_where(p.alpha <= 2, t1 - t2 + (t3 + t4) / var_normal - 1)


@register_kl(Uniform, Beta)
def _kl_uniform_beta(p, q):
    width = p.high - p.low
    a, b = q.concentration1, q.concentration0
    t1 = width.log()
    t2 = (a - 1) * (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    t3 = (b - 1) * (_x_log_x(1 - p.high) - _x_log_x(1 - p.low) + width) / width
    t4 = a.lgamma() + b.lgamma() - (a + b).lgamma()
    result = t3 + t4 - t1 - t2
    return _inf_where((p.high > q.support.upper_bound) | (p.low < q.support.lower_bound), result)


@register_kl(Uniform, Exponential)
def _kl_uniform_exponetial(p, q):
    result = q.rate * (p.high + p.low) / 2 - ((p.high - p.low) * q.rate).log()
    return _inf_where(p.low < q.support.lower_bound, result)


@register_kl(Uniform, Gamma)
def _kl_uniform_gamma(p, q):
    width = p.high - p.low
    a = q.concentration
    t1 = width.log()
    t2 = a.lgamma() - a * q.rate.log()
    t3 = (1 - a) * (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    t4 = q.rate * (p.high + p.low) / 2
    return _inf_where(p.low < q.support.lower_bound, -t1 + t2 + t3 + t4)


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p, q):
    common = q.scale / (p.high - p.low)
    hi = (p.high - q.loc) / q.scale
    lo = (p.low - q.loc) / q.scale
    t1 = common.log() + 0.5 * (hi + lo)
    t2 = common * (_e.exp(-hi) - _e.exp(-lo))
    return t1 - t2


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p, q):
    width = p.high - p.low
    t1 = (math.sqrt(math.pi * 2) * q.scale / width).log()
    t2 = width.pow(2) / 12
    t3 = ((p.high + p.low - 2 * q.loc) / 2).pow(2)
    return t1 + 0.5 * (t2 + t3) / q.scale.pow(2)


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p, q):
    width = p.high - p.low
    t1 = (q.alpha * q.scale.pow(q.alpha) * width).log()
    t2 = (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    result = t2 * (q.alpha + 1) - t1
    return _inf_where(p.low < q.support.lower_bound, result)


# ---- the continuous Bernoulli: E_p[log q] = E_p[x] logits_q + log(1 - probs_q) + log C_q ----

def _cb_cross_entropy_terms(q, mean_p):
    """E_p[log q(x)] for a ContinuousBernoulli q, given p's mean."""
    return mean_p * q.logits + _e.log1p(-q.probs) + q._cont_bern_log_norm()


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_continuous_bernoulli_continuous_bernoulli(p, q):
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + _e.log1p(-p.probs)
    t3 = -q._cont_bern_log_norm() - _e.log1p(-q.probs)
    return t1 + t2 + t3


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_continuous_bernoulli(p, q):
    return -p.entropy() - _cb_cross_entropy_terms(q, p.mean)


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_continuous_bernoulli(p, q):
    result = -p.entropy() - _cb_cross_entropy_terms(q, p.mean)
    return _inf_where((p.high > q.support.upper_bound) | (p.low < q.support.lower_bound), result)


@register_kl(ContinuousBernoulli, Exponential)
def _kl_continuous_bernoulli_exponential(p, q):
    return -p.entropy() - _e.log(q.rate) + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_continuous_bernoulli_normal(p, q):
    t1 = -p.entropy()
    t2 = 0.5 * (math.log(2.0 * math.pi) + (q.loc / q.scale).pow(2)) + _e.log(q.scale)
    t3 = (p.variance + p.mean.pow(2) - 2.0 * q.loc * p.mean) / (2.0 * q.scale.pow(2))
    return t1 + t2 + t3


@register_kl(ContinuousBernoulli, Uniform)
def _kl_continuous_bernoulli_uniform(p, q):
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where((q.low > p.support.lower_bound) | (q.high < p.support.upper_bound), result)


# ---- pairs where q's support misses part of p's: infinite --------------------------------------

def _infinite(param):
    def kl(p, q):
        return _infinite_like(getattr(p, param))
    return kl


for _p, _qs, _param in [
        (Beta, (Pareto,), "concentration1"),
        (Exponential, (Beta, Pareto, Uniform, ContinuousBernoulli), "rate"),
        (Gamma, (Beta, Pareto, Uniform, ContinuousBernoulli), "concentration"),
        (Gumbel, (Beta, Exponential, Gamma, Pareto, Uniform, ContinuousBernoulli), "loc"),
        (Laplace, (Beta, Exponential, Gamma, Pareto, Uniform, ContinuousBernoulli), "loc"),
        (Normal, (Beta, Exponential, Gamma, Pareto, Uniform, ContinuousBernoulli), "loc"),
        (Pareto, (Beta, Uniform, ContinuousBernoulli), "scale"),
        (ContinuousBernoulli, (Pareto,), "probs"),
        (Poisson, (Bernoulli, Binomial), "rate")]:
    _fn = _infinite(_param)
    _fn.__name__ = f"_kl_{_p.__name__.lower()}_infinity"
    for _q in _qs:
        register_kl(_p, _q)(_fn)
del _p, _qs, _param, _fn, _q
