"""Adamax (Adam with the infinity norm), as torch.optim.Adamax."""
from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _lerp_, _incr, _check_impl_flags,
                        _check_hparams)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax: ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``,
    ``p -= lr / (1 - beta1^t) * m / u``.
    State: ``'step'``, ``'exp_avg'``, ``'exp_inf'``.
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "capturable": False}
    _state_buffers = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check_hparams(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            for d, g, st in self._params_with_grad(group):
                step = _incr(st["step"])
                m = st["exp_avg"]._data
                u = st["exp_inf"]._data
                xp = namespace(d)
                tmp = xp.empty_like(d)
                _lerp_(xp, m, g, 1 - beta1, tmp)
                u *= beta2
                xp.abs(g, out=tmp)
                tmp += eps
                xp.maximum(u, tmp, out=u)
                clr = lr / (1 - beta1 ** step)
                xp.divide(m, u, out=tmp)
                tmp *= -clr
                d += tmp
        return loss
