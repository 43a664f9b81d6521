"""Adamax (Adam with the infinity norm), as torch.optim.Adamax."""
import numpy as np

from ..autograd.grad_mode import enable_grad
from .optimizer import (Optimizer, _scalar, _grad_in, _lerp_, _new_state, _new_step, _incr,
                        _check_impl_flags, _check_common, _check_betas)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax: ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``,
    ``p -= lr / (1 - beta1^t) * m / u``.
    State: ``'step'``, ``'exp_avg'``, ``'exp_inf'``.
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "capturable": False}

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check_common(lr, eps)
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
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
            beta1, beta2 = group["betas"]
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
                    st["exp_avg"] = _new_state(p)
                    st["exp_inf"] = _new_state(p)
                step = _incr(st["step"])
                g, owned = _grad_in(d, grad._data, maximize, wd)
                m = st["exp_avg"]._data
                u = st["exp_inf"]._data
                tmp = np.empty_like(d)
                _lerp_(m, g, 1 - beta1, tmp)
                u *= beta2
                np.abs(g, out=tmp)
                tmp += eps
                np.maximum(u, tmp, out=u)
                clr = lr / (1 - beta1 ** step)
                np.divide(m, u, out=tmp)
                tmp *= -clr
                d += tmp
                p._vc[0] += 1
        return loss
