"""The scalar engine's gradients equal torch's on the same expressions."""
import math
import random

import pytest
import torch

from ember.scalar import MLP, Value


def _expr(a, b, relu, tanh, exp, log, sigmoid):
    c = a * b + b ** 3 - a / b
    d = c * 2 + 1 / a + (b - a) ** 2
    e = relu(d) + tanh(c) + exp(a * 0.5) + log(b * b + 1.0) + sigmoid(c - d)
    f = 3 - e * e / 10 + 2 ** a
    return f


def test_gradients_match_torch():
    for av, bv in [(-4.0, 2.0), (1.5, -0.7), (0.3, 3.0)]:
        a, b = Value(av), Value(bv)
        f = _expr(a, b, Value.relu, Value.tanh, Value.exp, Value.log, Value.sigmoid)
        f.backward()
        ta = torch.tensor(av, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(bv, dtype=torch.float64, requires_grad=True)
        tf = _expr(ta, tb, torch.relu, torch.tanh, torch.exp, torch.log, torch.sigmoid)
        tf.backward()
        assert math.isclose(f.data, tf.item(), rel_tol=1e-12)
        assert math.isclose(a.grad, ta.grad.item(), rel_tol=1e-10)
        assert math.isclose(b.grad, tb.grad.item(), rel_tol=1e-10)


def test_reused_value_accumulates():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0


def test_value_to_value_power_matches_torch():
    a, b = Value(1.7), Value(0.6)
    (a ** b).backward()
    ta = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    (ta ** tb).backward()
    assert math.isclose(a.grad, ta.grad.item()) and math.isclose(b.grad, tb.grad.item())


def test_deep_graph_has_no_recursion_limit():
    x = Value(1.0)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def test_mlp_learns_a_toy_problem():
    rng = random.Random(0)
    model = MLP(2, [6, 1], rng=rng)
    xs = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(12)]
    ys = [1.0 if x0 * x1 > 0 else -1.0 for x0, x1 in xs]
    first = None
    for _ in range(60):
        loss = sum(((model(x) - y) ** 2 for x, y in zip(xs, ys)), Value(0.0)) * (1 / len(xs))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.3 * p.grad
        first = first if first is not None else loss.data
    assert loss.data < first * 0.5
    assert len(model.parameters()) == (2 * 6 + 6) + (6 + 1)


def test_bad_inputs():
    with pytest.raises(TypeError):
        Value(1.0) + "x"
    with pytest.raises(ValueError, match="expects 2 inputs"):
        MLP(2, [1])([1.0])
