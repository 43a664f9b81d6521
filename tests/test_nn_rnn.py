"""RNN / LSTM / GRU, their cells and the sequence-packing utilities against torch.

Each layer is built in both frameworks with torch's state dict copied into
Ember; outputs, final states, input / initial-state gradients and every
parameter gradient are compared (float64 tight, float32 loose) over the
configurations (layers, directions, batch_first, initial state, unbatched,
projections, no bias, packed sequences).  Plus gradcheck and double
backward, torch's error messages, and a short training run.
"""
import itertools

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import assert_close

MODES = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})]
T, B, I, H = 5, 3, 4, 6


def _pair_modules(name, dt=np.float64, **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(**kw)
    em = getattr(ember.nn, name)(**kw)
    tm.to(torch.float64 if dt == np.float64 else torch.float32)
    em.to(ember.float64 if dt == np.float64 else ember.float32)
    res = em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys
    return em, tm


def _flat(out):
    """Output structure -> list of tensors (PackedSequence -> its data)."""
    if isinstance(out, (tuple, list)):
        r = []
        for o in out:
            r += _flat(o)
        return r
    if hasattr(out, "batch_sizes"):
        return [out.data]
    return [out]


def _compare(em, tm, inputs, dt, train=True):
    """Run both on the same inputs; compare every output and every gradient."""
    em.train(train)
    tm.train(train)
    ins_e = [ember.tensor(a, requires_grad=True) if a is not None else None for a in inputs]
    ins_t = [torch.tensor(a, requires_grad=True) if a is not None else None for a in inputs]
    out_e = em(*_nest(ins_e))
    out_t = tm(*_nest(ins_t))
    fe, ft = _flat(out_e), _flat(out_t)
    assert len(fe) == len(ft)
    tol = {} if dt == np.float64 else dict(atol=1e-5, rtol=1e-4)
    rng = np.random.default_rng(1)
    le, lt = 0, 0
    for a, b in zip(fe, ft):
        assert_close(a, b, **tol)
        w = rng.standard_normal(tuple(b.shape)).astype(dt)
        le = le + (a * ember.tensor(w)).sum()
        lt = lt + (b * torch.tensor(w)).sum()
    lt.backward()
    le.backward()
    for a, b in zip(ins_e, ins_t):
        if b is not None:
            assert_close(a.grad, b.grad, what="input grad", **tol)
    pe = dict(em.named_parameters())
    for n, p in tm.named_parameters():
        assert_close(pe[n].grad, p.grad, what=f"grad of {n}", **tol)
    return out_e, out_t


def _nest(ins):
    """(x, h0, c0) -> (x, (h0, c0)) for LSTM-style calls; (x, h0) as is."""
    if len(ins) == 3:
        return ins[0], (ins[1], ins[2])
    return tuple(ins)


def _inputs(name, num_layers, bidir, batch_first, with_state, dt, proj=0, unbatched=False,
            seed=0):
    rng = np.random.default_rng(seed)
    D = 2 if bidir else 1
    xshape = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
    x = rng.standard_normal(xshape).astype(dt)
    if not with_state:
        return [x]
    hshape = (num_layers * D,) + (() if unbatched else (B,))
    h0 = rng.standard_normal(hshape + (proj or H,)).astype(dt)
    if name == "LSTM":
        c0 = rng.standard_normal(hshape + (H,)).astype(dt)
        return [x, h0, c0]
    return [x, h0]


# a half fraction of the 2^4 design (with_state = the xor of the others):
# every pair and triple of the four options still occurs
CONFIGS = [(nl, bd, bf, (nl == 2) ^ bd ^ bf)
           for nl, bd, bf in itertools.product([1, 2], [False, True], [False, True])]


@pytest.mark.parametrize("name,extra", MODES)
@pytest.mark.parametrize("num_layers,bidir,batch_first,with_state", CONFIGS)
def test_layers_float64(name, extra, num_layers, bidir, batch_first, with_state):
    em, tm = _pair_modules(name, input_size=I, hidden_size=H, num_layers=num_layers,
                           bidirectional=bidir, batch_first=batch_first, **extra)
    _compare(em, tm, _inputs(name, num_layers, bidir, batch_first, with_state, np.float64),
             np.float64)


@pytest.mark.parametrize("name,extra", MODES)
@pytest.mark.parametrize("bidir,with_state", [(False, False), (True, True)])
def test_layers_float32(name, extra, bidir, with_state):
    em, tm = _pair_modules(name, np.float32, input_size=I, hidden_size=H, num_layers=2,
                           bidirectional=bidir, batch_first=True, **extra)
    _compare(em, tm, _inputs(name, 2, bidir, True, with_state, np.float32), np.float32)


@pytest.mark.parametrize("name,extra", MODES)
@pytest.mark.parametrize("bidir,with_state,batch_first", [(False, False, False),
                                                          (True, True, False),
                                                          (True, True, True)])
def test_layers_unbatched(name, extra, bidir, with_state, batch_first):
    em, tm = _pair_modules(name, input_size=I, hidden_size=H, num_layers=2,
                           bidirectional=bidir, batch_first=batch_first, **extra)
    _compare(em, tm, _inputs(name, 2, bidir, batch_first, with_state, np.float64,
                             unbatched=True), np.float64)


@pytest.mark.parametrize("name,extra", MODES)
def test_layers_no_bias_eval_dropout(name, extra):
    em, tm = _pair_modules(name, input_size=I, hidden_size=H, num_layers=2, bias=False,
                           dropout=0.5, **extra)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    _compare(em, tm, _inputs(name, 2, False, False, True, np.float64), np.float64, train=False)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("bidir,batch_first,with_state,bias", [
    (False, False, False, True), (True, True, True, True), (True, False, True, False)])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_lstm_projection(bidir, batch_first, with_state, bias, dt):
    em, tm = _pair_modules("LSTM", dt, input_size=I, hidden_size=H, num_layers=2, proj_size=3,
                           bidirectional=bidir, batch_first=batch_first, bias=bias)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    _compare(em, tm, _inputs("LSTM", 2, bidir, batch_first, with_state, dt, proj=3), dt)


def test_dropout_between_layers_in_training():
    em = ember.nn.LSTM(I, H, num_layers=2, dropout=0.5).double()
    x = ember.tensor(np.random.default_rng(0).standard_normal((T, B, I)), requires_grad=True)
    em.eval()
    ref, _ = em(x)
    em.train()
    ember.manual_seed(1)
    out1, _ = em(x)
    ember.manual_seed(1)
    out2, _ = em(x)
    assert not np.allclose(out1.detach().numpy(), ref.detach().numpy())
    assert_close(out1, torch.tensor(out2.detach().numpy()))          # same seed, same mask
    out1.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        ember.nn.GRU(I, H, dropout=0.2)


# ---- cells ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,extra", [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}),
                                        ("RNNCell", {"nonlinearity": "relu"}),
                                        ("LSTMCell", {"bias": False})])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("unbatched,with_state", [(False, False), (False, True), (True, True),
                                                  (True, False)])
def test_cells(name, extra, dt, unbatched, with_state):
    em, tm = _pair_modules(name, dt, input_size=I, hidden_size=H, **extra)
    rng = np.random.default_rng(2)
    lead = () if unbatched else (B,)
    ins = [rng.standard_normal(lead + (I,)).astype(dt)]
    if with_state:
        ins.append(rng.standard_normal(lead + (H,)).astype(dt))
        if name == "LSTMCell":
            ins.append(rng.standard_normal(lead + (H,)).astype(dt))
    _compare(em, tm, ins, dt)


def test_cell_loop_matches_layer():
    """An LSTMCell unrolled by hand gives nn.LSTM's result (shared weights)."""
    lstm = ember.nn.LSTM(I, H).double()
    cell = ember.nn.LSTMCell(I, H).double()
    for a, b in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"),
                 ("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")):
        getattr(cell, a).data.copy_(getattr(lstm, b).data)
    x = ember.tensor(np.random.default_rng(0).standard_normal((T, B, I)))
    out, (h, c) = lstm(x)
    hc = None
    for t in range(T):
        hc = cell(x[t], hc)
    assert_close(hc[0], torch.tensor(h[0].detach().numpy()))
    assert_close(hc[1], torch.tensor(c[0].detach().numpy()))


# ---- packed sequences -------------------------------------------------------------------------

LENGTHS = [5, 3, 3, 1]


def _padded(dt=np.float64, batch_first=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(LENGTHS), 5, I) if batch_first else (5, len(LENGTHS), I))
    return x.astype(dt)


@pytest.mark.parametrize("name,extra", MODES + [("LSTM", {"proj_size": 2})])
@pytest.mark.parametrize("bidir,with_state,enforce_sorted", [
    (False, False, True), (True, True, True), (True, True, False), (False, True, False)])
def test_packed_sequence_layers(name, extra, bidir, with_state, enforce_sorted):
    lengths = LENGTHS if enforce_sorted else [3, 5, 1, 3]
    em, tm = _pair_modules(name, input_size=I, hidden_size=H, num_layers=2,
                           bidirectional=bidir, **extra)
    ins = _inputs(name, 2, bidir, True, with_state, np.float64, proj=extra.get("proj_size", 0))
    ins[1:] = [np.concatenate([a, a[:, :1] * 0.5], 1) for a in ins[1:]]   # batch of 4
    x = _padded(batch_first=True)
    for lib, m in ((ember, em), (torch, tm)):
        m.train()
    res = {}
    for lib, m in ((ember, em), (torch, tm)):
        xx = lib.tensor(x, requires_grad=True)
        states = [lib.tensor(a, requires_grad=True) for a in ins[1:]]
        packed = lib.nn.utils.rnn.pack_padded_sequence(xx, lengths, batch_first=True,
                                                       enforce_sorted=enforce_sorted)
        hx = None if not states else (states[0] if len(states) == 1 else tuple(states))
        out, hid = m(packed, hx)
        padded, lens = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                            padding_value=-1.0)
        flat = [padded] + _flat(hid)
        w = [np.random.default_rng(k).standard_normal(tuple(f.shape)) for k, f in enumerate(flat)]
        sum(((f * lib.tensor(wk)).sum() for f, wk in zip(flat, w)), lib.tensor(0.0)).backward()
        res[lib] = (flat, lens, xx.grad, [s.grad for s in states],
                    {n: p.grad for n, p in m.named_parameters()})
    (fe, le, ge, se, pe), (ft, lt, gt, st, pt) = res[ember], res[torch]
    assert_close(fe, ft)
    assert_close(le, lt)
    assert_close(ge, gt, what="input grad")
    assert_close(se, st, what="state grads")
    for n in pt:
        assert_close(pe[n], pt[n], what=f"grad of {n}")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_pad_roundtrip(batch_first, enforce_sorted):
    lengths = LENGTHS if enforce_sorted else [1, 5, 3, 3]
    x = _padded(batch_first=batch_first)
    res = {}
    for lib in (ember, torch):
        xx = lib.tensor(x, requires_grad=True)
        p = lib.nn.utils.rnn.pack_padded_sequence(xx, lib.tensor(lengths), batch_first,
                                                  enforce_sorted)
        padded, lens = lib.nn.utils.rnn.pad_packed_sequence(p, batch_first, 0.5, total_length=7)
        (padded * lib.tensor(np.arange(padded.numel()).reshape(padded.shape) * 1.0)).sum() \
            .backward()
        res[lib] = (p.data, p.batch_sizes, p.sorted_indices, p.unsorted_indices, padded, lens,
                    xx.grad)
    for a, b in zip(res[ember], res[torch]):
        if b is None:
            assert a is None
        else:
            assert_close(a, b)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_and_friends(batch_first, padding_side):
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 2)) for n in (2, 4, 1)]
    res = {}
    for lib in (ember, torch):
        ss = [lib.tensor(s, requires_grad=True) for s in seqs]
        padded = lib.nn.utils.rnn.pad_sequence(ss, batch_first, -2.0, padding_side)
        (padded * lib.tensor(np.arange(padded.numel()).reshape(padded.shape) * 1.0)).sum() \
            .backward()
        packed = lib.nn.utils.rnn.pack_sequence([s.detach() for s in ss], enforce_sorted=False)
        unpacked = lib.nn.utils.rnn.unpack_sequence(packed)
        lens = lib.tensor([2, 4, 1])
        unpadded = lib.nn.utils.rnn.unpad_sequence(
            lib.nn.utils.rnn.pad_sequence(ss, batch_first), lens, batch_first)
        res[lib] = [padded, packed.data, packed.batch_sizes] + unpacked + unpadded + \
            [s.grad for s in ss]
    assert_close(res[ember], res[torch])


def test_packing_errors_and_api():
    rnn_e = ember.nn.utils.rnn
    x = ember.zeros(5, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn_e.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        rnn_e.pack_padded_sequence(x, [2, 1, 0])
    p = rnn_e.pack_padded_sequence(x, [3, 2, 1])
    assert isinstance(p, tuple) and p.sorted_indices is None and p.unsorted_indices is None
    assert p.to(ember.float64).data.dtype == ember.float64 and not p.is_cuda
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        rnn_e.pad_packed_sequence(p, total_length=2)
    with pytest.raises(ValueError, match="Expected padding_side to be one of left or right"):
        rnn_e.pad_sequence([x[0]], padding_side="middle")
    assert rnn_e.invert_permutation(None) is None
    assert rnn_e.invert_permutation(ember.tensor([2, 0, 1])).tolist() == [1, 2, 0]


# ---- parameters, repr, init ----------------------------------------------------------------

@pytest.mark.parametrize("name,kw", [("LSTM", dict(num_layers=2, bidirectional=True)),
                                     ("LSTM", dict(proj_size=2, bias=False)),
                                     ("GRU", dict(num_layers=3, batch_first=True, dropout=0.1)),
                                     ("RNN", dict(nonlinearity="relu", bidirectional=True)),
                                     ("LSTMCell", {}), ("GRUCell", dict(bias=False)),
                                     ("RNNCell", dict(nonlinearity="relu"))])
def test_parameters_repr_and_init(name, kw):
    tm = getattr(torch.nn, name)(I, H, **kw)
    em = getattr(ember.nn, name)(I, H, **kw)
    assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    assert list(em.state_dict()) == list(tm.state_dict())
    assert repr(em) == repr(tm)
    bound = 1 / np.sqrt(H)
    for p in em.parameters():
        assert np.abs(p.detach().numpy()).max() <= bound
        assert p.requires_grad
    if "Cell" not in name:
        assert [[n for n in ws] for ws in em._all_weights] == tm._all_weights
        assert all(a is b for ra, rb in zip(em.all_weights, [[getattr(em, n) for n in ws]
                                                              for ws in em._all_weights])
                   for a, b in zip(ra, rb))
        em.flatten_parameters()
        assert len(em._flat_weights) == len(tm._flat_weights)


def test_state_dict_from_torch_drives_same_training():
    """A few SGD steps of a small LSTM language model track torch's losses."""
    V, E_, Hh = 11, 5, 7
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (4, 6))
    y = rng.integers(0, V, (4, 6))
    losses = {}
    torch.manual_seed(0)
    t_mods = [torch.nn.Embedding(V, E_), torch.nn.LSTM(E_, Hh, batch_first=True, num_layers=2),
              torch.nn.Linear(Hh, V)]
    for lib in (torch, ember):
        if lib is torch:
            mods = t_mods
        else:
            mods = [ember.nn.Embedding(V, E_), ember.nn.LSTM(E_, Hh, batch_first=True,
                                                             num_layers=2),
                    ember.nn.Linear(Hh, V)]
            for me, mt in zip(mods, t_mods0):
                me.load_state_dict({k: v.numpy().copy() for k, v in mt.items()})
        for m in mods:
            m.double()
        if lib is torch:
            t_mods0 = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in mods]
        params = [p for m in mods for p in m.parameters()]
        out = []
        for _ in range(4):
            h, _ = mods[1](mods[0](lib.tensor(x)))
            loss = lib.nn.functional.cross_entropy(mods[2](h).reshape(-1, V),
                                                   lib.tensor(y).reshape(-1))
            loss.backward()
            with lib.no_grad():          # plain SGD (torch's optimizers import dynamo: slow)
                for p in params:
                    p -= 0.5 * p.grad
                    p.grad = None
            out.append(loss.item())
        losses[lib] = out
    np.testing.assert_allclose(losses[ember], losses[torch], rtol=1e-9)


# ---- gradcheck / double backward ----------------------------------------------------------

@pytest.mark.parametrize("name,extra", MODES + [("LSTM", {"proj_size": 2})])
def test_gradcheck_and_double_backward(name, extra):
    Hs = 3 if extra.get("proj_size") else 2
    em = getattr(ember.nn, name)(2, Hs, bidirectional=True, batch_first=True, **extra).double()
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((1, 3, 2)), requires_grad=True)
    hshape = (2, 1, extra.get("proj_size", Hs))
    h0 = ember.tensor(rng.standard_normal(hshape), requires_grad=True)
    if name == "LSTM":
        c0 = ember.tensor(rng.standard_normal((2, 1, Hs)), requires_grad=True)

        def f(x, h0, c0):
            out, (h, c) = em(x, (h0, c0))
            return out, h, c
        args = (x, h0, c0)
    else:
        def f(x, h0):
            out, h = em(x, h0)
            return out, h
        args = (x, h0)
    assert gradcheck(f, args)
    w = em.weight_hh_l0_reverse
    assert gradcheck(lambda w_: _with_weight(em, "weight_hh_l0_reverse", w_, x), (w,))
    # second order (the recomputation path): both directions, a short sequence
    x2 = ember.tensor(rng.standard_normal((1, 2, 2)), requires_grad=True)
    assert gradgradcheck(lambda x: em(x)[0], (x2,))


def _with_weight(m, name, w, x):
    old = m._parameters[name]
    m._parameters[name] = w
    try:
        return m(x)[0]
    finally:
        m._parameters[name] = old


def test_packed_gradcheck():
    em = ember.nn.GRU(2, 2, bidirectional=True).double()
    x = ember.tensor(np.random.default_rng(0).standard_normal((3, 3, 2)), requires_grad=True)

    def f(x):
        p = ember.nn.utils.rnn.pack_padded_sequence(x, [3, 2, 1])
        out, h = em(p)
        return out.data, h
    assert gradcheck(f, (x,))
    em2 = ember.nn.LSTM(1, 2, bidirectional=True).double()
    x2 = ember.tensor(np.random.default_rng(1).standard_normal((2, 2, 1)), requires_grad=True)

    def g(x):
        out, (h, c) = em2(ember.nn.utils.rnn.pack_padded_sequence(x, [2, 1]))
        return out.data, c
    assert gradgradcheck(g, (x2,))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_hessian_vector_product_matches_torch(name):
    em, tm = _pair_modules(name, input_size=3, hidden_size=4, num_layers=2)
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3))
    res = {}
    for lib, m in ((ember, em), (torch, tm)):
        xx = lib.tensor(x, requires_grad=True)
        out, _ = m(xx)
        g, = lib.autograd.grad((out ** 2).sum(), xx, create_graph=True)
        res[lib] = lib.autograd.grad((g * lib.tensor(v)).sum(), [xx] + list(m.parameters()))
    assert_close(list(res[ember]), list(res[torch]))


# ---- errors ---------------------------------------------------------------------------------

def _err(fe, ft, exc):
    with pytest.raises(exc) as te:
        ft()
    with pytest.raises(exc) as ee:
        fe()
    want = str(te.value).replace("torch.", "ember.")
    assert str(ee.value) == want, (str(ee.value), want)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_forward_errors(name):
    m = {lib: getattr(lib.nn, name)(I, H, num_layers=2) for lib in (ember, torch)}
    lstm = name == "LSTM"

    def hx(lib, *shapes):
        hs = [lib.zeros(*s) for s in shapes]
        return tuple(hs) if lstm else hs[0]

    cases = [
        (lambda lib: m[lib](lib.zeros(2, 3, 4, I)), ValueError),
        (lambda lib: m[lib](lib.zeros(T, B, I + 1)), RuntimeError),
        (lambda lib: m[lib](lib.zeros(T, B, I), hx(lib, (1, B, H), (2, B, H))), RuntimeError),
        (lambda lib: m[lib](lib.zeros(T, B, I), hx(lib, (2, B, H), (2, B + 1, H)) if lstm
                            else lib.zeros(2, B + 1, H)), RuntimeError),
        (lambda lib: m[lib](lib.zeros(T, B, I), hx(lib, (B, H), (B, H))), RuntimeError),
        (lambda lib: m[lib](lib.zeros(T, I), hx(lib, (2, 1, H), (2, 1, H))), RuntimeError),
        (lambda lib: m[lib](lib.zeros(T, B, I, dtype=lib.float64)), ValueError),
    ]
    for fn, exc in cases:
        _err(lambda: fn(ember), lambda: fn(torch), exc)


def test_constructor_and_cell_errors():
    for kw, exc in [(dict(dropout=1.5), ValueError), (dict(dropout=True), ValueError),
                    (dict(proj_size=H), ValueError), (dict(proj_size=-1), ValueError),
                    (dict(bias=1), TypeError), (dict(batch_first=None), TypeError),
                    (dict(num_layers=0), ValueError)]:
        _err(lambda: ember.nn.LSTM(I, H, **kw), lambda: torch.nn.LSTM(I, H, **kw), exc)
    _err(lambda: ember.nn.LSTM(I, 0), lambda: torch.nn.LSTM(I, 0), ValueError)
    _err(lambda: ember.nn.LSTM(2.0, H), lambda: torch.nn.LSTM(2.0, H), TypeError)
    _err(lambda: ember.nn.GRU(I, H, proj_size=2), lambda: torch.nn.GRU(I, H, proj_size=2),
         ValueError)
    _err(lambda: ember.nn.RNN(I, H, nonlinearity="gelu"),
         lambda: torch.nn.RNN(I, H, nonlinearity="gelu"), ValueError)
    for name in ("LSTMCell", "GRUCell", "RNNCell"):
        m = {lib: getattr(lib.nn, name)(I, H) for lib in (ember, torch)}
        _err(lambda: m[ember](ember.zeros(2, 3, I)), lambda: m[torch](torch.zeros(2, 3, I)),
             ValueError)
        h_e = ember.zeros(1, 2, H)
        h_t = torch.zeros(1, 2, H)
        if name == "LSTMCell":
            h_e, h_t = (h_e, h_e), (h_t, h_t)
        _err(lambda: m[ember](ember.zeros(2, I), h_e), lambda: m[torch](torch.zeros(2, I), h_t),
             ValueError)
