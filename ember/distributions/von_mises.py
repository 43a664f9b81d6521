"""VonMises(loc, concentration): the circular normal on [-pi, pi),
density exp(k cos(x - loc)) / (2 pi I0(k)).

Samples come from Best and Fisher's (1979) rejection sampler, drawn in
float64 and cast, with the proposal's parameter from a series for small
concentrations (where the closed form cancels)."""
import math

import ember as _e
from ember import Size
from ember.ops.special import i0e, i1e
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["VonMises"]


def _log_i0(k):
    """log I0(k) = log(i0e(k)) + |k| (finite for large k)."""
    return _e.log(i0e(k)) + k.abs()


class VonMises(Distribution):
    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(VonMises, batch_shape, _instance, ("loc", "concentration"))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        k = self.concentration
        return k * _e.cos(value - self.loc) - math.log(2 * math.pi) - _log_i0(k)

    @property
    def mean(self):
        """The circular mean."""
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        """The circular variance 1 - E[cos(x - loc)] = 1 - I1(k) / I0(k)."""
        k = self.concentration
        return 1 - i1e(k) / i0e(k)

    def sample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        with _e.no_grad():
            k = self.concentration.double().expand(shape)
            # the wrapped-Cauchy proposal's parameter r = 1/rho + rho ... written as
            # r = (1 + rho^2) / (2 rho); the closed form of rho cancels for small k
            tau = 1 + (1 + 4 * k ** 2).sqrt()
            rho = (tau - (2 * tau).sqrt()) / (2 * k)
            rho_small = k / 2 - k ** 3 / 16          # its series, below k = 1e-5
            rho = _e.where(k < 1e-5, rho_small, rho)
            r = (1 + rho ** 2) / (2 * rho)
            x = _e.full(shape, float("nan"), dtype=_e.float64, device=k.device)
            todo = _e.ones(shape, dtype=_e.bool, device=k.device)
            while bool(todo.any()):
                u1, u2, u3 = (_e.rand(shape, dtype=_e.float64, device=k.device) for _ in range(3))
                z = _e.cos(math.pi * u1)
                f = (1 + r * z) / (r + z)
                c = k * (r - f)
                accept = ((c * (2 - c) - u2) > 0) | ((c / u2).log() + 1 - c >= 0)
                theta = (u3 - 0.5).sign() * f.clamp(-1, 1).acos()
                take = todo & accept
                x = _e.where(take, theta, x)
                todo = todo & ~accept
            x = (x + math.pi + self.loc.double()) % (2 * math.pi) - math.pi
            return x.to(self.loc.dtype)
