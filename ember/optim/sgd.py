"""SGD: stochastic gradient descent with optional momentum, as torch.optim.SGD."""
from ..backends import namespace, kernels
from .._tensor_base import _wrap
from .optimizer import Optimizer, _scalar, _check_impl_flags, _check_hparams

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
        _check_hparams(lr, nan_ok=True, momentum=momentum, weight_decay=weight_decay)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_impl_flags(differentiable, foreach, fused)
        super().__init__(params, defaults)

    _complex_ok = True     # (the update is linear in the gradient: right for complex too)

    def _init_state(self, st, d, group):
        """Nothing up front: the momentum buffer starts as the first gradient."""

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            neg_lr = -_scalar(group["lr"])
            momentum = group["momentum"]
            has_momentum = momentum != 0
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            # With maximize or weight decay the loop's g is a temporary we may overwrite.
            fresh = group["maximize"] or group["weight_decay"] != 0
            # Without momentum SGD keeps no state (not even an empty entry), as torch.
            if has_momentum and dampening == 0 and not (nesterov or fresh):
                self._momentum_steps(group["params"], momentum, neg_lr)
                continue
            for d, g, st in self._params_with_grad(group, stateful=has_momentum):
                owned = fresh
                if has_momentum:
                    xp = namespace(d)
                    buf_t = st.get("momentum_buffer")
                    if buf_t is None:
                        buf = g if (owned and not nesterov) else g.copy()
                        st["momentum_buffer"] = _wrap(buf)
                    else:
                        buf = buf_t._data
                        buf *= momentum
                        if dampening == 0:
                            buf += g
                        else:
                            buf += xp.multiply(g, 1 - dampening)
                    if nesterov:
                        if owned:
                            g += xp.multiply(buf, momentum)
                        else:
                            nesterov_g = xp.multiply(buf, momentum, out=xp.empty_like(d))
                            nesterov_g += g
                            g, owned = nesterov_g, True
                    else:
                        g, owned = buf, False
                if owned:
                    g *= neg_lr
                    d += g
                else:    # (g is a buffer we keep, or the gradient itself)
                    kernels(d).sgd_step(d, g, neg_lr)
        return loss

    def _momentum_steps(self, params, momentum, neg_lr):
        """The loop of ``step`` for the usual case (momentum without dampening;
        no Nesterov, weight decay or maximize): ``_params_with_grad`` written
        out, and each update one backend kernel over the parameter, its
        gradient and its buffer (``buf = momentum * buf + g; p -= lr * buf``),
        rounding as the general loop's three NumPy passes do."""
        state = self.state
        for p in params:
            grad = p._grad      # (the .grad property's field: no call per parameter)
            if grad is None:
                continue
            d = p._data
            g = grad._data
            st = state[p]
            buf_t = st.get("momentum_buffer")
            if buf_t is None:   # (the first step: the buffer starts as the gradient)
                buf = g.copy()
                st["momentum_buffer"] = _wrap(buf)
                kernels(d).sgd_step(d, buf, neg_lr)
            else:
                kernels(d).sgd_momentum_step(d, g, buf_t._data, momentum, neg_lr)
            p._vc[0] += 1
