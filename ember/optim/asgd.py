"""ASGD (averaged stochastic gradient descent), as torch.optim.ASGD."""
from ..backends import namespace
from .optimizer import (Optimizer, _scalar, _new_step, _new_scalar, _new_state, _incr,
                        _check_impl_flags)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Averaged SGD: ``p = p * (1 - lambd * eta) - eta * g``, with the step size
    ``eta = lr / (1 + lambd * lr * t) ** alpha`` decaying over the steps t, and a
    running average ``ax`` of the iterates that starts after ``t0`` steps
    (before that, ``ax`` is the latest ``p``).
    State: ``'step'``, ``'eta'``, ``'mu'`` (float32 0-d tensors, as torch) and
    ``'ax'`` (the averaged parameter).
    """

    _group_setdefaults = {"foreach": None, "maximize": False, "differentiable": False,
                          "capturable": False}
    _scalar_state_keys = ("step", "eta", "mu")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        _check_impl_flags(differentiable, foreach)
        super().__init__(params, defaults)

    def _init_state(self, st, d, group):
        st["step"] = _new_scalar(d, 0.0)    # (ASGD keeps its counters on the device, as torch)
        st["eta"] = _new_scalar(d, _scalar(group["lr"]))
        st["mu"] = _new_scalar(d, 1.0)
        st["ax"] = _new_state(d)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            lambd, alpha, t0 = group["lambd"], group["alpha"], group["t0"]
            for d, g, st in self._params_with_grad(group):
                step = _incr(st["step"])
                xp = namespace(d)
                # eta and mu are float32 in the state; the update uses those values
                eta = float(st["eta"]._data)
                d *= 1 - lambd * eta
                d -= xp.multiply(g, eta)
                ax = st["ax"]._data
                mu = st["mu"]._data
                if float(mu) != 1:
                    ax += (d - ax) * mu.astype(d.dtype)
                else:
                    ax[...] = d
                st["eta"]._data.fill(lr / ((1 + lambd * lr * step) ** alpha))
                st["mu"]._data.fill(1 / max(1, step - t0))
        return loss
