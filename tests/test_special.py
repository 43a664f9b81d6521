"""ember.special beyond the op registry's cases (tests/op_registry.py, "special."):
edge values, dtypes, which functions differentiate, double backward, names."""
import numpy as np
import pytest
import torch

import ember

EDGE = [0.0, -0.0, -1.0, 1.0, 2.0, -3.5, 30.0, -30.0, 1e-300, float("inf"), float("-inf"),
        float("nan")]

UNARY = ["entr", "erfcx", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr", "sinc",
         "expit", "logit", "log1p", "expm1", "exp2", "erf", "erfc", "erfinv", "gammaln",
         "digamma", "psi", "round", "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0",
         "bessel_y1", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
         "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
         "spherical_bessel_j0"]


def same(e, t, rtol=1e-12):
    assert str(e.dtype)[6:] == str(t.dtype)[6:], (e.dtype, t.dtype)
    assert e.requires_grad == t.requires_grad
    np.testing.assert_allclose(e.detach().cpu().numpy(), t.detach().cpu().numpy(), rtol=rtol, atol=1e-300)


def test_every_torch_special_name_exists():
    names = [n for n in dir(torch.special) if not n.startswith("_") and callable(
        getattr(torch.special, n)) and n not in ("Tensor",)]
    missing = [n for n in names if not hasattr(ember.special, n)]
    assert missing == []


# torch's own approximations of these are good to ~5e-10 relative (SciPy's to 1e-15)
_LOOSE = {"airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1"}


@pytest.mark.parametrize("name", UNARY)
def test_edge_values_float64(name):
    x = EDGE + ([0.5, 0.999, 1e-12] if name in ("ndtri", "logit", "erfinv") else [])
    e = getattr(ember.special, name)(ember.tensor(x, dtype=ember.float64, requires_grad=True))
    t = getattr(torch.special, name)(torch.tensor(x, dtype=torch.float64, requires_grad=True))
    # (ndtr(-30) is 4.9e-198: SciPy's value; torch's flushes it to 0)
    assert str(e.dtype)[6:] == str(t.dtype)[6:] and e.requires_grad == t.requires_grad
    np.testing.assert_allclose(e.detach().cpu().numpy(), t.detach().cpu().numpy(),
                               rtol=1e-8 if name in _LOOSE else 1e-10, atol=1e-150)


@pytest.mark.parametrize("name", [n for n in UNARY if n != "round"])
def test_integer_input_gives_default_float(name):
    e = getattr(ember.special, name)(ember.tensor([1, 2, 3]))
    t = getattr(torch.special, name)(torch.tensor([1, 2, 3]))
    same(e, t, 1e-6)


@pytest.mark.parametrize("name", ["entr", "erfcx", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri",
                                  "log_ndtr", "sinc"])
def test_gradients_at_edges(name):
    x = [0.0, -1.0, 2.0, float("nan"), 0.3]
    res = []
    for lib in (ember, torch):
        v = lib.tensor(x, dtype=lib.float64, requires_grad=True)
        g, = lib.autograd.grad(getattr(lib.special, name)(v).sum(), v)
        res.append(g.cpu().numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-10)


@pytest.mark.parametrize("name", ["entr", "erfcx", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri",
                                  "log_ndtr", "sinc"])
def test_double_backward(name):
    lo, hi = (0.1, 0.9) if name == "ndtri" else (0.2, 1.5)
    x = ember.tensor(np.linspace(lo, hi, 5), requires_grad=True)
    assert ember.autograd.gradgradcheck(getattr(ember.special, name), (x,))


def test_xlog1py_and_zeta_edges_and_grads():
    x = [0.0, 0.0, -1.0, 2.0, float("nan"), 1.0]
    y = [0.0, -1.0, -1.0, 2.0, 1.0, float("nan")]
    res = []
    for lib in (ember, torch):
        a = lib.tensor(x, dtype=lib.float64, requires_grad=True)
        b = lib.tensor(y, dtype=lib.float64, requires_grad=True)
        out = lib.special.xlog1py(a, b)
        res.append([out.detach().cpu().numpy()] + [g.cpu().numpy() for g in lib.autograd.grad(out.sum(), [a, b])])
        res[-1].append(lib.special.xlog1py(2, lib.tensor([0.5], dtype=lib.float64)).cpu().numpy())
        res[-1].append(lib.special.zeta(lib.tensor([2.0, 1.0, 0.5, 3.0]), 1.5).cpu().numpy())
    for e, t in zip(*res):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_zeta_is_not_differentiable_in_x():
    for lib in (ember, torch):
        x = lib.tensor([2.0, 3.0], requires_grad=True)
        with pytest.raises(NotImplementedError, match="the derivative for 'zeta' is not implemented"):
            lib.special.zeta(x, lib.tensor([1.0, 2.0])).sum().backward()


@pytest.mark.parametrize("name", ["bessel_j0", "airy_ai", "modified_bessel_k1"])
def test_no_gradient_functions_give_constant_outputs(name):
    x = ember.tensor([0.5, 1.5], requires_grad=True)
    assert not getattr(ember.special, name)(x).requires_grad
    assert not getattr(torch.special, name)(torch.tensor([0.5], requires_grad=True)).requires_grad


def test_polynomials_with_scalar_and_tensor_degrees():
    for name in ["chebyshev_polynomial_t", "hermite_polynomial_h", "legendre_polynomial_p",
                 "chebyshev_polynomial_w"]:
        same(getattr(ember.special, name)(ember.tensor([0.3, -0.7]), 3),
             getattr(torch.special, name)(torch.tensor([0.3, -0.7]), 3), 1e-6)
        same(getattr(ember.special, name)(0.3, ember.tensor([2.0, 3.0])),
             getattr(torch.special, name)(0.3, torch.tensor([2.0, 3.0])), 1e-6)
        same(getattr(ember.special, name)(ember.tensor([1, 2]), 3),
             getattr(torch.special, name)(torch.tensor([1, 2]), 3), 1e-6)


def test_reused_ops_are_the_same_functions():
    assert ember.special.gammaln is ember.ops.special.lgamma
    assert ember.special.multigammaln is ember.ops.special.mvlgamma
    x = ember.randn(5)
    for name, other in [("expit", "sigmoid"), ("erf", "erf"), ("logit", "logit"),
                        ("xlogy", "xlogy")]:
        args = (x.abs(), x.abs()) if name == "xlogy" else (x.sigmoid() if name == "logit" else x,)
        assert (getattr(ember.special, name)(*args) == getattr(ember, other)(*args)).all()


def test_i0_and_sinc_as_torch_functions_and_methods():
    for lib in (ember, torch):
        x = lib.tensor([0.0, 0.5, 2.0], dtype=lib.float64)
        y = x.clone()
        y.i0_()
        z = x.clone()
        lib.sinc_(z)
        assert np.allclose(y.cpu().numpy(), lib.i0(x).cpu().numpy()) and np.allclose(z.cpu().numpy(), x.sinc().cpu().numpy())
    same(ember.i0(ember.tensor([1.0])), torch.i0(torch.tensor([1.0])), 1e-6)


def test_special_errors_as_torch():
    for call in [lambda lib: lib.special.i0([1.0]), lambda lib: lib.special.xlog1py(1, 2),
                 lambda lib: lib.special.softmax(lib.ones(2))]:
        with pytest.raises(TypeError):
            call(torch)
        with pytest.raises(TypeError):
            call(ember)
