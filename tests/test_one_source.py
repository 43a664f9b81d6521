"""Ops that torch exposes under several names are one Op in Ember, so they
agree in every respect (values, gradients, second derivatives, NaN rules)."""
import math

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_functional_and_tensor_spellings_share_one_op(name):
    x = ember.randn(3, 4, requires_grad=True)
    nodes = {type(getattr(F, name)(x).grad_fn), type(getattr(ember, name)(x).grad_fn),
             type(getattr(x, name)().grad_fn)}
    assert len(nodes) == 1


@pytest.mark.parametrize("lib_f", ["F", "top", "method"])
def test_relu_gradient_at_nan_and_double_backward_match_torch(lib_f):
    vals = [-1.0, 0.0, 2.0, math.nan]
    def run(lib, Fn):
        x = lib.tensor(vals, dtype=lib.float64, requires_grad=True)
        y = {"F": lambda: Fn.relu(x), "top": lambda: lib.relu(x), "method": lambda: x.relu()}[lib_f]()
        g1, = lib.autograd.grad(y.sum(), x, retain_graph=True)   # (1 at NaN, as torch)
        g, = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        gg, = lib.autograd.grad(g.sum(), x)
        return g1.numpy(), g.detach().numpy(), gg.numpy()
    for a, b in zip(run(ember, F), run(torch, torch.nn.functional)):
        np.testing.assert_array_equal(a, b)
