"""Adam (and, with decoupled weight decay, AdamW), as torch.optim.Adam."""
from .._tensor import Tensor
from ..backends import kernels
from .optimizer import Optimizer, _scalar, _new_state, _incr, _check_impl_flags, _check_hparams

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
    _state_buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check_hparams(lr, eps=eps, betas=betas, weight_decay=weight_decay)
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
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            beta1, beta2 = group["betas"]
            beta1, beta2 = _scalar(beta1), _scalar(beta2)
            eps = group["eps"]
            amsgrad = group["amsgrad"]
            for d, g, st in self._params_with_grad(group):
                vmax = None
                if amsgrad:
                    if "max_exp_avg_sq" not in st:  # also when amsgrad is switched on later
                        st["max_exp_avg_sq"] = _new_state(d)
                    vmax = st["max_exp_avg_sq"]._data
                kernels(d).adam_step(d, g, st["exp_avg"]._data, st["exp_avg_sq"]._data,
                                     _incr(st["step"]), lr, beta1, beta2, eps, vmax)
        return loss
