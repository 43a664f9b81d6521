"""Adam (and, with decoupled weight decay, AdamW), as torch.optim.Adam."""
import numpy as np

from .._tensor import Tensor
from ..autograd.grad_mode import enable_grad
from .optimizer import (Optimizer, _scalar, _grad_in, _lerp_, _ema_sq_, _new_state, _new_step,
                        _incr, _check_impl_flags, _check_common, _check_betas)

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam: ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g^2``,
    ``p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.

    ``weight_decay`` adds ``wd * p`` to ``g`` (L2), or with
    ``decoupled_weight_decay=True`` scales ``p *= 1 - lr * wd`` first (AdamW).
    ``amsgrad`` uses the running maximum of ``v``.
    State: ``'step'`` (float32 0-d), ``'exp_avg'``, ``'exp_avg_sq'``
    (and ``'max_exp_avg_sq'``).
    """

    _group_setdefaults = {"amsgrad": False, "maximize": False, "foreach": None,
                          "capturable": False, "differentiable": False,
                          "decoupled_weight_decay": False, "fused": None}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check_common(lr, eps)
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        _check_impl_flags(differentiable, foreach, fused)
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
            beta1, beta2 = _scalar(beta1), _scalar(beta2)
            eps = group["eps"]
            wd = group["weight_decay"]
            decoupled = group["decoupled_weight_decay"]
            amsgrad = group["amsgrad"]
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
                    st["exp_avg_sq"] = _new_state(p)
                step = _incr(st["step"])
                if wd != 0 and decoupled:
                    d *= 1 - lr * wd
                    g, owned = _grad_in(d, grad._data, maximize, 0)
                else:
                    g, owned = _grad_in(d, grad._data, maximize, wd)
                m = st["exp_avg"]._data
                v = st["exp_avg_sq"]._data
                tmp = np.empty_like(d)
                _lerp_(m, g, 1 - beta1, tmp)
                _ema_sq_(v, g, beta2, tmp)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2 ** 0.5
                if amsgrad:
                    if "max_exp_avg_sq" not in st:
                        st["max_exp_avg_sq"] = _new_state(p)
                    vmax = st["max_exp_avg_sq"]._data
                    np.maximum(vmax, v, out=vmax)
                    np.sqrt(vmax, out=tmp)
                else:
                    np.sqrt(v, out=tmp)
                tmp /= bias_correction2_sqrt
                tmp += eps
                np.divide(m, tmp, out=tmp)
                tmp *= -step_size
                d += tmp
                p._vc[0] += 1
        return loss
