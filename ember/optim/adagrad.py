"""Adagrad, as torch.optim.Adagrad."""
from .._tensor_base import _wrap
from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _new_step, _incr, _check_impl_flags,
                        _check_hparams)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: ``sum += g^2``; ``p -= clr * g / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (t - 1) * lr_decay)``.
    State (created for every parameter at construction, as torch does):
    ``'step'`` and ``'sum'`` (starting at ``initial_accumulator_value``).
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "fused": None}

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_hparams(lr, lr_decay=lr_decay, weight_decay=weight_decay,
                       initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        _check_impl_flags(differentiable, foreach, fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p._data, group)

    def _init_state(self, st, d, group):
        st["step"] = _new_step(d, group)
        # torch takes the accumulator's start from the defaults, not the group.
        st["sum"] = _wrap(namespace(d).full_like(d, self.defaults["initial_accumulator_value"]))

    def share_memory(self):
        """No-op: Ember tensors live in this process's memory."""

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            lr_decay = group["lr_decay"]
            eps = group["eps"]
            for d, g, st in self._params_with_grad(group):
                step = _incr(st["step"])
                clr = lr / (1 + (step - 1) * lr_decay)
                s = st["sum"]._data
                xp = namespace(d)
                tmp = xp.multiply(g, g, out=xp.empty_like(d))
                s += tmp
                xp.sqrt(s, out=tmp)
                tmp += eps
                xp.divide(g, tmp, out=tmp)
                tmp *= -clr
                d += tmp
        return loss
