"""Multinomial(total_count, probs | logits): counts per category over
total_count Categorical draws (event shape: the number of categories)."""
import ember as _e
from ember import Size
from . import constraints
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = Size(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(total_count=self.total_count, probs=new._categorical.probs)
        super(Multinomial, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.multinomial(self.total_count)

    @property
    def _param(self):
        return self._categorical._param

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=Size()):
        sample_shape = Size(sample_shape)
        # total_count category draws per event, moved to the last dim, then counted
        draws = self._categorical.sample(Size((self.total_count,) + tuple(sample_shape)))
        order = list(range(1, draws.dim())) + [0]
        draws = draws.permute(*order)
        counts = _e.zeros(self._extended_shape(sample_shape), dtype=self.probs.dtype,
                          device=self.probs.device)
        counts.scatter_add_(-1, draws, _e.ones(draws.shape, dtype=self.probs.dtype,
                                               device=self.probs.device))
        return counts

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        # 0 * log(0) counts as 0: a category with zero probability that was never drawn
        logits = _e.where((value == 0) & (logits == float("-inf")), 0.0, logits)
        log_factorial_n = _e.lgamma(value.sum(-1) + 1)
        log_factorial_xs = _e.lgamma(value + 1).sum(-1)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)

    def entropy(self):
        n = _e.tensor(self.total_count, dtype=self.probs.dtype, device=self.probs.device)
        term1 = n * self._categorical.entropy() - _e.lgamma(n + 1)
        # sum over categories of E[log x_i!] with x_i ~ Binomial(n, p_i)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = self._binomial.log_prob(support).exp()
        weights = _e.lgamma(support + 1)
        return term1 + (binomial_probs * weights).sum(0).sum(-1)
