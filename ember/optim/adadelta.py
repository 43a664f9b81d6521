"""Adadelta, as torch.optim.Adadelta."""
from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _ema_sq_, _incr, _check_impl_flags,
                        _check_hparams)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta: ``v = rho * v + (1 - rho) * g^2``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``, ``u = rho * u + (1 - rho) * delta^2``,
    ``p -= lr * delta``.  State: ``'step'``, ``'square_avg'``, ``'acc_delta'``.
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "capturable": False}
    _state_buffers = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        _check_hparams(lr, rho=rho, eps=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            rho = group["rho"]
            eps = group["eps"]
            for d, g, st in self._params_with_grad(group):
                _incr(st["step"])
                v = st["square_avg"]._data
                u = st["acc_delta"]._data
                xp = namespace(d)
                std = xp.empty_like(d)
                _ema_sq_(xp, v, g, rho, std)
                xp.add(v, eps, out=std)
                xp.sqrt(std, out=std)
                delta = xp.add(u, eps, out=xp.empty_like(d))
                xp.sqrt(delta, out=delta)
                delta /= std
                delta *= g
                _ema_sq_(xp, u, delta, rho, std)
                delta *= -lr
                d += delta
        return loss
