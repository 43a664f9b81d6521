"""The CPU's compiled LSTM, GRU and Elman RNN time loops (``_numba.lstm_forward``
/ ``lstm_backward`` through the kernels ``lstm_steps`` / ``lstm_steps_backward``,
and the same for the others) and the NumPy loops they replace: outputs, final
states and every gradient against torch with the kernels on and off
(directions, batch_first, initial states, projections, packed sequences,
shapes whose per-step products are cut into column blocks, batch rows split
over two threads), the two paths against each other, and a forward and
backward run under different kernel settings."""
import numpy as np
import pytest
import torch

import ember
from ember.backends.cpu import _jit

pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN")


def _pair(dt, name="LSTM", **kw):
    """An LSTM (or GRU, RNN) in torch and the same one (torch's weights) in Ember."""
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(**kw).to(torch.float64 if dt == np.float64 else torch.float32)
    em = getattr(ember.nn, name)(**kw).to(ember.float64 if dt == np.float64 else ember.float32)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return em, tm


def _run(lib, m, x, states, lengths=None):
    """Outputs, final states and the gradients of a weighted sum of them:
    (outputs, input grad, state grads, parameter grads) as NumPy arrays."""
    xx = lib.tensor(x, requires_grad=True)
    st = [lib.tensor(s, requires_grad=True) for s in states]
    inp = xx
    if lengths is not None:
        inp = lib.nn.utils.rnn.pack_padded_sequence(xx, lengths, batch_first=m.batch_first,
                                                    enforce_sorted=False)
    lstm = isinstance(m, lib.nn.LSTM)
    out, hid = m(inp, (tuple(st) if lstm else st[0]) if st else None)
    if lengths is not None:
        out = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=m.batch_first)[0]
    outs = [out] + (list(hid) if lstm else [hid])
    loss = lib.tensor(0.0, dtype=out.dtype)
    for k, o in enumerate(outs):
        w = np.random.default_rng(k).standard_normal(tuple(o.shape)).astype(x.dtype)
        loss = loss + (o * lib.tensor(w)).sum()
    loss.backward()
    grads = {n: p.grad.detach().numpy() for n, p in m.named_parameters()}
    return ([o.detach().numpy() for o in outs], xx.grad.detach().numpy(),
            [s.grad.detach().numpy() for s in st], grads)


def _inputs(dt, T, B, I, H, L, D, bf, proj, with_state, seed=0, lstm=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I) if bf else (T, B, I)).astype(dt)
    if not with_state:
        return x, []
    return x, [rng.standard_normal((L * D, B, proj or H)).astype(dt),
               rng.standard_normal((L * D, B, H)).astype(dt)][:2 if lstm else 1]


def _check(res_e, res_t, dt):
    tol = dict(atol=1e-10, rtol=1e-8) if dt == np.float64 else dict(atol=2e-5, rtol=2e-4)
    (oe, ge, se, pe), (ot, gt, st, pt) = res_e, res_t
    pairs = [("outputs", oe, ot), ("input grad", [ge], [gt]), ("state grads", se, st)]
    pairs += [(f"grad of {n}", [pe[n]], [pt[n]]) for n in pt]
    for what, es, ts in pairs:
        assert len(es) == len(ts), what
        for e, t in zip(es, ts):
            assert e.dtype == t.dtype and e.shape == t.shape, what
            np.testing.assert_allclose(e, t, err_msg=what, **tol)


# (bidirectional, batch_first, proj_size, with_state, num_layers)
CONFIGS = [(False, False, 0, True, 1), (True, True, 0, False, 2), (False, True, 3, True, 2),
           (True, False, 3, False, 1)]


@pytest.mark.parametrize("bidir,bf,proj,with_state,L", CONFIGS)
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_lstm_against_torch(jit, dt, bidir, bf, proj, with_state, L):
    T, B, I, H = 5, 3, 4, 6
    em, tm = _pair(dt, input_size=I, hidden_size=H, num_layers=L, bidirectional=bidir,
                   batch_first=bf, proj_size=proj)
    x, st = _inputs(dt, T, B, I, H, L, 2 if bidir else 1, bf, proj, with_state)
    _check(_run(ember, em, x, st), _run(torch, tm, x, st), dt)


@pytest.mark.parametrize("bidir,proj,bf", [(False, 0, True), (True, 0, False), (True, 2, True)])
def test_lstm_packed_against_torch(jit, bidir, proj, bf):
    T, B, I, H = 5, 4, 3, 5
    lengths = [3, 5, 1, 3]       # unsorted: some rows go inactive at every length
    em, tm = _pair(np.float64, input_size=I, hidden_size=H, num_layers=2, bidirectional=bidir,
                   batch_first=bf, proj_size=proj)
    x, st = _inputs(np.float64, T, B, I, H, 2, 2 if bidir else 1, bf, proj, True)
    _check(_run(ember, em, x, st, lengths), _run(torch, tm, x, st, lengths), np.float64)


@pytest.mark.parametrize("H,proj", [(128, 0), (100, 0), (40, 24)])
def test_lstm_column_blocks_against_torch(jit, H, proj):
    """Batches and widths large enough for the per-step products to run as
    several column blocks, with a partial last block (H = 100)."""
    T, B, I = 3, 32, 8
    em, tm = _pair(np.float64, input_size=I, hidden_size=H, batch_first=True, proj_size=proj)
    x, st = _inputs(np.float64, T, B, I, H, 1, 1, True, proj, True)
    _check(_run(ember, em, x, st), _run(torch, tm, x, st), np.float64)


def _ember_grads(em, x, st, fwd_jit, bwd_jit, lengths=None):
    """_run with the compiled kernels switched per pass (forward, backward)."""
    old = _jit.set_enabled(fwd_jit)
    try:
        xx = ember.tensor(x, requires_grad=True)
        s = [ember.tensor(a, requires_grad=True) for a in st]
        inp = xx if lengths is None else ember.nn.utils.rnn.pack_padded_sequence(
            xx, lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = em(inp, tuple(s))
        if lengths is not None:
            out = ember.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)[0]
        loss = (out * out).sum() + (h * 3.0).sum() + (c * c).sum()
        _jit.set_enabled(bwd_jit)
        loss.backward()
    finally:
        _jit.set_enabled(old)
    return ([out.detach().numpy(), h.detach().numpy(), c.detach().numpy(), xx.grad.numpy()]
            + [a.grad.numpy() for a in s] + [p.grad.numpy() for p in em.parameters()])


@pytest.mark.parametrize("proj,lengths", [(0, None), (3, [4, 2, 4, 1])])
def test_lstm_paths_agree_and_mix(proj, lengths):
    """Compiled and NumPy loops give the same numbers (float64), and a
    backward under one setting follows a forward under the other."""
    pytest.importorskip("numba")
    T, B, I, H = 4, 4, 3, 5
    em, _ = _pair(np.float64, input_size=I, hidden_size=H, num_layers=2, bidirectional=True,
                  batch_first=True, proj_size=proj)
    x, st = _inputs(np.float64, T, B, I, H, 2, 2, True, proj, True, seed=3)
    results = []
    for fwd_jit, bwd_jit in [(True, True), (False, False), (True, False), (False, True)]:
        em.zero_grad()
        results.append(_ember_grads(em, x, st, fwd_jit, bwd_jit, lengths))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_lstm_float32_paths_agree_on_bench_shape():
    """The shape of the char_lstm bench in float32: compiled and NumPy loops
    agree closely (the compiled one's exp and tanh are its own)."""
    pytest.importorskip("numba")
    em, _ = _pair(np.float32, input_size=16, hidden_size=128, batch_first=True)
    x, st = _inputs(np.float32, 12, 16, 16, 128, 1, 1, True, 0, True, seed=5)
    on = _ember_grads(em, x, st, True, True)
    em.zero_grad()
    off = _ember_grads(em, x, st, False, False)
    for a, b in zip(on, off):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


# (bidirectional, batch_first, with_state, num_layers, bias)
GRU_CONFIGS = [(False, False, True, 1, True), (True, True, False, 2, True),
               (True, False, True, 1, False)]


@pytest.mark.parametrize("bidir,bf,with_state,L,bias", GRU_CONFIGS)
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_gru_against_torch(jit, dt, bidir, bf, with_state, L, bias):
    T, B, I, H = 5, 3, 4, 6
    em, tm = _pair(dt, "GRU", input_size=I, hidden_size=H, num_layers=L, bidirectional=bidir,
                   batch_first=bf, bias=bias)
    x, st = _inputs(dt, T, B, I, H, L, 2 if bidir else 1, bf, 0, with_state, lstm=False)
    _check(_run(ember, em, x, st), _run(torch, tm, x, st), dt)


@pytest.mark.parametrize("bidir,bf", [(False, True), (True, False)])
def test_gru_packed_against_torch(jit, bidir, bf):
    T, B, I, H = 5, 4, 3, 5
    em, tm = _pair(np.float64, "GRU", input_size=I, hidden_size=H, num_layers=2,
                   bidirectional=bidir, batch_first=bf)
    x, st = _inputs(np.float64, T, B, I, H, 2, 2 if bidir else 1, bf, 0, True, lstm=False)
    lengths = [3, 5, 1, 3]
    _check(_run(ember, em, x, st, lengths), _run(torch, tm, x, st, lengths), np.float64)


def test_gru_column_blocks_and_threads(monkeypatch):
    """A width whose per-step products run as column blocks, and the batch
    rows split over two threads: torch's numbers either way."""
    pytest.importorskip("numba")
    from ember.backends.cpu import _rnn
    monkeypatch.setattr(_rnn, "_ROW_GRAIN", 1)
    T, B, I, H = 3, 32, 8, 100
    em, tm = _pair(np.float64, "GRU", input_size=I, hidden_size=H, batch_first=True)
    x, st = _inputs(np.float64, T, B, I, H, 1, 1, True, 0, True, lstm=False)
    expected = _run(torch, tm, x, st, [3] * 20 + [2] * 7 + [1] * 5)
    old_n = ember.get_num_threads()
    for n in (1, 2):
        ember.set_num_threads(n)
        try:
            em.zero_grad()
            got = _run(ember, em, x, st, [3] * 20 + [2] * 7 + [1] * 5)
        finally:
            ember.set_num_threads(old_n)
        _check(got, expected, np.float64)


def test_gru_paths_mix():
    """GRU: a backward under one kernel setting follows a forward under the
    other, with the same numbers (float64)."""
    pytest.importorskip("numba")
    T, B, I, H = 4, 4, 3, 5
    em, _ = _pair(np.float64, "GRU", input_size=I, hidden_size=H, bidirectional=True,
                  batch_first=True)
    x, st = _inputs(np.float64, T, B, I, H, 1, 2, True, 0, True, seed=3, lstm=False)
    results = []
    for fwd_jit, bwd_jit in [(True, True), (False, False), (True, False), (False, True)]:
        old = _jit.set_enabled(fwd_jit)
        try:
            em.zero_grad()
            xx = ember.tensor(x, requires_grad=True)
            h0 = ember.tensor(st[0], requires_grad=True)
            out, h = em(xx, h0)
            loss = (out * out).sum() + (h * 3.0).sum()
            _jit.set_enabled(bwd_jit)
            loss.backward()
        finally:
            _jit.set_enabled(old)
        results.append([out.detach().numpy(), h.detach().numpy(), xx.grad.numpy(),
                        h0.grad.numpy()] + [p.grad.numpy() for p in em.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bidir,bf,lengths", [(False, False, None), (True, True, None),
                                              (True, False, [3, 5, 1, 3])])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_rnn_against_torch(jit, dt, nonlinearity, bidir, bf, lengths):
    T, B, I, H = 5, 4, 3, 6
    em, tm = _pair(dt, "RNN", input_size=I, hidden_size=H, num_layers=2, bidirectional=bidir,
                   batch_first=bf, nonlinearity=nonlinearity)
    x, st = _inputs(dt, T, B, I, H, 2, 2 if bidir else 1, bf, 0, True, lstm=False)
    _check(_run(ember, em, x, st, lengths), _run(torch, tm, x, st, lengths), dt)


def test_rnn_column_blocks_and_threads(monkeypatch):
    """Elman RNN: column blocks and batch rows over two threads."""
    pytest.importorskip("numba")
    from ember.backends.cpu import _rnn
    monkeypatch.setattr(_rnn, "_ROW_GRAIN", 1)
    T, B, I, H = 3, 40, 8, 150
    em, tm = _pair(np.float64, "RNN", input_size=I, hidden_size=H, batch_first=True)
    x, st = _inputs(np.float64, T, B, I, H, 1, 1, True, 0, True, lstm=False)
    expected = _run(torch, tm, x, st)
    old_n = ember.get_num_threads()
    for n in (1, 2):
        ember.set_num_threads(n)
        try:
            em.zero_grad()
            got = _run(ember, em, x, st)
        finally:
            ember.set_num_threads(old_n)
        _check(got, expected, np.float64)


def test_compiled_loops_are_the_ones_run(monkeypatch):
    """With the kernels on, the CPU runs the compiled loops (this file's
    "kernels" cases test them, not the NumPy loops again)."""
    pytest.importorskip("numba")
    from ember.backends.cpu import _numba, _pool
    if ember.get_default_device().type != "cpu" or not _pool.gemm_address(np.dtype(np.float32)):
        pytest.skip("the compiled loops need the CPU and NumPy's bundled OpenBLAS")
    calls = []

    def counted(name, fn):
        def run(*args):
            calls.append(name)
            return fn(*args)
        return run
    names = [f"{m}_{p}" for m in ("lstm", "gru", "rnn") for p in ("forward", "backward")]
    for name in names:
        monkeypatch.setattr(_numba, name, counted(name, getattr(_numba, name)))
    old = _jit.set_enabled(True)
    try:
        for name in ("LSTM", "GRU", "RNN"):
            em, _ = _pair(np.float32, name, input_size=3, hidden_size=4)
            out, _ = em(ember.randn(2, 3, 3))
            out.sum().backward()
    finally:
        _jit.set_enabled(old)
    assert calls == names


@pytest.mark.parametrize("proj,lengths", [(0, None), (3, [5, 2, 4, 1, 5, 3])])
def test_lstm_rows_split_over_threads(monkeypatch, proj, lengths):
    """With two intra-op threads each takes a range of batch rows through
    the whole sequence: the same numbers as one thread, and torch's."""
    pytest.importorskip("numba")
    from ember.backends.cpu import _rnn
    monkeypatch.setattr(_rnn, "_ROW_GRAIN", 1)     # (split even these small shapes)
    calls = []
    parallel_for = _rnn._pool.parallel_for
    monkeypatch.setattr(_rnn._pool, "parallel_for",
                        lambda k, n, grain: (calls.append((n, grain)), parallel_for(k, n, grain)))
    T, B, I, H = 5, 6, 3, 7
    em, tm = _pair(np.float64, input_size=I, hidden_size=H, num_layers=2, bidirectional=True,
                   batch_first=True, proj_size=proj)
    x, st = _inputs(np.float64, T, B, I, H, 2, 2, True, proj, True, seed=7)
    old_n = ember.get_num_threads()
    try:
        ember.set_num_threads(2)
        two = _ember_grads(em, x, st, True, True, lengths)
        em.zero_grad()
        res = _run(ember, em, x, st, lengths)
        em.zero_grad()
        ember.set_num_threads(1)
        one = _ember_grads(em, x, st, True, True, lengths)
    finally:
        ember.set_num_threads(old_n)
    if ember.get_default_device().type == "cpu" and _rnn._pool.gemm_address(np.dtype(np.float64)):
        assert calls and all(g == 1 for _, g in calls)     # (the CPU's kernels ran)
    for a, b in zip(two, one):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    _check(res, _run(torch, tm, x, st, lengths), np.float64)
