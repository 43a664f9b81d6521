"""Generic loss kernels: formulas over the array namespace (see ember.backends)."""
import numpy as np

from .._registry import backend_of
from .._table import GENERIC

# Below this spread of logits, exp(x - max(x)) stays a normal float for every
# entry, so one shift by the global max is as exact as a per-row one.
_SAFE_SPREAD = {np.dtype(np.float32): 60.0, np.dtype(np.float64): 600.0}


@GENERIC.register
def log_softmax_rows(x2, with_probs):
    """Row-wise log-softmax of the float (M, C) ``x2`` and, with
    ``with_probs``, the softmax from the same exp pass: ``(logp, p or None)``.

    (cross_entropy's own formulation, not ``softmax``'s: it shifts by the
    global max when the spread allows and needs both results from one exp.)"""
    b = backend_of(x2)
    xp = b.xp
    spread = _SAFE_SPREAD.get(x2.dtype)
    hi = x2.max() if spread is not None and x2.size else None
    if hi is not None and hi - x2.min() < spread:
        s = x2 - hi
    else:
        s = x2 - x2.max(axis=1, keepdims=True)
    e = xp.exp(s)
    se = b.kernels.sum_along(e, 1)
    s -= xp.log(se)
    if with_probs:
        e /= se
        return s, e
    return s, None


# ---- CTC: the alpha-beta recursion in log space ---------------------------------------

def _lse3(xp, a, b, c):
    """log(exp(a) + exp(b) + exp(c)) elementwise, -inf where all three are -inf."""
    m = xp.maximum(xp.maximum(a, b), c)
    dead = m == -np.inf
    ms = xp.where(dead, 0, m)
    s = xp.exp(a - ms) + xp.exp(b - ms) + xp.exp(c - ms)
    return xp.where(dead, -np.inf, ms + xp.log(xp.where(dead, 1, s)))


def _shift(xp, a, k):
    """``a`` (N, S) moved k columns right (k > 0) or left (k < 0), -inf filled."""
    out = xp.full(a.shape, -np.inf, dtype=a.dtype)
    if k > 0:
        out[:, k:] = a[:, :-k]
    else:
        out[:, :k] = a[:, -k:]
    return out


@GENERIC.register
def ctc_loss(lp, ext, in_len, tgt_len, want_grad):
    """Connectionist temporal classification: negative log-likelihoods, and
    optionally their gradient, by the forward-backward recursion.

    lp (T, N, C): log-probabilities.  ext (N, S) int64: each target with a
    blank before, between and after its labels (S = 2 * max_len + 1; columns
    past 2 * tgt_len hold anything valid).  in_len, tgt_len (N,) int64.
    Returns ``(nll (N,), grad (T, N, C) or None)``.  The gradient is torch's:
    ``exp(lp) - exp(log(sum of alpha*beta over the label's positions) + nll - lp)``,
    which is the gradient with respect to the logits *before* a log_softmax
    (it is what torch's CTC backward returns for ``log_probs``), zero from
    each sequence's input length on.
    """
    xp = backend_of(lp).xp
    T, N, C = lp.shape
    S = ext.shape[1]
    inf = np.inf
    em = xp.take_along_axis(lp, xp.broadcast_to(ext[None], (T, N, S)), axis=2)  # (T, N, S)
    pos = xp.arange(S)
    # a label may skip the blank before it when it differs from the label two back
    skip = xp.zeros((N, S), dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (pos[2:] % 2 == 1)
    has_label = (tgt_len > 0)
    alpha = xp.full((T, N, S), -inf, dtype=lp.dtype)
    if T:
        alpha[0, :, 0] = em[0, :, 0]
        if S > 1:
            alpha[0, :, 1] = xp.where(has_label, em[0, :, 1], -inf)
    for t in range(1, T):
        prev = alpha[t - 1]
        alpha[t] = em[t] + _lse3(xp, prev, _shift(xp, prev, 1),
                                 xp.where(skip, _shift(xp, prev, 2), -inf))
    rows = xp.arange(N)
    last_t = xp.maximum(in_len - 1, 0)
    end = 2 * tgt_len
    a_end = alpha[last_t, rows, end]
    a_pre = xp.where(has_label, alpha[last_t, rows, xp.maximum(end - 1, 0)], -inf)
    ll = xp.logaddexp(a_end, a_pre)
    # no input frames: only the empty target has a path (of probability 1)
    ll = xp.where(in_len == 0, xp.where(has_label, -inf, 0.0), ll)
    nll = (-ll).astype(lp.dtype)
    if not want_grad:
        return nll, None
    beta = xp.full((T, N, S), -inf, dtype=lp.dtype)
    skip_next = xp.zeros((N, S), dtype=bool)       # position s+2 may be reached from s
    skip_next[:, :-2] = skip[:, 2:]
    at_end = (pos[None] == end[:, None]) | ((pos[None] == end[:, None] - 1) & has_label[:, None])
    nxt = xp.full((N, S), -inf, dtype=lp.dtype)
    for t in range(T - 1, -1, -1):
        rec = em[t] + _lse3(xp, nxt, _shift(xp, nxt, -1),
                            xp.where(skip_next, _shift(xp, nxt, -2), -inf))
        init = xp.where(at_end, em[t], -inf)
        cur = xp.where((t == in_len - 1)[:, None], init,
                       xp.where((t < in_len - 1)[:, None], rec, -inf))
        beta[t] = cur
        nxt = cur
    ab = alpha + beta                                  # (T, N, S): emission counted twice
    m = ab.max(axis=2, keepdims=True)
    dead = m == -inf
    ms = xp.where(dead, 0, m)
    onehot = (ext[:, :, None] == xp.arange(C)).astype(lp.dtype)      # (N, S, C)
    acc = xp.einsum("tns,nsc->tnc", xp.exp(ab - ms), onehot)
    lcab = xp.where(acc > 0, xp.log(xp.where(acc > 0, acc, 1)) + ms, -inf)
    grad = xp.exp(lp) - xp.exp(lcab + nll[None, :, None] - lp)
    live = (xp.arange(T)[:, None] < in_len[None, :])[:, :, None]
    grad = xp.where(live, grad, 0).astype(lp.dtype)
    return nll, grad
