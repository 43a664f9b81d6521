"""EmbeddingBag / F.embedding_bag against torch: the three modes over 2-D
input and over 1-D input with offsets (empty bags, include_last_offset),
per_sample_weights, padding_idx, max_norm, from_pretrained, gradients,
gradcheck and errors."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck
from helpers import check, rand

W = rand(10, 4, seed=1)
FLAT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0, 7])
OFFSETS = np.array([0, 3, 3, 8])           # bag 1 is empty


def _F(lib):
    return lib.nn.functional


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_bag_2d_input(mode):
    idx = np.array([[1, 2, 4, 5], [4, 3, 2, 9], [0, 0, 7, 7]])
    check(lambda lib, w, i: _F(lib).embedding_bag(i, w, mode=mode), W, idx)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("last", [False, True])
def test_bag_offsets(mode, last):
    offs = np.append(OFFSETS, len(FLAT)) if last else OFFSETS
    check(lambda lib, w, i, o: _F(lib).embedding_bag(i, w, o, mode=mode,
                                                     include_last_offset=last), W, FLAT, offs)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("pad", [0, 4, -6])
def test_bag_padding_idx(mode, pad):
    check(lambda lib, w, i, o: _F(lib).embedding_bag(i, w, o, mode=mode, padding_idx=pad),
          W, FLAT, OFFSETS)


def test_bag_per_sample_weights():
    psw = rand(len(FLAT), seed=3)
    check(lambda lib, w, i, o, p: _F(lib).embedding_bag(i, w, o, mode="sum",
                                                        per_sample_weights=p),
          W, FLAT, OFFSETS, psw)
    idx = np.array([[1, 2, 4], [4, 3, 2]])
    check(lambda lib, w, i, p: _F(lib).embedding_bag(i, w, mode="sum", per_sample_weights=p,
                                                     padding_idx=2), W, idx, rand(2, 3, seed=4))


def test_bag_float32_and_max_norm():
    check(lambda lib, w, i, o: _F(lib).embedding_bag(i, w, o, mode="mean"),
          W.astype(np.float32), FLAT, OFFSETS, atol=1e-6, rtol=1e-5)
    # max_norm renormalises the looked-up rows of the weight in place, as torch does
    we, wt = ember.tensor(W * 3), torch.tensor(W * 3)
    oe = ember.nn.functional.embedding_bag(ember.tensor(FLAT), we, ember.tensor(OFFSETS),
                                           max_norm=1.0)
    ot = torch.nn.functional.embedding_bag(torch.tensor(FLAT), wt, torch.tensor(OFFSETS),
                                           max_norm=1.0)
    np.testing.assert_allclose(oe.cpu().numpy(), ot.cpu().numpy(), atol=1e-12)
    np.testing.assert_allclose(we.cpu().numpy(), wt.cpu().numpy(), atol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_bag_gradcheck(mode):
    w = ember.tensor(rand(6, 3, seed=5), requires_grad=True)
    i, o = ember.tensor(np.array([1, 2, 4, 5, 3, 0])), ember.tensor(np.array([0, 2, 2]))
    assert gradcheck(lambda w: ember.nn.functional.embedding_bag(i, w, o, mode=mode), (w,))


def test_bag_module_and_from_pretrained():
    for kw in (dict(mode="sum"), dict(mode="max", padding_idx=3),
               dict(mode="mean", include_last_offset=True)):
        mods = {}
        for lib in (ember, torch):
            torch.manual_seed(0)
            m = lib.nn.EmbeddingBag(10, 4, **kw).double()
            m.weight.data.copy_(lib.tensor(W))
            mods[lib] = m
        offs = np.append(OFFSETS, len(FLAT)) if kw.get("include_last_offset") else OFFSETS
        check(lambda lib, i, o: mods[lib](i, o), FLAT, offs)
        assert repr(mods[ember]) == repr(mods[torch])
        assert list(mods[ember].state_dict()) == list(mods[torch].state_dict())
    for freeze in (True, False):
        e = ember.nn.EmbeddingBag.from_pretrained(ember.tensor(W), freeze=freeze, mode="sum")
        t = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(W), freeze=freeze, mode="sum")
        assert e.weight.requires_grad == t.weight.requires_grad
        check(lambda lib, i: {ember: e, torch: t}[lib](i), np.array([[1, 2], [3, 3]]))


@pytest.mark.parametrize("kw", [
    dict(mode="median"),
    dict(mode="mean", per_sample_weights=np.ones(11)),
    dict(offsets=None),
    dict(input=np.array([[1, 2], [3, 4]])),     # 2-D input with offsets
    dict(input=np.zeros((2, 2, 2), np.int64), offsets=None),
    dict(input=np.array([1.0, 2.0])),
])
def test_bag_errors_match_torch(kw):
    def run(lib):
        a = dict(input=FLAT, weight=W, offsets=OFFSETS)
        a.update(kw)
        a = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in a.items()}
        return lib.nn.functional.embedding_bag(**a)
    with pytest.raises(Exception) as te:
        run(torch)
    with pytest.raises(type(te.value)) as ee:
        run(ember)
    want = str(te.value).replace(str(torch.Tensor), str(ember.Tensor))
    assert str(ee.value) == want.replace("torch.", "ember.")
