"""complex64/complex128 against torch: creation, promotion, printing, arithmetic, views of
the parts, conjugation, matmul, reductions, the errors torch raises, and gradients with
torch's convention (dL/dRe z + i dL/dIm z), by comparison with torch and by gradcheck."""
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, rand, assert_close

C128, C64 = np.complex128, np.complex64


def z(*shape, dtype=C128, seed=0):
    return rand(*shape, dtype=dtype, seed=seed)


# ---- dtypes, creation, promotion, printing ---------------------------------------------------

def test_dtype_objects():
    assert ember.cfloat is ember.complex64 and ember.cdouble is ember.complex128
    for e, t in ((ember.complex64, torch.complex64), (ember.complex128, torch.complex128)):
        assert e.is_complex and not e.is_floating_point and e.is_signed
        assert e.itemsize == t.itemsize
        assert repr(e.to_real()) == repr(t.to_real()).replace("torch", "ember")
    assert ember.float32.to_complex() is ember.complex64
    assert ember.float64.to_complex() is ember.complex128
    assert ember.finfo(ember.complex64).eps == torch.finfo(torch.complex64).eps


def test_creation_infers_complex_from_the_default_dtype():
    assert ember.tensor([1 + 2j]).dtype is ember.complex64
    assert ember.tensor(1j).dtype is ember.complex64
    assert ember.tensor([1, 2.5, 3j]).dtype is ember.complex64
    assert ember.tensor(np.array([1j])).dtype is ember.complex128
    assert ember.zeros(2, dtype=ember.cfloat).dtype is ember.complex64
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor([1j]).dtype is ember.complex128
    finally:
        ember.set_default_dtype(ember.float32)
    e = ember.tensor([[1 + 2j, 3 - 4j]], dtype=ember.complex128)
    assert e.is_complex() and ember.is_complex(e) and not e.is_floating_point()
    np.testing.assert_array_equal(e.numpy(), [[1 + 2j, 3 - 4j]])


@pytest.mark.parametrize("a,b", [
    ("float32", "complex64"), ("float64", "complex64"), ("float16", "complex64"),
    ("int64", "complex64"), ("bool", "complex128"), ("complex64", "complex128"),
    ("float32", "complex128"), ("uint8", "complex64")])
def test_promote_types(a, b):
    e = ember.promote_types(getattr(ember, a), getattr(ember, b))
    t = torch.promote_types(getattr(torch, a), getattr(torch, b))
    assert e.name == str(t).split(".")[1]


@pytest.mark.parametrize("fn", [
    lambda L: L.ones(2) * 1j,
    lambda L: L.ones(2, dtype=L.float64) * 1j,
    lambda L: L.ones(2, dtype=L.int64) * (1 + 1j),
    lambda L: L.ones(2) + L.tensor(1j, dtype=L.complex128),
    lambda L: L.ones(2, dtype=L.float64) + L.ones(2, dtype=L.complex64),
    lambda L: L.tensor([1j]) + 2.5,
    lambda L: L.tensor([1j]) / 2,
    lambda L: L.tensor([1 + 1j]) ** 2,
    lambda L: L.tensor([1, 2]) / L.tensor([1j, 2j]),
])
def test_promotion_results_match_torch(fn):
    assert_close(fn(ember), fn(torch))


def test_result_type_with_complex_scalars():
    for dt in ("float32", "float64", "int32"):
        e = ember.result_type(ember.ones(2, dtype=getattr(ember, dt)), 1j)
        t = torch.result_type(torch.ones(2, dtype=getattr(torch, dt)), 1j)
        assert e.name == str(t).split(".")[1]


def _text(t):
    # (the guard run's tensors say where they live; torch's are on the CPU)
    return repr(t).replace("torch.", "ember.").replace(", device='guard'", "")


@pytest.mark.parametrize("make", [
    lambda L: L.tensor([[1 + 2j, -3.25 - 4j], [0.001j, 100]]),
    lambda L: L.tensor([1.5 + 2j, float("nan") + 1j]),
    lambda L: L.tensor(-1 - 1j),
    lambda L: L.tensor([1e-5 + 1e5j]),
    lambda L: L.zeros(0, dtype=L.complex64),
    lambda L: L.tensor([1 + 2j], dtype=L.complex128),
    lambda L: L.tensor([1. + 2j] * 1200),
])
def test_printing_matches_torch(make):
    assert _text(make(ember)) == _text(make(torch))


def test_printing_with_float64_default():
    for L in (ember, torch):
        L.set_default_dtype(L.float64)
    try:
        for make in (lambda L: L.tensor([1j]), lambda L: L.tensor([1j], dtype=L.complex64)):
            assert _text(make(ember)) == _text(make(torch))
    finally:
        for L in (ember, torch):
            L.set_default_dtype(L.float32)


def test_casts():
    x = z(3)
    assert_close(ember.tensor(x).to(ember.complex64), torch.tensor(x).to(torch.complex64))
    assert_close(ember.tensor([1.5, 2]).to(ember.cfloat), torch.tensor([1.5, 2]).to(torch.cfloat))
    for dt in ("float32", "float64", "int64"):
        with pytest.warns(UserWarning, match="discards the imaginary part"):
            e = ember.tensor(x).to(getattr(ember, dt))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = torch.tensor(x).to(getattr(torch, dt))
        assert_close(e, t)
    assert ember.tensor(1 + 2j).item() == 1 + 2j
    assert complex(ember.tensor(1 - 2j)) == 1 - 2j
    assert float(ember.tensor(3 + 0j)) == 3.0 and int(ember.tensor(2 + 0j)) == 2
    assert bool(ember.tensor(1j)) and not bool(ember.tensor(0j))


# ---- values and gradients against torch --------------------------------------------------

UNARY = ["exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan", "sinh", "cosh",
         "tanh", "sigmoid", "expm1", "log1p", "log2", "log10", "exp2", "abs", "sgn", "neg",
         "angle", "conj", "conj_physical", "square", "asin", "acos", "atan", "asinh", "acosh",
         "atanh"]


@pytest.mark.parametrize("dtype", [C128, C64])
@pytest.mark.parametrize("name", UNARY)
def test_unary(name, dtype):
    check(lambda L, a: getattr(L, name)(a), z(2, 3, dtype=dtype))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "tanh", "sigmoid", "abs", "sgn",
                                  "angle", "reciprocal", "conj", "asin", "acosh", "atanh"])
def test_unary_gradcheck(name):
    x = ember.tensor(z(4)).requires_grad_()
    assert gradcheck(lambda t: getattr(ember, name)(t), (x,))


@pytest.mark.parametrize("dtype", [C128, C64])
@pytest.mark.parametrize("fn", [
    lambda L, a, b: a + b, lambda L, a, b: a - b, lambda L, a, b: a * b,
    lambda L, a, b: a / b, lambda L, a, b: a ** b, lambda L, a, b: a ** 3,
    lambda L, a, b: a ** 0.5, lambda L, a, b: 2 ** a, lambda L, a, b: a * (2 - 1j) + 3j,
    lambda L, a, b: 1j / a, lambda L, a, b: L.add(a, b, alpha=2),
    lambda L, a, b: L.addcmul(a, a, b, value=0.5), lambda L, a, b: L.where(a.real > 0, a, b),
])
def test_binary(fn, dtype):
    check(fn, z(2, 3, dtype=dtype), z(2, 3, dtype=dtype, seed=1))


@pytest.mark.parametrize("fn", [
    lambda L, r, c: r * c, lambda L, r, c: c / r, lambda L, r, c: r.to(c.dtype) + c,
    lambda L, r, c: r.float() * c, lambda L, r, c: (r * 1j).exp(),
])
def test_mixed_real_and_complex(fn):
    # a real input's gradient is the real part of the complex one, as torch's
    check(fn, rand(2, 3, seed=2), z(2, 3))


def test_binary_gradcheck():
    a = ember.tensor(z(3)).requires_grad_()
    b = ember.tensor(z(3, seed=1)).requires_grad_()
    r = ember.tensor(rand(3, seed=2)).requires_grad_()
    assert gradcheck(lambda x, y: x * y / (x + 2) - y ** 2, (a, b))
    assert gradcheck(lambda x, y: x ** y, (a, b))
    assert gradcheck(lambda x, y: (x * y).abs(), (a, r))
    assert gradgradcheck(lambda x, y: (x * y).exp(), (a, b))


@pytest.mark.parametrize("fn,shapes", [
    (lambda L, a, b: a @ b, ((2, 3), (3, 4))),
    (lambda L, a, b: L.mm(a, b), ((2, 3), (3, 4))),
    (lambda L, a, b: L.bmm(a, b), ((2, 2, 3), (2, 3, 4))),
    (lambda L, a, b: a @ b, ((2, 2, 3), (3,))),
    (lambda L, a, b: a @ b, ((3,), (3,))),
    (lambda L, a, b: L.matmul(a, b), ((5, 2, 3), (3, 2))),
])
def test_matmul(fn, shapes):
    check(fn, z(*shapes[0]), z(*shapes[1], seed=1))
    check(fn, z(*shapes[0], dtype=C64), z(*shapes[1], dtype=C64, seed=1))


@pytest.mark.parametrize("fn", [
    lambda L, a, b: L.einsum("ij,jk->ik", a, b),
    lambda L, a, b: L.einsum("bi,bj->bij", a, b.t()[:2]),
    lambda L, a, b: L.addmm(a @ b, a, b, beta=0.5, alpha=2),
    lambda L, a, b: L.baddbmm((a @ b)[None], a[None], b[None]),
    lambda L, a, b: L.addmv((a @ b)[:, 0], a, b[:, 0]),
    lambda L, a, b: L.nn.functional.linear(a, b.t(), b[0, :4]), lambda L, a, b: L.outer(a[0], b[0]),
    lambda L, a, b: L.tensordot(a, b, 1), lambda L, a, b: L.kron(a, b),
    lambda L, a, b: L.linalg.cross(a, b.t()[:2]), lambda L, a, b: L.vdot(a[0], b[:, 0]),
    lambda L, a, b: L.linalg.vecdot(a, b.t()[:2]), lambda L, a, b: L.dot(a[0], b[:, 0]),
    lambda L, a, b: L.trace(a @ a.t()),
])
def test_products(fn):
    check(fn, z(2, 3), z(3, 4, seed=1))


@pytest.mark.parametrize("fn", [
    lambda L, a: a.cumprod(1), lambda L, a: a.prod(1), lambda L, a: L.var_mean(a, 1),
    lambda L, a: L.std_mean(a),
])
def test_products_along_a_dim_with_a_zero(fn):
    x = z(2, 4)
    x[0, 1] = 0
    check(fn, x)


@pytest.mark.parametrize("fn", [
    lambda: ember.nn.functional.conv1d(ember.tensor(z(1, 2, 5)), ember.tensor(z(3, 2, 2))),
    lambda: ember.nn.functional.gelu(ember.tensor(z(3))),
    lambda: ember.nn.functional.silu(ember.tensor(z(3))),
    lambda: ember.tensor(z(3)).logsumexp(0),
    lambda: ember.linalg.det(ember.tensor(z(2, 2))),
    lambda: ember.linalg.inv(ember.tensor(z(2, 2))),
    lambda: ember.erf(ember.tensor(z(3))),
])
def test_not_yet_for_complex_raises_not_a_wrong_answer(fn):
    # torch computes these; Ember refuses them rather than give a wrong value or gradient
    with pytest.raises(NotImplementedError):
        fn()


def test_matmul_gradcheck():
    a = ember.tensor(z(2, 3)).requires_grad_()
    b = ember.tensor(z(3, 2, seed=1)).requires_grad_()
    assert gradcheck(lambda x, y: x @ y, (a, b))


@pytest.mark.parametrize("fn", [
    lambda L, a: a.sum(), lambda L, a: a.sum(1), lambda L, a: a.mean(), lambda L, a: a.mean(0),
    lambda L, a: a.prod(), lambda L, a: a.prod(1), lambda L, a: a.cumsum(1),
    lambda L, a: a.reshape(3, 2).t()[1:], lambda L, a: L.cat([a, a * 2]),
    lambda L, a: a[:, [0, 2]], lambda L, a: a.mH, lambda L, a: a.H, lambda L, a: a.flip(0),
    lambda L, a: L.stack([a, a], 1).transpose(0, 2), lambda L, a: a.var(),
    lambda L, a: a.std(1), lambda L, a: a.var(0, correction=0), lambda L, a: a.norm(),
    lambda L, a: L.linalg.vector_norm(a, 1, dim=0),
])
def test_reductions_and_shapes(fn):
    check(fn, z(2, 3))


def test_random_complex():
    ember.manual_seed(0)
    r = ember.randn(20000, dtype=ember.complex64)
    assert r.dtype is ember.complex64
    # torch's complex normal: variance 1 in all, 1/2 in each part
    assert abs(float(r.real.var()) - 0.5) < 0.03 and abs(float(r.imag.var()) - 0.5) < 0.03
    u = ember.rand(1000, dtype=ember.complex128)
    assert u.dtype is ember.complex128 and 0 <= float(u.real.min()) and float(u.imag.max()) < 1


def test_mean_of_ints_as_complex():
    assert_close(ember.tensor([1, 2]).mean(dtype=ember.complex64),
                 torch.tensor([1, 2]).mean(dtype=torch.complex64))


def test_abs_gradient_is_z_over_abs_z():
    zz = ember.tensor([1 + 2j, 3 - 4j], requires_grad=True)
    zz.abs().sum().backward()
    np.testing.assert_allclose(zz.grad.numpy(), np.array([1 + 2j, 3 - 4j]) / [5 ** 0.5, 5],
                               rtol=1e-6)


def test_gradient_of_real_part_of_square_is_2_conj_z():
    zz = ember.tensor([1 + 2j, 3 - 4j], requires_grad=True)
    (zz * zz).real.sum().backward()
    np.testing.assert_array_equal(zz.grad.numpy(), [2 - 4j, 6 + 8j])


# ---- the parts: views that share memory ---------------------------------------------------

def test_real_and_imag_are_writable_views():
    for L in (ember, torch):
        t = L.tensor([1 + 2j, 3 - 4j])
        t.real[0] = 10
        t.imag.mul_(2)
        t.imag[1] = 7
        assert t.tolist() == [10 + 4j, 3 + 7j]
        t.real = L.tensor([5.0, 6.0])
        assert t.tolist() == [5 + 4j, 6 + 7j]
    e = ember.tensor([1.0, 2.0])
    assert e.real is e
    with pytest.raises(RuntimeError, match="imag is not implemented for tensors with non-complex"):
        e.imag


def test_view_as_real_and_complex_share_memory():
    e = ember.tensor([[1 + 2j, 3 - 4j]])
    r = ember.view_as_real(e)
    assert r.shape == (1, 2, 2) and r.dtype is ember.float32
    r[0, 1, 1] = 9
    assert e.tolist() == [[1 + 2j, 3 + 9j]]
    c = ember.view_as_complex(r)
    c[0, 0] = 5j
    assert e.tolist() == [[5j, 3 + 9j]]
    # a strided view too (every stride but the last even)
    x = ember.arange(12.0).reshape(3, 4)
    v = ember.view_as_complex(x[::2].reshape(2, 2, 2) if False else x[::2, :2])
    assert v.tolist() == [0 + 1j, 8 + 9j]


@pytest.mark.parametrize("fn", [
    lambda L, a: a.real * 2, lambda L, a: a.imag * 3, lambda L, a: L.real(a) + L.imag(a),
    lambda L, a: L.view_as_real(a) * 2, lambda L, a: L.view_as_complex(L.view_as_real(a)) * 1j,
    lambda L, a: L.view_as_real(a.t()),
])
def test_part_views_gradients(fn):
    check(fn, z(2, 3))


def test_view_as_complex_gradient():
    check(lambda L, r: L.view_as_complex(r) * (1 + 2j), rand(3, 2))
    x = ember.tensor(rand(3, 2)).requires_grad_()
    assert gradcheck(lambda t: ember.view_as_complex(t) ** 2, (x,))


@pytest.mark.parametrize("fn", [
    lambda L, a, b: L.complex(a, b), lambda L, a, b: L.polar(a.abs(), b),
    lambda L, a, b: L.complex(a, b[:1]) * 1j,
])
def test_complex_and_polar(fn):
    check(fn, rand(2, 3), rand(2, 3, seed=1))
    check(fn, rand(2, 3, dtype=np.float32), rand(2, 3, dtype=np.float32, seed=1))


def test_complex_and_polar_gradcheck():
    a = ember.tensor(rand(3, low=0.5)).requires_grad_()
    b = ember.tensor(rand(3, seed=1)).requires_grad_()
    assert gradcheck(ember.polar, (a, b))
    assert gradcheck(ember.complex, (a, b))


def test_conj_helpers():
    e = ember.tensor([1 + 2j])
    assert not e.conj().is_conj() and e.resolve_conj() is e
    assert e.conj().tolist() == [1 - 2j]
    e.conj_physical_()
    assert e.tolist() == [1 - 2j]
    r = ember.tensor([1.0])
    assert r.conj() is r
    assert_close(ember.isreal(ember.tensor([1 + 0j, 1j])), torch.isreal(torch.tensor([1 + 0j, 1j])))
    assert_close(ember.angle(ember.tensor([-1.0, 2.0])), torch.angle(torch.tensor([-1.0, 2.0])))


# ---- what torch refuses -------------------------------------------------------------------

def _same_error(fn):
    with pytest.raises(Exception) as te:
        fn(torch)
    with pytest.raises(type(te.value)) as ee:
        fn(ember)
    assert str(ee.value).replace("ember.", "torch.") == str(te.value), (ee.value, te.value)


@pytest.mark.parametrize("fn", [
    lambda L: L.tensor([1j]) < L.tensor([2j]), lambda L: L.tensor([1j]) >= 0,
    lambda L: L.tensor([1j]).gt(L.tensor([1.0])),
    lambda L: L.tensor([1j, 2]).max(0), lambda L: L.tensor([1j]).argmax(),
    lambda L: L.tensor([1j]).amax(), lambda L: L.tensor([1j]).sort(),
    lambda L: L.tensor([1j]).topk(1), lambda L: L.tensor([1j]).clamp(0, 1),
    lambda L: L.tensor([1j]).relu(), lambda L: L.tensor([1j]).floor(),
    lambda L: L.tensor([1j]).round(), lambda L: L.maximum(L.tensor([1j]), L.tensor([1j])),
    lambda L: L.tensor([1j]).sign(), lambda L: L.tensor([1j]) % 2,
    lambda L: L.tensor([1.0]).imag, lambda L: L.view_as_real(L.ones(3)),
    lambda L: L.view_as_complex(L.ones(3)), lambda L: L.view_as_complex(L.ones(2, 3)),
    lambda L: L.view_as_complex(L.ones(4, 2).t()),
    lambda L: L.complex(L.ones(2), L.ones(2, dtype=L.float64)),
    lambda L: L.complex(L.ones(2, dtype=L.int64), L.ones(2, dtype=L.int64)),
    lambda L: L.polar(L.ones(2), L.ones(2, dtype=L.float64)),
    lambda L: L.tensor([1j]).median(), lambda L: L.tensor([1j]).cummax(0),
    lambda L: L.ones(2).add_(L.tensor([1j])), lambda L: L.ones(2).mul_(1j),
    lambda L: L.ones(2, dtype=L.int64).add_(1j), lambda L: float(L.tensor(1j)),
    lambda L: int(L.tensor(2 + 1j)),
])
def test_errors_match_torch(fn):
    _same_error(fn)


def test_backward_of_a_complex_output():
    for L in (ember, torch):
        zz = L.tensor(1 + 1j, requires_grad=True)
        with pytest.raises(RuntimeError, match="only for real scalar outputs"):
            (zz * 2).backward()
    ze, zt = ember.tensor([1 + 1j], requires_grad=True), torch.tensor([1 + 1j], requires_grad=True)
    (ze * (2 + 1j)).backward(ember.tensor([1 - 1j]))
    (zt * (2 + 1j)).backward(torch.tensor([1 - 1j]))
    assert_close(ze.grad, zt.grad)


def test_complex_tensor_requires_grad():
    e = ember.tensor([1j], requires_grad=True)
    assert e.requires_grad
    with pytest.raises(RuntimeError, match="floating point and complex"):
        ember.tensor([1]).requires_grad_()


def test_save_load_round_trip(tmp_path):
    t = ember.tensor([1 + 2j, 3j], dtype=ember.complex128)
    ember.save({"z": t, "w": t.to(ember.complex64)}, tmp_path / "z.pt")
    back = ember.load(tmp_path / "z.pt")
    assert back["z"].dtype is ember.complex128 and back["w"].dtype is ember.complex64
    assert back["z"].tolist() == [1 + 2j, 3j]


def test_from_numpy_shares_memory():
    a = np.array([1 + 2j, 3j], dtype=np.complex64)
    t = ember.from_numpy(a)
    t.imag[0] = 5
    assert a[0] == 1 + 5j and t.dtype is ember.complex64


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                                dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                                dict(lr=0.1, maximize=True, momentum=0.5, dampening=0.1)])
def test_sgd_on_complex_parameters(kw):
    z0 = np.array([1 + 2j, -0.5 + 0.3j, 2 - 1j])
    res = []
    for L in (ember, torch):
        p = L.nn.Parameter(L.tensor(z0))
        opt = L.optim.SGD([p], **kw)
        for _ in range(3):
            opt.zero_grad()
            ((p * p).real.sum() + p.abs().sum()).backward()
            opt.step()
        res.append(p.detach().numpy().copy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS"])
def test_other_optimizers_refuse_complex_parameters(name):
    p = ember.nn.Parameter(ember.tensor([1 + 2j]))
    with pytest.raises(NotImplementedError, match="complex parameters"):
        opt = getattr(ember.optim, name)([p])
        p.abs().sum().backward()
        opt.step(lambda: p.abs().sum()) if name == "LBFGS" else opt.step()


def test_torch_checkpoints_and_dlpack_carry_complex(tmp_path):
    t = torch.tensor([1 + 2j, 3j])
    torch.save({"z": t, "w": t.to(torch.complex128)}, tmp_path / "c.pt")
    back = ember.load(tmp_path / "c.pt")       # (on the CPU, whatever the test device)
    assert back["z"].dtype is ember.complex64 and back["w"].dtype is ember.complex128
    assert back["z"].tolist() == back["w"].tolist() == t.tolist()
    ember.save({"z": ember.tensor([1 - 2j])}, tmp_path / "e.pt", format="torch")
    assert torch.load(tmp_path / "e.pt", weights_only=True)["z"].tolist() == [1 - 2j]
    e = ember.from_dlpack(t)
    e.imag[0] = 7                      # (zero-copy: torch sees the write)
    assert t[0].item() == 1 + 7j
