"""Adadelta, as torch.optim.Adadelta."""
import numpy as np

from ..autograd.grad_mode import enable_grad
from .optimizer import (Optimizer, _scalar, _grad_in, _ema_sq_, _new_state, _new_step, _incr,
                        _check_impl_flags)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta: ``v = rho * v + (1 - rho) * g^2``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``, ``u = rho * u + (1 - rho) * delta^2``,
    ``p -= lr * delta``.  State: ``'step'``, ``'square_avg'``, ``'acc_delta'``.
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "capturable": False}

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state = self.state
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            rho = group["rho"]
            eps = group["eps"]
            wd = group["weight_decay"]
            maximize = group["maximize"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                d = p._data
                st = state[p]
                if len(st) == 0:
                    st["step"] = _new_step()
                    st["square_avg"] = _new_state(p)
                    st["acc_delta"] = _new_state(p)
                _incr(st["step"])
                g, owned = _grad_in(d, grad._data, maximize, wd)
                v = st["square_avg"]._data
                u = st["acc_delta"]._data
                std = np.empty_like(d)
                _ema_sq_(v, g, rho, std)
                np.add(v, eps, out=std)
                np.sqrt(std, out=std)
                delta = np.add(u, eps, out=np.empty_like(d))
                np.sqrt(delta, out=delta)
                delta /= std
                delta *= g
                _ema_sq_(u, delta, rho, std)
                delta *= -lr
                d += delta
                p._vc[0] += 1
        return loss
