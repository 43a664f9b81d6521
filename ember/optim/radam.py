"""RAdam (rectified Adam), as torch.optim.RAdam."""
from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _adam_moments_, _check_impl_flags,
                        _check_hparams)

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam: Adam whose adaptive term is switched on (and rectified) once the
    variance estimate is tractable (``rho_t > 5``); before that the step is
    ``lr * m / (1 - beta1^t)``.

    ``decoupled_weight_decay=True`` scales ``p *= 1 - lr * wd`` instead of
    adding ``wd * p`` to the gradient.  State: ``'step'``, ``'exp_avg'``,
    ``'exp_avg_sq'``.
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "decoupled_weight_decay": False, "capturable": False}
    _state_buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check_hparams(lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            rho_inf = 2 / (1 - beta2) - 1
            for d, g, st in self._params_with_grad(group):
                xp = namespace(d)
                tmp = xp.empty_like(d)
                step, m, v = _adam_moments_(xp, st, g, beta1, beta2, tmp)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                # (m / bc1) * lr [* adaptive * rect], subtracted from p
                upd = xp.divide(m, bias_correction1, out=xp.empty_like(d))
                upd *= lr
                rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                if rho_t > 5.0:
                    xp.sqrt(v, out=tmp)
                    tmp += eps
                    xp.divide(bias_correction2 ** 0.5, tmp, out=tmp)
                    upd *= tmp
                    upd *= ((rho_t - 4) * (rho_t - 2) * rho_inf
                            / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                d -= upd
        return loss
