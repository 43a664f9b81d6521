"""NAdam (Adam with Nesterov momentum), as torch.optim.NAdam."""
import numpy as np

from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _adam_moments_, _new_state, _new_scalar,
                        _new_step, _check_impl_flags, _check_hparams)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam with torch's momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))``.

    ``decoupled_weight_decay=True`` scales ``p *= 1 - lr * wd`` (NAdamW)
    instead of adding ``wd * p`` to the gradient.  State: ``'step'``,
    ``'mu_product'`` (both float32 0-d tensors, as torch), ``'exp_avg'``,
    ``'exp_avg_sq'``.
    """

    _group_setdefaults = {"maximize": False, "foreach": None, "capturable": False,
                          "differentiable": False, "decoupled_weight_decay": False}
    _scalar_state_keys = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        _check_hparams(lr, eps=eps, betas=betas, weight_decay=weight_decay,
                       momentum_decay=momentum_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def _init_state(self, st, d, group):
        st["step"] = _new_step(d, group)
        st["mu_product"] = _new_step(d, group, 1.0)
        st["exp_avg"] = _new_state(d)
        st["exp_avg_sq"] = _new_state(d)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            momentum_decay = group["momentum_decay"]
            for d, g, st in self._params_with_grad(group):
                xp = namespace(d)
                denom = xp.empty_like(d)
                step, m, v = _adam_moments_(xp, st, g, beta1, beta2, denom)
                bias_correction2 = 1 - beta2 ** step
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                # The product is kept in float32, like torch's state tensor.
                mp = st["mu_product"]._data
                # float32 x float32 is exact in float64, so fill() rounds once,
                # as torch's float32 ``mu_product *= mu`` does.
                mp.fill(float(mp) * (float(np.float32(mu)) if mp.dtype == np.float32 else mu))
                mu_product = float(mp)
                mu_product_next = mu_product * mu_next
                xp.divide(v, bias_correction2, out=denom)
                xp.sqrt(denom, out=denom)
                denom += eps
                tmp = xp.multiply(g, -lr * (1.0 - mu) / (1.0 - mu_product), out=xp.empty_like(d))
                tmp /= denom
                d += tmp
                xp.multiply(m, (-lr * mu_next) / (1.0 - mu_product_next), out=tmp)
                tmp /= denom
                d += tmp
        return loss
