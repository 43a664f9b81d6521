"""Random sampling: same distributions as torch, repeatable under manual_seed."""
import numpy as np
import pytest

import ember


def test_manual_seed_repeats_and_generators_are_independent():
    ember.manual_seed(3)
    a = ember.randn(5)
    ember.manual_seed(3)
    assert ember.randn(5).tolist() == a.tolist()
    g = ember.Generator().manual_seed(7)
    x = ember.rand(3, generator=g)
    g.manual_seed(7)
    assert ember.rand(3, generator=g).tolist() == x.tolist()
    state = ember.get_rng_state()
    u = ember.rand(4)
    ember.set_rng_state(state)
    assert ember.rand(4).tolist() == u.tolist()


def test_distributions_moments():
    n = 200_000
    assert abs(ember.randn(n).mean().item()) < 0.01 and abs(ember.randn(n).std().item() - 1) < 0.01
    r = ember.rand(n)
    assert 0 <= r.min().item() and r.max().item() < 1 and abs(r.mean().item() - 0.5) < 0.01
    k = ember.randint(3, 7, (n,))
    assert k.dtype is ember.int64 and set(np.unique(k.numpy())) == {3, 4, 5, 6}
    p = ember.randperm(10)
    assert sorted(p.tolist()) == list(range(10))
    nm = ember.normal(2.0, 3.0, size=(n,))
    assert abs(nm.mean().item() - 2) < 0.05 and abs(nm.std().item() - 3) < 0.05
    b = ember.bernoulli(ember.full((n,), 0.3))
    assert abs(b.mean().item() - 0.3) < 0.01


def test_multinomial():
    w = ember.tensor([0.0, 1.0, 3.0])
    s = ember.multinomial(w, 20000, replacement=True)
    counts = np.bincount(s.numpy(), minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.3
    s2 = ember.multinomial(ember.ones(2, 5), 5)
    assert all(sorted(r) == list(range(5)) for r in s2.tolist())
    with pytest.raises(RuntimeError, match="without replacement"):
        ember.multinomial(ember.ones(3), 4)


def test_inplace_samplers():
    w = ember.empty(1000, 100)
    w.normal_(1.0, 0.5)
    assert abs(w.mean().item() - 1) < 0.01 and abs(w.std().item() - 0.5) < 0.01
    w.uniform_(-2, 2)
    assert -2 <= w.min().item() and w.max().item() < 2
    p = ember.nn.Parameter(ember.empty(3))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        p.normal_()
    with ember.no_grad():
        p.normal_()
    p.data.uniform_()
    assert ember.empty(100, dtype=ember.int64).random_(5).max().item() < 5
