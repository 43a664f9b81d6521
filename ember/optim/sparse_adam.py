"""SparseAdam, as torch.optim.SparseAdam: Adam restricted to the gradient's rows.

torch's SparseAdam takes the sparse gradients that ``nn.Embedding(sparse=True)``
produces and updates only the rows they hold.  Ember has no sparse layout, so
its gradients are dense; here the rows a gradient holds are its rows with a
non-zero entry (for an embedding: the rows looked up, unless a row's
gradient cancels to exactly zero), and those rows get torch's update, so a
training run gives torch's numbers.  Unlike torch, a dense gradient is
therefore accepted rather than refused.
"""
import math

from .._tensor import Tensor
from ..backends import namespace
from .optimizer import Optimizer, _scalar, _new_state

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    """Lazy Adam for embedding-like parameters: per step only the rows with a
    non-zero gradient update their moments and weights (torch's formula:
    ``m_r += (g_r - m_r)(1 - beta1)``, ``v_r += (g_r^2 - v_r)(1 - beta2)``,
    ``p_r -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m_r / (sqrt(v_r) + eps)``).
    State: ``'step'`` (a Python int, as torch), ``'exp_avg'``, ``'exp_avg_sq'``.
    """

    _scalar_state_keys = ()
    _group_setdefaults = {"maximize": False}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        complex_params = [[i, j] for i, group in enumerate(self.param_groups)
                          for j, p in enumerate(group["params"]) if p.is_complex()]
        if complex_params:
            raise ValueError(f"Complex params at indices {complex_params}: SparseAdam does not "
                             "support complex parameters")

    def _init_state(self, st, d, group):
        st["step"] = 0
        st["exp_avg"] = _new_state(d)
        st["exp_avg_sq"] = _new_state(d)

    def step(self, closure=None):
        """Update the gradients' non-zero rows; returns ``closure()``'s loss."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _scalar(group["lr"])
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            for d, g, st in self._params_with_grad(group):
                st["step"] += 1
                xp = namespace(d)
                # the rows a sparse gradient would hold (elements, for a 1-D parameter)
                nz = g != 0
                rows = nz.reshape(nz.shape[0], -1).any(axis=1) if g.ndim > 1 else nz
                if g.ndim == 0:
                    rows = nz.reshape(1)
                    d, g = d.reshape(1), g.reshape(1)
                    m, v = st["exp_avg"]._data.reshape(1), st["exp_avg_sq"]._data.reshape(1)
                else:
                    m, v = st["exp_avg"]._data, st["exp_avg_sq"]._data
                if not rows.any():
                    continue
                g_r = g[rows]
                old_m, old_v = m[rows], v[rows]
                m_upd = (g_r - old_m) * (1 - beta1)
                v_upd = (g_r * g_r - old_v) * (1 - beta2)
                m[rows] = old_m + m_upd
                v[rows] = old_v + v_upd
                numer = m_upd + old_m
                denom = xp.sqrt(v_upd + old_v) + eps
                t = st["step"]
                step_size = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
                d[rows] += -step_size * (numer / denom)
        return loss
