"""SGD: stochastic gradient descent with optional momentum, as torch.optim.SGD."""
import numpy as np

from .._tensor import _wrap
from .optimizer import Optimizer, _scalar, _grad_in, _check_impl_flags
from ..autograd.grad_mode import enable_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum / Nesterov momentum).

    Per parameter, with ``g`` its gradient (negated if ``maximize``):
    ``g += weight_decay * p``; with momentum ``buf = momentum * buf +
    (1 - dampening) * g`` (``buf = g`` on the first step) and ``g = buf`` (or
    ``g + momentum * buf`` for Nesterov); then ``p -= lr * g``.
    State: ``'momentum_buffer'`` when momentum is non-zero.
    """

    _group_setdefaults = {"nesterov": False, "maximize": False, "foreach": None,
                          "differentiable": False, "fused": False}

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
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
            wd = group["weight_decay"]
            momentum = group["momentum"]
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                d = p._data
                g, owned = _grad_in(d, grad._data, maximize, wd)
                if momentum != 0:
                    st = state[p]
                    buf_t = st.get("momentum_buffer")
                    if buf_t is None:
                        buf = g.copy() if (not owned or nesterov) else g
                        st["momentum_buffer"] = buf_t = _wrap(buf)
                    else:
                        buf = buf_t._data
                        buf *= momentum
                        if dampening == 0:
                            buf += g
                        else:
                            buf += np.multiply(g, 1 - dampening)
                    if nesterov:
                        if owned:
                            g += np.multiply(buf, momentum)
                        else:
                            g = np.multiply(buf, momentum, out=np.empty_like(d))
                            g += grad._data
                            owned = True
                    else:
                        g, owned = buf, False
                if owned:
                    g *= -lr
                    d += g
                else:
                    d += np.multiply(g, -lr)
                p._vc[0] += 1
        return loss

