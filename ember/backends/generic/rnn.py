"""Recurrent layers' kernels: the generic formulas.

``lstm_steps`` / ``lstm_steps_backward`` are the time loops of one LSTM
layer direction (ember/nn/functional/rnn.py prepares their inputs and owns
the conventions, documented there): NumPy-style loops over ``xp``, a few
whole-array operations per step.  The CPU table replaces them with one
compiled call per sequence where it can (ember/backends/cpu/_rnn.py); both
fill the same saved arrays, so either backward can follow either forward.
"""
import numpy as np

from .._registry import namespace, kernels
from .._table import GENERIC


@GENERIC.register
def col_sums(a2):
    """Column sums ``a2.sum(axis=0)`` of a 2-D (steps * batch, gates) array
    (the recurrent layers' bias gradients)."""
    return a2.sum(axis=0)


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _time_major(a, bf):
    return a.swapaxes(0, 1) if bf else a


@GENERIC.register
def lstm_steps(proj, bf, whs, h0, c0, w_hr, bsz, reverse, ACT, CS, TC, OUT, RS):
    """The LSTM recurrence over all steps, filling the saved arrays.

    ``proj`` (x's layout, (.., .., 4H)): the input projection plus biases, and
    ``whs`` (4, H, P): W_hh by gate, both with the sigmoid gates' rows
    scaled by -1 and the tanh gate's by -2, so that every gate activation is
    1 / (1 + exp(a)) (tanh(x) = 2 sigmoid(2x) - 1).  Fills ACT (T, 4, B, H)
    with the activations i, f, g, o, CS / TC (T, B, H) with the cell states
    and their tanh, OUT (T, B, P) with the hidden states and, with a
    projection ``w_hr`` (P, H), RS (T, B, H) with the hidden states before
    it.  Rows past ``bsz[t]`` carry their state through step t."""
    xp, mm = namespace(ACT), kernels(ACT).matmul
    T, _, B, H = ACT.shape
    P = whs.shape[2]
    # step-indexable (T, 4, B, H) view of the projection
    X = _time_major(proj, bf).reshape(T, B, 4, H).transpose(0, 2, 1, 3)
    # (4, P, H), contiguous: h @ W4 gives all gates; NumPy's batched matmul
    # is ~2.5x slower on a transposed view
    W4 = xp.ascontiguousarray(whs.transpose(0, 2, 1))
    tmp = xp.empty((B, H), ACT.dtype)
    wrT = w_hr.T if w_hr is not None else None
    h, c = h0, c0
    # exp(+large) = inf gives sigmoid 0: fine.  (NumPy's warning state: other
    # namespaces do not warn, so this is the CPU's business on every device.)
    with np.errstate(over="ignore"):
        for t in _steps(T, reverse):
            a = ACT[t]
            mm(h, W4, out=a)
            a += X[t]
            xp.exp(a, out=a)
            a += 1
            xp.reciprocal(a, out=a)
            gi, gf, gg, go = a
            gg *= 2
            gg -= 1
            cn = CS[t]
            xp.multiply(gf, c, out=cn)
            xp.multiply(gi, gg, out=tmp)
            cn += tmp
            tc = TC[t]
            xp.tanh(cn, out=tc)
            hn = OUT[t]
            if wrT is None:
                xp.multiply(go, tc, out=hn)
            else:
                r = RS[t]
                xp.multiply(go, tc, out=r)
                mm(r, wrT, out=hn)
            if bsz is not None and bsz[t] < B:
                nb = bsz[t]
                hn[nb:] = h[nb:]
                cn[nb:] = c[nb:]
            h, c = hn, cn


@GENERIC.register
def lstm_steps_backward(gout, bf, ghT, gcT, ACT, CS, c0, TC, w_hh, w_hr, bsz, reverse, DXs, DH):
    """Backpropagation through the steps of ``lstm_steps``.

    ``gout``: the gradient of the hidden states (x's layout), ``ghT`` /
    ``gcT`` those of the final states.  Writes the gradients of the gate
    pre-activations into DXs (x's layout, (.., .., 4H); zeros where a packed
    row is inactive) and, with a projection, those of the projected hidden
    states into DH (T, B, P).  Returns the gradients of h0 and c0."""
    T, _, B, H = ACT.shape
    dt = ACT.dtype
    xp, mm = namespace(ACT), kernels(ACT).matmul
    i, f, g, o = ACT[:, 0], ACT[:, 1], ACT[:, 2], ACT[:, 3]
    # Everything that does not depend on the incoming gradient is computed
    # for all steps at once; the loop is left with the recurrence itself.
    D = ACT * (1 - ACT)                          # sigmoid' (g fixed below)
    xp.multiply(g, g, out=D[:, 2])
    xp.subtract(1, D[:, 2], out=D[:, 2])         # tanh'
    CP = xp.empty_like(CS)                       # the cell state entering each step
    if reverse:
        CP[-1] = c0
        CP[:-1] = CS[1:]
    else:
        CP[0] = c0
        CP[1:] = CS[:-1]
    M3 = xp.empty((T, B, 3, H), dt)              # d(pre i, f, g) / dc
    xp.multiply(g, D[:, 0], out=M3[:, :, 0])
    xp.multiply(CP, D[:, 1], out=M3[:, :, 1])
    xp.multiply(i, D[:, 2], out=M3[:, :, 2])
    Mo = TC * D[:, 3]                            # d(pre o) / dh
    K = (1 - TC * TC)
    K *= o                                       # dc / dh
    del D, CP
    dOUT = _time_major(gout, bf)
    DX = _time_major(DXs, bf)
    DX4 = DX.reshape(DX.shape[:2] + (4, H))
    dhc, dcc = ghT, gcT
    for t in _steps(T, not reverse):
        dh = dOUT[t] + dhc
        if w_hr is not None:
            DH[t] = dh
            dr = mm(dh, w_hr)
        else:
            dr = dh
        dc = dr * K[t]
        dc += dcc
        q = DX4[t]
        xp.multiply(dc[:, None, :], M3[t], out=q[:, :3])
        xp.multiply(dr, Mo[t], out=q[:, 3])
        if bsz is not None and bsz[t] < B:
            # inactive rows carried their state through this step: so
            # does their gradient
            nb = bsz[t]
            q[nb:] = 0
            if w_hr is not None:
                DH[t][nb:] = 0
            dhc = mm(DX[t], w_hh)
            dhc[nb:] = dh[nb:]
            dcc_new = dc * f[t]
            dcc_new[nb:] = dcc[nb:]
            dcc = dcc_new
            continue
        dcc = dc * f[t]
        dhc = mm(DX[t], w_hh)
    return dhc, dcc


@GENERIC.register
def gru_steps(proj, bf, whs, bn, h0, bsz, reverse, ACT, HN, OUT):
    """The GRU recurrence over all steps, filling the saved arrays.

    ``proj`` (x's layout, (.., .., 3H)): the input projection plus b_ih and
    b_hh's r, z rows; ``whs`` (3, H, H): W_hh by gate; both with the sigmoid
    gates' (r, z) rows scaled by -1, so that r, z = 1 / (1 + exp(a)).  ``bn``:
    b_hh's n row (or None).  Fills ACT (T, 3, B, H) with r, z, n, HN (T, B, H)
    with W_hn h + b_hn and OUT (T, B, H) with the hidden states.  Rows past
    ``bsz[t]`` carry their state through step t."""
    xp, mm = namespace(ACT), kernels(ACT).matmul
    T, _, B, H = ACT.shape
    X = _time_major(proj, bf).reshape(T, B, 3, H).transpose(0, 2, 1, 3)
    W3 = xp.ascontiguousarray(whs.transpose(0, 2, 1))   # (see lstm_steps' W4)
    hh = xp.empty((3, B, H), ACT.dtype)
    h = h0
    with np.errstate(over="ignore"):  # (as in lstm_steps)
        for t in _steps(T, reverse):
            mm(h, W3, out=hh)
            a = ACT[t]
            xt = X[t]
            rz = a[:2]
            xp.add(xt[:2], hh[:2], out=rz)
            xp.exp(rz, out=rz)
            rz += 1
            xp.reciprocal(rz, out=rz)
            r, z, n = a
            hn_ = HN[t]
            if bn is not None:
                xp.add(hh[2], bn, out=hn_)
            else:
                hn_[...] = hh[2]
            xp.multiply(r, hn_, out=n)
            n += xt[2]
            xp.tanh(n, out=n)
            ht = OUT[t]
            xp.subtract(h, n, out=ht)        # h' = n + z (h - n)
            ht *= z
            ht += n
            if bsz is not None and bsz[t] < B:
                ht[bsz[t]:] = h[bsz[t]:]
            h = ht


@GENERIC.register
def gru_steps_backward(gout, bf, ghT, ACT, HN, HP, w_hh, bsz, reverse, Q, DXn):
    """Backpropagation through the steps of ``gru_steps``.  ``HP`` (T, B, H):
    the hidden state entering each step.  Writes into Q (T, B, 3H) the
    gradients of W_hh h + b_hh (zeros where a packed row is inactive) and into
    DXn (T, B, H) those of the input projection's n block; returns the
    gradient of h0."""
    T, _, B, H = ACT.shape
    H2 = 2 * H
    xp, mm = namespace(ACT), kernels(ACT).matmul
    r, z, n = ACT[:, 0], ACT[:, 1], ACT[:, 2]
    Kn = (1 - z) * (1 - n * n)             # d(pre n) / dh'
    Kz = (HP - n) * (z * (1 - z))          # d(pre z) / dh'
    Kr = HN * (r * (1 - r))                # d(pre r) / d(pre n)
    dOUT = _time_major(gout, bf)
    dhc = ghT
    for t in _steps(T, not reverse):
        dh = dOUT[t] + dhc
        q = Q[t]
        dn = DXn[t]
        xp.multiply(dh, Kn[t], out=dn)
        xp.multiply(dh, Kz[t], out=q[:, H:H2])
        xp.multiply(dn, Kr[t], out=q[:, :H])
        xp.multiply(dn, r[t], out=q[:, H2:])
        if bsz is not None and bsz[t] < B:
            nb = bsz[t]
            q[nb:] = 0
            dn[nb:] = 0
            new = mm(q, w_hh)
            new[:nb] += dh[:nb] * z[t][:nb]
            new[nb:] = dh[nb:]
            dhc = new
            continue
        dhc = mm(q, w_hh)
        dhc += dh * z[t]
    return dhc


@GENERIC.register
def rnn_steps(proj, bf, w_hh, relu, h0, bsz, reverse, OUT):
    """The Elman recurrence h' = act(proj[t] + h W_hh^T) (tanh, or relu) over
    all steps into OUT (T, B, H); ``proj`` (x's layout): the input projection
    plus both biases.  Rows past ``bsz[t]`` carry their state through step t."""
    xp, mm = namespace(OUT), kernels(OUT).matmul
    T, B, H = OUT.shape
    X = _time_major(proj, bf)
    wT = w_hh.T
    h = h0
    for t in _steps(T, reverse):
        a = OUT[t]
        mm(h, wT, out=a)
        a += X[t]
        if relu:
            xp.maximum(a, 0, out=a)
        else:
            xp.tanh(a, out=a)
        if bsz is not None and bsz[t] < B:
            a[bsz[t]:] = h[bsz[t]:]
        h = a


@GENERIC.register
def rnn_steps_backward(gout, bf, ghT, OUT, w_hh, relu, bsz, reverse, DXs):
    """Backpropagation through the steps of ``rnn_steps``: the gradients of
    the pre-activations into DXs (x's layout; zeros where a packed row is
    inactive); returns the gradient of h0."""
    T, B, H = OUT.shape
    xp, mm = namespace(OUT), kernels(OUT).matmul
    D = (OUT > 0).astype(OUT.dtype) if relu else 1 - OUT * OUT
    dOUT = _time_major(gout, bf)
    DX = _time_major(DXs, bf)
    dhc = ghT
    for t in _steps(T, not reverse):
        dh = dOUT[t] + dhc
        q = DX[t]
        xp.multiply(dh, D[t], out=q)
        if bsz is not None and bsz[t] < B:
            nb = bsz[t]
            q[nb:] = 0
            dhc = mm(q, w_hh)
            dhc[nb:] = dh[nb:]
            continue
        dhc = mm(q, w_hh)
    return dhc
