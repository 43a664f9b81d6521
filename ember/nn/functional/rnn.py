"""Recurrent kernels: one LSTM / GRU / Elman layer direction over a whole sequence, as one Op.

Each Op does the input projection ``x @ W_ih^T + b`` for all time steps in
one matmul, then runs the recurrence as a NumPy loop over time, saving the
gate activations.  The backward is a hand-written BPTT loop: per step a few
elementwise products and one matmul; the weight gradients are one matmul
each over all steps at the end.  This replaces the dozens of small autograd
nodes per step that a cell-by-cell composition records.

Gate layouts are torch's: LSTM rows (i, f, g, o); GRU rows (r, z, n) with
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).

Arguments shared by the Ops:

* ``x``: input (T, B, I) time-major, or (B, T, I) with ``bf`` (batch_first).
* ``w_ih`` (G, I), ``b_ih`` (G,) or None; ``w_hh`` (G, P), ``b_hh`` (G,) or
  None; ``w_hr`` (P, H) = LSTM projection or None.  (G = gates * H.)
* ``h0`` (B, P) [and ``c0`` (B, H)]: initial state (an ndarray of zeros
  when the caller has none).
* ``reverse``: run from the last step to the first (the backward direction
  of a bidirectional layer).
* ``bsz``: per-step batch sizes of a packed sequence (sorted by length,
  decreasing), or None.  Rows past ``bsz[t]`` are inactive at step t: their
  state is carried unchanged, which also gives the reverse direction its
  start from h0 at each sequence's own last element.

Outputs: the hidden states of every step (x's layout) and the final states.
Under ``create_graph=True`` the backward recomputes the layer from the
cell-by-cell compositions below (``*_reference``) so gradients of gradients
are exact.

Arrays are computed through their backend's namespace (``xp``) and
kernel table: ``matmul`` (on the CPU, large products split over the
intra-op threads), ``col_sums`` (bias gradients; a GEMV on the CPU) and,
for the LSTM, the time loops themselves, ``lstm_steps`` and
``lstm_steps_backward`` (ember/backends/generic/rnn.py: the NumPy loops;
on the CPU one compiled call per layer direction, batch rows split over
the threads, as torch's fused kernels do).

Speed notes.  Sigmoid and tanh gates come from one ``exp`` pass
(sigmoid(x) = 1 / (1 + exp(-x)), tanh(x) = 2 sigmoid(2x) - 1): the -1 / -2
factors are folded into the weights once per call.  NumPy's exp is
vectorised; its tanh and scipy's expit are several times slower.  Gates are
kept gate-major, (gates, B, H) per step, so each gate is a contiguous block
(column blocks of a (B, 4H) array are ~3x slower to work on).
"""
import numpy as np

from ..._tensor import Tensor

from ..._tensor_base import _wrap
from ...autograd.function import Op
from ...backends import namespace, kernels
from ...ops import _bw

__all__ = []


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _prev_states(S, s0, reverse, out=None):
    """The state entering each step: s0 at the first processed step, else
    the neighbouring step's output (time-major (T, B, K))."""
    P = namespace(S).empty_like(S) if out is None else out
    if reverse:
        P[-1] = s0
        P[:-1] = S[1:]
    else:
        P[0] = s0
        P[1:] = S[:-1]
    return P


def _to_caller(OUT, bf):
    return namespace(OUT).ascontiguousarray(OUT.swapaxes(0, 1)) if bf else OUT


def _time_major(a, bf):
    return a.swapaxes(0, 1) if bf else a


def _project(x, w, bias):
    """x (T, B, I) or (B, T, I) -> x @ w.T + bias, (T, B, G) or (B, T, G) in
    x's layout: one matmul for the whole sequence."""
    proj = kernels(x).matmul(x.reshape(-1, x.shape[2]), w.T)
    if bias is not None:
        proj += bias
    return proj.reshape(x.shape[:2] + (w.shape[0],))


def _input_grads(need, DX2, x, w_ih, b_ih):
    """Gradients of x, W_ih and b_ih from the pre-activation gradients DX2 (N, G)
    (N = T*B, rows in x's layout)."""
    mm = kernels(DX2).matmul
    gx = gw = gb = None
    if need[0]:
        gx = mm(DX2, w_ih).reshape(x.shape)
    if need[1]:
        gw = mm(DX2.T, x.reshape(-1, x.shape[2]))
    if b_ih is not None and need[2]:
        gb = kernels(DX2).col_sums(DX2)
    return gx, gw, gb


# ---- LSTM -------------------------------------------------------------------------------

_LSTM_SCALE = {}


def _lstm_scale(xp, dt):
    """(4, 1, 1) factors: -1 for the sigmoid gates i, f, o, -2 for g (tanh),
    as an array of namespace ``xp`` (cached per namespace and dtype)."""
    s = _LSTM_SCALE.get((xp, dt))
    if s is None:
        s = _LSTM_SCALE[xp, dt] = xp.array([-1.0, -1.0, -2.0, -1.0], dt)[:, None, None]
    return s


class _LSTMLayer(Op):
    """One LSTM layer direction over a sequence: returns (out, h_T, c_T).
    The time loops are the kernels ``lstm_steps`` / ``lstm_steps_backward``
    (ember/backends/generic/rnn.py; compiled on the CPU)."""
    _ctx_fields = ("reverse", "batch_sizes", "batch_first")
    _node_name = "LstmBackward0"

    @staticmethod
    def forward(ctx, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, reverse, bsz, bf):
        G, I = w_ih.shape
        H = G // 4
        P = w_hh.shape[1]
        dt = x.dtype
        xp = namespace(x)
        sc = _lstm_scale(xp, dt)
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        if bias is not None:
            bias = (bias.reshape(4, 1, H) * sc).reshape(G)
        proj = _project(x, (w_ih.reshape(4, H, I) * sc).reshape(G, I), bias)
        T = x.shape[1] if bf else x.shape[0]
        B = x.shape[0] if bf else x.shape[1]
        ACT = xp.empty((T, 4, B, H), dt)   # gate activations i, f, g, o
        CS = xp.empty((T, B, H), dt)       # cell states
        TC = xp.empty((T, B, H), dt)       # tanh of the cell states
        OUT = xp.empty((T, B, P), dt)      # hidden states
        RS = xp.empty((T, B, H), dt) if w_hr is not None else None  # pre-projection h
        kernels(x).lstm_steps(proj, bf, w_hh.reshape(4, H, P) * sc, h0, c0, w_hr, bsz,
                              reverse, ACT, CS, TC, OUT, RS)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, ACT, CS, TC, OUT, RS)
            ctx.reverse, ctx.batch_sizes, ctx.batch_first = reverse, bsz, bf
        last = 0 if reverse else T - 1     # (packed rows carried their state to the end)
        if T == 0:
            return _to_caller(OUT, bf), h0.copy(), c0.copy()
        return _to_caller(OUT, bf), OUT[last].copy(), CS[last].copy()

    @staticmethod
    def backward(ctx, gout, ghT, gcT):
        x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, ACT, CS, TC, OUT, RS = ctx.saved_tensors
        reverse, bsz, bf = ctx.reverse, ctx.batch_sizes, ctx.batch_first
        if not _bw.is_array(gout):
            return _bw.recompute_vjp(
                lambda *a: lstm_reference(*a, reverse, bsz, bf),
                (x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr), (gout, ghT, gcT)) + (None,) * 3
        T, _, B, H = ACT.shape
        G = 4 * H
        P = w_hh.shape[1]
        dt = ACT.dtype
        xp, mm = namespace(ACT), kernels(ACT).matmul
        # pre-activation gradients, written straight into x's layout
        lead = x.shape[:2]
        DXs = (xp.zeros if bsz is not None else xp.empty)(lead + (G,), dt)
        DH = xp.empty((T, B, P), dt) if w_hr is not None else None
        dh0, dc0 = kernels(ACT).lstm_steps_backward(gout, bf, ghT, gcT, ACT, CS, c0, TC, w_hh,
                                                    w_hr, bsz, reverse, DXs, DH)
        need = ctx.needs_input_grad
        DX2 = DXs.reshape(-1, G)
        gx, gw_ih, gb_ih = _input_grads(need, DX2, x, w_ih, b_ih)
        gw_hh = gb_hh = gw_hr = None
        if need[5]:
            HPs = xp.empty(lead + (P,), dt)
            _prev_states(OUT, h0, reverse, out=_time_major(HPs, bf))
            gw_hh = mm(DX2.T, HPs.reshape(-1, P))
        if b_hh is not None and need[6]:
            gb_hh = gb_ih if gb_ih is not None else kernels(DX2).col_sums(DX2)
        if w_hr is not None and need[7]:
            gw_hr = mm(DH.reshape(-1, P).T, RS.reshape(-1, H))
        return (gx, gw_ih, gb_ih, dh0 if need[3] else None, dc0 if need[4] else None,
                gw_hh, gb_hh, gw_hr, None, None, None)


def lstm_reference(x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr=None, reverse=False, bsz=None,
                   bf=False):
    """The LSTM layer of ``_LSTMLayer`` composed cell by cell from Ember ops
    (differentiable to any order).  Returns (out, h_T, c_T)."""
    from ... import stack, cat
    from .linear import linear
    X = linear(x, w_ih, b_ih)
    X = X.transpose(0, 1) if bf else X
    T, B = X.shape[0], X.shape[1]
    h, c = _as_t(h0), _as_t(c0)
    wt = w_hh.t()
    outs = [None] * T
    for t in _steps(T, reverse):
        gates = X[t] + h.matmul(wt)
        if b_hh is not None:
            gates = gates + b_hh
        gi, gf, gg, go = gates.chunk(4, 1)
        cn = gf.sigmoid() * c + gi.sigmoid() * gg.tanh()
        hn = go.sigmoid() * cn.tanh()
        if w_hr is not None:
            hn = hn.matmul(w_hr.t())
        if bsz is not None and bsz[t] < B:
            nb = bsz[t]
            hn = cat([hn[:nb], h[nb:]], 0)
            cn = cat([cn[:nb], c[nb:]], 0)
        outs[t] = hn
        h, c = hn, cn
    out = stack(outs, 0)
    return (out.transpose(0, 1) if bf else out), h, c


def _as_t(x):
    return x if isinstance(x, Tensor) else _wrap(x)


# ---- GRU --------------------------------------------------------------------------------

_GRU_SCALE = {}


def _gru_scale(xp, dt):
    """(3, 1, 1) factors: -1 for the sigmoid gates r, z; n's rows stay
    (an array of namespace ``xp``, cached per namespace and dtype)."""
    s = _GRU_SCALE.get((xp, dt))
    if s is None:
        s = _GRU_SCALE[xp, dt] = xp.array([-1.0, -1.0, 1.0], dt)[:, None, None]
    return s


class _GRULayer(Op):
    """One GRU layer direction over a sequence: returns (out, h_T).  The
    time loops are the kernels ``gru_steps`` / ``gru_steps_backward``."""
    _ctx_fields = ("reverse", "batch_sizes", "batch_first")
    _node_name = "GruBackward0"

    @staticmethod
    def forward(ctx, x, w_ih, b_ih, h0, w_hh, b_hh, reverse, bsz, bf):
        G, I = w_ih.shape
        H = G // 3
        dt = x.dtype
        xp = namespace(x)
        sc = _gru_scale(xp, dt)
        # b_hh's r and z rows add to the input projection; its n row is
        # multiplied by r, so it stays in the recurrence
        bias = b_ih.copy() if b_ih is not None else None
        bn = None
        if b_hh is not None:
            if bias is None:
                bias = xp.zeros(G, dt)
            bias[:2 * H] += b_hh[:2 * H]
            bn = b_hh[2 * H:]
        if bias is not None:
            bias = (bias.reshape(3, 1, H) * sc).reshape(G)
        proj = _project(x, (w_ih.reshape(3, H, I) * sc).reshape(G, I), bias)
        T = x.shape[1] if bf else x.shape[0]
        B = x.shape[0] if bf else x.shape[1]
        ACT = xp.empty((T, 3, B, H), dt)   # r, z, n
        HN = xp.empty((T, B, H), dt)       # W_hn h + b_hn (n's recurrent part)
        OUT = xp.empty((T, B, H), dt)
        kernels(x).gru_steps(proj, bf, w_hh.reshape(3, H, H) * sc, bn, h0, bsz, reverse,
                             ACT, HN, OUT)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w_ih, b_ih, h0, w_hh, b_hh, ACT, HN, OUT)
            ctx.reverse, ctx.batch_sizes, ctx.batch_first = reverse, bsz, bf
        if T == 0:
            return _to_caller(OUT, bf), h0.copy()
        return _to_caller(OUT, bf), OUT[0 if reverse else T - 1].copy()

    @staticmethod
    def backward(ctx, gout, ghT):
        x, w_ih, b_ih, h0, w_hh, b_hh, ACT, HN, OUT = ctx.saved_tensors
        reverse, bsz, bf = ctx.reverse, ctx.batch_sizes, ctx.batch_first
        if not _bw.is_array(gout):
            return _bw.recompute_vjp(
                lambda *a: gru_reference(*a, reverse, bsz, bf),
                (x, w_ih, b_ih, h0, w_hh, b_hh), (gout, ghT)) + (None,) * 3
        T, _, B, H = ACT.shape
        G = 3 * H
        H2 = 2 * H
        dt = ACT.dtype
        xp, mm = namespace(ACT), kernels(ACT).matmul
        HP = _prev_states(OUT, h0, reverse)
        # Q: gradient of W_hh h + b_hh (its r, z blocks are also the input
        # projection's); DXn: the input projection's n block
        Q = (xp.zeros if bsz is not None else xp.empty)((T, B, G), dt)
        DXn = xp.empty((T, B, H), dt)
        dh0 = kernels(ACT).gru_steps_backward(gout, bf, ghT, ACT, HN, HP, w_hh, bsz, reverse,
                                              Q, DXn)
        need = ctx.needs_input_grad
        DX2 = xp.concatenate([_time_major(Q, bf)[..., :H2], _time_major(DXn, bf)], -1) \
            .reshape(-1, G)
        gx, gw_ih, gb_ih = _input_grads(need, DX2, x, w_ih, b_ih)
        gw_hh = gb_hh = None
        Q2 = Q.reshape(-1, G)
        if need[4]:
            gw_hh = mm(Q2.T, HP.reshape(-1, H))
        if b_hh is not None and need[5]:
            gb_hh = kernels(Q2).col_sums(Q2)
        return gx, gw_ih, gb_ih, (dh0 if need[3] else None), gw_hh, gb_hh, None, None, None


def gru_reference(x, w_ih, b_ih, h0, w_hh, b_hh, reverse=False, bsz=None, bf=False):
    """The GRU layer of ``_GRULayer`` composed cell by cell from Ember ops."""
    from ... import stack, cat
    from .linear import linear
    X = linear(x, w_ih, b_ih)
    X = X.transpose(0, 1) if bf else X
    T, B = X.shape[0], X.shape[1]
    h = _as_t(h0)
    wt = w_hh.t()
    outs = [None] * T
    for t in _steps(T, reverse):
        hh = h.matmul(wt)
        if b_hh is not None:
            hh = hh + b_hh
        xr, xz, xn = X[t].chunk(3, 1)
        hr, hz, hn_ = hh.chunk(3, 1)
        rg = (xr + hr).sigmoid()
        zg = (xz + hz).sigmoid()
        ng = (xn + rg * hn_).tanh()
        hn = ng + zg * (h - ng)
        if bsz is not None and bsz[t] < B:
            hn = cat([hn[:bsz[t]], h[bsz[t]:]], 0)
        outs[t] = hn
        h = hn
    out = stack(outs, 0)
    return (out.transpose(0, 1) if bf else out), h


# ---- Elman RNN (tanh / relu) ------------------------------------------------------------

class _RNNLayer(Op):
    """One Elman RNN layer direction: h' = act(W_ih x + b_ih + W_hh h + b_hh);
    returns (out, h_T).  The time loops are the kernels ``rnn_steps`` /
    ``rnn_steps_backward``."""
    _ctx_fields = ("relu", "reverse", "batch_sizes", "batch_first")
    _node_name = "RnnBackward0"

    @staticmethod
    def forward(ctx, x, w_ih, b_ih, h0, w_hh, b_hh, relu, reverse, bsz, bf):
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        proj = _project(x, w_ih, bias)
        T, B, H = _time_major(proj, bf).shape
        OUT = namespace(x).empty((T, B, H), x.dtype)
        kernels(x).rnn_steps(proj, bf, w_hh, relu, h0, bsz, reverse, OUT)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w_ih, b_ih, h0, w_hh, b_hh, OUT)
            ctx.relu, ctx.reverse, ctx.batch_sizes, ctx.batch_first = relu, reverse, bsz, bf
        if T == 0:
            return _to_caller(OUT, bf), h0.copy()
        return _to_caller(OUT, bf), OUT[0 if reverse else T - 1].copy()

    @staticmethod
    def backward(ctx, gout, ghT):
        x, w_ih, b_ih, h0, w_hh, b_hh, OUT = ctx.saved_tensors
        relu, reverse, bsz, bf = ctx.relu, ctx.reverse, ctx.batch_sizes, ctx.batch_first
        if not _bw.is_array(gout):
            return _bw.recompute_vjp(
                lambda *a: rnn_reference(*a, relu, reverse, bsz, bf),
                (x, w_ih, b_ih, h0, w_hh, b_hh), (gout, ghT)) + (None,) * 4
        T, B, H = OUT.shape
        dt = OUT.dtype
        xp, mm = namespace(OUT), kernels(OUT).matmul
        lead = x.shape[:2]
        DXs = (xp.zeros if bsz is not None else xp.empty)(lead + (H,), dt)
        dhc = kernels(OUT).rnn_steps_backward(gout, bf, ghT, OUT, w_hh, relu, bsz, reverse, DXs)
        need = ctx.needs_input_grad
        DX2 = DXs.reshape(-1, H)
        gx, gw_ih, gb_ih = _input_grads(need, DX2, x, w_ih, b_ih)
        gw_hh = gb_hh = None
        if need[4]:
            HPs = xp.empty(lead + (H,), dt)
            _prev_states(OUT, h0, reverse, out=_time_major(HPs, bf))
            gw_hh = mm(DX2.T, HPs.reshape(-1, H))
        if b_hh is not None and need[5]:
            gb_hh = gb_ih if gb_ih is not None else kernels(DX2).col_sums(DX2)
        return (gx, gw_ih, gb_ih, (dhc if need[3] else None), gw_hh, gb_hh,
                None, None, None, None)


def rnn_reference(x, w_ih, b_ih, h0, w_hh, b_hh, relu=False, reverse=False, bsz=None,
                  bf=False):
    """The Elman layer of ``_RNNLayer`` composed step by step from Ember ops."""
    from ... import stack, cat
    from .linear import linear
    X = linear(x, w_ih, b_ih)
    X = X.transpose(0, 1) if bf else X
    T, B = X.shape[0], X.shape[1]
    h = _as_t(h0)
    wt = w_hh.t()
    outs = [None] * T
    for t in _steps(T, reverse):
        a = X[t] + h.matmul(wt)
        if b_hh is not None:
            a = a + b_hh
        hn = a.relu() if relu else a.tanh()
        if bsz is not None and bsz[t] < B:
            hn = cat([hn[:bsz[t]], h[bsz[t]:]], 0)
        outs[t] = hn
        h = hn
    out = stack(outs, 0)
    return (out.transpose(0, 1) if bf else out), h


# ---- entry points used by nn.LSTM / GRU / RNN and the cells ----------------------------

def lstm_layer(x, w_ih, b_ih, h0, c0, w_hh, b_hh=None, w_hr=None, reverse=False,
               batch_sizes=None, batch_first=False):
    """Run one LSTM layer direction over ``x``; returns (out, h_T, c_T)."""
    return _LSTMLayer.apply(x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, reverse, batch_sizes,
                            batch_first)


def gru_layer(x, w_ih, b_ih, h0, w_hh, b_hh=None, reverse=False, batch_sizes=None,
              batch_first=False):
    """Run one GRU layer direction; returns (out, h_T)."""
    return _GRULayer.apply(x, w_ih, b_ih, h0, w_hh, b_hh, reverse, batch_sizes, batch_first)


def rnn_layer(x, w_ih, b_ih, h0, w_hh, b_hh=None, relu=False, reverse=False, batch_sizes=None,
              batch_first=False):
    """Run one Elman RNN layer direction (tanh, or relu); returns (out, h_T)."""
    return _RNNLayer.apply(x, w_ih, b_ih, h0, w_hh, b_hh, relu, reverse, batch_sizes,
                           batch_first)
