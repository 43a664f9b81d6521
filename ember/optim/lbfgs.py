"""L-BFGS, as torch.optim.LBFGS (with its optional strong-Wolfe line search).

All parameters are treated as one flat vector ``x``; the gradient likewise.
Each ``step(closure)`` runs up to ``max_iter`` quasi-Newton iterations, each
evaluating ``closure`` (the loss, after it has filled the gradients) once,
or several times under the line search.

The arithmetic follows torch's step for step so that the iterates agree:
where torch keeps a scalar as a 0-d tensor of the parameters' dtype (dot
products, ``ys``, ``ro``, ``H_diag``, the first step length) we keep a 0-d
array / array scalar of that dtype, and where torch uses a Python float (the
loss, the line search's bounds) so do we.  In float32 this matters: both
frameworks then round the same quantities to float32.
"""
from .._tensor import Tensor
from .._tensor_base import _wrap
from ..backends import namespace
from .optimizer import Optimizer

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes
    g1, g2, clamped to ``bounds`` (default: the interval [x1, x2]); the
    middle of the bounds when the cubic has no minimum."""
    if bounds is None:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    else:
        lo, hi = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = d2_square ** 0.5
        if x1 <= x2:
            at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(at, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Find a step ``t`` along direction ``d`` satisfying the strong Wolfe
    conditions (sufficient decrease ``c1``, curvature ``c2``), starting from
    loss ``f``, flat gradient ``g`` and slope ``gtd`` at t = 0.

    ``evaluate(t)`` returns (loss, flat gradient) at x + t * d (and restores
    x).  First brackets an acceptable step (growing t by cubic extrapolation),
    then narrows the bracket by cubic interpolation ("zoom").  Returns
    ``(loss, gradient, t, evaluations)`` at the chosen step.
    """
    xp = namespace(d)
    d_norm = xp.abs(d).max()
    g = g.copy()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = xp.dot(g_new, d)

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    # bracketing phase
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate, at least 1% beyond t and at most 10 t
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                    bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:   # out of evaluations: bracket between 0 and the last t
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom phase: shrink the bracket until the conditions hold
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # Keep t at least 10% of the bracket away from its ends; if the last
        # step already made too little progress (or t fell outside), move it.
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            if insuf_progress or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            # not enough decrease: t becomes the high end
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # the minimum lies between low and t: the old low becomes high
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def _arr(v):
    """A state value as the step computes with it: the array of a tensor."""
    return v._data if isinstance(v, Tensor) else v


def _tensor(v, xp):
    """A state value as ``state_dict()`` shows it (torch keeps tensors there)."""
    return _wrap(xp.asarray(v)) if _is_array(v) else v


def _is_array(v):
    return hasattr(v, "dtype") and hasattr(v, "shape") and not isinstance(v, Tensor)


class LBFGS(Optimizer):
    """L-BFGS over all parameters as one vector (a single parameter group).

    Args:
        params: the parameters to optimise.
        lr: step length (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the gradient's largest entry is at most this.
        tolerance_change: stop when the step or the loss change is below this.
        history_size: number of (s, y) pairs kept for the inverse-Hessian estimate.
        line_search_fn: None (fixed step ``lr``) or ``'strong_wolfe'``.

    ``step(closure)`` requires a closure that clears the gradients, computes
    the loss, calls ``backward()`` and returns the loss; it returns the first
    loss of the step.  State (kept on the first parameter): ``func_evals``,
    ``n_iter``, the last direction ``d`` and step ``t``, the history
    ``old_dirs``/``old_stps``/``ro``, ``H_diag``, ``prev_flat_grad``,
    ``prev_loss`` and the scratch list ``al``.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        if any(p._data.dtype.kind == "c" for p in self._params):
            raise NotImplementedError("LBFGS: complex parameters are not supported by Ember's "
                                      "optimizer (SGD takes them)")

    # ---- the parameters as one flat vector -------------------------------------------
    def _flat_grad(self):
        """Every parameter's gradient, concatenated (zeros where there is none)."""
        xp = namespace(self._params[0]._data)
        parts = []
        for p in self._params:
            g = p.grad
            if g is None:
                parts.append(xp.zeros(p._data.size, dtype=p._data.dtype))
            else:
                parts.append(g._data.reshape(-1))
        return xp.concatenate(parts)

    def _add_to_params(self, t, direction):
        """x += t * direction, in place (torch's ``p.add_(d, alpha=t)``)."""
        xp = namespace(direction)
        offset = 0
        for p in self._params:
            d = p._data
            n = d.size
            # multiply in the parameters' dtype first, as torch's alpha does
            d += xp.multiply(direction[offset:offset + n].reshape(d.shape),
                             xp.asarray(t, dtype=d.dtype))
            p._vc[0] += 1
            offset += n

    def _evaluate_at(self, closure, x, t, direction):
        """(loss, flat gradient) at x + t * direction; the parameters are reset to x."""
        self._add_to_params(t, direction)
        loss = float(closure())
        flat_grad = self._flat_grad()
        for p, saved in zip(self._params, x):
            p._data[...] = saved
            p._vc[0] += 1
        return loss, flat_grad

    # ---- the step ----------------------------------------------------------------------
    def step(self, closure):
        """Run up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        group = self.param_groups[0]
        lr = group["lr"]
        lr = lr.item() if isinstance(lr, Tensor) else lr   # (an int lr stays an int, as torch)
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        def evaluate():
            return self._eval_closure(closure)

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = evaluate()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._flat_grad()
        xp = namespace(flat_grad)
        if xp.abs(flat_grad).max() <= tolerance_grad:   # already optimal
            return orig_loss

        d = _arr(state.get("d"))
        t = _arr(state.get("t"))
        old_dirs = [_arr(v) for v in state.get("old_dirs") or []]
        old_stps = [_arr(v) for v in state.get("old_stps") or []]
        ro = [_arr(v) for v in state.get("ro") or []]
        H_diag = _arr(state.get("H_diag"))
        prev_flat_grad = _arr(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        if "al" in state:
            state["al"] = [_arr(v) for v in state["al"]]

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the search direction d = -H g
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = xp.dot(y, s)
                if ys > 1e-10:   # keep the pair only when the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / xp.dot(y, y)
                # two-loop recursion over the history
                num_old = len(old_dirs)
                # torch keeps this scratch list (history_size long) in the state
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = xp.dot(old_stps[i], q) * ro[i]
                    q -= old_dirs[i] * al[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = xp.dot(old_dirs[i], r) * ro[i]
                    r += old_stps[i] * (al[i] - be_i)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = xp.dot(flat_grad, d)
            if gtd > -tolerance_change:   # not a descent direction
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = [p._data.copy() for p in self._params]

                def along(step_len, x_init=x_init, d=d):
                    return self._evaluate_at(evaluate, x_init, step_len, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    along, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate, unless this was the last iteration
                    loss = float(evaluate())
                    flat_grad = self._flat_grad()
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # stopping conditions
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if xp.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = _tensor(d, xp)
        state["t"] = _tensor(t, xp)
        state["old_dirs"] = [_tensor(v, xp) for v in old_dirs]
        state["old_stps"] = [_tensor(v, xp) for v in old_stps]
        state["ro"] = [_tensor(v, xp) for v in ro]
        state["H_diag"] = _tensor(H_diag, xp)
        state["prev_flat_grad"] = _tensor(prev_flat_grad, xp)
        state["prev_loss"] = prev_loss
        if "al" in state:
            state["al"] = [_tensor(v, xp) for v in state["al"]]
        return orig_loss
