"""CTC loss against torch: padded and concatenated targets, every reduction,
zero_infinity, unbatched input, lengths as tuples, float32, the gradient
torch's backward gives for log_probs, gradcheck through log_softmax, errors."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck
from helpers import check

T, N, C = 7, 3, 5
TARGETS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 1, 4]])
IN_LEN = np.array([7, 5, 6])
TGT_LEN = np.array([3, 2, 4])


def _lp(dtype=np.float64, seed=0, shape=(T, N, C)):
    x = np.random.default_rng(seed).standard_normal(shape)
    x = x - np.log(np.exp(x).sum(-1, keepdims=True))          # log-softmax rows
    return x.astype(dtype)


def _concat(targets, lengths):
    return np.concatenate([row[:n] for row, n in zip(targets, lengths)])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_ctc_matches_torch(reduction, layout):
    tg = TARGETS if layout == "padded" else _concat(TARGETS, TGT_LEN)
    check(lambda lib, lp, t, il, tl: lib.nn.functional.ctc_loss(lp, t, il, tl,
                                                                reduction=reduction),
          _lp(), tg, IN_LEN, TGT_LEN)


@pytest.mark.parametrize("blank", [0, 2, 4])
def test_ctc_blank_and_repeats(blank):
    # repeated labels need a blank between them: tight input lengths make that bind
    tg = np.array([[1, 1, 3], [0, 3, 3], [2, 2, 2]])
    tg = np.where(tg == blank, (blank + 1) % C, tg)
    check(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp, t, (7, 6, 5), (3, 3, 3),
                                                        blank=blank, reduction="none"),
          _lp(seed=3), tg)


def test_ctc_zero_infinity():
    # the third target (4, 4, 4) needs 5 frames; it gets 3: infinite loss
    tg = np.array([[1, 2, 0], [3, 0, 0], [4, 4, 4]])
    il, tl = np.array([7, 4, 3]), np.array([2, 1, 3])
    for red in ("none", "mean", "sum"):
        check(lambda lib, lp, t, i, n: lib.nn.functional.ctc_loss(
            lp, t, i, n, reduction=red, zero_infinity=True), _lp(), tg, il, tl)
    # without zero_infinity: inf loss, and torch's nan gradient for that sequence
    check(lambda lib, lp, t, i, n: lib.nn.functional.ctc_loss(lp, t, i, n, reduction="none"),
          _lp(), tg, il, tl)


def test_ctc_empty_targets_and_lengths():
    tg = np.array([[1, 2], [0, 0], [3, 0]])
    check(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp, t, [7, 7, 2], [2, 0, 1],
                                                        reduction="mean"), _lp(), tg)
    check(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp, t, [7, 7, 2], [0, 0, 0]),
          _lp(), tg)


def test_ctc_unbatched_and_scalar_lengths():
    lp = _lp(shape=(6, C))
    for red in ("none", "mean", "sum"):
        check(lambda lib, x, t: lib.nn.functional.ctc_loss(x, t, (6,), (3,), reduction=red),
              lp, np.array([1, 2, 2]))
    check(lambda lib, x, t: lib.nn.functional.ctc_loss(x, t, lib.tensor(6), lib.tensor(3)),
          lp, np.array([1, 2, 2]))


def test_ctc_float32_and_int32_lengths():
    check(lambda lib, lp, t, il, tl: lib.nn.functional.ctc_loss(lp, t, il, tl),
          _lp(np.float32), TARGETS.astype(np.int32), IN_LEN.astype(np.int32),
          TGT_LEN.astype(np.int32), atol=1e-5, rtol=1e-4)


def test_ctc_module_and_through_log_softmax():
    x = np.random.default_rng(5).standard_normal((T, N, C))
    check(lambda lib, z, t: lib.nn.CTCLoss(blank=1, zero_infinity=True)(
        z.log_softmax(2), t, lib.tensor(IN_LEN), lib.tensor(TGT_LEN)),
        x, np.where(TARGETS == 1, 2, TARGETS))
    assert repr(ember.nn.CTCLoss()) == repr(torch.nn.CTCLoss())


def test_ctc_gradcheck_through_log_softmax():
    # torch's gradient for log_probs is the one for the logits under a
    # log_softmax, so (as in torch's own tests) gradcheck goes through one
    x = ember.tensor(np.random.default_rng(1).standard_normal((5, 2, 4)), requires_grad=True)
    t = ember.tensor(np.array([[1, 3], [2, 0]]))
    assert gradcheck(lambda z: ember.nn.functional.ctc_loss(z.log_softmax(2), t, (5, 4), (2, 1)),
                     (x,))


def test_ctc_double_backward_refused():
    lp = ember.tensor(_lp(), requires_grad=True)
    loss = ember.nn.functional.ctc_loss(lp, ember.tensor(TARGETS), ember.tensor(IN_LEN),
                                        ember.tensor(TGT_LEN))
    g, = ember.autograd.grad(loss, lp, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


@pytest.mark.parametrize("kw", [
    dict(input_lengths=np.array([8, 5, 6])),
    dict(input_lengths=np.array([-1, 5, 6])),
    dict(target_lengths=np.array([5, 2, 4])),
    dict(target_lengths=np.array([-1, 2, 4])),
    dict(input_lengths=np.array([7, 5])),
    dict(blank=5),
    dict(blank=-1),
    dict(reduction="avg"),
    dict(targets=np.array([1, 2, 2, 3, 1])),
    dict(input_lengths=np.array([7.0, 5.0, 6.0])),
])
def test_ctc_errors_match_torch(kw):
    def run(lib):
        a = dict(log_probs=_lp(), targets=TARGETS, input_lengths=IN_LEN,
                 target_lengths=TGT_LEN)
        a.update(kw)
        a = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in a.items()}
        return lib.nn.functional.ctc_loss(**a)
    with pytest.raises(Exception) as te:
        run(torch)
    with pytest.raises(type(te.value)) as ee:
        run(ember)
    assert str(ee.value) == str(te.value)


def test_ctc_label_out_of_range_is_refused():
    # torch reads past the class axis here (undefined); Ember names the problem
    with pytest.raises(RuntimeError, match="target labels must be in"):
        ember.nn.functional.ctc_loss(ember.tensor(_lp()), ember.tensor(TARGETS + 3),
                                     ember.tensor(IN_LEN), ember.tensor(TGT_LEN))


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ctc_compiled_and_generic_kernels_agree_with_torch(on, dtype):
    """The CPU table's compiled recursion (Numba) and the generic formula each
    give torch's values, including an infeasible sequence and an empty input."""
    from ember.backends.cpu import _jit
    if on:
        pytest.importorskip("numba")
    old = _jit.set_enabled(on)
    try:
        tg = np.array([[1, 2, 2], [3, 3, 0], [4, 4, 4], [1, 0, 0]])
        tol = dict(atol=1e-5, rtol=1e-4) if dtype == np.float32 else {}
        check(lambda lib, lp, t: lib.nn.functional.ctc_loss(lp, t, (7, 6, 4, 5), (3, 2, 3, 1),
                                                            reduction="none"),
              _lp(dtype, seed=7, shape=(7, 4, 5)), tg, **tol)
    finally:
        _jit.set_enabled(old)


def _train_ctc(lib, state, x, tg, il, tl, steps=3):
    """A tiny speech-recognition-style model: a bidirectional GRU over frames,
    a linear layer to C classes, log_softmax, CTC, Adam."""
    class Model(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = lib.nn.GRU(6, 5, bidirectional=True)
            self.out = lib.nn.Linear(10, C)

        def forward(self, frames):
            h, _ = self.rnn(frames)
            return self.out(h).log_softmax(2)

    model = Model().double()
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    opt = lib.optim.Adam(model.parameters(), lr=0.05)
    crit = lib.nn.CTCLoss(zero_infinity=True)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = crit(model(lib.tensor(x)), lib.tensor(tg), lib.tensor(il), lib.tensor(tl))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_ctc_training_loop_matches_torch():
    torch.manual_seed(0)

    class Init(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(6, 5, bidirectional=True)
            self.out = torch.nn.Linear(10, C)
    state = {k: v.double().numpy().copy() for k, v in Init().state_dict().items()}
    x = np.random.default_rng(3).standard_normal((T, N, 6))
    le = _train_ctc(ember, state, x, TARGETS, IN_LEN, TGT_LEN)
    lt = _train_ctc(torch, state, x, TARGETS, IN_LEN, TGT_LEN)
    np.testing.assert_allclose(le, lt, rtol=1e-9)
