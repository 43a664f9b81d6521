"""Reference models (ember.models): each runs forward/backward, and the SAME
model file run under real torch (its ``import ember as torch`` rewritten to
``import torch``) gives the same outputs and gradients from the same weights."""
import importlib
import inspect
import re
import sys
import types

import numpy as np
import pytest
import torch

import ember
from ember import nn

from helpers import assert_close

_IMPORT = re.compile(r"^(\s*)(import|from) ember\b", re.M)


def torch_twin(module_name):
    """Import ``module_name`` (an ember model file) with every ``ember`` import
    rewritten to ``torch``: the same source, run by torch."""
    src = inspect.getsource(importlib.import_module(module_name))
    src = _IMPORT.sub(r"\1\2 torch", src)
    twin = types.ModuleType(module_name + "_torch_twin")
    twin.__file__ = f"<torch twin of {module_name}>"
    sys.modules[twin.__name__] = twin  # dataclasses/typing may look the module up
    exec(compile(src, twin.__file__, "exec"), twin.__dict__)
    return twin


def copy_from_torch(em, tm):
    """Load torch module ``tm``'s state dict into Ember module ``em``."""
    state = {k: ember.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    em.load_state_dict(state)


def compare(em, tm, x, atol=1e-5, rtol=1e-4):
    """The same array ``x`` through both; compare outputs and every parameter's
    gradient under a random upstream gradient."""
    ye, yt = em(ember.tensor(x)), tm(torch.from_numpy(x.copy()))
    assert_close(ye, yt, atol, rtol)
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (ye * ember.tensor(w)).sum().backward()
    (yt * torch.from_numpy(w)).sum().backward()
    tgrads = dict(tm.named_parameters())
    egrads = dict(em.named_parameters())
    assert egrads.keys() == tgrads.keys()
    for name, p in egrads.items():
        assert p.grad is not None, f"{name} got no gradient"
        assert_close(p.grad, tgrads[name].grad, atol, rtol, what=f"grad of {name}")
    return ye, yt


def images(n, c, h, w, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)


# ---- MLP ---------------------------------------------------------------------------------

def test_mlp_forward_backward_shapes():
    from ember.models.mlp import MLP
    m = MLP()
    x = ember.randn(5, 1, 28, 28)
    y = m(x)
    assert y.shape == (5, 10)
    y.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())
    assert sum(p.numel() for p in m.parameters()) == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


def test_mlp_options():
    from ember.models.mlp import MLP
    assert MLP(4, hidden=(), num_classes=3)(ember.randn(2, 4)).shape == (2, 3)
    assert MLP(4, hidden=7, num_classes=3)(ember.randn(2, 4)).shape == (2, 3)
    m = MLP(4, hidden=(8, 8), dropout=0.5)
    assert sum(isinstance(l, nn.Dropout) for l in m.modules()) == 2
    m.eval()
    x = ember.randn(3, 4)
    assert ember.equal(m(x), m(x))  # dropout is off in eval mode


def test_mlp_matches_torch():
    T = torch_twin("ember.models.mlp")
    from ember.models.mlp import MLP
    torch.manual_seed(0)
    tm = T.MLP(784, hidden=(32, 16), num_classes=10, dropout=0.2).eval()
    em = MLP(784, hidden=(32, 16), num_classes=10, dropout=0.2).eval()
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    compare(em, tm, images(6, 1, 28, 28))


# ---- LeNet-5 -----------------------------------------------------------------------------

def test_lenet_forward_backward_shapes():
    from ember.models.lenet import LeNet5
    m = LeNet5()
    y = m(ember.randn(3, 1, 28, 28))
    assert y.shape == (3, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    assert LeNet5(num_classes=4, in_channels=3)(ember.randn(2, 3, 28, 28)).shape == (2, 4)
    assert sum(p.numel() for p in m.parameters()) == 61706  # LeNet-5's classic count


def test_lenet_matches_torch():
    T = torch_twin("ember.models.lenet")
    from ember.models.lenet import LeNet5
    torch.manual_seed(0)
    tm, em = T.LeNet5(), LeNet5()
    copy_from_torch(em, tm)
    compare(em, tm, images(4, 1, 28, 28))


# ---- ResNet ------------------------------------------------------------------------------

def test_resnet_depths_and_sizes():
    from ember.models import resnet
    # He et al. (2016) Table 6: ResNet-20 has 0.27M parameters
    assert sum(p.numel() for p in resnet.resnet20().parameters()) == 272474
    m = resnet.resnet_small(in_channels=1)
    assert m.depth == 8 and m.fc.in_features == 32
    y = m(ember.randn(2, 1, 32, 32))
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    # any input size: the final pooling is adaptive
    assert m(ember.randn(2, 1, 28, 28)).shape == (2, 10)
    for bad in (7, 9, 21):
        with pytest.raises(ValueError, match="6n \\+ 2"):
            resnet.ResNet(bad)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet_matches_torch(mode):
    T = torch_twin("ember.models.resnet")
    from ember.models.resnet import ResNet
    torch.manual_seed(0)
    tm = T.ResNet(14, num_classes=5, in_channels=3, width=4)
    em = ResNet(14, num_classes=5, in_channels=3, width=4)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    if mode == "eval":
        # give the BatchNorms running statistics first (and check they match)
        warm = images(8, 3, 16, 16, seed=2)
        em(ember.tensor(warm))
        tm(torch.from_numpy(warm))
        for (name, be), bt in zip(em.named_buffers(), tm.buffers()):
            assert_close(be, bt, 1e-5, 1e-4, what=name)
        em.eval()
        tm.eval()
    compare(em, tm, images(4, 3, 16, 16), atol=1e-4, rtol=1e-3)


# ---- CharLSTM ----------------------------------------------------------------------------

needs_lstm = pytest.mark.skipif(not hasattr(nn, "LSTM"), reason="nn.LSTM not available yet")


@needs_lstm
def test_char_lstm_forward_backward_and_state():
    from ember.models.lstm_lm import CharLSTM
    m = CharLSTM(vocab_size=11, embed_dim=8, hidden_size=16, num_layers=2)
    idx = ember.randint(0, 11, (3, 7))
    logits, (h, c) = m(idx)
    assert logits.shape == (3, 7, 11)
    assert h.shape == c.shape == (2, 3, 16)
    logits.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    # running the sequence in two pieces with the carried state gives the same logits
    with ember.no_grad():
        whole, _ = m(idx)
        first, st = m(idx[:, :4])
        second, _ = m(idx[:, 4:], st)
    np.testing.assert_allclose(ember.cat([first, second], 1).numpy(), whole.numpy(),
                               rtol=1e-5, atol=1e-6)


@needs_lstm
def test_char_lstm_tied_weights():
    from ember.models.lstm_lm import CharLSTM
    m = CharLSTM(vocab_size=9, embed_dim=12, hidden_size=12, num_layers=1, tie_weights=True)
    assert m.head.weight is m.embed.weight
    with pytest.raises(ValueError, match="tie_weights"):
        CharLSTM(vocab_size=9, embed_dim=8, hidden_size=12, tie_weights=True)


@needs_lstm
def test_char_lstm_generate():
    from ember.models.lstm_lm import CharLSTM
    m = CharLSTM(vocab_size=7, embed_dim=4, hidden_size=8, num_layers=1)
    m.train()
    prompt = ember.tensor([[1, 2, 3], [4, 5, 6]])
    g = lambda: ember.Generator().manual_seed(3)  # noqa: E731
    out = m.generate(prompt, 5, generator=g())
    assert out.shape == (2, 8) and out.dtype == ember.int64
    assert ember.equal(out[:, :3], prompt)
    assert int(out.min()) >= 0 and int(out.max()) < 7
    assert ember.equal(out, m.generate(prompt, 5, generator=g()))  # reproducible
    assert m.training  # mode restored
    # top_k=1 is greedy decoding: each new token is the argmax of the logits
    greedy = m.generate(prompt, 4, top_k=1)
    with ember.no_grad():
        logits, _ = m(greedy[:, :-1])
    assert ember.equal(logits[:, 2:].argmax(-1), greedy[:, 3:])
    with pytest.raises(ValueError, match="temperature"):
        m.generate(prompt, 1, temperature=0)


@needs_lstm
def test_char_lstm_matches_torch():
    T = torch_twin("ember.models.lstm_lm")
    from ember.models.lstm_lm import CharLSTM
    torch.manual_seed(0)
    tm = T.CharLSTM(13, embed_dim=6, hidden_size=10, num_layers=2)
    em = CharLSTM(13, embed_dim=6, hidden_size=10, num_layers=2)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    idx = np.random.default_rng(0).integers(0, 13, (3, 9))
    ye, (he, ce) = em(ember.tensor(idx))
    yt, (ht, ct) = tm(torch.from_numpy(idx))
    assert_close(ye, yt, 1e-5, 1e-4)
    assert_close(he, ht, 1e-5, 1e-4)
    assert_close(ce, ct, 1e-5, 1e-4)
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (ye * ember.tensor(w)).sum().backward()
    (yt * torch.from_numpy(w)).sum().backward()
    tp = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        assert_close(p.grad, tp[name].grad, 1e-5, 1e-4, what=f"grad of {name}")
