"""nn.utils.parametrize and the parametrizations against torch: custom
parametrizations (chains, right_inverse, tuples of originals, caching,
removal, errors), parametrizations.weight_norm / spectral_norm /
orthogonal, the older hook-based weight_norm / spectral_norm (state-dict
keys, power iteration), parameters_to_vector / vector_to_parameters."""
import warnings

import numpy as np
import pytest
import torch

import ember
from helpers import assert_close

P = {ember: ember.nn.utils.parametrize, torch: torch.nn.utils.parametrize}


def _same_modules(make):
    """make(lib) in both libraries, Ember's loaded with torch's state."""
    torch.manual_seed(0)
    t = make(torch).double()
    e = make(ember).double()
    e.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    return e, t


def _x(*shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape)
    return ember.tensor(a), torch.tensor(a)


def _symmetric(lib):
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

        def right_inverse(self, A):
            return A.triu()
    return Symmetric()


def _scale(lib, k=2.0):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * k

        def right_inverse(self, A):
            return A / k
    return Scale()


def _compare_step(e, t, xe, xt):
    """Forward, then backward of a fixed function: outputs and every grad agree."""
    ye, yt = e(xe), t(xt)
    assert_close(ye, yt)
    (ye * ye).sum().backward()
    (yt * yt).sum().backward()
    te = dict(t.named_parameters())
    for k, p in e.named_parameters():
        assert_close(p.grad, te[k].grad, what=k)


def test_register_and_use_custom_parametrization():
    e, t = _same_modules(lambda lib: lib.nn.Linear(4, 4))
    for lib, m in ((ember, e), (torch, t)):
        P[lib].register_parametrization(m, "weight", _symmetric(lib))
    assert type(e).__name__ == type(t).__name__ == "ParametrizedLinear"
    assert repr(e).replace("ember", "torch") == repr(t)
    assert list(e.state_dict()) == list(t.state_dict())
    assert [k for k, _ in e.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert P[ember].is_parametrized(e) and P[ember].is_parametrized(e, "weight")
    assert not P[ember].is_parametrized(e, "bias")
    assert P[ember].type_before_parametrizations(e) is ember.nn.Linear
    assert isinstance(e.parametrizations.weight.original, ember.nn.Parameter)
    assert_close(e.weight, t.weight)
    _compare_step(e, t, *_x(3, 4))
    # other Linear instances are untouched
    assert type(ember.nn.Linear(2, 2)) is ember.nn.Linear


def test_chain_assignment_and_cached():
    e, t = _same_modules(lambda lib: lib.nn.Linear(3, 3))
    for lib, m in ((ember, e), (torch, t)):
        P[lib].register_parametrization(m, "weight", _symmetric(lib))
        P[lib].register_parametrization(m, "weight", _scale(lib, 3.0))
    assert_close(e.weight, t.weight)
    a = np.arange(9.0).reshape(3, 3)
    a = a + a.T
    e.weight = ember.tensor(a)
    t.weight = torch.tensor(a)
    assert_close(e.parametrizations.weight.original, t.parametrizations.weight.original)
    assert_close(e.weight, t.weight)
    with P[ember].cached():
        w1, w2 = e.weight, e.weight
        assert w1 is w2
    assert e.weight is not e.weight
    _compare_step(e, t, *_x(2, 3))


def test_buffer_and_tuple_right_inverse():
    class Split(ember.nn.Module):
        def forward(self, a, b):
            return a + b

        def right_inverse(self, x):
            return x * 0.25, x * 0.75

    class SplitT(torch.nn.Module):
        forward = Split.forward
        right_inverse = Split.right_inverse

    e, t = _same_modules(lambda lib: lib.nn.BatchNorm1d(3))
    P[ember].register_parametrization(e, "running_mean", Split())
    P[torch].register_parametrization(t, "running_mean", SplitT())
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.parametrizations.running_mean.original1,
                 t.parametrizations.running_mean.original1)
    assert_close(e.running_mean, t.running_mean)
    with pytest.raises(ValueError, match="sequence of tensors"):
        P[ember].remove_parametrizations(e, "running_mean", leave_parametrized=False)
    P[ember].remove_parametrizations(e, "running_mean")
    P[torch].remove_parametrizations(t, "running_mean")
    assert type(e) is ember.nn.BatchNorm1d
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.running_mean, t.running_mean)


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations(leave):
    e, t = _same_modules(lambda lib: lib.nn.Linear(3, 3))
    for lib, m in ((ember, e), (torch, t)):
        P[lib].register_parametrization(m, "weight", _symmetric(lib))
        P[lib].remove_parametrizations(m, "weight", leave_parametrized=leave)
    assert type(e) is ember.nn.Linear and not hasattr(e, "parametrizations")
    assert isinstance(e.weight, ember.nn.Parameter)
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.weight, t.weight)


def test_parametrize_errors():
    def same(fn):
        with pytest.raises(Exception) as te:
            fn(torch)
        with pytest.raises(type(te.value)) as ee:
            fn(ember)
        assert str(ee.value) == str(te.value).replace("torch.", "ember."), (ee.value, te.value)

    class Shrink:
        @staticmethod
        def make(lib):
            class S(lib.nn.Module):
                def forward(self, X):
                    return X[:2]
            return S()

    same(lambda lib: P[lib].register_parametrization(lib.nn.Linear(3, 3), "weight",
                                                     Shrink.make(lib)))
    same(lambda lib: P[lib].remove_parametrizations(lib.nn.Identity(), "weight"))
    same(lambda lib: P[lib].register_parametrization(lib.nn.Linear(3, 3), "nope",
                                                     _symmetric(lib)))

    def assign_without_inverse(lib):
        class NoInv(lib.nn.Module):
            def forward(self, X):
                return X + 1
        m = P[lib].register_parametrization(lib.nn.Linear(2, 2), "weight", NoInv())
        m.weight = lib.zeros(2, 2)
    same(assign_without_inverse)
    # unsafe=True lets a parametrization change the shape
    m = P[ember].register_parametrization(ember.nn.Linear(3, 3), "weight", Shrink.make(ember),
                                          unsafe=True)
    assert m.weight.shape == (2, 3)


def test_optimizer_keeps_training_the_original():
    e, t = _same_modules(lambda lib: lib.nn.Linear(3, 3))
    for lib, m in ((ember, e), (torch, t)):
        P[lib].register_parametrization(m, "weight", _symmetric(lib))
    oe = ember.optim.SGD(e.parameters(), lr=0.1)
    ot = torch.optim.SGD(t.parameters(), lr=0.1)
    xe, xt = _x(4, 3)
    for _ in range(3):
        for m, o, x in ((e, oe, xe), (t, ot, xt)):
            o.zero_grad()
            (m(x) ** 2).mean().backward()
            o.step()
    assert_close(e.weight, t.weight)


# ---- parametrizations.weight_norm / spectral_norm / orthogonal ----------------------------

@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization(dim):
    e, t = _same_modules(lambda lib: lib.nn.Conv1d(2, 3, 3))
    ember.nn.utils.parametrizations.weight_norm(e, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(t, dim=dim)
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.parametrizations.weight.original0, t.parametrizations.weight.original0)
    _compare_step(e, t, *_x(2, 2, 5))


def test_weight_norm_loads_old_state_dict():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = torch.nn.utils.weight_norm(torch.nn.Linear(3, 2).double())
    sd = {k: v.detach().numpy().copy() for k, v in old.state_dict().items()}
    e = ember.nn.utils.parametrizations.weight_norm(ember.nn.Linear(3, 2).double())
    e.load_state_dict(sd)
    xe, xt = _x(4, 3)
    assert_close(e(xe), old(xt))


@pytest.mark.parametrize("make", [lambda lib: lib.nn.Linear(4, 3),
                                  lambda lib: lib.nn.Conv2d(2, 3, 2),
                                  lambda lib: lib.nn.ConvTranspose2d(2, 3, 2)])
def test_spectral_norm_parametrization(make):
    e, t = _same_modules(make)
    ember.nn.utils.parametrizations.spectral_norm(e)
    torch.nn.utils.parametrizations.spectral_norm(t)
    assert list(e.state_dict()) == list(t.state_dict())
    # the power iteration starts from random vectors: start Ember from torch's
    e.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    x = (4, 4) if isinstance(t, torch.nn.Linear) else (1, 2, 4, 4)
    for _ in range(2):
        _compare_step(e, t, *_x(*x))
        assert_close(e.parametrizations.weight[0]._u, t.parametrizations.weight[0]._u)
    e.eval()
    t.eval()
    assert_close(e.weight, t.weight)


def test_spectral_norm_bounds_the_largest_singular_value():
    m = ember.nn.utils.parametrizations.spectral_norm(ember.nn.Linear(6, 5).double(),
                                                      n_power_iterations=30)
    s = np.linalg.svd(m.weight.detach().numpy(), compute_uv=False)
    np.testing.assert_allclose(s[0], 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        ember.nn.utils.parametrizations.spectral_norm(ember.nn.Linear(2, 2),
                                                      n_power_iterations=0)


@pytest.mark.parametrize("shape,omap", [((4, 4), None), ((4, 4), "cayley"),
                                        ((4, 4), "householder"), ((3, 5), None),
                                        ((5, 3), "matrix_exp"), ((5, 3), "cayley")])
def test_orthogonal(shape, omap):
    e, t = _same_modules(lambda lib: lib.nn.Linear(shape[1], shape[0]))
    ember.nn.utils.parametrizations.orthogonal(e, orthogonal_map=omap)
    torch.nn.utils.parametrizations.orthogonal(t, orthogonal_map=omap)
    assert list(e.state_dict()) == list(t.state_dict())
    # the first min(n, k) columns of the base are the weight's own QR factor
    assert_close(e.weight, t.weight, atol=1e-12)
    # completing a tall matrix to a square one draws random columns: take torch's
    e.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    oe = ember.optim.SGD(e.parameters(), lr=0.2)
    ot = torch.optim.SGD(t.parameters(), lr=0.2)
    xe, xt = _x(3, shape[1])
    for _ in range(2):
        for m, o, x in ((e, oe, xe), (t, ot, xt)):
            o.zero_grad()
            (m(x) ** 3).mean().backward()
            o.step()
    assert_close(e.weight, t.weight, atol=1e-12)
    w = e.weight.detach().numpy()
    g = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(g, np.eye(min(shape)), atol=1e-12)


def test_orthogonal_without_trivialization_and_errors():
    e, t = _same_modules(lambda lib: lib.nn.Linear(3, 5))
    ember.nn.utils.parametrizations.orthogonal(e, use_trivialization=False)
    torch.nn.utils.parametrizations.orthogonal(t, use_trivialization=False)
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.weight, t.weight, atol=1e-12)
    _compare_step(e, t, *_x(2, 3))
    for lib in (ember, torch):
        with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
            lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), orthogonal_map="qr")
        with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
            lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), "bias")


# ---- the older hook-based forms -------------------------------------------------------

def test_old_weight_norm():
    e, t = _same_modules(lambda lib: lib.nn.Linear(3, 4))
    for lib, m in ((ember, e), (torch, t)):
        with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
            lib.nn.utils.weight_norm(m)
    assert list(e.state_dict()) == list(t.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert_close(e.weight_g, t.weight_g)
    _compare_step(e, t, *_x(2, 3))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            ember.nn.utils.weight_norm(e)
    for lib, m in ((ember, e), (torch, t)):
        lib.nn.utils.remove_weight_norm(m)
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.weight, t.weight)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in"):
        ember.nn.utils.remove_weight_norm(e)


def test_old_spectral_norm():
    e, t = _same_modules(lambda lib: lib.nn.Conv2d(2, 3, 2))
    ember.nn.utils.spectral_norm(e)
    torch.nn.utils.spectral_norm(t)
    assert list(e.state_dict()) == list(t.state_dict()) == [
        "bias", "weight_orig", "weight_u", "weight_v"]
    e.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    for _ in range(2):
        _compare_step(e, t, *_x(1, 2, 4, 4))
        assert_close(e.weight_u, t.weight_u)
        assert_close(e.weight_v, t.weight_v)
    for lib, m in ((ember, e), (torch, t)):
        m.eval()
        lib.nn.utils.remove_spectral_norm(m)
    assert list(e.state_dict()) == list(t.state_dict())
    assert_close(e.weight, t.weight)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in"):
        ember.nn.utils.remove_spectral_norm(e)


def test_parameters_to_vector_round_trip():
    e, t = _same_modules(lambda lib: lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.Linear(2, 1)))
    ve = ember.nn.utils.parameters_to_vector(e.parameters())
    vt = torch.nn.utils.parameters_to_vector(t.parameters())
    assert_close(ve, vt)
    ember.nn.utils.vector_to_parameters(ve * 2, e.parameters())
    torch.nn.utils.vector_to_parameters(vt * 2, t.parameters())
    for (k, a), (_, b) in zip(e.named_parameters(), t.named_parameters()):
        assert_close(a, b, what=k)


def test_gan_discriminator_with_spectral_norm_trains_as_torch():
    """A DCGAN-style discriminator with spectral-normalised convolutions (the
    hook-based form, and the parametrization on the last layer): three Adam
    steps from torch's weights and power-iteration vectors give torch's losses."""
    def make(lib):
        sn, psn = lib.nn.utils.spectral_norm, lib.nn.utils.parametrizations.spectral_norm
        return lib.nn.Sequential(
            sn(lib.nn.Conv2d(1, 4, 3, stride=2, padding=1)), lib.nn.LeakyReLU(0.2),
            sn(lib.nn.Conv2d(4, 8, 3, stride=2, padding=1)), lib.nn.LeakyReLU(0.2),
            lib.nn.Flatten(), psn(lib.nn.Linear(32, 1)))

    e, t = _same_modules(make)
    e.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    xe, xt = _x(5, 1, 8, 8, seed=4)
    labels = np.array([1.0, 0, 1, 0, 1]).reshape(5, 1)
    losses = {}
    for lib, m, x in ((ember, e, xe), (torch, t, xt)):
        opt = lib.optim.Adam(m.parameters(), lr=2e-3, betas=(0.5, 0.999))
        out = []
        for _ in range(3):
            opt.zero_grad()
            loss = lib.nn.functional.binary_cross_entropy_with_logits(m(x), lib.tensor(labels))
            loss.backward()
            opt.step()
            out.append(loss.item())
        losses[lib] = out
    np.testing.assert_allclose(losses[ember], losses[torch], rtol=1e-9)
