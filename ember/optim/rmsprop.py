"""RMSprop, as torch.optim.RMSprop."""
import numpy as np

from ..autograd.grad_mode import enable_grad
from .optimizer import (Optimizer, _scalar, _grad_in, _lerp_, _ema_sq_, _new_state, _new_step,
                        _incr, _check_impl_flags, _check_common)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: ``v = alpha * v + (1 - alpha) * g^2``; the step divides ``g`` by
    ``sqrt(v) + eps`` (``centered``: ``sqrt(v - mean(g)^2) + eps``), through a
    momentum buffer when ``momentum > 0``.
    State: ``'step'``, ``'square_avg'`` (and ``'momentum_buffer'``, ``'grad_avg'``).
    """

    _group_setdefaults = {"momentum": 0, "centered": False, "foreach": None, "maximize": False,
                          "differentiable": False, "capturable": False}

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_common(lr, eps)
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
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
            alpha = group["alpha"]
            eps = group["eps"]
            wd = group["weight_decay"]
            momentum = group["momentum"]
            centered = group["centered"]
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
                    if momentum > 0:
                        st["momentum_buffer"] = _new_state(p)
                    if centered:
                        st["grad_avg"] = _new_state(p)
                _incr(st["step"])
                g, owned = _grad_in(d, grad._data, maximize, wd)
                v = st["square_avg"]._data
                avg = np.empty_like(d)
                _ema_sq_(v, g, alpha, avg)
                if centered:
                    ga = st["grad_avg"]._data
                    _lerp_(ga, g, 1 - alpha, avg)
                    # square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                    np.negative(ga, out=avg)
                    avg *= ga
                    avg += v
                    np.sqrt(avg, out=avg)
                else:
                    np.sqrt(v, out=avg)
                avg += eps
                if momentum > 0:
                    if "momentum_buffer" not in st:
                        st["momentum_buffer"] = _new_state(p)
                    buf = st["momentum_buffer"]._data
                    buf *= momentum
                    np.divide(g, avg, out=avg)
                    buf += avg
                    np.multiply(buf, -lr, out=avg)
                    d += avg
                else:
                    np.divide(g, avg, out=avg)
                    avg *= -lr
                    d += avg
                p._vc[0] += 1
        return loss
