"""ExponentialFamily: distributions with density
p(x; theta) = exp(<t(x), theta> - F(theta) + k(x)).

A subclass gives its natural parameters theta (``_natural_params``), the log
normaliser F (``_log_normalizer``) and the carrier measure's mean E[k(x)]
(``_mean_carrier_measure``).  Then the entropy follows from F by automatic
differentiation (H = F(theta) - <theta, dF/dtheta> - E[k(x)]), and the KL
divergence between two members of one family is F's Bregman divergence
(see kl.py).
"""
import ember as _e
from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        """The entropy, through the Bregman form of the log normaliser."""
        result = -self._mean_carrier_measure
        params = [p.detach().requires_grad_() for p in self._natural_params]
        log_norm = self._log_normalizer(*params)
        grads = _e.autograd.grad(log_norm.sum(), params, create_graph=True)
        result = result + log_norm
        for p, g in zip(params, grads):
            # a natural parameter may have event dims (Dirichlet's): sum them per batch element
            result = result - (p * g).reshape(tuple(self._batch_shape) + (-1,)).sum(-1)
        return result
