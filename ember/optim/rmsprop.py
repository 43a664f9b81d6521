"""RMSprop, as torch.optim.RMSprop."""
from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _lerp_, _ema_sq_, _new_state, _incr,
                        _check_impl_flags, _check_hparams)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: ``v = alpha * v + (1 - alpha) * g^2``; the step divides ``g`` by
    ``sqrt(v) + eps`` (``centered``: ``sqrt(v - mean(g)^2) + eps``), through a
    momentum buffer when ``momentum > 0``.
    State: ``'step'``, ``'square_avg'`` (and ``'momentum_buffer'``, ``'grad_avg'``).
    """

    _group_setdefaults = {"momentum": 0, "centered": False, "foreach": None, "maximize": False,
                          "differentiable": False, "capturable": False}
    _state_buffers = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_hparams(lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def _init_state(self, st, d, group):
        super()._init_state(st, d, group)
        if group["momentum"] > 0:
            st["momentum_buffer"] = _new_state(d)
        if group["centered"]:
            st["grad_avg"] = _new_state(d)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            alpha = group["alpha"]
            eps = group["eps"]
            momentum = group["momentum"]
            centered = group["centered"]
            for d, g, st in self._params_with_grad(group):
                _incr(st["step"])
                v = st["square_avg"]._data
                xp = namespace(d)
                avg = xp.empty_like(d)
                _ema_sq_(xp, v, g, alpha, avg)
                if centered:
                    ga = st["grad_avg"]._data
                    _lerp_(xp, ga, g, 1 - alpha, avg)
                    # square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                    xp.negative(ga, out=avg)
                    avg *= ga
                    avg += v
                    xp.sqrt(avg, out=avg)
                else:
                    xp.sqrt(v, out=avg)
                avg += eps
                if momentum > 0:
                    if "momentum_buffer" not in st:  # momentum switched on after the first step
                        st["momentum_buffer"] = _new_state(d)
                    buf = st["momentum_buffer"]._data
                    buf *= momentum
                    xp.divide(g, avg, out=avg)
                    buf += avg
                    xp.multiply(buf, -lr, out=avg)
                    d += avg
                else:
                    xp.divide(g, avg, out=avg)
                    avg *= -lr
                    d += avg
        return loss
