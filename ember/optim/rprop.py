"""Rprop (resilient backpropagation), as torch.optim.Rprop."""
from .._tensor_base import _wrap
from ..backends import namespace
from .optimizer import Optimizer, _scalar, _new_step, _new_state, _incr, _check_impl_flags

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Rprop: each weight has its own step size, which grows by ``etas[1]``
    while its gradient keeps its sign and shrinks by ``etas[0]`` when the sign
    flips (clamped to ``step_sizes``); the weight moves by ``-sign(g) * step``.
    After a sign flip the gradient counts as zero for that step, so the weight
    stays put and the next step size is left unchanged.
    State: ``'step'``, ``'prev'`` (the last gradient used), ``'step_size'``
    (starting at ``lr``).
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "capturable": False}

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def _init_state(self, st, d, group):
        st["step"] = _new_step(d, group)
        st["prev"] = _new_state(d)
        st["step_size"] = _wrap(namespace(d).full_like(d, _scalar(group["lr"])))

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            etaminus, etaplus = group["etas"]
            step_min, step_max = group["step_sizes"]
            for d, g, st in self._params_with_grad(group):
                _incr(st["step"])
                xp = namespace(d)
                prev = st["prev"]._data
                step_size = st["step_size"]._data
                # the factor per weight: etaplus where the sign held, etaminus
                # where it flipped, 1 where either gradient is zero
                sign = xp.sign(xp.multiply(g, prev))
                flipped = sign < 0
                factor = xp.where(sign > 0, xp.asarray(etaplus, dtype=d.dtype),
                                  xp.where(flipped, xp.asarray(etaminus, dtype=d.dtype),
                                           xp.asarray(1, dtype=d.dtype)))
                step_size *= factor
                xp.clip(step_size, step_min, step_max, out=step_size)
                g = xp.where(flipped, xp.zeros((), dtype=d.dtype), g)
                d -= xp.sign(g) * step_size
                prev[...] = g
        return loss
